import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RATE_LIMITS, type LimitConfig } from '#shared/config';
import { GuardRefusal } from '#shared/errors';
import { deferral } from '#shared/guards/contract';
import { createQuota } from '#shared/guards/rate-limit';
import type { TemplateKind } from '#shared/guards/template-kind';
import type { Job } from '#shared/jobs';
import { type Limiter, MINUTE_MS, windowIndex } from '#shared/limiter/limiter';
import { RedisLimiter } from '#shared/limiter/redis';
import { createLogger } from '#shared/log';

/**
 * The limit boundaries every limiter must keep, run against the in-memory limiter and against
 * real Redis. Times are explicit (an injected clock): nothing waits.
 */

// 2026-03-10 12:00:00 Beijing = 04:00:00 UTC.
export const NOON_BEIJING = Date.UTC(2026, 2, 10, 4, 0, 0);
// The next Beijing midnight: 2026-03-11 00:00 Beijing = 2026-03-10 16:00 UTC.
export const NEXT_BEIJING_MIDNIGHT = Date.UTC(2026, 2, 10, 16, 0, 0);

const silent = createLogger({ level: 'silent' });
let phoneSeq = 0;

/** A phone no other test (or earlier run sharing Redis) uses. */
export function uniquePhone(): string {
  phoneSeq += 1;
  return `139${String((Date.now() * 7 + phoneSeq * 7919) % 1e8).padStart(8, '0')}`;
}

export function smsJob(phone: string): Job {
  return { channel: 'sms', phone, skin: '1', params: ['1234'] };
}

export interface Harness {
  clock: { t: number };
  send: (job: Job, caller?: string) => Promise<GuardRefusal | (() => Promise<void>)>;
}

export function harness(limiter: Limiter, limits: Partial<LimitConfig> = {}, kind?: TemplateKind): Harness {
  const clock = { t: NOON_BEIJING };
  const quota = createQuota({ limiter, limits: { ...DEFAULT_RATE_LIMITS, ...limits }, now: () => clock.t, kindOf: () => kind });
  return {
    clock,
    async send(job, caller = 'app') {
      try {
        return await quota.reserve(job, { caller, logger: silent });
      } catch (err) {
        if (err instanceof GuardRefusal) return err;
        throw err;
      }
    },
  };
}

export function expectRefused(r: GuardRefusal | (() => Promise<void>), rule: string): GuardRefusal {
  expect(r).toBeInstanceOf(GuardRefusal);
  const e = r as GuardRefusal;
  expect(e.code).toBe('RATE_LIMITED');
  expect(e.status).toBe(429);
  expect(e.rule).toBe(rule);
  return e;
}

export function expectAllowed(r: GuardRefusal | (() => Promise<void>)): () => Promise<void> {
  if (r instanceof GuardRefusal) throw new Error(`expected the send to be allowed, refused by ${r.rule}: ${r.message}`);
  return r;
}

export function limiterContract(name: string, make: () => Limiter): void {
  describe(`${name} limiter: per-phone boundaries`, () => {
    it('allows the 15th send of a Beijing day and refuses the 16th until Beijing midnight', async () => {
      const h = harness(make(), { phoneIntervalS: 0 });
      const phone = uniquePhone();
      for (let i = 1; i <= 15; i++) {
        h.clock.t = NOON_BEIJING + i * 1000;
        expectAllowed(await h.send(smsJob(phone)));
      }
      h.clock.t = NOON_BEIJING + 16_000;
      const e = expectRefused(await h.send(smsJob(phone)), 'phone-daily');
      expect(e.retryAt?.getTime()).toBe(NEXT_BEIJING_MIDNIGHT);
      expect(e.retryAfter).toBe((NEXT_BEIJING_MIDNIGHT - h.clock.t) / 1000);
      expect(e.message).toContain('15 sends for today');
      expect(e.message).not.toContain(phone);
    });

    it('rolls the day over at 00:00 Beijing (16:00 UTC), not at UTC midnight', async () => {
      const h = harness(make(), { phoneIntervalS: 0 });
      const phone = uniquePhone();
      for (let i = 0; i < 15; i++) {
        h.clock.t = NEXT_BEIJING_MIDNIGHT - 60_000 + i;
        expectAllowed(await h.send(smsJob(phone)));
      }
      h.clock.t = NEXT_BEIJING_MIDNIGHT - 1;
      expectRefused(await h.send(smsJob(phone)), 'phone-daily');
      h.clock.t = NEXT_BEIJING_MIDNIGHT;
      expectAllowed(await h.send(smsJob(phone)));
      // UTC midnight (08:00 Beijing) is inside the same Beijing day: no new allowance.
      const other = uniquePhone();
      for (let i = 0; i < 15; i++) {
        h.clock.t = Date.UTC(2026, 2, 10, 23, 59, 0) + i;
        expectAllowed(await h.send(smsJob(other)));
      }
      h.clock.t = Date.UTC(2026, 2, 11, 0, 0, 1);
      expectRefused(await h.send(smsJob(other)), 'phone-daily');
    });

    it('keeps the minimum interval to the millisecond', async () => {
      const h = harness(make());
      const phone = uniquePhone();
      expectAllowed(await h.send(smsJob(phone)));
      h.clock.t = NOON_BEIJING + 59_999;
      const e = expectRefused(await h.send(smsJob(phone)), 'phone-interval');
      expect(e.retryAt?.getTime()).toBe(NOON_BEIJING + 60_000);
      expect(e.retryAfter).toBe(1);
      h.clock.t = NOON_BEIJING + 60_000;
      expectAllowed(await h.send(smsJob(phone)));
    });

    it('counts phones and channels separately', async () => {
      const h = harness(make());
      const phone = uniquePhone();
      expectAllowed(await h.send(smsJob(phone)));
      expectAllowed(await h.send(smsJob(uniquePhone())));
      expectAllowed(await h.send({ channel: 'voice', phone, content: '您好' }));
      expectRefused(await h.send(smsJob(phone)), 'phone-interval');
    });

    it('a refunded send does not count (the provider surely did not act)', async () => {
      const h = harness(make(), { phoneDaily: 1 });
      const phone = uniquePhone();
      const refund = expectAllowed(await h.send(smsJob(phone)));
      await refund();
      expectAllowed(await h.send(smsJob(phone)));
      h.clock.t += 120_000;
      expectRefused(await h.send(smsJob(phone)), 'phone-daily');
    });

    it('a refused send counts against nothing', async () => {
      const limiter = make();
      const h = harness(limiter, { phoneIntervalS: 0, callerPerMinute: 2 });
      const phone = uniquePhone();
      const caller = `c${phoneSeq}-${Date.now()}`;
      expectAllowed(await h.send(smsJob(phone), caller));
      expectAllowed(await h.send(smsJob(phone), caller));
      for (let i = 0; i < 5; i++) expectRefused(await h.send(smsJob(phone), caller), 'caller-per-minute');
      h.clock.t += 60_000;
      expectAllowed(await h.send(smsJob(phone), caller));
      // Only the 3 allowed sends counted against the phone's day, not the 5 refusals.
      const h2 = harness(limiter, { phoneIntervalS: 0, phoneDaily: 4, callerPerMinute: 0 });
      h2.clock.t = h.clock.t;
      expectAllowed(await h2.send(smsJob(phone), caller));
      expectRefused(await h2.send(smsJob(phone), caller), 'phone-daily');
    });
  });

  describe(`${name} limiter: verification, callers, global budget`, () => {
    it('verification codes: 1 a minute, 5 an hour, 10 a day per phone, and never deferred', async () => {
      const h = harness(make(), { phoneIntervalS: 0, phoneDaily: 0 }, 'verification');
      const phone = uniquePhone();
      const hourStart = Date.UTC(2026, 2, 10, 2, 0, 0); // 10:00 Beijing
      h.clock.t = hourStart;
      expectAllowed(await h.send(smsJob(phone)));
      h.clock.t = hourStart + 30_000;
      const interval = expectRefused(await h.send(smsJob(phone)), 'verification-interval');
      expect(interval.retryAt?.getTime()).toBe(hourStart + 60_000);
      for (let i = 1; i < 5; i++) {
        h.clock.t = hourStart + i * 60_000;
        expectAllowed(await h.send(smsJob(phone)));
      }
      h.clock.t = hourStart + 5 * 60_000;
      const hourly = expectRefused(await h.send(smsJob(phone)), 'verification-hourly');
      expect(hourly.retryAt?.getTime()).toBe(hourStart + 3_600_000);
      expect(deferral(hourly)).toMatchObject({ allowed: false, action: 'report', rule: 'verification-hourly' });
      for (let i = 0; i < 5; i++) {
        h.clock.t = hourStart + 3_600_000 + i * 60_000;
        expectAllowed(await h.send(smsJob(phone)));
      }
      h.clock.t = hourStart + 2 * 3_600_000;
      const daily = expectRefused(await h.send(smsJob(phone)), 'verification-daily');
      expect(daily.retryAt?.getTime()).toBe(NEXT_BEIJING_MIDNIGHT);
    });

    it('caller per minute and per day, and a deferral the batch runner can schedule', async () => {
      const h = harness(make(), { phoneIntervalS: 0, callerPerMinute: 3, callerDaily: 5 });
      const caller = `caller-${Date.now()}-${phoneSeq}`;
      for (let i = 0; i < 3; i++) expectAllowed(await h.send(smsJob(uniquePhone()), caller));
      const perMinute = expectRefused(await h.send(smsJob(uniquePhone()), caller), 'caller-per-minute');
      expect(perMinute.retryAt?.getTime()).toBe(NOON_BEIJING + 60_000);
      expect(deferral(perMinute)).toEqual({
        allowed: false,
        action: 'defer',
        retryAt: new Date(NOON_BEIJING + 60_000),
        code: 'RATE_LIMITED',
        rule: 'caller-per-minute',
        message: perMinute.message,
      });
      expectAllowed(await h.send(smsJob(uniquePhone()), `${caller}-other`));
      h.clock.t += 60_000;
      for (let i = 0; i < 2; i++) expectAllowed(await h.send(smsJob(uniquePhone()), caller));
      expectRefused(await h.send(smsJob(uniquePhone()), caller), 'caller-daily');
    });

    it('LIMIT_ACTION=report makes refusals reports, not deferrals', async () => {
      const h = harness(make(), { action: 'report' });
      const phone = uniquePhone();
      expectAllowed(await h.send(smsJob(phone)));
      const e = expectRefused(await h.send(smsJob(phone)), 'phone-interval');
      expect(deferral(e)?.action).toBe('report');
    });
  });
}

/** The global budget is one key for the whole deployment, so it gets a limiter of its own. */
export function globalBudgetContract(name: string, make: () => Limiter): void {
  it(`${name} limiter: the global daily budget stops every caller and phone`, async () => {
    const h = harness(make(), { phoneIntervalS: 0, globalDaily: 3 });
    for (let i = 0; i < 3; i++) expectAllowed(await h.send(smsJob(uniquePhone()), `caller${i}`));
    const e = expectRefused(await h.send(smsJob(uniquePhone()), 'caller9'), 'global-daily');
    expect(e.retryAt?.getTime()).toBe(NEXT_BEIJING_MIDNIGHT);
  });

  // In Redis the phone, the caller and the budget are three groups (three hash slots, three
  // scripts): the phone and caller groups count before the budget refuses, and must be given back.
  it(`${name} limiter: a send the budget refuses counts against neither its phone nor its caller`, async () => {
    const limiter = make();
    const h = harness(limiter, { phoneIntervalS: 60, callerPerMinute: 1, globalDaily: 2 });
    expectAllowed(await h.send(smsJob(uniquePhone()), 'a'));
    expectAllowed(await h.send(smsJob(uniquePhone()), 'b'));
    const phone = uniquePhone();
    expectRefused(await h.send(smsJob(phone), 'c'), 'global-daily');
    const unlimited = harness(limiter, { phoneIntervalS: 60, callerPerMinute: 1, globalDaily: 0 });
    unlimited.clock.t = h.clock.t;
    expectAllowed(await unlimited.send(smsJob(phone), 'c'));
    expectRefused(await unlimited.send(smsJob(phone), 'd'), 'phone-interval');
    expectRefused(await unlimited.send(smsJob(uniquePhone()), 'c'), 'caller-per-minute');
  });
}

/**
 * Redis only: one group's script fails (here: its key holds the wrong type) after another group
 * counted. The error reaches the caller and the counted group is given back.
 */
export function partialFailure(name: string, connect: () => Promise<Redis>, keyPrefix: string): void {
  it(`${name} limiter: when one group's script fails, the groups that counted are given back`, async () => {
    const prefix = `${keyPrefix}${randomBytes(4).toString('hex')}:`;
    const limiter = new RedisLimiter(connect, { prefix });
    const caller = `broken-${randomBytes(3).toString('hex')}`;
    // The layout (shared/store/keys.ts): <prefix>{caller:<name>}:min:w<window ms>:<window index>.
    const redis = await connect();
    await redis.hset(`${prefix}{caller:${caller}}:min:w${MINUTE_MS}:${windowIndex(NOON_BEIJING, MINUTE_MS)}`, 'x', '1');
    const h = harness(limiter, { phoneIntervalS: 60, callerPerMinute: 5, callerDaily: 0, globalDaily: 0 });
    const phone = uniquePhone();
    await expect(h.send(smsJob(phone), caller)).rejects.toThrow(/WRONGTYPE/);
    expectAllowed(await h.send(smsJob(phone), 'someone-else'));
    expectRefused(await h.send(smsJob(phone), 'someone-else'), 'phone-interval');
  });
}

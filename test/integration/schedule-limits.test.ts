import { randomBytes } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { RedisStore } from '#shared/store/redis';
import type { Store } from '#shared/store/types';
import { EVENT_CALLER_KEY, eventFunction, nextPhone, phonesSent, voiceJob } from '../support/events.ts';
import { asBuffer, asHttpResult, fcContext, fixture, httpEvent } from '../support/fc.ts';
import { startWorld } from '../support/world.ts';

/** Issue 11 item 4: scheduling counts against the caller's limits, is capped and bounded in time, and expires. */

const { fake, logs, redis, prefix: PREFIX, stores } = await startWorld({ redis: true });

const auth = { authorization: `Bearer ${EVENT_CALLER_KEY}` };
const HOUR = 3_600_000;
const T0 = Date.parse('2030-03-01T00:00:00Z');
const iso = (t: number) => new Date(t).toISOString();

describe.each(stores)('scheduling with the %s store', (storeName, makeStore) => {
  let store: Store;
  const clock = { t: T0 };
  beforeEach(() => {
    store = makeStore();
    clock.t = T0;
  });
  const fn = (env: Record<string, string> = {}) =>
    eventFunction('voice-notify', fake, store, { now: () => clock.t }, { LIMIT_PHONE_DAILY: '0', ...env });
  const post = async (f: ReturnType<typeof fn>, body: unknown, path = '/voice') =>
    asHttpResult(await f(httpEvent({ path, body, headers: auth }), fcContext()));
  const tick = (f: ReturnType<typeof fn>) => f(asBuffer({ triggerTime: iso(clock.t), triggerName: 'scheduler', payload: '' }), fcContext());

  it("the issue's flood (one caller, thousands of jobs for 2099) now fails at the first request: 400, nothing stored", async () => {
    const f = fn();
    let accepted = 0;
    let first: ReturnType<typeof asHttpResult> | undefined;
    for (let i = 0; i < 5000 && first === undefined; i += 1) {
      const res = await post(f, voiceJob(nextPhone(), { sendAt: '2099-01-01T09:00:00+08:00' }));
      if (res.statusCode === 202) accepted += 1;
      else first = res;
    }
    expect(accepted).toBe(0);
    expect(first).toMatchObject({ statusCode: 400, json: { error: { code: 'INVALID_REQUEST', retryable: false } } });
    expect(first!.json.error.message).toContain('30 days');
    expect(await store.claimDue('voice', Date.parse('2099-02-01T00:00:00Z'), 10, 1000)).toEqual([]);
  });

  it('within the horizon, scheduling counts against the per-caller rate limit as a send would: 429 with Retry-After', async () => {
    const f = fn({ LIMIT_CALLER_PER_MINUTE: '5' });
    const answers = [];
    for (let i = 0; i < 8; i += 1) answers.push(await post(f, voiceJob(nextPhone(), { sendAt: iso(T0 + 2 * HOUR) })));
    expect(answers.map((a) => a.statusCode)).toEqual([202, 202, 202, 202, 202, 429, 429, 429]);
    expect(answers[5]!.json.error).toMatchObject({ code: 'RATE_LIMITED', retryable: true });
    expect(Number(answers[5]!.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('a job counted at scheduling is not counted against its caller again when the timer sends it', async () => {
    const f = fn({ LIMIT_CALLER_PER_MINUTE: '3' });
    const phones = [nextPhone(), nextPhone(), nextPhone()];
    for (const p of phones) expect((await post(f, voiceJob(p, { sendAt: iso(T0 + 30_000) }))).statusCode).toBe(202);
    clock.t = T0 + 40_000; // same minute window: had the sends counted again, the caller would be over 3
    expect(await tick(f)).toMatchObject({ ok: true, counts: { sent: 3 } });
    expect(phonesSent(fake).sort()).toEqual([...phones].sort());
  });

  it(`SCHEDULE_MAX_PENDING: one caller's waiting jobs are capped (429); a cancel frees a place; other callers are not affected`, async () => {
    const f = fn({
      LIMIT_CALLER_PER_MINUTE: '0',
      LIMIT_CALLER_DAILY: '0',
      SCHEDULE_MAX_PENDING: '20',
      API_KEYS: `app:${EVENT_CALLER_KEY},other:other-caller-key-0123456789`,
    });
    const ids: string[] = [];
    let refused: ReturnType<typeof asHttpResult> | undefined;
    for (let i = 0; i < 25 && !refused; i += 1) {
      const res = await post(f, voiceJob(nextPhone(), { sendAt: iso(T0 + 24 * HOUR) }));
      if (res.statusCode === 202) ids.push(res.json.id);
      else refused = res;
    }
    expect(ids).toHaveLength(20);
    expect(refused).toMatchObject({ statusCode: 429, json: { error: { code: 'RATE_LIMITED', retryable: true } } });
    expect(refused!.json.error.message).toContain('SCHEDULE_MAX_PENDING');
    // The same idempotency key again replaces its job: not a new one, not refused.
    const keyed = voiceJob(nextPhone(), { sendAt: iso(T0 + 24 * HOUR), idempotencyKey: 'again' });
    const del = asHttpResult(await f(httpEvent({ method: 'DELETE', path: `/voice/${ids[0]}`, headers: auth }), fcContext()));
    expect(del.statusCode).toBe(200);
    expect((await post(f, keyed)).statusCode).toBe(202);
    expect((await post(f, keyed)).statusCode).toBe(202);
    expect((await post(f, voiceJob(nextPhone(), { sendAt: iso(T0 + 24 * HOUR) }))).statusCode).toBe(429);
    const other = asHttpResult(
      await f(
        httpEvent({
          path: '/voice',
          body: voiceJob(nextPhone(), { sendAt: iso(T0 + 24 * HOUR) }),
          headers: { authorization: 'Bearer other-caller-key-0123456789' },
        }),
        fcContext(),
      ),
    );
    expect(other.statusCode).toBe(202);
  });

  it('a job not sent within SCHEDULE_EXPIRE_HOURS after it was due is dropped with a log line; one still in time is sent', async () => {
    const f = fn({ SCHEDULE_EXPIRE_HOURS: '2' });
    const late = nextPhone();
    const inTime = nextPhone();
    expect((await post(f, voiceJob(late, { sendAt: iso(T0 + HOUR) }))).statusCode).toBe(202);
    expect((await post(f, voiceJob(inTime, { sendAt: iso(T0 + 2 * HOUR) }))).statusCode).toBe(202);
    clock.t = T0 + 3 * HOUR + 1; // `late` is 2 h + 1 ms past due, `inTime` 1 h
    expect(await tick(f)).toMatchObject({ ok: true, counts: { sent: 1 } });
    expect(phonesSent(fake)).toEqual([inTime]);
    const dropped = logs.parsed().filter((l) => l.event === 'scheduled-expired');
    expect(dropped.at(-1)).toMatchObject({
      level: 'warn',
      caller: 'app',
      channel: 'voice',
      phone: `${late.slice(0, 3)}****${late.slice(7)}`,
    });
    clock.t += 10 * HOUR;
    expect(await tick(f)).toMatchObject({ ok: true, total: 0 });
  });

  it('a trigger job with sendAt past the horizon is a poison job; one within is scheduled', async () => {
    const f = fn();
    const base = fixture<Record<string, any>>('mns-queue-cloudevent');
    const ce = (sendAt: string) => ({
      ...base,
      id: randomBytes(4).toString('hex'),
      data: { ...base.data, messageId: randomBytes(6).toString('hex'), messageBody: JSON.stringify(voiceJob(nextPhone(), { sendAt })) },
    });
    expect(await f(asBuffer(ce('2099-01-01T00:00:00Z')), fcContext())).toMatchObject({ ok: true, counts: { poison: 1 } });
    expect(await f(asBuffer(ce(iso(T0 + 29 * 24 * HOUR))), fcContext())).toMatchObject({ ok: true, counts: { scheduled: 1 } });
    expect(fake.requests).toHaveLength(0);
  });

  if (storeName === 'Redis') {
    it("the Redis entries carry a TTL covering the job's expiry plus a day, never shortened by a sooner job", async () => {
      const own = `${PREFIX}ttl-${randomBytes(3).toString('hex')}:`;
      store = new RedisStore(() => Promise.resolve(redis), { prefix: own });
      const f = fn();
      expect((await post(f, voiceJob(nextPhone(), { sendAt: iso(T0 + 10 * 24 * HOUR) }))).statusCode).toBe(202);
      expect((await post(f, voiceJob(nextPhone(), { sendAt: iso(T0 + HOUR) }))).statusCode).toBe(202);
      const keys = await redis.keys(`${own}{sched:voice}*`); // one hash tag per channel (docs/redis.md)
      expect(keys).toHaveLength(3);
      // 10 days to the job + 24 h to its expiry + 24 h of grace (the fake clock is the store's `now`).
      const want = 10 * 24 * HOUR + 48 * HOUR;
      for (const k of keys) {
        const ttl = await redis.pttl(k);
        expect(ttl).toBeGreaterThan(want - 60_000);
        expect(ttl).toBeLessThanOrEqual(want);
      }
    });
  }
});

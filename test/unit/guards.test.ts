import { describe, expect, it } from 'vitest';
import { DEFAULT_RATE_LIMITS, loadConfig } from '#shared/config';
import { ConfigError, GuardRefusal } from '#shared/errors';
import { deferral } from '#shared/guards/contract';
import { beijingMinute, nextWindowStart, quietHoursGuard } from '#shared/guards/quiet-hours';
import { limitRules } from '#shared/guards/rate-limit';
import { recipientGuard } from '#shared/guards/recipient';
import type { TemplateKind } from '#shared/guards/template-kind';
import type { Job } from '#shared/jobs';

const voice: Job = { channel: 'voice', phone: '13800138000', content: '您好' };
const sms: Job = { channel: 'sms', phone: '13800138000', skin: '1', params: ['1'] };
// Beijing time h:m on 2026-03-10, as epoch ms.
const bj = (h: number, m: number, s = 0) => Date.UTC(2026, 2, 10, h - 8, m, s);

async function refusal(p: Promise<void>): Promise<GuardRefusal> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GuardRefusal);
  return err as GuardRefusal;
}

describe('sending hours (QUIET_HOURS)', () => {
  const window = { startMinute: 9 * 60, endMinute: 20 * 60, action: 'defer' as const };
  const guard = (t: number, kind?: TemplateKind, action: 'defer' | 'refuse' = 'defer') =>
    quietHoursGuard(
      { ...window, action },
      () => t,
      () => kind,
    );

  it('computes Beijing minutes and the next window start across UTC dates', () => {
    expect(beijingMinute(bj(0, 0))).toBe(0);
    expect(beijingMinute(bj(23, 59))).toBe(23 * 60 + 59);
    expect(nextWindowStart(bj(8, 59), window)).toBe(bj(9, 0));
    expect(nextWindowStart(bj(21, 0), window)).toBe(bj(33, 0));
  });

  it('voice calls go from 09:00 to 19:59 Beijing time, not at 08:59 or 20:00', async () => {
    await expect(guard(bj(9, 0))(voice)).resolves.toBeUndefined();
    await expect(guard(bj(19, 59, 59))(voice)).resolves.toBeUndefined();
    const early = await refusal(guard(bj(8, 59))(voice));
    expect(early.code).toBe('OUTSIDE_SENDING_HOURS');
    expect(early.retryAt?.getTime()).toBe(bj(9, 0));
    expect(early.retryAfter).toBe(60);
    expect(early.message).toBe('voice calls are sent only between 09:00 and 20:00 Beijing time');
    const late = await refusal(guard(bj(20, 0))(voice));
    expect(late.retryAt?.getTime()).toBe(bj(33, 0));
    expect(deferral(late)).toMatchObject({ action: 'defer', retryAt: new Date(bj(33, 0)), rule: 'quiet-hours' });
  });

  it('QUIET_HOURS_ACTION=refuse reports instead of deferring', async () => {
    expect(deferral(await refusal(guard(bj(22, 0), undefined, 'refuse')(voice)))?.action).toBe('report');
  });

  it('applies to marketing SMS only; verification and notification SMS go day and night', async () => {
    await refusal(guard(bj(23, 0), 'marketing')(sms));
    await expect(guard(bj(23, 0), 'verification')(sms)).resolves.toBeUndefined();
    await expect(guard(bj(23, 0), 'notification')(sms)).resolves.toBeUndefined();
    await expect(guard(bj(23, 0), undefined)(sms)).resolves.toBeUndefined();
  });

  it('exempts voice verification codes (the person is waiting for the call)', async () => {
    await expect(guard(bj(23, 0), 'verification')(voice)).resolves.toBeUndefined();
  });

  it('supports a window that wraps past midnight', async () => {
    const night = quietHoursGuard(
      { startMinute: 22 * 60, endMinute: 6 * 60, action: 'defer' },
      () => bj(23, 0),
      () => undefined,
    );
    await expect(night(voice)).resolves.toBeUndefined();
    const noon = quietHoursGuard(
      { startMinute: 22 * 60, endMinute: 6 * 60, action: 'defer' },
      () => bj(12, 0),
      () => undefined,
    );
    expect((await refusal(noon(voice))).retryAt?.getTime()).toBe(bj(22, 0));
  });
});

describe('recipient policy', () => {
  it('refuses denylisted prefixes and, with an allowlist, anything outside it, never naming the number', async () => {
    const guard = recipientGuard({ allow: ['138', '1390000'], deny: ['1380013'] });
    const denied = await refusal(guard(sms));
    expect(denied.code).toBe('RECIPIENT_BLOCKED');
    expect(denied.status).toBe(422);
    expect(denied.message).not.toContain('13800138000');
    expect(deferral(denied)?.action).toBe('report');
    await expect(guard({ ...sms, phone: '13812345678' })).resolves.toBeUndefined();
    await expect(guard({ ...sms, phone: '13900001234' })).resolves.toBeUndefined();
    expect((await refusal(guard({ ...sms, phone: '13900011234' }))).rule).toBe('allowlist');
  });

  it('without lists, every mainland mobile passes', async () => {
    await expect(recipientGuard({ allow: [], deny: [] })(sms)).resolves.toBeUndefined();
  });
});

describe('configuration of limits, recipients and hours', () => {
  const base = { APPCODE: 'appcode-config-test-000' };
  const problem = (env: Record<string, string>) => {
    try {
      loadConfig({ ...base, ...env });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return err as ConfigError;
    }
    throw new Error('expected a ConfigError');
  };

  it('has the documented defaults', () => {
    const c = loadConfig(base);
    expect(c.limits).toEqual({
      phoneIntervalS: 60,
      phoneDaily: 15,
      verificationIntervalS: 60,
      verificationHourly: 5,
      verificationDaily: 10,
      callerPerMinute: 60,
      callerDaily: 2000,
      globalDaily: 10000,
      action: 'defer',
    });
    expect(c.quietHours).toEqual({ startMinute: 540, endMinute: 1200, action: 'defer' });
    expect(c.recipients).toEqual({ allow: [], deny: [] });
  });

  it('reads every variable', () => {
    const c = loadConfig({
      ...base,
      LIMIT_PHONE_INTERVAL_S: '30',
      LIMIT_PHONE_DAILY: '0',
      LIMIT_CALLER_PER_MINUTE: '5',
      LIMIT_CALLER_DAILY: '50',
      LIMIT_GLOBAL_DAILY: '500',
      LIMIT_VERIFICATION_INTERVAL_S: '120',
      LIMIT_VERIFICATION_HOURLY: '3',
      LIMIT_VERIFICATION_DAILY: '6',
      LIMIT_ACTION: 'report',
      PHONE_ALLOWLIST: '138, 139',
      PHONE_DENYLIST: '170,171',
      QUIET_HOURS: '08:30-21:00',
      QUIET_HOURS_ACTION: 'refuse',
    });
    expect(c.limits).toMatchObject({
      phoneIntervalS: 30,
      phoneDaily: 0,
      callerPerMinute: 5,
      callerDaily: 50,
      globalDaily: 500,
      verificationIntervalS: 120,
      verificationHourly: 3,
      verificationDaily: 6,
      action: 'report',
    });
    expect(c.recipients).toEqual({ allow: ['138', '139'], deny: ['170', '171'] });
    expect(c.quietHours).toEqual({ startMinute: 510, endMinute: 1260, action: 'refuse' });
    expect(loadConfig({ ...base, QUIET_HOURS: 'off' }).quietHours).toBeUndefined();
  });

  it.each([
    [{ LIMIT_PHONE_DAILY: 'fifteen' }, 'LIMIT_PHONE_DAILY'],
    [{ LIMIT_CALLER_PER_MINUTE: '-1' }, 'LIMIT_CALLER_PER_MINUTE'],
    [{ LIMIT_ACTION: 'drop' }, 'LIMIT_ACTION'],
    [{ QUIET_HOURS: '9-20' }, 'QUIET_HOURS'],
    [{ QUIET_HOURS: '09:00-09:00' }, 'QUIET_HOURS'],
    [{ QUIET_HOURS_ACTION: 'later' }, 'QUIET_HOURS_ACTION'],
    [{ PHONE_ALLOWLIST: '138,+86139' }, 'PHONE_ALLOWLIST'],
    [{ PHONE_DENYLIST: 'abc' }, 'PHONE_DENYLIST'],
  ])('%o is refused naming %s', (env, variable) => {
    const err = problem(env as Record<string, string>);
    expect(err.variables).toContain(variable);
    expect(err.message).toContain(variable);
  });
});

describe('which limits apply to whom', () => {
  const job = { channel: 'sms' as const, phone: '13800138000', skin: '1', params: ['1234'] };
  it("an HTTP caller gets per-caller limits; the deployer's own triggers (caller undefined) do not", () => {
    const http = limitRules(job, 'backend', undefined, DEFAULT_RATE_LIMITS).map((r) => r.name);
    const trigger = limitRules(job, undefined, undefined, DEFAULT_RATE_LIMITS).map((r) => r.name);
    expect(http).toEqual(expect.arrayContaining(['phone-interval', 'phone-daily', 'caller-per-minute', 'caller-daily', 'global-daily']));
    expect(trigger).toEqual(['phone-interval', 'phone-daily', 'global-daily']);
  });
});

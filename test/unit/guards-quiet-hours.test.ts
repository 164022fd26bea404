import { describe, expect, it } from 'vitest';
import { deferral } from '#shared/guards/contract';
import { beijingMinute, nextWindowStart, quietHoursGuard } from '#shared/guards/quiet-hours';
import type { TemplateKind } from '#shared/guards/template-kind';
import { refusal, sms, voice } from '../support/guards.ts';

// Beijing time h:m on 2026-03-10, as epoch ms.
const bj = (h: number, m: number, s = 0) => Date.UTC(2026, 2, 10, h - 8, m, s);

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

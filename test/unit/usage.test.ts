import { describe, expect, it } from 'vitest';
import { loadConfig } from '#shared/config';
import { ConfigError } from '#shared/errors';
import { MemoryStore } from '#shared/store/memory';
import { beijingDay, daysBetween, rowsOfDay, usageField } from '#shared/usage/counters';
import { parseQuota, quotaStatus } from '#shared/usage/quota';
import { buildReport, reportCsv, reportRange } from '#shared/usage/report';

/** Issue 13: the pieces of the usage report, without a server. */

const NOW = Date.parse('2026-12-01T17:00:00Z'); // 01:00 on 2026-12-02 in Beijing

describe('usage days and fields', () => {
  it('a Beijing day runs 16:00 to 16:00 UTC', () => {
    expect(beijingDay(Date.parse('2026-12-01T15:59:59Z'))).toBe('2026-12-01');
    expect(beijingDay(Date.parse('2026-12-01T16:00:00Z'))).toBe('2026-12-02');
    expect(daysBetween('2026-12-30', '2027-01-02')).toEqual(['2026-12-30', '2026-12-31', '2027-01-01', '2027-01-02']);
  });

  it('fields never hold the separator, whatever a name holds', () => {
    expect(usageField({ channel: 'sms', outcome: 'sent', caller: 'a|b c', template: '' })).toBe('sms|sent|a_b_c|-');
    expect(rowsOfDay('d', { 'sms|sent|a|1': '2', '#|sms|sent': '2', '!quota-low|sms': '1', 'sms|bogus|a|1': '5' })).toEqual([
      {
        date: 'd',
        channel: 'sms',
        caller: 'a',
        template: '1',
        counts: { sent: 2, rejected: 0, failed: 0, unknown: 0, refused: 0, scheduled: 0 },
      },
    ]);
  });
});

describe('report range', () => {
  it('defaults to today (Beijing) and checks days, order and length, naming the parameter', () => {
    expect(reportRange(undefined, undefined, NOW)).toEqual({ from: '2026-12-02', to: '2026-12-02' });
    expect(reportRange('2026-11-01', undefined, NOW)).toEqual({ from: '2026-11-01', to: '2026-12-02' });
    expect(() => reportRange('2026-02-30', '2026-03-01', NOW)).toThrow(expect.objectContaining({ path: 'from' }));
    expect(() => reportRange('2026-12-02', '2026-12-01', NOW)).toThrow(expect.objectContaining({ code: 'INVALID_REQUEST', path: 'from' }));
    expect(() => reportRange('2025-01-01', '2026-12-01', NOW)).toThrow(expect.objectContaining({ path: 'to' }));
    expect(reportRange('2025-10-28', '2026-12-01', NOW).from).toBe('2025-10-28'); // 400 days exactly
  });
});

describe('quota', () => {
  it('parses <bought>@<day>[+<used>] and refuses anything else, naming the variable', () => {
    const problems: string[] = [];
    expect(parseQuota('QUOTA_LONG_SMS', '20740@2026-12-01', problems)).toEqual({ purchased: 20740, since: '2026-12-01', usedBefore: 0 });
    expect(parseQuota('QUOTA_LONG_SMS', ' 20740 @ 2026-12-01 + 13818 ', problems)).toEqual({
      purchased: 20740,
      since: '2026-12-01',
      usedBefore: 13818,
    });
    expect(parseQuota('QUOTA_LONG_SMS', '', problems)).toBeUndefined();
    expect(problems).toEqual([]);
    for (const bad of ['20740', '20740@2026-13-01', 'lots@2026-12-01', '20740@2026-12-01+x']) parseQuota('QUOTA_VOICE', bad, problems);
    expect(problems).toHaveLength(4);
    expect(problems.every((p) => p.startsWith('QUOTA_VOICE '))).toBe(true);
  });

  it('used = offset + billable (sent, rejected) since the day set; refusals and failures are not billed', async () => {
    const store = new MemoryStore();
    const add = (day: string, outcome: 'sent' | 'rejected' | 'failed' | 'refused', n: number) =>
      store.countUsage({ channel: 'sms', outcome, caller: 'a', template: '1', day, n });
    await add('2026-11-30', 'sent', 100); // before the package
    await add('2026-12-01', 'sent', 10);
    await add('2026-12-01', 'rejected', 2);
    await add('2026-12-02', 'failed', 7);
    await add('2026-12-02', 'refused', 3);
    await add('2026-12-02', 'sent', 1);
    const q = await quotaStatus(store, { purchased: 100, since: '2026-12-01', usedBefore: 50 }, 'sms', NOW);
    expect(q).toEqual({ purchased: 100, used: 63, remaining: 37, remainingRatio: 0.37, since: '2026-12-01' });
  });

  it('config: OPS_CALLERS must name API_KEYS callers; bad QUOTA_* and ALERT_PHONES are refused', () => {
    const base = { SANDBOX: '1', API_KEYS: 'ops:ops-key-0123456789abcdef' };
    expect(loadConfig({ ...base, OPS_CALLERS: 'ops', QUOTA_VOICE: '500@2026-12-01', ALERT_PHONES: '+8613800138000' }).usage).toEqual({
      opsCallers: ['ops'],
      quotas: { voice: { purchased: 500, since: '2026-12-01', usedBefore: 0 } },
      alertPhones: ['13800138000'],
      alertSkin: undefined,
    });
    try {
      loadConfig({ ...base, OPS_CALLERS: 'opz', QUOTA_LONG_SMS: '500', ALERT_PHONES: '123' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).variables).toEqual(expect.arrayContaining(['OPS_CALLERS', 'QUOTA_LONG_SMS', 'ALERT_PHONES']));
    }
  });
});

describe('report', () => {
  it('rows by day and channel, cost rounded to 4 decimals, CSV quoting', async () => {
    const store = new MemoryStore();
    await store.countUsage({ channel: 'sms', outcome: 'sent', caller: 'b', template: '1', day: '2026-12-01', n: 3 });
    await store.countUsage({ channel: 'voice', outcome: 'rejected', caller: 'a', template: '-', day: '2026-12-01' });
    const r = await buildReport(store, {
      from: '2026-12-01',
      to: '2026-12-02',
      now: NOW,
      pricing: { sms: 0.135, voice: 0.11111 },
      quotas: {},
    });
    expect(r.days.map((d) => [d.date, d.channel, d.billable, d.cost])).toEqual([
      ['2026-12-01', 'sms', 3, 0.405],
      ['2026-12-01', 'voice', 1, 0.1111],
    ]);
    expect(reportCsv(r).split('\r\n')[1]).toBe('2026-12-01,sms,b,1,3,0,0,0,0,0,3,0.405');
  });
});

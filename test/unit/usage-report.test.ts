import { describe, expect, it } from 'vitest';
import { MemoryStore } from '#shared/store/memory';
import { buildReport, reportCsv, reportRange } from '#shared/usage/report';

const NOW = Date.parse('2026-12-01T17:00:00Z'); // 01:00 on 2026-12-02 in Beijing

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

import { describe, expect, it } from 'vitest';
import { beijingDay, daysBetween, rowsOfDay, usageField } from '#shared/usage/counters';

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

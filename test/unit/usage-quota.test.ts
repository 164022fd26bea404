import { describe, expect, it } from 'vitest';
import { MemoryStore } from '#shared/store/memory';
import { parseQuota, quotaStatus } from '#shared/usage/quota';

const NOW = Date.parse('2026-12-01T17:00:00Z'); // 01:00 on 2026-12-02 in Beijing

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
});

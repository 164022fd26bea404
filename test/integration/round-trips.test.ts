import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { measureRedisSends } from '../../scripts/bench/redis-sends.ts';
import { type FakeProvider, startFakeProvider } from '../support/fake-provider.ts';
import { type RedisChild, startRedisChild } from '../support/redis-child.ts';

/**
 * Issue 15: Redis commands and sequential round trips per send, counted by a proxy that parses
 * what the client writes and what Redis answers (scripts/bench/redis-proxy.ts), through the real
 * handlers with REDIS_URL and default limits, against this file's own redis-server.
 */
let redis: RedisChild;
let fake: FakeProvider;
beforeAll(async () => {
  redis = await startRedisChild();
  fake = await startFakeProvider();
  fake.fallback = { kind: 'vendor', code: 'OK', message: '发送成功' };
});
afterAll(async () => {
  await fake?.close();
  await redis?.close();
});

describe('Redis round trips per send', () => {
  it('a keyed SMS send: claim and every limit in one round trip, the outcome record and usage counter in one more; ≤ 8 commands', async () => {
    const [keyed] = await measureRedisSends(redis.port, fake, { runs: 3, kinds: ['keyed'] });
    expect(keyed?.roundTrips).toBe(2);
    expect(keyed?.writes).toBe(2);
    expect(keyed?.commands).toBeLessThanOrEqual(8);
    // The claim (SET NX) is in the first round trip, together with the limit scripts.
    expect(keyed?.names[0]).toBe('SET');
    expect(keyed?.names.filter((n) => n === 'SET')).toHaveLength(1);
    expect(fake.requests.length).toBeGreaterThan(0);
  });

  it('an unkeyed SMS send, a voice send and a verification start stay within the goal too', async () => {
    const rows = await measureRedisSends(redis.port, fake, { runs: 1, kinds: ['unkeyed', 'voice', 'verify-start'] });
    expect(rows).toHaveLength(3);
    for (const r of rows) {
      expect(r.roundTrips, r.kind).toBeLessThanOrEqual(2);
      expect(r.commands, r.kind).toBeLessThanOrEqual(8);
    }
  });
});

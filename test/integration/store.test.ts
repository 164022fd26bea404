import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, expect, it } from 'vitest';
import { MemoryStore } from '#shared/store/memory';
import { RedisStore } from '#shared/store/redis';
import { deleteKeys } from '../support/redis.ts';
import { slotWatch } from '../support/slot-check.ts';
import { storeContract } from '../support/store-contract.ts';

const PREFIX = `fcn-test-${randomBytes(6).toString('hex')}:`;
const slots = slotWatch();
const redis = slots.watch(new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1, connectTimeout: 2000 }));

afterAll(async () => {
  await deleteKeys(redis, `${PREFIX}*`);
  await redis.quit();
});

storeContract(
  'memory',
  () => new MemoryStore(),
  (ms) => sleep(ms),
);
// Each test gets its own prefix so schedules of one test never show up in another.
storeContract(
  'Redis',
  () => new RedisStore(() => Promise.resolve(redis), { prefix: `${PREFIX}${randomBytes(3).toString('hex')}:` }),
  (ms) => sleep(ms),
);

it('jobs scheduled under the keys of 0.1 (no hash tag) are moved over once and then taken as before', async () => {
  const prefix = `${PREFIX}legacy-${randomBytes(3).toString('hex')}:`;
  const job = {
    id: 'old-1',
    channel: 'sms' as const,
    caller: 'app',
    key: 'k-old-1',
    job: { phone: '13800138000', skin: '1', params: ['1'] },
    dueAt: 1_000,
  };
  await redis.hset(`${prefix}sched:sms:jobs`, job.id, JSON.stringify(job));
  await redis.zadd(`${prefix}sched:sms`, job.dueAt, job.id);
  const store = new RedisStore(() => Promise.resolve(redis), { prefix });
  expect(await store.claimDue('sms', 5_000, 10, 1_000)).toEqual([job]);
  expect(await redis.exists(`${prefix}sched:sms`, `${prefix}sched:sms:jobs`)).toBe(0);
  expect(await redis.zscore(`${prefix}{sched:sms}:due`, job.id)).toBe('6000');
  await store.ack('sms', job.id);
  expect(await store.claimDue('sms', 10_000, 10, 1_000)).toEqual([]);
});

// Runs after the suites above: standalone Redis accepts what a cluster refuses, so check here.
it('every script and MULTI of the Redis store touched keys of one hash slot, and every script had a key', () => {
  expect(slots.checked).toBeGreaterThanOrEqual(10);
  expect(slots.violations).toEqual([]);
});

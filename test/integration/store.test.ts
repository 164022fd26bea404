import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, expect, it } from 'vitest';
import { MemoryStore } from '#shared/store/memory';
import { RedisStore } from '#shared/store/redis';
import { storeContract } from '../support/store-contract.ts';
import { deleteKeys } from '../support/redis.ts';
import { slotWatch } from '../support/slot-check.ts';

const PREFIX = `fcn-test-${randomBytes(6).toString('hex')}:`;
const slots = slotWatch();
const redis = slots.watch(new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1, connectTimeout: 2000 }));

afterAll(async () => {
  await deleteKeys(redis, `${PREFIX}*`);
  await redis.quit();
});

storeContract('memory', () => new MemoryStore(), (ms) => sleep(ms));
// Each test gets its own prefix so schedules of one test never show up in another.
storeContract('Redis', () => new RedisStore(() => Promise.resolve(redis), { prefix: `${PREFIX}${randomBytes(3).toString('hex')}:` }), (ms) => sleep(ms));

// Runs after the suites above: standalone Redis accepts what a cluster refuses, so check here.
it('every script and MULTI of the Redis store touched keys of one hash slot, and every script had a key', () => {
  expect(slots.checked).toBeGreaterThanOrEqual(10);
  expect(slots.violations).toEqual([]);
});

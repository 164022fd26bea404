import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll } from 'vitest';
import { MemoryStore } from '#shared/store/memory';
import { RedisStore } from '#shared/store/redis';
import { storeContract } from '../support/store-contract.ts';
import { deleteKeys } from '../support/redis.ts';

const PREFIX = `fcn-test-${randomBytes(6).toString('hex')}:`;
const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1, connectTimeout: 2000 });

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

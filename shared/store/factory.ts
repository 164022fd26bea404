import type { MakeStore } from '../runtime.ts';
import { MemoryStore } from './memory.ts';
import { RedisStore } from './redis.ts';
import { redisConnection } from './redis-connection.ts';

/** Redis (shared by every instance) when REDIS_URL is set, else this instance's memory. */
export const makeStore: MakeStore = (redisUrl, cluster = false) =>
  redisUrl ? new RedisStore(() => redisConnection(redisUrl, cluster)) : new MemoryStore();

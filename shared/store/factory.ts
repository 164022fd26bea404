import { MemoryStore } from './memory.ts';
import { RedisStore } from './redis.ts';
import { redisConnection } from './redis-connection.ts';
import type { Store } from './types.ts';

/**
 * Redis (shared by every instance) when REDIS_URL is set, else this instance's memory. Used by the
 * sending functions and by template-validate (usage and job lookups, issue 13). `cluster`:
 * REDIS_CLUSTER=1 (docs/redis.md).
 */
export function makeStore(redisUrl: string | undefined, cluster = false): Store {
  return redisUrl ? new RedisStore(() => redisConnection(redisUrl, cluster)) : new MemoryStore();
}

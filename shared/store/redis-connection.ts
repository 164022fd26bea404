import type { Redis, RedisOptions } from 'ioredis';
import { connectCluster } from './redis-cluster.ts';

/**
 * One Redis connection per instance, opened on first use. ioredis is loaded lazily so the
 * functions that never touch Redis (and instances without REDIS_URL) do not pay for it at
 * cold start. Both the idempotency/schedule store and the rate limiter share this connection.
 */

let connection: Promise<Redis> | undefined;
let connectionUrl: string | undefined;

export const REDIS_OPTIONS: RedisOptions = {
  // Fail fast inside a function invocation instead of queueing commands forever.
  maxRetriesPerRequest: 2,
  connectTimeout: 2000,
  commandTimeout: 2000,
  enableOfflineQueue: true,
  lazyConnect: false,
};

/**
 * `cluster` (REDIS_CLUSTER=1): `url` names seed nodes of a cluster in direct mode, reached through
 * ioredis's cluster client with the same options (shared/store/redis-cluster.ts). A cluster that
 * does not come up is not cached: the next call tries again.
 */
export function redisConnection(url: string, cluster = false): Promise<Redis> {
  const id = `${cluster ? 'cluster' : 'single'} ${url}`;
  if (!connection || connectionUrl !== id) {
    connectionUrl = id;
    const opening: Promise<Redis> = cluster
      ? connectCluster(url, REDIS_OPTIONS)
      : import('ioredis').then(({ Redis: RedisClient }) => new RedisClient(url, REDIS_OPTIONS));
    connection = opening;
    opening.catch(() => {
      if (connection === opening) {
        connection = undefined;
        connectionUrl = undefined;
      }
    });
  }
  return connection;
}

/** Closes the shared connection (tests, local server shutdown). */
export async function closeRedisConnection(): Promise<void> {
  const c = connection;
  connection = undefined;
  connectionUrl = undefined;
  if (c) await (await c).quit().catch(() => undefined);
}

/**
 * A client getter for one user of the shared connection: connects on first call and defines
 * that user's Lua scripts as commands (ioredis runs them with EVALSHA, falling back to EVAL
 * when the server has not cached them yet).
 */
export function scriptedClient<T extends Redis>(connect: () => Promise<Redis>, scripts: Readonly<Record<string, string>>): () => Promise<T> {
  let client: Promise<T> | undefined;
  return () => {
    if (client) return client;
    const c = connect().then((r) => {
      for (const [name, lua] of Object.entries(scripts)) {
        if (typeof (r as unknown as Record<string, unknown>)[name] !== 'function') r.defineCommand(name, { lua });
      }
      return r as T;
    });
    // A connection that failed to open is not kept: the next call tries again.
    c.catch(() => {
      if (client === c) client = undefined;
    });
    client = c;
    return c;
  };
}

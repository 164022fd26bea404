import type { Redis, RedisOptions } from 'ioredis';

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

export function redisConnection(url: string, keyPrefix = ''): Promise<Redis> {
  if (!connection || connectionUrl !== url) {
    connectionUrl = url;
    connection = import('ioredis').then(({ Redis: RedisClient }) => new RedisClient(url, { ...REDIS_OPTIONS, keyPrefix }));
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
  return () =>
    (client ??= connect().then((r) => {
      for (const [name, lua] of Object.entries(scripts)) {
        if (typeof (r as unknown as Record<string, unknown>)[name] !== 'function') r.defineCommand(name, { lua });
      }
      return r as T;
    }));
}

import type { Redis, RedisOptions } from 'ioredis';
import { connectCluster } from './redis-cluster.ts';
import { coalesceWrites } from './redis-writes.ts';

/**
 * One Redis connection per instance, opened on first use. ioredis is loaded lazily so the
 * functions that never touch Redis (and instances without REDIS_URL) do not pay for it at
 * cold start. Both the idempotency/schedule store and the rate limiter share this connection.
 *
 * Failure behaviour (issue 11; docs/guarantees.md): a command either runs now or fails now.
 * - No offline queue: a command issued while the connection is down fails at once instead of
 *   waiting in the client and running whenever Redis comes back (a queued `SET NX` claim that ran
 *   after its caller had given up left a "ghost" claim: 409 for a job that was never sent).
 * - No resend of commands that were in flight when the connection dropped, and they fail at the
 *   drop (`maxRetriesPerRequest: 0`), not after reconnecting.
 * - `commandTimeout` bounds a command on a live but stalled connection. Such a command is already
 *   in the socket and WILL run when the server wakes up; the store follows a timed-out claim with
 *   its release on the same connection (shared/store/redis.ts), so it runs right after it.
 * - Reconnects in the background, quickly (≤ 1 s apart), so a restarted Redis is used again
 *   within about a second; a command waits at most READY_WAIT_MS for a connection in progress.
 * A cluster client (REDIS_CLUSTER=1) must keep the same properties.
 */

let connection: Promise<Redis> | undefined;
let connectionUrl: string | undefined;

/** How long a command waits for a connection that is being (re)established before failing. */
export const READY_WAIT_MS = 1500;

export const REDIS_OPTIONS: RedisOptions = {
  maxRetriesPerRequest: 0,
  connectTimeout: 2000,
  commandTimeout: 1000,
  enableOfflineQueue: false,
  autoResendUnfulfilledCommands: false,
  // 200, 400, 800, then every 1000 ms: back quickly after a restart or failover.
  retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 4), 1000),
  lazyConnect: false,
};

/** A client with the options above (tests build several to play several FC instances). */
export async function createRedisClient(url: string, keyPrefix = ''): Promise<Redis> {
  const { Redis: RedisClient } = await import('ioredis');
  const r = new RedisClient(url, { ...REDIS_OPTIONS, keyPrefix });
  coalesceWrites(r);
  // Connection errors surface through the commands that fail (STORE_UNAVAILABLE); without a
  // listener ioredis would also print every reconnect failure to stderr, outside our logger.
  r.on('error', () => undefined);
  return r;
}

/**
 * The instance's shared connection, resolved once it can take commands (bounded by READY_WAIT_MS:
 * without an offline queue a command sent while connecting would fail at once).
 * `cluster` (REDIS_CLUSTER=1): `url` names seed nodes of a cluster in direct mode, reached through
 * ioredis's cluster client with the same options and failure behaviour
 * (shared/store/redis-cluster.ts, docs/redis.md).
 */
export function redisConnection(url: string, cluster = false): Promise<Redis> {
  const id = `${cluster ? 'cluster' : 'single'} ${url}`;
  if (!connection || connectionUrl !== id) {
    connectionUrl = id;
    const c = cluster ? connectCluster(url, REDIS_OPTIONS) : createRedisClient(url);
    connection = c;
    c.catch(() => {
      if (connection === c) {
        connection = undefined;
        connectionUrl = undefined;
      }
    });
  }
  return connection.then((r) => whenReady(r));
}

/** Closes the shared connection (tests, local server shutdown). */
export async function closeRedisConnection(): Promise<void> {
  const c = connection;
  connection = undefined;
  connectionUrl = undefined;
  if (c) await (await c).quit().catch(() => undefined);
}

/**
 * Resolves when `r` can take a command. Without an offline queue a command sent while the client
 * is still connecting (first use) or reconnecting fails at once; waiting a bounded time for the
 * connection keeps the first command of an instance working and rides out a quick reconnect.
 * Clients that do queue (tests hand in their own) are returned as they are.
 */
export async function whenReady(r: Redis, waitMs = READY_WAIT_MS): Promise<Redis> {
  if (r.status === 'ready' || r.options.enableOfflineQueue !== false) return r;
  if (r.status === 'end') throw new Error('Redis connection is closed');
  if (r.status === 'wait') r.connect().catch(() => undefined);
  // One wait per client, shared by every command that arrives meanwhile (one listener pair, one timer).
  let wait = waiting.get(r);
  if (!wait) {
    wait = new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        r.off('ready', onReady);
        r.off('end', onEnd);
        waiting.delete(r);
        if (err) reject(err);
        else resolve();
      };
      const onReady = () => done();
      const onEnd = () => done(new Error('Redis connection is closed'));
      const timer = setTimeout(() => done(new Error(`Redis not reachable within ${waitMs} ms (${r.status})`)), waitMs);
      r.once('ready', onReady);
      r.once('end', onEnd);
    });
    waiting.set(r, wait);
  }
  await wait;
  return r;
}

const waiting = new WeakMap<Redis, Promise<void>>();

/**
 * A client getter for one user of the shared connection: connects on first call and defines
 * that user's Lua scripts as commands (ioredis runs them with EVALSHA, falling back to EVAL
 * when the server has not cached them yet, e.g. after a restart).
 */
export function scriptedClient<T extends Redis>(
  connect: () => Promise<Redis>,
  scripts: Readonly<Record<string, string>>,
): () => Promise<T> {
  let client: Promise<T> | undefined;
  return async () => {
    client ??= connect().then((r) => {
      for (const [name, lua] of Object.entries(scripts)) {
        if (typeof (r as unknown as Record<string, unknown>)[name] !== 'function') r.defineCommand(name, { lua });
      }
      return r as T;
    });
    const c = client;
    // A failed connect() (module load) is not cached: the next call tries again.
    c.catch(() => {
      if (client === c) client = undefined;
    });
    return (await whenReady(await c)) as T;
  };
}

import type { Cluster, ClusterNode, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import { coalesceWrites } from './redis-writes.ts';

/**
 * REDIS_CLUSTER=1: a Redis Cluster (or Tair cluster edition in direct mode) through ioredis's
 * cluster client. It follows the standalone client's rules (shared/store/redis-connection.ts):
 * the same timeouts, no offline queue, and a command that timed out is never written later.
 * ioredis forces an offline queue on its per-node connections (a node connection is opened on
 * first use), so the guard below drops commands that already settled when that queue is
 * flushed. Loaded only through `await import('ioredis')` (see LAZY_MODULES in scripts/build.ts).
 */

/** `redis://[user:pass@]host:port[,host:port…]` or a comma-separated list of full URLs. */
export function parseSeeds(url: string): { nodes: ClusterNode[]; auth: Pick<RedisOptions, 'username' | 'password' | 'tls'> } {
  const nodes: ClusterNode[] = [];
  let auth: Pick<RedisOptions, 'username' | 'password' | 'tls'> = {};
  let scheme = 'redis:';
  for (const raw of url
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const u = new URL(raw.includes('://') ? raw : `${scheme}//${raw}`);
    scheme = u.protocol;
    nodes.push({ host: u.hostname, port: Number(u.port || 6379) });
    if (u.password && auth.password === undefined) {
      auth = { password: decodeURIComponent(u.password), ...(u.username ? { username: decodeURIComponent(u.username) } : {}) };
    }
    if (u.protocol === 'rediss:') auth.tls = {};
  }
  return { nodes, auth };
}

export function clusterOptions(base: RedisOptions, auth: Pick<RedisOptions, 'username' | 'password' | 'tls'>): ClusterOptions {
  // Per-node reconnection is the cluster client's business (it follows MOVED and re-reads the slot map).
  const { enableOfflineQueue: _q, lazyConnect: _l, retryStrategy: _r, ...node } = base;
  return {
    enableOfflineQueue: false,
    // MOVED/ASK are followed (the command was not run); a closed connection or CLUSTERDOWN is
    // reported at once instead of re-sent later: the command may already have run, and the
    // caller (a function invocation) answers "retry later" rather than waiting.
    retryDelayOnFailover: 0,
    retryDelayOnClusterDown: 0,
    slotsRefreshTimeout: base.connectTimeout ?? 2000,
    redisOptions: { ...node, ...auth, enableOfflineQueue: false } as ClusterOptions['redisOptions'],
  };
}

/** Connects and resolves once the cluster knows its slots; rejects after `connectTimeout`. */
export async function connectCluster(url: string, base: RedisOptions): Promise<Redis> {
  const { Cluster: ClusterClient } = await import('ioredis');
  const { nodes, auth } = parseSeeds(url);
  const cluster: Cluster = new ClusterClient(nodes, clusterOptions(base, auth));
  cluster.on('+node', (node: Redis) => {
    // Without an offline queue, ioredis refuses a command for a node whose connection is still
    // opening ("Connection is closed."), so open each node's connection as soon as it is known
    // instead of on its first command.
    if (node.status === 'wait') node.connect().catch(() => undefined);
    const send = node.sendCommand.bind(node);
    // A command queued while this node's connection was opening may time out (and be answered
    // "failed, retry") before the connection is ready; it must not run afterwards.
    node.sendCommand = ((command: { isSettled?: boolean; promise: Promise<unknown> }, stream?: unknown) =>
      command.isSettled ? command.promise : send(command as never, stream as never)) as Redis['sendCommand'];
    // Issue 15: commands for this node issued in one tick share one socket write (redis-writes.ts).
    coalesceWrites(node);
  });
  cluster.on('error', () => undefined);
  // ioredis does not reconnect a node connection that closed (the server dropped it, a network
  // blip): it waits for a MOVED to rebuild it, so the first command for that node would fail. Ask
  // for the slot map again shortly after instead (which reopens the connection, see '+node'), at
  // most every 500 ms, so a node that stays down is not hammered.
  let refresh: NodeJS.Timeout | undefined;
  cluster.on('-node', () => {
    if (refresh) return;
    refresh = setTimeout(() => {
      refresh = undefined;
      if (cluster.status === 'ready')
        (cluster as unknown as { refreshSlotsCache(cb?: () => void): void }).refreshSlotsCache(() => undefined);
    }, 500);
    refresh.unref();
  });
  const timeoutMs = base.connectTimeout ?? 2000;
  const deadline = Date.now() + timeoutMs;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cluster.disconnect();
      reject(new Error(`Redis Cluster not ready within ${timeoutMs} ms`));
    }, timeoutMs);
    cluster.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  // Then let the masters' connections finish opening (within the same time budget); a master
  // that does not answer only makes its own slots' commands fail (retryable), not the rest.
  await Promise.race([
    Promise.all(cluster.nodes('master').map((n) => (n.status === 'ready' ? undefined : new Promise((r) => n.once('ready', r))))),
    new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())).unref()),
  ]);
  // The store and limiter use the commands both clients share; `isCluster` tells them apart.
  return cluster as unknown as Redis;
}

/** True for ioredis's cluster client. */
export function isCluster(r: Redis): boolean {
  return (r as unknown as { isCluster?: boolean }).isCluster === true;
}

import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { USAGE_INCR_LUA, type UsageEvent, type UsageWrite, usageIncrArgs, usageKey } from '../usage/counters.ts';
import { legacyScheduleKeys, scheduleKey, scheduleKeys } from './keys.ts';
import { scriptedClient } from './redis-connection.ts';
import {
  type ClaimResult,
  type PeekResult,
  SCHEDULE_STORE_GRACE_MS,
  type ScheduledJob,
  type ScheduleOptions,
  type Store,
  type StoredOutcome,
} from './types.ts';

/**
 * The store in Redis, shared by every FC instance. Claims are `SET NX PX` with a random token;
 * completing or releasing a claim is a compare-and-set in Lua, so an instance whose claim has
 * expired (and been taken by another) can never overwrite the new owner's state. Scheduled jobs
 * live in a ZSET (score = when the job may next be taken) plus a hash of their JSON; taking due
 * jobs is one Lua script that moves their score past a lease, so overlapping timers never share one.
 *
 * Values: `c:<token>:<staleAt>:<fingerprint>` while claimed (kept for the outcome TTL: the claim is
 * the durable marker that a send may have happened; `staleAt`, epoch ms, is when its attempt has
 * surely ended), `d:<outcome JSON>` when done. Claims written before 0.2.0 (`c:<token>:<fingerprint>`,
 * short TTL) are still read.
 *
 * Cluster editions: every script and MULTI touches keys of one hash slot, all passed in KEYS
 * (shared/store/keys.ts has the layout).
 */

// KEYS[1]: idempotency key. ARGV: token, new value, ttl ms. Replaces the value only while `token` holds the claim,
// or writes it when the key is gone (issue 11: the store lost the claim in a restart or failover; the outcome
// is known, so recording it keeps a redelivery from sending again). Another claim or an outcome is never replaced.
const COMPLETE = `
local v = redis.call('GET', KEYS[1])
local p = 'c:' .. ARGV[1] .. ':'
if not v or string.sub(v, 1, #p) == p then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', tonumber(ARGV[3]))
  return 1
end
return 0
`;

// KEYS[1]: idempotency key. ARGV: token.
const RELEASE = `
local v = redis.call('GET', KEYS[1])
local p = 'c:' .. ARGV[1] .. ':'
if v and string.sub(v, 1, #p) == p then return redis.call('DEL', KEYS[1]) end
return 0
`;

// KEYS: zset, hash. ARGV: now, limit, lease end. Returns the JSON of every job taken.
const CLAIM_DUE = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(ids) do
  local j = redis.call('HGET', KEYS[2], id)
  if j then
    redis.call('ZADD', KEYS[1], 'XX', ARGV[3], id)
    table.insert(out, j)
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
`;

// KEYS: zset, hash, the caller's index[, cancelled ids]. ARGV: id, caller[, now]. Only the caller who scheduled a job may cancel it.
// (Issue 11: the third key and its ZREM are new. Issue 13: a fourth key, same slot, remembers
// cancelled ids for a day (score: when) so a job lookup can answer "cancelled".)
const CANCEL = `
local j = redis.call('HGET', KEYS[2], ARGV[1])
if not j then return 0 end
if cjson.decode(j).caller ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
if KEYS[4] then
  local now = tonumber(ARGV[3])
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - 86400000)
  redis.call('ZADD', KEYS[4], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[4], 86400000)
end
return 1
`;

// KEYS: zset (due time), hash (job JSON), the caller's index (a ZSET of its ids by expiry).
// ARGV: id, job JSON, dueAt, expiresAt ('+inf' = never), max pending (0 = no cap), now, key TTL ms (0 = leave the TTL).
// The caller's expired ids are dropped from its index first, so they no longer count; an id
// already scheduled is replaced whatever the count (a retried POST, a deferral). Every write
// lengthens the three keys' TTL to cover this job (never shortens it): a channel whose timer
// never runs leaves nothing behind for ever. PTTL -1 (a key from before TTLs) gets one too.
const SCHEDULE = `
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[6])
local max = tonumber(ARGV[5])
if max > 0 and redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 and redis.call('ZCARD', KEYS[3]) >= max then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
local ttl = tonumber(ARGV[7])
if ttl > 0 then
  for i = 1, 3 do
    if redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
  end
end
return 1
`;

type StoreRedis = Redis & {
  fcnStoreComplete(numKeys: number, ...args: Array<string | number>): Promise<number>;
  fcnStoreRelease(numKeys: number, ...args: Array<string | number>): Promise<number>;
  fcnStoreClaimDue(numKeys: number, ...args: Array<string | number>): Promise<string[]>;
  fcnStoreCancel(numKeys: number, ...args: Array<string | number>): Promise<number>;
  fcnStoreSchedule(numKeys: number, ...args: Array<string | number>): Promise<number>;
  fcnUsageIncr(numKeys: number, ...args: Array<string | number>): Promise<number>;
};

export interface RedisStoreOptions {
  /** Prepended to every key (tests use a unique prefix per file). */
  prefix?: string;
}

export const DEFAULT_STORE_PREFIX = 'fcn:';

export class RedisStore implements Store {
  readonly kind = 'redis' as const;
  readonly #client: () => Promise<StoreRedis>;
  readonly #prefix: string;
  readonly #connect: () => Promise<Redis>;

  /** The same connection and key prefix for the verification records (shared/verify/store.ts). */
  redisSource(): { connect: () => Promise<Redis>; prefix: string } {
    return { connect: this.#connect, prefix: this.#prefix };
  }

  /** `connect` is called once, on first use (ioredis loads lazily). */
  constructor(connect: () => Promise<Redis>, options: RedisStoreOptions = {}) {
    this.#connect = connect;
    this.#client = scriptedClient<StoreRedis>(connect, {
      fcnStoreComplete: COMPLETE,
      fcnStoreRelease: RELEASE,
      fcnStoreClaimDue: CLAIM_DUE,
      fcnStoreCancel: CANCEL,
      fcnStoreSchedule: SCHEDULE,
      fcnUsageIncr: USAGE_INCR_LUA,
    });
    this.#prefix = options.prefix ?? DEFAULT_STORE_PREFIX;
  }

  readonly #moved = new Map<string, Promise<void>>();

  /** Both keys of a channel's schedule share a hash tag (shared/store/keys.ts). */
  #schedKeys(channel: string): [string, string] {
    return scheduleKeys(this.#prefix, channel);
  }

  /**
   * Jobs scheduled before 0.2.0 sit under the old, untagged keys; they are moved over once per
   * channel and instance, before the first take or cancel (one ZRANGE when there is nothing to
   * move). Two instances moving at once copy the same ids: harmless, a job's idempotency key
   * still sends it once.
   */
  #moveLegacy(r: StoreRedis, channel: string): Promise<void> {
    let p = this.#moved.get(channel);
    if (!p) {
      p = (async () => {
        const [oldDue, oldJobs] = legacyScheduleKeys(this.#prefix, channel);
        const [due, jobs] = this.#schedKeys(channel);
        for (let round = 0; round < 1000; round += 1) {
          const batch = await r.zrange(oldDue, '0', '99', 'WITHSCORES');
          if (batch.length === 0) return;
          for (let i = 0; i < batch.length; i += 2) {
            const id = batch[i] as string;
            const j = await r.hget(oldJobs, id);
            if (j !== null)
              await r
                .multi()
                .hsetnx(jobs, id, j)
                .zadd(due, 'NX', batch[i + 1] as string, id)
                .exec();
            await r.zrem(oldDue, id);
            await r.hdel(oldJobs, id);
          }
        }
      })();
      this.#moved.set(channel, p);
      p.catch(() => this.#moved.delete(channel));
    }
    return p;
  }

  /** The ZSET of one caller's scheduled ids of a channel (score: expiresAt), for the pending cap; same slot as the schedule. */
  #callerKey(channel: string, caller: string): string {
    return scheduleKey(this.#prefix, channel, `:caller:${caller}`);
  }

  async claim(key: string, fingerprint: string, staleMs: number, holdMs = staleMs): Promise<ClaimResult> {
    const r = await this.#client();
    const k = this.#prefix + key;
    // Two rounds: the value seen by GET may expire between the failed SET and the GET.
    for (let round = 0; round < 2; round += 1) {
      const token = randomUUID();
      const staleAt = Date.now() + Math.round(staleMs);
      let ok: string | null;
      try {
        ok = await r.set(k, `c:${token}:${staleAt}:${fingerprint}`, 'PX', Math.max(1, Math.round(Math.max(holdMs, staleMs))), 'NX');
      } catch (err) {
        // A SET that timed out on a stalled server is in the socket and runs when the server wakes
        // up: a ghost claim nobody sends under (409, then "unknown"). The release goes out on the
        // same connection right behind it, so it runs right after it (issue 11).
        this.#releaseGhost(key, token, 0);
        throw err;
      }
      if (ok === 'OK') return { kind: 'claimed', token };
      const v = await r.get(k);
      if (v === null) continue;
      if (v.startsWith('d:')) return { kind: 'done', outcome: JSON.parse(v.slice(2)) as StoredOutcome };
      // c:<uuid>:<staleAt>:<fingerprint>; the uuid has no colon, the fingerprint (base64url) none either.
      const rest = v.slice(2 + 36 + 1);
      const m = /^(\d+):(.*)$/s.exec(rest);
      if (!m) return { kind: 'in-progress', fingerprint: rest, stale: false };
      const at = Number(m[1]);
      return { kind: 'in-progress', fingerprint: m[2] ?? '', stale: at <= Date.now(), staleAt: at };
    }
    return { kind: 'in-progress', fingerprint, stale: false };
  }

  /**
   * Releases a claim whose SET failed. The first try is immediate (same connection, right behind
   * the SET); when the connection is down (the SET may have run before it dropped, and a server
   * with persistence keeps it) it is tried 3 more times, 1, 2 and 4 s apart (~13 s in all, each try
   * waiting up to READY_WAIT_MS for the connection). Timers are unref'd: they
   * never keep a process alive, and in a frozen FC instance they wait for its next invocation.
   */
  #releaseGhost(key: string, token: string, attempt: number): void {
    this.release(key, token).catch(() => {
      if (attempt < 3) setTimeout(() => this.#releaseGhost(key, token, attempt + 1), 1000 * 2 ** attempt).unref();
    });
  }

  async complete(key: string, token: string, outcome: StoredOutcome, ttlMs: number, usage?: UsageWrite): Promise<boolean> {
    const r = await this.#client();
    const args = [this.#prefix + key, token, `d:${JSON.stringify(outcome)}`, Math.round(ttlMs)] as const;
    if (!usage) return (await r.fcnStoreComplete(1, ...args)) === 1;
    // Issue 13: the day's usage counter goes out in the SAME round trip as the record. It is
    // another slot (its own hash tag), so it is a second script: in one pipeline on a standalone
    // server (one write, one read), sent in parallel on a cluster (ioredis pipelines one slot only).
    const incr = usageIncrArgs(this.#prefix, usage);
    const onUsage = (err: unknown) => usage.onError?.(err);
    if ((r as { isCluster?: boolean }).isCluster) {
      const [done] = await Promise.all([r.fcnStoreComplete(1, ...args), r.fcnUsageIncr(1, ...incr).catch(onUsage)]);
      return done === 1;
    }
    const p = r.pipeline() as unknown as {
      fcnStoreComplete(...a: unknown[]): unknown;
      fcnUsageIncr(...a: unknown[]): unknown;
      exec(): Promise<Array<[Error | null, unknown]> | null>;
    };
    p.fcnStoreComplete(1, ...args);
    p.fcnUsageIncr(1, ...incr);
    const res = await p.exec();
    const [rec, use] = res ?? [];
    if (use?.[0]) onUsage(use[0]);
    if (!rec) throw new Error('store pipeline returned no answer');
    if (rec[0]) throw rec[0];
    return rec[1] === 1;
  }

  // Issue 13: usage counters (shared/usage/counters.ts) and job lookups.
  async countUsage(e: UsageEvent): Promise<void> {
    const r = await this.#client();
    await r.fcnUsageIncr(1, ...usageIncrArgs(this.#prefix, e));
  }

  async readUsage(days: readonly string[]): Promise<Record<string, Record<string, string>>> {
    const r = await this.#client();
    // Sent together (no await in between): one round trip, to one node per day on a cluster.
    const hashes = await Promise.all(days.map((d) => r.hgetall(usageKey(this.#prefix, d))));
    return Object.fromEntries(days.map((d, i) => [d, hashes[i] ?? {}]));
  }

  async readTotals(days: readonly string[], fields: readonly string[]): Promise<Array<Array<string | null>>> {
    const r = await this.#client();
    return Promise.all(days.map((d) => r.hmget(usageKey(this.#prefix, d), ...fields)));
  }

  async markOnce(day: string, marker: string): Promise<boolean> {
    const r = await this.#client();
    return (await r.hsetnx(usageKey(this.#prefix, day), `!${marker}`, String(Date.now()))) === 1;
  }

  async peek(key: string): Promise<PeekResult> {
    const r = await this.#client();
    const v = await r.get(this.#prefix + key);
    if (v === null) return null;
    if (v.startsWith('d:')) return { kind: 'done', outcome: JSON.parse(v.slice(2)) as StoredOutcome };
    const m = /^c:[^:]+:(\d+):/.exec(v);
    return { kind: 'in-progress', stale: m ? Number(m[1]) <= Date.now() : false };
  }

  async scheduledJob(channel: ScheduledJob['channel'], id: string): Promise<{ job: ScheduledJob | null; cancelledAt: number | null }> {
    const r = await this.#client();
    const [, jobs] = this.#schedKeys(channel);
    const [j, at] = await Promise.all([r.hget(jobs, id), r.zscore(this.#cancelledKey(channel), id)]);
    const when = at === null ? null : Number(at);
    return {
      job: j === null ? null : (JSON.parse(j) as ScheduledJob),
      cancelledAt: when !== null && when > Date.now() - 86_400_000 ? when : null,
    };
  }

  #cancelledKey(channel: string): string {
    return scheduleKey(this.#prefix, channel, ':cancelled');
  }

  async release(key: string, token: string): Promise<void> {
    const r = await this.#client();
    await r.fcnStoreRelease(1, this.#prefix + key, token);
  }

  async schedule(entry: ScheduledJob, options: ScheduleOptions = {}): Promise<boolean> {
    const r = await this.#client();
    const now = options.now ?? Date.now();
    // An entry without an expiry (built by hand) counts until it is acked and sets no TTL.
    const expiresAt = entry.expiresAt ?? '+inf';
    const ttlMs = entry.expiresAt === undefined ? 0 : Math.max(1, Math.round(entry.expiresAt + SCHEDULE_STORE_GRACE_MS - now));
    const keys = [...this.#schedKeys(entry.channel), this.#callerKey(entry.channel, entry.caller)];
    return (
      (await r.fcnStoreSchedule(
        3,
        ...keys,
        entry.id,
        JSON.stringify(entry),
        entry.dueAt,
        expiresAt,
        options.maxPending ?? 0,
        now,
        ttlMs,
      )) === 1
    );
  }

  async cancel(channel: ScheduledJob['channel'], id: string, caller: string): Promise<boolean> {
    const r = await this.#client();
    await this.#moveLegacy(r, channel);
    return (
      (await r.fcnStoreCancel(
        4,
        ...this.#schedKeys(channel),
        this.#callerKey(channel, caller),
        this.#cancelledKey(channel),
        id,
        caller,
        Date.now(),
      )) === 1
    );
  }

  async claimDue(channel: ScheduledJob['channel'], now: number, limit: number, leaseMs: number): Promise<ScheduledJob[]> {
    const r = await this.#client();
    await this.#moveLegacy(r, channel);
    const taken = await r.fcnStoreClaimDue(2, ...this.#schedKeys(channel), now, limit, now + leaseMs);
    return taken.map((j) => JSON.parse(j) as ScheduledJob);
  }

  async ack(channel: ScheduledJob['channel'], id: string, caller?: string): Promise<void> {
    const r = await this.#client();
    const [zset, hash] = this.#schedKeys(channel);
    const m = r.multi().zrem(zset, id).hdel(hash, id);
    if (caller !== undefined) m.zrem(this.#callerKey(channel, caller), id);
    await m.exec();
  }

  async ping(): Promise<void> {
    const r = await this.#client();
    await r.ping();
  }

  /** The connection is shared (shared/store/redis-connection.ts) and closed there. */
  async close(): Promise<void> {}
}

import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { ClaimResult, ScheduledJob, Store, StoredOutcome } from './types.ts';
import { legacyScheduleKeys, scheduleKeys } from './keys.ts';
import { scriptedClient } from './redis-connection.ts';

/**
 * The store in Redis, shared by every FC instance. Claims are `SET NX PX` with a random token;
 * completing or releasing a claim is a compare-and-set in Lua, so an instance whose claim has
 * expired (and been taken by another) can never overwrite the new owner's state. Scheduled jobs
 * live in a ZSET (score = when the job may next be taken) plus a hash of their JSON; taking due
 * jobs is one Lua script that moves their score past a lease, so overlapping timers never share one.
 *
 * Values: `c:<token>:<fingerprint>` while claimed, `d:<outcome JSON>` when done.
 *
 * Cluster editions: every script and MULTI touches keys of one hash slot, all passed in KEYS
 * (shared/store/keys.ts has the layout).
 */

// KEYS[1]: idempotency key. ARGV: token, new value, ttl ms. Replaces the value only while `token` holds the claim.
const COMPLETE = `
local v = redis.call('GET', KEYS[1])
local p = 'c:' .. ARGV[1] .. ':'
if v and string.sub(v, 1, #p) == p then
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

// KEYS: zset, hash. ARGV: id, caller. Only the caller who scheduled a job may cancel it.
const CANCEL = `
local j = redis.call('HGET', KEYS[2], ARGV[1])
if not j then return 0 end
if cjson.decode(j).caller ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
`;

type StoreRedis = Redis & {
  fcnStoreComplete(numKeys: number, ...args: Array<string | number>): Promise<number>;
  fcnStoreRelease(numKeys: number, ...args: Array<string | number>): Promise<number>;
  fcnStoreClaimDue(numKeys: number, ...args: Array<string | number>): Promise<string[]>;
  fcnStoreCancel(numKeys: number, ...args: Array<string | number>): Promise<number>;
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

  /** `connect` is called once, on first use (ioredis loads lazily). */
  constructor(connect: () => Promise<Redis>, options: RedisStoreOptions = {}) {
    this.#client = scriptedClient<StoreRedis>(connect, { fcnStoreComplete: COMPLETE, fcnStoreRelease: RELEASE, fcnStoreClaimDue: CLAIM_DUE, fcnStoreCancel: CANCEL });
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
            if (j !== null) await r.multi().hsetnx(jobs, id, j).zadd(due, 'NX', batch[i + 1] as string, id).exec();
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

  async claim(key: string, fingerprint: string, ttlMs: number): Promise<ClaimResult> {
    const r = await this.#client();
    const k = this.#prefix + key;
    // Two rounds: the value seen by GET may expire between the failed SET and the GET.
    for (let round = 0; round < 2; round += 1) {
      const token = randomUUID();
      const ok = await r.set(k, `c:${token}:${fingerprint}`, 'PX', Math.max(1, Math.round(ttlMs)), 'NX');
      if (ok === 'OK') return { kind: 'claimed', token };
      const v = await r.get(k);
      if (v === null) continue;
      if (v.startsWith('d:')) return { kind: 'done', outcome: JSON.parse(v.slice(2)) as StoredOutcome };
      // c:<uuid>:<fingerprint>; the uuid has no colon.
      return { kind: 'in-progress', fingerprint: v.slice(2 + 36 + 1) };
    }
    return { kind: 'in-progress', fingerprint };
  }

  async complete(key: string, token: string, outcome: StoredOutcome, ttlMs: number): Promise<boolean> {
    const r = await this.#client();
    return (await r.fcnStoreComplete(1, this.#prefix + key, token, `d:${JSON.stringify(outcome)}`, Math.round(ttlMs))) === 1;
  }

  async release(key: string, token: string): Promise<void> {
    const r = await this.#client();
    await r.fcnStoreRelease(1, this.#prefix + key, token);
  }

  async schedule(entry: ScheduledJob): Promise<void> {
    const r = await this.#client();
    const [zset, hash] = this.#schedKeys(entry.channel);
    await r.multi().hset(hash, entry.id, JSON.stringify(entry)).zadd(zset, entry.dueAt, entry.id).exec();
  }

  async cancel(channel: ScheduledJob['channel'], id: string, caller: string): Promise<boolean> {
    const r = await this.#client();
    await this.#moveLegacy(r, channel);
    return (await r.fcnStoreCancel(2, ...this.#schedKeys(channel), id, caller)) === 1;
  }

  async claimDue(channel: ScheduledJob['channel'], now: number, limit: number, leaseMs: number): Promise<ScheduledJob[]> {
    const r = await this.#client();
    await this.#moveLegacy(r, channel);
    const taken = await r.fcnStoreClaimDue(2, ...this.#schedKeys(channel), now, limit, now + leaseMs);
    return taken.map((j) => JSON.parse(j) as ScheduledJob);
  }

  async ack(channel: ScheduledJob['channel'], id: string): Promise<void> {
    const r = await this.#client();
    const [zset, hash] = this.#schedKeys(channel);
    await r.multi().zrem(zset, id).hdel(hash, id).exec();
  }

  /** The connection is shared (shared/store/redis-connection.ts) and closed there. */
  async close(): Promise<void> {}
}

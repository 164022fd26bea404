import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { tagged } from '../store/keys.ts';
import { isCluster } from '../store/redis-cluster.ts';
import { scriptedClient } from '../store/redis-connection.ts';
import { type LimitDecision, type Limiter, type LimitRule, makeToken, tokenTime, windowEnd, windowIndex, windowKey } from './limiter.ts';

/**
 * Limits in Redis, so they hold across FC instances. Check-and-count runs in one Lua script per
 * group of rules (atomic on the server; see RedisLimiter). The time comes from the caller's clock, not Redis TIME: FC hosts are
 * NTP-synchronised, and an injectable clock lets tests cross day boundaries.
 */

// KEYS[i]: the rule's storage key. ARGV: now, token, then per rule: kind ('i'|'w'), a, b
//   interval: a = intervalMs            window: a = limit, b = window end (epoch ms)
// Returns {1} when counted, or {0, retryAt, index of the rule deciding retryAt}.
const CONSUME = `
local now = tonumber(ARGV[1])
local token = ARGV[2]
local retryAt = -1
local which = 0
for i = 1, #KEYS do
  local kind = ARGV[3 * i]
  local a = tonumber(ARGV[3 * i + 1])
  local b = tonumber(ARGV[3 * i + 2])
  local r = -1
  if kind == 'i' then
    local v = redis.call('GET', KEYS[i])
    if v then
      local last = tonumber(string.match(v, '^(%d+)'))
      if last and now - last < a then r = last + a end
    end
  else
    local c = tonumber(redis.call('GET', KEYS[i]) or '0')
    if c >= a then r = b end
  end
  if r > retryAt then retryAt = r; which = i end
end
if retryAt >= 0 then return {0, retryAt, which} end
for i = 1, #KEYS do
  local kind = ARGV[3 * i]
  local a = tonumber(ARGV[3 * i + 1])
  local b = tonumber(ARGV[3 * i + 2])
  if kind == 'i' then
    redis.call('SET', KEYS[i], token, 'PX', a)
  else
    redis.call('INCR', KEYS[i])
    -- Relative TTL: Redis expires by its own clock, which need not match the injected one.
    redis.call('PEXPIRE', KEYS[i], b - now + 60000)
  end
end
return {1}
`;

// KEYS[i] as above; ARGV: token, then per rule: kind. Only gives back what this token took.
const REFUND = `
local token = ARGV[1]
for i = 1, #KEYS do
  if ARGV[i + 1] == 'i' then
    if redis.call('GET', KEYS[i]) == token then redis.call('DEL', KEYS[i]) end
  else
    local c = tonumber(redis.call('GET', KEYS[i]) or '0')
    if c > 0 then redis.call('DECR', KEYS[i]) end
  end
end
return 1
`;

/** For the cluster benchmark (scripts/bench-cluster.ts), which runs the same script on one node. */
export const CONSUME_SCRIPT = CONSUME;

type LimitRedis = Redis & {
  fcnLimitConsume(numKeys: number, ...args: Array<string | number>): Promise<number[]>;
  fcnLimitRefund(numKeys: number, ...args: Array<string | number>): Promise<number>;
};

export interface RedisLimiterOptions {
  /** Prepended to every key (tests use a unique prefix per run). */
  prefix?: string;
}

export const DEFAULT_LIMIT_PREFIX = 'fcn:limit:';

/** The rules of one group: one hash slot, one script. */
interface Part {
  rules: LimitRule[];
  keys: string[];
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/**
 * Rules are grouped by `group` (this phone, this caller, the global budget): each group's keys
 * share a hash tag, so each group is one script on one hash slot, as Redis Cluster and Tair's
 * proxy mode require. The groups' scripts go out together — one pipeline on a single endpoint,
 * in parallel on a cluster — so a send waits one round trip, not one per group. When one group
 * refuses (or fails) after another counted, the counted groups are given back: no counter ever
 * passes its limit (each group's check-and-count is atomic), and a concurrent send may at worst
 * see that short-lived count and be refused too early, never too late.
 */
export class RedisLimiter implements Limiter {
  readonly kind = 'redis' as const;
  readonly #client: () => Promise<LimitRedis>;
  readonly #prefix: string;

  /** `connect` is called once, on first use (ioredis loads lazily). */
  constructor(connect: () => Promise<Redis>, options: RedisLimiterOptions = {}) {
    this.#client = scriptedClient<LimitRedis>(connect, { fcnLimitConsume: CONSUME, fcnLimitRefund: REFUND });
    this.#prefix = options.prefix ?? DEFAULT_LIMIT_PREFIX;
  }

  /** `<prefix>{<group>}<rest of the key>` (shared/store/keys.ts). */
  #parts(rules: readonly LimitRule[], at: number): Part[] {
    const byGroup = new Map<string, Part>();
    for (const rule of rules) {
      const group = rule.group ?? rule.key;
      let part = byGroup.get(group);
      if (!part) {
        part = { rules: [], keys: [] };
        byGroup.set(group, part);
      }
      const key = rule.kind === 'interval' ? rule.key : windowKey(rule, at);
      part.rules.push(rule);
      part.keys.push(tagged(this.#prefix, group, key.startsWith(group) ? key.slice(group.length) : `:${key}`));
    }
    return [...byGroup.values()];
  }

  /** One call per part, sent together: a pipeline on one endpoint, parallel commands on a cluster. */
  async #each<T>(redis: LimitRedis, parts: Part[], call: (c: LimitRedis, part: Part) => Promise<T>): Promise<Array<Settled<T>>> {
    if (parts.length > 1 && !isCluster(redis)) {
      const pipe = redis.pipeline() as unknown as LimitRedis & { exec(): Promise<Array<[Error | null, unknown]> | null> };
      for (const part of parts) void call(pipe, part);
      try {
        const res = (await pipe.exec()) ?? [];
        return parts.map((_, i) => {
          const [error, value] = res[i] ?? [new Error('no reply'), undefined];
          return error ? { ok: false, error } : { ok: true, value: value as T };
        });
      } catch (error) {
        return parts.map(() => ({ ok: false, error }));
      }
    }
    return Promise.all(
      parts.map((part) =>
        call(redis, part).then(
          (value): Settled<T> => ({ ok: true, value }),
          (error: unknown): Settled<T> => ({ ok: false, error }),
        ),
      ),
    );
  }

  async consume(rules: readonly LimitRule[], now: number): Promise<LimitDecision> {
    const token = makeToken(now, randomUUID());
    if (rules.length === 0) return { allowed: true, token };
    const redis = await this.#client();
    const parts = this.#parts(rules, now);
    const results = await this.#each(redis, parts, (c, part) => {
      const args: Array<string | number> = [now, token];
      for (const rule of part.rules) {
        if (rule.kind === 'interval') args.push('i', rule.intervalMs, 0);
        else args.push('w', rule.limit, windowEnd(windowIndex(now, rule.windowMs), rule.windowMs));
      }
      return c.fcnLimitConsume(part.keys.length, ...part.keys, ...args);
    });
    const counted: Part[] = [];
    let refusal: { retryAt: number; rule: string } | undefined;
    let failure: { error: unknown } | undefined;
    const failed: Part[] = [];
    results.forEach((r, i) => {
      const part = parts[i] as Part;
      if (!r.ok) {
        failure ??= { error: r.error };
        failed.push(part);
      } else if (r.value[0] === 1) counted.push(part);
      else {
        const retryAt = Number(r.value[1]);
        if (!refusal || retryAt > refusal.retryAt) refusal = { retryAt, rule: part.rules[(r.value[2] ?? 1) - 1]?.name ?? 'unknown' };
      }
    });
    if (!refusal && !failure) return { allowed: true, token };
    if (failed.length > 0) {
      // A consume that timed out on a stalled server is in the socket and runs when it wakes up.
      // Give back, right behind it on the same connection, what can be given back exactly: the
      // interval rules (their key holds this token), so an immediate retry is not refused as "sent
      // less than N s ago". Window counters are left alone (a refund cannot tell whether the
      // consume ran): at worst one send that never happened counts, which errs towards fewer sends.
      const intervals = failed.flatMap((part) => part.rules.filter((r) => r.kind === 'interval'));
      if (intervals.length > 0) this.refund(intervals, token).catch(() => undefined);
    }
    // Give back what was counted. Should that fail too, those counters stay one too high until
    // their window ends: a send refused early, never one sent past a limit.
    if (counted.length > 0) await this.#refund(redis, counted, token).catch(() => undefined);
    if (refusal) return { allowed: false, ...refusal };
    throw (failure as { error: unknown }).error;
  }

  async refund(rules: readonly LimitRule[], token: string): Promise<void> {
    if (rules.length === 0) return;
    const redis = await this.#client();
    await this.#refund(redis, this.#parts(rules, tokenTime(token)), token);
  }

  async #refund(redis: LimitRedis, parts: Part[], token: string): Promise<void> {
    const results = await this.#each(redis, parts, (c, part) =>
      c.fcnLimitRefund(part.keys.length, ...part.keys, token, ...part.rules.map((r) => (r.kind === 'interval' ? 'i' : 'w'))),
    );
    const failed = results.find((r) => !r.ok);
    if (failed && !failed.ok) throw failed.error;
  }

  /** The connection is shared (redisConnection()); closing it is its owner's job. */
  async close(): Promise<void> {}
}

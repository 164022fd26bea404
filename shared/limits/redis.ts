import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { type LimitDecision, type LimitRule, type Limiter, makeToken, tokenTime, windowEnd, windowIndex, windowKey } from './limiter.ts';
import { scriptedClient } from '../store/redis-connection.ts';

/**
 * Limits in Redis, so they hold across FC instances. Check-and-count runs in one Lua script
 * (atomic on the server). The time comes from the caller's clock, not Redis TIME: FC hosts are
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

type LimitRedis = Redis & {
  fcnLimitConsume(numKeys: number, ...args: Array<string | number>): Promise<number[]>;
  fcnLimitRefund(numKeys: number, ...args: Array<string | number>): Promise<number>;
};

export interface RedisLimiterOptions {
  /** Prepended to every key (tests use a unique prefix per run). */
  prefix?: string;
}

export const DEFAULT_LIMIT_PREFIX = 'fcn:limit:';

export class RedisLimiter implements Limiter {
  readonly kind = 'redis' as const;
  readonly #client: () => Promise<LimitRedis>;
  readonly #prefix: string;

  /** `connect` is called once, on first use (ioredis loads lazily). */
  constructor(connect: () => Promise<Redis>, options: RedisLimiterOptions = {}) {
    this.#client = scriptedClient<LimitRedis>(connect, { fcnLimitConsume: CONSUME, fcnLimitRefund: REFUND });
    this.#prefix = options.prefix ?? DEFAULT_LIMIT_PREFIX;
  }

  #key(rule: LimitRule, at: number): string {
    return this.#prefix + (rule.kind === 'interval' ? rule.key : windowKey(rule, at));
  }

  async consume(rules: readonly LimitRule[], now: number): Promise<LimitDecision> {
    if (rules.length === 0) return { allowed: true, token: makeToken(now, randomUUID()) };
    const redis = await this.#client();
    const token = makeToken(now, randomUUID());
    const args: Array<string | number> = [now, token];
    for (const rule of rules) {
      if (rule.kind === 'interval') args.push('i', rule.intervalMs, 0);
      else args.push('w', rule.limit, windowEnd(windowIndex(now, rule.windowMs), rule.windowMs));
    }
    let res: number[];
    try {
      res = await redis.fcnLimitConsume(rules.length, ...rules.map((r) => this.#key(r, now)), ...args);
    } catch (err) {
      // A consume that timed out on a stalled server is in the socket and runs when it wakes up.
      // Give back, right behind it on the same connection, what can be given back exactly: the
      // interval rules (their key holds this token), so an immediate retry is not refused as "sent
      // less than N s ago". Window counters are left alone (a refund cannot tell whether the
      // consume ran): at worst one send that never happened counts, which errs towards fewer sends.
      const intervals = rules.filter((r) => r.kind === 'interval');
      if (intervals.length > 0) this.refund(intervals, token).catch(() => undefined);
      throw err;
    }
    if (res[0] === 1) return { allowed: true, token };
    const rule = rules[(res[2] ?? 1) - 1];
    return { allowed: false, retryAt: Number(res[1]), rule: rule?.name ?? 'unknown' };
  }

  async refund(rules: readonly LimitRule[], token: string): Promise<void> {
    if (rules.length === 0) return;
    const redis = await this.#client();
    const at = tokenTime(token);
    await redis.fcnLimitRefund(
      rules.length,
      ...rules.map((r) => this.#key(r, at)),
      token,
      ...rules.map((r) => (r.kind === 'interval' ? 'i' : 'w')),
    );
  }

  /** The connection is shared (redisConnection()); closing it is its owner's job. */
  async close(): Promise<void> {}
}

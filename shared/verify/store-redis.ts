import type { Redis } from 'ioredis';
import { scriptedClient } from '../store/redis-connection.ts';
import { MAX_ATTEMPTS } from './codes.ts';
import { type AttemptInput, type AttemptResult, keyTtlMs, type Sealed, type StartResult, type VerifyStore } from './store.ts';

/**
 * Verification records in Redis (the rules of shared/verify/store.ts's memory store, as Lua).
 * One HASH per phone, `<prefix>{verify:<phone HMAC>}`: every script touches that one key, passed
 * in KEYS, so it runs on cluster editions too (docs/redis.md). Times come from the caller's clock
 * (ARGV), so an injected clock works; the key's own TTL only forgets records.
 */

export interface RedisSource {
  connect: () => Promise<Redis>;
  prefix: string;
}

// KEYS[1]: the phone's record. ARGV: now, id, mac, enc, exp, ttlS, key TTL ms, max attempts, replace ('1').
// The live code (not expired, not locked, not a decoy) is re-sent; anything else is replaced.
const START = `
local r = redis.call('HMGET', KEYS[1], 'id', 'mac', 'enc', 'exp', 'tries', 'decoy', 'ttl')
local now = tonumber(ARGV[1])
if ARGV[9] ~= '1' and r[1] and r[6] == '0' and r[3] ~= '' and tonumber(r[4]) > now and tonumber(r[5]) < tonumber(ARGV[8]) then
  return {1, r[1], r[2], r[3], r[4], r[7]}
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'id', ARGV[2], 'mac', ARGV[3], 'enc', ARGV[4], 'exp', ARGV[5], 'tries', 0, 'decoy', '0', 'ttl', ARGV[6])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[7]))
return {0, ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]}
`;

// KEYS[1]: the phone's record. ARGV: now, wanted id ('' = any), decoy id, decoy mac, decoy exp,
// decoy key TTL ms, max attempts. Without a record (and without a wanted id) a decoy is written,
// so a phone without a code answers like one with a code and a wrong guess.
const ATTEMPT = `
local now = tonumber(ARGV[1])
local r = redis.call('HMGET', KEYS[1], 'id', 'mac', 'exp', 'tries', 'decoy', 'enc', 'ttl')
if ARGV[2] ~= '' then
  if not r[1] or r[1] ~= ARGV[2] then return {'not-found'} end
end
local ttl = tonumber(ARGV[6])
if not r[1] then
  r = {ARGV[3], ARGV[4], ARGV[5], '0', '1', '', '0'}
else
  ttl = redis.call('PTTL', KEYS[1])
end
if tonumber(r[3]) <= now then return {'expired', r[2]} end
if tonumber(r[4]) >= tonumber(ARGV[7]) then return {'locked', r[2]} end
local t = tonumber(r[4]) + 1
-- The same writes whether the record is real or a new decoy: the answer takes the same time.
redis.call('HSET', KEYS[1], 'id', r[1], 'mac', r[2], 'enc', r[6], 'exp', r[3], 'tries', t, 'decoy', r[5], 'ttl', r[7])
redis.call('PEXPIRE', KEYS[1], math.max(1, ttl))
return {'open', r[2], r[1], t, r[5]}
`;

// KEYS[1]: the phone's record. ARGV: id. A correct check deletes its own record, once.
const CONSUME = `
local r = redis.call('HMGET', KEYS[1], 'id', 'decoy')
if r[1] == ARGV[1] and r[2] == '0' then return redis.call('DEL', KEYS[1]) end
return 0
`;

type VerifyRedis = Redis & {
  fcnVerifyStart(numKeys: number, ...args: Array<string | number>): Promise<Array<string | number>>;
  fcnVerifyAttempt(numKeys: number, ...args: Array<string | number>): Promise<Array<string | number>>;
  fcnVerifyConsume(numKeys: number, ...args: Array<string | number>): Promise<number>;
};

export class RedisVerifyStore implements VerifyStore {
  readonly #client: () => Promise<VerifyRedis>;
  readonly #prefix: string;

  constructor(source: RedisSource) {
    this.#client = scriptedClient<VerifyRedis>(source.connect, {
      fcnVerifyStart: START,
      fcnVerifyAttempt: ATTEMPT,
      fcnVerifyConsume: CONSUME,
    });
    this.#prefix = source.prefix;
  }

  /** `key` is the tag's content (`verify:<phone HMAC>`): the whole key is one hash tag. */
  #key(key: string): string {
    return `${this.#prefix}{${key}}`;
  }

  async start(key: string, fresh: Sealed, now: number, replace = false): Promise<StartResult> {
    const r = await this.#client();
    const out = await r.fcnVerifyStart(
      1,
      this.#key(key),
      now,
      fresh.id,
      fresh.mac,
      fresh.enc,
      fresh.exp,
      fresh.ttlS,
      keyTtlMs(fresh.exp, now),
      MAX_ATTEMPTS,
      replace ? '1' : '0',
    );
    return {
      reused: Number(out[0]) === 1,
      id: String(out[1]),
      mac: String(out[2]),
      enc: String(out[3]),
      exp: Number(out[4]),
      ttlS: Number(out[5]),
    };
  }

  async attempt(key: string, input: AttemptInput): Promise<AttemptResult> {
    const r = await this.#client();
    const d = input.decoy;
    const out = await r.fcnVerifyAttempt(
      1,
      this.#key(key),
      input.now,
      input.id ?? '',
      d.id,
      d.mac,
      d.exp,
      keyTtlMs(d.exp, input.now),
      input.max,
    );
    const state = String(out[0]);
    if (state === 'not-found') return { state };
    if (state === 'expired' || state === 'locked') return { state, mac: String(out[1]) };
    return { state: 'open', mac: String(out[1]), id: String(out[2]), tries: Number(out[3]), decoy: String(out[4]) === '1' };
  }

  async consume(key: string, id: string): Promise<boolean> {
    const r = await this.#client();
    return (await r.fcnVerifyConsume(1, this.#key(key), id)) === 1;
  }
}

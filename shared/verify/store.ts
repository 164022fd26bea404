import type { Store } from '../store/types.ts';
import { MAX_ATTEMPTS } from './codes.ts';
import { type RedisSource, RedisVerifyStore } from './store-redis.ts';

/**
 * Where verification records live: beside idempotency, in the same store (memory locally, Redis
 * deployed). One record per phone, under one key (`<prefix>{verify:<phone HMAC>}`: one hash slot
 * on a cluster edition, every script passes it in KEYS). A record holds no code in clear: the
 * code's HMAC, the code sealed with AES-GCM (for re-sending it), the expiry and the wrong-check
 * count. Records stay EXPIRED_GRACE_MS after they expire, so a late check can say `expired`.
 */

export interface Sealed {
  id: string;
  /** base64url HMAC of the code (shared/verify/codes.ts). */
  mac: string;
  /** The code sealed with AES-GCM; empty in a decoy. */
  enc: string;
  /** Epoch ms. */
  exp: number;
  ttlS: number;
}

export type StartResult = { reused: boolean } & Sealed;

export type AttemptResult =
  /** A check naming a verificationId the store does not hold for this phone. */
  | { state: 'not-found' }
  | { state: 'expired' | 'locked'; mac: string }
  /** The attempt is counted (`tries` after it); the caller compares the code. */
  | { state: 'open'; mac: string; id: string; tries: number; decoy: boolean };

export interface AttemptInput {
  now: number;
  /** Only a record with this id answers (else not-found); no decoy is made. */
  id?: string;
  /** The decoy written when the phone has no record (and no id was given). */
  decoy: Sealed;
  max: number;
}

export interface VerifyStore {
  /**
   * The phone's live code when there is one (not expired, not locked, not a decoy): `reused`.
   * Otherwise (or with `replace`) `fresh` replaces whatever was there. Atomic.
   */
  start(key: string, fresh: Sealed, now: number, replace?: boolean): Promise<StartResult>;
  /** Counts one check against the record (creating a decoy when there is none). Atomic. */
  attempt(key: string, input: AttemptInput): Promise<AttemptResult>;
  /** Deletes the record if it is still verification `id` (a correct check); false when it already went. */
  consume(key: string, id: string): Promise<boolean>;
}

/** How long a record outlives its expiry (so a check says `expired`, not a fresh decoy's `mismatch`). */
export const EXPIRED_GRACE_MS = 15 * 60 * 1000;

export const keyTtlMs = (exp: number, now: number) => Math.max(1, exp - now) + EXPIRED_GRACE_MS;

interface MemoryRecord extends Sealed {
  tries: number;
  decoy: boolean;
  /** Epoch ms (of the injected clock) when the record is forgotten. */
  until: number;
}

/** One instance's records (local runs and tests); the same rules as the Redis scripts. */
export class MemoryVerifyStore implements VerifyStore {
  readonly #records = new Map<string, MemoryRecord>();

  #get(key: string, now: number): MemoryRecord | undefined {
    const r = this.#records.get(key);
    if (r && r.until <= now) {
      this.#records.delete(key);
      return undefined;
    }
    return r;
  }

  #sweep(now: number): void {
    // Bounded work per call: forget up to 32 records that ran out, oldest first.
    let n = 0;
    for (const [k, r] of this.#records) {
      if (n++ >= 32) break;
      if (r.until <= now) this.#records.delete(k);
    }
  }

  async start(key: string, fresh: Sealed, now: number, replace = false): Promise<StartResult> {
    this.#sweep(now);
    const r = this.#get(key, now);
    if (!replace && r && !r.decoy && r.exp > now && r.tries < MAX_ATTEMPTS && r.enc !== '') {
      return { reused: true, id: r.id, mac: r.mac, enc: r.enc, exp: r.exp, ttlS: r.ttlS };
    }
    this.#records.set(key, { ...fresh, tries: 0, decoy: false, until: now + keyTtlMs(fresh.exp, now) });
    return { reused: false, ...fresh };
  }

  async attempt(key: string, input: AttemptInput): Promise<AttemptResult> {
    const { now } = input;
    const r = this.#get(key, now);
    if (input.id !== undefined) {
      if (!r || r.id !== input.id) return { state: 'not-found' };
    }
    const d = input.decoy;
    const base = r ?? {
      id: d.id,
      mac: d.mac,
      enc: d.enc,
      exp: d.exp,
      ttlS: d.ttlS,
      tries: 0,
      decoy: true,
      until: now + keyTtlMs(d.exp, now),
    };
    if (base.exp <= now) {
      if (!r) this.#records.set(key, base);
      return { state: 'expired', mac: base.mac };
    }
    if (base.tries >= input.max) return { state: 'locked', mac: base.mac };
    // The same work whether the record is real or a new decoy: a new object written back.
    const next = { ...base, tries: base.tries + 1 };
    this.#records.set(key, next);
    return { state: 'open', mac: next.mac, id: next.id, tries: next.tries, decoy: next.decoy };
  }

  async consume(key: string, id: string): Promise<boolean> {
    const r = this.#records.get(key);
    if (!r || r.id !== id || r.decoy) return false;
    this.#records.delete(key);
    return true;
  }
}

/**
 * The verification store that goes with a runtime's store: the same Redis (connection and key
 * prefix) as idempotency, or — without Redis — this process's memory, one for every function in
 * it, so that under `npm start` voice-notify's codes check on long-sms's route as deployed ones do.
 */
const byStore = new WeakMap<Store, VerifyStore>();
let processMemory: MemoryVerifyStore | undefined;

export function verifyStoreFor(store: Store): VerifyStore {
  let v = byStore.get(store);
  if (!v) {
    const redis = (store as { redisSource?: () => RedisSource }).redisSource?.();
    if (store.kind === 'redis' && redis) v = new RedisVerifyStore(redis);
    else {
      processMemory ??= new MemoryVerifyStore();
      v = processMemory;
    }
    byStore.set(store, v);
  }
  return v;
}

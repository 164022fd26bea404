import { randomUUID } from 'node:crypto';
import type { ClaimResult, Store, StoredOutcome } from './types.ts';

type Entry =
  | { state: 'claimed'; token: string; fingerprint: string; expiresAt: number }
  | { state: 'done'; outcome: StoredOutcome; expiresAt: number };

/** One instance's memory: fine for local runs and a single FC instance, not shared. */
export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  readonly #entries = new Map<string, Entry>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  #get(key: string): Entry | undefined {
    const e = this.#entries.get(key);
    if (e && e.expiresAt <= this.#now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return e;
  }

  async claim(key: string, fingerprint: string, ttlMs: number): Promise<ClaimResult> {
    const e = this.#get(key);
    if (e?.state === 'done') return { kind: 'done', outcome: e.outcome };
    if (e?.state === 'claimed') return { kind: 'in-progress', fingerprint: e.fingerprint };
    const token = randomUUID();
    this.#entries.set(key, { state: 'claimed', token, fingerprint, expiresAt: this.#now() + ttlMs });
    return { kind: 'claimed', token };
  }

  async complete(key: string, token: string, outcome: StoredOutcome, ttlMs: number): Promise<boolean> {
    const e = this.#get(key);
    if (e?.state !== 'claimed' || e.token !== token) return false;
    this.#entries.set(key, { state: 'done', outcome, expiresAt: this.#now() + ttlMs });
    return true;
  }

  async release(key: string, token: string): Promise<void> {
    const e = this.#get(key);
    if (e?.state === 'claimed' && e.token === token) this.#entries.delete(key);
  }

  async close(): Promise<void> {
    this.#entries.clear();
  }
}

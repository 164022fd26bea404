import { randomUUID } from 'node:crypto';
import { memoryKey } from '../hash.ts';
import { MemoryUsage, type UsageEvent, type UsageWrite } from '../usage/counters.ts';
import {
  type ClaimResult,
  type PeekResult,
  SCHEDULE_STORE_GRACE_MS,
  type ScheduledJob,
  type ScheduleOptions,
  type Store,
  type StoredOutcome,
} from './types.ts';

type Entry =
  | { state: 'claimed'; token: string; fingerprint: string; staleAt: number; expiresAt: number }
  | { state: 'done'; outcome: StoredOutcome; expiresAt: number };

/** One instance's memory: fine for local runs and a single FC instance, not shared. */
export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  readonly #entries = new Map<string, Entry>();
  readonly #now: () => number;
  /** channel:id → job and the time it may next be taken (dueAt, or the end of a lease). */
  readonly #scheduled = new Map<string, { entry: ScheduledJob; availableAt: number }>();

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  // Issue 13: usage counters and job lookups (shared/usage/counters.ts).
  readonly #usage = new MemoryUsage();
  readonly #cancelled = new Map<string, number>();
  countUsage(e: UsageEvent): Promise<void> {
    return this.#usage.countUsage(e);
  }
  readUsage(days: readonly string[]): Promise<Record<string, Record<string, string>>> {
    return this.#usage.readUsage(days);
  }
  readTotals(days: readonly string[], fields: readonly string[]): Promise<Array<Array<string | null>>> {
    return this.#usage.readTotals(days, fields);
  }
  markOnce(day: string, marker: string): Promise<boolean> {
    return this.#usage.markOnce(day, marker);
  }
  async peek(key: string): Promise<PeekResult> {
    const e = this.#get(key);
    if (!e) return null;
    return e.state === 'done' ? { kind: 'done', outcome: e.outcome } : { kind: 'in-progress', stale: e.staleAt <= this.#now() };
  }
  async scheduledJob(channel: ScheduledJob['channel'], id: string): Promise<{ job: ScheduledJob | null; cancelledAt: number | null }> {
    const s = this.#scheduled.get(`${channel}:${id}`);
    const at = this.#cancelled.get(`${channel}:${id}`);
    return { job: s ? structuredClone(s.entry) : null, cancelledAt: at !== undefined && at > this.#now() - 86_400_000 ? at : null };
  }

  #get(key: string): Entry | undefined {
    const e = this.#entries.get(memoryKey(key));
    if (e && e.expiresAt <= this.#now()) {
      this.#entries.delete(memoryKey(key));
      return undefined;
    }
    return e;
  }

  async claim(key: string, fingerprint: string, staleMs: number, holdMs = staleMs): Promise<ClaimResult> {
    const e = this.#get(key);
    if (e?.state === 'done') return { kind: 'done', outcome: e.outcome };
    if (e?.state === 'claimed')
      return { kind: 'in-progress', fingerprint: e.fingerprint, stale: e.staleAt <= this.#now(), staleAt: e.staleAt };
    const token = randomUUID();
    const now = this.#now();
    this.#entries.set(memoryKey(key), {
      state: 'claimed',
      token,
      fingerprint,
      staleAt: now + staleMs,
      expiresAt: now + Math.max(holdMs, staleMs),
    });
    return { kind: 'claimed', token };
  }

  async complete(key: string, token: string, outcome: StoredOutcome, ttlMs: number, usage?: UsageWrite): Promise<boolean> {
    if (usage) this.#usage.add(usage);
    const e = this.#get(key);
    // Same rule as Redis: our claim, or nothing (the outcome is known, so it is written).
    if (e !== undefined && (e.state !== 'claimed' || e.token !== token)) return false;
    this.#entries.set(memoryKey(key), { state: 'done', outcome, expiresAt: this.#now() + ttlMs });
    return true;
  }

  async release(key: string, token: string): Promise<void> {
    const e = this.#get(key);
    if (e?.state === 'claimed' && e.token === token) this.#entries.delete(memoryKey(key));
  }

  async schedule(entry: ScheduledJob, options: ScheduleOptions = {}): Promise<boolean> {
    const now = options.now ?? this.#now();
    this.#forgetExpired(now);
    const id = `${entry.channel}:${entry.id}`;
    const max = options.maxPending ?? 0;
    if (max > 0 && !this.#scheduled.has(id)) {
      let pending = 0;
      for (const s of this.#scheduled.values()) {
        if (s.entry.channel === entry.channel && s.entry.caller === entry.caller && (s.entry.expiresAt ?? Number.POSITIVE_INFINITY) >= now)
          pending += 1;
      }
      if (pending >= max) return false;
    }
    this.#scheduled.set(id, { entry: structuredClone(entry), availableAt: entry.dueAt });
    return true;
  }

  /** The store's own TTL: entries SCHEDULE_STORE_GRACE_MS past their expiry (a timer that never ran) are forgotten. */
  #forgetExpired(now: number): void {
    for (const [k, s] of this.#scheduled) {
      if (s.entry.expiresAt !== undefined && s.entry.expiresAt + SCHEDULE_STORE_GRACE_MS <= now) this.#scheduled.delete(k);
    }
  }

  async cancel(channel: ScheduledJob['channel'], id: string, caller: string): Promise<boolean> {
    const s = this.#scheduled.get(`${channel}:${id}`);
    if (!s || s.entry.caller !== caller) return false;
    this.#cancelled.set(`${channel}:${id}`, this.#now());
    return this.#scheduled.delete(`${channel}:${id}`);
  }

  async claimDue(channel: ScheduledJob['channel'], now: number, limit: number, leaseMs: number): Promise<ScheduledJob[]> {
    this.#forgetExpired(now);
    const due = [...this.#scheduled.values()]
      .filter((s) => s.entry.channel === channel && s.availableAt <= now)
      .sort((a, b) => a.availableAt - b.availableAt)
      .slice(0, limit);
    for (const s of due) s.availableAt = now + leaseMs;
    return due.map((s) => structuredClone(s.entry));
  }

  async ack(channel: ScheduledJob['channel'], id: string): Promise<void> {
    this.#scheduled.delete(`${channel}:${id}`);
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.#entries.clear();
    this.#scheduled.clear();
  }
}

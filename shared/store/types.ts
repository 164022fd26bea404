import type { Channel } from '../jobs.ts';
import type { UsageStore, UsageWrite } from '../usage/counters.ts';

/**
 * What the core needs from a store. Two implementations: in-memory (one instance) and
 * Redis (shared across instances). Operations that must be atomic are atomic in both.
 */

/** How a send ended: the one definition (the provider classification, the core and the store share it). */
export type OutcomeStatus = 'sent' | 'rejected' | 'failed' | 'unknown';

/** The remembered result of a send, kept 24 h under its idempotency key. */
export interface StoredOutcome {
  status: OutcomeStatus;
  channel: Channel;
  phoneMasked: string;
  provider?: { code: string; message: string; requestId?: string; ids?: Record<string, string> };
  error?: { code: string; message: string; retryable: boolean; providerCode?: string; retryAfter?: number };
  /** Hash of the job, so one key reused for a different job is refused. */
  fingerprint: string;
  at: string;
  // Issue 13 (job lookups): absent in records written before 0.2.0, which stay readable.
  /** Where the job came from: http, mns, oss, timer (or alert). */
  source?: string;
  /** Provider attempts of this send. */
  attempts?: number;
  /** Who sent it (caller name or trigger kind). */
  caller?: string;
}

/** What is under an idempotency key right now (job lookups, issue 13). */
export type PeekResult = { kind: 'done'; outcome: StoredOutcome } | { kind: 'in-progress'; stale: boolean } | null;

export type ClaimResult =
  | { kind: 'claimed'; token: string }
  /**
   * Another attempt holds the key. `stale`: it should have ended by `staleAt` (epoch ms) and did
   * not, so it died or lost the store at an unknown point, maybe after the provider accepted the
   * job: the sender answers OUTCOME_UNKNOWN instead of sending again (docs/guarantees.md).
   */
  | { kind: 'in-progress'; fingerprint: string; stale: boolean; staleAt?: number }
  | { kind: 'done'; outcome: StoredOutcome };

/** A job waiting for its `sendAt` (or for a deferral's retryAt); the timer sends it. */
export interface ScheduledJob {
  id: string;
  channel: Channel;
  /** Who scheduled it (caller name or trigger kind): part of its idempotency key, and only they may cancel. */
  caller: string;
  /** The idempotency key the send will use, so a scheduled job is sent once however often it is taken. */
  key: string;
  /** The validated job as JSON, without `sendAt`. */
  job: Record<string, unknown>;
  /** Epoch ms. */
  dueAt: number;
  /**
   * Epoch ms after which the job is no longer sent: the timer drops it with a log line
   * (SCHEDULE_EXPIRE_HOURS after dueAt). Entries written before this field existed have none;
   * the timer then counts from dueAt.
   */
  expiresAt?: number;
}

export interface ScheduleOptions {
  /**
   * Refuse (return false) when `caller` already has this many jobs of the channel waiting and
   * `entry.id` is not one of them; 0 or absent = no cap. Jobs past their `expiresAt` do not count.
   */
  maxPending?: number;
  /** Epoch ms, for the expiry of the caller's jobs (default: Date.now()). */
  now?: number;
}

/**
 * How long a scheduled entry outlives its `expiresAt` in the store before the store itself
 * forgets it (a Redis key TTL): normally a timer drops it first, with a log line; this bounds
 * what a function whose timer never runs leaves behind.
 */
export const SCHEDULE_STORE_GRACE_MS = 24 * 60 * 60 * 1000;

export interface Store extends UsageStore {
  readonly kind: 'memory' | 'redis';
  /**
   * Claims `key`. Atomic. The claim is kept `holdMs` (the outcome TTL: it is the durable marker
   * that a send may have happened) and counts as stale `staleMs` after it was taken (the
   * function timeout plus a margin: by then its attempt has surely ended). `holdMs` defaults to
   * `staleMs` (a claim that simply expires).
   */
  claim(key: string, fingerprint: string, staleMs: number, holdMs?: number): Promise<ClaimResult>;
  /**
   * Records the outcome under `key` for `ttlMs`, if `token` still holds the claim or the key is
   * gone (the store lost it: the outcome is known, so it is written). False when another claim
   * or an outcome is there.
   */
  complete(key: string, token: string, outcome: StoredOutcome, ttlMs: number, usage?: UsageWrite): Promise<boolean>;
  // Issue 13: `usage` is counted in the same round trip as the record (docs/usage.md); its failure never fails the record.
  /** Reads an idempotency key without changing it (job lookups). */
  peek(key: string): Promise<PeekResult>;
  /** A scheduled job still waiting (or leased), or null; `cancelledAt` (epoch ms) when it was cancelled within a day. */
  scheduledJob(channel: ScheduledJob['channel'], id: string): Promise<{ job: ScheduledJob | null; cancelledAt: number | null }>;
  /** Gives the claim up (nothing was sent; a later delivery may try again). */
  release(key: string, token: string): Promise<void>;
  /** Throws when the store cannot be reached (readiness: `GET /healthz?deep=1`). */
  ping(): Promise<void>;
  /**
   * Stores a scheduled job; the same id again replaces its time and job (schedules are idempotent
   * by id). False, and nothing stored, when `options.maxPending` is reached for the entry's caller.
   */
  schedule(entry: ScheduledJob, options?: ScheduleOptions): Promise<boolean>;
  /** Removes a scheduled job of `caller`; false when there is none (never scheduled, sent, cancelled, or another caller's). */
  cancel(channel: ScheduledJob['channel'], id: string, caller: string): Promise<boolean>;
  /**
   * Atomically leases up to `limit` jobs due at `now` for `leaseMs`: two overlapping timer runs
   * never take the same job. A leased job comes back after the lease unless `ack`ed, so a crash
   * loses nothing (the idempotency key keeps it from being sent twice).
   */
  claimDue(channel: ScheduledJob['channel'], now: number, limit: number, leaseMs: number): Promise<ScheduledJob[]>;
  /** Forgets a scheduled job after its send ended for good (`caller` also frees its place in the caller's count). */
  ack(channel: ScheduledJob['channel'], id: string, caller?: string): Promise<void>;
  close(): Promise<void>;
}

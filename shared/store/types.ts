/**
 * What the core needs from a store. Two implementations: in-memory (one instance) and
 * Redis (shared across instances). Operations that must be atomic are atomic in both.
 */

/** The remembered result of a send, kept 24 h under its idempotency key. */
export interface StoredOutcome {
  status: 'sent' | 'rejected' | 'failed' | 'unknown';
  channel: 'sms' | 'voice';
  phoneMasked: string;
  provider?: { code: string; message: string; requestId?: string; ids?: Record<string, string> };
  error?: { code: string; message: string; retryable: boolean; providerCode?: string; retryAfter?: number };
  /** Hash of the job, so one key reused for a different job is refused. */
  fingerprint: string;
  at: string;
}

export type ClaimResult =
  | { kind: 'claimed'; token: string }
  | { kind: 'in-progress'; fingerprint: string }
  | { kind: 'done'; outcome: StoredOutcome };

export interface Store {
  readonly kind: 'memory' | 'redis';
  /** Claims `key` for `ttlMs` (until the send ends or the claim expires). Atomic. */
  claim(key: string, fingerprint: string, ttlMs: number): Promise<ClaimResult>;
  /** Records the outcome under `key` for `ttlMs`, if `token` still holds the claim. */
  complete(key: string, token: string, outcome: StoredOutcome, ttlMs: number): Promise<boolean>;
  /** Gives the claim up (nothing was sent; a later delivery may try again). */
  release(key: string, token: string): Promise<void>;
  close(): Promise<void>;
}

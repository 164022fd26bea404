import { specOf } from '../channels/index.ts';
import { DEFAULT_FUNCTION_TIMEOUT_S } from '../config.ts';
import { sha256 } from '../hash.ts';
import type { Job } from '../jobs.ts';

/**
 * The idempotency rules, each written once: how long an outcome is remembered, how long a claim
 * lives before it is stale, and the fingerprint that tells a replay from a conflicting job under
 * the same key. The claim itself (claim → send → complete/release) is in core/send.ts; the
 * atomic operations are the store's (store/types.ts).
 */

/** An outcome is remembered 24 h under its key: a retry within that window is a replay. */
export const OUTCOME_TTL_MS = 24 * 60 * 60 * 1000;

/** How far past the function's timeout a claim lives: by then its attempt has surely ended. */
const CLAIM_MARGIN_S = 30;

/** After this a claim still in progress is stale: the function's timeout plus a margin. */
export function claimTtlMs(functionTimeoutS: number = DEFAULT_FUNCTION_TIMEOUT_S): number {
  return (functionTimeoutS + CLAIM_MARGIN_S) * 1000;
}

export const DEFAULT_CLAIM_TTL_MS = claimTtlMs();

/** Stable hash of what would be sent: same key + different job is a caller bug, not a replay. */
export function fingerprint(job: Job): string {
  const { idempotencyKey: _k, ...rest } = job;
  const canonical = JSON.stringify(rest, Object.keys(rest).sort());
  return sha256(canonical + specOf(job).fingerprintExtra(job), 'base64url').slice(0, 22);
}

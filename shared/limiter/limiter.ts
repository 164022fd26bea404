/**
 * Counting sends against limits, shared by every instance when the limiter lives in Redis.
 * Two kinds of rule:
 * - `interval`: at least `intervalMs` between two sends under the same key;
 * - `window`: at most `limit` sends per fixed window of `windowMs`, windows aligned to Beijing
 *   time (UTC+8), so a "day" runs 00:00–24:00 in China, which is how the vendors count.
 * `consume` checks every rule and counts against all of them: either the send is counted
 * everywhere or nowhere, and each check-and-count is atomic, so two instances cannot both take
 * the last slot. (In Redis, rules of one group are one atomic script; when one group refuses,
 * the groups that counted are given back — see shared/limiter/redis.ts.)
 */

/**
 * `group`: rules with the same group are checked and counted in one script (in Redis: one hash
 * slot, `{group}` is the key's hash tag); `key` starts with it. Rules of different groups are
 * checked in parallel, one script per group. Default: the rule's own key.
 */
export type LimitRule =
  | { kind: 'interval'; name: string; key: string; group?: string; intervalMs: number }
  | { kind: 'window'; name: string; key: string; group?: string; limit: number; windowMs: number };

export type LimitDecision =
  | { allowed: true; token: string }
  /** `retryAt`: epoch ms when every refusing rule allows a send again. */
  | { allowed: false; retryAt: number; rule: string };

export interface Limiter {
  readonly kind: 'memory' | 'redis';
  consume(rules: readonly LimitRule[], now: number): Promise<LimitDecision>;
  /** Gives a consumption back (the provider surely did not act). `token` comes from `consume`. */
  refund(rules: readonly LimitRule[], token: string): Promise<void>;
  close(): Promise<void>;
}

export const BEIJING_OFFSET_MS = 8 * 60 * 60 * 1000;
export const MINUTE_MS = 60_000;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;

/** Index of the window holding `now` (windows start at Beijing midnight and its multiples). */
export function windowIndex(now: number, windowMs: number): number {
  return Math.floor((now + BEIJING_OFFSET_MS) / windowMs);
}

/** Epoch ms at which window `index` ends. */
export function windowEnd(index: number, windowMs: number): number {
  return (index + 1) * windowMs - BEIJING_OFFSET_MS;
}

/** The storage key of a window rule's counter at `now`. */
export function windowKey(rule: Extract<LimitRule, { kind: 'window' }>, now: number): string {
  return `${rule.key}:w${rule.windowMs}:${windowIndex(now, rule.windowMs)}`;
}

/** Tokens carry the time of the consumption so a refund finds the same windows. */
export function makeToken(now: number, random: string): string {
  return `${now}.${random}`;
}

export function tokenTime(token: string): number {
  return Number(token.split('.')[0]);
}

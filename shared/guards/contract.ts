import { type ErrorCode, GuardRefusal } from '../errors.ts';

export type GuardDecision =
  | { allowed: true }
  | { allowed: false; action: 'defer'; retryAt: Date; code: ErrorCode; rule: string; message: string }
  | { allowed: false; action: 'report'; retryAt: Date | undefined; code: ErrorCode; rule: string; message: string };

/**
 * The contract for queue/batch code: what to do with a job whose send threw `err`.
 * Returns undefined when `err` is not a guard refusal (handle it as any other error).
 */
export function deferral(err: unknown): Exclude<GuardDecision, { allowed: true }> | undefined {
  if (!(err instanceof GuardRefusal)) return undefined;
  const base = { allowed: false as const, code: err.code, rule: err.rule, message: err.message };
  if (err.action === 'defer' && err.retryAt !== undefined) return { ...base, action: 'defer', retryAt: err.retryAt };
  return { ...base, action: 'report', retryAt: err.retryAt };
}

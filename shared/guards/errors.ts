import { type ErrorCode, NotifyError } from '../errors.ts';

/**
 * A guard (rate limit, recipient policy, sending hours) refused a job before anything was
 * sent. Over HTTP it is answered as is (429/422 with Retry-After). For queued jobs (MNS, OSS,
 * timers) the batch runner reads `deferral(err)`: `defer` means schedule the job for `retryAt`
 * (nothing is lost), `report` means record it as refused.
 */
export class GuardRefusal extends NotifyError {
  override name = 'GuardRefusal';
  /** Which rule refused, e.g. `phone-daily`, `quiet-hours`, `denylist`. */
  readonly rule: string;
  /** When the job could be sent; undefined when it never can (policy). */
  readonly retryAt: Date | undefined;
  readonly action: 'defer' | 'report';

  constructor(
    code: ErrorCode,
    message: string,
    rule: string,
    options: { retryAt?: number; now?: number; action?: 'defer' | 'report' } = {},
  ) {
    const retryAfter =
      options.retryAt !== undefined && options.now !== undefined
        ? Math.max(1, Math.ceil((options.retryAt - options.now) / 1000))
        : undefined;
    super(code, message, { retryable: options.retryAt !== undefined, ...(retryAfter !== undefined ? { retryAfter } : {}) });
    this.rule = rule;
    this.retryAt = options.retryAt === undefined ? undefined : new Date(options.retryAt);
    this.action = options.retryAt === undefined ? 'report' : (options.action ?? 'report');
  }
}

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

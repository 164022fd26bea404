import type { BatchSummary } from './core/batch.ts';
import type { Channel } from './jobs.ts';

/**
 * Error codes of the public contract (openapi.json lists them with their statuses) and the two families of errors:
 * caller mistakes (never retried, message shown) and system faults (message shown only
 * where it is safe; INTERNAL hides detail).
 */

export const ERROR_STATUS = {
  INVALID_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  DUPLICATE_IN_PROGRESS: 409,
  PAYLOAD_TOO_LARGE: 413,
  INVALID_PHONE: 422,
  TEMPLATE_MISMATCH: 422,
  CONTENT_TOO_LONG: 422,
  SIGNATURE_INVALID: 422,
  RECIPIENT_BLOCKED: 422,
  OUTSIDE_SENDING_HOURS: 422,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  NOT_IMPLEMENTED: 501,
  PROVIDER_ERROR: 502,
  PROVIDER_AUTH_FAILED: 502,
  QUOTA_EXHAUSTED: 503,
  PROVIDER_THROTTLED: 503,
  STORE_UNAVAILABLE: 503,
  OUTCOME_UNKNOWN: 504,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface NotifyErrorOptions {
  retryable?: boolean;
  providerCode?: string;
  /** Seconds, for 429/503 answers (becomes the Retry-After header). */
  retryAfter?: number;
  cause?: unknown;
}

/** Base of every error this project raises on purpose. `message` is safe to show callers. */
export class NotifyError extends Error {
  override name = 'NotifyError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;
  readonly providerCode: string | undefined;
  readonly retryAfter: number | undefined;

  constructor(code: ErrorCode, message: string, options: NotifyErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.retryable = options.retryable ?? false;
    this.providerCode = options.providerCode;
    this.retryAfter = options.retryAfter;
  }

  toBody(): { error: Record<string, unknown> } {
    const error: Record<string, unknown> = {
      code: this.code,
      message: this.message,
      retryable: this.retryable,
    };
    if (this.providerCode !== undefined) error.providerCode = this.providerCode;
    return { error };
  }
}

/**
 * The caller sent something we cannot use. A different family from system faults:
 * never retried, never logged at error level, message always shown.
 */
export class InvalidRequestError extends NotifyError {
  override name = 'InvalidRequestError';
  /** Where in the payload the problem is, e.g. `params[1]`. */
  readonly path: string | undefined;
  constructor(message: string, path?: string, code: ErrorCode = 'INVALID_REQUEST') {
    super(code, message);
    this.path = path;
  }
}

/** The function's environment is wrong; names the variable, never its value. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly variables: string[];
  constructor(message: string, variables: string[]) {
    super(message);
    this.variables = variables;
  }
}

/** Seconds a caller should wait after STORE_UNAVAILABLE (the store is reconnected within about a second). */
export const STORE_RETRY_AFTER_S = 2;

/**
 * The store (Redis) could not be reached BEFORE anything was sent (claim, limits, scheduling):
 * retryable, `503` + `Retry-After`. Never used after a provider call (that send is reported as
 * sent with `recorded:false` instead, see core/send.ts).
 */
export function storeUnavailable(cause: unknown, what = 'nothing was sent; retry later with the same idempotencyKey'): NotifyError {
  return new NotifyError('STORE_UNAVAILABLE', `the store (Redis) could not be reached: ${what}`, {
    retryable: true,
    retryAfter: STORE_RETRY_AFTER_S,
    cause,
  });
}

/**
 * The store failed while scheduling: maybe not scheduled (a stalled store still runs the write
 * later); a retry with the same key schedules it under the same id, never twice. One text for
 * the HTTP route and the batch runner.
 */
export function scheduleUnsure(cause: unknown): NotifyError {
  return storeUnavailable(
    cause,
    'nothing was sent; the job may or may not be scheduled (a slow store still runs the write), so retry with the same idempotencyKey: a retry replaces the entry, never doubles it',
  );
}

/** Turns anything thrown into a NotifyError that is safe to put in an answer. */
export function toNotifyError(err: unknown): NotifyError {
  if (err instanceof NotifyError) return err;
  if (err instanceof ConfigError) {
    return new NotifyError('INTERNAL', `function is misconfigured: ${err.message}`);
  }
  return new NotifyError('INTERNAL', 'internal error', { cause: err });
}

// ---- Errors of the FC layer, the batch runner, the guards and the OSS client: one module, so a
// newcomer finds every error class (and its code) in one place. ----

/**
 * 401 with one message whatever went wrong, so a prober learns nothing. Why it failed is kept
 * for the request's log line only (`authReason`), never the key presented.
 */
export class UnauthorizedError extends NotifyError {
  override name = 'UnauthorizedError';
  readonly authReason: 'missing' | 'malformed' | 'unknown-key';
  constructor(reason: UnauthorizedError['authReason']) {
    super('UNAUTHORIZED', 'missing or invalid API key');
    this.authReason = reason;
  }
}

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

/** Thrown by the adapter after the batch, so FC/MNS redeliver. The message names counts only. */
export class BatchRetryError extends Error {
  override name = 'BatchRetryError';
  readonly summary: BatchSummary;
  constructor(summary: BatchSummary) {
    super(
      `${summary.retry} of ${summary.total} jobs from ${summary.source} failed in a retryable way; the event is redelivered and jobs already sent are not sent again`,
    );
    this.summary = summary;
  }
}

/**
 * A queue hands each message to one consumer (one queue per channel, docs/deploy.md), so a job
 * for the other channel here was sent to the wrong queue: skipping it would acknowledge it and
 * lose it. The rest of the batch has been sent; failing the invocation makes EventBridge retry
 * (those jobs replay from the store, nothing is sent twice) and then move the batch to the
 * dead-letter queue, where the operator sees the message ids named here.
 */
export class MisroutedJobsError extends BatchRetryError {
  override name = 'MisroutedJobsError';
  readonly refs: string[];
  constructor(summary: BatchSummary, refs: string[]) {
    super(summary);
    this.refs = refs;
    const shown = refs.slice(0, 10).join(', ') + (refs.length > 10 ? `, … (${refs.length} in all)` : '');
    this.message = `${refs.length} of ${summary.total} jobs on this queue are for another channel (misrouted: ${shown}); the invocation fails so EventBridge retries and then dead-letters them; jobs already sent are replayed, not sent again`;
  }
}

/**
 * An event refused whole (over MAX_EVENT_BYTES or MAX_JOBS_PER_EVENT), nothing of it sent. The
 * invocation fails with it, so the platform retries (each retry is refused at once, before any
 * work) and then moves the event to the dead-letter queue, where the operator finds it whole to
 * split and replay (docs/limits.md). The message names sizes and limits only.
 */
export class PoisonEventError extends Error {
  override name = 'PoisonEventError';
  constructor(
    message: string,
    readonly reason: 'too-large' | 'too-many-jobs',
  ) {
    super(message);
  }
}

/** The body was cut short (connection reset, premature close): the invocation must fail. */
export class CutShortError extends Error {
  override name = 'CutShortError';
}

export class OssError extends Error {
  override name = 'OssError';
  constructor(
    message: string,
    readonly status: number,
    readonly ossCode: string | undefined,
  ) {
    super(message);
  }
}

/** A job addressed to the other channel (one topic feeding both functions). */
export class ChannelMismatchError extends InvalidRequestError {
  override name = 'ChannelMismatchError';
  readonly jobChannel: string;
  constructor(expected: Channel, actual: string, prefix: string) {
    super(`${prefix}channel must be "${expected}" for this function, got ${JSON.stringify(actual).slice(0, 40)}`, `${prefix}channel`);
    this.jobChannel = actual;
  }
}

export class CatalogError extends ConfigError {
  override name = 'CatalogError';
  readonly problems: string[];
  constructor(source: string, problems: string[]) {
    super(
      `template catalog ${source} is invalid: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? ` (and ${problems.length - 5} more)` : ''}`,
      ['TEMPLATES_FILE'],
    );
    this.problems = problems;
  }
}

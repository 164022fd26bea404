/**
 * Error codes of the public contract (design.md) and the two families of errors:
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
 * The caller sent something we cannot use. A different family from system faults
 * (style.md §6): never retried, never logged at error level, message always shown.
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

/** Turns anything thrown into a NotifyError that is safe to put in an answer. */
export function toNotifyError(err: unknown): NotifyError {
  if (err instanceof NotifyError) return err;
  if (err instanceof ConfigError) {
    return new NotifyError('INTERNAL', `function is misconfigured: ${err.message}`);
  }
  return new NotifyError('INTERNAL', 'internal error', { cause: err });
}

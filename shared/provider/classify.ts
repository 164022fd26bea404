import { type ErrorCode, NotifyError } from '../errors.ts';
import type { Channel } from '../jobs.ts';
import type { OutcomeStatus } from '../store/types.ts';
import { redactGatewayMessage } from './signature.ts';

/**
 * Turns what came back from API Gateway and the vendor into an outcome.
 * Facts and their sources: upstream.md (vendor codes; gateway X-Ca-Error-Message texts).
 */

export interface ProviderInfo {
  code: string;
  message: string;
  requestId?: string;
  /** Extra ids the vendor returned (BizId, TaskID, …), kept for reconciliation. */
  ids?: Record<string, string>;
  /** An answer we could not read, truncated, for diagnosis (logs scrub phones and secrets). */
  raw?: string;
}

export interface Classified {
  status: OutcomeStatus;
  provider?: ProviderInfo;
  error?: NotifyError;
  /** True when the provider surely did not act and an automatic retry cannot send twice. */
  safeToRetry: boolean;
}

interface VendorCodeRule {
  code: ErrorCode;
  status: OutcomeStatus;
  retryable: boolean;
  message: string;
  retryAfter?: number;
}

/** Vendor codes (long SMS, and voice when it answers in the same {Code, Message} shape). */
const VENDOR_CODES: Record<string, VendorCodeRule> = {
  '101': { code: 'INVALID_PHONE', status: 'rejected', retryable: false, message: 'the provider says the phone number is invalid' },
  '102': {
    code: 'RATE_LIMITED',
    status: 'rejected',
    retryable: true,
    retryAfter: 60,
    message: 'the provider limits sends to this phone (too soon after the last one, or over 15 today)',
  },
  '103': { code: 'RECIPIENT_BLOCKED', status: 'rejected', retryable: false, message: 'the provider has this recipient on its blacklist' },
  '104': { code: 'SIGNATURE_INVALID', status: 'rejected', retryable: false, message: 'the provider rejected the signature (sign)' },
  '105': {
    code: 'TEMPLATE_MISMATCH',
    status: 'rejected',
    retryable: false,
    message: 'the provider says the template id (skin) is wrong or the params do not match the template',
  },
  '106': { code: 'PROVIDER_ERROR', status: 'failed', retryable: true, message: 'the provider reported a system error' },
  '107': { code: 'PROVIDER_ERROR', status: 'failed', retryable: false, message: 'the provider reported an unspecified error' },
  '1002': { code: 'TEMPLATE_MISMATCH', status: 'rejected', retryable: false, message: 'the provider says the parameters are wrong' },
  '1009': { code: 'CONTENT_TOO_LONG', status: 'rejected', retryable: false, message: 'the provider says the text is over 200 characters' },
};

const RAW_LIMIT = 512;

/** Header names are case-insensitive; whether they arrive lower-cased depends on the adapter. */
function header(headers: Record<string, unknown>, name: string): string | undefined {
  const wanted = name.toLowerCase();
  const key = Object.keys(headers).find((k) => k.toLowerCase() === wanted);
  const v = key === undefined ? undefined : headers[key];
  if (v === undefined || v === null) return undefined;
  return Array.isArray(v) ? v.join(', ') : String(v);
}

function truncate(s: string): string {
  return s.length > RAW_LIMIT ? `${s.slice(0, RAW_LIMIT)}…` : s;
}

/** API Gateway refused the call before the vendor saw it (or the backend failed). */
export function classifyGateway(status: number, headers: Record<string, unknown>, body: string): Classified {
  const errorMessage = header(headers, 'x-ca-error-message') ?? '';
  const requestId = header(headers, 'x-ca-request-id');
  const provider: ProviderInfo = {
    code: header(headers, 'x-ca-error-code') ?? `HTTP_${status}`,
    // Signature errors echo our query (phones, codes) back: keep the names, drop the values.
    message: errorMessage ? redactGatewayMessage(errorMessage) : `HTTP ${status}`,
  };
  if (requestId) provider.requestId = requestId;
  if (!errorMessage && body) provider.raw = truncate(body);
  const m = errorMessage.toLowerCase();
  const fail = (code: ErrorCode, message: string, retryable: boolean, retryAfter?: number, safeToRetry = false): Classified => ({
    status: 'failed',
    provider,
    error: new NotifyError(code, message, { retryable, ...(retryAfter ? { retryAfter } : {}) }),
    safeToRetry,
  });

  if (status >= 500) {
    // The backend may have acted before failing: never retried automatically.
    return fail('PROVIDER_ERROR', `the provider gateway answered HTTP ${status}`, false);
  }
  if (status === 403 && /quota|expired/.test(m)) {
    return fail('QUOTA_EXHAUSTED', 'the marketplace package is used up or expired: buy more calls', false);
  }
  if (status === 403 && /throttl|flow control/.test(m)) {
    // Flow control is decided before the vendor is called: safe to retry after a pause.
    return fail('PROVIDER_THROTTLED', 'the provider gateway is throttling calls', true, 1, true);
  }
  if (/appcode|appkey|signature|timestamp|nonce|unauthorized|authoriz/.test(m) || status === 401 || (status === 403 && m !== '')) {
    return fail(
      'PROVIDER_AUTH_FAILED',
      'the provider gateway refused our credentials or subscription (check APPCODE / APP_KEY and the marketplace purchase)',
      false,
    );
  }
  return fail('PROVIDER_ERROR', `the provider gateway answered HTTP ${status}`, false);
}

function stringOf(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

function collectIds(body: Record<string, unknown>, keys: readonly string[]): Record<string, string> | undefined {
  const ids: Record<string, string> = {};
  for (const k of keys) {
    const v = stringOf(body[k]);
    if (v !== undefined) ids[k] = v;
  }
  return Object.keys(ids).length > 0 ? ids : undefined;
}

function unknownAnswer(raw: string, why: string): Classified {
  return {
    status: 'unknown',
    provider: { code: 'UNREADABLE', message: why, raw: truncate(raw) },
    error: new NotifyError('OUTCOME_UNKNOWN', `the provider answer could not be read (${why}); the message may or may not have been sent`),
    safeToRetry: false,
  };
}

/** `{Code, Message}`: the long-SMS shape (and possibly voice). */
function classifyCodeShape(body: Record<string, unknown>, code: string): Classified {
  const message = stringOf(body.Message) ?? stringOf(body.message) ?? '';
  const provider: ProviderInfo = { code, message };
  const ids = collectIds(body, ['RequestId', 'BizId', 'TaskID', 'TaskId']);
  if (ids) provider.ids = ids;
  if (code.toUpperCase() === 'OK') return { status: 'sent', provider, safeToRetry: false };
  // Own keys only: a vendor Code such as "__proto__" or "constructor" must not find Object's members.
  const rule = Object.hasOwn(VENDOR_CODES, code) ? VENDOR_CODES[code] : undefined;
  if (!rule) {
    return {
      status: 'failed',
      provider,
      error: new NotifyError('PROVIDER_ERROR', `the provider answered an unknown code ${JSON.stringify(code).slice(0, 24)}`, {
        providerCode: code,
      }),
      safeToRetry: false,
    };
  }
  return {
    status: rule.status,
    provider,
    error: new NotifyError(rule.code, rule.message, {
      retryable: rule.retryable,
      providerCode: code,
      ...(rule.retryAfter ? { retryAfter: rule.retryAfter } : {}),
    }),
    safeToRetry: false,
  };
}

/** `{ReturnStatus: "Success"|"Faild", Message, TaskID, …}`: the /chuangxin/ family's shape. */
function classifyReturnStatus(body: Record<string, unknown>, returnStatus: string): Classified {
  const message = stringOf(body.Message) ?? '';
  const provider: ProviderInfo = { code: returnStatus, message };
  const ids = collectIds(body, ['TaskID', 'TaskId', 'RemainPoint', 'SuccessCounts']);
  if (ids) provider.ids = ids;
  const s = returnStatus.toLowerCase();
  if (s === 'success') {
    // A success that reports zero successful calls did not send.
    if (stringOf(body.SuccessCounts) === '0') {
      return {
        status: 'failed',
        provider,
        error: new NotifyError('PROVIDER_ERROR', 'the provider accepted the call but reports 0 successful sends', {
          providerCode: returnStatus,
        }),
        safeToRetry: false,
      };
    }
    return { status: 'sent', provider, safeToRetry: false };
  }
  if (s === 'faild' || s === 'failed' || s === 'fail') {
    return {
      status: 'failed',
      provider,
      error: new NotifyError('PROVIDER_ERROR', 'the provider refused the call', { providerCode: returnStatus }),
      safeToRetry: false,
    };
  }
  return unknownAnswer(JSON.stringify(body), `unknown ReturnStatus ${JSON.stringify(returnStatus).slice(0, 24)}`);
}

/** A 2xx answer from the vendor. Only a recognised success is ever "sent". */
export function classifyVendor(_channel: Channel, body: string, headers: Record<string, unknown> = {}): Classified {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return unknownAnswer(body, 'not JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return unknownAnswer(body, 'not a JSON object');
  const obj = parsed as Record<string, unknown>;
  let result: Classified;
  const code = stringOf(obj.Code) ?? stringOf(obj.code);
  const returnStatus = stringOf(obj.ReturnStatus);
  if (code !== undefined) result = classifyCodeShape(obj, code);
  else if (returnStatus !== undefined) result = classifyReturnStatus(obj, returnStatus);
  else return unknownAnswer(body, 'no Code or ReturnStatus field');
  const requestId = header(headers, 'x-ca-request-id');
  if (requestId && result.provider) result.provider.requestId = requestId;
  return result;
}

export function classifyAnswer(channel: Channel, status: number, headers: Record<string, unknown>, body: string): Classified {
  if (status >= 200 && status < 300) return classifyVendor(channel, body, headers);
  return classifyGateway(status, headers, body);
}

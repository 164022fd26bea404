import { describe, expect, it } from 'vitest';
import { classifyAnswer, classifyGateway, classifyVendor } from '#shared/provider/classify';
import { classifyTransportError } from '#shared/provider/client';

/** Edges of answer classification that the end-to-end tests cannot shape through a real server. */

describe('classifyVendor', () => {
  it('reads a numeric Code like its string form', () => {
    const r = classifyVendor('sms', JSON.stringify({ Code: 106, Message: '系统错误!' }));
    expect(r.status).toBe('failed');
    expect(r.error).toMatchObject({ code: 'PROVIDER_ERROR', retryable: true, providerCode: '106' });
  });

  it('keeps the vendor ids and the gateway request id of a success for reconciliation', () => {
    const r = classifyVendor('sms', JSON.stringify({ Code: 'OK', Message: '发送成功', RequestId: 'vendor-1', BizId: 42 }), {
      'X-Ca-Request-Id': 'gw-9',
    });
    expect(r).toEqual({
      status: 'sent',
      provider: { code: 'OK', message: '发送成功', requestId: 'gw-9', ids: { RequestId: 'vendor-1', BizId: '42' } },
      safeToRetry: false,
    });
  });

  it('truncates an unreadable answer kept for diagnosis', () => {
    const r = classifyVendor('voice', `<html>${'x'.repeat(5000)}</html>`);
    expect(r.status).toBe('unknown');
    expect(r.error?.code).toBe('OUTCOME_UNKNOWN');
    expect(r.provider?.raw?.length).toBeLessThanOrEqual(513);
  });

  it('a hostile unknown code is cut short in the message shown to callers', () => {
    const r = classifyVendor('sms', JSON.stringify({ Code: 'Z'.repeat(500) }));
    expect(r.error?.code).toBe('PROVIDER_ERROR');
    expect(r.error!.message.length).toBeLessThan(100);
  });
});

describe('classifyGateway', () => {
  it('reads X-Ca-Error-Message whatever its case, and an array value', () => {
    expect(classifyGateway(403, { 'X-Ca-Error-Message': 'Quota Exhausted' }, '').error?.code).toBe('QUOTA_EXHAUSTED');
    expect(classifyGateway(403, { 'x-ca-error-message': ['Throttled by APP Flow Control'] }, '').error?.code).toBe('PROVIDER_THROTTLED');
  });

  it('only flow control is safe to retry automatically', () => {
    const safe = [
      classifyGateway(403, { 'x-ca-error-message': 'Throttled by API Flow Control' }, ''),
      classifyGateway(401, { 'x-ca-error-message': 'Invalid AppCode `not exists`' }, ''),
      classifyGateway(403, { 'x-ca-error-message': 'Quota Exhausted' }, ''),
      classifyGateway(503, {}, 'Service Unavailable'),
    ].map((r) => r.safeToRetry);
    expect(safe).toEqual([true, false, false, false]);
  });

  it('a 403 with no message is a provider error, not an auth failure', () => {
    expect(classifyGateway(403, {}, '').error?.code).toBe('PROVIDER_ERROR');
  });

  it('a 3xx (redirects are not followed) is a provider error', () => {
    expect(classifyAnswer('sms', 302, { location: 'https://example.invalid/' }, '').error?.code).toBe('PROVIDER_ERROR');
  });
});

describe('classifyTransportError', () => {
  it.each(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'])('%s: nothing was sent, safe to retry', (code) => {
    const r = classifyTransportError(Object.assign(new Error('x'), { code }));
    expect(r).toMatchObject({ status: 'failed', safeToRetry: true, error: { code: 'PROVIDER_ERROR', retryable: true } });
  });

  it.each(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ETIMEDOUT', 'ERR_CANCELED', 'ERR_BAD_RESPONSE'])(
    '%s: the request may have arrived, outcome unknown',
    (code) => {
      const r = classifyTransportError(Object.assign(new Error('x'), { code }));
      expect(r).toMatchObject({ status: 'unknown', safeToRetry: false, error: { code: 'OUTCOME_UNKNOWN', retryable: false } });
    },
  );

  it.each([
    'DEPTH_ZERO_SELF_SIGNED_CERT',
    'SELF_SIGNED_CERT_IN_CHAIN',
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    'CERT_HAS_EXPIRED',
    'ERR_TLS_CERT_ALTNAME_INVALID',
  ])('%s: the certificate was refused before the request was written; failed, not retried', (code) => {
    const r = classifyTransportError(Object.assign(new Error('x'), { code }));
    expect(r).toMatchObject({
      status: 'failed',
      safeToRetry: false,
      provider: { code },
      error: { code: 'PROVIDER_ERROR', retryable: false },
    });
  });

  it('reads the code of the cause when axios wraps it', () => {
    const r = classifyTransportError({ code: 'ERR_BAD_REQUEST', cause: { code: 'ECONNREFUSED' } });
    expect(r.safeToRetry).toBe(true);
  });
});

/** The whole answer → outcome table (the vendor's codes and the error codes of shared/errors.ts), one row per answer. */

interface Row {
  status: 'sent' | 'rejected' | 'failed' | 'unknown';
  code?: string;
  retryable?: boolean;
  retryAfter?: number;
  providerCode?: string;
  safeToRetry?: boolean;
  /** The HTTP status an HTTP caller gets (the error's, from ERROR_STATUS). */
  http?: number;
}

function expectRow(r: ReturnType<typeof classifyAnswer>, row: Row): void {
  expect(r.status).toBe(row.status);
  expect(r.safeToRetry).toBe(row.safeToRetry ?? false);
  if (row.status === 'sent') {
    expect(r.error).toBeUndefined();
    return;
  }
  expect(r.error).toBeDefined();
  expect(r.error).toMatchObject({
    code: row.code,
    retryable: row.retryable ?? false,
    retryAfter: row.retryAfter,
    providerCode: row.providerCode,
  });
  if (row.http !== undefined) expect(r.error?.status).toBe(row.http);
}

describe('vendor codes (HTTP 200, {Code, Message})', () => {
  const table: Array<[string, Row]> = [
    ['OK', { status: 'sent' }],
    ['ok', { status: 'sent' }],
    ['Ok', { status: 'sent' }],
    ['101', { status: 'rejected', code: 'INVALID_PHONE', providerCode: '101', http: 422 }],
    ['102', { status: 'rejected', code: 'RATE_LIMITED', retryable: true, retryAfter: 60, providerCode: '102', http: 429 }],
    ['103', { status: 'rejected', code: 'RECIPIENT_BLOCKED', providerCode: '103', http: 422 }],
    ['104', { status: 'rejected', code: 'SIGNATURE_INVALID', providerCode: '104', http: 422 }],
    ['105', { status: 'rejected', code: 'TEMPLATE_MISMATCH', providerCode: '105', http: 422 }],
    ['106', { status: 'failed', code: 'PROVIDER_ERROR', retryable: true, providerCode: '106', http: 502 }],
    ['107', { status: 'failed', code: 'PROVIDER_ERROR', providerCode: '107', http: 502 }],
    ['1002', { status: 'rejected', code: 'TEMPLATE_MISMATCH', providerCode: '1002', http: 422 }],
    ['1009', { status: 'rejected', code: 'CONTENT_TOO_LONG', providerCode: '1009', http: 422 }],
    ['4711', { status: 'failed', code: 'PROVIDER_ERROR', providerCode: '4711', http: 502 }],
    ['', { status: 'failed', code: 'PROVIDER_ERROR', providerCode: '', http: 502 }],
    ['__proto__', { status: 'failed', code: 'PROVIDER_ERROR', providerCode: '__proto__', http: 502 }],
    ['constructor', { status: 'failed', code: 'PROVIDER_ERROR', providerCode: 'constructor', http: 502 }],
    ['toString', { status: 'failed', code: 'PROVIDER_ERROR', providerCode: 'toString', http: 502 }],
  ];
  it.each(table)('Code %j → %o', (code, row) => {
    for (const channel of ['sms', 'voice'] as const) {
      const r = classifyAnswer(channel, 200, {}, JSON.stringify({ Code: code, Message: '供应商消息' }));
      expectRow(r, row);
      expect(r.provider).toMatchObject({ code, message: '供应商消息' });
    }
  });

  it('reads a lower-case "code" field too', () => {
    expectRow(classifyAnswer('sms', 200, {}, JSON.stringify({ code: '103', message: '黑名单管控!' })), {
      status: 'rejected',
      code: 'RECIPIENT_BLOCKED',
      providerCode: '103',
    });
  });
});

describe('voice answer shapes (HTTP 200)', () => {
  const table: Array<[string, unknown, Row]> = [
    ['Success', { ReturnStatus: 'Success', Message: 'ok', RemainPoint: 9, TaskID: 1, SuccessCounts: 1 }, { status: 'sent' }],
    ['Success without SuccessCounts', { ReturnStatus: 'Success', Message: 'ok', TaskID: 1 }, { status: 'sent' }],
    [
      'Success with SuccessCounts 0',
      { ReturnStatus: 'Success', Message: 'ok', SuccessCounts: 0 },
      { status: 'failed', code: 'PROVIDER_ERROR', providerCode: 'Success' },
    ],
    [
      'Faild (the vendor spelling)',
      { ReturnStatus: 'Faild', Message: '参数错误', SuccessCounts: 0 },
      { status: 'failed', code: 'PROVIDER_ERROR', providerCode: 'Faild' },
    ],
    ['Failed', { ReturnStatus: 'Failed', Message: 'x' }, { status: 'failed', code: 'PROVIDER_ERROR', providerCode: 'Failed' }],
    ['an unknown ReturnStatus', { ReturnStatus: 'Queued' }, { status: 'unknown', code: 'OUTCOME_UNKNOWN' }],
    ['a {Code, Message} success', { Code: 'OK', Message: '发送成功' }, { status: 'sent' }],
    [
      'a {Code, Message} refusal',
      { Code: '101', Message: '手机号码格式错误!' },
      { status: 'rejected', code: 'INVALID_PHONE', providerCode: '101' },
    ],
    ['neither shape', { result: 1, success: true }, { status: 'unknown', code: 'OUTCOME_UNKNOWN' }],
  ];
  it.each(table)('%s → %o', (_name, body, row) => {
    expectRow(classifyAnswer('voice', 200, {}, JSON.stringify(body)), row);
  });

  it('keeps the task id of a voice success for reconciliation', () => {
    const r = classifyAnswer(
      'voice',
      200,
      {},
      JSON.stringify({ ReturnStatus: 'Success', Message: 'ok', TaskID: 1234567, SuccessCounts: 1 }),
    );
    expect(r.provider?.ids).toEqual({ TaskID: '1234567', SuccessCounts: '1' });
  });
});

describe('answers that cannot be read are unknown, never sent', () => {
  const bodies: Array<[string, string]> = [
    ['not JSON', 'OK'],
    ['empty', ''],
    ['HTML', '<html>发送成功</html>'],
    ['a JSON array holding an OK', '[{"Code":"OK"}]'],
    ['JSON null', 'null'],
    ['a JSON string', '"OK"'],
    ['a JSON number', '200'],
    ['an object without Code', '{"Message":"发送成功"}'],
    ['Code null', '{"Code":null}'],
    ['Code an object', '{"Code":{"v":"OK"}}'],
    ['Code true', '{"Code":true}'],
    ['truncated JSON', '{"Code":"OK"'],
  ];
  it.each(bodies)('%s → OUTCOME_UNKNOWN, the raw body kept', (_name, body) => {
    for (const channel of ['sms', 'voice'] as const) {
      const r = classifyAnswer(channel, 200, {}, body);
      expectRow(r, { status: 'unknown', code: 'OUTCOME_UNKNOWN' });
      expect(r.provider?.raw).toBe(body);
    }
  });
});

describe('gateway answers (non-2xx, X-Ca-Error-Message)', () => {
  const table: Array<[number, string, Row]> = [
    [400, 'Invalid AppCode `not exists`', { status: 'failed', code: 'PROVIDER_AUTH_FAILED' }],
    [401, 'Invalid AppCode `not exists`', { status: 'failed', code: 'PROVIDER_AUTH_FAILED' }],
    [403, 'Unauthorized', { status: 'failed', code: 'PROVIDER_AUTH_FAILED' }],
    [403, 'Quota Exhausted', { status: 'failed', code: 'QUOTA_EXHAUSTED' }],
    [403, 'Api Market Subscription quota exhausted', { status: 'failed', code: 'QUOTA_EXHAUSTED' }],
    [403, 'Quota Expired', { status: 'failed', code: 'QUOTA_EXHAUSTED' }],
    [
      403,
      'Throttled by USER Flow Control',
      { status: 'failed', code: 'PROVIDER_THROTTLED', retryable: true, retryAfter: 1, safeToRetry: true },
    ],
    [
      403,
      'Throttled by APP Flow Control',
      { status: 'failed', code: 'PROVIDER_THROTTLED', retryable: true, retryAfter: 1, safeToRetry: true },
    ],
    [
      403,
      'Throttled by API Flow Control',
      { status: 'failed', code: 'PROVIDER_THROTTLED', retryable: true, retryAfter: 1, safeToRetry: true },
    ],
    [
      403,
      'Throttled by DOMAIN Flow Control',
      { status: 'failed', code: 'PROVIDER_THROTTLED', retryable: true, retryAfter: 1, safeToRetry: true },
    ],
    [400, 'Invalid Signature, Server StringToSign:`GET#application/json###...`', { status: 'failed', code: 'PROVIDER_AUTH_FAILED' }],
    [400, 'Invalid Timestamp', { status: 'failed', code: 'PROVIDER_AUTH_FAILED' }],
    [400, 'Timestamp Expired', { status: 'failed', code: 'PROVIDER_AUTH_FAILED' }],
    [400, 'Invalid AppKey', { status: 'failed', code: 'PROVIDER_AUTH_FAILED' }],
    [400, 'Nonce Used', { status: 'failed', code: 'PROVIDER_AUTH_FAILED' }],
    [400, '', { status: 'failed', code: 'PROVIDER_ERROR' }],
    [401, '', { status: 'failed', code: 'PROVIDER_AUTH_FAILED' }],
    [404, 'Invalid Url', { status: 'failed', code: 'PROVIDER_ERROR' }],
    [500, '', { status: 'failed', code: 'PROVIDER_ERROR' }],
    [502, 'Backend Service Unavailable', { status: 'failed', code: 'PROVIDER_ERROR' }],
    [503, 'Throttled by APP Flow Control', { status: 'failed', code: 'PROVIDER_ERROR' }],
    [504, 'Backend Timeout', { status: 'failed', code: 'PROVIDER_ERROR' }],
  ];
  it.each(table)('%i %j → %o', (status, message, row) => {
    const headers = message === '' ? {} : { 'x-ca-error-message': message, 'x-ca-request-id': 'gw-1' };
    const r = classifyAnswer('sms', status, headers, '');
    expectRow(r, row);
    if (message !== '') expect(r.provider?.requestId).toBe('gw-1');
  });

  it('a signature refusal keeps the parameter names of the echoed string-to-sign, not the values', () => {
    const message =
      'Invalid Signature, Server StringToSign:`GET#application/json####x-ca-key:1#/largesms?param=864213&phone=13812345678&skin=1`';
    const r = classifyGateway(400, { 'x-ca-error-message': message }, '');
    expect(r.provider?.message).toContain('/largesms?param=…&phone=…&skin=…');
    expect(r.provider?.message).not.toContain('864213');
    expect(r.provider?.message).not.toContain('13812345678');
  });

  it('X-Ca-Error-Code becomes the provider code, else HTTP_<status>', () => {
    expect(classifyGateway(403, { 'x-ca-error-message': 'Quota Exhausted', 'x-ca-error-code': 'Q1' }, '').provider?.code).toBe('Q1');
    expect(classifyGateway(500, {}, '').provider?.code).toBe('HTTP_500');
  });
});

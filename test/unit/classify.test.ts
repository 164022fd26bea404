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
    const r = classifyVendor('sms', JSON.stringify({ Code: 'OK', Message: '发送成功', RequestId: 'vendor-1', BizId: 42 }), { 'X-Ca-Request-Id': 'gw-9' });
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

  it.each(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ETIMEDOUT', 'ERR_CANCELED', 'ERR_BAD_RESPONSE'])('%s: the request may have arrived, outcome unknown', (code) => {
    const r = classifyTransportError(Object.assign(new Error('x'), { code }));
    expect(r).toMatchObject({ status: 'unknown', safeToRetry: false, error: { code: 'OUTCOME_UNKNOWN', retryable: false } });
  });

  it('reads the code of the cause when axios wraps it', () => {
    const r = classifyTransportError({ code: 'ERR_BAD_REQUEST', cause: { code: 'ECONNREFUSED' } });
    expect(r.safeToRetry).toBe(true);
  });
});

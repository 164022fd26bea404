import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { captureLogs } from '../support/fc.ts';
import { type Behaviour, closedPort, type FakeProvider, startFakeProvider, TEST_APPCODE } from '../support/fake-provider.ts';
import { type Invoker, invoker } from '../support/functions.ts';

/**
 * Every provider answer, end to end: FC HTTP event → function → shared client → a real local
 * server acting as API Gateway + vendor → the contract's answer. Asserts what the provider
 * received and how many requests it got (a retry where a send may have happened is a bug).
 */

const KEY = 'provider-answers-key-0123456789';
const RETRIES = 2;
const logs = captureLogs();
let fake: FakeProvider;
let sms: Invoker;
let voice: Invoker;

const env = (over: Record<string, string> = {}) => ({
  APPCODE: TEST_APPCODE,
  LONG_SMS_URL: fake.longSmsUrl,
  VOICE_URL: fake.voiceUrl,
  API_KEYS: `app:${KEY}`,
  UPSTREAM_TIMEOUT_MS: '300',
  UPSTREAM_RETRIES: String(RETRIES),
  // Limits and quiet hours have their own tests; here every case sends to one number at any hour.
  LIMIT_PHONE_INTERVAL_S: '0',
  LIMIT_PHONE_DAILY: '0',
  QUIET_HOURS: 'off',
  ...over,
});

beforeAll(async () => {
  fake = await startFakeProvider();
  sms = invoker('long-sms', { env: env(), retryDelayMs: 5, catalog: null });
  voice = invoker('voice-notify', { env: env(), retryDelayMs: 5, catalog: null });
});
afterAll(async () => {
  logs.stop();
  await fake.close();
});
beforeEach(() => {
  fake.reset();
  // Unless a case scripts otherwise, the vendor accepts (template 7 is not in the fake's own list).
  fake.fallback = { kind: 'vendor', code: 'OK', message: '发送成功' };
});

const auth = { authorization: `Bearer ${KEY}` };
const smsJob = { phone: '13800138000', skin: '7', params: ['1234', '张三'], sign: '1' };
const sendSms = (body: Record<string, unknown> = smsJob) => sms({ path: '/sms', body, headers: auth });
const sendVoice = (body: Record<string, unknown> = { phone: '13800138000', content: '您好，您的快递已送达。' }) => voice({ path: '/voice', body, headers: auth });

function expectSmsRequest(index = 0): void {
  const got = fake.requests[index];
  expect(got?.method).toBe('GET');
  expect(got?.path).toBe('/largesms');
  expect(got?.rawQuery).toBe('param=1234%7C%E5%BC%A0%E4%B8%89&phone=13800138000&skin=7&sign=1');
  expect(got?.query).toEqual({ param: '1234|张三', phone: '13800138000', skin: '7', sign: '1' });
  expect(got?.headers.authorization).toBe(`APPCODE ${TEST_APPCODE}`);
}

describe('long SMS vendor codes', () => {
  it.each([
    ['OK', '发送成功'],
    ['ok', '发送成功'],
  ])('%s is sent', async (code, message) => {
    fake.next({ kind: 'vendor', code, message, extra: { RequestId: 'r-1', BizId: 'b-1' } });
    const res = await sendSms();
    expect(res.statusCode).toBe(200);
    expect(res.json).toMatchObject({ status: 'sent', channel: 'sms', phone: '138****8000', provider: { code, message } });
    expect(fake.requests).toHaveLength(1);
    expectSmsRequest();
  });

  it.each([
    ['101', '手机号码格式错误!', 422, 'INVALID_PHONE', false],
    ['102', '业务限流, 向同一手机发送间隔过短', 429, 'RATE_LIMITED', true],
    ['103', '黑名单管控!', 422, 'RECIPIENT_BLOCKED', false],
    ['104', '请正确传入签名!', 422, 'SIGNATURE_INVALID', false],
    ['105', '参数与模板不对应!', 422, 'TEMPLATE_MISMATCH', false],
    ['106', '系统错误!', 502, 'PROVIDER_ERROR', true],
    ['107', '其他错误!', 502, 'PROVIDER_ERROR', false],
    ['1002', '传入参数有误!', 422, 'TEMPLATE_MISMATCH', false],
    ['1009', '字数限制', 422, 'CONTENT_TOO_LONG', false],
    ['999', '新错误', 502, 'PROVIDER_ERROR', false],
  ] as const)('vendor code %s → %s %i %s', async (code, message, status, errorCode, retryable) => {
    fake.next({ kind: 'vendor', code, message });
    const res = await sendSms();
    expect(res.statusCode).toBe(status);
    expect(res.json.error).toMatchObject({ code: errorCode, retryable, providerCode: code });
    expect(res.json.error.message).not.toContain('13800138000');
    if (status === 429) expect(res.headers['retry-after']).toBe('60');
    // A vendor answer is final: never retried, whatever the code.
    expect(fake.requests).toHaveLength(1);
    expectSmsRequest();
  });
});

describe('API Gateway answers', () => {
  it.each([
    [400, 'Invalid AppCode `not exists`', 502, 'PROVIDER_AUTH_FAILED'],
    [401, 'Invalid AppCode `not exists`', 502, 'PROVIDER_AUTH_FAILED'],
    [403, 'Unauthorized', 502, 'PROVIDER_AUTH_FAILED'],
    // The gateway writes the string-to-sign's line breaks as '#' (a header value has none).
    [400, 'Invalid Signature, Server StringToSign:`GET#application/json###x-ca-key:1#/largesms`', 502, 'PROVIDER_AUTH_FAILED'],
    [403, 'Quota Exhausted', 503, 'QUOTA_EXHAUSTED'],
    [403, 'Api Market Subscription quota exhausted', 503, 'QUOTA_EXHAUSTED'],
    [403, 'Quota Expired', 503, 'QUOTA_EXHAUSTED'],
  ] as const)('%i %s → %i %s, one request', async (gatewayStatus, errorMessage, status, code) => {
    fake.next({ kind: 'gateway', status: gatewayStatus, errorMessage });
    const res = await sendSms();
    expect(res.statusCode).toBe(status);
    expect(res.json.error.code).toBe(code);
    expect(res.json.error.retryable).toBe(false);
    expect(JSON.stringify(res)).not.toContain(TEST_APPCODE);
    expect(fake.requests).toHaveLength(1);
  });

  it.each([500, 502, 503, 504])('%i is PROVIDER_ERROR and never retried (the backend may have sent)', async (gatewayStatus) => {
    fake.next({ kind: 'raw', status: gatewayStatus, body: 'upstream failed' });
    const res = await sendSms();
    expect(res.statusCode).toBe(502);
    expect(res.json.error).toMatchObject({ code: 'PROVIDER_ERROR', retryable: false });
    expect(fake.requests).toHaveLength(1);
  });

  it('flow control is retried (nothing was sent), bounded, then PROVIDER_THROTTLED with Retry-After', async () => {
    const throttled: Behaviour = { kind: 'gateway', status: 403, errorMessage: 'Throttled by APP Flow Control' };
    fake.fallback = throttled;
    const res = await sendSms();
    expect(res.statusCode).toBe(503);
    expect(res.json.error).toMatchObject({ code: 'PROVIDER_THROTTLED', retryable: true });
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(fake.requests).toHaveLength(1 + RETRIES);
  });

  it('a throttle followed by OK is sent, with two requests', async () => {
    fake.next({ kind: 'gateway', status: 403, errorMessage: 'Throttled by API Flow Control' }, { kind: 'vendor', code: 'OK', message: '发送成功' });
    const res = await sendSms();
    expect(res.statusCode).toBe(200);
    expect(fake.requests).toHaveLength(2);
    expectSmsRequest(0);
    expectSmsRequest(1);
  });
});

describe('answers that leave the outcome unknown: 504, exactly one request, never "sent"', () => {
  it.each([
    ['a hang (timeout)', { kind: 'hang' }],
    ['a reset after the request was read', { kind: 'reset' }],
    ['a non-JSON 200', { kind: 'raw', status: 200, body: '<html>ok</html>' }],
    ['a JSON array 200', { kind: 'json', body: [{ Code: 'OK' }] }],
    ['JSON without Code', { kind: 'json', body: { Message: '发送成功' } }],
    ['an answer slower than the deadline', { kind: 'delay', ms: 600, then: { kind: 'vendor', code: 'OK', message: '发送成功' } }],
  ] as Array<[string, Behaviour]>)('%s', async (_name, behaviour) => {
    fake.next(behaviour);
    const res = await sendSms();
    expect(res.statusCode).toBe(504);
    expect(res.json.error).toMatchObject({ code: 'OUTCOME_UNKNOWN', retryable: false });
    expect(fake.requests).toHaveLength(1);
  });

  it('an unknown outcome is kept under its idempotency key: the replay sends nothing', async () => {
    fake.next({ kind: 'hang' });
    const job = { ...smsJob, idempotencyKey: 'unknown-1' };
    expect((await sendSms(job)).statusCode).toBe(504);
    const replay = await sendSms(job);
    expect(replay.statusCode).toBe(504);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(fake.requests).toHaveLength(1);
  });

  it('a retryable failure (vendor 106) frees the key: the same key sends on retry', async () => {
    fake.next({ kind: 'vendor', code: '106', message: '系统错误!' });
    const job = { ...smsJob, idempotencyKey: 'retry-106' };
    expect((await sendSms(job)).statusCode).toBe(502);
    const retried = await sendSms(job);
    expect(retried.statusCode).toBe(200);
    expect(retried.json.replayed).toBe(false);
    expect(fake.requests).toHaveLength(2);
  });
});

describe('connection refused', () => {
  it('is retried (nothing was sent) up to UPSTREAM_RETRIES, then PROVIDER_ERROR retryable', async () => {
    const port = await closedPort();
    const refused = invoker('long-sms', { env: env({ LONG_SMS_URL: `http://127.0.0.1:${port}/largesms` }), retryDelayMs: 5, catalog: null });
    const before = logs.lines.length;
    const res = await refused({ path: '/sms', body: smsJob, headers: auth });
    expect(res.statusCode).toBe(502);
    expect(res.json.error).toMatchObject({ code: 'PROVIDER_ERROR', retryable: true });
    expect(res.json.error.message).toContain('nothing was sent');
    const line = logs.parsed().slice(before).find((l) => l.event === 'http');
    expect(line.attempts).toBe(1 + RETRIES);
  });
});

describe('voice answers', () => {
  it.each([
    ['ReturnStatus Success', { ReturnStatus: 'Success', Message: 'ok', RemainPoint: 9, TaskID: 123, SuccessCounts: 1 }, 200, undefined],
    ['Code OK', { Code: 'OK', Message: '发送成功' }, 200, undefined],
    ['ReturnStatus Faild (the vendor spelling)', { ReturnStatus: 'Faild', Message: '余额不足' }, 502, 'PROVIDER_ERROR'],
    ['Success with 0 successful calls', { ReturnStatus: 'Success', Message: 'ok', SuccessCounts: 0 }, 502, 'PROVIDER_ERROR'],
    ['Code 105', { Code: '105', Message: '模板编号错误!' }, 422, 'TEMPLATE_MISMATCH'],
    ['an unknown shape', { result: 1 }, 504, 'OUTCOME_UNKNOWN'],
  ] as const)('%s', async (_name, body, status, code) => {
    fake.next({ kind: 'json', body });
    const content = '您好，您的快递已送达小区门口，请前来签收。';
    const res = await sendVoice({ phone: '+8613900139000', content });
    expect(res.statusCode).toBe(status);
    if (code) expect(res.json.error.code).toBe(code);
    else expect(res.json).toMatchObject({ status: 'sent', channel: 'voice', phone: '139****9000' });
    expect(fake.requests).toHaveLength(1);
    const got = fake.requests[0];
    expect(got?.path).toBe('/chuangxin/yytz');
    expect(got?.query).toEqual({ content, mobile: '13900139000' });
    expect(got?.headers.authorization).toBe(`APPCODE ${TEST_APPCODE}`);
  });
});

describe('the shared client', () => {
  it('keeps the connection alive between sends (one TCP connection for two requests)', async () => {
    expect((await sendSms()).statusCode).toBe(200);
    expect((await sendVoice()).statusCode).toBe(200);
    expect(fake.requests).toHaveLength(2);
    expect(fake.connections).toBeLessThanOrEqual(1);
  });

  it('sends CJK, emoji and reserved characters so they decode back to exactly the text', async () => {
    const params = ['a b+c&d=e?f#g%h', '张三😀/\\'];
    const res = await sendSms({ phone: '13800138000', skin: '7', params });
    expect(res.statusCode).toBe(200);
    expect(fake.requests[0]?.query.param).toBe(params.join('|'));
    expect(fake.requests[0]?.rawQuery.startsWith('param=a%20b%2Bc%26d%3De%3Ff%23g%25h%7C%E5%BC%A0%E4%B8%89%F0%9F%98%80%2F%5C&')).toBe(true);
  });
});

import { beforeAll, describe, expect, it } from 'vitest';
import {
  type Behaviour,
  closedPort,
  type FakeProvider,
  type RecordedRequest,
  startFakeProvider,
  TEST_APPCODE,
} from '../support/fake-provider.ts';
import type { HttpResult } from '../support/fc.ts';
import { type Invoker, invoker, LIMITS_AND_QUIET_HOURS_OFF } from '../support/functions.ts';
import { startWorld } from '../support/world.ts';

/**
 * Every kind of answer the gateway and the two vendors can give, driven end to end: FC HTTP event
 * → function → shared provider client → a real local server, and back to the caller's answer.
 * Each case asserts the caller's answer (status, error code, retryable, providerCode,
 * Retry-After) and what the provider received (path, decoded query, AppCode header, count).
 */

const CALLER_KEY = 'caller-key-provider-answers-0123';
const auth = { authorization: `Bearer ${CALLER_KEY}` };
const PHONE = '13800138000';
const SMS_JOB = { phone: PHONE, skin: '1', params: ['1234'] };
const VOICE_JOB = { phone: PHONE, content: '您好，您的快递已送达。' };
const RETRIES = 2;

let sms: Invoker;
let voice: Invoker;

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...providerEnv,
    API_KEYS: `answers:${CALLER_KEY}`,
    UPSTREAM_TIMEOUT_MS: '300',
    UPSTREAM_RETRIES: String(RETRIES),
    // One phone, many sends: the limits have their own tests.
    ...LIMITS_AND_QUIET_HOURS_OFF,
    ...extra,
  };
}

const { fake, providerEnv, logs } = await startWorld({});
beforeAll(async () => {
  sms = invoker('long-sms', { env: env(), retryDelayMs: 5 });
  voice = invoker('voice-notify', { env: env(), retryDelayMs: 5 });
});

const sendSms = (call: Invoker = sms, body: Record<string, unknown> = SMS_JOB) => call({ path: '/sms', headers: auth, body });
const sendVoice = (body: Record<string, unknown> = VOICE_JOB) => voice({ path: '/voice', headers: auth, body });

function expectSmsRequests(n: number, provider: FakeProvider = fake): void {
  expect(provider.requests).toHaveLength(n);
  for (const r of provider.requests) {
    expect(r.method).toBe('GET');
    expect(r.path).toBe('/largesms');
    expect(r.rawQuery).toBe(`param=1234&phone=${PHONE}&skin=1`);
    expect(r.query).toEqual({ param: '1234', phone: PHONE, skin: '1' });
    expect(r.headers.authorization).toBe(`APPCODE ${TEST_APPCODE}`);
  }
}

function expectVoiceRequests(n: number): void {
  expect(fake.requests).toHaveLength(n);
  for (const r of fake.requests as RecordedRequest[]) {
    expect(r.method).toBe('GET');
    expect(r.path).toBe('/chuangxin/yytz');
    expect(r.query).toEqual({ content: VOICE_JOB.content, mobile: PHONE });
    expect(r.headers.authorization).toBe(`APPCODE ${TEST_APPCODE}`);
  }
}

interface ExpectedError {
  status: number;
  code: string;
  retryable: boolean;
  providerCode?: string;
  retryAfter?: string;
}

function expectError(res: HttpResult, e: ExpectedError): void {
  expect(res.statusCode).toBe(e.status);
  expect(res.json).toEqual({
    error: {
      code: e.code,
      message: expect.any(String),
      retryable: e.retryable,
      ...(e.providerCode !== undefined ? { providerCode: e.providerCode } : {}),
    },
  });
  expect(res.json.error.message.length).toBeGreaterThan(10);
  expect(res.headers['retry-after']).toBe(e.retryAfter);
}

function expectSent(res: HttpResult, channel: 'sms' | 'voice', providerCode: string): void {
  expect(res.statusCode).toBe(200);
  expect(res.json).toMatchObject({ status: 'sent', channel, phone: '138****8000', provider: { code: providerCode }, replayed: false });
}

/** The log line of the request that carried this idempotency key (one line per HTTP request, with the send's fields). */
function sendLine(idempotencyKey: string): Record<string, unknown> {
  const lines = logs.parsed().filter((l) => l.event === 'http' && l.idempotencyKey === idempotencyKey);
  expect(lines).toHaveLength(1);
  return lines[0];
}

const vendor = (code: string, message = '供应商消息'): Behaviour => ({ kind: 'vendor', code, message });
const gateway = (status: number, errorMessage: string): Behaviour => ({ kind: 'gateway', status, errorMessage });
const THROTTLE = gateway(403, 'Throttled by APP Flow Control');

describe('long SMS vendor codes (HTTP 200, {Code, Message})', () => {
  it.each(['OK', 'ok'])('%s is sent, after exactly one request', async (code) => {
    fake.next(vendor(code, '发送成功'));
    const res = await sendSms();
    expectSent(res, 'sms', code);
    expect(res.json.provider.message).toBe('发送成功');
    expectSmsRequests(1);
  });

  // The whole code → outcome table lives in test/unit/classify.test.ts, and each error code's
  // HTTP status in ERROR_STATUS (checked against the OpenAPI file in test/unit/openapi.test.ts).
  // Here: the HTTP plumbing end to end for one answer of each kind — a refusal (422), a
  // retryable refusal with Retry-After (429), a retryable and a final provider error (502).
  const table: Array<[string, ExpectedError]> = [
    ['102', { status: 429, code: 'RATE_LIMITED', retryable: true, retryAfter: '60' }],
    ['103', { status: 422, code: 'RECIPIENT_BLOCKED', retryable: false }],
    ['106', { status: 502, code: 'PROVIDER_ERROR', retryable: true }],
    ['4711', { status: 502, code: 'PROVIDER_ERROR', retryable: false }],
  ];
  it.each(table)('%s → %o, one request (a vendor answer is never retried automatically)', async (code, expected) => {
    fake.next(vendor(code));
    const res = await sendSms();
    expectError(res, { ...expected, providerCode: code });
    expectSmsRequests(1);
  });
});

describe('API Gateway refusals (X-Ca-Error-Message)', () => {
  const table: Array<[number, string, ExpectedError]> = [
    [400, 'Invalid AppCode `not exists`', { status: 502, code: 'PROVIDER_AUTH_FAILED', retryable: false }],
    [401, 'Invalid AppCode `not exists`', { status: 502, code: 'PROVIDER_AUTH_FAILED', retryable: false }],
    [403, 'Unauthorized', { status: 502, code: 'PROVIDER_AUTH_FAILED', retryable: false }],
    [403, 'Quota Exhausted', { status: 503, code: 'QUOTA_EXHAUSTED', retryable: false }],
    [403, 'Api Market Subscription quota exhausted', { status: 503, code: 'QUOTA_EXHAUSTED', retryable: false }],
    [403, 'Quota Expired', { status: 503, code: 'QUOTA_EXHAUSTED', retryable: false }],
    // Signature-mode refusals are our misconfiguration too (or a clock off by 15 minutes).
    [400, 'Invalid AppKey', { status: 502, code: 'PROVIDER_AUTH_FAILED', retryable: false }],
    [400, 'Invalid Timestamp', { status: 502, code: 'PROVIDER_AUTH_FAILED', retryable: false }],
    [400, 'Timestamp Expired', { status: 502, code: 'PROVIDER_AUTH_FAILED', retryable: false }],
    // Not a credential problem and not documented: a plain provider error, never retried.
    [404, 'Invalid Url', { status: 502, code: 'PROVIDER_ERROR', retryable: false }],
  ];
  it.each(table)('%i %s → %o, one request', async (status, message, expected) => {
    fake.next(gateway(status, message));
    const res = await sendSms();
    expectError(res, expected);
    expectSmsRequests(1);
  });

  it('a wrong AppCode is refused by the gateway itself and logged loudly without the code', async () => {
    const wrong = invoker('long-sms', { env: env({ APPCODE: 'wrong-appcode-fedcba9876543210' }), retryDelayMs: 5 });
    const res = await sendSms(wrong, { ...SMS_JOB, idempotencyKey: 'wrong-appcode' });
    expectError(res, { status: 502, code: 'PROVIDER_AUTH_FAILED', retryable: false });
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]!.headers.authorization).toBe('APPCODE wrong-appcode-fedcba9876543210');
    const line = sendLine('wrong-appcode');
    expect(line.msg).toContain('PROVIDER CREDENTIALS REJECTED');
    expect(JSON.stringify(line)).not.toContain('wrong-appcode-fedcba9876543210');
  });

  it('flow control is retried 1 + UPSTREAM_RETRIES times, then PROVIDER_THROTTLED 503 with Retry-After', async () => {
    fake.next(...Array.from({ length: RETRIES + 1 }, () => THROTTLE));
    const res = await sendSms(sms, { ...SMS_JOB, idempotencyKey: 'throttled-thrice' });
    expectError(res, { status: 503, code: 'PROVIDER_THROTTLED', retryable: true, retryAfter: '1' });
    expectSmsRequests(RETRIES + 1);
    expect(sendLine('throttled-thrice').attempts).toBe(RETRIES + 1);
  });

  it.each(['USER', 'API', 'DOMAIN'])('%s flow control is throttling too (retried, then 503)', async (scope) => {
    fake.next(...Array.from({ length: RETRIES + 1 }, () => gateway(403, `Throttled by ${scope} Flow Control`)));
    const res = await sendSms();
    expectError(res, { status: 503, code: 'PROVIDER_THROTTLED', retryable: true, retryAfter: '1' });
    expectSmsRequests(RETRIES + 1);
  });

  it('flow control followed by OK is sent, with two requests', async () => {
    fake.next(THROTTLE, vendor('OK', '发送成功'));
    const res = await sendSms();
    expectSent(res, 'sms', 'OK');
    expectSmsRequests(2);
  });

  it('UPSTREAM_RETRIES=0 makes flow control answer after a single request', async () => {
    const once = invoker('long-sms', { env: env({ UPSTREAM_RETRIES: '0' }), retryDelayMs: 5 });
    fake.next(THROTTLE, vendor('OK'));
    const res = await sendSms(once);
    expectError(res, { status: 503, code: 'PROVIDER_THROTTLED', retryable: true, retryAfter: '1' });
    expectSmsRequests(1);
  });

  const serverErrors: Array<[string, Behaviour]> = [500, 502, 503, 504].flatMap(
    (status): Array<[string, Behaviour]> => [
      [`${status} with X-Ca-Error-Message`, gateway(status, 'Backend Service Unavailable')],
      [
        `${status} with an HTML body`,
        { kind: 'raw', status, body: '<html><body>Bad Gateway</body></html>', headers: { 'content-type': 'text/html' } },
      ],
    ],
  );
  it.each(serverErrors)('%s → PROVIDER_ERROR 502, exactly one request (the backend may have acted)', async (_name, behaviour) => {
    fake.next(behaviour, vendor('OK'));
    const res = await sendSms();
    expectError(res, { status: 502, code: 'PROVIDER_ERROR', retryable: false });
    expectSmsRequests(1);
  });
});

describe('answers that leave the outcome unknown are never "sent" and never retried', () => {
  const unreadable: Array<[string, Behaviour]> = [
    ['a hang past UPSTREAM_TIMEOUT_MS', { kind: 'hang' }],
    ['a connection reset after the request', { kind: 'reset' }],
    ['a non-JSON 200', { kind: 'raw', status: 200, body: 'OK' }],
    ['an empty 200', { kind: 'raw', status: 200, body: '' }],
    ['a JSON array 200 (even one holding an OK)', { kind: 'json', body: [{ Code: 'OK', Message: '发送成功' }] }],
    ['JSON without Code', { kind: 'json', body: { Message: '发送成功', RequestId: 'r-1' } }],
    ['JSON null', { kind: 'raw', status: 200, body: 'null' }],
    [
      'a 200 over the 256 KB answer limit',
      { kind: 'raw', status: 200, body: JSON.stringify({ Code: 'OK', Message: 'x'.repeat(300 * 1024) }) },
    ],
    ['a 200 with Code null', { kind: 'json', body: { Code: null, Message: '' } }],
  ];
  it.each(unreadable)('%s → OUTCOME_UNKNOWN 504, one request', async (_name, behaviour) => {
    fake.next(behaviour, vendor('OK'));
    const res = await sendSms();
    expectError(res, { status: 504, code: 'OUTCOME_UNKNOWN', retryable: false });
    expectSmsRequests(1);
  });

  it('connection refused → PROVIDER_ERROR 502 retryable, after 1 + UPSTREAM_RETRIES attempts', async () => {
    const port = await closedPort();
    const refused = invoker('long-sms', { env: env({ LONG_SMS_URL: `http://127.0.0.1:${port}/largesms` }), retryDelayMs: 5 });
    const res = await sendSms(refused, { ...SMS_JOB, idempotencyKey: 'refused-1' });
    expectError(res, { status: 502, code: 'PROVIDER_ERROR', retryable: true });
    expect(res.json.error.message).toContain('ECONNREFUSED');
    const line = sendLine('refused-1');
    expect(line).toMatchObject({ outcome: 'failed', errorCode: 'PROVIDER_ERROR', providerCode: 'ECONNREFUSED', attempts: RETRIES + 1 });
    expect(fake.requests).toHaveLength(0);
  });
});

describe('voice answer shapes', () => {
  it('{ReturnStatus: "Success"} is sent', async () => {
    fake.next({ kind: 'json', body: { ReturnStatus: 'Success', Message: 'ok', RemainPoint: 99, TaskID: 1234567, SuccessCounts: 1 } });
    const res = await sendVoice();
    expectSent(res, 'voice', 'Success');
    expectVoiceRequests(1);
  });

  it('{Code: "OK", Message} is sent', async () => {
    fake.next(vendor('OK', '发送成功'));
    const res = await sendVoice();
    expectSent(res, 'voice', 'OK');
    expectVoiceRequests(1);
  });

  const table: Array<[string, unknown, ExpectedError]> = [
    [
      '{ReturnStatus: "Faild"}',
      { ReturnStatus: 'Faild', Message: '参数错误', RemainPoint: 0, TaskID: 0, SuccessCounts: 0 },
      { status: 502, code: 'PROVIDER_ERROR', retryable: false, providerCode: 'Faild' },
    ],
    [
      '{ReturnStatus: "Success", SuccessCounts: 0}',
      { ReturnStatus: 'Success', Message: 'ok', TaskID: 0, SuccessCounts: 0 },
      { status: 502, code: 'PROVIDER_ERROR', retryable: false, providerCode: 'Success' },
    ],
    [
      '{Code: "105"}',
      { Code: '105', Message: '模板编号错误!' },
      { status: 422, code: 'TEMPLATE_MISMATCH', retryable: false, providerCode: '105' },
    ],
    ['an unknown shape {"result":1}', { result: 1 }, { status: 504, code: 'OUTCOME_UNKNOWN', retryable: false }],
    ['an unknown ReturnStatus', { ReturnStatus: 'Pending', Message: '' }, { status: 504, code: 'OUTCOME_UNKNOWN', retryable: false }],
  ];
  it.each(table)('%s → %o, one request', async (_name, body, expected) => {
    fake.next({ kind: 'json', body });
    const res = await sendVoice();
    expectError(res, expected);
    expectVoiceRequests(1);
  });

  it('a voice hang is OUTCOME_UNKNOWN after one request', async () => {
    fake.next({ kind: 'hang' });
    const res = await sendVoice();
    expectError(res, { status: 504, code: 'OUTCOME_UNKNOWN', retryable: false });
    expectVoiceRequests(1);
  });
});

describe('one keep-alive connection per instance', () => {
  it('two sequential sends travel on one TCP connection', async () => {
    const own = await startFakeProvider();
    try {
      const call = invoker('long-sms', { env: env({ LONG_SMS_URL: own.longSmsUrl }), retryDelayMs: 5 });
      expectSent(await sendSms(call), 'sms', 'OK');
      expectSent(await sendSms(call), 'sms', 'OK');
      expectSmsRequests(2, own);
      expect(own.connections).toBe(1);
      expect(own.requests[0]!.connection).toBe(1);
      expect(own.requests[1]!.connection).toBe(1);
    } finally {
      await own.close();
    }
  });

  it('a connection the server dropped after an answer is not reused (the next send opens a new one)', async () => {
    const own = await startFakeProvider();
    try {
      const call = invoker('long-sms', { env: env({ LONG_SMS_URL: own.longSmsUrl }), retryDelayMs: 5 });
      own.next({ kind: 'reset' });
      expectError(await sendSms(call), { status: 504, code: 'OUTCOME_UNKNOWN', retryable: false });
      expectSent(await sendSms(call), 'sms', 'OK');
      expectSmsRequests(2, own);
      expect(own.requests.map((r) => r.connection)).toEqual([1, 2]);
    } finally {
      await own.close();
    }
  });
});

describe('idempotency keys and provider answers', () => {
  it('an unknown outcome is kept: the same key replays it without a second request', async () => {
    fake.next({ kind: 'hang' });
    const job = { ...SMS_JOB, idempotencyKey: 'unknown-kept' };
    const first = await sendSms(sms, job);
    expectError(first, { status: 504, code: 'OUTCOME_UNKNOWN', retryable: false });
    const again = await sendSms(sms, job);
    expectError(again, { status: 504, code: 'OUTCOME_UNKNOWN', retryable: false });
    expect(again.headers['idempotent-replayed']).toBe('true');
    expectSmsRequests(1);
  });

  it('a non-retryable failure (107) is kept and replayed', async () => {
    fake.next(vendor('107'));
    const job = { ...SMS_JOB, idempotencyKey: 'failed-107-kept' };
    expectError(await sendSms(sms, job), { status: 502, code: 'PROVIDER_ERROR', retryable: false, providerCode: '107' });
    const again = await sendSms(sms, job);
    expectError(again, { status: 502, code: 'PROVIDER_ERROR', retryable: false, providerCode: '107' });
    expect(again.headers['idempotent-replayed']).toBe('true');
    expectSmsRequests(1);
  });

  const released: Array<[string, Behaviour[], ExpectedError]> = [
    ['vendor 106', [vendor('106')], { status: 502, code: 'PROVIDER_ERROR', retryable: true, providerCode: '106' }],
    ['vendor 102', [vendor('102')], { status: 429, code: 'RATE_LIMITED', retryable: true, providerCode: '102', retryAfter: '60' }],
    [
      'gateway flow control',
      Array.from({ length: RETRIES + 1 }, () => THROTTLE),
      { status: 503, code: 'PROVIDER_THROTTLED', retryable: true, retryAfter: '1' },
    ],
  ];
  it.each(released)('a retryable failure (%s) releases the key: the retry with the same key sends', async (name, behaviours, expected) => {
    fake.next(...behaviours);
    const job = { ...SMS_JOB, idempotencyKey: `released-${name.replace(/\W+/g, '-')}` };
    expectError(await sendSms(sms, job), expected);
    const retry = await sendSms(sms, job);
    expectSent(retry, 'sms', 'OK');
    expectSmsRequests(behaviours.length + 1);
    // …and once sent, the key is kept.
    const replay = await sendSms(sms, job);
    expect(replay.statusCode).toBe(200);
    expect(replay.json.replayed).toBe(true);
    expectSmsRequests(behaviours.length + 1);
  });

  it('a retryable failure gives the phone limit back: with a daily limit of 1, 106 then OK both reach the provider', async () => {
    const limited = invoker('long-sms', { env: env({ LIMIT_PHONE_DAILY: '1' }), retryDelayMs: 5 });
    fake.next(vendor('106'));
    expectError(await sendSms(limited), { status: 502, code: 'PROVIDER_ERROR', retryable: true, providerCode: '106' });
    expectSent(await sendSms(limited), 'sms', 'OK');
    expectSmsRequests(2);
    // The limit is real: a third send is refused before the provider.
    const third = await sendSms(limited);
    expect(third.statusCode).toBe(429);
    expect(third.json.error.code).toBe('RATE_LIMITED');
    expectSmsRequests(2);
  });
});

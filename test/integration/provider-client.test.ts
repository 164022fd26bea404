import { beforeAll, describe, expect, it } from 'vitest';
import { createProviderClient, type ProviderClient, type ProviderResult } from '#shared/provider/client';
import { longSmsRequest, voiceRequest } from '#shared/provider/request';
import {
  type Behaviour,
  closedPort,
  countRefusedConnects,
  type FakeProvider,
  type RecordedRequest,
  startFakeProvider,
  TEST_APPCODE,
} from '../support/fake-provider.ts';
import { startWorld } from '../support/world.ts';

/**
 * The shared provider client on its own, against a real local server acting as the gateway and
 * both vendors: the exact request that arrives (path, raw query bytes, decoded query, headers),
 * how many requests arrive for every kind of answer, and what the client makes of each.
 */

const PHONE = '13800138000';
const RETRIES = 2;
const TIMEOUT_MS = 300;

let client: ProviderClient;

const newClient = (retries = RETRIES) =>
  createProviderClient({ credentials: { kind: 'appcode', appCode: TEST_APPCODE }, timeoutMs: TIMEOUT_MS, retries, retryDelayMs: 5 });

const { fake } = await startWorld({});
beforeAll(async () => {
  client = newClient();
});

const sms = (params: string[] = ['1234'], extra: { sign?: string; skin?: string } = {}) =>
  client.send(longSmsRequest(fake.longSmsUrl, { phone: PHONE, skin: extra.skin ?? '1', sign: extra.sign }, params));
const voice = (content = '您好，您的快递已送达。') => client.send(voiceRequest(fake.voiceUrl, { phone: PHONE, content }));

function only(provider: FakeProvider = fake): RecordedRequest {
  expect(provider.requests).toHaveLength(1);
  return provider.requests[0]!;
}

function expectSmsRequest(r: RecordedRequest, param = '1234'): void {
  expect(r.method).toBe('GET');
  expect(r.path).toBe('/largesms');
  expect(r.query).toEqual({ param, phone: PHONE, skin: '1' });
  expect(r.headers.authorization).toBe(`APPCODE ${TEST_APPCODE}`);
}

const vendor = (code: string, message = '供应商消息'): Behaviour => ({ kind: 'vendor', code, message });
const gateway = (status: number, errorMessage: string): Behaviour => ({ kind: 'gateway', status, errorMessage });

describe('the request the provider receives', () => {
  it('long SMS: GET /largesms with the documented query in order, the AppCode header, JSON accepted, no body', async () => {
    const res = await sms(['1234'], { sign: '1' });
    expect(res).toMatchObject({ status: 'sent', attempts: 1, provider: { code: 'OK', message: '发送成功' } });
    const r = only();
    expect(r.method).toBe('GET');
    expect(r.path).toBe('/largesms');
    expect(r.rawQuery).toBe(`param=1234&phone=${PHONE}&skin=1&sign=1`);
    expect(r.query).toEqual({ param: '1234', phone: PHONE, skin: '1', sign: '1' });
    expect(r.headers.authorization).toBe(`APPCODE ${TEST_APPCODE}`);
    expect(r.headers.accept).toBe('application/json');
    expect(r.headers['user-agent']).toMatch(/^fc-notify\//);
    expect(r.headers['content-length'] ?? '0').toBe('0');
    expect(r.body.length).toBe(0);
  });

  it('voice: GET /chuangxin/yytz with content and mobile', async () => {
    const res = await voice('您好, 您的快递已送达小区门口, 请前来签收。');
    expect(res).toMatchObject({
      status: 'sent',
      attempts: 1,
      provider: { code: 'Success', ids: { TaskID: '1234567', SuccessCounts: '1' } },
    });
    const r = only();
    expect(r.method).toBe('GET');
    expect(r.path).toBe('/chuangxin/yytz');
    expect(r.rawQuery).toBe(
      `content=%E6%82%A8%E5%A5%BD%2C%20%E6%82%A8%E7%9A%84%E5%BF%AB%E9%80%92%E5%B7%B2%E9%80%81%E8%BE%BE%E5%B0%8F%E5%8C%BA%E9%97%A8%E5%8F%A3%2C%20%E8%AF%B7%E5%89%8D%E6%9D%A5%E7%AD%BE%E6%94%B6%E3%80%82&mobile=${PHONE}`,
    );
    expect(r.query).toEqual({ content: '您好, 您的快递已送达小区门口, 请前来签收。', mobile: PHONE });
    expect(r.headers.authorization).toBe(`APPCODE ${TEST_APPCODE}`);
  });
});

describe('encoding: every value decodes back to exactly the given text', () => {
  const values: Array<[string, string]> = [
    ['CJK', '张三，您好'],
    ['emoji', '🎉👨‍👩‍👧'],
    ['spaces', ' a  b '],
    ['ampersand', 'a&phone=13900000000'],
    ['hash', '#1#'],
    ['percent', '100%25 %zz'],
    ['plus', '1+1'],
    ['equals', 'k=v'],
    ['question mark', 'ok?x=1'],
    ['CR/LF', 'line1\r\nline2\nline3'],
  ];

  it.each(values)('SMS param with %s', async (_name, value) => {
    fake.next(vendor('OK', '发送成功'));
    const res = await sms([value]);
    expect(res.status).toBe('sent');
    expect(only().query).toEqual({ param: value, phone: PHONE, skin: '1' });
  });

  it.each(values)('voice content with %s', async (_name, value) => {
    fake.next({ kind: 'json', body: { ReturnStatus: 'Success', Message: 'ok', TaskID: 1, SuccessCounts: 1 } });
    const res = await voice(value);
    expect(res.status).toBe('sent');
    expect(only().query).toEqual({ content: value, mobile: PHONE });
  });

  it('params join with | in template order, and the raw bytes are percent-encoded UTF-8', async () => {
    // Skin 2 of the fake's templates has three variables: the realistic vendor checks the count.
    const res = await sms(['张三', 'A&B #7', '1+2=3?'], { skin: '2' });
    expect(res.status).toBe('sent');
    const r = only();
    expect(r.rawQuery).toBe(`param=%E5%BC%A0%E4%B8%89%7CA%26B%20%237%7C1%2B2%3D3%3F&phone=${PHONE}&skin=2`);
    expect(r.query.param).toBe('张三|A&B #7|1+2=3?');
    expect(r.query.param!.split('|')).toEqual(['张三', 'A&B #7', '1+2=3?']);
  });

  it('CR/LF, emoji and % travel as escapes, never raw', async () => {
    fake.next({ kind: 'json', body: { ReturnStatus: 'Success', Message: 'ok', SuccessCounts: 1 } });
    await voice('a\r\n😀 100%');
    const r = only();
    expect(r.rawQuery).toBe(`content=a%0D%0A%F0%9F%98%80%20100%25&mobile=${PHONE}`);
    expect(r.rawUrl).toMatch(/^[\x21-\x7e]+$/);
  });
});

describe('vendor answers: one request each, never retried by the client', () => {
  // The whole code → outcome table lives in test/unit/classify.test.ts. Here: the client's
  // plumbing over a real socket (one request, the vendor's code and message kept), including
  // the retryable answers (102, 106), which the client still never retries by itself.
  const table: Array<[string, Partial<ProviderResult>, Record<string, unknown>]> = [
    ['OK', { status: 'sent' }, {}],
    ['102', { status: 'rejected' }, { code: 'RATE_LIMITED', retryable: true, retryAfter: 60 }],
    ['103', { status: 'rejected' }, { code: 'RECIPIENT_BLOCKED', retryable: false }],
    ['106', { status: 'failed' }, { code: 'PROVIDER_ERROR', retryable: true }],
    ['9999', { status: 'failed' }, { code: 'PROVIDER_ERROR', retryable: false }],
  ];
  it.each(table)('Code %s → %o %o', async (code, result, error) => {
    fake.next(vendor(code), vendor('OK'));
    const res = await sms();
    expect(res).toMatchObject({ ...result, attempts: 1, provider: { code, message: '供应商消息' } });
    if (result.status === 'sent') expect(res.error).toBeUndefined();
    else expect(res.error).toMatchObject({ ...error, providerCode: code });
    expectSmsRequest(only());
  });

  const voiceShapes: Array<[string, unknown, string, string | undefined]> = [
    ['ReturnStatus Success', { ReturnStatus: 'Success', Message: 'ok', TaskID: 7, SuccessCounts: 1 }, 'sent', undefined],
    ['ReturnStatus Faild', { ReturnStatus: 'Faild', Message: '参数错误', TaskID: 0, SuccessCounts: 0 }, 'failed', 'PROVIDER_ERROR'],
    ['{Code, Message} OK', { Code: 'OK', Message: '发送成功' }, 'sent', undefined],
    ['{Code, Message} 103', { Code: '103', Message: '黑名单管控!' }, 'rejected', 'RECIPIENT_BLOCKED'],
    ['an unknown shape', { status: 'done' }, 'unknown', 'OUTCOME_UNKNOWN'],
    ['an unknown ReturnStatus', { ReturnStatus: 'Pending' }, 'unknown', 'OUTCOME_UNKNOWN'],
  ];
  it.each(voiceShapes)('voice %s → %s %s', async (_name, body, status, code) => {
    fake.next({ kind: 'json', body });
    const res = await voice();
    expect(res.status).toBe(status);
    expect(res.error?.code).toBe(code);
    expect(res.attempts).toBe(1);
    expect(only().path).toBe('/chuangxin/yytz');
  });
});

describe('gateway answers', () => {
  const once: Array<[number, string, string]> = [
    [400, 'Invalid AppCode `not exists`', 'PROVIDER_AUTH_FAILED'],
    [401, 'Invalid AppCode `not exists`', 'PROVIDER_AUTH_FAILED'],
    [403, 'Unauthorized', 'PROVIDER_AUTH_FAILED'],
    [403, 'Quota Exhausted', 'QUOTA_EXHAUSTED'],
    [403, 'Api Market Subscription quota exhausted', 'QUOTA_EXHAUSTED'],
    [403, 'Quota Expired', 'QUOTA_EXHAUSTED'],
    [
      400,
      'Invalid Signature, Server StringToSign:`GET#application/json####/largesms?param=1234&phone=13800138000&skin=1`',
      'PROVIDER_AUTH_FAILED',
    ],
    [500, 'Internal Error', 'PROVIDER_ERROR'],
    [502, 'Bad Gateway', 'PROVIDER_ERROR'],
    [503, 'Service Unavailable', 'PROVIDER_ERROR'],
    [504, 'Backend Timeout', 'PROVIDER_ERROR'],
  ];
  it.each(once)('%i %s → %s after exactly one request', async (status, message, code) => {
    fake.next(gateway(status, message), vendor('OK'));
    const res = await sms();
    expect(res).toMatchObject({ status: 'failed', attempts: 1, error: { code, retryable: false } });
    expectSmsRequest(only());
  });

  it('a real wrong AppCode is refused by the gateway with 401 and one request', async () => {
    const wrong = createProviderClient({
      credentials: { kind: 'appcode', appCode: 'not-the-right-appcode-123' },
      timeoutMs: TIMEOUT_MS,
      retries: RETRIES,
      retryDelayMs: 5,
    });
    const res = await wrong.send(longSmsRequest(fake.longSmsUrl, { phone: PHONE, skin: '1' }, ['1234']));
    expect(res).toMatchObject({
      status: 'failed',
      attempts: 1,
      error: { code: 'PROVIDER_AUTH_FAILED' },
      provider: { message: 'Invalid AppCode `not exists`' },
    });
    expect(only().headers.authorization).toBe('APPCODE not-the-right-appcode-123');
  });

  it('flow control is retried: 1 + retries requests, then PROVIDER_THROTTLED retryable with a retry-after', async () => {
    const throttle = gateway(403, 'Throttled by APP Flow Control');
    fake.next(throttle, throttle, throttle, vendor('OK'));
    const res = await sms();
    expect(res).toMatchObject({
      status: 'failed',
      attempts: RETRIES + 1,
      error: { code: 'PROVIDER_THROTTLED', retryable: true, retryAfter: 1 },
    });
    expect(fake.requests).toHaveLength(RETRIES + 1);
    for (const r of fake.requests) expectSmsRequest(r);
    // The fourth behaviour (OK) was never asked for.
    expect(fake.queue).toHaveLength(1);
  });

  it('flow control then OK is sent on the second request', async () => {
    fake.next(gateway(403, 'Throttled by API Flow Control'), vendor('OK', '发送成功'));
    const res = await sms();
    expect(res).toMatchObject({ status: 'sent', attempts: 2 });
    expect(fake.requests).toHaveLength(2);
  });

  it('with retries 0, flow control answers after one request', async () => {
    const noRetry = newClient(0);
    fake.next(gateway(403, 'Throttled by APP Flow Control'), vendor('OK'));
    const res = await noRetry.send(longSmsRequest(fake.longSmsUrl, { phone: PHONE, skin: '1' }, ['1234']));
    expect(res).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'PROVIDER_THROTTLED' } });
    expect(fake.requests).toHaveLength(1);
  });

  it('an answer that echoes our Authorization header has the AppCode removed before it is read', async () => {
    fake.next(vendor('OK', `发送成功 APPCODE ${TEST_APPCODE}`));
    const res = await sms();
    expect(res).toMatchObject({ status: 'sent', provider: { code: 'OK', message: '发送成功 APPCODE [REDACTED]' } });
    fake.next(gateway(401, `Invalid AppCode \`${TEST_APPCODE}\``));
    const refused = await sms();
    expect(refused).toMatchObject({
      status: 'failed',
      error: { code: 'PROVIDER_AUTH_FAILED' },
      provider: { message: 'Invalid AppCode `[REDACTED]`' },
    });
  });

  it('a redirect is not followed', async () => {
    fake.next({ kind: 'raw', status: 302, body: '', headers: { location: `${fake.url}/largesms?phone=${PHONE}` } }, vendor('OK'));
    const res = await sms();
    expect(res).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'PROVIDER_ERROR', retryable: false } });
    expect(fake.requests).toHaveLength(1);
  });
});

describe('answers that leave the outcome unknown: never sent, never retried', () => {
  const table: Array<[string, Behaviour]> = [
    ['a hang (timeout)', { kind: 'hang' }],
    [
      'an answer later than the timeout',
      { kind: 'delay', ms: TIMEOUT_MS + 200, next: { kind: 'vendor', code: 'OK', message: '发送成功' } },
    ],
    ['a reset after the request', { kind: 'reset' }],
    ['a non-JSON 200', { kind: 'raw', status: 200, body: 'success' }],
    ['JSON without Code', { kind: 'json', body: { Message: '发送成功' } }],
    ['a 200 JSON array', { kind: 'json', body: [{ Code: 'OK' }] }],
  ];
  it.each(table)('%s → unknown OUTCOME_UNKNOWN, exactly one request', async (_name, behaviour) => {
    fake.next(behaviour, vendor('OK'));
    const res = await sms();
    expect(res.status).toBe('unknown');
    expect(res.error).toMatchObject({ code: 'OUTCOME_UNKNOWN', retryable: false });
    expect(res.attempts).toBe(1);
    expectSmsRequest(only());
  });

  it('a hang ends at our deadline (the server never answers), reported as a timeout', async () => {
    fake.next({ kind: 'hang' });
    const res = await sms();
    expect(res.provider).toMatchObject({ message: 'timed out' });
  });

  it('a body that trickles in past the deadline ends at the deadline (headers came in time), reported as a timeout', async () => {
    // Every byte arrives well within the socket's idle time: only a total deadline can end this.
    fake.next({ kind: 'trickle', body: JSON.stringify({ Message: '发送成功', Code: 'OK' }), everyMs: 40 });
    const started = performance.now();
    const res = await sms();
    const took = performance.now() - started;
    expect(res).toMatchObject({ status: 'unknown', attempts: 1, error: { code: 'OUTCOME_UNKNOWN' }, provider: { message: 'timed out' } });
    expect(took).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
    expect(took).toBeLessThan(TIMEOUT_MS + 250);
    expectSmsRequest(only());
  });

  it('a voice hang is unknown after one request', async () => {
    fake.next({ kind: 'hang' });
    const res = await voice();
    expect(res).toMatchObject({ status: 'unknown', attempts: 1, error: { code: 'OUTCOME_UNKNOWN' } });
    expect(only().path).toBe('/chuangxin/yytz');
  });
});

describe('connection refused', () => {
  it.each([0, 1, RETRIES])('retries %i: 1 + retries connection attempts, then PROVIDER_ERROR retryable', async (retries) => {
    const port = await closedPort();
    const counter = countRefusedConnects(port);
    try {
      const res = await newClient(retries).send(longSmsRequest(`http://127.0.0.1:${port}/largesms`, { phone: PHONE, skin: '1' }, ['1234']));
      expect(res).toMatchObject({
        status: 'failed',
        attempts: retries + 1,
        provider: { code: 'ECONNREFUSED' },
        error: { code: 'PROVIDER_ERROR', retryable: true },
      });
      expect(counter.count()).toBe(retries + 1);
    } finally {
      counter.stop();
    }
  });
});

describe('keep-alive', () => {
  it('sequential sends (both channels, one host) reuse one connection', async () => {
    const own = await startFakeProvider();
    try {
      const c = newClient();
      const a = await c.send(longSmsRequest(own.longSmsUrl, { phone: PHONE, skin: '1' }, ['1111']));
      const b = await c.send(longSmsRequest(own.longSmsUrl, { phone: PHONE, skin: '1' }, ['2222']));
      const v = await c.send(voiceRequest(own.voiceUrl, { phone: PHONE, content: '您好' }));
      expect([a.status, b.status, v.status]).toEqual(['sent', 'sent', 'sent']);
      expect(own.requests).toHaveLength(3);
      expect(own.requests.map((r) => r.connection)).toEqual([1, 1, 1]);
      expect(own.connections).toBe(1);
    } finally {
      await own.close();
    }
  });

  it('a timed-out connection is not reused: the next send opens a new one', async () => {
    const own = await startFakeProvider();
    try {
      const c = newClient();
      own.next({ kind: 'hang' });
      expect((await c.send(longSmsRequest(own.longSmsUrl, { phone: PHONE, skin: '1' }, ['1111']))).status).toBe('unknown');
      expect((await c.send(longSmsRequest(own.longSmsUrl, { phone: PHONE, skin: '1' }, ['2222']))).status).toBe('sent');
      expect(own.requests.map((r) => r.connection)).toEqual([1, 2]);
    } finally {
      await own.close();
    }
  });
});

describe('answers axios decodes or refuses (issue 15)', () => {
  async function serve(answer: (res: import('node:http').ServerResponse) => void) {
    const { createServer } = await import('node:http');
    const seen: Array<Record<string, string | string[] | undefined>> = [];
    const server = createServer((req, res) => {
      seen.push(req.headers);
      req.resume();
      answer(res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const { port } = server.address() as import('node:net').AddressInfo;
    return {
      seen,
      url: `http://127.0.0.1:${port}/largesms`,
      close: () => new Promise<void>((r) => server.close(() => r())),
    };
  }
  const answer = JSON.stringify({ Message: '发送成功', Code: 'OK', RequestId: 'r-1' });

  it.each(['gzip', 'deflate', 'br'])('a %s-encoded answer is decoded and read', async (encoding) => {
    const zlib = await import('node:zlib');
    const body =
      encoding === 'gzip' ? zlib.gzipSync(answer) : encoding === 'deflate' ? zlib.deflateSync(answer) : zlib.brotliCompressSync(answer);
    const s = await serve((res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': encoding });
      res.end(body);
    });
    try {
      const res = await newClient().send(longSmsRequest(s.url, { phone: PHONE, skin: '1' }, ['1234']));
      expect(res).toMatchObject({ status: 'sent', provider: { code: 'OK', message: '发送成功' } });
      expect(s.seen[0]?.['accept-encoding']).toBe('gzip, compress, deflate, br');
    } finally {
      await s.close();
    }
  });

  it('an answer with a byte-order mark is read', async () => {
    const s = await serve((res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`\ufeff${answer}`);
    });
    try {
      const res = await newClient().send(longSmsRequest(s.url, { phone: PHONE, skin: '1' }, ['1234']));
      expect(res).toMatchObject({ status: 'sent', provider: { code: 'OK' } });
    } finally {
      await s.close();
    }
  });

  it('an answer over 256 KB is not read: unknown, not retried', async () => {
    const s = await serve((res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`{"Code":"OK","Message":"${'x'.repeat(300 * 1024)}"}`);
    });
    try {
      const res = await newClient().send(longSmsRequest(s.url, { phone: PHONE, skin: '1' }, ['1234']));
      expect(res).toMatchObject({
        status: 'unknown',
        attempts: 1,
        error: { code: 'OUTCOME_UNKNOWN' },
        provider: { code: 'ERR_BAD_RESPONSE' },
      });
    } finally {
      await s.close();
    }
  });

  it('an answer cut short after its headers is unknown, not retried', async () => {
    const s = await serve((res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"Code":');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    try {
      const res = await newClient().send(longSmsRequest(s.url, { phone: PHONE, skin: '1' }, ['1234']));
      expect(res).toMatchObject({
        status: 'unknown',
        attempts: 1,
        error: { code: 'OUTCOME_UNKNOWN' },
        // axios reports it as ERR_BAD_RESPONSE (stream aborted) or a reset, depending on timing.
        provider: { code: expect.stringMatching(/^(ERR_BAD_RESPONSE|ECONNRESET)$/) },
      });
    } finally {
      await s.close();
    }
  });
});

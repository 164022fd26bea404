import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFunction } from '#shared/fc/app';
import { createProviderClient } from '#shared/provider/client';
import { longSmsRequest, voiceRequest } from '#shared/provider/request';
import { type Behaviour, closedPort, type FakeProvider, startFakeProvider } from '../support/fake-provider.ts';
import { asHttpResult, captureLogs, fcContext, httpEvent } from '../support/fc.ts';
import { LIMITS_AND_QUIET_HOURS_OFF, SPECS } from '../support/functions.ts';

/**
 * Drives every provider error path with a distinctive AppCode, including answers that echo our
 * request back (the AppCode, the phone, the text), and proves the AppCode appears in no HTTP
 * answer (body or headers), no log line and nothing the client returns or throws; and that no
 * log line holds an unmasked phone number.
 */

const APPCODE = 'LEAKCHECK-appcode-7f3a9c';
const CALLER_KEY = 'LEAKCHECK-caller-key-1b2c3d4e';
const PHONE = '13812345678';
const UNMASKED_PHONE = /(?<!\d)1[3-9]\d{9}(?!\d)/;
const RETRIES = 1;

// Created before any function, so every line any runtime writes is captured.
const logs = captureLogs();
let fake: FakeProvider;
let refusedPort: number;
/** Everything that left a function or the client, serialized. */
const outputs: Array<{ path: string; text: string }> = [];

const vendor = (code: string, message = '供应商消息'): Behaviour => ({ kind: 'vendor', code, message });
const gateway = (status: number, errorMessage: string): Behaviour => ({ kind: 'gateway', status, errorMessage });
const THROTTLE = gateway(403, 'Throttled by APP Flow Control');

/** Every error path, plus answers that echo what we sent (a careless gateway or vendor). */
const PATHS: Array<[string, Behaviour[]]> = [
  ...['101', '102', '103', '104', '105', '106', '107', '1002', '1009', '7777'].map((c): [string, Behaviour[]] => [
    `vendor ${c}`,
    [vendor(c)],
  ]),
  ['gateway 400 Invalid AppCode', [gateway(400, 'Invalid AppCode `not exists`')]],
  ['gateway 401 Invalid AppCode', [gateway(401, 'Invalid AppCode `not exists`')]],
  ['gateway 403 Unauthorized', [gateway(403, 'Unauthorized')]],
  ['gateway 403 Quota Exhausted', [gateway(403, 'Quota Exhausted')]],
  ['gateway 403 subscription quota exhausted', [gateway(403, 'Api Market Subscription quota exhausted')]],
  ['gateway 403 Quota Expired', [gateway(403, 'Quota Expired')]],
  ['gateway flow control', Array.from({ length: RETRIES + 1 }, () => THROTTLE)],
  [
    'gateway 400 Invalid Signature',
    [gateway(400, `Invalid Signature, Server StringToSign:\`GET#application/json####/largesms?param=864213&phone=${PHONE}&skin=1\``)],
  ],
  ...[500, 502, 503, 504].map((s): [string, Behaviour[]] => [`gateway ${s}`, [gateway(s, 'Backend Service Unavailable')]]),
  ['a hang', [{ kind: 'hang' }]],
  ['a reset', [{ kind: 'reset' }]],
  ['a non-JSON 200', [{ kind: 'raw', status: 200, body: 'OK' }]],
  ['JSON without Code', [{ kind: 'json', body: { Message: '发送成功' } }]],
  ['a 200 JSON array', [{ kind: 'json', body: [{ Code: 'OK' }] }]],
  ['voice ReturnStatus Faild', [{ kind: 'json', body: { ReturnStatus: 'Faild', Message: '参数错误', TaskID: 0, SuccessCounts: 0 } }]],
  ['an unknown voice shape', [{ kind: 'json', body: { result: 1 } }]],
  // Echoes: the gateway or vendor repeats our Authorization header and the phone.
  ['gateway 401 echoing the AppCode', [gateway(401, `Invalid AppCode \`${APPCODE}\``)]],
  ['gateway 403 echoing the header', [gateway(403, `Unauthorized: APPCODE ${APPCODE} for ${PHONE}`)]],
  [
    'a 500 HTML body echoing the header',
    [
      {
        kind: 'raw',
        status: 500,
        body: `<pre>Authorization: APPCODE ${APPCODE}\nphone=${PHONE}</pre>`,
        headers: { 'content-type': 'text/html' },
      },
    ],
  ],
  ['a non-JSON 200 echoing the header', [{ kind: 'raw', status: 200, body: `bad request from APPCODE ${APPCODE} to ${PHONE}` }]],
  ['a vendor refusal echoing the header', [vendor('105', `模板错误 APPCODE ${APPCODE} ${PHONE}`)]],
  ['an unknown code echoing the header', [vendor(`E-${APPCODE}`, `APPCODE ${APPCODE}`)]],
  ['a success echoing the header', [vendor('OK', `发送成功 APPCODE ${APPCODE} ${PHONE}`)]],
  [
    'a voice success echoing the header',
    [{ kind: 'json', body: { ReturnStatus: 'Success', Message: `ok ${APPCODE} ${PHONE}`, TaskID: 1, SuccessCounts: 1 } }],
  ],
];

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    APPCODE,
    LONG_SMS_URL: fake.longSmsUrl,
    VOICE_URL: fake.voiceUrl,
    API_KEYS: `leak:${CALLER_KEY}`,
    UPSTREAM_TIMEOUT_MS: '300',
    UPSTREAM_RETRIES: String(RETRIES),
    // One phone, many sends: the limits have their own tests.
    ...LIMITS_AND_QUIET_HOURS_OFF,
    ...extra,
  };
}

/** JSON and a full-depth inspection (stack, cause, hidden fields) of anything that left the code. */
function serialize(value: unknown): string {
  let json: string;
  try {
    json = JSON.stringify(value, (_k, v: unknown) =>
      v instanceof Error ? { ...v, name: v.name, message: v.message, stack: v.stack, cause: v.cause } : v,
    );
  } catch {
    json = '';
  }
  return `${json}\n${inspect(value, { depth: Infinity, showHidden: true, getters: true })}`;
}

beforeAll(async () => {
  fake = await startFakeProvider({ appCode: APPCODE });
  refusedPort = await closedPort();
});
afterAll(async () => {
  logs.stop();
  await fake.close();
});

describe('the AppCode never leaves: HTTP answers and logs', () => {
  for (const channel of ['sms', 'voice'] as const) {
    const spec = SPECS[channel === 'sms' ? 'long-sms' : 'voice-notify'];
    const job =
      channel === 'sms' ? { phone: `+86 ${PHONE}`, skin: '1', params: ['864213'] } : { phone: PHONE, content: '您的验证码是864213' };

    it.each(PATHS)(`${channel}: %s`, async (name, behaviours) => {
      const handler = createFunction(spec, { env: env(), retryDelayMs: 5, catalog: null });
      fake.reset();
      fake.next(...behaviours);
      let raw: unknown;
      try {
        raw = await handler(
          httpEvent({
            path: `/${channel}`,
            headers: { authorization: `Bearer ${CALLER_KEY}` },
            body: { ...job, idempotencyKey: `leak-${name}` },
          }),
          fcContext(),
        );
      } catch (err) {
        outputs.push({ path: `${channel} ${name} (thrown)`, text: serialize(err) });
        throw err;
      }
      const res = asHttpResult(raw);
      outputs.push({ path: `${channel} ${name}`, text: `${res.body}\n${JSON.stringify(res.headers)}` });
      // The path was really driven: the provider got our AppCode, the caller got an answer.
      expect(fake.requests.length).toBeGreaterThanOrEqual(1);
      expect(fake.requests[0]!.headers.authorization).toBe(`APPCODE ${APPCODE}`);
      expect(res.statusCode).toBeGreaterThanOrEqual(200);
      expect(res.body).not.toContain(APPCODE);
      expect(JSON.stringify(res.headers)).not.toContain(APPCODE);
    });

    it(`${channel}: connection refused`, async () => {
      const handler = createFunction(spec, {
        env: env({ LONG_SMS_URL: `http://127.0.0.1:${refusedPort}/largesms`, VOICE_URL: `http://127.0.0.1:${refusedPort}/chuangxin/yytz` }),
        retryDelayMs: 5,
        catalog: null,
      });
      const res = asHttpResult(
        await handler(httpEvent({ path: `/${channel}`, headers: { authorization: `Bearer ${CALLER_KEY}` }, body: job }), fcContext()),
      );
      outputs.push({ path: `${channel} refused`, text: `${res.body}\n${JSON.stringify(res.headers)}` });
      expect(res.statusCode).toBe(502);
      expect(res.body).not.toContain(APPCODE);
    });
  }
});

describe('the AppCode never leaves: what the client returns or throws', () => {
  const client = () =>
    createProviderClient({ credentials: { kind: 'appcode', appCode: APPCODE }, timeoutMs: 300, retries: RETRIES, retryDelayMs: 5 });

  it.each(PATHS)('%s', async (name, behaviours) => {
    fake.reset();
    fake.next(...behaviours);
    const sms = await client().send(longSmsRequest(fake.longSmsUrl, { phone: PHONE, skin: '1' }, ['864213']));
    fake.next(...behaviours);
    const voice = await client().send(voiceRequest(fake.voiceUrl, { phone: PHONE, content: '您的验证码是864213' }));
    expect(fake.requests.length).toBeGreaterThanOrEqual(2);
    // Error objects are serialized with everything they hold; results are what callers build answers from.
    for (const r of [sms, voice]) {
      const text = serialize(r.error ?? null);
      outputs.push({ path: `client ${name} error`, text });
      expect(text).not.toContain(APPCODE);
    }
  });

  it('transport failures (refused, timeout, reset) carry no axios error, so no request headers', async () => {
    const refused = await client().send(longSmsRequest(`http://127.0.0.1:${refusedPort}/largesms`, { phone: PHONE, skin: '1' }, ['1']));
    fake.reset();
    fake.next({ kind: 'hang' }, { kind: 'reset' });
    const hang = await client().send(longSmsRequest(fake.longSmsUrl, { phone: PHONE, skin: '1' }, ['1']));
    const reset = await client().send(longSmsRequest(fake.longSmsUrl, { phone: PHONE, skin: '1' }, ['1']));
    expect([refused.error?.code, hang.error?.code, reset.error?.code]).toEqual(['PROVIDER_ERROR', 'OUTCOME_UNKNOWN', 'OUTCOME_UNKNOWN']);
    for (const r of [refused, hang, reset]) {
      const text = serialize(r);
      outputs.push({ path: `client transport ${r.provider?.code}`, text });
      expect(text).not.toContain(APPCODE);
      expect(text).not.toContain('Authorization');
    }
  });

  it('an error the client throws (an unencodable value) holds no AppCode', async () => {
    let thrown: unknown;
    try {
      await client().send({ channel: 'sms', endpoint: fake.longSmsUrl, query: [['param', '\ud800']] });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(Error);
    const text = serialize(thrown);
    outputs.push({ path: 'client thrown', text });
    expect(text).not.toContain(APPCODE);
  });
});

describe('the scan over everything collected', () => {
  it('covers every path, and no output and no log line holds the AppCode or the caller key', () => {
    // 2 channels × (paths + refused) HTTP answers, plus the client's own outputs.
    expect(outputs.length).toBeGreaterThanOrEqual(2 * (PATHS.length + 1) + 2 * PATHS.length);
    for (const o of outputs) {
      expect(o.text, o.path).not.toContain(APPCODE);
      expect(o.text, o.path).not.toContain(CALLER_KEY);
    }
    expect(logs.lines.length).toBeGreaterThanOrEqual(2 * (PATHS.length + 1));
    for (const line of logs.lines) {
      expect(line).not.toContain(APPCODE);
      expect(line).not.toContain(CALLER_KEY);
    }
  });

  it('no log line holds an unmasked phone number, and the masked form is logged', () => {
    for (const line of logs.lines) expect(line).not.toMatch(UNMASKED_PHONE);
    expect(logs.text()).toContain('138****5678');
  });

  it('the logs did record the failures (the scan read real lines)', () => {
    const errorCodes = new Set(
      logs
        .parsed()
        .map((l) => l.errorCode)
        .filter(Boolean),
    );
    for (const code of [
      'INVALID_PHONE',
      'RATE_LIMITED',
      'PROVIDER_AUTH_FAILED',
      'QUOTA_EXHAUSTED',
      'PROVIDER_THROTTLED',
      'PROVIDER_ERROR',
      'OUTCOME_UNKNOWN',
    ]) {
      expect(errorCodes).toContain(code);
    }
  });
});

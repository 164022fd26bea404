import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, REDACTED_KEYS } from '#shared/log';
import { type Behaviour, closedPort, type FakeProvider, startFakeProvider } from '../support/fake-provider.ts';
import { captureLogs } from '../support/fc.ts';
import { invoker } from '../support/functions.ts';

/**
 * Drives every error path with distinctive secrets, then scans everything that came out (log
 * lines, HTTP answers, thrown messages) for them, and for unmasked phone numbers.
 */

const APPCODE = 'AppCodeLEAK7c1e9f3a5b2d4e6f8a';
const APP_KEY = '204005555';
const APP_SECRET = 'AppSecretLEAK9d8c7b6a5f4e3d2c';
const CALLER_KEY = 'CallerKeyLEAK3f2e1d0c9b8a7f6e';
const CODE = '864213';
const SECRETS = [APPCODE, APP_SECRET, CALLER_KEY, CODE];
const PHONE = '13812345678';
const UNMASKED_PHONE = /(?<!\d)1[3-9]\d{9}(?!\d)/;

const auth = { authorization: `Bearer ${CALLER_KEY}` };
let fake: FakeProvider;
const logs = captureLogs();
const outputs: string[] = [];

const env = (extra: Record<string, string> = {}) => ({
  APPCODE,
  LONG_SMS_URL: fake.longSmsUrl,
  VOICE_URL: fake.voiceUrl,
  API_KEYS: `scanner:${CALLER_KEY}`,
  UPSTREAM_TIMEOUT_MS: '300',
  QUIET_HOURS: 'off',
  LIMIT_PHONE_INTERVAL_S: '0',
  LIMIT_PHONE_DAILY: '0',
  ...extra,
});

beforeAll(async () => {
  fake = await startFakeProvider({ appCode: APPCODE, appKey: APP_KEY, appSecret: APP_SECRET });
});
afterAll(async () => {
  logs.stop();
  await fake.close();
});

async function drive(
  fn: 'long-sms' | 'voice-notify',
  extraEnv: Record<string, string>,
  behaviours: Behaviour[],
  headers: Record<string, string> = auth,
) {
  const call = invoker(fn, { env: env(extraEnv), retryDelayMs: 5 });
  fake.reset();
  fake.next(...behaviours);
  const body = fn === 'long-sms' ? { phone: `+86${PHONE}`, skin: '1', params: [CODE] } : { phone: PHONE, content: `您的验证码是${CODE}` };
  try {
    const res = await call({ path: fn === 'long-sms' ? '/sms' : '/voice', headers, body });
    outputs.push(res.body, JSON.stringify(res.headers));
    return res;
  } catch (err) {
    outputs.push(String(err), (err as Error)?.stack ?? '');
    throw err;
  }
}

// The provider echoing our request back is the worst case: the scrubber must still catch it.
const echo = `upstream said: Authorization: APPCODE ${APPCODE}; phone=${PHONE}; param=${CODE}`;

const scenarios: Array<[string, 'long-sms' | 'voice-notify', Record<string, string>, Behaviour[], Record<string, string>?]> = [
  ['sent', 'long-sms', {}, []],
  ['vendor 101', 'long-sms', {}, [{ kind: 'vendor', code: '101', message: '手机号码格式错误!' }]],
  ['vendor 102', 'long-sms', {}, [{ kind: 'vendor', code: '102', message: '业务限流' }]],
  ['vendor 106', 'long-sms', {}, [{ kind: 'vendor', code: '106', message: '系统错误!' }]],
  ['gateway 401 bad AppCode', 'long-sms', {}, [{ kind: 'gateway', status: 401, errorMessage: 'Invalid AppCode `not exists`' }]],
  ['gateway 403 quota', 'long-sms', {}, [{ kind: 'gateway', status: 403, errorMessage: 'Quota Exhausted' }]],
  [
    'gateway 403 throttle',
    'long-sms',
    {},
    Array.from({ length: 3 }, () => ({ kind: 'gateway', status: 403, errorMessage: 'Throttled by APP Flow Control' }) as Behaviour),
  ],
  ['gateway 500', 'long-sms', {}, [{ kind: 'raw', status: 500, body: echo }]],
  ['non-JSON echo', 'long-sms', {}, [{ kind: 'raw', status: 200, body: echo }]],
  ['JSON echo with an unknown code', 'long-sms', {}, [{ kind: 'json', body: { Code: 'X1', Message: echo } }]],
  ['hang (timeout)', 'long-sms', {}, [{ kind: 'hang' }]],
  ['reset', 'long-sms', {}, [{ kind: 'reset' }]],
  ['voice sent', 'voice-notify', {}, []],
  ['voice unreadable echo', 'voice-notify', {}, [{ kind: 'raw', status: 200, body: echo }]],
  ['voice hang', 'voice-notify', {}, [{ kind: 'hang' }]],
  ['signature mode sent', 'long-sms', { APPCODE: '', APP_KEY, APP_SECRET }, []],
  [
    'signature mode, wrong secret (gateway echoes the string to sign)',
    'long-sms',
    { APPCODE: '', APP_KEY, APP_SECRET: `${APP_SECRET}-wrong` },
    [],
  ],
  ['bad caller key', 'long-sms', {}, [], { authorization: `Bearer ${CALLER_KEY}x` }],
  ['caller key in a wrong header', 'long-sms', {}, [], { 'x-api-token': CALLER_KEY }],
  ['rate limited', 'long-sms', { LIMIT_GLOBAL_DAILY: '1' }, []],
];

describe('secret hygiene across every error path', () => {
  it.each(scenarios)('%s', async (_name, fn, extra, behaviours, headers) => {
    const res = await drive(fn, extra, behaviours, headers);
    expect(res.statusCode).toBeGreaterThanOrEqual(200);
  });

  it('connection refused', async () => {
    const port = await closedPort();
    const res = await drive('long-sms', { LONG_SMS_URL: `http://127.0.0.1:${port}/largesms` }, []);
    expect(res.json.error.code).toBe('PROVIDER_ERROR');
  });

  it('misconfiguration: a short caller key, a bad timeout, a half signature pair', async () => {
    const broken: Array<Record<string, string>> = [
      { API_KEYS: `scanner:${CODE}` },
      { UPSTREAM_TIMEOUT_MS: APPCODE },
      { APPCODE: '', APP_KEY: '', APP_SECRET },
    ];
    for (const extra of broken) {
      const res = await drive('long-sms', extra, []);
      expect(res.statusCode).toBe(500);
      expect(res.json.error.message).toContain('misconfigured');
    }
  });

  it('a direct send that throws keeps secrets out of the thrown message', async () => {
    const call = invoker('long-sms', {
      env: env({ LONG_SMS_URL: 'http://127.0.0.1:1/largesms' }),
      senderDeps: { client: { send: () => Promise.reject(new Error('boom')) } },
    });
    const rt = call.handler.runtime;
    const err = await rt
      .sender!.send({ channel: 'sms', phone: PHONE, skin: '1', params: [CODE] }, { requestId: 'r', caller: 'scanner', logger: rt.logger })
      .catch((e: unknown) => e);
    outputs.push(String(err), JSON.stringify(err));
    expect(String(err)).toContain('boom');
  });

  it('nothing captured contains a secret, a verification code or an unmasked phone', () => {
    const everything = [...logs.lines, ...outputs];
    // The scenarios above really logged (one line per HTTP request, plus config lines).
    expect(logs.lines.length).toBeGreaterThan(25);
    for (const text of everything) {
      for (const secret of SECRETS) expect(text).not.toContain(secret);
      expect(text).not.toMatch(UNMASKED_PHONE);
    }
    // The scan looked at real diagnostics, not at silence.
    const joined = logs.text();
    expect(joined).toContain('PROVIDER CREDENTIALS REJECTED');
    expect(joined).toContain('138****5678');
    expect(joined).toContain('"caller":"scanner"');
    expect(joined).toContain('"authFailure":"unknown-key"');
    expect(joined).toContain('"outcome":"unknown"');
  });

  it('the redaction list covers credentials and message contents by field, before the scrubber', () => {
    const lines: string[] = [];
    const logger = createLogger({ destination: { write: (l: string) => void lines.push(l) } as never });
    logger.info(
      {
        headers: { authorization: 'Bearer abc', 'x-api-key': 'k' },
        params: ['9999'],
        content: '验证码1111',
        appSecret: 's',
        req: { query: { a: 1 } },
      },
      'probe',
    );
    const line = JSON.parse(lines[0]!);
    expect(line.headers).toEqual({ authorization: '[REDACTED]', 'x-api-key': '[REDACTED]' });
    expect(line.params).toBe('[REDACTED]');
    expect(line.content).toBe('[REDACTED]');
    expect(line.appSecret).toBe('[REDACTED]');
    expect(line.req.query).toBe('[REDACTED]');
    for (const k of ['appcode', 'appsecret', 'authorization', 'params', 'content']) expect(REDACTED_KEYS.has(k)).toBe(true);
  });

  it("redacts at any depth and in any case, without touching the caller's object", () => {
    const lines: string[] = [];
    const logger = createLogger({ destination: { write: (l: string) => lines.push(l) } as never });
    const fields = { outer: { inner: { AppCode: 'x', list: [{ Authorization: 'y' }] } }, keep: 'ok' };
    logger.info(fields, 'probe');
    const line = JSON.parse(lines[0]!);
    expect(line.outer.inner.AppCode).toBe('[REDACTED]');
    expect(line.outer.inner.list[0].Authorization).toBe('[REDACTED]');
    expect(line.keep).toBe('ok');
    expect(fields.outer.inner.AppCode).toBe('x');
  });
});

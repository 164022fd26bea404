import { describe, expect, it } from 'vitest';
import { invoker, invokers, PROTECTED_ROUTES, SPECS } from '../support/functions.ts';
import { startWorld } from '../support/world.ts';

const KEY = 'caller-key-auth-0123456789';
const NEXT_KEY = 'caller-key-rotated-9876543210';

const { fake, providerEnv, logs } = await startWorld({ clearLogs: true });
const fns = invokers({
  env: {
    ...providerEnv,
    // Two keys at once: the rotation window (old and new both valid).
    API_KEYS: `mobile-app:${KEY},mobile-app-next:${NEXT_KEY}`,
    VERIFY_SECRET: 'verify-secret-auth-0123456789',
    // The same phone four times in a row on the verification routes.
    LIMIT_VERIFICATION_INTERVAL_S: '0',
    LIMIT_PHONE_INTERVAL_S: '0',
    QUIET_HOURS: 'off',
  },
  retryDelayMs: 5,
});

const refusals: Array<[string, { headers?: Record<string, string>; query?: Record<string, string> }]> = [
  ['no key', {}],
  ['a wrong key', { headers: { authorization: 'Bearer caller-key-wrong-000000000' } }],
  ['a wrong X-Api-Key', { headers: { 'x-api-key': 'caller-key-wrong-000000000' } }],
  ['the key as Authorization without "Bearer"', { headers: { authorization: KEY } }],
  ['the key under another scheme', { headers: { authorization: `Basic ${KEY}` } }],
  ['the key in the query string', { query: { 'x-api-key': KEY, api_key: KEY } }],
  ['the key in a wrong header', { headers: { 'x-api-token': KEY } }],
  ['a prefix of the key', { headers: { authorization: `Bearer ${KEY.slice(0, -1)}` } }],
  ['the key with extra text', { headers: { authorization: `Bearer ${KEY}x` } }],
  ['a valid Bearer wrongly paired', { headers: { authorization: `Bearer ${KEY} ${KEY}` } }],
];

describe.each(PROTECTED_ROUTES)('POST $path ($fn)', ({ fn, path, body }) => {
  it.each(refusals)('refuses %s with the same 401 and no provider call', async (_name, input) => {
    const res = await fns[fn]({ path, body, ...input });
    expect(res.statusCode).toBe(401);
    // The same answer whatever was wrong: nothing tells a prober how close they came.
    expect(res.json).toEqual({ error: { code: 'UNAUTHORIZED', message: 'missing or invalid API key', retryable: false } });
    expect(fake.requests).toHaveLength(0);
    const line = logs.parsed().find((l) => l.event === 'http');
    expect(line.status).toBe(401);
    expect(['missing', 'malformed', 'unknown-key']).toContain(line.authFailure);
    expect(line.caller).toBeUndefined();
    expect(logs.text()).not.toContain(KEY);
  });

  it.each([
    ['Authorization: Bearer', { authorization: `Bearer ${KEY}` }, 'mobile-app'],
    ['X-Api-Key', { 'X-Api-Key': KEY }, 'mobile-app'],
    ['lower-case bearer scheme', { authorization: `bearer ${KEY}` }, 'mobile-app'],
    ['the second (rotated) key', { authorization: `Bearer ${NEXT_KEY}` }, 'mobile-app-next'],
  ])('accepts a valid key via %s and logs the caller by name only', async (_name, headers, caller) => {
    const res = await fns[fn]({ path, body, headers });
    expect(res.statusCode).not.toBe(401);
    const line = logs.parsed().find((l) => l.event === 'http');
    expect(line.caller).toBe(caller);
    expect(line.authFailure).toBeUndefined();
    expect(logs.text()).not.toContain(KEY);
    expect(logs.text()).not.toContain(NEXT_KEY);
    if (fn === 'template-validate' || path === '/verify/check') {
      expect(res.statusCode).toBe(200);
      expect(typeof res.json.valid).toBe('boolean');
      expect(fake.requests).toHaveLength(0);
    } else {
      expect(res.statusCode).toBe(200);
      expect(res.json.status).toBe('sent');
      expect(fake.requests).toHaveLength(1);
    }
  });

  it('checks the key before reading the body: an unauthenticated malformed body gets 401, not 400', async () => {
    const res = await fns[fn]({ path, rawBody: '{"phone":' });
    expect(res.statusCode).toBe(401);
  });
});

describe('GET /healthz', () => {
  it.each(Object.keys(SPECS) as Array<keyof typeof SPECS>)('%s answers without a key and calls nobody', async (fn) => {
    const res = await fns[fn]({ method: 'GET', path: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json).toEqual({ ok: true });
    expect(fake.requests).toHaveLength(0);
  });
});

describe('fail closed', () => {
  const env = (extra: Record<string, string>) => ({
    ...providerEnv,
    QUIET_HOURS: 'off',
    ...extra,
  });

  it.each(PROTECTED_ROUTES)('with no API_KEYS, $path refuses to send, naming the variable', async ({ fn, path, body }) => {
    const call = invoker(fn, { env: env({}) });
    const res = await call({ path, body, headers: { authorization: `Bearer ${KEY}` } });
    expect(res.statusCode).toBe(500);
    expect(res.json.error.code).toBe('INTERNAL');
    expect(res.json.error.message).toContain('API_KEYS');
    expect(fake.requests).toHaveLength(0);
  });

  it('ALLOW_UNAUTHENTICATED=1 opens the API on purpose and says so at start', async () => {
    const call = invoker('long-sms', { env: env({ ALLOW_UNAUTHENTICATED: '1' }) });
    expect(logs.text()).toContain('ALLOW_UNAUTHENTICATED=1');
    const res = await call({ path: '/sms', body: PROTECTED_ROUTES[0].body });
    expect(res.statusCode).toBe(200);
    expect(logs.parsed().find((l) => l.event === 'http').caller).toBe('anonymous');
    expect(fake.requests).toHaveLength(1);
  });

  it('ALLOW_UNAUTHENTICATED=1 does not open an API that has keys', async () => {
    const call = invoker('long-sms', { env: env({ ALLOW_UNAUTHENTICATED: '1', API_KEYS: `app:${KEY}` }) });
    const res = await call({ path: '/sms', body: PROTECTED_ROUTES[0].body });
    expect(res.statusCode).toBe(401);
    expect(fake.requests).toHaveLength(0);
  });
});

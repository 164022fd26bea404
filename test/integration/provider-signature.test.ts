import { beforeAll, describe, expect, it } from 'vitest';
import { type Invoker, invoker } from '../support/functions.ts';
import { startWorld } from '../support/world.ts';

const APP_KEY = '204001234';
const APP_SECRET = 'gw-secret-Qm7Zt2Lp9Xv4Rk8Jd3';
const KEY = 'caller-key-signature-0123456';
const auth = { authorization: `Bearer ${KEY}` };
let sms: Invoker;
let voice: Invoker;

const build = (secret: string) => ({
  env: {
    APP_KEY,
    APP_SECRET: secret,
    LONG_SMS_URL: fake.longSmsUrl,
    VOICE_URL: fake.voiceUrl,
    API_KEYS: `app:${KEY}`,
    LIMIT_PHONE_INTERVAL_S: '0',
    QUIET_HOURS: 'off',
  },
  retryDelayMs: 5,
});

const { fake, logs } = await startWorld({ provider: { appKey: APP_KEY, appSecret: APP_SECRET } });
beforeAll(async () => {
  sms = invoker('long-sms', build(APP_SECRET));
  voice = invoker('voice-notify', build(APP_SECRET));
});

describe('signature mode (APP_KEY/APP_SECRET) against a gateway that verifies signatures', () => {
  it('sends an SMS the gateway accepts; the secret never travels and no AppCode header is sent', async () => {
    const res = await sms({
      path: '/sms',
      headers: auth,
      body: { phone: '13800138000', skin: '2', params: ['张三&a=b', '#1%2', 'x\r\ny'] },
    });
    expect(res.statusCode).toBe(200);
    expect(fake.requests).toHaveLength(1);
    const got = fake.requests[0]!;
    expect(got.headers.authorization).toBeUndefined();
    expect(got.headers['x-ca-key']).toBe(APP_KEY);
    expect(got.headers['x-ca-signature-method']).toBe('HmacSHA256');
    expect(got.headers['x-ca-signature-headers']).toBe('x-ca-key,x-ca-nonce,x-ca-signature-method,x-ca-timestamp');
    expect(Math.abs(Number(got.headers['x-ca-timestamp']) - Date.now())).toBeLessThan(60_000);
    expect(got.query.param).toBe('张三&a=b|#1%2|x\r\ny');
    expect(JSON.stringify({ h: got.headers, u: got.rawUrl })).not.toContain(APP_SECRET);
  });

  it('signs voice requests too', async () => {
    const res = await voice({
      path: '/voice',
      headers: auth,
      body: { phone: '13900139000', content: '您好，您的快递已送达小区门口，请前来签收。' },
    });
    expect(res.statusCode).toBe(200);
    expect(fake.requests[0]!.headers['x-ca-signature']).toEqual(expect.any(String));
  });

  it('signs every retry afresh: after gateway flow control the retry carries a new nonce and is accepted', async () => {
    fake.next({ kind: 'gateway', status: 403, errorMessage: 'Throttled by APP Flow Control' });
    const res = await sms({ path: '/sms', headers: auth, body: { phone: '13800138001', skin: '1', params: ['4321'] } });
    expect(res.statusCode).toBe(200);
    expect(fake.requests).toHaveLength(2);
    expect(fake.requests[0]!.headers['x-ca-nonce']).not.toBe(fake.requests[1]!.headers['x-ca-nonce']);
  });

  it('a wrong secret is PROVIDER_AUTH_FAILED; the echoed string to sign reaches no log with the code or phone', async () => {
    const wrong = invoker('long-sms', build('gw-secret-WRONG-000000000000'));
    const res = await wrong({ path: '/sms', headers: auth, body: { phone: '13800138002', skin: '1', params: ['975318'] } });
    expect(res.statusCode).toBe(502);
    expect(res.json.error.code).toBe('PROVIDER_AUTH_FAILED');
    expect(fake.requests).toHaveLength(1);
    const text = logs.text();
    expect(text).toContain('PROVIDER CREDENTIALS REJECTED');
    expect(text).not.toContain('975318');
    expect(text).not.toContain('13800138002');
    expect(text).not.toContain('gw-secret-WRONG');
    expect(res.body).not.toContain('975318');
  });

  it('the gateway refuses a replayed request (same nonce), which our fresh nonces never trigger', async () => {
    await sms({ path: '/sms', headers: auth, body: { phone: '13800138003', skin: '1', params: ['1111'] } });
    const first = fake.requests[0]!;
    const replay = await fetch(`${fake.url}${first.rawUrl}`, { headers: first.headers as Record<string, string> });
    expect(replay.status).toBe(400);
    expect(replay.headers.get('x-ca-error-message')).toBe('Nonce Used');
  });
});

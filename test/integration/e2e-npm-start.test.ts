import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeProvider, startFakeProvider, TEST_APPCODE } from '../support/fake-provider.ts';
import { type SpawnedServer, spawnNpmStart } from '../support/spawn-server.ts';

const CALLER_KEY = 'e2e-caller-key-0123456789';

async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, headers: res.headers, json: (await res.json()) as any };
}

describe('npm start against the fake provider (AppCode mode)', () => {
  let fake: FakeProvider;
  let server: SpawnedServer;

  beforeAll(async () => {
    fake = await startFakeProvider();
    // Voice quiet hours (09:00-20:00 Beijing) are tested with a fixed clock elsewhere; this test runs at any hour.
    server = await spawnNpmStart({
      APPCODE: TEST_APPCODE,
      LONG_SMS_URL: fake.longSmsUrl,
      VOICE_URL: fake.voiceUrl,
      API_KEYS: `e2e:${CALLER_KEY}`,
      QUIET_HOURS: 'off',
    });
  });
  afterAll(async () => {
    await server?.stop();
    await fake?.close();
  });

  it('sends POST /sms over HTTP and the provider receives exactly that request', async () => {
    const res = await post(
      `${server.url}/sms`,
      { phone: '0086 13800138000', skin: '2', params: ['张三', 'A-42', '3'] },
      { authorization: `Bearer ${CALLER_KEY}` },
    );
    expect(res.json).toMatchObject({ status: 'sent' });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ status: 'sent', channel: 'sms', phone: '138****8000', provider: { code: 'OK' }, replayed: false });
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]?.path).toBe('/largesms');
    // sign "1" comes from the template catalog (templates.json), which npm start loads.
    expect(fake.requests[0]?.query).toEqual({ param: '张三|A-42|3', phone: '13800138000', skin: '2', sign: '1' });
    expect(fake.requests[0]?.headers.authorization).toBe(`APPCODE ${TEST_APPCODE}`);
  });

  it('sends POST /voice over HTTP', async () => {
    const content = '您好，您的快递已送达小区门口，请前来签收。';
    const res = await post(`${server.url}/voice`, { phone: '13900139000', content }, { 'x-api-key': CALLER_KEY });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ status: 'sent', channel: 'voice', phone: '139****9000', provider: { code: 'Success' } });
    const got = fake.requests.at(-1);
    expect(got?.path).toBe('/chuangxin/yytz');
    expect(got?.query).toEqual({ content, mobile: '13900139000' });
  });

  it('refuses a caller without a key, and a bad body, without calling the provider', async () => {
    const before = fake.requests.length;
    const noKey = await post(`${server.url}/sms`, { phone: '13800138000', skin: '1', params: ['1'] });
    expect(noKey.status).toBe(401);
    const bad = await fetch(`${server.url}/sms`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${CALLER_KEY}` },
      body: '{"phone":',
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).error.code).toBe('INVALID_REQUEST');
    expect(fake.requests.length).toBe(before);
  });

  it('answers GET /openapi.json with the whole API (one origin hosts all three functions), without a key', async () => {
    const res = await fetch(`${server.url}/openapi.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await res.text()).toBe(readFileSync(join(import.meta.dirname, '..', '..', 'openapi.json'), 'utf8'));
  });

  it('hands a raw FC event to a handler through POST /invoke/<function>', async () => {
    const event = {
      version: 'v1',
      rawPath: '/healthz',
      headers: {},
      queryParameters: {},
      body: '',
      isBase64Encoded: false,
      requestContext: { http: { method: 'GET', path: '/healthz' }, requestId: 'x' },
    };
    const res = await post(`${server.url}/invoke/voice-notify`, event);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ statusCode: 200, body: '{"ok":true}' });
  });

  it('never prints the AppCode or the caller key', () => {
    expect(server.output()).not.toContain(TEST_APPCODE);
    expect(server.output()).not.toContain(CALLER_KEY);
  });
});

describe('the start script with no AppCode', () => {
  it('runs the sandbox, says so, answers magic numbers, and exits cleanly on SIGTERM', async () => {
    const server = await spawnNpmStart({}, { direct: true });
    try {
      expect(server.output()).toContain('SANDBOX mode');
      const ok = await post(`${server.url}/sms`, { phone: '13800138000', skin: '1', params: ['1234'] });
      expect(ok.status).toBe(200);
      expect(ok.json.status).toBe('sent');
      const r105 = await post(`${server.url}/sms`, { phone: '13400000105', skin: '1', params: ['1234'] });
      expect(r105.status).toBe(422);
      expect(r105.json.error).toMatchObject({ code: 'TEMPLATE_MISMATCH', providerCode: '105' });
      const r102 = await post(`${server.url}/voice`, { phone: '13400000102', content: '测试' });
      expect(r102.status).toBe(429);
      expect(r102.headers.get('retry-after')).toBe('60');
    } finally {
      expect(await server.stop('SIGTERM')).toBe(0);
      expect(server.output()).toContain('SIGTERM: shutting down');
    }
  });
});

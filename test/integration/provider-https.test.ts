import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createProviderClient } from '#shared/provider/client';
import { longSmsRequest } from '#shared/provider/request';
import { invoker } from '../support/functions.ts';
import { startWorld } from '../support/world.ts';

/**
 * The provider client over real TLS. The fake provider serves a self-signed certificate; a child
 * process trusts it the way an operator would trust a private CA (NODE_EXTRA_CA_CERTS), so the
 * production code needs no switch to weaken verification. In this process, which does not trust
 * it, the certificate must be refused before any request is written.
 */

const run = promisify(execFile);
const APPCODE = 'tls-appcode-5e6f7a8b9c0d1e2f';
const CALLER_KEY = 'tls-caller-key-0123456789abcdef';
const PHONE = '13800138000';
const CHILD = join(import.meta.dirname, '..', 'support', 'https-child.ts');

const { fake, logs } = await startWorld({ provider: { https: true, appCode: APPCODE } });

interface ChildOutput {
  answers: Array<{ statusCode: number; headers: Record<string, string>; body: string }>;
  logs: string[];
}

async function runChild(extraEnv: Record<string, string>): Promise<ChildOutput> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', CHILD], {
    env: { ...process.env, APPCODE, CALLER_KEY, LONG_SMS_URL: fake.longSmsUrl, VOICE_URL: fake.voiceUrl, ...extraEnv },
    timeout: 30_000,
  });
  const last = stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(last) as ChildOutput;
}

describe('HTTPS to the provider', () => {
  it('sends over TLS to a server whose CA the process trusts, on one kept-alive TLS connection', async () => {
    expect(fake.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(fake.caPath).toBeDefined();
    const out = await runChild({ NODE_EXTRA_CA_CERTS: fake.caPath! });

    expect(out.answers.map((a) => a.statusCode)).toEqual([200, 200, 200]);
    expect(out.answers.map((a) => JSON.parse(a.body).status)).toEqual(['sent', 'sent', 'sent']);

    expect(fake.requests).toHaveLength(3);
    const [first, second, third] = fake.requests;
    expect(first!.path).toBe('/largesms');
    expect(first!.rawQuery).toBe(`param=12%2034%26%23%25%2B&phone=${PHONE}&skin=1`);
    expect(first!.query).toEqual({ param: '12 34&#%+', phone: PHONE, skin: '1' });
    expect(second!.query).toEqual({ param: '张三|😀 #7|3', phone: PHONE, skin: '2' });
    expect(third!.path).toBe('/chuangxin/yytz');
    expect(third!.query).toEqual({ content: '您好\r\n再见', mobile: PHONE });
    for (const r of fake.requests) expect(r.headers.authorization).toBe(`APPCODE ${APPCODE}`);

    // Both functions of the instance share one agent: three sends, one TLS session.
    expect(fake.requests.map((r) => r.connection)).toEqual([1, 1, 1]);
    expect(fake.connections).toBe(1);

    expect(out.logs.length).toBeGreaterThanOrEqual(3);
    const logText = out.logs.join('\n');
    expect(logText).not.toContain(APPCODE);
    expect(logText).not.toContain(CALLER_KEY);
    expect(logText).not.toMatch(/(?<!\d)1[3-9]\d{9}(?!\d)/);
  });

  it('without trusting the CA, the self-signed certificate is refused and nothing reaches the provider', async () => {
    const client = createProviderClient({
      credentials: { kind: 'appcode', appCode: APPCODE },
      timeoutMs: 2000,
      retries: 2,
      retryDelayMs: 5,
    });
    const res = await client.send(longSmsRequest(fake.longSmsUrl, { phone: PHONE, skin: '1' }, ['1234']));
    expect(res.status).toBe('failed');
    expect(res.error).toMatchObject({ code: 'PROVIDER_ERROR', retryable: false });
    expect(res.error!.message).toContain('certificate');
    // A certificate does not fix itself: one attempt, and no HTTP request was ever written.
    expect(res.attempts).toBe(1);
    expect(fake.requests).toHaveLength(0);
  });

  it('through the function, a refused certificate answers PROVIDER_ERROR 502, not retryable', async () => {
    const sms = invoker('long-sms', {
      env: { APPCODE, LONG_SMS_URL: fake.longSmsUrl, API_KEYS: `tls:${CALLER_KEY}`, QUIET_HOURS: 'off', LIMIT_PHONE_INTERVAL_S: '0' },
      retryDelayMs: 5,
      catalog: null,
    });
    const connectionsBefore = fake.connections;
    const res = await sms({
      path: '/sms',
      headers: { authorization: `Bearer ${CALLER_KEY}` },
      body: { phone: PHONE, skin: '1', params: ['1234'] },
    });
    expect(res.statusCode).toBe(502);
    expect(res.json).toEqual({ error: { code: 'PROVIDER_ERROR', message: expect.stringContaining('nothing was sent'), retryable: false } });
    expect(fake.requests).toHaveLength(0);
    // No TLS session was ever established.
    expect(fake.connections).toBe(connectionsBefore);
    const line = logs.parsed().find((l) => l.event === 'http' && l.status === 502);
    expect(line).toMatchObject({ providerCode: 'DEPTH_ZERO_SELF_SIGNED_CERT', errorCode: 'PROVIDER_ERROR', attempts: 1 });
    expect(logs.text()).not.toContain(APPCODE);
  });
});

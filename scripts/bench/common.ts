/**
 * What `npm run bench` (scripts/bench.ts) and `npm run bench:compare` (scripts/bench-compare.ts)
 * share: the HTTPS provider stand-in, the child-process runner, the FC HTTP event and the
 * environment every measured bundle gets.
 */
import { spawn } from 'node:child_process';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

export const APPCODE = 'bench-appcode-0000000000000000';
export const CALLER_KEY = 'bench-caller-key-000000000000';

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** The HTTPS stand-in: answers like the long-SMS vendor, after `delayMs`. Counts requests. */
export async function startProvider(cert: { key: string; cert: string }) {
  const state = { delayMs: 0, requests: 0 };
  const server = https.createServer({ key: cert.key, cert: cert.cert }, (req, res) => {
    state.requests += 1;
    req.resume();
    const answer = () => {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
      res.end(
        req.url?.startsWith('/chuangxin')
          ? '{"ReturnStatus":"Success","Message":"ok","TaskID":1,"SuccessCounts":1}'
          : '{"Message":"发送成功","Code":"OK"}',
      );
    };
    if (state.delayMs > 0) setTimeout(answer, state.delayMs);
    else answer();
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    state,
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

export function run(args: string[], env: Record<string, string>): Promise<{ ms: number; code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += String(c)));
    child.stderr.on('data', (c) => (err += String(c)));
    child.on('exit', (code) => resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, code, out, err }));
  });
}

export function httpEvent(): string {
  return JSON.stringify({
    version: 'v1',
    rawPath: '/sms',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${CALLER_KEY}` },
    queryParameters: {},
    body: JSON.stringify({ phone: '13800138000', skin: '1', params: ['1234'], sign: '1' }),
    isBase64Encoded: false,
    requestContext: { http: { method: 'POST', path: '/sms', sourceIp: '127.0.0.1' }, requestId: 'bench' },
  });
}

/**
 * The environment of every measured function: the stand-in's URLs, a caller key, and limits that
 * stay on (their cost is measured) but high, because the warm runs send 1000 times to one phone.
 */
export function benchEnv(certPath: string, providerUrl: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    NODE_EXTRA_CA_CERTS: certPath,
    APPCODE,
    API_KEYS: `bench:${CALLER_KEY}`,
    LONG_SMS_URL: `${providerUrl}/largesms`,
    VOICE_URL: `${providerUrl}/chuangxin/yytz`,
    LIMIT_PHONE_INTERVAL_S: '0',
    LIMIT_PHONE_DAILY: '1000000',
    LIMIT_CALLER_PER_MINUTE: '1000000',
    LIMIT_CALLER_DAILY: '1000000',
    LIMIT_GLOBAL_DAILY: '1000000',
    LIMIT_VERIFICATION_INTERVAL_S: '0',
    LIMIT_VERIFICATION_HOURLY: '1000000',
    LIMIT_VERIFICATION_DAILY: '1000000',
  };
}

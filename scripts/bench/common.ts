/**
 * What `npm run bench` (scripts/bench.ts) and `npm run bench:compare` (scripts/bench-compare.ts)
 * share: the HTTPS provider stand-in, the child-process runner, the FC HTTP event and the
 * environment every measured bundle gets.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { build as esbuild } from 'esbuild';

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

/**
 * Who reads a measured process's stdout (its log lines). `reader` (default, BENCH_STDOUT unset):
 * a process of its own (scripts/bench/log-reader.cjs), as on FC, where a separate agent reads the
 * function's stdout. `parent`: this process, which is also the provider stand-in, so each log
 * chunk is handled on the stand-in's event loop (the method before issue 15's second round; kept
 * to compare figures, see BENCHMARKS.md). The same for every side (ours, baseline, floor).
 */
export const STDOUT_READER: 'reader' | 'parent' = process.env.BENCH_STDOUT === 'parent' ? 'parent' : 'reader';

const LOG_READER = join(dirname(fileURLToPath(import.meta.url)), 'log-reader.cjs');

/** Starts the log reader and waits until it reads (its start-up is not inside the measured run). */
export function startLogReader(): Promise<{ child: ChildProcess; result: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [LOG_READER], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout?.on('data', (c) => (out += String(c)));
    const result = new Promise<string>((r) => child.on('exit', () => r(out.trim())));
    child.once('error', reject);
    child.stderr?.once('data', () => resolve({ child, result }));
  });
}

/**
 * Runs `node args` with `env`; resolves with its wall time (spawn to exit), exit code and stderr
 * (the runners print their figures there). Its stdout (the function's log lines) goes to
 * STDOUT_READER; `out` is what the reader counted ({bytes, lines}) or, with `parent`, the text.
 */
export async function run(
  args: string[],
  env: Record<string, string>,
): Promise<{ ms: number; code: number | null; out: string; err: string }> {
  const reader = STDOUT_READER === 'reader' ? await startLogReader() : undefined;
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', reader ? (reader.child.stdin as Writable) : 'pipe', 'pipe'] });
    // The child holds its own copy of the pipe's write end; ours is closed so the reader sees the end.
    reader?.child.stdin?.destroy();
    let out = '';
    let err = '';
    child.stdout?.on('data', (c) => (out += String(c)));
    child.stderr?.on('data', (c) => (err += String(c)));
    child.on('exit', (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (!reader) resolve({ ms, code, out, err });
      else reader.result.then((counted) => resolve({ ms, code, out: counted, err }));
    });
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

/** The module of a line of an unminified bundle: esbuild writes `// <path>` before each module. */
export function moduleOfLine(source: string): (line: number) => string {
  // esbuild writes `// <path>` before each module's code in unminified output.
  const starts: Array<[number, string]> = [];
  source.split('\n').forEach((l, i) => {
    const m = /^\s*\/\/ (node_modules\/\S+|shared\/\S+|functions\/\S+|scripts\/\S+|fcn-\S+)$/.exec(l);
    if (m) starts.push([i, (m[1] as string).replace(/^node_modules\/((@[^/]+\/)?[^/]+).*$/, '$1')]);
  });
  return (line) => {
    let lo = 0;
    let hi = starts.length - 1;
    let found = '(bundle prelude)';
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = starts[mid] as [number, string];
      if (s[0] <= line) {
        found = s[1];
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  };
}

/**
 * Bundles one of the bench's hand-written handlers (`baseline-handler.cjs`, `floor-handler.cjs`)
 * with esbuild like ours (CommonJS, node20) into `outfile`, with a package.json that marks its
 * folder CommonJS (the repo is "type": "module").
 */
export async function bundleHandler(name: string, outfile: string, minify = true): Promise<void> {
  mkdirSync(dirname(outfile), { recursive: true });
  await esbuild({
    entryPoints: [join(import.meta.dirname, name)],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minify,
    logLevel: 'error',
  });
  writeFileSync(join(dirname(outfile), 'package.json'), '{"type":"commonjs"}\n');
}

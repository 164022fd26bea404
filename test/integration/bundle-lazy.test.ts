import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BuildResult, build, LAZY_FILES, ROOT } from '../../scripts/build.ts';
import { toAnswers } from '../support/bundle-answers.ts';
import { type FakeOss, startFakeOss } from '../support/fake-oss.ts';
import { type FakeProvider, selfSignedCert, startFakeProvider, TEST_APPCODE } from '../support/fake-provider.ts';
import { fcContext, fixture, httpEvent } from '../support/fc.ts';

/**
 * Issue 15, cold start: what a cold start no longer loads (the catalog validator as a file beside
 * index.js; the trigger adapters, verification flow, usage report and OpenAPI document evaluated on
 * first use; zlib, worker_threads, os, perf_hooks and `module` not loaded) still works from the
 * built bundle, in a plain `node` child outside the repo, the way FC runs it.
 */

const run = promisify(execFile);
const CALLER_KEY = 'bundle-lazy-caller-key-0123456789';

let work: string;
let result: BuildResult;
let elsewhere: string;

// Requires the bundle, runs the calls, and reports what Node loaded after the runner started
// (built-ins and files), besides the answers.
const RUNNER = `
const fs = require('node:fs');
const before = new Set(process.moduleLoadList);
const [bundle, input, output] = process.argv.slice(2);
(async () => {
  const mod = require(bundle);
  const out = { codeCache: mod.codeCache, results: [] };
  for (const call of JSON.parse(fs.readFileSync(input, 'utf8'))) {
    out.results.push(await mod.handler(Buffer.from(call.event, 'base64'), call.context));
  }
  out.builtins = process.moduleLoadList.filter((m) => !before.has(m) && m.startsWith('NativeModule ')).map((m) => m.slice(13));
  out.files = Object.keys(require.cache).map((f) => f.split(/[\\\\/]/).pop());
  // Node builds this set on its first read (a getter replaced by the value).
  out.nodeOptionSetBuilt = typeof Object.getOwnPropertyDescriptor(process, 'allowedNodeEnvironmentFlags').get !== 'function';
  fs.writeFileSync(output, JSON.stringify(out));
})().catch((err) => {
  fs.writeFileSync(output, JSON.stringify({ error: String((err && err.stack) || err) }));
  process.exitCode = 1;
});
`;

let seq = 0;
async function invoke(name: string, env: Record<string, string>, calls: Array<{ event: Buffer; context?: object }>) {
  seq += 1;
  const input = join(work, `calls-${seq}.json`);
  const output = join(work, `answers-${seq}.json`);
  writeFileSync(input, JSON.stringify(calls.map((c) => ({ event: c.event.toString('base64'), context: c.context ?? fcContext() }))));
  const { stdout } = await run(process.execPath, [join(work, 'runner.cjs'), join(elsewhere, name, 'index.js'), input, output], {
    cwd: elsewhere,
    env: { PATH: process.env.PATH ?? '', ...env },
    timeout: 20_000,
  });
  const out = JSON.parse(readFileSync(output, 'utf8')) as {
    codeCache?: string;
    results?: unknown[];
    builtins?: string[];
    files?: string[];
    nodeOptionSetBuilt?: boolean;
    error?: string;
  };
  if (out.error) throw new Error(`bundle failed in the child: ${out.error}`);
  const answers = toAnswers(out.results ?? []);
  return {
    codeCache: out.codeCache,
    answers,
    raw: out.results ?? [],
    builtins: out.builtins ?? [],
    files: out.files ?? [],
    nodeOptionSetBuilt: out.nodeOptionSetBuilt,
    logs: stdout,
  };
}

const send = (body: Record<string, unknown> = { phone: '13800138000', skin: '1', params: ['1234'] }) => ({
  event: httpEvent({ path: '/sms', body, headers: { authorization: `Bearer ${CALLER_KEY}` } }),
});
const sandbox = { SANDBOX: '1', API_KEYS: `app:${CALLER_KEY}` };

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'fcn-bundle-lazy-'));
  elsewhere = join(work, 'elsewhere');
  mkdirSync(elsewhere);
  writeFileSync(join(work, 'runner.cjs'), RUNNER);
  result = await build({ outdir: join(work, 'dist'), functions: ['long-sms', 'template-validate'] });
  for (const b of result.bundles) cpSync(join(result.outdir, b.name), join(elsewhere, b.name), { recursive: true });
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the catalog validator, a file beside index.js', () => {
  it('is shipped as catalog-validator.js and is not in app.js', () => {
    expect(LAZY_FILES).toEqual({ 'shared/generated/catalog-validator.js': 'catalog-validator.js' });
    for (const b of result.bundles) {
      const sidecar = b.lazy.find((l) => l.module === 'shared/generated/catalog-validator.js');
      expect(sidecar?.file, b.name).toBe(join(result.outdir, b.name, 'catalog-validator.js'));
      expect(existsSync(join(result.outdir, b.name, 'catalog-validator.js')), b.name).toBe(true);
      expect(sidecar?.bytes, b.name).toBeGreaterThan(10_000);
      expect(b.inputs, b.name).not.toContain('shared/generated/catalog-validator.js');
      expect(readFileSync(sidecar?.file ?? '', 'utf8'), b.name).toContain('validateCatalog');
    }
  });

  it('is loaded for TEMPLATES_FILE and checks it: a good file sends with its templates, a broken one is refused by name', async () => {
    const good = join(work, 'templates-good.json');
    const catalog = JSON.parse(readFileSync(join(ROOT, 'templates.json'), 'utf8')) as { templates: Array<{ skin: string }> };
    writeFileSync(good, JSON.stringify(catalog));
    const skin = catalog.templates[0]?.skin as string;
    const ok = await invoke('long-sms', { ...sandbox, TEMPLATES_FILE: good }, [send({ phone: '13800138000', skin, params: ['1234'] })]);
    expect(ok.answers[0]?.statusCode).toBe(200);
    expect(ok.answers[0]?.json).toMatchObject({ status: 'sent', channel: 'sms' });
    expect(ok.logs).toContain(`"catalog":${JSON.stringify(good)}`);
    expect(ok.files).toContain('catalog-validator.js');
    expect(ok.codeCache).toBe('used');

    const broken = join(work, 'templates-broken.json');
    writeFileSync(broken, JSON.stringify({ templates: 'not a list' }));
    const refused = await invoke('long-sms', { ...sandbox, TEMPLATES_FILE: broken }, [
      { event: httpEvent({ method: 'GET', path: '/healthz' }) },
    ]);
    expect(refused.answers[0]?.statusCode).toBe(503);
    expect(refused.answers[0]?.json?.problem).toContain(broken);
    expect(refused.answers[0]?.json?.problem).toMatch(/templates.*must be array/);
  });
});

describe('a cold start that sends', () => {
  it('loads neither the files beside index.js nor zlib, worker_threads, os, perf_hooks or module', async () => {
    const { answers, builtins, files, codeCache } = await invoke('long-sms', sandbox, [send()]);
    expect(answers[0]?.statusCode).toBe(200);
    expect(codeCache).toBe('used');
    // Sanity: the list is real (the send loaded the loader's vm and the HTTPS stack).
    expect(builtins).toContain('vm');
    for (const m of ['zlib', 'worker_threads', 'os', 'perf_hooks', 'module']) expect(builtins, m).not.toContain(m);
    expect(files.filter((f) => f !== 'index.js' && f !== 'runner.cjs')).toEqual([]);
  });
});

describe('parts evaluated on first use, from the built bundle', () => {
  it('GET /openapi.json answers the function document', async () => {
    const { answers } = await invoke('long-sms', sandbox, [{ event: httpEvent({ method: 'GET', path: '/openapi.json' }) }]);
    expect(answers[0]?.statusCode).toBe(200);
    expect(answers[0]?.json?.openapi).toMatch(/^3\.1/);
    expect(Object.keys(answers[0]?.json?.paths ?? {})).toContain('/sms');
  });

  it('a verification starts and a check reads it (POST /sms/verify, POST /verify/check)', async () => {
    const env = { ...sandbox, VERIFY_SECRET: randomBytes(24).toString('base64') };
    const auth = { authorization: `Bearer ${CALLER_KEY}` };
    // One process, one memory store: the check sees the code the start wrote (a 6-digit code is never 0000).
    const { answers } = await invoke('long-sms', env, [
      { event: httpEvent({ path: '/sms/verify', body: { phone: '13800138000', codeLength: 6 }, headers: auth }) },
      { event: httpEvent({ path: '/verify/check', body: { phone: '13800138000', code: '0000' }, headers: auth }) },
    ]);
    expect(answers[0]?.statusCode).toBe(200);
    expect(answers[0]?.json).toMatchObject({ status: 'sent', channel: 'sms', phone: '138****8000' });
    expect(answers[0]?.json?.code).toMatch(/^\d{6}$/);
    expect(answers[1]?.json).toMatchObject({ valid: false, reason: 'mismatch' });
    expect(answers[1]?.json?.attemptsLeft).toBeGreaterThan(0);
  });

  it('GET /usage answers an operator and refuses another caller; GET /sms/<key> looks the job up', async () => {
    const auth = { authorization: `Bearer ${CALLER_KEY}` };
    const { answers } = await invoke('long-sms', { ...sandbox, OPS_CALLERS: 'app' }, [
      { event: httpEvent({ method: 'GET', path: '/usage', headers: auth }) },
      { event: httpEvent({ method: 'GET', path: '/sms/no-such-key', headers: auth }) },
    ]);
    expect(answers[0]?.statusCode).toBe(200);
    expect(answers[0]?.json).toHaveProperty('breakdown');
    // The lookup ran (a key this store never saw).
    expect(answers[1]?.statusCode).toBe(404);
    expect(answers[1]?.json?.error?.code).toBe('NOT_FOUND');
    const refused = await invoke('long-sms', sandbox, [{ event: httpEvent({ method: 'GET', path: '/usage', headers: auth }) }]);
    expect(refused.answers[0]?.statusCode).toBe(403);
  });
});

describe('an OSS event through the built bundle (trigger adapters loaded on the first event)', () => {
  const CREDS = { accessKeyId: 'STS.lazy-key-id', accessKeySecret: 'oss-secret-lazy-42', securityToken: 'sts-token-lazy' };
  let fake: FakeProvider;
  let oss: FakeOss;
  beforeAll(async () => {
    fake = await startFakeProvider();
    oss = await startFakeOss(CREDS);
  });
  afterAll(async () => {
    await fake?.close();
    await oss?.close();
  });

  it('reads the batch file from OSS, sends each line and writes the results', async () => {
    const key = `batches/${randomBytes(4).toString('hex')}.jsonl`;
    const lines = ['13812350001', '13812350002'].map((phone) => JSON.stringify({ phone, skin: '1', params: ['1234'] }));
    oss.objects.set(`/notify-bucket/${key}`, Buffer.from(`${lines.join('\n')}\n`));
    const event = fixture<{ events: Array<Record<string, any>> }>('oss-object-created');
    (event.events[0] as any).oss.object.key = key;
    (event.events[0] as any).oss.object.eTag = randomBytes(8).toString('hex');
    const { raw } = await invoke(
      'long-sms',
      {
        APPCODE: TEST_APPCODE,
        LONG_SMS_URL: fake.longSmsUrl,
        API_KEYS: `app:${CALLER_KEY}`,
        OSS_ENDPOINT: oss.endpoint,
        QUIET_HOURS: 'off',
        LIMIT_PHONE_INTERVAL_S: '0',
      },
      [
        {
          event: Buffer.from(JSON.stringify(event)),
          context: fcContext({ credentials: CREDS, function: { name: 'long-sms', timeout: 60 } }),
        },
      ],
    );
    expect(raw[0]).toMatchObject({ ok: true, source: 'oss', total: 2 });
    expect(fake.requests.map((r) => r.query.phone)).toEqual(['13812350001', '13812350002']);
    const results = (oss.objects.get(`/notify-bucket/results/${key}.result.jsonl`)?.toString('utf8') ?? '').trim().split('\n');
    expect(results.map((l) => JSON.parse(l).status)).toEqual(['sent', 'sent']);
  });
});

describe('axios without zlib at load', () => {
  let server: https.Server;
  let url: string;
  const seen: Array<Record<string, string | string[] | undefined>> = [];
  const cert = selfSignedCert();
  beforeAll(async () => {
    // A vendor behind a proxy that compresses its answers.
    server = https.createServer({ key: cert.key, cert: cert.cert }, (req, res) => {
      seen.push(req.headers);
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-encoding': 'gzip' });
      res.end(gzipSync(JSON.stringify({ Message: '发送成功', Code: 'OK' })));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/largesms`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('still asks for compressed answers and reads a gzip answer', async () => {
    const { answers, builtins, nodeOptionSetBuilt } = await invoke(
      'long-sms',
      { APPCODE: TEST_APPCODE, LONG_SMS_URL: url, API_KEYS: `app:${CALLER_KEY}`, NODE_EXTRA_CA_CERTS: cert.caPath, QUIET_HOURS: 'off' },
      [send()],
    );
    expect(answers[0]?.statusCode).toBe(200);
    expect(answers[0]?.json).toMatchObject({ status: 'sent', provider: { code: 'OK', message: '发送成功' } });
    expect(seen[0]?.['accept-encoding']).toBe('gzip, compress, deflate, br');
    // Loaded on this answer, not at require.
    expect(builtins).toContain('zlib');
    // axios's direct-agent check (proxy: false) no longer reads process.allowedNodeEnvironmentFlags
    // for an agent without Node's proxyEnv, so Node never builds its option set (scripts/build.ts).
    expect(nodeOptionSetBuilt).toBe(false);
  });
});

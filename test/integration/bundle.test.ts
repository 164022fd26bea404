import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHANNEL_NAMES, CHANNELS } from '#shared/channels/index';
import { CONSOLE_CSP } from '#shared/console/route';
import { documentFor } from '#shared/openapi/select';
import { type BuildResult, build, bundlesOverBudget, discoverFunctions, ROOT, sizeTable } from '../../scripts/build.ts';
import { type Answer, toAnswers } from '../support/bundle-answers.ts';
import { type FakeProvider, startFakeProvider, TEST_APPCODE } from '../support/fake-provider.ts';
import { fcContext, httpEvent } from '../support/fc.ts';

/**
 * Builds the real bundles once (into a temp folder), copies them somewhere with no node_modules
 * anywhere above, and runs them in a plain `node` child process the way FC does: require the file,
 * call `handler(Buffer, context)`.
 */

const run = promisify(execFile);
const BUDGET = 320 * 1024;
/** One sending function per channel (its description's functionName), and template-validate. */
const FUNCTIONS = [...CHANNEL_NAMES.map((c) => CHANNELS[c].functionName), 'template-validate'].sort();
const CALLER_KEY = 'bundle-caller-key-0123456789';

let work: string;
let result: BuildResult;
/** A folder outside the repo holding copies of dist/<name>. */
let elsewhere: string;

// The runner FC would be: require the bundle, hand it Buffers, write the answers to a file
// (stdout belongs to the function's log lines).
const RUNNER = `
const fs = require('node:fs');
const [bundle, input, output] = process.argv.slice(2);
(async () => {
  const mod = require(bundle);
  const out = { handlerType: typeof mod.handler, codeCache: mod.codeCache, results: [] };
  for (const call of JSON.parse(fs.readFileSync(input, 'utf8'))) {
    out.results.push(await mod.handler(Buffer.from(call.event, 'base64'), call.context));
  }
  fs.writeFileSync(output, JSON.stringify(out));
})().catch((err) => {
  fs.writeFileSync(output, JSON.stringify({ error: String((err && err.stack) || err) }));
  process.exitCode = 1;
});
`;

interface Invocation {
  event: Buffer;
  context?: Record<string, unknown>;
}

let seq = 0;
/** Runs `<dir>/index.js` in a fresh `node` with only `env` (plus PATH), invoking the handler once per event. */
async function invoke(dir: string, env: Record<string, string>, calls: Invocation[]) {
  seq += 1;
  const input = join(work, `calls-${seq}.json`);
  const output = join(work, `answers-${seq}.json`);
  writeFileSync(input, JSON.stringify(calls.map((c) => ({ event: c.event.toString('base64'), context: c.context ?? fcContext() }))));
  const { stdout } = await run(process.execPath, [join(work, 'runner.cjs'), join(dir, 'index.js'), input, output], {
    cwd: elsewhere,
    env: { PATH: process.env.PATH ?? '', ...env },
    timeout: 20_000,
  });
  const out = JSON.parse(readFileSync(output, 'utf8')) as { handlerType?: string; codeCache?: string; results?: unknown[]; error?: string };
  if (out.error) throw new Error(`bundle failed in the child: ${out.error}`);
  const answers = toAnswers(out.results ?? []);
  return { handlerType: out.handlerType, codeCache: out.codeCache, answers, logs: stdout, raw: out.results ?? [] };
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'fcn-bundle-'));
  elsewhere = join(work, 'elsewhere');
  mkdirSync(elsewhere);
  writeFileSync(join(work, 'runner.cjs'), RUNNER);
  result = await build({ outdir: join(work, 'dist'), budgetKb: 320 });
  for (const b of result.bundles) cpSync(join(result.outdir, b.name), join(elsewhere, b.name), { recursive: true });
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the build', () => {
  it('bundles every function folder, each index.js within the 320 KB budget', () => {
    expect(result.bundles.map((b) => b.name)).toEqual(discoverFunctions(join(ROOT, 'functions')));
    expect(result.bundles.map((b) => b.name)).toEqual(FUNCTIONS);
    for (const b of result.bundles) {
      expect(b.bytes, `${b.name} index.js bytes`).toBeLessThanOrEqual(BUDGET);
      expect(b.overBudget).toBe(false);
    }
    expect(result.overBudget).toEqual([]);
    // The same bundles against a smaller budget are reported, which is what fails `npm run build`.
    expect(bundlesOverBudget(result.bundles, 100 * 1024).map((b) => b.name)).toEqual(FUNCTIONS);
  });

  it('keeps full zod, the ajv compiler, ioredis and form-data/mime-db out of every index.js (metafile inputs)', () => {
    for (const b of result.bundles) {
      const meta = JSON.parse(readFileSync(b.metafile, 'utf8')) as {
        outputs: Record<string, { inputs: Record<string, { bytesInOutput: number }> }>;
      };
      const inputs = Object.values(meta.outputs).flatMap((o) => Object.keys(o.inputs));
      expect(inputs.length, `${b.name} metafile has inputs`).toBeGreaterThan(10);
      expect(inputs.filter((i) => i.includes('node_modules/zod/')).length, `${b.name} uses zod/mini`).toBeGreaterThan(0);
      const forbidden = inputs.filter((i) =>
        /node_modules\/(zod\/v4\/classic|ajv\/dist\/(compile|core|ajv)|ajv\/lib|ioredis|@ioredis|form-data|mime-db|mime-types)\//.test(i),
      );
      expect(forbidden, b.name).toEqual([]);
      // The metafile lives outside the uploaded folder.
      expect(b.metafile.startsWith(join(result.outdir, b.name))).toBe(false);
    }
  });

  it('carries the channels’ dry runs (POST /templates/validate) in template-validate only: the sending bundles drop them (__FCN_DRY_RUN__)', () => {
    // The SMS dry run's warning and the voice text rules exist only for the dry run.
    const dryRunOnly = ['so the text, its length and the param count cannot be checked', 'the voice text'];
    for (const b of result.bundles) {
      const code = readFileSync(join(result.outdir, b.name, 'app.js'), 'utf8');
      for (const text of dryRunOnly) expect(code.includes(text), `${b.name}: ${text}`).toBe(b.name === 'template-validate');
    }
  });

  it('serves GET /openapi.json from the embedded document: its own routes, no route table or JSON Schema generator bundled', async () => {
    const whole = JSON.parse(readFileSync(join(ROOT, 'openapi.json'), 'utf8')) as Record<string, unknown>;
    for (const b of result.bundles) {
      const meta = JSON.parse(readFileSync(b.metafile, 'utf8')) as {
        outputs: Record<string, { inputs: Record<string, { bytesInOutput: number }> }>;
      };
      const inputs = Object.values(meta.outputs).flatMap((o) =>
        Object.entries(o.inputs)
          .filter(([, v]) => v.bytesInOutput > 0)
          .map(([k]) => k),
      );
      // Code, not esbuild's empty lazy-init stub (`var x=k(()=>{})`, 17 bytes) that a module whose
      // code was all dropped leaves behind once zod is evaluated lazily (issue 15).
      const code = Object.values(meta.outputs).flatMap((o) =>
        Object.entries(o.inputs)
          .filter(([, v]) => v.bytesInOutput > 32)
          .map(([k]) => k),
      );
      expect(
        code.filter((i) => /shared\/openapi\/(table|document)\.ts|zod\/v4\/core\/(to-json-schema|json-schema-)/.test(i)),
        b.name,
      ).toEqual([]);
      expect(inputs, b.name).toContain('shared/openapi/route.ts');
      // With API_KEYS set and no key given: public, like /healthz.
      const {
        answers: [answer],
      } = await invoke(join(elsewhere, b.name), { API_KEYS: `bundle:${CALLER_KEY}`, SANDBOX: '1' }, [
        { event: httpEvent({ method: 'GET', path: '/openapi.json' }) },
      ]);
      expect(answer?.statusCode, b.name).toBe(200);
      expect(answer?.json, b.name).toEqual(documentFor(whole, b.name));
    }
  });

  it('ships ioredis.js only beside a function whose index.js loads it (template-validate reads the store for usage and job lookups, issue 13)', () => {
    const shipped = Object.fromEntries(result.bundles.map((b) => [b.name, existsSync(join(result.outdir, b.name, 'ioredis.js'))]));
    expect(shipped).toEqual({ 'long-sms': true, 'template-validate': true, 'voice-notify': true });
    for (const b of result.bundles) {
      // Decided from what index.js contains (the lazy stub in its metafile), not from a list.
      const meta = JSON.parse(readFileSync(b.metafile, 'utf8')) as {
        outputs: Record<string, { inputs: Record<string, { bytesInOutput: number }> }>;
      };
      const loads = Object.values(meta.outputs).some((o) => (o.inputs['fcn-lazy:ioredis']?.bytesInOutput ?? 0) > 0);
      expect(
        b.lazy.filter((l) => !l.module.startsWith('shared/')).map((l) => l.module),
        b.name,
      ).toEqual(loads ? ['ioredis'] : []);
      expect(loads, b.name).toBe(true);
      expect(
        b.inputs.filter((i) => i.includes('shared/store/redis')),
        b.name,
      ).toEqual(loads ? expect.arrayContaining(['shared/store/redis.ts']) : []);
    }
  });

  it('never bundles ali-oss (the test oracle): the OSS client is our own V4 signer', () => {
    for (const b of result.bundles) {
      expect(
        b.inputs.filter((i) => i.includes('node_modules/ali-oss/')),
        b.name,
      ).toEqual([]);
      expect(b.inputs, b.name).toContain('shared/oss/client.ts');
      const code = readFileSync(b.codeFile, 'utf8');
      expect(code).toContain('OSS4-HMAC-SHA256');
      expect(code).not.toContain('ali-oss');
    }
  });

  it('carries no follow-redirects or debug (the provider client never follows a redirect)', () => {
    for (const b of result.bundles) {
      expect(
        b.inputs.filter((i) => /node_modules\/(follow-redirects|debug)\//.test(i)),
        b.name,
      ).toEqual([]);
    }
  });

  it('leaves only the bundle in each upload folder, requiring nothing but Node built-ins', () => {
    const builtins = new Set(builtinModules);
    for (const b of result.bundles) {
      const files = readdirSync(join(result.outdir, b.name)).sort();
      expect(files).toEqual(
        ['app.cache', 'app.js', 'index.js', 'package.json', ...b.lazy.map((l) => l.file.split('/').pop() as string)].sort(),
      );
      expect(files.some((f) => f.startsWith('.env') || (f.endsWith('.json') && f !== 'package.json'))).toBe(false);
      const code = readFileSync(b.file, 'utf8') + readFileSync(b.codeFile, 'utf8');
      const required = [...code.matchAll(/\brequire\("([^"]+)"\)/g)].map((m) => m[1] as string);
      expect(required.length).toBeGreaterThan(0);
      const outside = required.filter(
        (r) => !builtins.has(r.replace(/^node:/, '')) && !b.lazy.some((l) => `./${l.file.split('/').pop()}` === r),
      );
      expect(outside, `${b.name} requires`).toEqual([]);
      expect(JSON.parse(readFileSync(join(result.outdir, b.name, 'package.json'), 'utf8'))).toEqual({ type: 'commonjs', private: true });
    }
  });
});

describe('long-sms bundle, required from a folder with no node_modules', () => {
  const sandbox = { SANDBOX: '1', ALLOW_UNAUTHENTICATED: '1' };

  it('exports a handler that answers /healthz and sends in the sandbox', async () => {
    expect(existsSync(join(elsewhere, 'node_modules'))).toBe(false);
    const { handlerType, answers, logs } = await invoke(join(elsewhere, 'long-sms'), sandbox, [
      { event: httpEvent({ method: 'GET', path: '/healthz' }) },
      { event: httpEvent({ path: '/sms', body: { phone: '13800138000', skin: '1', params: ['1234'], idempotencyKey: 'bundle-1' } }) },
      { event: httpEvent({ path: '/sms', body: { phone: '13800138000', skin: '1', params: ['1234'], idempotencyKey: 'bundle-1' } }) },
      { event: httpEvent({ path: '/sms', body: { phone: '13400000105', skin: '1', params: ['1234'] } }) },
    ]);
    expect(handlerType).toBe('function');
    const [health, sent, replay, refused] = answers;
    expect(health?.statusCode).toBe(200);
    expect(health?.json).toEqual({ ok: true });
    expect(sent?.statusCode).toBe(200);
    expect(sent?.json).toEqual({
      status: 'sent',
      channel: 'sms',
      phone: '138****8000',
      provider: { code: 'OK', message: '发送成功', requestId: expect.any(String) },
      idempotencyKey: 'bundle-1',
      replayed: false,
    });
    expect(replay?.json).toMatchObject({ status: 'sent', replayed: true });
    expect(refused?.statusCode).toBe(422);
    expect(refused?.json).toEqual({
      error: { code: 'TEMPLATE_MISMATCH', message: expect.any(String), retryable: false, providerCode: '105' },
    });
    // pino, bundled, still writes one JSON line per event with the phone masked.
    const lines = logs.split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThanOrEqual(4);
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
    // One line per HTTP request, carrying the send's outcome.
    expect(lines.map((l) => JSON.parse(l)).filter((l) => l.event === 'http' && l.outcome === 'sent').length).toBeGreaterThanOrEqual(1);
    expect(logs).not.toContain('13800138000');
    expect(logs).toContain('138****8000');
  });

  it('answers malformed JSON and unknown event shapes with a clear error instead of crashing', async () => {
    const { answers, raw } = await invoke(join(elsewhere, 'long-sms'), sandbox, [
      { event: httpEvent({ path: '/sms', rawBody: '{"phone":' }) },
      { event: Buffer.from('{"neither":"http nor anything else"}') },
    ]);
    expect(answers[0]?.statusCode).toBe(400);
    expect(answers[0]?.json?.error?.code).toBe('INVALID_REQUEST');
    expect(raw[1]).toMatchObject({ ok: false, error: { code: 'INVALID_REQUEST' } });
  });

  it('fails closed when deployed without credentials: 500 naming APPCODE, /healthz 503', async () => {
    const { answers } = await invoke(join(elsewhere, 'long-sms'), { API_KEYS: `app:${CALLER_KEY}` }, [
      { event: httpEvent({ method: 'GET', path: '/healthz' }) },
      {
        event: httpEvent({
          path: '/sms',
          body: { phone: '13800138000', skin: '1', params: ['1'] },
          headers: { authorization: `Bearer ${CALLER_KEY}` },
        }),
      },
    ]);
    expect(answers[0]?.statusCode).toBe(503);
    expect(answers[1]?.statusCode).toBe(500);
    expect(answers[1]?.json?.error?.code).toBe('INTERNAL');
    expect(answers[1]?.json?.error?.message).toContain('APPCODE');
  });
});

describe('bundled provider client against the fake gateway over HTTPS', () => {
  let fake: FakeProvider;
  beforeAll(async () => {
    fake = await startFakeProvider({ https: true });
  });
  afterAll(async () => {
    await fake?.close();
  });

  it('sends the exact request with the AppCode header and keeps secrets out of the logs', async () => {
    const { answers, logs } = await invoke(
      join(elsewhere, 'long-sms'),
      { APPCODE: TEST_APPCODE, LONG_SMS_URL: fake.longSmsUrl, API_KEYS: `app:${CALLER_KEY}`, NODE_EXTRA_CA_CERTS: fake.caPath ?? '' },
      [
        {
          event: httpEvent({
            path: '/sms',
            // Template 2 of the catalog embedded at build time (templates.json), which adds sign "1".
            body: { phone: '13800138000', skin: '2', params: ['张 三&#', 'A-42', '3'] },
            headers: { authorization: `Bearer ${CALLER_KEY}` },
          }),
        },
      ],
    );
    expect(answers[0]?.statusCode).toBe(200);
    expect(answers[0]?.json).toMatchObject({ status: 'sent', channel: 'sms', phone: '138****8000' });
    expect(fake.requests).toHaveLength(1);
    const got = fake.requests[0]!;
    expect(got.method).toBe('GET');
    expect(got.path).toBe('/largesms');
    expect(got.rawQuery).toBe('param=%E5%BC%A0%20%E4%B8%89%26%23%7CA-42%7C3&phone=13800138000&skin=2&sign=1');
    // The version lives in package.json only; the build writes it into the bundle.
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(got.headers['user-agent']).toBe(`fc-notify/${version}`);
    expect(got.headers.authorization === `APPCODE ${TEST_APPCODE}`, 'AppCode header sent').toBe(true);
    expect(logs.includes(TEST_APPCODE), 'AppCode in the logs').toBe(false);
    expect(logs.includes(CALLER_KEY), 'caller key in the logs').toBe(false);
  });
});

describe('voice-notify and template-validate bundles', () => {
  it('load from elsewhere and answer /healthz', async () => {
    for (const name of ['voice-notify', 'template-validate']) {
      const { handlerType, answers } = await invoke(join(elsewhere, name), { SANDBOX: '1', ALLOW_UNAUTHENTICATED: '1' }, [
        { event: httpEvent({ method: 'GET', path: '/healthz' }) },
      ]);
      expect(handlerType, name).toBe('function');
      expect(answers[0]?.statusCode, name).toBe(200);
      expect(answers[0]?.json, name).toEqual({ ok: true });
    }
  });
});

describe('the console page (GET /console) in the bundles', () => {
  it('is served by template-validate from its embedded Brotli bytes, and the size table has its row', async () => {
    const dir = join(elsewhere, 'template-validate');
    const { answers } = await invoke(dir, { API_KEYS: `bundle:${CALLER_KEY}`, SANDBOX: '1' }, [
      { event: httpEvent({ method: 'GET', path: '/console', headers: { 'accept-encoding': 'gzip, deflate, br' } }) },
      { event: httpEvent({ method: 'GET', path: '/console', headers: { 'accept-encoding': 'gzip' } }) },
      { event: httpEvent({ method: 'GET', path: '/console/app.js', headers: {} }) },
    ]);
    const [br, gz, js] = answers as [Answer & { isBase64Encoded: boolean }, Answer & { isBase64Encoded: boolean }, Answer];
    expect(br.statusCode).toBe(200);
    expect(br.headers['content-encoding']).toBe('br');
    expect(br.headers['content-security-policy']).toBe(CONSOLE_CSP);
    const html = brotliDecompressSync(Buffer.from(br.body, 'base64')).toString('utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toMatch(/<script src="\/console\/app\.js\?v=[0-9a-f]{12}" defer><\/script>/);
    expect(gunzipSync(Buffer.from(gz.body, 'base64')).toString('utf8')).toBe(html);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.body).toContain('fcn-console-key');
    // What a browser downloads is what the table reports.
    expect(result.console?.transferredBytes).toBeGreaterThan(1000);
    expect(result.console?.transferredBytes).toBeLessThan(16 * 1024);
    expect(sizeTable(result)).toMatch(
      /template-validate GET \/console\s+[\d,]+\s+[\d.]+ KB\s+-\s+page: 3 files, [\d.]+ KB raw, [\d.]+ KB transferred \(br\)/,
    );
  });

  it('is not in the sending functions: no console code, no embedded page, and /console is no route there', async () => {
    for (const b of result.bundles) {
      const text = readFileSync(b.codeFile, 'utf8');
      const carries = text.includes("frame-ancestors 'none'");
      expect(carries, b.name).toBe(b.name === 'template-validate');
      expect(
        b.inputs.some((i) => i.startsWith('shared/console/')),
        b.name,
      ).toBe(b.name === 'template-validate');
    }
    const { answers } = await invoke(join(elsewhere, 'long-sms'), { SANDBOX: '1', ALLOW_UNAUTHENTICATED: '1' }, [
      { event: httpEvent({ method: 'GET', path: '/console' }) },
    ]);
    expect(answers[0]?.statusCode).toBe(404);
  });
});

describe('modules loaded with `await import()`', () => {
  const probeKey = `fcn-test-${randomBytes(6).toString('hex')}:bundle-probe`;

  it('ship ioredis as a file beside index.js that works against real Redis', async () => {
    // A function that uses the shared Redis connection, bundled the same way as the real ones.
    const fns = join(work, 'probe-functions');
    mkdirSync(join(fns, 'redis-probe'), { recursive: true });
    writeFileSync(
      join(fns, 'redis-probe', 'index.ts'),
      [
        `import { closeRedisConnection, redisConnection } from ${JSON.stringify(join(ROOT, 'shared', 'store', 'redis-connection.ts'))};`,
        'export const handler = async (event: Buffer) => {',
        "  const redis = await redisConnection('redis://127.0.0.1:6379');",
        '  const key = event.toString();',
        "  await redis.set(key, 'stored-by-bundle', 'EX', 30);",
        '  const value = await redis.get(key);',
        '  await redis.del(key);',
        '  await closeRedisConnection();',
        '  return { value };',
        '};',
      ].join('\n'),
    );
    const probe = await build({ functionsDir: fns, outdir: join(work, 'probe-dist'), catalog: false });
    const bundle = probe.bundles[0]!;
    expect(bundle.lazy.map((l) => l.module)).toEqual(['ioredis']);
    expect(bundle.inputs.filter((i) => i.includes('node_modules/ioredis/'))).toEqual([]);
    expect(bundle.bytes).toBeLessThan(10 * 1024);
    cpSync(join(probe.outdir, 'redis-probe'), join(elsewhere, 'redis-probe'), { recursive: true });

    const { raw } = await invoke(join(elsewhere, 'redis-probe'), {}, [{ event: Buffer.from(probeKey) }]);
    expect(raw[0]).toEqual({ value: 'stored-by-bundle' });
  });

  it('ship no lazy file for a dynamic import that the bundle drops (tree-shaken)', async () => {
    const fns = join(work, 'shaken-functions');
    mkdirSync(join(fns, 'shaken'), { recursive: true });
    writeFileSync(
      join(fns, 'shaken', 'index.ts'),
      `import { redisConnection } from ${JSON.stringify(join(ROOT, 'shared', 'store', 'redis-connection.ts'))};\nconst unused = redisConnection;\nexport const handler = () => 'ok';\n`,
    );
    const shaken = await build({ functionsDir: fns, outdir: join(work, 'shaken-dist'), catalog: false });
    expect(shaken.bundles[0]?.lazy).toEqual([]);
    expect(readdirSync(join(shaken.outdir, 'shaken')).sort()).toEqual(['app.cache', 'app.js', 'index.js', 'package.json']);
  });

  it('refuse a static import of a lazy module, naming the fix', async () => {
    const fns = join(work, 'static-functions');
    mkdirSync(join(fns, 'static-redis'), { recursive: true });
    writeFileSync(join(fns, 'static-redis', 'index.ts'), "import { Redis } from 'ioredis';\nexport const handler = () => new Redis();\n");
    await expect(build({ functionsDir: fns, outdir: join(work, 'static-dist'), catalog: false })).rejects.toThrow(
      /"ioredis" must be loaded with `await import\('ioredis'\)`/,
    );
  });
});

describe('V8 code cache (index.js loads app.js with app.cache)', () => {
  const sandbox = { SANDBOX: '1', ALLOW_UNAUTHENTICATED: '1' };
  const send = () => ({ event: httpEvent({ path: '/sms', body: { phone: '13800138000', skin: '1', params: ['1234'] } }) });
  /** A copy of the long-sms folder, changed by `alter`, outside the repo. */
  function variant(name: string, alter: (dir: string) => void): string {
    const dir = join(elsewhere, `long-sms-${name}`);
    cpSync(join(elsewhere, 'long-sms'), dir, { recursive: true });
    alter(dir);
    return dir;
  }
  const expectSent = (answers: Answer[]) => {
    expect(answers[0]?.statusCode).toBe(200);
    expect(answers[0]?.json).toMatchObject({ status: 'sent', channel: 'sms', phone: '138****8000', provider: { code: 'OK' } });
  };

  it('uses the cache made at build', async () => {
    const { codeCache, answers } = await invoke(join(elsewhere, 'long-sms'), sandbox, [send()]);
    expect(codeCache).toBe('used');
    expectSent(answers);
  });

  it('is made with a real send per sending function (to a loopback stand-in), so the HTTP adapter is in it', () => {
    const sends = Object.fromEntries(result.bundles.map((b) => [b.name, b.cacheSends]));
    // One provider request each from long-sms (POST /sms) and voice-notify (POST /voice); template-validate sends nothing.
    expect(sends).toEqual({ 'long-sms': 1, 'template-validate': 0, 'voice-notify': 1 });
  });

  it('ignores a damaged cache (same length, bytes changed): never given to V8, the bundle compiles from source and answers', async () => {
    const dir = variant('damaged', (d) => {
      const data = readFileSync(join(d, 'app.cache'));
      for (let i = Math.floor(data.length / 3); i < data.length; i += 997) data[i] = (data[i] as number) ^ 0xff;
      writeFileSync(join(d, 'app.cache'), data);
    });
    const { codeCache, answers } = await invoke(dir, sandbox, [send()]);
    expect(codeCache).toBe('none');
    expectSent(answers);
  });

  it('survives a cache V8 rejects (intact, but made for other code, as a cache from another V8 would be)', async () => {
    const dir = variant('foreign', (d) => {
      // template-validate's cache, with the loader's SHA-1 rewritten to accept it: V8 itself must refuse it.
      const foreign = readFileSync(join(elsewhere, 'template-validate', 'app.cache'));
      writeFileSync(join(d, 'app.cache'), foreign);
      const loader = readFileSync(join(d, 'index.js'), 'utf8');
      const sha1 = createHash('sha1').update(foreign).digest('hex');
      writeFileSync(join(d, 'index.js'), loader.replace(/=== "[0-9a-f]{40}"/, `=== "${sha1}"`));
    });
    const { codeCache, answers } = await invoke(dir, sandbox, [send()]);
    expect(codeCache).toBe('rejected');
    expectSent(answers);
  });

  it('works without the cache file', async () => {
    const dir = variant('missing', (d) => rmSync(join(d, 'app.cache')));
    const { codeCache, answers } = await invoke(dir, sandbox, [send()]);
    expect(codeCache).toBe('none');
    expectSent(answers);
  });
});

/**
 * `npm run build`: one bundle per function, `functions/<name>/index.ts` → `dist/<name>/index.js`.
 *
 * Each `dist/<name>` folder is what s.yaml uploads (`code: ./dist/<name>`), so it must run with no
 * node_modules: CommonJS (FC's `index.handler` is looked up with require), node20, minified.
 * Cold starts load the whole file, so every bundle has a size budget and the build fails above it.
 *
 * Usable as a module too: tests and benchmarks call `build({ outdir, minify, functions })`.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire, isBuiltin } from 'node:module';
import { basename, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { brotliCompressSync, constants as zlib } from 'node:zlib';
import { build as esbuild, type Metafile, type Plugin } from 'esbuild';

import { buildConsoleAssets, type ConsoleAssets, embeddedConsole } from '../shared/console/source.ts';
import { buildDocument } from '../shared/openapi/document.ts';
import { documentFor } from '../shared/openapi/select.ts';
import { CatalogBuildError, prepareCatalog, ROOT } from './build-catalog.ts';
import { writeOpenapi } from './openapi.ts';

export { ROOT };
export const DEFAULT_BUDGET_KB = 320;
/** The global shared/openapi/text.ts reads; esbuild replaces it with the function's OpenAPI JSON, Brotli + base64. */
export const OPENAPI_GLOBAL = '__FCN_OPENAPI_BR__';
/** The global shared/console/route.ts reads: the console page's files, Brotli + base64 (template-validate only). */
export const CONSOLE_GLOBAL = '__FCN_CONSOLE__';
/** The one function that serves GET /console; the sending functions never carry the page. */
export const CONSOLE_FUNCTION = 'template-validate';
/** False for the sending functions: their channel descriptions drop the dry run (shared/channels/dry-run.ts WITH_DRY_RUN). */
export const DRY_RUN_GLOBAL = '__FCN_DRY_RUN__';
/** The global shared/provider/client.ts reads for its User-Agent: the version lives in package.json only. */
export const VERSION_GLOBAL = '__FCN_VERSION__';

/** One function's OpenAPI document as the bundle embeds it (see shared/openapi/route.ts). */
export function embeddedOpenapi(document: Record<string, unknown>, functionName: string): string {
  const text = JSON.stringify(documentFor(document, functionName));
  const compressed = brotliCompressSync(text, {
    params: { [zlib.BROTLI_PARAM_QUALITY]: 11, [zlib.BROTLI_PARAM_MODE]: zlib.BROTLI_MODE_TEXT },
  });
  return compressed.toString('base64');
}

/**
 * Heavy modules the source loads only with `await import()`. Inlined, esbuild would still wrap
 * them in a lazily evaluated require, but every cold start would read and compile their bytes
 * (ioredis alone adds ~180 KB). Instead each becomes its own file beside index.js, loaded on first
 * use. A static import of one of these is refused: it would defeat the point.
 */
export const LAZY_MODULES: readonly string[] = ['ioredis'];

/**
 * A stand-in for a Node built-in that loads it on the first read of one of its exports: every export
 * (as this Node has them) a getter, so default and named imports both work through esbuild's
 * interop, which copies the getters without calling them.
 */
export function lazyBuiltin(name: string): string {
  const keys = Object.keys(createRequire(import.meta.url)(`node:${name}`) as object);
  return `for (const k of ${JSON.stringify(keys)}) Object.defineProperty(module.exports, k, { enumerable: true, get: () => require(${JSON.stringify(`node:${name}`)})[k] });\n`;
}

/**
 * Own source files that become a file beside index.js too (root-relative path → file name), for code
 * only some requests need that keeps no state of its own. The bundle gets a stand-in whose exports
 * are getters: the first read requires the file. The template catalog's ajv validator (~17 KB) is
 * needed only when TEMPLATES_FILE is read at run time or by POST /templates/validate; the embedded
 * catalog was validated at build. Shipped only beside a bundle that imports it.
 */
export const LAZY_FILES: Readonly<Record<string, string>> = {
  'shared/generated/catalog-validator.js': 'catalog-validator.js',
};

/**
 * Dependencies replaced at bundle time, so a bundle requires nothing but Node built-ins (a built-in's
 * entry also stands for its `node:` name).
 * axios's node build imports `form-data` (and through it mime-types + mime-db, ~160 KB) only to
 * build multipart bodies; our requests are bodiless GETs. Node 20's built-in FormData is
 * spec-compliant and axios streams it itself, so multipart would still work if ever needed.
 */
export const REPLACED_MODULES: Readonly<Record<string, string>> = {
  // A lazy stand-in: reading globalThis.FormData at load would load undici (~30 ms per cold start).
  'form-data':
    'module.exports = class FormData { constructor() { return new globalThis.FormData(); } static [Symbol.hasInstance](x) { return x instanceof globalThis.FormData; } };',
  // `debug` (under axios's proxy agent and follow-redirects) probes for it in a try/catch at load;
  // unbundled, that would be a node_modules lookup on every cold start that can only fail.
  'supports-color': 'module.exports = false;',
  // axios imports `http2` at load for an HTTP/2 transport we never select; the built-in is loaded
  // only if a property is ever read, so the option still works.
  http2: "module.exports = new Proxy({}, { get: (_, k) => require('node:http2')[k] });",
  // zlib: axios decompresses answers with it (loaded on the first compressed answer, see
  // PATCHED_FILES) and GET /openapi.json unpacks its document with it; no cold start needs it.
  zlib: lazyBuiltin('zlib'),
  // sonic-boom (pino's stdout writer) requires `assert` at load for rare checks; node:assert pulls
  // in its error formatting (~5 ms). Loaded on first call instead.
  assert:
    "module.exports = new Proxy(function assert() {}, { apply: (_, t, a) => require('node:assert')(...a), get: (_, k) => require('node:assert')[k] });",
  // axios builds an HTTPS proxy agent only when a proxy is configured; the provider client sets
  // `proxy: false` (it must not read HTTP(S)_PROXY from the environment), so never here.
  'https-proxy-agent':
    "module.exports = class HttpsProxyAgent { constructor() { throw new Error('HTTP proxies are not supported by fc-notify bundles'); } };",
  // axios's HTTP adapter imports follow-redirects (and through it `debug`, ~15 KB together) and
  // uses it only when maxRedirects is not 0 and no transport is given; the provider client sets
  // both (a provider answer is never a redirect to follow), so a redirecting request fails loudly.
  'follow-redirects':
    "const no = { request() { throw new Error('HTTP redirects are not supported by fc-notify bundles'); } }; module.exports = { http: no, https: no };",
};

/**
 * Source files replaced at bundle time (path suffix → contents). axios evaluates its fetch
 * adapter at load (`getFetch()`), which reads globalThis.Request/Response and so loads Node's
 * undici (~30 ms of every cold start); our client pins `adapter: 'http'`, so fetch is never used.
 */
export const REPLACED_FILES: Readonly<Record<string, string>> = {
  'node_modules/axios/lib/adapters/fetch.js': 'export const getFetch = () => false;\nexport default false;\n',
  // Reads and cuts openapi.json when running from source; a bundle embeds its document instead.
  'shared/openapi/select.ts': "export function sourceDocument() { throw new Error('bundles embed their OpenAPI document'); }\n",
  // Builds the console page with esbuild (a devDependency) when running from source; a bundle embeds the page instead.
  // pino's worker-thread transports (pino.transport, the `transport` option) are not used: logs go to
  // stdout synchronously. Its loader requires `module` (createRequire) and thread-stream at load.
  'node_modules/pino/lib/transport.js': "module.exports = function transport() { throw new Error('pino transports are not bundled'); };\n",
  'shared/console/source.ts': "export function buildConsoleAssets() { throw new Error('bundles embed the console page'); }\n",
};

/**
 * Exact edits to dependency sources (path suffix → [find, replace] pairs, every occurrence of
 * `find` is replaced); the build fails when a `find` is missing, so a dependency upgrade cannot silently undo one.
 */
export const PATCHED_FILES: Readonly<Record<string, ReadonlyArray<readonly [string, string]>>> = {
  // axios reads globalThis.FormData at load to cache the class, which loads undici; its
  // isFormData() also recognises FormData by shape (append + [object FormData]), so the cached
  // class is not needed.
  'node_modules/axios/lib/utils.js': [
    ["const FormDataCtor = typeof G.FormData !== 'undefined' ? G.FormData : undefined;", 'const FormDataCtor = undefined;'],
  ],
  // axios's HTTP adapter reads zlib's constants and probes its decompressors at load, which loads
  // node:zlib on every cold start (zlib is a lazy stand-in, REPLACED_MODULES). The same values are
  // read when an answer is decompressed, so zlib loads only for a compressed answer. The
  // Accept-Encoding header stays as axios sends it: `br` when Node has Brotli (process.versions.brotli,
  // what createBrotliDecompress exists for), `zstd` only on request and when Node can decompress it.
  'node_modules/axios/lib/adapters/http.js': [
    [
      `const zlibOptions = {
  flush: zlib.constants.Z_SYNC_FLUSH,
  finishFlush: zlib.constants.Z_SYNC_FLUSH,
};

const brotliOptions = {
  flush: zlib.constants.BROTLI_OPERATION_FLUSH,
  finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH,
};

const zstdOptions = {
  flush: zlib.constants.ZSTD_e_flush,
  finishFlush: zlib.constants.ZSTD_e_flush,
};

const isBrotliSupported = utils.isFunction(zlib.createBrotliDecompress);
const isZstdSupported = utils.isFunction(zlib.createZstdDecompress);
const ACCEPT_ENCODING = 'gzip, compress, deflate' + (isBrotliSupported ? ', br' : '');
const ACCEPT_ENCODING_WITH_ZSTD = ACCEPT_ENCODING + (isZstdSupported ? ', zstd' : '');`,
      `const zlibOptions = {
  get flush() { return zlib.constants.Z_SYNC_FLUSH; },
  get finishFlush() { return zlib.constants.Z_SYNC_FLUSH; },
};

const brotliOptions = {
  get flush() { return zlib.constants.BROTLI_OPERATION_FLUSH; },
  get finishFlush() { return zlib.constants.BROTLI_OPERATION_FLUSH; },
};

const zstdOptions = {
  get flush() { return zlib.constants.ZSTD_e_flush; },
  get finishFlush() { return zlib.constants.ZSTD_e_flush; },
};

const isBrotliSupported = () => utils.isFunction(zlib.createBrotliDecompress);
const isZstdSupported = () => utils.isFunction(zlib.createZstdDecompress);
const ACCEPT_ENCODING = 'gzip, compress, deflate' + (typeof process.versions.brotli === 'string' ? ', br' : '');`,
    ],
    ['? ACCEPT_ENCODING_WITH_ZSTD', "? ACCEPT_ENCODING + (isZstdSupported() ? ', zstd' : '')"],
    ['if (isBrotliSupported) {', 'if (isBrotliSupported()) {'],
    ['if (isZstdSupported) {', 'if (isZstdSupported()) {'],
    // `proxy: false` (our provider client) makes axios ask for a direct agent on every request; it reads
    // process.allowedNodeEnvironmentFlags first, whose first read builds the set of every Node option
    // (~0.8 ms of a cold start's first request). The flag only matters for an agent with
    // `options.proxyEnv` (Node's own env proxy); checked after that test, the answer is the same.
    [
      `  if (
    !process.allowedNodeEnvironmentFlags ||
    !process.allowedNodeEnvironmentFlags.has('--use-env-proxy')
  ) {
    return configuredAgent;
  }

  const agent = configuredAgent || transport.globalAgent;`,
      '  const agent = configuredAgent || transport.globalAgent;',
    ],
    [
      `    typeof options.proxyEnv !== 'object' ||
    options.proxyEnv === null
  ) {`,
      `    typeof options.proxyEnv !== 'object' ||
    options.proxyEnv === null ||
    !process.allowedNodeEnvironmentFlags ||
    !process.allowedNodeEnvironmentFlags.has('--use-env-proxy')
  ) {`,
    ],
  ],
  // pino reads worker_threads' isMainThread at load (node:worker_threads and its internals on
  // every cold start) for asynchronous destinations only; ours is synchronous.
  'node_modules/pino/lib/tools.js': [
    ["const { isMainThread } = require('worker_threads')\n", ''],
    ['if (!opts.sync && isMainThread) {', "if (!opts.sync && require('worker_threads').isMainThread) {"],
  ],
  // p-retry times its retries with the global `performance`, whose first read loads Node's perf_hooks
  // (~1 ms of the first request); process.hrtime is the same monotonic clock.
  'node_modules/p-retry/index.js': [['performance.now()', '(Number(process.hrtime.bigint()) / 1e6)']],
  // axios times each request the same way (config.duration); same monotonic clock, no perf_hooks.
  'node_modules/axios/lib/core/dispatchRequest.js': [
    [
      `return typeof performance !== 'undefined' && utils.isFunction(performance.now)
    ? () => performance.now()
    : Date.now;`,
      'return () => Number(process.hrtime.bigint()) / 1e6;',
    ],
  ],
  // pino calls os.hostname() at load for its default `base`; ours is null, so the name is looked up
  // only if a logger ever uses the default base.
  'node_modules/pino/pino.js': [
    ["const os = require('node:os')\n", ''],
    ['const hostname = os.hostname()\n', ''],
    ['base: { pid, hostname },', "base: { pid, get hostname () { return require('node:os').hostname() } },"],
  ],
};

/**
 * V8 code cache (issue 15). `index.js` is a small loader; the bundle is `app.js` beside it, and
 * `app.cache` holds V8's compiled code for it, made at build by running the bundle once in a
 * child `node` (require, `GET /healthz`, one send per channel to a loopback provider stand-in) and calling `script.createCachedData()`, so the
 * functions a cold start runs are not parsed and compiled again on FC. The loader hands the cache
 * to `vm.Script` only when its SHA-1 is the one recorded at build (a truncated or damaged upload
 * is ignored, never fed to V8); V8 itself then rejects a cache made by another V8 version or with
 * other flags (`script.cachedDataRejected`), and the bundle is compiled from source as without a
 * cache: slower, same behaviour. Both paths are tested (test/integration/bundle.test.ts, "V8 code cache").
 */
export const CODE_FILE = 'app.js';
export const CACHE_FILE = 'app.cache';

/**
 * The CommonJS wrapper around app.js, as Node's `Module.wrap` writes it; spelled out because
 * `require('node:module')` loads Node's ES module loader too (~0.3 ms of every cold start). The
 * cache is made with the same text (produceCodeCache), V8 checks the source length against it.
 */
const WRAP = ['(function (exports, require, module, __filename, __dirname) { ', '\n});'] as const;

/** index.js: compiles app.js with the code cache when it is intact, and runs it as CommonJS would. */
export function loaderSource(cacheSha1: string | null): string {
  return `'use strict';
// fc-notify loader (scripts/build.ts): compiles ${CODE_FILE} with V8's code cache ${CACHE_FILE} when its
// SHA-1 matches the build's; V8 rejects a cache of another version or flags and compiles from source.
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const file = path.join(__dirname, ${JSON.stringify(CODE_FILE)});
let cachedData;
${
  cacheSha1 === null
    ? ''
    : `try {
  const data = fs.readFileSync(path.join(__dirname, ${JSON.stringify(CACHE_FILE)}));
  // crypto.hash (Node >= 20.12): one call, ~0.3 ms less than a Hash object on the first use.
  const crypto = require('node:crypto');
  const sha1 = typeof crypto.hash === 'function' ? crypto.hash('sha1', data) : crypto.createHash('sha1').update(data).digest('hex');
  if (sha1 === ${JSON.stringify(cacheSha1)}) cachedData = data;
} catch {}
`
}const script = new vm.Script(${JSON.stringify(WRAP[0])} + fs.readFileSync(file, 'latin1') + ${JSON.stringify(WRAP[1])}, { filename: file, cachedData });
script.runInThisContext().call(module.exports, module.exports, require, module, file, __dirname);
// For tests and the bench: whether the cache was used. Not enumerable, the handler's exports stay as built.
Object.defineProperty(module.exports, 'codeCache', { value: cachedData === undefined ? 'none' : script.cachedDataRejected ? 'rejected' : 'used' });
`;
}

/**
 * esbuild turns each default or namespace import of a Node built-in (`import http from 'http'`,
 * axios's style; `import * as crypto from 'node:crypto'`) into its interop helper
 * `__toESM(require("http"), 1)`, which copies every export of the module onto a new object as a
 * getter: 15 copies of 6 built-ins at each cold start (util, stream, http and https three times
 * each), ~250 KB allocated and ~0.5 ms (BENCHMARKS.md, issue 15). This makes the helper's result
 * for a built-in one per module: the same getters, made once. Other modules' interop is untouched.
 * The build fails if esbuild's helper no longer has the shape looked for.
 */
export function shareBuiltinInterop(code: string): string {
  const def = /([\w$]+)\s*=\s*\(([\w$]+),\s*([\w$]+),\s*([\w$]+)\)\s*=>\s*\(\4\s*=\s*\2\s*!=\s*null\s*\?/.exec(code);
  const calls = /([\w$]+)\(require\("((?:node:)?[a-z_\d/]+)"\),\s*1\)/g;
  if (!def) {
    if (/\(require\("(?:node:)?[a-z_\d/]+"\),\s*1\)/.test(code))
      throw new Error("esbuild's __toESM helper not found: shareBuiltinInterop needs updating");
    return code;
  }
  const helper = def[1] as string;
  let n = 0;
  const out = code.replace(calls, (all, fn: string, id: string) => {
    if (fn !== helper || !isBuiltin(id)) return all;
    n += 1;
    return `__fcnBuiltinESM(require(${JSON.stringify(id)}),${helper})`;
  });
  if (n === 0) return code;
  // One line, no newline: the bundle's line numbers (stack traces) stay as esbuild wrote them.
  const shared = 'var __fcnBuiltinESM=((m)=>(mod,toESM)=>{let e=m.get(mod);if(e===void 0){e=toESM(mod,1);m.set(mod,e)}return e})(new Map);';
  const strict = /^(['"])use strict\1;/.exec(out);
  return strict ? strict[0] + shared + out.slice(strict[0].length) : shared + out;
}

/** Runs app.js once in a child node (require, /healthz, a send per channel to a loopback stand-in) and writes V8's cache for it. */
function produceCodeCache(dir: string): { bytes: number; sha1: string; sends: number } {
  const script = `
const fs = require('node:fs'), path = require('node:path'), vm = require('node:vm');
const dir = process.argv[1];
const file = path.join(dir, ${JSON.stringify(CODE_FILE)});
const script = new vm.Script(${JSON.stringify(WRAP[0])} + fs.readFileSync(file, 'latin1') + ${JSON.stringify(WRAP[1])}, { filename: file });
const http = (method, p, body) => Buffer.from(JSON.stringify({ version: 'v1', rawPath: p, headers: { 'content-type': 'application/json' }, queryParameters: {},
  body: body ? JSON.stringify(body) : '', isBase64Encoded: false, requestContext: { http: { method, path: p, sourceIp: '127.0.0.1' }, requestId: 'build' } }));
// A health check and one send of each channel to a provider stand-in on this machine's loopback
// (plain HTTP, nothing leaves the machine), so the functions a production cold start runs, axios's
// HTTP adapter and the reading of the vendor's answer included, are compiled and in the cache (the
// built-in sandbox is an axios adapter: the HTTP adapter was left to compile on FC's first request).
// A function answers 404 to the other channel's route.
const events = [http('GET', '/healthz'), http('POST', '/sms', { phone: '13800138000', skin: '1', params: ['1234'] }), http('POST', '/voice', { phone: '13900139000', content: '您好，您的快递已送达。' })];
let sends = 0;
const provider = require('node:http').createServer((req, res) => {
  sends += 1;
  req.resume();
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
  res.end(req.url.startsWith('/chuangxin') ? '{"ReturnStatus":"Success","Message":"ok","TaskID":1,"SuccessCounts":1}' : '{"Message":"ok","Code":"OK"}');
});
provider.listen(0, '127.0.0.1', () => {
  const base = 'http://127.0.0.1:' + provider.address().port;
  process.env.LONG_SMS_URL = base + '/largesms';
  process.env.VOICE_URL = base + '/chuangxin/yytz';
  const m = { exports: {} };
  (async () => {
    script.runInThisContext().call(m.exports, m.exports, require, m, file, dir);
    for (const e of events) await m.exports.handler(e, { requestId: 'build', function: { name: 'build', timeout: 3 } });
  })().catch(() => {}).finally(() => {
    fs.writeFileSync(path.join(dir, ${JSON.stringify(CACHE_FILE)}), script.createCachedData());
    process.stderr.write('provider requests ' + sends + '\\n');
    process.exit(0);
  });
});
`;
  // Only PATH and a stand-in AppCode: no credentials or REDIS_URL of the build machine reach the
  // bundle. Quiet hours off, so the voice send is made whatever the hour of the build.
  const r = spawnSync(process.execPath, ['-e', script, dir], {
    env: { PATH: process.env.PATH ?? '', APPCODE: 'build-code-cache-stand-in', ALLOW_UNAUTHENTICATED: '1', QUIET_HOURS: 'off' },
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 30_000,
  });
  const cacheFile = join(dir, CACHE_FILE);
  if (r.status !== 0 || !existsSync(cacheFile)) throw new Error(`code cache for ${dir} not produced: ${String(r.stderr).slice(0, 400)}`);
  const data = readFileSync(cacheFile);
  const sends = Number(/provider requests (\d+)/.exec(String(r.stderr))?.[1] ?? 0);
  return { bytes: data.length, sha1: createHash('sha1').update(data).digest('hex'), sends };
}

export interface BuildOptions {
  /** Project root (package.json with the `#shared/*` imports). */
  root?: string;
  /** Where `<name>/index.js` go. Default `<root>/dist`. */
  outdir?: string;
  /** Folder holding `<name>/index.ts`. Default `<root>/functions`. */
  functionsDir?: string;
  /** Which functions; default every folder of functionsDir with an index.ts. */
  functions?: string[];
  minify?: boolean;
  /** Per index.js; default BUNDLE_BUDGET_KB or 320. */
  budgetKb?: number;
  /** Ship app.cache and the loader that uses it (default true; false to measure without). */
  codeCache?: boolean;
  /** Default LAZY_MODULES; pass [] to inline them (to measure what laziness saves). */
  lazyModules?: readonly string[];
  /** Default LAZY_FILES; pass {} to inline them. */
  lazyFiles?: Readonly<Record<string, string>>;
  /** Metafiles go here, never inside an uploaded folder. Default `<outdir>/.meta`. */
  metaDir?: string;
  /**
   * Validate templates.json (or TEMPLATES_FILE) and embed it in the bundles (default true).
   * A broken catalog fails the build here, not at the first request.
   */
  catalog?: boolean;
}

export interface LazyFile {
  module: string;
  file: string;
  bytes: number;
}

export interface BundleReport {
  name: string;
  /** Absolute path of index.js, what FC requires (the loader). */
  file: string;
  /** Absolute path of app.js, the bundled code the loader runs. */
  codeFile: string;
  /** index.js + app.js: what every cold start reads and compiles (the budget applies to it). */
  bytes: number;
  /** Size of app.cache (0 without a code cache). */
  cacheBytes: number;
  /** Requests that reached the loopback provider stand-in while app.cache was made (1 for a sending function). */
  cacheSends: number;
  lazy: LazyFile[];
  /** Absolute path of the metafile of index.js. */
  metafile: string;
  /** Every input file that contributed bytes to index.js (paths relative to root). */
  inputs: string[];
  overBudget: boolean;
}

/** The console page (GET /console) as template-validate's bundle carries it. */
export interface ConsolePageReport {
  function: string;
  files: number;
  /** Uncompressed bytes of the HTML, JS and CSS. */
  bytes: number;
  /** Brotli bytes: what a browser downloads (the route sends them as stored when it accepts br). */
  transferredBytes: number;
}

export interface BuildResult {
  outdir: string;
  /** Set when the console's function was built. */
  console?: ConsolePageReport;
  budgetBytes: number;
  bundles: BundleReport[];
  overBudget: BundleReport[];
}

export function discoverFunctions(functionsDir: string): string[] {
  return readdirSync(functionsDir)
    .filter((name) => statSync(join(functionsDir, name)).isDirectory() && existsSync(join(functionsDir, name, 'index.ts')))
    .sort();
}

export function budgetFromEnv(env: Record<string, string | undefined> = process.env): number {
  const raw = env.BUNDLE_BUDGET_KB;
  if (raw === undefined || raw.trim() === '') return DEFAULT_BUDGET_KB;
  const kb = Number(raw);
  if (!Number.isFinite(kb) || kb <= 0) throw new Error(`BUNDLE_BUDGET_KB must be a positive number of kilobytes, got "${raw}"`);
  return kb;
}

const lazyFileName = (module: string) => `${module.replace(/^@/, '').replace(/[^\w.-]+/g, '-')}.js`;

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function replacePlugin(): Plugin {
  const names = Object.keys(REPLACED_MODULES);
  const files = Object.entries(REPLACED_FILES);
  return {
    name: 'fcn-replace',
    setup(b) {
      if (names.length > 0) {
        // `zlib` and `node:zlib` are one module (one stand-in in the bundle).
        const filter = new RegExp(`^(node:)?(${names.map(escapeRegExp).join('|')})$`);
        // A stand-in's own require of the real built-in stays a require.
        b.onResolve({ filter }, (args) =>
          args.namespace === 'fcn-replaced'
            ? { path: args.path, external: true }
            : { path: args.path.replace(/^node:/, ''), namespace: 'fcn-replaced' },
        );
        b.onLoad({ filter: /.*/, namespace: 'fcn-replaced' }, (args) => ({ contents: REPLACED_MODULES[args.path] ?? '', loader: 'js' }));
      }
      const patches = Object.entries(PATCHED_FILES);
      if (patches.length > 0) {
        const filter = new RegExp(`(${patches.map(([suffix]) => escapeRegExp(suffix)).join('|')})$`);
        b.onLoad({ filter }, async (args) => {
          const hit = patches.find(([suffix]) => args.path.replaceAll('\\', '/').endsWith(suffix));
          if (!hit) return undefined;
          let source = await readFile(args.path, 'utf8');
          for (const [find, replace] of hit[1]) {
            if (!source.includes(find)) throw new Error(`build patch for ${hit[0]} no longer applies (dependency changed?): ${find}`);
            source = source.replaceAll(find, replace);
          }
          return { contents: source, loader: 'js' };
        });
      }
      if (files.length > 0) {
        const filter = new RegExp(`(${files.map(([suffix]) => escapeRegExp(suffix)).join('|')})$`);
        b.onLoad({ filter }, (args) => {
          const hit = files.find(([suffix]) => args.path.replaceAll('\\', '/').endsWith(suffix));
          return hit ? { contents: hit[1], loader: 'js' } : undefined;
        });
      }
    },
  };
}

/**
 * Turns `await import('<lazy module>')` into a require of `./<module>.js` beside the bundle, made
 * only when the import runs. (Left as an external `import()`, Node would load the CommonJS sidecar
 * as ESM and lose its named exports such as `Redis`.) Records which modules were used.
 */
function lazyPlugin(modules: readonly string[], used: Set<string>): Plugin {
  return {
    name: 'fcn-lazy',
    setup(b) {
      if (modules.length === 0) return;
      const filter = new RegExp(`^(${modules.map(escapeRegExp).join('|')})$`);
      b.onResolve({ filter }, (args) => {
        if (args.kind !== 'dynamic-import') {
          return {
            errors: [
              {
                text: `"${args.path}" must be loaded with \`await import('${args.path}')\` so cold starts do not pay for it (imported from ${relative(ROOT, args.importer)})`,
              },
            ],
          };
        }
        used.add(args.path);
        return { path: args.path, namespace: 'fcn-lazy' };
      });
      b.onLoad({ filter: /.*/, namespace: 'fcn-lazy' }, (args) => ({
        contents: `module.exports = require(${JSON.stringify(`./${lazyFileName(args.path)}`)});`,
        loader: 'js',
      }));
      b.onResolve({ filter: /^\.\//, namespace: 'fcn-lazy' }, (args) => ({ path: args.path, external: true }));
    },
  };
}

/**
 * esbuild's `charset: 'ascii'` escapes strings and identifiers but leaves non-ASCII characters in
 * regular expression literals (the catalog rules' Chinese keywords); `\uXXXX` means the same code
 * unit there, in strings and in identifiers, so every code unit above 0x7F is escaped. The loader
 * reads app.js as latin1 and relies on this: the build fails if anything non-ASCII is left.
 */
export function asciiOnly(code: string): string {
  const out = code.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (/[\u0080-\uffff]/.test(out)) throw new Error('bundle is not ASCII after escaping');
  return out;
}

/** Stands in for LAZY_FILES: each export a getter that requires the sidecar on first read. */
function lazyFilePlugin(root: string, files: ReadonlyArray<{ path: string; file: string; exports: string[] }>): Plugin {
  return {
    name: 'fcn-lazy-file',
    setup(b) {
      if (files.length === 0) return;
      const byPath = new Map(files.map((f) => [resolve(root, f.path), f]));
      const filter = new RegExp(`(${files.map((f) => escapeRegExp(basename(f.path))).join('|')})$`);
      b.onResolve({ filter }, (args) => {
        const hit = args.namespace === 'file' ? byPath.get(resolve(args.resolveDir, args.path)) : undefined;
        return hit ? { path: hit.file, namespace: 'fcn-lazy-file' } : undefined;
      });
      b.onLoad({ filter: /.*/, namespace: 'fcn-lazy-file' }, (args) => {
        const f = files.find((x) => x.file === args.path);
        if (!f) return undefined;
        const getters = f.exports.map((e) => `${JSON.stringify(e)}: { enumerable: true, get: () => load()[${JSON.stringify(e)}] }`);
        return {
          contents: `let m;\nconst load = () => (m ??= require(${JSON.stringify(`./${f.file}`)}));\nObject.defineProperties(module.exports, { ${getters.join(', ')} });\n`,
          loader: 'js',
        };
      });
      b.onResolve({ filter: /^\.\//, namespace: 'fcn-lazy-file' }, (args) => ({ path: args.path, external: true }));
    },
  };
}

const COMMON = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // ASCII only (non-ASCII as \uXXXX escapes, see asciiOnly): the loader reads app.js as latin1, a
  // one-byte string for V8, ~1 ms less to read and compile at every cold start than UTF-8
  // (BENCHMARKS.md); the escapes cost ~0.5 KB per sending bundle.
  charset: 'ascii',
  logLevel: 'silent',
} as const;

/**
 * The lazy modules the bundle really loads: those whose stub made it into index.js. esbuild
 * resolves a dynamic import even in code it then drops (tree-shaken), so what the resolver saw
 * is not enough: a function that never reaches the Redis store must not ship ioredis.js.
 */
export function shippedLazyModules(meta: Metafile, resolved: ReadonlySet<string>): string[] {
  const out = Object.values(meta.outputs)[0];
  if (!out) return [];
  return [...resolved].filter((m) => (out.inputs[`fcn-lazy:${m}`]?.bytesInOutput ?? 0) > 0).sort();
}

function contributors(meta: Metafile, root: string): string[] {
  const out = Object.values(meta.outputs)[0];
  if (!out) return [];
  return Object.entries(out.inputs)
    .filter(([, v]) => v.bytesInOutput > 0)
    .map(([k]) => relative(root, resolve(root, k)));
}

async function findEnvFiles(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && /^\.env(\..*)?$/.test(entry.name)) found.push(join(entry.parentPath, entry.name));
  }
  return found;
}

export async function build(options: BuildOptions = {}): Promise<BuildResult> {
  const root = resolve(options.root ?? ROOT);
  const outdir = resolve(options.outdir ?? join(root, 'dist'));
  const functionsDir = resolve(options.functionsDir ?? join(root, 'functions'));
  const functions = options.functions ?? discoverFunctions(functionsDir);
  const metaDir = resolve(options.metaDir ?? join(outdir, '.meta'));
  const lazyModules = options.lazyModules ?? LAZY_MODULES;
  const minify = options.minify ?? true;
  const budgetBytes = Math.round((options.budgetKb ?? budgetFromEnv()) * 1024);

  if (functions.length === 0) throw new Error(`no functions found in ${functionsDir} (expected <name>/index.ts)`);
  for (const name of functions) {
    if (!existsSync(join(functionsDir, name, 'index.ts')))
      throw new Error(`function "${name}" has no ${join(functionsDir, name, 'index.ts')}`);
  }

  const catalog = options.catalog === false ? { define: {}, warnings: [] } : prepareCatalog();
  for (const w of catalog.warnings) process.stderr.write(`warning: ${w}\n`);
  await mkdir(metaDir, { recursive: true });
  // Generated here from the route table (the same text as the committed openapi.json, which a test
  // keeps in step), so a bundle never serves a description older than its code.
  const apiDocument = buildDocument();
  let consoleAssets: ConsoleAssets | undefined;
  if (functions.includes(CONSOLE_FUNCTION)) consoleAssets = await buildConsoleAssets({ minify });
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

  const lazyFiles = await Promise.all(
    Object.entries(options.lazyFiles ?? LAZY_FILES).map(async ([path, file]) => ({
      path,
      file,
      exports: Object.keys((await import(pathToFileURL(resolve(root, path)).href)) as object).filter((k) => k !== 'default'),
    })),
  );

  const bundles: BundleReport[] = [];
  for (const name of functions) {
    const dir = join(outdir, name);
    // A clean folder each time: whatever is in it gets uploaded (stale files, a stray .env).
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    const file = join(dir, 'index.js');
    const codeFile = join(dir, CODE_FILE);
    const used = new Set<string>();
    const result = await esbuild({
      ...COMMON,
      absWorkingDir: root,
      entryPoints: [join(functionsDir, name, 'index.ts')],
      outfile: codeFile,
      minify,
      metafile: true,
      // A string literal: nothing is parsed at cold start, GET /openapi.json answers it as is.
      define: {
        ...catalog.define,
        [OPENAPI_GLOBAL]: JSON.stringify(embeddedOpenapi(apiDocument, name)),
        [VERSION_GLOBAL]: JSON.stringify(version),
        // Only template-validate gets the page; the sending functions' bundles stay byte for byte the same.
        ...(name === CONSOLE_FUNCTION && consoleAssets ? { [CONSOLE_GLOBAL]: embeddedConsole(consoleAssets) } : {}),
        // Only template-validate dry-runs jobs (POST /templates/validate): true there, false (dropped) elsewhere.
        [DRY_RUN_GLOBAL]: String(name === CONSOLE_FUNCTION),
      },
      plugins: [replacePlugin(), lazyPlugin(lazyModules, used), lazyFilePlugin(root, lazyFiles)],
    });
    const metafile = join(metaDir, `${name}.json`);
    await writeFile(metafile, JSON.stringify(result.metafile));

    const lazy: LazyFile[] = [];
    for (const module of shippedLazyModules(result.metafile, used)) {
      const lazyFile = join(dir, lazyFileName(module));
      const lazyResult = await esbuild({
        ...COMMON,
        absWorkingDir: root,
        stdin: { contents: `module.exports = require(${JSON.stringify(module)});`, resolveDir: root, loader: 'js' },
        outfile: lazyFile,
        minify,
        metafile: true,
        plugins: [replacePlugin()],
      });
      await writeFile(join(metaDir, `${name}.${basename(lazyFile, '.js')}.json`), JSON.stringify(lazyResult.metafile));
      lazy.push({ module, file: lazyFile, bytes: statSync(lazyFile).size });
    }
    const codeInputs = Object.values(result.metafile.outputs)[0]?.inputs ?? {};
    for (const f of lazyFiles) {
      if ((codeInputs[`fcn-lazy-file:${f.file}`]?.bytesInOutput ?? 0) === 0) continue;
      const lazyFile = join(dir, f.file);
      await esbuild({ ...COMMON, absWorkingDir: root, entryPoints: [resolve(root, f.path)], outfile: lazyFile, minify });
      lazy.push({ module: f.path, file: lazyFile, bytes: statSync(lazyFile).size });
    }
    await writeFile(codeFile, asciiOnly(shareBuiltinInterop(await readFile(codeFile, 'utf8'))));
    // The repo's package.json says "type": "module"; this keeps the folder CommonJS wherever it is copied.
    await writeFile(join(dir, 'package.json'), `${JSON.stringify({ type: 'commonjs', private: true })}\n`);

    const cache = options.codeCache === false ? null : produceCodeCache(dir);
    await writeFile(file, loaderSource(cache?.sha1 ?? null));

    const bytes = statSync(file).size + statSync(codeFile).size;
    bundles.push({
      name,
      file,
      codeFile,
      bytes,
      cacheBytes: cache?.bytes ?? 0,
      cacheSends: cache?.sends ?? 0,
      lazy,
      metafile,
      inputs: contributors(result.metafile, root),
      overBudget: bytes > budgetBytes,
    });
  }

  const envFiles = await findEnvFiles(outdir);
  if (envFiles.length > 0) {
    await Promise.all(envFiles.map((f) => rm(f, { force: true })));
    throw new Error(`removed .env file(s) from the upload folder, check how they got there: ${envFiles.join(', ')}`);
  }

  const files = consoleAssets ? Object.values(consoleAssets) : [];
  return {
    outdir,
    budgetBytes,
    bundles,
    overBudget: bundlesOverBudget(bundles, budgetBytes),
    ...(consoleAssets
      ? {
          console: {
            function: CONSOLE_FUNCTION,
            files: files.length,
            bytes: files.reduce((n, f) => n + f.bytes, 0),
            transferredBytes: files.reduce((n, f) => n + f.brBytes, 0),
          },
        }
      : {}),
  };
}

/** The bundles whose index.js (what every cold start loads) is larger than the budget. */
export function bundlesOverBudget(bundles: readonly BundleReport[], budgetBytes: number): BundleReport[] {
  return bundles.filter((b) => b.bytes > budgetBytes);
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;

export function sizeTable(result: BuildResult): string {
  const header = ['function', 'index.js + app.js (bytes)', 'code', 'app.cache', 'lazy files (loaded on first use)', 'budget'];
  const rows = result.bundles.map((b) => [
    b.name,
    b.bytes.toLocaleString('en-US'),
    kb(b.bytes),
    b.cacheBytes ? kb(b.cacheBytes) : '-',
    b.lazy.map((l) => `${basename(l.file)} ${kb(l.bytes)}`).join(', ') || '-',
    b.overBudget ? 'OVER BUDGET' : 'ok',
  ]);
  const page = result.console;
  if (page) {
    // Inside template-validate's code already (counted above); this row is what a browser downloads.
    rows.push([
      `${page.function} GET /console`,
      page.transferredBytes.toLocaleString('en-US'),
      kb(page.transferredBytes),
      '-',
      `page: ${page.files} files, ${kb(page.bytes)} raw, ${kb(page.transferredBytes)} transferred (br)`,
      '(in app.js)',
    ]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  // Numbers right-aligned, text left-aligned.
  const format = (r: string[]) =>
    r
      .map((c, i) => (i === 1 || i === 2 ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [
    format(header),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.map(format),
    `budget: ${kb(result.budgetBytes)} of code per function (index.js + app.js; BUNDLE_BUDGET_KB)`,
  ].join('\n');
}

async function main(): Promise<void> {
  if (writeOpenapi()) process.stderr.write('openapi.json was stale and has been regenerated: commit it\n');
  const result = await build();
  process.stdout.write(`${sizeTable(result)}\n`);
  if (result.overBudget.length > 0) {
    process.stderr.write(
      `bundle budget exceeded: ${result.overBudget.map((b) => `${b.name} ${kb(b.bytes)}`).join(', ')} > ${kb(result.budgetBytes)}; ` +
        `inspect ${relative(process.cwd(), join(result.outdir, '.meta'))}/<name>.json (e.g. https://esbuild.github.io/analyze/)\n`,
    );
    process.exitCode = 1;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    if (err instanceof CatalogBuildError) {
      process.stderr.write(`build failed: ${err.message}\n`);
      process.exitCode = 1;
      return;
    }
    const e = err as { errors?: Array<{ text: string; location?: { file: string; line: number } | null }>; message?: string };
    if (Array.isArray(e.errors) && e.errors.length > 0) {
      for (const m of e.errors) process.stderr.write(`error: ${m.text}${m.location ? ` (${m.location.file}:${m.location.line})` : ''}\n`);
    } else {
      process.stderr.write(`build failed: ${e.message ?? String(err)}\n`);
    }
    process.exitCode = 1;
  });
}

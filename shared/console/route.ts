import { brotliDecompressSync, gzipSync } from 'node:zlib';
import { NotifyError } from '../errors.ts';
import type { HttpRequest, HttpResponse, Route } from '../fc/adapters/http.ts';
import { buildConsoleAssets, type ConsoleAssets, type ConsoleFile } from './source.ts';

/**
 * `GET /console` (template-validate only): the operators' page, and its two files
 * `/console/app.js` and `/console/app.css`. Public, like /healthz: a static page that holds no
 * data; everything it shows comes from the keyed routes it calls (see docs/console.md).
 *
 * The bundle carries the files Brotli-compressed (scripts/build.ts defines `__FCN_CONSOLE__`), so
 * they cost template-validate ~10 KB and nothing is compressed at request time for browsers that
 * accept `br`; others get gzip (made once per instance) or the plain bytes. The sending functions
 * never import this module.
 */

// Replaced by esbuild's `define` in template-validate's bundle; undeclared under tsx/vitest.
declare const __FCN_CONSOLE__: string | undefined;

/** The strict policy of the issue: nothing but this origin's script, style and API, no framing. */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

let assets: Promise<ConsoleAssets> | undefined;
const gzipped = new Map<ConsoleFile, string>();

function loadAssets(): Promise<ConsoleAssets> {
  assets ??=
    typeof __FCN_CONSOLE__ === 'string'
      ? Promise.resolve(JSON.parse(__FCN_CONSOLE__) as ConsoleAssets)
      : // From source: built with esbuild on first request (a dev server or a test; ~50 ms once).
        buildConsoleAssets().catch((err: unknown) => {
          assets = undefined;
          throw err;
        });
  return assets;
}

/** Which encoding to send: br, else gzip, else none (q=0 means "not acceptable"). */
export function pickEncoding(acceptEncoding: string | undefined): 'br' | 'gzip' | 'identity' {
  const accepted = new Set(
    (acceptEncoding ?? '')
      .toLowerCase()
      .split(',')
      .map((part) => part.trim().split(';'))
      .filter(([, ...params]) => !params.some((p) => /^\s*q\s*=\s*0(\.0*)?\s*$/.test(p)))
      .map(([name]) => name?.trim() ?? ''),
  );
  if (accepted.has('br')) return 'br';
  if (accepted.has('gzip')) return 'gzip';
  return 'identity';
}

async function serve(file: ConsoleFile, req: HttpRequest): Promise<HttpResponse> {
  const a = (await loadAssets())[file];
  const encoding = pickEncoding(req.headers['accept-encoding']);
  const headers: Record<string, string> = {
    ...SECURITY_HEADERS,
    'content-type': a.type,
    // The page is revalidated on every load; its files carry a content hash in their URL.
    'cache-control': file === 'console' ? 'no-cache' : 'public, max-age=31536000, immutable',
    vary: 'accept-encoding',
  };
  if (encoding === 'br') return { statusCode: 200, headers: { ...headers, 'content-encoding': 'br' }, body: a.br, isBase64Encoded: true };
  const raw = brotliDecompressSync(Buffer.from(a.br, 'base64'));
  if (encoding === 'gzip') {
    let body = gzipped.get(file);
    if (body === undefined) {
      body = gzipSync(raw, { level: 9 }).toString('base64');
      gzipped.set(file, body);
    }
    return { statusCode: 200, headers: { ...headers, 'content-encoding': 'gzip' }, body, isBase64Encoded: true };
  }
  return { statusCode: 200, headers, body: raw.toString('utf8'), isBase64Encoded: false };
}

export const consolePageRoute: Route = {
  method: 'GET',
  path: '/console',
  public: true,
  handler: (req) => serve('console', req),
};

export const consoleAssetRoute: Route = {
  method: 'GET',
  path: '/console/*',
  public: true,
  async handler(req) {
    const name = req.path.slice('/console/'.length);
    if (name !== 'app.js' && name !== 'app.css')
      throw new NotifyError('NOT_FOUND', 'the console has two files: /console/app.js and /console/app.css');
    return serve(name, req);
  },
};

/** What template-validate adds to its routes. */
export const consoleRoutes: Route[] = [consolePageRoute, consoleAssetRoute];

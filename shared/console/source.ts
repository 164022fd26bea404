import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants as zlib } from 'node:zlib';

/**
 * Builds the console page's three files from shared/console/page/ (the HTML, the browser code
 * bundled by esbuild, the CSS). scripts/build.ts embeds the result in template-validate's bundle;
 * run from source (tsx, vitest) the route builds it on first request. In bundles this file is
 * replaced by a stub (scripts/build.ts REPLACED_FILES): esbuild is a devDependency.
 */

export type ConsoleFile = 'console' | 'app.js' | 'app.css';

export interface ConsoleAsset {
  type: string;
  /** Brotli (quality 11), base64: what the bundle carries and what most browsers receive. */
  br: string;
  /** Uncompressed and Brotli sizes in bytes, for the build's size table. */
  bytes: number;
  brBytes: number;
}

export type ConsoleAssets = Record<ConsoleFile, ConsoleAsset>;

// Resolved when the page is built, not at load: a bundle that keeps this module (one made without
// scripts/build.ts's replacement) must still load where import.meta.url means nothing.
const pageDir = () => fileURLToPath(new URL('./page/', import.meta.url));

const TYPES: Record<ConsoleFile, string> = {
  console: 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

function asset(file: ConsoleFile, text: string): ConsoleAsset {
  const raw = Buffer.from(text, 'utf8');
  const br = brotliCompressSync(raw, {
    params: { [zlib.BROTLI_PARAM_QUALITY]: 11, [zlib.BROTLI_PARAM_MODE]: zlib.BROTLI_MODE_TEXT, [zlib.BROTLI_PARAM_SIZE_HINT]: raw.length },
  });
  return { type: TYPES[file], br: br.toString('base64'), bytes: raw.length, brBytes: br.length };
}

export async function buildConsoleAssets(options: { minify?: boolean } = {}): Promise<ConsoleAssets> {
  const { build } = await import('esbuild');
  const PAGE = pageDir();
  const result = await build({
    entryPoints: [`${PAGE}app.ts`],
    bundle: true,
    write: false,
    format: 'iife',
    // Browsers of the last few years; nothing here needs a polyfill.
    target: ['chrome100', 'firefox100', 'safari15', 'edge100'],
    minify: options.minify ?? true,
    legalComments: 'none',
    logLevel: 'silent',
  });
  const js = result.outputFiles[0]?.text ?? '';
  const css = await readFile(`${PAGE}app.css`, 'utf8');
  // The asset URLs carry a content hash, so the files can be cached for long and a new deploy
  // is fetched at once (the HTML itself is revalidated every time).
  const version = createHash('sha256').update(js).update(css).digest('hex').slice(0, 12);
  const html = (await readFile(`${PAGE}index.html`, 'utf8')).replaceAll('__VERSION__', version);
  return { console: asset('console', html), 'app.js': asset('app.js', js), 'app.css': asset('app.css', css) };
}

/** The string scripts/build.ts hands to esbuild's `define` (a JSON string literal of the assets). */
export function embeddedConsole(assets: ConsoleAssets): string {
  return JSON.stringify(JSON.stringify(assets));
}

import zlib from 'node:zlib';
import { sourceDocument } from './select.ts';

/**
 * The OpenAPI document of one function as text (shared/openapi/route.ts loads this module with
 * `await import()` on the first GET /openapi.json, so a cold start does not carry it).
 */

// Replaced by esbuild's `define`; undeclared (typeof → 'undefined') under tsx/vitest.
declare const __FCN_OPENAPI_BR__: string | undefined;

const texts = new Map<string, string>();

export function documentText(functionName: string): string {
  let text = texts.get(functionName);
  if (text === undefined) {
    text =
      typeof __FCN_OPENAPI_BR__ === 'string'
        ? zlib.brotliDecompressSync(Buffer.from(__FCN_OPENAPI_BR__, 'base64')).toString('utf8')
        : sourceDocument(functionName);
    texts.set(functionName, text);
  }
  return text;
}

import { createHmac, randomUUID } from 'node:crypto';
import type { ProviderRequest } from './request.ts';

/**
 * API Gateway signature authentication (摘要签名, HmacSHA256): the AppSecret signs each request
 * and never travels. The string to sign is
 *   METHOD \n Accept \n Content-MD5 \n Content-Type \n Date \n
 *   + one `name:value\n` per signed header (lower-case names, sorted)
 *   + path + (`?` + query sorted by key, `k=v` joined by `&`, values NOT url-encoded, bare key when empty)
 * Empty standard fields still contribute their `\n`.
 */

export const SIGNATURE_METHOD = 'HmacSHA256';
const ACCEPT = 'application/json';

export interface SignatureCredentials {
  appKey: string;
  appSecret: string;
}

export interface SignInput {
  method: string;
  /** The exact URL the request goes to (query already percent-encoded). */
  url: string;
  /** Standard headers that take part in the string to sign (absent = empty line). */
  accept?: string;
  contentMd5?: string;
  contentType?: string;
  date?: string;
  /** x-ca-* headers to sign (any case; signed lower-case). */
  signedHeaders: Record<string, string>;
}

/** Query pairs as the gateway reads them: split on `&` and the first `=`, then percent-decode. */
export function decodedQueryPairs(rawQuery: string): Array<[string, string]> {
  if (rawQuery === '') return [];
  return rawQuery.split('&').map((part) => {
    const eq = part.indexOf('=');
    const k = eq < 0 ? part : part.slice(0, eq);
    const v = eq < 0 ? '' : part.slice(eq + 1);
    return [decodeURIComponent(k), decodeURIComponent(v)];
  });
}

/** `path?k=v&k2` with keys sorted (UTF-16 order, as the gateway's Java TreeMap) and raw values. */
export function canonicalResource(url: string): string {
  const q = url.indexOf('?');
  const hash = url.indexOf('#');
  const withoutHash = hash < 0 ? url : url.slice(0, hash);
  const path = new URL(withoutHash).pathname;
  const rawQuery = q < 0 ? '' : withoutHash.slice(q + 1);
  const pairs = decodedQueryPairs(rawQuery).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (pairs.length === 0) return path;
  return `${path}?${pairs.map(([k, v]) => (v === '' ? k : `${k}=${v}`)).join('&')}`;
}

export function stringToSign(input: SignInput): string {
  const headers = Object.entries(input.signedHeaders)
    .map(([k, v]) => [k.toLowerCase(), v] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return (
    [input.method.toUpperCase(), input.accept ?? '', input.contentMd5 ?? '', input.contentType ?? '', input.date ?? '', ''].join('\n') +
    headers.map(([k, v]) => `${k}:${v}\n`).join('') +
    canonicalResource(input.url)
  );
}

export function hmacSha256Base64(secret: string, text: string): string {
  return createHmac('sha256', secret).update(text, 'utf8').digest('base64');
}

export interface SignOptions {
  now?: () => number;
  nonce?: () => string;
}

/**
 * The headers for one signed GET: X-Ca-Key, X-Ca-Timestamp (ms), X-Ca-Nonce (UUID, fresh per
 * attempt so a retry is not refused as a replay), X-Ca-Signature-Method, X-Ca-Signature-Headers,
 * X-Ca-Signature and an explicit Accept (it is part of what is signed).
 */
export function signedHeaders(creds: SignatureCredentials, method: string, url: string, options: SignOptions = {}): Record<string, string> {
  const xCa: Record<string, string> = {
    'x-ca-key': creds.appKey,
    'x-ca-nonce': (options.nonce ?? randomUUID)(),
    'x-ca-signature-method': SIGNATURE_METHOD,
    'x-ca-timestamp': String((options.now ?? Date.now)()),
  };
  const names = Object.keys(xCa).sort();
  const signature = hmacSha256Base64(creds.appSecret, stringToSign({ method, url, accept: ACCEPT, signedHeaders: xCa }));
  return {
    Accept: ACCEPT,
    'X-Ca-Key': xCa['x-ca-key'] as string,
    'X-Ca-Nonce': xCa['x-ca-nonce'] as string,
    'X-Ca-Signature-Method': SIGNATURE_METHOD,
    'X-Ca-Timestamp': xCa['x-ca-timestamp'] as string,
    'X-Ca-Signature-Headers': names.join(','),
    'X-Ca-Signature': signature,
  };
}

/** The provider client's `authenticate` hook for signature mode. */
export function signatureAuthenticator(
  creds: SignatureCredentials,
  options: SignOptions = {},
): (req: ProviderRequest, url: string) => Record<string, string> {
  return (_req, url) => signedHeaders(creds, 'GET', url, options);
}

/**
 * The gateway's "Invalid Signature, Server StringToSign:…" message repeats our query (phone,
 * verification codes). Keep what helps diagnosis (the header part and the parameter names),
 * drop the values.
 */
export function redactGatewayMessage(message: string): string {
  const at = message.indexOf('StringToSign');
  if (at < 0) return message.slice(0, 200);
  return message
    .slice(0, 400)
    .replace(/([?&][^=&\s`'"]+)=[^&`'"]*/g, '$1=…')
    .replace(/(?<!\d)1[3-9]\d{9}(?!\d)/g, '1**********');
}

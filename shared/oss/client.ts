import { createHmac } from 'node:crypto';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { Readable } from 'node:stream';

/**
 * The two OSS calls the batch trigger needs: GET an object as a stream, PUT an object from a
 * stream. Written against OSS's REST API (V1 header signature) rather than bundling the ali-oss
 * SDK, which is several MB and would break the per-function bundle budget.
 * Signature: Authorization = "OSS " + AccessKeyId + ":" + base64(HMAC-SHA1(AccessKeySecret,
 *   VERB\nContent-MD5\nContent-Type\nDate\nCanonicalizedOSSHeaders + CanonicalizedResource)).
 */

export interface OssCredentials {
  accessKeyId: string;
  accessKeySecret: string;
  /** STS token of the function's role (context.credentials.securityToken). */
  securityToken?: string;
}

export interface OssObject {
  /** e.g. https://oss-cn-hangzhou-internal.aliyuncs.com, or http://127.0.0.1:port in tests. */
  endpoint: string;
  bucket: string;
  key: string;
}

export class OssError extends Error {
  override name = 'OssError';
  constructor(
    message: string,
    readonly status: number,
    readonly ossCode: string | undefined,
  ) {
    super(message);
  }
}

/** The string OSS signs, exactly as documented (exported for tests that verify it independently). */
export function stringToSign(verb: string, contentMd5: string, contentType: string, date: string, headers: Record<string, string>, resource: string): string {
  const ossHeaders = Object.entries(headers)
    .map(([k, v]) => [k.toLowerCase(), v.trim()] as const)
    .filter(([k]) => k.startsWith('x-oss-'))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}:${v}\n`)
    .join('');
  return `${verb}\n${contentMd5}\n${contentType}\n${date}\n${ossHeaders}${resource}`;
}

export function sign(secret: string, toSign: string): string {
  return createHmac('sha1', secret).update(toSign, 'utf8').digest('base64');
}

/** Virtual-host style for OSS (bucket.endpoint), path style for an IP or localhost (tests). */
export function objectUrl(o: OssObject): URL {
  const base = new URL(o.endpoint);
  const path = o.key.split('/').map(encodeURIComponent).join('/');
  const pathStyle = isIP(base.hostname.replace(/^\[|\]$/g, '')) !== 0 || base.hostname === 'localhost';
  if (pathStyle) return new URL(`${base.protocol}//${base.host}/${o.bucket}/${path}`);
  return new URL(`${base.protocol}//${o.bucket}.${base.host}/${path}`);
}

function request(verb: 'GET' | 'PUT', o: OssObject, creds: OssCredentials, contentType = ''): http.ClientRequest {
  const url = objectUrl(o);
  const date = new Date().toUTCString();
  const headers: Record<string, string> = { Date: date };
  if (contentType) headers['Content-Type'] = contentType;
  if (creds.securityToken) headers['x-oss-security-token'] = creds.securityToken;
  const signature = sign(creds.accessKeySecret, stringToSign(verb, '', contentType, date, headers, `/${o.bucket}/${o.key}`));
  headers.Authorization = `OSS ${creds.accessKeyId}:${signature}`;
  const lib = url.protocol === 'https:' ? https : http;
  // The timeout guards connecting and waiting for an answer only (see responseOf): once a GET's
  // body is flowing it may pause while a chunk is sent, and a PUT of results stays open, idle
  // between chunks, for the whole batch. The function's own timeout bounds both.
  return lib.request(url, { method: verb, headers, timeout: verb === 'GET' ? 30_000 : 0 });
}

async function failure(res: IncomingMessage, what: string): Promise<OssError> {
  let body = '';
  for await (const chunk of res) {
    if (body.length < 4096) body += String(chunk);
  }
  const code = /<Code>([^<]{1,64})<\/Code>/.exec(body)?.[1];
  return new OssError(`OSS ${what} answered HTTP ${res.statusCode}${code ? ` ${code}` : ''}`, res.statusCode ?? 0, code);
}

function responseOf(req: http.ClientRequest): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    req.once('response', (res) => {
      req.setTimeout(0);
      resolve(res);
    });
    req.once('timeout', () => req.destroy(new Error('OSS request timed out')));
    req.once('error', reject);
  });
}

/** The object's body as a stream (never buffered whole). */
export async function getObjectStream(o: OssObject, creds: OssCredentials): Promise<Readable> {
  const req = request('GET', o, creds);
  const pending = responseOf(req);
  req.end();
  const res = await pending;
  if (res.statusCode !== 200) throw await failure(res, `GET ${o.bucket}/${o.key}`);
  return res;
}

/** A PUT whose body is written as it is produced (chunked); `end()` resolves when OSS has it. */
export function putObjectStream(o: OssObject, creds: OssCredentials, contentType: string): { write(text: string): void; end(): Promise<void> } {
  const req = request('PUT', o, creds, contentType);
  const pending = responseOf(req);
  // Without an early listener a failed connection would be an unhandled rejection before end().
  pending.catch(() => undefined);
  return {
    write: (text) => {
      req.write(text);
    },
    async end() {
      req.end();
      const res = await pending;
      if (res.statusCode !== 200) throw await failure(res, `PUT ${o.bucket}/${o.key}`);
      res.resume();
    },
  };
}

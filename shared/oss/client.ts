import { createHash, createHmac } from 'node:crypto';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import { OssError } from '../errors.ts';

/**
 * The OSS calls the triggers need: GET an object as a stream, PUT an object from a stream (batch
 * files), HEAD an object for its user metadata (notify on upload, docs/notify-on-upload.md). Written against OSS's REST API rather than bundling the ali-oss SDK (about 900 KB,
 * more than the whole per-function budget); ali-oss is a devDependency only, the test oracle.
 *
 * Signed with OSS Signature V4 in the Authorization header (docs/oss.md):
 *   Authorization: OSS4-HMAC-SHA256 Credential=<AccessKeyId>/<yyyymmdd>/<region>/oss/aliyun_v4_request,Signature=<hex>
 *   CanonicalRequest = VERB \n URI-encoded "/<bucket>/<key>" \n canonical query \n canonical headers
 *                      (content-type, content-md5, x-oss-*; lowercase, sorted) \n additional headers (none) \n
 *                      x-oss-content-sha256 (UNSIGNED-PAYLOAD)
 *   StringToSign     = "OSS4-HMAC-SHA256" \n x-oss-date \n <yyyymmdd>/<region>/oss/aliyun_v4_request \n hex(SHA256(CanonicalRequest))
 *   SigningKey       = HMAC chain "aliyun_v4"+secret → yyyymmdd → region → "oss" → "aliyun_v4_request"
 * V1 ("OSS ak:sig") is closed to accounts created from 2025-03-01 and buckets created from 2025-09-01.
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
  /** The bare region id that scopes the V4 signature, e.g. `cn-hangzhou` (not `oss-cn-hangzhou`). */
  region: string;
  bucket: string;
  key: string;
}

export const V4_ALGORITHM = 'OSS4-HMAC-SHA256';
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';

/** RFC 3986 encoding, as OSS V4 canonicalises: encodeURIComponent plus ! ' ( ) *. */
export function uriEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** `oss-cn-hangzhou` (an endpoint's host label) → `cn-hangzhou`: V4 scopes by the bare region id. */
export function signingRegion(region: string): string {
  return region.trim().replace(/^oss-/, '');
}

/** 2026-12-01T21:57:34.123Z → 20261201T215734Z (the x-oss-date format). */
export function ossDate(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

export interface SignInput {
  method: string;
  bucket: string;
  key: string;
  region: string;
  /** Every header sent; those that V4 signs (content-type, content-md5, x-oss-*) are picked here. */
  headers: Record<string, string>;
  /** Query parameters; null for a parameter without a value (`?acl`). */
  query?: Record<string, string | null>;
  accessKeyId: string;
  accessKeySecret: string;
}

export function canonicalRequest(input: Omit<SignInput, 'accessKeyId' | 'accessKeySecret' | 'region'>): string {
  const headers = new Map<string, string>();
  for (const [k, v] of Object.entries(input.headers)) {
    const name = k.toLowerCase();
    if (name === 'content-type' || name === 'content-md5' || name.startsWith('x-oss-')) headers.set(name, v.trim());
  }
  const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  const query = Object.entries(input.query ?? {})
    .sort(([a], [b]) => byCodeUnit(a, b))
    .map(([k, v]) => (v === null ? uriEncode(k) : `${uriEncode(k)}=${uriEncode(v)}`))
    .join('&');
  return [
    input.method.toUpperCase(),
    uriEncode(`/${input.bucket}/${input.key}`).replace(/%2F/g, '/'),
    query,
    [...headers.keys()]
      .sort(byCodeUnit)
      .map((k) => `${k}:${headers.get(k)}\n`)
      .join(''),
    '', // AdditionalHeaders: none are signed
    headers.get('x-oss-content-sha256') ?? UNSIGNED_PAYLOAD,
  ].join('\n');
}

/** The Authorization header for a request whose headers already carry x-oss-date. */
export function authorizationV4(input: SignInput): string {
  const timestamp = input.headers['x-oss-date'];
  if (!timestamp) throw new Error('x-oss-date is required to sign an OSS V4 request');
  const day = timestamp.slice(0, 8);
  const region = signingRegion(input.region);
  const scope = `${day}/${region}/oss/aliyun_v4_request`;
  const toSign = [V4_ALGORITHM, timestamp, scope, createHash('sha256').update(canonicalRequest(input)).digest('hex')].join('\n');
  let key: Buffer = createHmac('sha256', `aliyun_v4${input.accessKeySecret}`).update(day).digest();
  for (const part of [region, 'oss', 'aliyun_v4_request']) key = createHmac('sha256', key).update(part).digest();
  const signature = createHmac('sha256', key).update(toSign).digest('hex');
  return `${V4_ALGORITHM} Credential=${input.accessKeyId}/${scope},Signature=${signature}`;
}

/** The headers of a signed request: x-oss-date, x-oss-content-sha256, the STS token, Authorization. */
export function signedHeaders(
  method: string,
  o: OssObject,
  creds: OssCredentials,
  extra: Record<string, string> = {},
  now = new Date(),
): Record<string, string> {
  const headers: Record<string, string> = {
    ...extra,
    Date: now.toUTCString(),
    'x-oss-date': ossDate(now),
    'x-oss-content-sha256': UNSIGNED_PAYLOAD,
  };
  if (creds.securityToken) headers['x-oss-security-token'] = creds.securityToken;
  headers.Authorization = authorizationV4({
    method,
    bucket: o.bucket,
    key: o.key,
    region: o.region,
    headers,
    accessKeyId: creds.accessKeyId,
    accessKeySecret: creds.accessKeySecret,
  });
  return headers;
}

/** Virtual-host style for OSS (bucket.endpoint), path style for an IP or localhost (tests). */
export function objectUrl(o: Pick<OssObject, 'endpoint' | 'bucket' | 'key'>): URL {
  const base = new URL(o.endpoint);
  const path = o.key.split('/').map(uriEncode).join('/');
  const pathStyle = isIP(base.hostname.replace(/^\[|\]$/g, '')) !== 0 || base.hostname === 'localhost';
  if (pathStyle) return new URL(`${base.protocol}//${base.host}/${o.bucket}/${path}`);
  return new URL(`${base.protocol}//${o.bucket}.${base.host}/${path}`);
}

function request(verb: 'GET' | 'PUT' | 'HEAD', o: OssObject, creds: OssCredentials, contentType = ''): http.ClientRequest {
  const url = objectUrl(o);
  const headers = signedHeaders(verb, o, creds, contentType ? { 'Content-Type': contentType } : {});
  const lib = url.protocol === 'https:' ? https : http;
  // The timeout guards connecting and waiting for an answer only (see responseOf): once a GET's
  // body is flowing it may pause while a chunk is sent, and a PUT of results stays open, idle
  // between chunks, for the whole batch. The function's own timeout bounds both.
  // The PUT takes a connection of its own (`agent: false`), not one from the keep-alive pool: it
  // is held for the whole batch and cannot be sent again (its body is not kept), so it must not
  // land on a pooled connection that OSS closes as idle just as it is reused.
  return lib.request(url, { method: verb, headers, timeout: verb === 'PUT' ? 0 : 30_000, ...(verb === 'PUT' ? { agent: false } : {}) });
}

/**
 * Sends a bodiless request (GET, HEAD) and waits for its answer. A pooled keep-alive connection
 * that the server closed just as it was reused fails with ECONNRESET ("socket hang up") before any
 * answer; Node's documented remedy (http `request.reusedSocket`) is to send the request again,
 * which is safe here: GET and HEAD change nothing. Once, and only then.
 */
async function send(verb: 'GET' | 'HEAD', o: OssObject, creds: OssCredentials): Promise<IncomingMessage> {
  for (let attempt = 1; ; attempt++) {
    const req = request(verb, o, creds);
    const pending = responseOf(req);
    req.end();
    try {
      return await pending;
    } catch (err) {
      if (attempt === 1 && req.reusedSocket && (err as NodeJS.ErrnoException).code === 'ECONNRESET') continue;
      throw err;
    }
  }
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
  const res = await send('GET', o, creds);
  if (res.statusCode !== 200) throw await failure(res, `GET ${o.bucket}/${o.key}`);
  return res;
}

/** A PUT whose body is written as it is produced (chunked); `end()` resolves when OSS has it. */
export function putObjectStream(
  o: OssObject,
  creds: OssCredentials,
  contentType: string,
): { write(text: string): void; end(): Promise<void> } {
  const req = request('PUT', o, creds, contentType);
  const pending = responseOf(req);
  // Without an early listener a failed connection would be an unhandled rejection before end().
  pending.catch(() => undefined);
  // Start the request now rather than at the first results line (Node sends the headers with the
  // first write): a connection on which no request has begun is idle to the server, which closes it.
  req.flushHeaders();
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

export interface ObjectHead {
  /** The ETag without quotes, as OSS events give it. */
  eTag: string | undefined;
  /** User metadata (`x-oss-meta-<name>`): names lowercase without the prefix, values as sent (latin1 text of the header bytes). */
  meta: Record<string, string>;
}

/**
 * HeadObject: the object's headers only (RAM action oss:GetObject). Undefined when the object is
 * gone (404: deleted since the event); any other answer throws OssError.
 */
export async function headObject(o: OssObject, creds: OssCredentials): Promise<ObjectHead | undefined> {
  const res = await send('HEAD', o, creds);
  res.resume();
  if (res.statusCode === 404) return undefined;
  if (res.statusCode !== 200) {
    // A HEAD answer has no body: OSS puts its error code in x-oss-ec (e.g. 0003-00000001).
    const ec = res.headers['x-oss-ec'];
    throw new OssError(
      `OSS HEAD ${o.bucket}/${o.key} answered HTTP ${res.statusCode}${typeof ec === 'string' ? ` EC ${ec.slice(0, 32)}` : ''}`,
      res.statusCode ?? 0,
      undefined,
    );
  }
  const meta: Record<string, string> = {};
  for (const [name, value] of Object.entries(res.headers)) {
    if (name.startsWith('x-oss-meta-') && typeof value === 'string') meta[name.slice('x-oss-meta-'.length)] = value;
  }
  const eTag = typeof res.headers.etag === 'string' ? res.headers.etag.replace(/"/g, '') : undefined;
  return { eTag, meta };
}

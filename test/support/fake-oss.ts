import { createHash, randomBytes } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import signUtils from 'ali-oss/lib/common/signUtils.js';

/**
 * A real local HTTP server implementing OSS GET, PUT and HEAD object (path style: /<bucket>/<key>).
 * HEAD answers the object's ETag (MD5 hex, upper case, quoted as OSS does) and its user metadata
 * as `x-oss-meta-*` headers (values written as given: a value with non-ASCII characters goes out
 * as raw UTF-8 bytes, the way some clients store it).
 * It authenticates like an OSS bucket that no longer accepts V1: a V4 signature
 * (`OSS4-HMAC-SHA256`) recomputed here from the raw request with the official ali-oss SDK's
 * signer (independent of the project's client), scoped to this server's region, with the STS
 * token and a fresh x-oss-date; a V1 `OSS ak:sig` header is refused. Every request is recorded.
 */

/** STS credentials of the function role, as FC hands them in context.credentials (the suites' default). */
export const OSS_CREDS = { accessKeyId: 'STS.test-key-id', accessKeySecret: 'oss-secret-do-not-log-42', securityToken: 'sts-token-abc' };

export interface FakeOssOptions {
  accessKeyId: string;
  accessKeySecret: string;
  securityToken?: string;
  /** The region of the bucket, as V4 scopes signatures (default cn-shanghai, the event fixture's). */
  region?: string;
  /** Bytes per chunk when serving an object (small chunks prove the reader streams). */
  chunkBytes?: number;
  /**
   * Close a kept-alive connection on which no new request has started this many ms after the
   * last response, without announcing it (no `Keep-Alive: timeout=` hint, as OSS sends none):
   * the client's pool still holds it as reusable. Any HTTP server closes idle connections; a
   * client that takes a pooled one and sends nothing on it for a while is cut off.
   */
  idleCloseMs?: number;
}

export interface FakeOssRequest {
  method: string;
  path: string;
  ok: boolean;
  chunked: boolean;
  /** The Authorization scheme seen. */
  auth: 'v4' | 'v1' | 'none' | 'other';
  /** The OSS error code answered, when refused. */
  refused?: string;
  /** Raw request headers (lowercase names). */
  headers: Record<string, string>;
}

export interface FakeOss {
  endpoint: string;
  region: string;
  objects: Map<string, Buffer>;
  /** User metadata by resource (`/<bucket>/<key>`), names without `x-oss-meta-`. */
  meta: Map<string, Record<string, string>>;
  /** The ETag OSS would give the object (no quotes), as events carry it. */
  etagOf(resource: string): string;
  requests: FakeOssRequest[];
  /** GET pauses after this many bytes until `release()` (or `timeoutMs`, default 5 s); `releasedBy` tells which. */
  gate(afterBytes: number, timeoutMs?: number): { release: () => void; releasedBy: () => 'release' | 'timeout' | undefined };
  /** The next GET drops its connection after this many body bytes (a connection cut mid-file). */
  cutAfter(bytes: number): void;
  /**
   * The next request that arrives on a kept-alive connection (one that served a request before)
   * finds it closed, unanswered: the server dropped it as idle just as the client reused it.
   */
  dropNextReused(): void;
  close(): Promise<void>;
}

interface Refusal {
  status: number;
  code: string;
  message: string;
  ec?: string;
}

/** `?acl&a=b` → { acl: null, a: 'b' }, as V4 canonicalises (a parameter without `=` has no value). */
function queriesOf(search: string): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const part of search.replace(/^\?/, '').split('&')) {
    if (part === '') continue;
    const at = part.indexOf('=');
    if (at < 0) out[decodeURIComponent(part)] = null;
    else out[decodeURIComponent(part.slice(0, at))] = decodeURIComponent(part.slice(at + 1));
  }
  return out;
}

/** What OSS would answer to this request's credentials, or undefined when it is authentic. */
function authenticate(
  options: FakeOssOptions & { region: string },
  req: IncomingMessage,
  headers: Record<string, string>,
  bucket: string,
  key: string,
  search: string,
): Refusal | undefined {
  const auth = headers.authorization ?? '';
  if (/^OSS [^:\s]+:/.test(auth)) {
    // OSS's answer to V1 where it is no longer offered (EC 0002-00000080).
    return {
      status: 403,
      code: 'AccessDenied',
      message: 'The V1 signature is not supported for this bucket; sign with V4 (OSS4-HMAC-SHA256).',
      ec: '0002-00000080',
    };
  }
  if (!auth.startsWith('OSS4-HMAC-SHA256 '))
    return { status: 403, code: 'AccessDenied', message: 'AccessDenied: missing or unsupported Authorization.' };
  const fields = new Map(
    auth
      .slice('OSS4-HMAC-SHA256 '.length)
      .split(',')
      .map((f) => f.trim().split('=') as [string, string]),
  );
  const credential = fields.get('Credential')?.split('/') ?? [];
  const signature = fields.get('Signature');
  if (credential.length !== 5 || credential[3] !== 'oss' || credential[4] !== 'aliyun_v4_request' || !signature) {
    return { status: 403, code: 'AccessDenied', message: 'The Authorization header is malformed.' };
  }
  const [accessKeyId, day, region] = credential as [string, string, string];
  if (accessKeyId !== options.accessKeyId)
    return { status: 403, code: 'InvalidAccessKeyId', message: 'The OSS Access Key Id you provided does not exist in our records.' };
  const date = headers['x-oss-date'] ?? '';
  const at = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(date);
  if (!at || date.slice(0, 8) !== day)
    return { status: 403, code: 'AccessDenied', message: 'x-oss-date is missing or does not match the credential date.' };
  const when = Date.UTC(Number(at[1]), Number(at[2]) - 1, Number(at[3]), Number(at[4]), Number(at[5]), Number(at[6]));
  if (Math.abs(when - Date.now()) > 15 * 60 * 1000)
    return {
      status: 403,
      code: 'RequestTimeTooSkewed',
      message: 'The difference between the request time and the current time is too large.',
    };
  if (!headers['x-oss-content-sha256']) return { status: 403, code: 'AccessDenied', message: 'x-oss-content-sha256 is required with V4.' };
  if (options.securityToken !== undefined && headers['x-oss-security-token'] !== options.securityToken) {
    return { status: 403, code: 'InvalidSecurityToken', message: 'The security token you provided is invalid.' };
  }
  // Recomputed in this bucket's region: a request scoped to another region does not match.
  const additional = fields.get('AdditionalHeaders')?.split(';').filter(Boolean);
  const expected = signUtils.authorizationV4(
    accessKeyId,
    options.accessKeySecret,
    options.region,
    req.method ?? '',
    { headers, queries: queriesOf(search) },
    bucket,
    key,
    additional,
  );
  const expectedSignature = /Signature=([0-9a-f]+)$/.exec(expected)?.[1];
  if (region !== options.region || signature !== expectedSignature) {
    return {
      status: 403,
      code: 'SignatureDoesNotMatch',
      message: 'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
    };
  }
  return undefined;
}

function deny(res: ServerResponse, r: Refusal): void {
  res.writeHead(r.status, { 'content-type': 'application/xml', 'x-oss-request-id': randomBytes(12).toString('hex').toUpperCase() });
  res.end(
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n  <Code>${r.code}</Code>\n  <Message>${r.message}</Message>\n  <RequestId>${randomBytes(12).toString('hex').toUpperCase()}</RequestId>\n  <HostId>oss.local</HostId>\n${r.ec ? `  <EC>${r.ec}</EC>\n` : ''}</Error>\n`,
  );
}

function authKind(auth: string): FakeOssRequest['auth'] {
  if (auth === '') return 'none';
  if (auth.startsWith('OSS4-HMAC-SHA256 ')) return 'v4';
  if (auth.startsWith('OSS ')) return 'v1';
  return 'other';
}

export async function startFakeOss(options: FakeOssOptions): Promise<FakeOss> {
  const opts = { ...options, region: options.region ?? 'cn-shanghai' };
  const objects = new Map<string, Buffer>();
  const meta = new Map<string, Record<string, string>>();
  const etagOf = (resource: string) =>
    createHash('md5')
      .update(objects.get(resource) ?? '')
      .digest('hex')
      .toUpperCase();
  const requests: FakeOss['requests'] = [];
  const sockets = new Set<Socket>();
  let cutAt: number | undefined;
  const served = new WeakSet<Socket>();
  let dropReused = false;
  let gate: { afterBytes: number; wait: Promise<'release' | 'timeout'>; release: () => void; by?: 'release' | 'timeout' } | undefined;

  const server = http.createServer(async (req, res) => {
    if (dropReused && served.has(req.socket)) {
      dropReused = false;
      req.socket.destroy();
      return;
    }
    served.add(req.socket);
    const url = new URL(req.url ?? '/', 'http://oss.local');
    const [, bucket = '', ...rest] = url.pathname.split('/');
    const key = rest.map(decodeURIComponent).join('/');
    const resource = `/${bucket}/${key}`;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(',') : v;
    const refusal = authenticate(opts, req, headers, bucket, key, url.search);
    requests.push({
      method: req.method ?? '',
      path: resource,
      ok: !refusal,
      chunked: req.headers['transfer-encoding'] === 'chunked',
      auth: authKind(headers.authorization ?? ''),
      ...(refusal ? { refused: refusal.code } : {}),
      headers,
    });
    if (refusal) {
      req.resume();
      return deny(res, refusal);
    }
    if (req.method === 'PUT') {
      const chunks: Buffer[] = [];
      try {
        for await (const c of req) chunks.push(c as Buffer);
      } catch {
        return; // the client gave up mid-body ("aborted"): nothing stored, no unhandled rejection
      }
      objects.set(resource, Buffer.concat(chunks));
      res.writeHead(200, { etag: '"fake"' });
      return res.end();
    }
    const body = objects.get(resource);
    if (req.method === 'HEAD') {
      if (!body) {
        res.writeHead(404, { 'x-oss-ec': '0026-00000001' });
        return res.end();
      }
      const headers: Record<string, string> = { 'content-length': String(body.length), etag: `"${etagOf(resource)}"` };
      // Raw bytes on the wire (latin1 text of the UTF-8 bytes): Node refuses non-latin1 header text.
      for (const [k, v] of Object.entries(meta.get(resource) ?? {}))
        headers[`x-oss-meta-${k.toLowerCase()}`] = Buffer.from(v, 'utf8').toString('latin1');
      res.writeHead(200, headers);
      return res.end();
    }
    if (req.method !== 'GET' || !body) {
      res.writeHead(404, { 'content-type': 'application/xml' });
      return res.end('<Error><Code>NoSuchKey</Code></Error>');
    }
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': String(body.length),
      etag: `"${etagOf(resource)}"`,
    });
    const step = options.chunkBytes ?? 64 * 1024;
    const cut = cutAt;
    cutAt = undefined;
    for (let at = 0; at < body.length; at += step) {
      if (cut !== undefined && at >= cut) {
        res.socket?.destroy();
        return;
      }
      if (gate && at >= gate.afterBytes && !gate.by) gate.by = await gate.wait;
      if (!res.write(body.subarray(at, at + step))) await new Promise((r) => res.once('drain', r));
    }
    res.end();
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const idleClose = options.idleCloseMs;
  if (idleClose !== undefined) {
    server.keepAliveTimeout = 0; // no hint and no timer of Node's own: this one decides
    const timers = new WeakMap<Socket, NodeJS.Timeout>();
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const s = req.socket;
      clearTimeout(timers.get(s));
      res.once('finish', () => timers.set(s, setTimeout(() => s.destroy(), idleClose).unref()));
    });
  }
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    region: opts.region,
    objects,
    meta,
    etagOf,
    requests,
    gate(afterBytes, timeoutMs = 5000) {
      let release!: () => void;
      const wait = new Promise<'release' | 'timeout'>((resolve) => {
        release = () => resolve('release');
        setTimeout(() => resolve('timeout'), timeoutMs).unref();
      });
      gate = { afterBytes, wait, release };
      return { release, releasedBy: () => gate?.by };
    },
    cutAfter(bytes) {
      cutAt = bytes;
    },
    dropNextReused() {
      dropReused = true;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

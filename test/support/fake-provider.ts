import { createHmac, timingSafeEqual } from 'node:crypto';
import dc from 'node:diagnostics_channel';
import { mkdtempSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeSelfSignedCert } from '../../scripts/dev-cert.ts';

/**
 * A real local HTTP(S) server that behaves like Alibaba Cloud API Gateway in front of the two
 * marketplace vendors: it checks `Authorization: APPCODE …`, answers gateway errors with
 * `X-Ca-Error-Message`, and answers like the vendors (long SMS {Code, Message}; voice
 * {ReturnStatus, …}). Every request is recorded as received, so tests assert bytes and counts.
 */

export interface RecordedRequest {
  method: string;
  /** Path and query exactly as they arrived on the wire. */
  rawUrl: string;
  path: string;
  /** Raw (still percent-encoded) query string. */
  rawQuery: string;
  /** Decoded query: percent-decoding only (a `+` stays a `+`, as the gateway reads it). */
  query: Record<string, string>;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** Which TCP connection (1-based, in order of acceptance) carried it: equal numbers mean keep-alive reuse. */
  connection?: number;
}

export type Behaviour =
  /** Vendor answer: HTTP 200, JSON {Message, Code} (plus extra fields). */
  | { kind: 'vendor'; code: string; message: string; extra?: Record<string, unknown> }
  /** Any JSON body with a status. */
  | { kind: 'json'; status?: number; body: unknown; headers?: Record<string, string> }
  /** Any raw body. */
  | { kind: 'raw'; status: number; body: string; headers?: Record<string, string> }
  /** Gateway refusal: empty body, X-Ca-Error-Message, X-Ca-Request-Id. */
  | { kind: 'gateway'; status: number; errorMessage: string; errorCode?: string }
  /** Reads the request and never answers (until the server closes). */
  | { kind: 'hang' }
  /** Reads the request, then destroys the connection without answering. */
  | { kind: 'reset' }
  /** Answers 200 with headers at once, then the body one byte every `everyMs` (a vendor that stalls mid-answer). */
  | { kind: 'trickle'; body: string; everyMs: number }
  /**
   * A vendor answer built from the request (e.g. a vendor that echoes what it was sent back in its
   * message, as some do in errors): `make` gets the decoded query.
   */
  | { kind: 'echo'; make: (query: Record<string, string>) => Behaviour }
  /** Waits, then behaves as `next` (not `then`: an object with `then` is a thenable). */
  | { kind: 'delay'; ms: number; next: Behaviour }
  /** Waits until `until` settles (a test's gate), then behaves as `next`. */
  | { kind: 'wait'; until: Promise<unknown>; next: Behaviour }
  /** The realistic gateway + vendor logic below. */
  | { kind: 'realistic' };

export interface FakeProviderOptions {
  https?: boolean;
  /** The AppCode the gateway accepts. */
  appCode?: string;
  /** Template id → number of `#var#` placeholders and text, for realistic 105/1009 answers. */
  templates?: Record<string, string>;
  /**
   * Signature auth: when set, a request carrying `X-Ca-Signature` is verified the way the gateway
   * does (its own string-to-sign from the request as received); a mismatch answers 400 with
   * `X-Ca-Error-Message: Invalid Signature, Server StringToSign:…` (newlines shown as `#`).
   */
  appKey?: string;
  appSecret?: string;
  /** Clock for the timestamp window check (ms). */
  now?: () => number;
}

export interface FakeProvider {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  longSmsUrl: string;
  voiceUrl: string;
  /** PEM of the self-signed CA (https only), for NODE_EXTRA_CA_CERTS. */
  caPath?: string;
  requests: RecordedRequest[];
  /** TCP connections accepted since the server started (not cleared by `reset()`). */
  readonly connections?: number;
  /** Behaviours consumed one per request; when empty, `fallback` answers. */
  queue: Behaviour[];
  fallback: Behaviour;
  /** Makes the next N requests behave as given (shorthand for pushing to `queue`). */
  next(...behaviours: Behaviour[]): void;
  reset(): void;
  close(): Promise<void>;
}

export const TEST_APPCODE = 'test-appcode-0123456789abcdef';

const DEFAULT_TEMPLATES: Record<string, string> = {
  '1': '【测试】您的验证码是#code#，5分钟内有效。',
  '2': '【测试】尊敬的#name#，您的订单#order#已发货，预计#days#天送达。',
};

/** Decodes a query string the way the gateway does: split on & and =, percent-decode UTF-8. */
export function decodeQuery(raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (raw === '') return out;
  for (const part of raw.split('&')) {
    const eq = part.indexOf('=');
    const k = eq < 0 ? part : part.slice(0, eq);
    const v = eq < 0 ? '' : part.slice(eq + 1);
    out[decodeURIComponent(k)] = decodeURIComponent(v);
  }
  return out;
}

function send(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'x-ca-request-id': `fake-${Date.now()}`, ...headers });
  res.end(body);
}

const headerText = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join(',') : (v ?? ''));

/** The gateway's string to sign, rebuilt from the request as it arrived (independent of shared/). */
export function serverStringToSign(req: RecordedRequest): string {
  const h = req.headers;
  const names = headerText(h['x-ca-signature-headers'])
    .split(',')
    .map((n) => n.trim().toLowerCase())
    .filter(Boolean)
    .sort();
  let out = `${req.method}\n${headerText(h.accept)}\n${headerText(h['content-md5'])}\n${headerText(h['content-type'])}\n${headerText(h.date)}\n`;
  for (const n of names) out += `${n}:${headerText(h[n])}\n`;
  const keys = Object.keys(req.query).sort();
  out += req.path;
  if (keys.length > 0) out += `?${keys.map((k) => (req.query[k] === '' ? k : `${k}=${req.query[k]}`)).join('&')}`;
  return out;
}

function checkSignature(req: RecordedRequest, opts: FakeProviderOptions, nonces: Set<string>): Behaviour | undefined {
  const h = req.headers;
  const bad = (errorMessage: string): Behaviour => ({ kind: 'gateway', status: 400, errorMessage });
  if (headerText(h['x-ca-key']) !== opts.appKey) return bad('Invalid AppKey');
  if (headerText(h['x-ca-signature-method']) !== 'HmacSHA256') return bad('Invalid Signature Method');
  const ts = Number(headerText(h['x-ca-timestamp']));
  if (!Number.isInteger(ts)) return bad('Invalid Timestamp');
  if (Math.abs((opts.now ?? Date.now)() - ts) > 15 * 60_000) return bad('Timestamp Expired');
  const nonce = headerText(h['x-ca-nonce']);
  if (nonce === '') return bad('Invalid Nonce');
  if (nonces.has(nonce)) return bad('Nonce Used');
  const sts = serverStringToSign(req);
  const expected = createHmac('sha256', opts.appSecret ?? '')
    .update(sts, 'utf8')
    .digest();
  const given = Buffer.from(headerText(h['x-ca-signature']), 'base64');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    // Header values cannot hold newlines or non-Latin-1 text: show them the way a log would.
    const shown = sts.replaceAll('\n', '#').replace(/[^\x20-\x7e]/g, (c) => encodeURIComponent(c));
    return bad(`Invalid Signature, Server StringToSign:\`${shown}\``);
  }
  nonces.add(nonce);
  return undefined;
}

function realistic(
  req: RecordedRequest,
  opts: Required<Pick<FakeProviderOptions, 'appCode' | 'templates'>> & FakeProviderOptions,
  nonces: Set<string>,
): Behaviour {
  const auth = req.headers.authorization;
  if (opts.appKey !== undefined && req.headers['x-ca-signature'] !== undefined) {
    const refusal = checkSignature(req, opts, nonces);
    if (refusal) return refusal;
  } else if (auth !== `APPCODE ${opts.appCode}`) {
    return { kind: 'gateway', status: 401, errorMessage: 'Invalid AppCode `not exists`' };
  }
  const phoneOk = (p: string | undefined) => !!p && /^1[3-9]\d{9}$/.test(p);
  if (req.path === '/largesms') {
    const { param, phone, skin } = req.query;
    if (param === undefined || phone === undefined || skin === undefined) return { kind: 'vendor', code: '1002', message: '传入参数有误!' };
    if (!phoneOk(phone)) return { kind: 'vendor', code: '101', message: '手机号码格式错误!' };
    const template = opts.templates[skin];
    if (!template) return { kind: 'vendor', code: '105', message: '模板编号错误!' };
    const vars = template.match(/#[^#]+#/g) ?? [];
    const values = param.split('|');
    if (values.length !== vars.length) return { kind: 'vendor', code: '105', message: '参数与模板不对应!' };
    let i = 0;
    const text = template.replace(/#[^#]+#/g, () => values[i++] ?? '');
    if ([...text].length > 200) return { kind: 'vendor', code: '1009', message: '字数限制' };
    return { kind: 'vendor', code: 'OK', message: '发送成功', extra: { RequestId: `req-${Date.now()}` } };
  }
  if (req.path === '/chuangxin/yytz') {
    const { content, mobile } = req.query;
    if (!content || !phoneOk(mobile)) {
      return { kind: 'json', body: { ReturnStatus: 'Faild', Message: '参数错误', RemainPoint: 0, TaskID: 0, SuccessCounts: 0 } };
    }
    return { kind: 'json', body: { ReturnStatus: 'Success', Message: 'ok', RemainPoint: 99, TaskID: 1234567, SuccessCounts: 1 } };
  }
  return { kind: 'gateway', status: 404, errorMessage: 'Invalid Url' };
}

let cachedCert: { key: string; cert: string; caPath: string } | undefined;

/** A self-signed certificate for 127.0.0.1/localhost, made once per process with openssl. */
export function selfSignedCert(): { key: string; cert: string; caPath: string } {
  if (cachedCert) return cachedCert;
  const made = makeSelfSignedCert(mkdtempSync(join(tmpdir(), 'fcn-tls-')));
  cachedCert = { key: made.key, cert: made.cert, caPath: made.certPath };
  return cachedCert;
}

export async function startFakeProvider(options: FakeProviderOptions = {}): Promise<FakeProvider> {
  const opts = { ...options, appCode: options.appCode ?? TEST_APPCODE, templates: options.templates ?? DEFAULT_TEMPLATES };
  const nonces = new Set<string>();
  const sockets = new Set<Socket>();
  const connectionIds = new WeakMap<Socket, number>();
  let connections = 0;
  const hanging = new Set<ServerResponse>();
  const state = {
    requests: [] as RecordedRequest[],
    queue: [] as Behaviour[],
    fallback: { kind: 'realistic' } as Behaviour,
  };

  async function act(b: Behaviour, rec: RecordedRequest, req: IncomingMessage, res: ServerResponse): Promise<void> {
    switch (b.kind) {
      case 'realistic':
        return act(realistic(rec, opts, nonces), rec, req, res);
      case 'vendor':
        return send(res, 200, JSON.stringify({ Message: b.message, Code: b.code, ...b.extra }));
      case 'json':
        return send(res, b.status ?? 200, JSON.stringify(b.body), b.headers);
      case 'raw':
        return send(res, b.status, b.body, b.headers);
      case 'gateway': {
        const headers: Record<string, string> = { 'x-ca-error-message': b.errorMessage, 'content-type': 'text/plain' };
        if (b.errorCode) headers['x-ca-error-code'] = b.errorCode;
        return send(res, b.status, '', headers);
      }
      case 'hang':
        hanging.add(res);
        return;
      case 'trickle': {
        const bytes = Buffer.from(b.body);
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(bytes.length) });
        hanging.add(res);
        for (let i = 0; i < bytes.length && !res.destroyed; i++) {
          res.write(bytes.subarray(i, i + 1));
          await new Promise((r) => setTimeout(r, b.everyMs));
        }
        if (!res.destroyed) res.end();
        return;
      }
      case 'reset':
        req.socket.destroy();
        return;
      case 'delay':
        await new Promise((r) => setTimeout(r, b.ms));
        return act(b.next, rec, req, res);
      case 'wait':
        await b.until.catch(() => {});
        return act(b.next, rec, req, res);
      case 'echo':
        return act(b.make(rec.query), rec, req, res);
    }
  }

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rawUrl = req.url ?? '/';
      const q = rawUrl.indexOf('?');
      const rawQuery = q < 0 ? '' : rawUrl.slice(q + 1);
      let query: Record<string, string>;
      try {
        query = decodeQuery(rawQuery);
      } catch {
        query = {};
      }
      const rec: RecordedRequest = {
        method: req.method ?? 'GET',
        rawUrl,
        path: q < 0 ? rawUrl : rawUrl.slice(0, q),
        rawQuery,
        query,
        headers: req.headers,
        body: Buffer.concat(chunks),
      };
      const connection = connectionIds.get(req.socket);
      if (connection !== undefined) rec.connection = connection;
      state.requests.push(rec);
      const b = state.queue.shift() ?? state.fallback;
      act(b, rec, req, res).catch(() => req.socket.destroy());
    });
  };

  let caPath: string | undefined;
  let server: http.Server | https.Server;
  if (options.https) {
    const tls = selfSignedCert();
    caPath = tls.caPath;
    server = https.createServer({ key: tls.key, cert: tls.cert }, onRequest);
  } else {
    server = http.createServer(onRequest);
  }
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  // Requests carry the TLS socket over HTTPS, the TCP socket over HTTP: number whichever they carry.
  server.on(options.https ? 'secureConnection' : 'connection', (s: Socket) => {
    connections += 1;
    connectionIds.set(s, connections);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `${options.https ? 'https' : 'http'}://127.0.0.1:${port}`;

  const fake: FakeProvider = {
    url,
    longSmsUrl: `${url}/largesms`,
    voiceUrl: `${url}/chuangxin/yytz`,
    ...(caPath ? { caPath } : {}),
    get requests() {
      return state.requests;
    },
    get connections() {
      return connections;
    },
    get queue() {
      return state.queue;
    },
    get fallback() {
      return state.fallback;
    },
    set fallback(b: Behaviour) {
      state.fallback = b;
    },
    next(...behaviours) {
      state.queue.push(...behaviours);
    },
    reset() {
      state.requests.length = 0;
      state.queue.length = 0;
      state.fallback = { kind: 'realistic' };
    },
    async close() {
      for (const res of hanging) res.destroy();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return fake;
}

/**
 * Counts this process's connection attempts refused by `port`, as Node's own `net.client.socket`
 * diagnostics channel sees them: an independent count of how often a client really tried.
 */
export function countRefusedConnects(port: number): { count: () => number; stop: () => void } {
  let n = 0;
  const onSocket = (msg: unknown) => {
    (msg as { socket: Socket }).socket.once('error', (err: NodeJS.ErrnoException & { port?: number }) => {
      if (err.code === 'ECONNREFUSED' && err.port === port) n += 1;
    });
  };
  dc.subscribe('net.client.socket', onSocket);
  return { count: () => n, stop: () => dc.unsubscribe('net.client.socket', onSocket) };
}

/** A TCP port with nothing listening (connection refused), for retry tests. */
export async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

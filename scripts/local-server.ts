import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FcHandler } from '../shared/fc/app.ts';
import type { FcContext } from '../shared/fc/runtime.ts';

/**
 * The local stand-in for FC: hosts the three functions at the routes of the design, turns each
 * HTTP request into an FC3 HTTP trigger event (a Buffer, as FC hands it over), and offers
 * `POST /invoke/<function>` to hand any raw FC event (MNS, OSS, timer, HTTP) to a handler.
 */

export type FunctionHandlers = Record<'long-sms' | 'voice-notify' | 'template-validate', FcHandler>;

/** FC's own cap for synchronous HTTP invocations; the functions apply their own, smaller limit. */
const FC_MAX_BODY = 32 * 1024 * 1024;

export interface LocalServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

function route(path: string): keyof FunctionHandlers | 'healthz' | undefined {
  if (path === '/healthz') return 'healthz';
  if (path === '/sms' || path.startsWith('/sms/')) return 'long-sms';
  // Served by long-sms and voice-notify alike (one store); locally long-sms answers it.
  if (path === '/verify/check') return 'long-sms';
  if (path === '/voice' || path.startsWith('/voice/')) return 'voice-notify';
  if (path === '/templates' || path.startsWith('/templates/')) return 'template-validate';
  if (path === '/console' || path.startsWith('/console/')) return 'template-validate';
  // Issue 13: every function answers GET /usage; locally long-sms does (with REDIS_URL all three
  // read the same counters; without it each function counts in its own memory).
  if (path === '/usage') return 'long-sms';
  return undefined;
}

function fcContext(name: string, region: string): FcContext {
  return {
    requestId: `local-${randomUUID()}`,
    function: { name, timeout: 30 },
    credentials: {
      ...(process.env.ALIBABA_CLOUD_ACCESS_KEY_ID ? { accessKeyId: process.env.ALIBABA_CLOUD_ACCESS_KEY_ID } : {}),
      ...(process.env.ALIBABA_CLOUD_ACCESS_KEY_SECRET ? { accessKeySecret: process.env.ALIBABA_CLOUD_ACCESS_KEY_SECRET } : {}),
      ...(process.env.ALIBABA_CLOUD_SECURITY_TOKEN ? { securityToken: process.env.ALIBABA_CLOUD_SECURITY_TOKEN } : {}),
    },
    region,
    accountId: 'local',
    retryCount: 0,
  };
}

function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > FC_MAX_BODY) over = true;
      if (!over) chunks.push(c);
    });
    req.on('end', () => resolve(over ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function isUtf8Text(contentType: string | undefined, body: Buffer): boolean {
  if (contentType && !/json|text|xml|x-www-form-urlencoded/i.test(contentType)) return false;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(body);
    return true;
  } catch {
    return false;
  }
}

/** The FC3 HTTP trigger event (v1) for a request. */
export function toFcHttpEvent(req: IncomingMessage, body: Buffer, requestId: string): Buffer {
  const url = new URL(req.url ?? '/', 'http://local');
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  const text = isUtf8Text(req.headers['content-type'], body);
  const event = {
    version: 'v1',
    rawPath: url.pathname,
    headers,
    queryParameters: Object.fromEntries(url.searchParams),
    body: text ? body.toString('utf8') : body.toString('base64'),
    isBase64Encoded: !text,
    requestContext: {
      accountId: 'local',
      domainName: req.headers.host ?? 'localhost',
      http: {
        method: req.method ?? 'GET',
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? '',
        userAgent: req.headers['user-agent'] ?? '',
      },
      requestId,
      time: new Date().toISOString(),
      timeEpoch: String(Date.now()),
    },
  };
  return Buffer.from(JSON.stringify(event));
}

function writeJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

function writeFcAnswer(res: ServerResponse, answer: unknown): void {
  const a = answer as { statusCode?: number; headers?: Record<string, string>; body?: string; isBase64Encoded?: boolean };
  const body = a.body === undefined ? '' : a.isBase64Encoded ? Buffer.from(a.body, 'base64') : a.body;
  res.writeHead(a.statusCode ?? 200, a.headers ?? {});
  res.end(body);
}

export async function startLocalServer(
  handlers: FunctionHandlers,
  options: { port?: number; host?: string; region?: string } = {},
): Promise<LocalServer> {
  const region = options.region ?? 'cn-hangzhou';

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    if (body === undefined)
      return writeJson(res, 413, {
        error: { code: 'PAYLOAD_TOO_LARGE', message: 'request body is over 32 MB (FC limit)', retryable: false },
      });
    const path = new URL(req.url ?? '/', 'http://local').pathname;

    const invoke = /^\/invoke\/([\w-]+)$/.exec(path);
    if (invoke) {
      const name = invoke[1] as keyof FunctionHandlers;
      const handler = handlers[name];
      if (!handler)
        return writeJson(res, 404, {
          error: { code: 'NOT_FOUND', message: `no function ${name}; use ${Object.keys(handlers).join(', ')}`, retryable: false },
        });
      if (req.method !== 'POST')
        return writeJson(res, 405, { error: { code: 'METHOD_NOT_ALLOWED', message: 'POST the raw FC event', retryable: false } });
      try {
        const result = await handler(body, fcContext(name, region));
        return writeJson(res, 200, result ?? null);
      } catch (err) {
        // For async triggers a throw means "FC would retry this invocation".
        return writeJson(res, 500, {
          error: { code: 'HANDLER_THREW', message: err instanceof Error ? err.message : String(err), retryable: true },
        });
      }
    }

    if (path === '/openapi.json' && (req.method === 'GET' || req.method === 'HEAD')) {
      // One origin hosts all three functions here, so it answers the whole API (openapi.json);
      // each deployed function answers its own routes.
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
      return void res.end(req.method === 'HEAD' ? undefined : readFileSync(new URL('../openapi.json', import.meta.url)));
    }
    const target = route(path);
    if (target === undefined)
      return writeJson(res, 404, {
        error: { code: 'NOT_FOUND', message: `no route ${req.method} ${path.slice(0, 100)}`, retryable: false },
      });
    const requestId = `local-${randomUUID()}`;
    if (target === 'healthz') {
      const answers = await Promise.all(
        Object.entries(handlers).map(async ([n, h]) => [n, await h(toFcHttpEvent(req, body, requestId), fcContext(n, region))] as const),
      );
      const failing = answers.filter(([, a]) => (a as { statusCode?: number }).statusCode !== 200);
      return failing.length === 0 ? writeJson(res, 200, { ok: true }) : writeFcAnswer(res, failing[0]?.[1]);
    }
    const answer = await handlers[target](toFcHttpEvent(req, body, requestId), { ...fcContext(target, region), requestId });
    writeFcAnswer(res, answer);
  }

  const server = http.createServer((req, res) => {
    onRequest(req, res).catch((err) => {
      if (!res.headersSent) writeJson(res, 500, { error: { code: 'INTERNAL', message: 'local server error', retryable: false } });
      else res.destroy();
      process.stderr.write(`local server error: ${err instanceof Error ? err.message : String(err)}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 9000, options.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

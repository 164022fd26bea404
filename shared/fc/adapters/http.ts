import { randomUUID } from 'node:crypto';
import { monotonicMs } from '../../clock.ts';
import { DEFAULT_MAX_BODY_BYTES } from '../../config.ts';
import { InvalidRequestError, NotifyError, toNotifyError } from '../../errors.ts';
import { errorFields } from '../../log.ts';
import { authenticate } from '../auth.ts';
import type { FcContext, Runtime } from '../runtime.ts';
import type { HttpAdapter } from './adapter.ts';

/**
 * FC3 HTTP trigger adapter: FC event (v1) → HttpRequest → route → HttpResponse → FC answer.
 * Shape: https://help.aliyun.com/zh/functioncompute/fc-3-0/user-guide/http-trigger-invoking-function
 */

export interface HttpRequest {
  method: string;
  path: string;
  /** Lower-cased names; multi-value headers comma-joined as FC does. */
  headers: Record<string, string>;
  query: Record<string, string>;
  body: Buffer;
  requestId: string;
  sourceIp: string | undefined;
}

export interface HttpResponse {
  statusCode: number;
  headers: Record<string, string>;
  /** Base64 when isBase64Encoded (compressed or binary bodies, e.g. the console page's files). */
  body: string;
  isBase64Encoded: boolean;
}

export interface RouteContext {
  rt: Runtime;
  fc: FcContext;
  /** Fields the route adds to the request's single log line. */
  log: Record<string, unknown>;
}

export type RouteHandler = (req: HttpRequest, ctx: RouteContext) => Promise<HttpResponse>;

export interface Route {
  method: string;
  /** Exact path, or a prefix ending in `/*` (the rest is `req.path`'s tail). */
  path: string;
  /** `/healthz` is the only route that needs no caller key. */
  public?: boolean;
  handler: RouteHandler;
}

export interface FcHttpEvent {
  version?: string;
  rawPath?: string;
  headers?: Record<string, unknown>;
  queryParameters?: Record<string, unknown>;
  body?: unknown;
  isBase64Encoded?: boolean;
  requestContext?: { http?: { method?: string; path?: string; sourceIp?: string }; requestId?: string };
}

/** Documented type guard: FC3 HTTP trigger events carry `requestContext.http` (and `version: "v1"`). */
export function isHttpEvent(event: unknown): event is FcHttpEvent {
  const e = event as FcHttpEvent | null;
  return (
    !!e &&
    typeof e === 'object' &&
    typeof e.requestContext === 'object' &&
    e.requestContext !== null &&
    typeof e.requestContext.http === 'object'
  );
}

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResponse {
  return {
    statusCode,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
    body: JSON.stringify(body),
    isBase64Encoded: false,
  };
}

export function errorResponse(err: NotifyError, headers: Record<string, string> = {}): HttpResponse {
  const extra: Record<string, string> = { ...headers };
  if (err.retryAfter !== undefined) extra['retry-after'] = String(Math.max(1, Math.ceil(err.retryAfter)));
  return json(err.status, err.toBody(), extra);
}

function flatten(values: Record<string, unknown> | undefined, lower: boolean): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  if (!values || typeof values !== 'object') return out;
  for (const [k, v] of Object.entries(values)) {
    const name = lower ? k.toLowerCase() : k;
    const value = Array.isArray(v) ? v.map(String).join(', ') : v === undefined || v === null ? '' : String(v);
    out[name] = out[name] !== undefined ? `${out[name]}, ${value}` : value;
  }
  return out;
}

/** Builds the request; throws InvalidRequestError for a body that is not what it says. */
export function toHttpRequest(event: FcHttpEvent, fc: FcContext, maxBodyBytes: number): HttpRequest {
  const http = event.requestContext?.http ?? {};
  const headers = flatten(event.headers, true);
  let body: Buffer;
  const raw = event.body;
  if (raw === undefined || raw === null || raw === '') body = Buffer.alloc(0);
  else if (typeof raw !== 'string') throw new InvalidRequestError('request body could not be read', '(body)');
  else {
    // Cheap bound first: base64 is 4/3 of the bytes, so this never decodes a huge body.
    const estimate = event.isBase64Encoded ? Math.floor((raw.length * 3) / 4) : Buffer.byteLength(raw);
    if (estimate > maxBodyBytes + 3) throw new NotifyError('PAYLOAD_TOO_LARGE', `request body is over the limit of ${maxBodyBytes} bytes`);
    body = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  }
  if (body.length > maxBodyBytes) throw new NotifyError('PAYLOAD_TOO_LARGE', `request body is over the limit of ${maxBodyBytes} bytes`);
  let path = String(event.rawPath ?? http.path ?? '/');
  if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
  return {
    method: String(http.method ?? 'GET').toUpperCase(),
    path,
    headers,
    query: flatten(event.queryParameters, false),
    body,
    requestId: fc.requestId ?? event.requestContext?.requestId ?? randomUUID(),
    sourceIp: http.sourceIp,
  };
}

// One strict decoder per instance: decode() without `stream` keeps no state between calls.
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Parses a JSON body. Malformed JSON and non-objects are the caller's mistake (400). */
export function readJsonBody(req: HttpRequest): Record<string, unknown> {
  if (req.body.length === 0) throw new InvalidRequestError('request body is empty; send a JSON object', '(body)');
  const ct = req.headers['content-type'];
  if (ct && !/^application\/([\w.+-]*\+)?json\b/i.test(ct) && !/^text\/plain\b/i.test(ct)) {
    throw new InvalidRequestError(`Content-Type must be application/json, got ${ct.slice(0, 60)}`, '(headers)');
  }
  let text: string;
  try {
    text = UTF8.decode(req.body);
  } catch {
    throw new InvalidRequestError('request body is not valid UTF-8', '(body)');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const detail = err instanceof SyntaxError ? err.message.slice(0, 120) : 'unreadable';
    throw new InvalidRequestError(`request body is not valid JSON: ${detail}`, '(body)');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidRequestError('request body must be a JSON object', '(body)');
  }
  return value as Record<string, unknown>;
}

function matchRoute(routes: readonly Route[], req: HttpRequest): { route?: Route; allowed: string[] } {
  const allowed: string[] = [];
  for (const r of routes) {
    const hit = r.path.endsWith('/*')
      ? req.path.startsWith(r.path.slice(0, -1)) && req.path.length > r.path.length - 1
      : r.path === req.path;
    if (!hit) continue;
    if (r.method === req.method || (r.method === 'GET' && req.method === 'HEAD')) return { route: r, allowed };
    allowed.push(r.method);
  }
  return { allowed };
}

export type Authenticate = (req: HttpRequest, rt: Runtime) => string;

export const adapter: HttpAdapter<FcHttpEvent> = {
  trigger: 'http',
  matches: isHttpEvent,
  handle: (event, { fc, rt, routes }) => handleHttp(event, fc, rt, routes, authenticate),
};

/** Runs one HTTP event through the routes; every failure becomes a JSON answer, never a throw. */
export async function handleHttp(
  event: FcHttpEvent,
  fc: FcContext,
  rt: Runtime,
  routes: readonly Route[],
  authenticate: Authenticate,
): Promise<HttpResponse> {
  const started = monotonicMs();
  const log: Record<string, unknown> = { event: 'http', requestId: fc.requestId };
  let res: HttpResponse;
  try {
    const req = toHttpRequest(event, fc, rt.config?.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
    Object.assign(log, { method: req.method, path: req.path.slice(0, 200) });
    const { route, allowed } = matchRoute(routes, req);
    if (!route) {
      res =
        allowed.length > 0
          ? errorResponse(
              new NotifyError('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${req.path.slice(0, 100)}; use ${allowed.join(', ')}`),
              {
                allow: allowed.join(', '),
              },
            )
          : errorResponse(new NotifyError('NOT_FOUND', `no route ${req.method} ${req.path.slice(0, 100)}`));
    } else {
      if (!route.public) log.caller = authenticate(req, rt);
      res = await route.handler(req, { rt, fc, log });
    }
  } catch (err) {
    const e = toNotifyError(err);
    const authReason = (err as { authReason?: unknown } | null)?.authReason;
    if (typeof authReason === 'string') log.authFailure = authReason;
    if (e.code === 'INTERNAL') {
      // No stack or file paths at info level: stacks only with LOG_LEVEL=debug.
      log.err = errorFields(err, rt.logger);
    }
    res = errorResponse(e);
  }
  res.headers['x-request-id'] = fc.requestId ?? '';
  log.status = res.statusCode;
  log.ms = Math.round(monotonicMs() - started);
  const level = res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info';
  // A send that must alarm the operator (credentials refused) names it in the message itself.
  rt.logger[level](log, typeof log.alert === 'string' ? log.alert : `${log.method ?? '?'} ${log.path ?? '?'} ${res.statusCode}`);
  return res;
}

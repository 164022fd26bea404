import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FcContext } from '#shared/fc/runtime';
import { setLogDestination } from '#shared/log';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'events');

/** A documented FC event fixture (test/fixtures/events/<name>.json), parsed. */
export function fixture<T = Record<string, unknown>>(name: string): T {
  return JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8')) as T;
}

/** FC hands the handler a Buffer. */
export function asBuffer(event: unknown): Buffer {
  return Buffer.from(typeof event === 'string' ? event : JSON.stringify(event));
}

let seq = 0;
export function fcContext(overrides: Partial<FcContext> = {}): FcContext {
  seq += 1;
  return { ...fixture<FcContext>('context'), requestId: `test-req-${seq}`, ...overrides };
}

export interface HttpEventInput {
  method?: string;
  path?: string;
  body?: unknown;
  /** A raw string body, sent as is. */
  rawBody?: string;
  headers?: Record<string, string>;
  base64?: boolean;
}

/** An FC3 HTTP trigger event (v1), from the documented fixture shape, as a Buffer. */
export function httpEvent(input: HttpEventInput = {}): Buffer {
  const base = fixture<Record<string, any>>('http-v1');
  const method = input.method ?? 'POST';
  const path = input.path ?? '/sms';
  let body = input.rawBody ?? (input.body === undefined ? '' : JSON.stringify(input.body));
  if (input.base64) body = Buffer.from(body, 'utf8').toString('base64');
  const event = {
    ...base,
    rawPath: path,
    body,
    isBase64Encoded: !!input.base64,
    headers: { 'Content-Type': 'application/json', ...(input.headers ?? {}) },
    requestContext: { ...base.requestContext, http: { ...base.requestContext.http, method, path } },
  };
  return asBuffer(event);
}

export interface HttpResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  json: any;
}

export function asHttpResult(res: unknown): HttpResult {
  const r = res as { statusCode: number; headers: Record<string, string>; body: string };
  let json: unknown;
  try {
    json = JSON.parse(r.body);
  } catch {
    json = undefined;
  }
  return { ...r, json };
}

/** Captures every log line written through the root logger (call before creating runtimes). */
export function captureLogs(): { lines: string[]; text: () => string; parsed: () => any[]; stop: () => void } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  setLogDestination(stream as unknown as NodeJS.WritableStream as never);
  return {
    lines,
    text: () => lines.join('\n'),
    parsed: () => lines.map((l) => JSON.parse(l)),
    stop: () => setLogDestination(undefined),
  };
}

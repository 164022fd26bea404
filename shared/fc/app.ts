import { DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_EVENT_BYTES } from '../config.ts';
import type { BatchSummary } from '../core/batch.ts';
import { BatchRetryError, NotifyError, PoisonEventError } from '../errors.ts';
import type { Channel } from '../jobs.ts';
import { errorFields, withoutStack } from '../log.ts';
import { dispatch, type Invocation, poisonEvent } from './adapters/adapter.ts';
import { errorResponse, type HttpResponse, adapter as http, type Route } from './adapters/http.ts';
import {
  createRuntime,
  type FcContext,
  type FunctionName,
  type MakeSender,
  type MakeStore,
  type Runtime,
  type RuntimeOptions,
} from './runtime.ts';

/**
 * Wires one FC function: the runtime (built once per instance) and the adapters.
 * `functions/<name>/index.ts` is just `export const handler = createFunction(...)`.
 */

export interface FunctionSpec {
  name: FunctionName;
  channel?: Channel;
  routes: Route[];
  /** Sending functions pass shared/fc/sending.ts's makeSender; template-validate sends nothing. */
  makeSender?: MakeSender;
  /** Sending functions pass shared/fc/sending.ts's makeStore (Redis when REDIS_URL is set); default: memory. */
  makeStore?: MakeStore;
}

export type FcHandler = (event: unknown, context?: FcContext) => Promise<unknown>;

export type DecodedEvent = { ok: true; value: unknown } | { ok: false; text: string } | { ok: 'too-large'; bytes: number; http: boolean };

const HTTP_MARK = Buffer.from('"requestContext"');

/**
 * Whether an event too large to parse is an HTTP trigger event (it then gets a 413 answer): FC
 * writes `requestContext` after the body, so it is looked for in the last 8 KB (and the first,
 * for other key orders), never by parsing the whole.
 */
function looksLikeHttp(buf: Buffer): boolean {
  const edge = 8 * 1024;
  return buf.subarray(0, edge).includes(HTTP_MARK) || buf.subarray(Math.max(0, buf.length - edge)).includes(HTTP_MARK);
}

/**
 * The event as a value. Its size is checked BEFORE it is parsed: a JSON.parse of tens of MB builds
 * hundreds of MB of objects (measured in docs/limits.md), enough to have the instance killed.
 */
export function decodeEvent(event: unknown, maxBytes = Number.POSITIVE_INFINITY): DecodedEvent {
  if (event instanceof Uint8Array) {
    // A Buffer is read in place; a plain Uint8Array is viewed as one (no copy either way).
    const buf = Buffer.isBuffer(event) ? event : Buffer.from(event.buffer, event.byteOffset, event.byteLength);
    if (buf.length > maxBytes) return { ok: 'too-large', bytes: buf.length, http: looksLikeHttp(buf) };
    const text = buf.toString('utf8');
    try {
      return { ok: true, value: JSON.parse(text) };
    } catch {
      return { ok: false, text };
    }
  }
  if (typeof event === 'string') {
    if (event.length > maxBytes || Buffer.byteLength(event) > maxBytes) {
      const bytes = Buffer.byteLength(event);
      return { ok: 'too-large', bytes, http: looksLikeHttp(Buffer.from(event.slice(0, 8192) + event.slice(-8192))) };
    }
    try {
      return { ok: true, value: JSON.parse(event) };
    } catch {
      return { ok: false, text: event };
    }
  }
  return { ok: true, value: event };
}

/**
 * An event over MAX_EVENT_BYTES, not parsed. HTTP: 413 PAYLOAD_TOO_LARGE. Async triggers: a poison
 * event — logged at error level with the reason, nothing sent, and the invocation fails so the
 * platform retries it and then dead-letters it whole (see docs/limits.md).
 */
function refuseLargeEvent(d: { bytes: number; http: boolean }, max: number, fc: FcContext, rt: Runtime): HttpResponse {
  const message = `event of ${d.bytes} bytes is over MAX_EVENT_BYTES (${max}); nothing was sent`;
  if (!d.http) poisonEvent(rt, fc, 'too-large', message, { bytes: d.bytes, max });
  rt.logger.warn({ event: 'http', requestId: fc.requestId, status: 413, bytes: d.bytes }, message);
  // The same answer as a body over MAX_BODY_BYTES that was small enough to parse.
  const res = errorResponse(
    new NotifyError('PAYLOAD_TOO_LARGE', `request body is over the limit of ${rt.config?.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES} bytes`),
  );
  res.headers['x-request-id'] = fc.requestId ?? '';
  return res;
}

export function createFunction(spec: FunctionSpec, options: RuntimeOptions = {}): FcHandler & { runtime: Runtime } {
  const rt = createRuntime(spec.name, spec.channel, options, spec.makeSender, spec.makeStore);
  const handler = async (event: unknown, context: FcContext = {}) => {
    const maxEventBytes = rt.config?.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES;
    const decoded = decodeEvent(event, maxEventBytes);
    if (decoded.ok === 'too-large') {
      try {
        return refuseLargeEvent(decoded, maxEventBytes, context, rt);
      } catch (err) {
        throw withoutStack(err as Error, rt.logger);
      }
    }
    const call: Invocation = { fc: context, rt, routes: spec.routes };
    if (decoded.ok && http.matches(decoded.value)) return http.handle(decoded.value, call);
    let summary: BatchSummary | undefined;
    try {
      // The trigger adapters (OSS, MNS, timer) are loaded on the first such event, not at cold start.
      const { EVENT_ADAPTERS, RawMessage } = await import('./adapters/events.ts');
      // A body that is not JSON can only be an MNS STREAM-format message (the raw text).
      const v = decoded.ok ? decoded.value : new RawMessage(decoded.text);
      summary = await dispatch(EVENT_ADAPTERS, v, call);
    } catch (err) {
      // The invocation fails and the platform retries it. FC prints a rejected handler's error
      // with its stack: log it here without one, and cut the stack off the error (debug keeps both).
      // A BatchRetryError (e.g. misrouted queue jobs) or a poison event was decided and logged where it was thrown.
      if (!(err instanceof BatchRetryError) && !(err instanceof PoisonEventError)) {
        rt.logger.error(
          { event: 'event-failed', requestId: context.requestId, err: errorFields(err, rt.logger) },
          'event failed; the platform will retry it',
        );
      }
      throw err instanceof Error ? withoutStack(err, rt.logger) : err;
    }
    if (!summary) {
      // Never crash on a shape we do not know, and never redeliver it: it would fail again.
      rt.logger.error(
        {
          event: 'unsupported-event',
          requestId: context.requestId,
          kind: Array.isArray(decoded.ok ? decoded.value : undefined) ? 'array' : typeof (decoded.ok ? decoded.value : undefined),
        },
        'event shape not recognised (expected an HTTP, MNS topic, MNS queue/EventBridge, OSS or timer event); nothing was sent',
      );
      return { ok: false, error: { code: 'INVALID_REQUEST', message: 'event shape not recognised; nothing was sent' } };
    }
    if (summary.retry > 0) throw withoutStack(new BatchRetryError(summary), rt.logger);
    return { ok: true, source: summary.source, total: summary.total, counts: summary.counts };
  };
  return Object.assign(handler, { runtime: rt });
}

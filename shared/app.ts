import { handleHttp, isHttpEvent, type Route } from './adapters/http.ts';
import { authenticate } from './auth.ts';
import type { Channel } from './jobs.ts';
import { createRuntime, type FcContext, type FunctionName, type Runtime, type RuntimeOptions } from './runtime.ts';

/**
 * Wires one FC function: the runtime (built once per instance) and the adapters.
 * `functions/<name>/index.ts` is just `export const handler = createFunction(...)`.
 */

export interface FunctionSpec {
  name: FunctionName;
  channel?: Channel;
  routes: Route[];
}

export type FcHandler = (event: unknown, context?: FcContext) => Promise<unknown>;

export function decodeEvent(event: unknown): { ok: true; value: unknown } | { ok: false; text: string } {
  if (Buffer.isBuffer(event) || event instanceof Uint8Array) {
    const text = Buffer.from(event).toString('utf8');
    try {
      return { ok: true, value: JSON.parse(text) };
    } catch {
      return { ok: false, text };
    }
  }
  if (typeof event === 'string') {
    try {
      return { ok: true, value: JSON.parse(event) };
    } catch {
      return { ok: false, text: event };
    }
  }
  return { ok: true, value: event };
}

export function createFunction(spec: FunctionSpec, options: RuntimeOptions = {}): FcHandler & { runtime: Runtime } {
  const rt = createRuntime(spec.name, spec.channel, options);
  const handler = async (event: unknown, context: FcContext = {}) => {
    const decoded = decodeEvent(event);
    if (decoded.ok && isHttpEvent(decoded.value)) {
      return handleHttp(decoded.value, context, rt, spec.routes, authenticate);
    }
    // Other triggers arrive with the event-driven adapters; never crash on a shape we do not know.
    rt.logger.error(
      { event: 'unsupported-event', requestId: context.requestId, parsed: decoded.ok, bytes: decoded.ok ? undefined : decoded.text.length },
      'event shape not recognised (expected an HTTP trigger event); nothing was sent',
    );
    return { ok: false, error: { code: 'INVALID_REQUEST', message: 'event shape not recognised; nothing was sent' } };
  };
  return Object.assign(handler, { runtime: rt });
}

import { handleHttp, isHttpEvent, type Route } from './adapters/http.ts';
import { handleMnsQueue, isMnsQueueEvent } from './adapters/mns-queue.ts';
import { handleMnsStream, handleMnsTopic, isMnsStreamEvent, isMnsTopicEvent } from './adapters/mns-topic.ts';
import { handleOss, isOssEvent } from './adapters/oss.ts';
import { handleTimer, isTimerEvent } from './adapters/timer.ts';
import { BatchRetryError, type BatchSummary } from './core/batch.ts';
import { authenticate } from './auth.ts';
import type { Channel } from './jobs.ts';
import { createRuntime, type FcContext, type FunctionName, type MakeSender, type MakeStore, type Runtime, type RuntimeOptions } from './runtime.ts';

/**
 * Wires one FC function: the runtime (built once per instance) and the adapters.
 * `functions/<name>/index.ts` is just `export const handler = createFunction(...)`.
 */

export interface FunctionSpec {
  name: FunctionName;
  channel?: Channel;
  routes: Route[];
  /** Sending functions pass shared/sending.ts's makeSender; template-validate sends nothing. */
  makeSender?: MakeSender;
  /** Sending functions pass shared/sending.ts's makeStore (Redis when REDIS_URL is set); default: memory. */
  makeStore?: MakeStore;
}

export type FcHandler = (event: unknown, context?: FcContext) => Promise<unknown>;

export function decodeEvent(event: unknown): { ok: true; value: unknown } | { ok: false; text: string } {
  if (event instanceof Uint8Array) {
    // A Buffer is read in place; a plain Uint8Array is viewed as one (no copy either way).
    const text = (Buffer.isBuffer(event) ? event : Buffer.from(event.buffer, event.byteOffset, event.byteLength)).toString('utf8');
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

type EventAdapter = (event: unknown, fc: FcContext, rt: Runtime) => Promise<BatchSummary>;

/** Async trigger adapters, each picked by its documented type guard; order matters (STREAM `{body}` last). */
const EVENT_ADAPTERS: ReadonlyArray<readonly [(v: unknown) => boolean, EventAdapter]> = [
  [isTimerEvent, handleTimer],
  [isMnsTopicEvent, handleMnsTopic],
  [isMnsQueueEvent, handleMnsQueue],
  [isOssEvent, handleOss],
  [isMnsStreamEvent, handleMnsStream],
];

export function createFunction(spec: FunctionSpec, options: RuntimeOptions = {}): FcHandler & { runtime: Runtime } {
  const rt = createRuntime(spec.name, spec.channel, options, spec.makeSender, spec.makeStore);
  const handler = async (event: unknown, context: FcContext = {}) => {
    const decoded = decodeEvent(event);
    if (decoded.ok && isHttpEvent(decoded.value)) {
      return handleHttp(decoded.value, context, rt, spec.routes, authenticate);
    }
    let summary: BatchSummary | undefined;
    if (!decoded.ok) {
      // A body that is not JSON can only be an MNS STREAM-format message (the raw text).
      summary = await handleMnsStream(undefined, context, rt, decoded.text);
    } else {
      const v = decoded.value;
      const adapter = EVENT_ADAPTERS.find(([is]) => is(v))?.[1];
      if (adapter) summary = await adapter(v, context, rt);
    }
    if (!summary) {
      // Never crash on a shape we do not know, and never redeliver it: it would fail again.
      rt.logger.error(
        { event: 'unsupported-event', requestId: context.requestId, kind: Array.isArray(decoded.ok ? decoded.value : undefined) ? 'array' : typeof (decoded.ok ? decoded.value : undefined) },
        'event shape not recognised (expected an HTTP, MNS topic, MNS queue/EventBridge, OSS or timer event); nothing was sent',
      );
      return { ok: false, error: { code: 'INVALID_REQUEST', message: 'event shape not recognised; nothing was sent' } };
    }
    if (summary.retry > 0) throw new BatchRetryError(summary);
    return { ok: true, source: summary.source, total: summary.total, counts: summary.counts };
  };
  return Object.assign(handler, { runtime: rt });
}

import { type BatchItem, type BatchSummary, runBatch } from '../../core/batch.ts';
import { MisroutedJobsError } from '../../errors.ts';
import { isRecord } from '../../jobs.ts';
import { contentKey, itemsFromText } from '../../parse/jobs-text.ts';
import type { FcContext, Runtime } from '../runtime.ts';
import { type Adapter, batchDeps, FIVE_MINUTES_MS, maxJobsPerEvent, refuseEvent } from './adapter.ts';

/**
 * MNS queue through EventBridge: one CloudEvent `{id, type:"mns:Queue:SendMessage", data:{messageId,
 * messageBody}}`, or an array of them (batch mode), or with the RawData schema only the `data`
 * objects. `messageBody` is plain text or base64 (IsBase64Decode off). The key defaults to the
 * MNS messageId. EventBridge caps an invocation at 5 minutes, whatever the function timeout.
 */

interface MnsData {
  messageId?: unknown;
  messageBody: string;
}

/** One message: a CloudEvent `{id, data}` or, with the RawData schema, the `data` object alone. */
type MnsQueueMessage = MnsData | { id?: unknown; data: MnsData };
export type MnsQueueEvent = MnsQueueMessage | MnsQueueMessage[];

function isMnsData(v: unknown): v is MnsData {
  return isRecord(v) && typeof v.messageBody === 'string';
}

function isMessage(v: unknown): v is MnsQueueMessage {
  return isMnsData(v) || (isRecord(v) && isMnsData(v.data));
}

function dataOf(m: MnsQueueMessage): MnsData {
  return 'data' in m && isMnsData(m.data) ? m.data : (m as MnsData);
}

export function isMnsQueueEvent(v: unknown): v is MnsQueueEvent {
  if (Array.isArray(v)) return v.length > 0 && v.every(isMessage);
  return isMessage(v);
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Plain JSON first; otherwise base64 of UTF-8 JSON; otherwise the text as is (it becomes a poison job). */
export function decodeMessageBody(body: string): string {
  const t = body.trim();
  if (t.startsWith('{') || t.startsWith('[')) return body;
  if (t.length % 4 === 0 && BASE64.test(t)) {
    try {
      const decoded = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(t, 'base64'));
      JSON.parse(decoded);
      return decoded;
    } catch {
      // not base64 JSON: fall through
    }
  }
  return body;
}

/**
 * The default idempotency key of one message: its MNS messageId when it has a usable one (a
 * non-empty string or number of at most 100 characters), otherwise a digest of the body and the
 * CloudEvent id. Never the position in the batch (two different messages would share `index-0`)
 * and never an object's String() (`[object Object]`). The same message redelivered has the same
 * body and event id, so the same key; two identical bodies without any id are one job.
 */
export function messageKey(data: MnsData, eventId: unknown): string {
  const own = typeof data.messageId === 'number' && Number.isFinite(data.messageId) ? String(data.messageId) : data.messageId;
  if (typeof own === 'string' && own !== '' && own.length <= 100) return own;
  const ev = typeof eventId === 'string' || typeof eventId === 'number' ? String(eventId) : '';
  return `body-${contentKey(`${ev}\n${data.messageBody}`)}`;
}

export const adapter: Adapter<MnsQueueEvent> = {
  trigger: 'mns-queue',
  matches: isMnsQueueEvent,
  handle: (event, { fc, rt }) => handleMnsQueue(event, fc, rt),
};

async function handleMnsQueue(event: MnsQueueEvent, fc: FcContext, rt: Runtime): Promise<BatchSummary> {
  const events = Array.isArray(event) ? event : [event];
  const max = maxJobsPerEvent(rt);
  if (events.length > max) return refuseEvent('mns', events.length, fc, rt);
  const items: BatchItem[] = [];
  for (const ev of events) {
    const data = dataOf(ev);
    const id = messageKey(data, 'id' in ev ? ev.id : undefined);
    items.push(...itemsFromText(decodeMessageBody(data.messageBody), `msg ${id}`, `mns:${id}`));
  }
  if (items.length > max) return refuseEvent('mns', items.length, fc, rt);
  const summary = await runBatch(items, batchDeps(fc, rt, { source: 'mns', maxInvocationMs: FIVE_MINUTES_MS }));
  try {
    return failOnMisrouted(summary);
  } catch (err) {
    // Loud, once per invocation: a producer is writing to the wrong queue (worth an SLS alert).
    if (err instanceof MisroutedJobsError)
      rt.logger.error(
        { event: 'queue-misrouted', requestId: fc.requestId, refs: err.refs.slice(0, 10), count: err.refs.length },
        err.message,
      );
    throw err;
  }
}

function failOnMisrouted(summary: BatchSummary): BatchSummary {
  const misrouted = summary.results.filter((r) => r.code === 'CHANNEL_MISMATCH');
  if (misrouted.length === 0) return summary;
  for (const r of misrouted) r.retry = true;
  const marked = { ...summary, retry: summary.results.filter((r) => r.retry).length };
  throw new MisroutedJobsError(
    marked,
    misrouted.map((r) => r.ref),
  );
}

import { type BatchItem, type BatchSummary, runBatch } from '../../core/batch.ts';
import { isRecord } from '../../jobs.ts';
import { contentKey, itemsFromText, itemsFromValue } from '../../parse/jobs-text.ts';
import type { FcContext, Runtime } from '../runtime.ts';
import { type Adapter, batchDeps, maxJobsPerEvent, refuseEvent } from './adapter.ts';

/** Runs the items of one message, or refuses the message whole when it holds too many jobs. */
function run(items: BatchItem[], fc: FcContext, rt: Runtime): Promise<BatchSummary> {
  if (items.length > maxJobsPerEvent(rt)) refuseEvent('mns', items.length, fc, rt);
  return runBatch(items, batchDeps(fc, rt, { source: 'mns' }));
}

/**
 * MNS topic trigger. JSON format: `{TopicOwner, TopicName, Message, MessageId, PublishTime, …attributes}`
 * (the idempotency key defaults to the MessageId). STREAM format (MNS's default): the raw message
 * text, or `{body, attrs}` when the message has attributes; it carries no MessageId, so the key
 * defaults to a hash of the text — identical messages within 24 h are sent once; give each job
 * an `idempotencyKey` (or use the JSON format) to send identical texts twice.
 */

export interface MnsTopicJsonEvent {
  Message: string;
  MessageId: string;
  TopicName?: string;
  PublishTime?: number | string;
}

export function isMnsTopicEvent(v: unknown): v is MnsTopicJsonEvent {
  return isRecord(v) && typeof v.Message === 'string' && typeof v.MessageId === 'string' && ('TopicOwner' in v || 'TopicName' in v);
}

/**
 * A STREAM-format message whose text is not JSON: app.ts wraps the raw text in this class, so no
 * parsed JSON value (a JSON string literal included) can ever be taken for one.
 */
export class RawMessage {
  constructor(readonly text: string) {}
}

/** STREAM format: the raw text, `{body, attrs}` (with attributes), or a raw message that is itself a job (`{phone, …}`). */
export type MnsStreamEvent = RawMessage | { body: string; attrs: Record<string, unknown> } | Record<string, unknown>;

export function isMnsStreamEvent(v: unknown): v is MnsStreamEvent {
  if (v instanceof RawMessage) return true;
  if (!isRecord(v)) return false;
  if (typeof v.body === 'string' && isRecord(v.attrs) && Object.keys(v).length === 2) return true;
  return typeof v.phone === 'string';
}

export const adapter: Adapter<MnsTopicJsonEvent> = {
  trigger: 'mns-topic',
  matches: isMnsTopicEvent,
  handle: async (e, { fc, rt }) => {
    // An empty or oversized MessageId (not what MNS sends) falls back to a digest of the text, never a shared key.
    const id = e.MessageId !== '' && e.MessageId.length <= 100 ? e.MessageId : `body-${contentKey(e.Message)}`;
    return run(itemsFromText(e.Message, `msg ${id}`, `mns:${id}`), fc, rt);
  },
};

/** The STREAM format, as its own adapter with the same face (it is tried last: `{phone}` is a loose shape). */
export const streamAdapter: Adapter<MnsStreamEvent> = {
  trigger: 'mns-stream',
  matches: isMnsStreamEvent,
  handle: async (e, { fc, rt }) => {
    if (e instanceof RawMessage) {
      return run(itemsFromText(e.text, 'stream message', `mns-stream:${contentKey(e.text)}`), fc, rt);
    }
    if (typeof e.body === 'string' && isRecord(e.attrs)) {
      return run(itemsFromText(e.body, 'stream message', `mns-stream:${contentKey(e.body)}`), fc, rt);
    }
    // The raw message was JSON, so FC's Buffer parsed into the job itself.
    const text = JSON.stringify(e);
    return run(itemsFromValue(e, 'stream message', `mns-stream:${contentKey(text)}`), fc, rt);
  },
};

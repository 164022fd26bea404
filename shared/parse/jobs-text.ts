import type { BatchItem } from '../core/batch.ts';
import { sha256 } from '../hash.ts';
import { isRecord } from '../jobs.ts';

/**
 * A message body holds one job (a JSON object), or several: a JSON array or `{"jobs":[…]}`.
 * Each becomes a batch item keyed `<key>` (one job) or `<key>#<index>`. A body that is not
 * JSON is one poison item: logged with the reason, never redelivered.
 */
export function itemsFromText(text: string, ref: string, key: string, caller?: string): BatchItem[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const detail = err instanceof SyntaxError ? err.message.slice(0, 120) : 'unreadable';
    return [{ ref, defaultKey: key, problem: `message body is not valid JSON: ${detail}`, ...(caller ? { caller } : {}) }];
  }
  return itemsFromValue(value, ref, key, caller);
}

export function itemsFromValue(value: unknown, ref: string, key: string, caller?: string): BatchItem[] {
  const list = Array.isArray(value) ? value : isRecord(value) && Array.isArray(value.jobs) ? value.jobs : undefined;
  const extra = caller ? { caller } : {};
  if (list === undefined) return [{ ref, raw: value, defaultKey: key, ...extra }];
  if (list.length === 0) return [{ ref, defaultKey: key, problem: 'message holds an empty list of jobs', ...extra }];
  return list.map((raw, i) => ({ ref: `${ref}#${i}`, raw, defaultKey: `${key}#${i}`, ...extra }));
}

/** A key for a message that carries no id of its own (MNS STREAM format): the hash of its text. */
export function contentKey(text: string): string {
  return sha256(text, 'base64url').slice(0, 27);
}

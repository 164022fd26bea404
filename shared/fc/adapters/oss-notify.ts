import { defaultNotifyPrefix } from '../../config.ts';
import { type BatchSummary, type JobResult, runBatch } from '../../core/batch.ts';
import { sha256 } from '../../hash.ts';
import { buildJob, decodeMetaValue, keyProblem, matchRule, metaNames } from '../../notify/rules.ts';
import { headObject, type OssCredentials } from '../../oss/client.ts';
import type { FcContext, Runtime } from '../runtime.ts';
import { batchDeps } from './adapter.ts';

/**
 * Notify on upload (docs/notify-on-upload.md): an object created under the function's
 * NOTIFY_PREFIX is not a batch file but an ordinary upload (an invoice PDF, a delivery photo).
 * Its key, relative to the prefix, is matched against the catalog's `notifications` rules of
 * this function's channel; the first match makes ONE job, sent through the same pipeline as
 * every other job (validation, guards, limits, quiet hours, idempotency). The object's body is
 * never read; its user metadata is read with one V4-signed HEAD, only when the rule needs it.
 *
 * Idempotency key (an upload cannot carry one of its own): bucket + key + eTag,
 * so a redelivered event, or the same bytes uploaded again, notify once; a new version (new
 * eTag) notifies again.
 */

export interface UploadedObject {
  bucket: string;
  /** Decoded key (shared/fc/adapters/oss.ts decodeKey). */
  key: string;
  /** The event's eTag without quotes; '' when the event had none. */
  eTag: string;
  region: string;
  endpoint: string;
  eventTime: string | undefined;
}

/** The prefix this function treats as notify-on-upload; undefined for a function without a channel. */
export function notifyPrefixOf(rt: Runtime): string | undefined {
  if (!rt.channel) return undefined;
  return rt.config?.notifyPrefix ?? defaultNotifyPrefix(rt.channel);
}

function summaryOf(results: JobResult[]): BatchSummary {
  const counts: BatchSummary['counts'] = {};
  for (const r of results) counts[r.status] = (counts[r.status] ?? 0) + 1;
  return { source: 'oss', total: results.length, counts, retry: results.filter((r) => r.retry).length, results };
}

/** Store key: readable when short; hashed when a long key would make it unwieldy (keys go up to 1023 bytes). */
export function notifyKey(bucket: string, key: string, version: string): string {
  const plain = `oss:${bucket}/${key}@${version}`;
  return plain.length <= 200 ? plain : `oss:sha256:${sha256(`${bucket}\n${key}\n${version}`, 'hex')}`;
}

export async function handleUpload(
  obj: UploadedObject,
  prefix: string,
  creds: OssCredentials | undefined,
  fc: FcContext,
  rt: Runtime,
  started: number,
): Promise<BatchSummary> {
  const logger = rt.logger.child({ requestId: fc.requestId, source: 'oss-notify' });
  // `object`, not `key`: log fields named key are redacted. Phones in it are masked by the log scrubber.
  const where = { bucket: obj.bucket, object: obj.key.slice(0, 200) };
  const relative = obj.key.slice(prefix.length);
  const refuse = (rule: string | undefined, message: string): BatchSummary => {
    logger.warn(
      { event: 'notify-refused', ...where, ...(rule ? { rule } : {}) },
      `${rule ? `rule "${rule}": ` : ''}${message}; nothing sent`,
    );
    return summaryOf([{ ref: rule ? `rule ${rule}` : 'object', status: 'poison', retry: false, code: 'INVALID_REQUEST', message }]);
  };

  const bad = keyProblem(obj.key, relative);
  if (bad) return refuse(undefined, `object key ${bad}`);
  const match = matchRule(rt.catalog?.notifications ?? [], relative, rt.channel);
  if (!match) {
    logger.info(
      { event: 'notify-unmatched', ...where },
      rt.catalog
        ? `no ${rt.channel} notification rule matches this key; ignored`
        : 'no template catalog, so no notification rules; ignored',
    );
    return summaryOf([]);
  }
  const { rule } = match;

  let meta: Record<string, string> | undefined;
  let version = obj.eTag;
  const needed = metaNames(rule);
  if (needed.length > 0) {
    if (!creds) throw new Error('the OSS trigger needs the function role: context.credentials is empty (set `role` in s.yaml)');
    const head = await headObject({ endpoint: obj.endpoint, region: obj.region, bucket: obj.bucket, key: obj.key }, creds);
    if (!head) {
      logger.info(
        { event: 'notify-gone', ...where, rule: rule.name },
        'the object was deleted before its metadata could be read; nothing sent',
      );
      return summaryOf([]);
    }
    // Metadata belongs to a version: if the object was overwritten since this event, the newer
    // version's own event notifies (with its own metadata), this one would mix the two.
    if (obj.eTag !== '' && head.eTag !== undefined && head.eTag.toUpperCase() !== obj.eTag.toUpperCase()) {
      logger.info(
        { event: 'notify-superseded', ...where, rule: rule.name },
        'the object was overwritten since this event; its newer version notifies',
      );
      return summaryOf([]);
    }
    version ||= head.eTag ?? '';
    meta = {};
    for (const name of needed) {
      const raw = head.meta[name];
      if (raw === undefined) continue;
      const value = decodeMetaValue(raw);
      if (value === undefined) return refuse(rule.name, `metadata x-oss-meta-${name} is not UTF-8 (send it percent-encoded UTF-8)`);
      meta[name] = value;
    }
  }
  const built = buildJob(match, meta);
  if (built.problem !== undefined) return refuse(rule.name, built.problem);

  // No eTag at all (not seen from OSS, but the field is optional): the event time still tells uploads apart.
  const key = notifyKey(obj.bucket, obj.key, version || `t:${obj.eventTime ?? ''}`);
  const summary = await runBatch(
    [{ ref: `rule ${rule.name}`, raw: built.job, defaultKey: key }],
    batchDeps(fc, rt, { source: 'oss', startedAt: started }),
  );
  const r = summary.results[0];
  logger.info(
    { event: 'notify', ...where, rule: rule.name, status: r?.status, code: r?.code },
    `upload matched rule "${rule.name}": ${r?.status ?? 'no result'}`,
  );
  return summary;
}

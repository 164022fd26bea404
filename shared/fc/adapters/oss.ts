import { DEFAULT_RESULT_PREFIX } from '../../config.ts';
import { type BatchItem, type BatchSummary, type JobResult, runBatch } from '../../core/batch.ts';
import { CutShortError } from '../../errors.ts';
import { isRecord } from '../../jobs.ts';
import { getObjectStream, type OssCredentials, type OssObject, putObjectStream, signingRegion } from '../../oss/client.ts';
import { byteLines, type CsvOut, CsvReader, LineDecoder, MAX_LINE_BYTES, TOO_LONG } from '../../parse/batch-file.ts';
import type { FcContext, Runtime } from '../runtime.ts';
import type { Adapter } from './adapter.ts';
import { handleUpload, notifyPrefixOf } from './oss-notify.ts';

export { MAX_LINE_BYTES, parseCsvRecord, splitCsvLine } from '../../parse/batch-file.ts';

/**
 * OSS `ObjectCreated` trigger: the uploaded object is a batch file of jobs, JSON Lines (`.jsonl`,
 * `.ndjson`) or CSV with a header row (`.csv`). It is read as a stream, line by line, and sent in
 * chunks of CHUNK_LINES through the batch runner, so memory stays flat whatever the file size.
 * Each line's outcome is written, as it is known, to `<RESULT_PREFIX><key>.result.jsonl`
 * (default `results/…`): outside every trigger prefix, so writing it fires no trigger. Each
 * channel has its own trigger prefix (s.yaml), so one function reads a given batch file.
 * Text is UTF-8, or GB18030/GBK for CSV (Chinese Excel's "CSV"), decided per file (batch-file.ts).
 * Idempotency key per line (unless the job has its own): bucket + key + eTag + line number, so a
 * redelivered event, or the same file uploaded again unchanged, never sends a line twice.
 */

const CHUNK_LINES = 256;

export const RESULT_SUFFIX = '.result.jsonl';

interface OssRecord {
  eventName: string;
  eventTime?: string;
  region?: string;
  oss: { bucket: { name: string }; object: { key: string; eTag?: string; size?: number } };
}

function isOssRecord(v: unknown): v is OssRecord {
  if (!isRecord(v) || typeof v.eventName !== 'string' || !isRecord(v.oss)) return false;
  const { bucket, object } = v.oss;
  return isRecord(bucket) && typeof bucket.name === 'string' && isRecord(object) && typeof object.key === 'string';
}

export interface OssEvent {
  events: OssRecord[];
}

/** Documented shape: `{events:[{eventName:"ObjectCreated:…", oss:{bucket:{name}, object:{key, eTag}}}]}`. */
export function isOssEvent(v: unknown): v is OssEvent {
  return isRecord(v) && Array.isArray(v.events) && v.events.length > 0 && v.events.every(isOssRecord);
}

export const adapter: Adapter<OssEvent> = {
  trigger: 'oss',
  matches: isOssEvent,
  handle: (event, { fc, rt }) => handleOss(event, fc, rt),
};

/** OSS URL-encodes object keys in events (a space may arrive as `+`). */
export function decodeKey(key: string): string {
  try {
    return decodeURIComponent(key.replace(/\+/g, '%20'));
  } catch {
    return key;
  }
}

export const CSV_COLUMNS = ['channel', 'phone', 'skin', 'params', 'sign', 'content', 'idempotencyKey', 'sendAt'] as const;

/** A CSV row as a job: empty cells are left out; `params` is a JSON array, or one plain value. */
export function csvJob(header: readonly string[], cells: readonly string[]): { job?: Record<string, unknown>; problem?: string } {
  if (cells.length !== header.length) return { problem: `has ${cells.length} cells, the header has ${header.length}` };
  const job: Record<string, unknown> = {};
  header.forEach((name, i) => {
    const cell = cells[i] as string;
    if (cell === '') return;
    if (name === 'params') {
      if (cell.trimStart().startsWith('[') || cell.trimStart().startsWith('{')) {
        try {
          job.params = JSON.parse(cell);
        } catch {
          job.params = cell; // invalid: validation names it
        }
      } else job.params = [cell];
    } else job[name] = cell;
  });
  return { job };
}

type Format = 'jsonl' | 'csv';

export function formatOf(key: string): Format | undefined {
  if (/\.(jsonl|ndjson)$/i.test(key)) return 'jsonl';
  if (/\.csv$/i.test(key)) return 'csv';
  return undefined;
}

function credentialsOf(fc: FcContext): OssCredentials | undefined {
  const c = fc.credentials;
  if (!c?.accessKeyId || !c.accessKeySecret) return undefined;
  return { accessKeyId: c.accessKeyId, accessKeySecret: c.accessKeySecret, ...(c.securityToken ? { securityToken: c.securityToken } : {}) };
}

/** Adds `part`'s counts to `into` (results are written out as they come, not kept). */
function addUp(into: BatchSummary, part: BatchSummary): void {
  into.total += part.total;
  into.retry += part.retry;
  for (const [status, n] of Object.entries(part.counts) as Array<[keyof BatchSummary['counts'], number]>)
    into.counts[status] = (into.counts[status] ?? 0) + n;
}

function resultLine(line: number, r: JobResult): string {
  const out: Record<string, unknown> = { line, status: r.status };
  if (r.phone) out.phone = r.phone;
  if (r.code) out.code = r.code;
  if (r.message) out.message = r.message;
  if (r.id) out.id = r.id;
  if (r.sendAt) out.sendAt = r.sendAt;
  // Sent, but the store could not record it (docs/guarantees.md): not sent again.
  if (r.recorded === false) out.recorded = false;
  return `${JSON.stringify(out)}\n`;
}

/** Where a batch file's results go; exported for tests and docs. */
export function resultKeyOf(key: string, resultPrefix = DEFAULT_RESULT_PREFIX): string {
  return `${resultPrefix}${key}${RESULT_SUFFIX}`;
}

async function handleObject(rec: OssRecord, fc: FcContext, rt: Runtime, started: number): Promise<BatchSummary> {
  const bucket = rec.oss.bucket.name;
  const key = decodeKey(rec.oss.object.key);
  const summary: BatchSummary = { source: 'oss', total: 0, counts: {}, retry: 0, results: [] };
  const format = formatOf(key);
  const resultPrefix = rt.config?.resultPrefix ?? DEFAULT_RESULT_PREFIX;
  // Notify on upload: an ordinary object under NOTIFY_PREFIX announces itself by rule (oss-notify.ts).
  const notifyPrefix = notifyPrefixOf(rt);
  if (notifyPrefix && key.startsWith(notifyPrefix)) {
    const region = signingRegion(rec.region ?? fc.region ?? 'cn-hangzhou');
    const endpoint = rt.config?.ossEndpoint ?? `https://oss-${region}-internal.aliyuncs.com`;
    const eTag = (rec.oss.object.eTag ?? '').replace(/"/g, '');
    return handleUpload(
      { bucket, key, eTag, region, endpoint, eventTime: typeof rec.eventTime === 'string' ? rec.eventTime : undefined },
      notifyPrefix,
      credentialsOf(fc),
      fc,
      rt,
      started,
    );
  }
  const isResult = key.startsWith(resultPrefix) || key.endsWith(RESULT_SUFFIX);
  if (isResult || !format) {
    // Our own output (a loop if a trigger covers it), or not a batch file: nothing to send.
    rt.logger.info(
      { event: 'oss-skip', bucket, key: key.slice(0, 200) },
      isResult ? 'result file: not a batch' : 'not a .jsonl/.ndjson/.csv batch file',
    );
    return summary;
  }
  const creds = credentialsOf(fc);
  if (!creds) {
    // Thrown so FC retries and, after its retries, sends the event to the dead-letter queue.
    throw new Error('the OSS trigger needs the function role: context.credentials is empty (set `role` in s.yaml)');
  }
  // The bucket's region scopes the V4 signature: the event's own region, else the function's.
  const region = signingRegion(rec.region ?? fc.region ?? 'cn-hangzhou');
  const endpoint = rt.config?.ossEndpoint ?? `https://oss-${region}-internal.aliyuncs.com`;
  const source: OssObject = { endpoint, region, bucket, key };
  const eTag = (rec.oss.object.eTag ?? '').replace(/"/g, '');
  const body = await getObjectStream(source, creds);
  const results = putObjectStream(
    { endpoint, region, bucket, key: resultKeyOf(key, resultPrefix) },
    creds,
    'application/x-ndjson; charset=utf-8',
  );

  let header: string[] | undefined;
  let lineNo = 0;
  let chunk: BatchItem[] = [];
  const lineOf = new Map<string, number>();
  const decoder = new LineDecoder(format === 'csv');
  const csv = new CsvReader();

  async function flush(): Promise<void> {
    if (chunk.length === 0) return;
    const items = chunk;
    chunk = [];
    const part = await runBatch(items, fc, rt, { source: 'oss', startedAt: started });
    for (const r of part.results) results.write(resultLine(lineOf.get(r.ref) ?? 0, r));
    lineOf.clear();
    addUp(summary, part);
  }

  function add(line: number, item: Omit<BatchItem, 'ref' | 'defaultKey'>): void {
    const ref = `line ${line}`;
    lineOf.set(ref, line);
    chunk.push({ ref, defaultKey: `oss:${bucket}/${key}@${eTag}#${line}`, ...item });
  }

  function addCsv(records: CsvOut[]): void {
    for (const r of records) {
      if (!header) {
        if ('problem' in r) throw new Error(`CSV header (line ${r.line}) ${r.problem.replace(/^CSV row /, '')}`);
        header = r.cells.map((c) => c.trim());
        const unknown = header.filter((h) => !(CSV_COLUMNS as readonly string[]).includes(h));
        if (unknown.length > 0 || !header.includes('phone')) {
          throw new Error(
            `CSV header must name columns from ${CSV_COLUMNS.join(', ')} (with phone); got ${header.join(',').slice(0, 200)}`,
          );
        }
        continue;
      }
      if ('problem' in r) {
        add(r.line, { problem: r.problem });
        continue;
      }
      const { job, problem } = csvJob(header, r.cells);
      add(r.line, problem ? { problem: `CSV row ${problem}` } : { raw: job });
    }
  }

  try {
    for await (const bytes of byteLines(body)) {
      lineNo += 1;
      const decoded =
        bytes === TOO_LONG ? { problem: `line is longer than ${MAX_LINE_BYTES} bytes` } : decoder.decode(bytes, lineNo, lineNo === 1);
      if ('problem' in decoded) {
        // A line that cannot be read ends any CSV record open before it; then it is poison itself.
        if (format === 'csv') addCsv(csv.end());
        add(lineNo, { problem: decoded.problem });
      } else if (format === 'jsonl') {
        const raw = decoded.text;
        if (raw.trim() === '') continue;
        try {
          add(lineNo, { raw: JSON.parse(raw) });
        } catch (err) {
          add(lineNo, { problem: `line is not valid JSON: ${err instanceof SyntaxError ? err.message.slice(0, 120) : 'unreadable'}` });
        }
      } else addCsv(csv.push(lineNo, decoded.text));
      if (chunk.length >= CHUNK_LINES) await flush();
    }
    // A response that ended without all its bytes is as cut short as one that errored.
    if ((body as { complete?: boolean }).complete === false) throw new CutShortError('premature end of the object body');
    if (format === 'csv') addCsv(csv.end());
    if (decoder.encoding === 'gb18030')
      rt.logger.info(
        { event: 'oss-encoding', bucket, key: key.slice(0, 200), from: decoder.decidedAt },
        'batch file read as GB18030 (not UTF-8)',
      );
    await flush();
  } catch (err) {
    // Write what is known, then fail: FC retries, and lines already sent are replayed, not resent.
    body.destroy();
    await results.end().catch(() => undefined);
    if (err instanceof CutShortError)
      throw new Error(`OSS object ${bucket}/${key.slice(0, 200)} was cut short after line ${lineNo}: ${err.message}`);
    throw err;
  }
  // A results file that did not arrive fails the invocation (FC retries; nothing is resent).
  await results.end();
  rt.logger.info(
    {
      event: 'oss-batch',
      bucket,
      key: key.slice(0, 200),
      lines: lineNo,
      total: summary.total,
      counts: summary.counts,
      retry: summary.retry,
    },
    'batch file done',
  );
  return summary;
}

async function handleOss(event: OssEvent, fc: FcContext, rt: Runtime): Promise<BatchSummary> {
  const started = rt.now();
  const total: BatchSummary = { source: 'oss', total: 0, counts: {}, retry: 0, results: [] };
  for (const rec of event.events) {
    if (!rec.eventName.startsWith('ObjectCreated')) continue;
    addUp(total, await handleObject(rec, fc, rt, started));
  }
  return total;
}

import { createInterface } from 'node:readline';
import { pipeline, Transform, type TransformCallback } from 'node:stream';
import { type BatchItem, type BatchSummary, type JobResult, runBatch } from '../core/batch.ts';
import { getObjectStream, type OssCredentials, type OssObject, putObjectStream } from '../oss/client.ts';
import type { FcContext, Runtime } from '../runtime.ts';
import { isRecord } from './jobs-text.ts';

/**
 * OSS `ObjectCreated` trigger: the uploaded object is a batch file of jobs, JSON Lines (`.jsonl`,
 * `.ndjson`) or CSV with a header row (`.csv`). It is read as a stream, line by line, and sent in
 * chunks of CHUNK_LINES through the batch runner, so memory stays flat whatever the file size.
 * Each line's outcome is written, as it is known, to `<key>.<channel>.result.jsonl` next to the
 * object (one file per function: both sending functions may read the same batch file).
 * Idempotency key per line (unless the job has its own): bucket + key + eTag + line number, so a
 * redelivered event, or the same file uploaded again unchanged, never sends a line twice.
 */

const CHUNK_LINES = 256;
/** A job is a few hundred bytes; a longer line is refused instead of being held in memory. */
export const MAX_LINE_BYTES = 64 * 1024;
const TOO_LONG = '\u0000line-too-long';

/**
 * Passes lines through, but replaces a line over `max` bytes by a marker as soon as it is known
 * to be too long, dropping its bytes up to the next newline, so readline never buffers it.
 */
export function capLines(max = MAX_LINE_BYTES): Transform {
  let length = 0;
  let dropping = false;
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      const out: Buffer[] = [];
      let start = 0;
      for (let i = 0; i < chunk.length; i++) {
        if (chunk[i] === 0x0a) {
          if (!dropping) out.push(chunk.subarray(start, i + 1));
          dropping = false;
          length = 0;
          start = i + 1;
        } else if (!dropping && ++length > max) {
          out.push(Buffer.from(`${TOO_LONG}\n`));
          dropping = true;
        }
      }
      if (!dropping && start < chunk.length) out.push(chunk.subarray(start));
      // Bytes of the long line passed on in earlier chunks stay in readline's buffer (at most
      // `max` bytes); the marker ends that line, and the reader refuses any line ending in it.
      done(null, Buffer.concat(out));
    },
  });
}

export const RESULT_SUFFIX = '.result.jsonl';

interface OssRecord {
  eventName: string;
  region?: string;
  oss: { bucket: { name: string }; object: { key: string; eTag?: string; size?: number } };
}

function recordOf(v: unknown): OssRecord | undefined {
  if (!isRecord(v) || typeof v.eventName !== 'string' || !isRecord(v.oss)) return undefined;
  const { bucket, object } = v.oss as Record<string, unknown>;
  if (!isRecord(bucket) || typeof bucket.name !== 'string' || !isRecord(object) || typeof object.key !== 'string') return undefined;
  return v as unknown as OssRecord;
}

/** Documented shape: `{events:[{eventName:"ObjectCreated:…", oss:{bucket:{name}, object:{key, eTag}}}]}`. */
export function isOssEvent(v: unknown): boolean {
  return isRecord(v) && Array.isArray(v.events) && v.events.length > 0 && v.events.every((e) => recordOf(e) !== undefined);
}

/** OSS URL-encodes object keys in events (a space may arrive as `+`). */
export function decodeKey(key: string): string {
  try {
    return decodeURIComponent(key.replace(/\+/g, '%20'));
  } catch {
    return key;
  }
}

// ---- CSV (RFC 4180: quoted fields, "" for a quote, commas and line breaks inside quotes) ----

export function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      out.push(field);
      field = '';
    } else field += c;
  }
  out.push(field);
  return out;
}

/** A CSV record still open inside quotes continues on the next line. */
function quotesOpen(text: string): boolean {
  let n = 0;
  for (const c of text) if (c === '"') n++;
  return n % 2 === 1;
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
  for (const [status, n] of Object.entries(part.counts) as Array<[keyof BatchSummary['counts'], number]>) into.counts[status] = (into.counts[status] ?? 0) + n;
}

function resultLine(line: number, r: JobResult): string {
  const out: Record<string, unknown> = { line, status: r.status };
  if (r.phone) out.phone = r.phone;
  if (r.code) out.code = r.code;
  if (r.message) out.message = r.message;
  if (r.id) out.id = r.id;
  if (r.sendAt) out.sendAt = r.sendAt;
  return `${JSON.stringify(out)}\n`;
}

async function handleObject(rec: OssRecord, fc: FcContext, rt: Runtime, started: number): Promise<BatchSummary> {
  const bucket = rec.oss.bucket.name;
  const key = decodeKey(rec.oss.object.key);
  const summary: BatchSummary = { source: 'oss', total: 0, counts: {}, retry: 0, results: [] };
  const format = formatOf(key);
  if (key.endsWith(RESULT_SUFFIX) || !format) {
    // Our own output (a loop otherwise), or not a batch file: nothing to send.
    rt.logger.info({ event: 'oss-skip', bucket, key: key.slice(0, 200) }, key.endsWith(RESULT_SUFFIX) ? 'result file: not a batch' : 'not a .jsonl/.ndjson/.csv batch file');
    return summary;
  }
  const creds = credentialsOf(fc);
  if (!creds) {
    // Thrown so FC retries and, after its retries, sends the event to the dead-letter queue.
    throw new Error('the OSS trigger needs the function role: context.credentials is empty (set `role` in s.yaml)');
  }
  const region = rec.region ?? fc.region ?? 'cn-hangzhou';
  const endpoint = rt.config?.ossEndpoint ?? `https://oss-${region}-internal.aliyuncs.com`;
  const source: OssObject = { endpoint, bucket, key };
  const eTag = (rec.oss.object.eTag ?? '').replace(/"/g, '');
  const body = await getObjectStream(source, creds);
  const results = putObjectStream({ endpoint, bucket, key: `${key}.${rt.channel ?? 'job'}${RESULT_SUFFIX}` }, creds, 'application/x-ndjson; charset=utf-8');

  let cut: Error | undefined;
  let header: string[] | undefined;
  let pendingCsv = '';
  let lineNo = 0;
  let recordLine = 0;
  let chunk: BatchItem[] = [];
  const lineOf = new Map<string, number>();

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

  try {
    // pipeline, not pipe: a body cut short (connection reset, premature close) must end the read
    // with an error, not leave the line loop waiting until the function times out.
    const lines = createInterface({
      input: pipeline(body, capLines(), (err) => {
        if (err) {
          cut = err;
          lines.close();
        }
      }),
      crlfDelay: Number.POSITIVE_INFINITY,
    });
    for await (const raw of lines) {
      lineNo += 1;
      if (raw.endsWith(TOO_LONG)) {
        add(pendingCsv === '' ? lineNo : recordLine, { problem: `line is longer than ${MAX_LINE_BYTES} bytes` });
        pendingCsv = '';
        if (chunk.length >= CHUNK_LINES) await flush();
        continue;
      }
      if (format === 'jsonl') {
        if (raw.trim() === '') continue;
        try {
          add(lineNo, { raw: JSON.parse(raw) });
        } catch (err) {
          add(lineNo, { problem: `line is not valid JSON: ${err instanceof SyntaxError ? err.message.slice(0, 120) : 'unreadable'}` });
        }
      } else {
        if (pendingCsv === '') recordLine = lineNo;
        pendingCsv = pendingCsv === '' ? raw : `${pendingCsv}\n${raw}`;
        if (quotesOpen(pendingCsv)) continue;
        const text = pendingCsv;
        pendingCsv = '';
        if (text.trim() === '') continue;
        const cells = splitCsvLine(text);
        if (!header) {
          header = cells.map((c) => c.trim().replace(/^\uFEFF/, ''));
          const unknown = header.filter((h) => !(CSV_COLUMNS as readonly string[]).includes(h));
          if (unknown.length > 0 || !header.includes('phone')) {
            throw new Error(`CSV header must name columns from ${CSV_COLUMNS.join(', ')} (with phone); got ${header.join(',').slice(0, 200)}`);
          }
          continue;
        }
        const { job, problem } = csvJob(header, cells);
        add(recordLine, problem ? { problem: `CSV row ${problem}` } : { raw: job });
      }
      if (chunk.length >= CHUNK_LINES) await flush();
    }
    if (cut) throw new Error(`OSS object ${bucket}/${key.slice(0, 200)} was cut short after line ${lineNo}: ${cut.message}`);
    if (pendingCsv !== '') add(recordLine, { problem: 'CSV row has an unclosed quote' });
    await flush();
  } catch (err) {
    // Write what is known, then fail: FC retries, and lines already sent are replayed, not resent.
    await results.end().catch(() => undefined);
    if (!cut && !(body as { complete?: boolean }).complete && body.destroyed) cut = err as Error;
    if (cut) throw new Error(`OSS object ${bucket}/${key.slice(0, 200)} was cut short after line ${lineNo}: ${cut.message}`);
    throw err;
  }
  // A results file that did not arrive fails the invocation (FC retries; nothing is resent).
  await results.end();
  rt.logger.info({ event: 'oss-batch', bucket, key: key.slice(0, 200), lines: lineNo, total: summary.total, counts: summary.counts, retry: summary.retry }, 'batch file done');
  return summary;
}

export async function handleOss(event: unknown, fc: FcContext, rt: Runtime): Promise<BatchSummary> {
  const started = rt.now();
  const total: BatchSummary = { source: 'oss', total: 0, counts: {}, retry: 0, results: [] };
  for (const e of (event as { events: unknown[] }).events) {
    const rec = recordOf(e) as OssRecord;
    if (!rec.eventName.startsWith('ObjectCreated')) continue;
    addUp(total, await handleObject(rec, fc, rt, started));
  }
  return total;
}

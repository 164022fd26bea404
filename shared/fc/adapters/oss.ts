import { DEFAULT_RESULT_PREFIX } from '../../config.ts';
import { type BatchItem, type BatchSummary, batchLimit, type JobResult, runBatch } from '../../core/batch.ts';
import { CutShortError } from '../../errors.ts';
import { isRecord } from '../../jobs.ts';
import { getObjectStream, type OssCredentials, putObjectStream, signingRegion } from '../../oss/client.ts';
import { byteLines, type CsvOut, CsvReader, LineDecoder, MAX_LINE_BYTES, TOO_LONG } from '../../parse/batch-file.ts';
import type { FcContext, Runtime } from '../runtime.ts';
import { type Adapter, batchDeps } from './adapter.ts';
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

/** The object an event names, and where to reach it. */
interface ObjectAt {
  bucket: string;
  key: string;
  eTag: string;
  region: string;
  endpoint: string;
}

function locate(rec: OssRecord, fc: FcContext, rt: Runtime): ObjectAt {
  // The bucket's region scopes the V4 signature: the event's own region, else the function's.
  const region = signingRegion(rec.region ?? fc.region ?? 'cn-hangzhou');
  return {
    bucket: rec.oss.bucket.name,
    key: decodeKey(rec.oss.object.key),
    eTag: (rec.oss.object.eTag ?? '').replace(/"/g, ''),
    region,
    endpoint: rt.config?.ossEndpoint ?? `https://oss-${region}-internal.aliyuncs.com`,
  };
}

const emptySummary = (): BatchSummary => ({ source: 'oss', total: 0, counts: {}, retry: 0, results: [] });

/** One created object: an upload to notify about, a batch file to send, or nothing of ours. */
async function handleObject(rec: OssRecord, fc: FcContext, rt: Runtime, started: number): Promise<BatchSummary> {
  const at = locate(rec, fc, rt);
  const { bucket, key } = at;
  // Notify on upload: an ordinary object under NOTIFY_PREFIX announces itself by rule (oss-notify.ts).
  const notifyPrefix = notifyPrefixOf(rt);
  if (notifyPrefix && key.startsWith(notifyPrefix)) {
    const eventTime = typeof rec.eventTime === 'string' ? rec.eventTime : undefined;
    return handleUpload({ ...at, eventTime }, notifyPrefix, credentialsOf(fc), fc, rt, started);
  }
  const format = formatOf(key);
  const resultPrefix = rt.config?.resultPrefix ?? DEFAULT_RESULT_PREFIX;
  const isResult = key.startsWith(resultPrefix) || key.endsWith(RESULT_SUFFIX);
  if (isResult || !format) {
    // Our own output (a loop if a trigger covers it), or not a batch file: nothing to send.
    rt.logger.info(
      { event: 'oss-skip', bucket, key: key.slice(0, 200) },
      isResult ? 'result file: not a batch' : 'not a .jsonl/.ndjson/.csv batch file',
    );
    return emptySummary();
  }
  const creds = credentialsOf(fc);
  if (!creds) {
    // Thrown so FC retries and, after its retries, sends the event to the dead-letter queue.
    throw new Error('the OSS trigger needs the function role: context.credentials is empty (set `role` in s.yaml)');
  }
  // One set of slots for the whole file: its chunks run overlapped (sendInChunks) and together
  // never have more than BATCH_CONCURRENCY jobs in flight.
  const deps = batchDeps(fc, rt, { source: 'oss', startedAt: started });
  const limit = batchLimit(deps.concurrency);
  return sendBatchFile(at, format, creds, resultPrefix, (items) => runBatch(items, { ...deps, limit }), rt);
}

/** A batch line as a batch item; `line` tells where its result goes. */
type LineItem = BatchItem & { line: number };
type LineJob = Pick<BatchItem, 'raw' | 'problem'>;

/** read → lines → jobs → send in chunks → write results. */
async function sendBatchFile(
  at: ObjectAt,
  format: Format,
  creds: OssCredentials,
  resultPrefix: string,
  run: (items: BatchItem[]) => Promise<BatchSummary>,
  rt: Runtime,
): Promise<BatchSummary> {
  const { bucket, key } = at;
  const body = await getObjectStream({ endpoint: at.endpoint, region: at.region, bucket, key }, creds);
  const results = putObjectStream(
    { endpoint: at.endpoint, region: at.region, bucket, key: resultKeyOf(key, resultPrefix) },
    creds,
    'application/x-ndjson; charset=utf-8',
  );
  const read = { lines: 0 };
  let summary: BatchSummary;
  try {
    summary = await sendInChunks(jobsOf(body, format, at, read, rt), run, results);
  } catch (err) {
    // Write what is known, then fail: FC retries, and lines already sent are replayed, not resent.
    body.destroy();
    await results.end().catch(() => undefined);
    if (err instanceof CutShortError)
      throw new Error(`OSS object ${bucket}/${key.slice(0, 200)} was cut short after line ${read.lines}: ${err.message}`);
    throw err;
  }
  // A results file that did not arrive fails the invocation (FC retries; nothing is resent).
  await results.end();
  rt.logger.info(
    {
      event: 'oss-batch',
      bucket,
      key: key.slice(0, 200),
      lines: read.lines,
      total: summary.total,
      counts: summary.counts,
      retry: summary.retry,
    },
    'batch file done',
  );
  return summary;
}

/** The object's lines as jobs (or problems), in order; `read.lines` counts the lines read. */
async function* jobsOf(
  body: AsyncIterable<Buffer> & { complete?: boolean },
  format: Format,
  at: ObjectAt,
  read: { lines: number },
  rt: Runtime,
): AsyncGenerator<LineItem> {
  const decoder = new LineDecoder(format === 'csv');
  const csv = format === 'csv' ? csvJobs() : undefined;
  const item = (line: number, job: LineJob): LineItem => ({
    ref: `line ${line}`,
    defaultKey: `oss:${at.bucket}/${at.key}@${at.eTag}#${line}`,
    line,
    ...job,
  });
  for await (const bytes of byteLines(body)) {
    const line = ++read.lines;
    const decoded =
      bytes === TOO_LONG ? { problem: `line is longer than ${MAX_LINE_BYTES} bytes` } : decoder.decode(bytes, line, line === 1);
    if ('problem' in decoded) {
      // A line that cannot be read ends any CSV record open before it; then it is poison itself.
      if (csv) for (const [n, job] of csv.end()) yield item(n, job);
      yield item(line, { problem: decoded.problem });
    } else if (csv) {
      for (const [n, job] of csv.push(line, decoded.text)) yield item(n, job);
    } else {
      const job = jsonlJob(decoded.text);
      if (job) yield item(line, job);
    }
  }
  // A response that ended without all its bytes is as cut short as one that errored.
  if (body.complete === false) throw new CutShortError('premature end of the object body');
  if (csv) for (const [n, job] of csv.end()) yield item(n, job);
  if (decoder.encoding === 'gb18030')
    rt.logger.info(
      { event: 'oss-encoding', bucket: at.bucket, key: at.key.slice(0, 200), from: decoder.decidedAt },
      'batch file read as GB18030 (not UTF-8)',
    );
}

/** A JSON Lines line as a job; blank lines are no job. */
function jsonlJob(text: string): LineJob | undefined {
  if (text.trim() === '') return undefined;
  try {
    return { raw: JSON.parse(text) };
  } catch (err) {
    return { problem: `line is not valid JSON: ${err instanceof SyntaxError ? err.message.slice(0, 120) : 'unreadable'}` };
  }
}

/** CSV records (multi-line cells joined by CsvReader) as jobs: the first record is the header. */
function csvJobs() {
  const reader = new CsvReader();
  let header: string[] | undefined;
  function jobs(records: CsvOut[]): Array<[number, LineJob]> {
    const out: Array<[number, LineJob]> = [];
    for (const r of records) {
      if (!header) {
        header = headerOf(r);
        continue;
      }
      if ('problem' in r) {
        out.push([r.line, { problem: r.problem }]);
        continue;
      }
      const { job, problem } = csvJob(header, r.cells);
      out.push([r.line, problem ? { problem: `CSV row ${problem}` } : { raw: job }]);
    }
    return out;
  }
  return { push: (line: number, text: string) => jobs(reader.push(line, text)), end: () => jobs(reader.end()) };
}

/** The CSV header row: known column names, `phone` among them; anything else fails the file. */
function headerOf(r: CsvOut): string[] {
  if ('problem' in r) throw new Error(`CSV header (line ${r.line}) ${r.problem.replace(/^CSV row /, '')}`);
  const header = r.cells.map((c) => c.trim());
  const unknown = header.filter((h) => !(CSV_COLUMNS as readonly string[]).includes(h));
  if (unknown.length > 0 || !header.includes('phone')) {
    throw new Error(`CSV header must name columns from ${CSV_COLUMNS.join(', ')} (with phone); got ${header.join(',').slice(0, 200)}`);
  }
  return header;
}

/**
 * Chunks in flight at once. Awaiting each chunk before reading the next drained the slots at every
 * chunk boundary (the last jobs of a chunk ran with the other slots idle, then the next chunk's
 * jobs all started together): 1.65× the ideal time for a 100,000-line file at 64 × 50 ms on an idle
 * machine (BENCHMARKS.md). With the next chunk already queued on the same slots (`batchLimit`),
 * the slots stay busy; memory stays bounded by CHUNKS_IN_FLIGHT × CHUNK_LINES lines.
 */
const CHUNKS_IN_FLIGHT = 2;

/**
 * Sends the items CHUNK_LINES at a time, the next chunk queued while one runs (`run` shares one set
 * of slots), and writes each chunk's results, in file order, as soon as it is done.
 */
async function sendInChunks(
  items: AsyncIterable<LineItem>,
  run: (items: BatchItem[]) => Promise<BatchSummary>,
  results: { write(text: string): void },
): Promise<BatchSummary> {
  const summary = emptySummary();
  const inFlight: Array<{ lineOf: Map<string, number>; part: Promise<BatchSummary> }> = [];
  /** Waits for the oldest chunk and writes its results. */
  const settleOldest = async () => {
    const oldest = inFlight.shift();
    if (!oldest) return;
    const part = await oldest.part;
    // One write per chunk, not per line: each write of the PUT is a chunk of its own on the wire
    // (a syscall and a chunk header), which cost ~0.1 ms per line of a large file (BENCHMARKS.md).
    let text = '';
    for (const r of part.results) text += resultLine(oldest.lineOf.get(r.ref) ?? 0, r);
    if (text) results.write(text);
    addUp(summary, part);
  };
  let chunk: LineItem[] = [];
  const start = async () => {
    if (chunk.length === 0) return;
    const sent = chunk;
    chunk = [];
    const part = run(sent);
    part.catch(() => {}); // awaited in settleOldest; this only keeps a rejection from being "unhandled" meanwhile
    inFlight.push({ lineOf: new Map(sent.map((i) => [i.ref, i.line])), part });
    while (inFlight.length >= CHUNKS_IN_FLIGHT) await settleOldest();
  };
  try {
    for await (const item of items) {
      chunk.push(item);
      if (chunk.length >= CHUNK_LINES) await start();
    }
    await start();
    while (inFlight.length > 0) await settleOldest();
  } finally {
    // Reading the file failed (or a write did): the chunks already started still finish, so every
    // job that was sent has its outcome recorded before the error reaches FC.
    await Promise.allSettled(inFlight.map((c) => c.part));
  }
  return summary;
}

async function handleOss(event: OssEvent, fc: FcContext, rt: Runtime): Promise<BatchSummary> {
  const started = rt.now();
  const total = emptySummary();
  for (const rec of event.events) {
    if (!rec.eventName.startsWith('ObjectCreated')) continue;
    addUp(total, await handleObject(rec, fc, rt, started));
  }
  return total;
}

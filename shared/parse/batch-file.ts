import { TextDecoder } from 'node:util';
import { CutShortError } from '../errors.ts';

/**
 * Reading a batch file as a stream of lines: bytes → lines (capped in length) → text (UTF-8, or
 * GB18030 for a CSV saved by Chinese Excel) → CSV records (RFC 4180, strict about quotes).
 * Every step decides per line, so one bad line is reported and the others are still sent.
 */

/** A job is a few hundred bytes; a longer line is refused instead of being held in memory. */
export const MAX_LINE_BYTES = 64 * 1024;
/** A CSV record may span lines (a quoted line break), but not more than this. */
export const MAX_RECORD_LINES = 64;

export const TOO_LONG: unique symbol = Symbol('line-too-long');

/**
 * The body's lines as bytes, split on LF (a CR before it is dropped). A line over `max` bytes is
 * yielded as TOO_LONG, its bytes dropped as they arrive, so it is never held whole. LF never
 * occurs inside a multi-byte character in UTF-8 or GB18030, so splitting before decoding is safe.
 */
export async function* byteLines(body: AsyncIterable<Buffer | string>, max = MAX_LINE_BYTES): AsyncGenerator<Buffer | typeof TOO_LONG> {
  let parts: Buffer[] = [];
  let length = 0;
  let dropping = false;
  const line = (): Buffer => {
    const b = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
    return b.length > 0 && b[b.length - 1] === 0x0d ? b.subarray(0, b.length - 1) : b;
  };
  try {
    for await (const raw of body) {
      const chunk = typeof raw === 'string' ? Buffer.from(raw) : raw;
      let start = 0;
      for (;;) {
        const nl = chunk.indexOf(0x0a, start);
        const end = nl < 0 ? chunk.length : nl;
        if (!dropping) {
          length += end - start;
          if (length > max) {
            dropping = true;
            parts = [];
          } else if (end > start) parts.push(chunk.subarray(start, end));
        }
        if (nl < 0) break;
        const out = dropping ? TOO_LONG : line();
        parts = [];
        length = 0;
        dropping = false;
        start = nl + 1;
        yield out;
      }
    }
  } catch (err) {
    throw new CutShortError(err instanceof Error ? err.message : String(err));
  }
  if (dropping) yield TOO_LONG;
  else if (length > 0) yield line();
}

// ---- Text encoding, decided per file ----

export type TextEncodingName = 'utf-8' | 'gb18030';

const ASCII_ONLY = /^\p{ASCII}*$/u;

/**
 * Decodes lines with one encoding per file. Until a line has a non-ASCII byte nothing is decided
 * (ASCII reads the same in both); the first such line decides: valid UTF-8 → UTF-8, otherwise
 * (when `allowGb18030`) valid GB18030 → GB18030. After that, a line that does not fit the file's
 * encoding is a problem for that line only, never decoded into mojibake: an invalid UTF-8 line in
 * a UTF-8 file, or a line that is valid UTF-8 in a GB18030 file (a mixed file: GB18030 would
 * decode those bytes into wrong characters without an error). A UTF-8 byte order mark is dropped.
 */
export class LineDecoder {
  encoding: TextEncodingName | undefined;
  decidedAt = 0;
  private readonly utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  private gb: TextDecoder | null | undefined;

  constructor(private readonly allowGb18030: boolean) {}

  /** GB18030 needs ICU data: Node's official builds (full-icu) have it; a small-icu build does not. */
  private gb18030(): TextDecoder | null {
    if (this.gb === undefined) {
      try {
        this.gb = new TextDecoder('gb18030', { fatal: true });
      } catch {
        this.gb = null;
      }
    }
    return this.gb;
  }

  private tryDecode(d: TextDecoder | null, bytes: Buffer): string | undefined {
    if (!d) return undefined;
    try {
      return d.decode(bytes);
    } catch {
      return undefined;
    }
  }

  /** `first` is the file's first line: a byte order mark there is handled. */
  decode(bytes: Buffer, lineNo: number, first: boolean): { text: string } | { problem: string } {
    if (first && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
      bytes = bytes.subarray(3);
      this.decide('utf-8', lineNo);
    } else if (first && ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff))) {
      throw new Error('the batch file is UTF-16 (Excel "Unicode text"); save it as "CSV UTF-8" or CSV (GBK) instead');
    }
    const asUtf8 = this.tryDecode(this.utf8, bytes);
    const ascii = asUtf8 !== undefined && ASCII_ONLY.test(asUtf8);
    if (ascii) return { text: asUtf8 };
    const since = () =>
      `the file was read as ${this.encoding === 'utf-8' ? 'UTF-8' : 'GB18030'} from line ${this.decidedAt}; save the whole file in one encoding`;
    if (this.encoding === 'utf-8') return asUtf8 !== undefined ? { text: asUtf8 } : { problem: `line is not valid UTF-8 (${since()})` };
    if (this.encoding === 'gb18030') {
      if (asUtf8 !== undefined) return { problem: `line is UTF-8, not GB18030 (${since()})` };
      const text = this.tryDecode(this.gb18030(), bytes);
      return text !== undefined ? { text } : { problem: `line is not valid GB18030 (${since()})` };
    }
    if (asUtf8 !== undefined) {
      this.decide('utf-8', lineNo);
      return { text: asUtf8 };
    }
    if (!this.allowGb18030) return { problem: 'line is not valid UTF-8 (JSON Lines files are UTF-8)' };
    const gb = this.gb18030();
    if (!gb)
      return {
        problem: 'line is not valid UTF-8, and this Node.js has no GB18030 decoder (small-icu build); save the file as "CSV UTF-8"',
      };
    const text = this.tryDecode(gb, bytes);
    if (text === undefined) return { problem: 'line is neither valid UTF-8 nor valid GB18030/GBK' };
    this.decide('gb18030', lineNo);
    return { text };
  }

  private decide(encoding: TextEncodingName, lineNo: number): void {
    this.encoding = encoding;
    this.decidedAt = lineNo;
  }
}

// ---- CSV (RFC 4180: quoted fields, "" for a quote, commas and line breaks inside quotes) ----

export type CsvParse = { cells: string[] } | { open: true } | { error: string };

/**
 * One record. Strict about quotes, so a malformed line is named instead of swallowing the lines
 * after it: a quote may only open a field (`"…"`), a quote inside a quoted field is doubled
 * (`""`), and a closing quote is followed by a comma or the end. `open` = a quoted field is
 * still open at the end of the text (it may continue on the next line).
 */
export function parseCsvRecord(text: string): CsvParse {
  const cells: string[] = [];
  let field = '';
  let i = 0;
  for (;;) {
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= text.length) return { open: true };
        const c = text[i] as string;
        if (c === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += c;
        i++;
      }
      if (i < text.length && text[i] !== ',') {
        return { error: `has text after the closing quote of field ${cells.length + 1} (a quote inside a quoted field is written "")` };
      }
    } else {
      while (i < text.length && text[i] !== ',') {
        if (text[i] === '"') {
          return { error: `has a quote inside unquoted field ${cells.length + 1} (quote the whole field and double the quote: "a ""b""")` };
        }
        field += text[i];
        i++;
      }
    }
    cells.push(field);
    field = '';
    if (i >= text.length) return { cells };
    i++; // the comma
  }
}

/** `parseCsvRecord`'s cells; throws on a malformed or open record (for callers that want that). */
export function splitCsvLine(line: string): string[] {
  const r = parseCsvRecord(line);
  if ('cells' in r) return r.cells;
  throw new Error('error' in r ? `CSV row ${r.error}` : 'CSV row has an unclosed quote');
}

export type CsvOut = { line: number; cells: string[] } | { line: number; problem: string };

/**
 * Turns lines into records. A record that opens a quote continues on the next lines until it
 * closes, but only while the result is a well-formed record with the header's number of cells:
 * otherwise (a quote never closed, a stray quote further on, too many lines) the first line is
 * reported as poison and the lines after it are read again on their own, so one unterminated
 * quote costs one line, not the rest of the file.
 */
export class CsvReader {
  private pending: Array<[number, string]> = [];
  /** The header's cell count, once the first record (the header) is known. */
  private columns: number | undefined;

  push(line: number, text: string): CsvOut[] {
    const out: CsvOut[] = [];
    this.take([[line, text]], out, false);
    return out;
  }

  /** The end of the file, or a line that cannot be part of a record (too long, undecodable). */
  end(): CsvOut[] {
    const out: CsvOut[] = [];
    const rest = this.pending;
    this.pending = [];
    this.take(rest, out, true);
    return out;
  }

  private take(queue: Array<[number, string]>, out: CsvOut[], ending: boolean): void {
    while (queue.length > 0) {
      const item = queue.shift() as [number, string];
      if (this.pending.length === 0 && item[1].trim() === '') continue;
      this.pending.push(item);
      const text = this.pending.map((p) => p[1]).join('\n');
      const r = parseCsvRecord(text);
      const lines = this.pending.length;
      if ('open' in r && !ending && queue.length === 0 && lines < MAX_RECORD_LINES && text.length <= MAX_LINE_BYTES) return;
      if ('open' in r && queue.length > 0 && lines < MAX_RECORD_LINES && text.length <= MAX_LINE_BYTES) continue;
      const [first, ...rest] = this.pending;
      this.pending = [];
      if ('cells' in r && (lines === 1 || this.columns === undefined || r.cells.length === this.columns)) {
        this.columns ??= r.cells.length;
        out.push({ line: (first as [number, string])[0], cells: r.cells });
        continue;
      }
      if (lines === 1) {
        out.push({
          line: (first as [number, string])[0],
          problem: `CSV row ${'error' in r ? r.error : 'has a quote that is never closed'}`,
        });
        continue;
      }
      // The record read across lines is not a well-formed row: the quote opened on its first
      // line is the fault. That line is poison; the others are read again.
      out.push({
        line: (first as [number, string])[0],
        problem: 'CSV row has a quote that is never closed (the next lines were read as rows of their own)',
      });
      queue.unshift(...rest);
    }
  }
}

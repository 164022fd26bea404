import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CutShortError } from '#shared/errors';
import { byteLines, CsvReader, LineDecoder, TOO_LONG } from '#shared/parse/batch-file';

async function collect(chunks: Buffer[], max?: number): Promise<Array<string | typeof TOO_LONG>> {
  const out: Array<string | typeof TOO_LONG> = [];
  for await (const l of byteLines(Readable.from(chunks), max)) out.push(l === TOO_LONG ? l : l.toString('hex'));
  return out;
}

describe('byteLines', () => {
  it('splits on LF across any chunking (one byte per chunk), drops the CR of CRLF, keeps empty lines', async () => {
    // 张三 in GBK, CRLF, an empty line, 李四 in UTF-8 without a final newline.
    const file = Buffer.concat([Buffer.from('d5c5c8fd0d0a', 'hex'), Buffer.from('\n'), Buffer.from('李四')]);
    const whole = await collect([file]);
    expect(whole).toEqual(['d5c5c8fd', '', Buffer.from('李四').toString('hex')]);
    expect(await collect([...file].map((b) => Buffer.from([b])))).toEqual(whole);
  });

  it('yields TOO_LONG for a line over the cap without holding it, then goes on', async () => {
    expect(await collect([Buffer.from('abcdef\nok\n123456789')], 5)).toEqual([TOO_LONG, Buffer.from('ok').toString('hex'), TOO_LONG]);
  });

  it('turns a failing body into CutShortError', async () => {
    const body = new Readable({ read() {} });
    body.push(Buffer.from('a\nb'));
    setImmediate(() => body.destroy(new Error('socket hang up')));
    const lines: unknown[] = [];
    const err = await (async () => {
      for await (const l of byteLines(body)) lines.push(l);
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CutShortError);
    expect(lines).toHaveLength(1);
  });
});

describe('LineDecoder', () => {
  const gbk = Buffer.from('d5c5c8fd', 'hex'); // 张三
  it('decides per file on the first non-ASCII line', () => {
    const d = new LineDecoder(true);
    expect(d.decode(Buffer.from('phone,params'), 1, true)).toEqual({ text: 'phone,params' });
    expect(d.encoding).toBeUndefined();
    expect(d.decode(gbk, 2, false)).toEqual({ text: '张三' });
    expect([d.encoding, d.decidedAt]).toEqual(['gb18030', 2]);
    expect(d.decode(Buffer.from('王五'), 3, false)).toEqual({ problem: expect.stringContaining('line is UTF-8, not GB18030') });
  });
  it('a UTF-8 BOM fixes UTF-8 and is dropped; GBK is then a problem, not mojibake', () => {
    const d = new LineDecoder(true);
    expect(d.decode(Buffer.from('\uFEFFphone'), 1, true)).toEqual({ text: 'phone' });
    expect(d.encoding).toBe('utf-8');
    expect(d.decode(gbk, 2, false)).toEqual({ problem: expect.stringContaining('not valid UTF-8') });
  });
  it('JSON Lines (no GB18030 fallback) and bytes valid in neither encoding', () => {
    expect(new LineDecoder(false).decode(gbk, 1, true)).toEqual({ problem: 'line is not valid UTF-8 (JSON Lines files are UTF-8)' });
    expect(new LineDecoder(true).decode(Buffer.from('ff', 'hex'), 1, true)).toEqual({
      problem: 'line is neither valid UTF-8 nor valid GB18030/GBK',
    });
  });
});

describe('CsvReader', () => {
  it('reads a quoted line break as one record, and an unterminated quote as one poison line', () => {
    const r = new CsvReader();
    const out = [...r.push(1, 'a,b'), ...r.push(2, '"x'), ...r.push(3, 'y",1'), ...r.push(4, '"never,2'), ...r.push(5, 'p,3'), ...r.end()];
    expect(out).toEqual([
      { line: 1, cells: ['a', 'b'] },
      { line: 2, cells: ['x\ny', '1'] },
      { line: 4, problem: expect.stringContaining('quote that is never closed') },
      { line: 5, cells: ['p', '3'] },
    ]);
  });
  it('gives up on an open record after 64 lines', () => {
    const r = new CsvReader();
    r.push(1, 'a,b');
    const out = [...r.push(2, '"open,1')];
    for (let i = 3; i <= 70; i++) out.push(...r.push(i, `x${i},${i}`));
    expect(out[0]).toEqual({ line: 2, problem: expect.stringContaining('never closed') });
    expect(out.filter((o) => 'cells' in o)).toHaveLength(68);
  });
});

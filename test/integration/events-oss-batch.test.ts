import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BatchRetryError } from '#shared/errors';
import { parseCsvRecord } from '#shared/fc/adapters/oss';
import { MemoryStore } from '#shared/store/memory';
import { eventFunction, ossContext, ossEvent } from '../support/events.ts';
import { type FakeOss, OSS_CREDS, startFakeOss } from '../support/fake-oss.ts';
import type { Behaviour } from '../support/fake-provider.ts';
import { asBuffer, fcContext } from '../support/fc.ts';
import { PROVIDER_OK, startWorld } from '../support/world.ts';

const BATCHES = join(import.meta.dirname, '..', 'fixtures', 'batches');
const { fake, oss, logs, stores } = await startWorld({ provider: { answer: PROVIDER_OK }, oss: { chunkBytes: 256 }, redis: true });

const put = (key: string, body: string | Buffer) => oss.objects.set(`/notify-bucket/${key}`, Buffer.from(body));
const resultsOf = (key: string) =>
  (oss.objects.get(`/notify-bucket/results/${key}.result.jsonl`)?.toString('utf8') ?? '')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

describe.each(stores)('OSS batch files with the %s store', (_name, makeStore) => {
  let sms: ReturnType<typeof eventFunction>;
  beforeEach(() => {
    sms = eventFunction('long-sms', fake, makeStore(), {}, { OSS_ENDPOINT: oss.endpoint, LIMIT_PHONE_DAILY: '0' });
  });

  it('JSON Lines: sends the valid lines, reports the rest line by line, and a redelivery sends nothing again', async () => {
    const key = `batches/2026 五月/${randomBytes(3).toString('hex')}.jsonl`;
    put(key, readFileSync(join(BATCHES, 'reminders.jsonl')));
    const event = ossEvent(key);
    const answer = (await sms(asBuffer(event), ossContext())) as { ok: boolean; total: number };
    expect(answer.ok).toBe(true);
    expect(fake.requests.map((r) => r.query.phone)).toEqual(['13812350001', '13812350002', '13812350005']);
    expect(fake.requests[0]?.query).toEqual({ param: '1234|张三', phone: '13812350001', skin: '7', sign: '1' });
    const results = resultsOf(key);
    expect(results.map((r) => [r.line, r.status])).toEqual([
      [1, 'sent'],
      [2, 'sent'],
      [4, 'poison'],
      [5, 'poison'],
      [6, 'skipped'],
      [7, 'sent'],
    ]);
    expect(results[0].phone).toBe('138****0001');
    expect(results[2].message).toContain('not valid JSON');
    expect(results[3].code).toBe('INVALID_PHONE');
    // The signed GET and a chunked (streamed) PUT of the results, both accepted by the fake OSS.
    expect(oss.requests.map((r) => [r.method, r.ok])).toEqual([
      ['GET', true],
      ['PUT', true],
    ]);
    expect(oss.requests[1]?.chunked).toBe(true);

    const again = (await sms(asBuffer(event), ossContext())) as { ok: boolean };
    expect(again.ok).toBe(true);
    expect(fake.requests).toHaveLength(3);
    expect(resultsOf(key).filter((r) => r.status === 'replayed').length).toBe(3);
  });

  it('CSV with a header row: quoted commas, quotes and line breaks, JSON params, prefixed phones', async () => {
    const key = `batches/${randomBytes(3).toString('hex')}.csv`;
    put(key, readFileSync(join(BATCHES, 'reminders.csv')));
    await sms(asBuffer(ossEvent(key)), ossContext());
    expect(fake.requests.map((r) => r.query)).toEqual([
      { param: '1234|张三, 先生', phone: '13812340001', skin: '7', sign: '1' },
      { param: '5678|李 "四"', phone: '13812340002', skin: '7', sign: '1' },
    ]);
    expect(resultsOf(key).map((r) => [r.line, r.status])).toEqual([
      [2, 'sent'],
      [3, 'sent'],
      [4, 'skipped'],
      [5, 'skipped'],
      [7, 'poison'],
    ]);
  });

  it('a retryable failure: the rest is sent, the results are written, then it throws; the redelivery sends only that line', async () => {
    const key = `batches/${randomBytes(3).toString('hex')}.jsonl`;
    const lines = ['13812360001', '13812360002', '13812360003'].map((phone) => JSON.stringify({ phone, skin: '7', params: ['1', '2'] }));
    put(key, lines.join('\n'));
    fake.next({ kind: 'vendor', code: 'OK', message: 'ok' }, { kind: 'vendor', code: '106', message: '系统错误!' });
    const event = ossEvent(key);
    await expect(sms(asBuffer(event), ossContext())).rejects.toBeInstanceOf(BatchRetryError);
    expect(fake.requests).toHaveLength(3);
    expect(resultsOf(key).map((r) => r.status)).toEqual(['sent', 'failed', 'sent']);
    fake.reset();
    fake.fallback = { kind: 'vendor', code: 'OK', message: 'ok' };
    expect(((await sms(asBuffer(event), ossContext())) as { ok: boolean }).ok).toBe(true);
    expect(fake.requests.map((r) => r.query.phone)).toEqual(['13812360002']);
  });
});

describe('OSS trigger edges', () => {
  let sms: ReturnType<typeof eventFunction>;
  beforeEach(() => {
    sms = eventFunction('long-sms', fake, new MemoryStore(), {}, { OSS_ENDPOINT: oss.endpoint, LIMIT_PHONE_DAILY: '0' });
  });

  it('never reads its own results file (no loop) or a file that is not a batch', async () => {
    for (const key of ['batches/x.jsonl.sms.result.jsonl', 'results/batches/sms/x.jsonl', 'batches/readme.txt']) {
      const answer = (await sms(asBuffer(ossEvent(key)), ossContext())) as { ok: boolean; total: number };
      expect(answer).toMatchObject({ ok: true, total: 0 });
    }
    expect(oss.requests).toHaveLength(0);
  });

  it('a refused OSS signature throws (FC retries, then the dead-letter queue keeps the event) and sends nothing', async () => {
    const key = `batches/${randomBytes(3).toString('hex')}.jsonl`;
    put(key, JSON.stringify({ phone: '13812370001', skin: '7', params: ['1', '2'] }));
    const wrong = ossContext('long-sms', { ...OSS_CREDS, accessKeySecret: 'wrong-secret' });
    const err = await sms(asBuffer(ossEvent(key)), wrong).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain('403 SignatureDoesNotMatch');
    expect((err as Error).message).not.toContain('wrong-secret');
    expect(fake.requests).toHaveLength(0);
  });

  it('signs every request with V4 (x-oss-date, UNSIGNED-PAYLOAD, the STS token) scoped to the event region', async () => {
    const key = `batches/sms/${randomBytes(3).toString('hex')}.jsonl`;
    put(key, JSON.stringify({ phone: '13812370101', skin: '7', params: ['1', '2'] }));
    expect(((await sms(asBuffer(ossEvent(key)), ossContext())) as { ok: boolean }).ok).toBe(true);
    expect(oss.requests.map((r) => [r.method, r.auth, r.ok])).toEqual([
      ['GET', 'v4', true],
      ['PUT', 'v4', true],
    ]);
    for (const r of oss.requests) {
      expect(r.headers.authorization).toMatch(
        /^OSS4-HMAC-SHA256 Credential=STS\.test-key-id\/\d{8}\/cn-shanghai\/oss\/aliyun_v4_request,Signature=[0-9a-f]{64}$/,
      );
      expect(r.headers['x-oss-date']).toMatch(/^\d{8}T\d{6}Z$/);
      expect(r.headers['x-oss-content-sha256']).toBe('UNSIGNED-PAYLOAD');
      expect(r.headers['x-oss-security-token']).toBe(OSS_CREDS.securityToken);
    }
  });

  it('a signature scoped to another region is refused (403 SignatureDoesNotMatch) and the invocation fails', async () => {
    const key = `batches/sms/${randomBytes(3).toString('hex')}.jsonl`;
    put(key, JSON.stringify({ phone: '13812370201', skin: '7', params: ['1', '2'] }));
    const event = ossEvent(key);
    event.events[0]!.region = 'cn-hangzhou'; // the fake bucket is in cn-shanghai
    const err = await sms(asBuffer(event), ossContext()).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain('403 SignatureDoesNotMatch');
    expect(oss.requests.map((r) => [r.method, r.auth, r.refused])).toEqual([['GET', 'v4', 'SignatureDoesNotMatch']]);
    expect(fake.requests).toHaveLength(0);
  });

  it('the fake OSS refuses a V1 signature like a bucket without V1 (403 AccessDenied, EC 0002-00000080)', async () => {
    const key = 'batches/sms/v1.jsonl';
    put(key, '{}');
    const date = new Date().toUTCString();
    const v1 = createHmac('sha1', OSS_CREDS.accessKeySecret)
      .update(`GET\n\n\n${date}\nx-oss-security-token:${OSS_CREDS.securityToken}\n/notify-bucket/${key}`)
      .digest('base64');
    const res = await fetch(`${oss.endpoint}/notify-bucket/${key}`, {
      headers: { Date: date, 'x-oss-security-token': OSS_CREDS.securityToken, Authorization: `OSS ${OSS_CREDS.accessKeyId}:${v1}` },
    });
    expect(res.status).toBe(403);
    const xml = await res.text();
    expect(xml).toContain('<Code>AccessDenied</Code>');
    expect(xml).toContain('<EC>0002-00000080</EC>');
    expect(oss.requests.at(-1)).toMatchObject({ auth: 'v1', ok: false });
  });

  it('results go to RESULT_PREFIX + key, outside the trigger prefix; a custom prefix is honoured', async () => {
    const custom = eventFunction(
      'long-sms',
      fake,
      new MemoryStore(),
      {},
      { OSS_ENDPOINT: oss.endpoint, LIMIT_PHONE_DAILY: '0', RESULT_PREFIX: 'out/sms-results/' },
    );
    const key = `batches/sms/${randomBytes(3).toString('hex')}.jsonl`;
    put(key, JSON.stringify({ phone: '13812370301', skin: '7', params: ['1', '2'] }));
    await custom(asBuffer(ossEvent(key)), ossContext());
    expect(oss.requests.map((r) => [r.method, r.path])).toEqual([
      ['GET', `/notify-bucket/${key}`],
      ['PUT', `/notify-bucket/out/sms-results/${key}.result.jsonl`],
    ]);
    // Its own results file, should a trigger ever cover it, is skipped without a read.
    oss.requests.length = 0;
    expect(await custom(asBuffer(ossEvent(`out/sms-results/${key}.result.jsonl`)), ossContext())).toMatchObject({ ok: true, total: 0 });
    expect(oss.requests).toHaveLength(0);
  });

  it('without the function role (empty context.credentials) it throws naming the fix', async () => {
    const err = await sms(asBuffer(ossEvent('batches/a.jsonl')), fcContext({ credentials: {} })).catch((e: unknown) => e as Error);
    expect((err as Error).message).toContain('role');
    expect(oss.requests).toHaveLength(0);
  });

  // 3,000 real sends through the fake provider and the fake OSS, all in this process: 2.8 s of CPU
  // (2.9 s wall) on an idle machine, 8.6 s wall at load average 10 on 2 cores. It asserts what
  // happened (the first chunk went out while the download was held, every line sent and reported
  // once), never how fast: so the gate's fallback and the test's timeout leave room for a loaded
  // machine. A reader that does not stream still fails: its sends wait for the gate, which then
  // opens by its fallback, not by `release`.
  it('streams: sends from the first lines of a large file while the rest is still being downloaded', { timeout: 90_000 }, async () => {
    const key = `batches/${randomBytes(3).toString('hex')}.jsonl`;
    const n = 3000;
    const body = Array.from({ length: n }, (_, i) =>
      JSON.stringify({ phone: `1381${String(i).padStart(7, '0')}`, skin: '7', params: ['1', '2'] }),
    ).join('\n');
    put(key, body);
    // The fake OSS stops after ~10% of the file (~300 lines) until the provider has seen 256 sends
    // (one chunk of the reader, CHUNK_LINES in shared/fc/adapters/oss.ts).
    const gate = oss.gate(Math.floor(body.length / 10), 45_000);
    const watcher = setInterval(() => {
      if (fake.requests.length >= 256) gate.release();
    }, 5);
    try {
      const answer = (await sms(asBuffer(ossEvent(key)), ossContext())) as { ok: boolean; total: number };
      expect(answer).toMatchObject({ ok: true, total: n });
    } finally {
      clearInterval(watcher);
    }
    expect(gate.releasedBy()).toBe('release');
    expect(fake.requests).toHaveLength(n);
    expect(resultsOf(key)).toHaveLength(n);
  });

  // Chunks overlap (sendInChunks, CHUNKS_IN_FLIGHT): the next chunk's jobs wait on the same slots
  // while one runs, so a chunk's last slow job no longer holds the whole file up. The last line of
  // the first chunk is held by the provider until a line of the second chunk has arrived: when
  // chunks ran one after the other, that line was only sent after the held one was answered, and
  // the hold ended by its fallback instead. Meanwhile never more than BATCH_CONCURRENCY requests
  // are open at the provider.
  it('the next chunk starts while the last job of a chunk is still open; never more than BATCH_CONCURRENCY at once', {
    timeout: 60_000,
  }, async () => {
    const key = `batches/${randomBytes(3).toString('hex')}.jsonl`;
    const n = 600;
    const phone = (i: number) => `1382${String(i).padStart(7, '0')}`;
    put(key, Array.from({ length: n }, (_, i) => JSON.stringify({ phone: phone(i + 1), skin: '7', params: ['1', '2'] })).join('\n'));
    let releasedBy = '';
    let release = (_by: string) => {};
    const held = new Promise<void>((resolve) => {
      release = (by) => {
        releasedBy ||= by;
        resolve();
      };
    });
    // Under the provider deadline (UPSTREAM_TIMEOUT_MS below): the held line is answered, never timed out.
    const fallback = setTimeout(() => release('fallback'), 10_000);
    let open = 0;
    let most = 0;
    fake.fallback = {
      kind: 'echo',
      make: (q) => {
        open += 1;
        most = Math.max(most, open);
        const line = Number(q.phone?.slice(4));
        if (line > 256) release('second chunk');
        const done = (next: Behaviour): Behaviour => ({
          kind: 'echo',
          make: () => {
            open -= 1;
            return next;
          },
        });
        return line === 256 ? { kind: 'wait', until: held, next: done(PROVIDER_OK) } : { kind: 'delay', ms: 2, next: done(PROVIDER_OK) };
      },
    };
    try {
      const sms = eventFunction(
        'long-sms',
        fake,
        new MemoryStore(),
        {},
        { OSS_ENDPOINT: oss.endpoint, BATCH_CONCURRENCY: '4', UPSTREAM_TIMEOUT_MS: '30000' },
      );
      const answer = (await sms(asBuffer(ossEvent(key)), ossContext())) as { ok: boolean; total: number };
      expect(answer).toMatchObject({ ok: true, total: n });
    } finally {
      clearTimeout(fallback);
    }
    expect(releasedBy).toBe('second chunk');
    expect(most).toBeLessThanOrEqual(4);
    expect(fake.requests).toHaveLength(n);
    expect(resultsOf(key).map((r) => [r.line, r.status])).toEqual(Array.from({ length: n }, (_, i) => [i + 1, 'sent']));
  });

  it('refuses a line longer than 64 KB without holding it, and goes on with the next lines', async () => {
    const key = `batches/${randomBytes(3).toString('hex')}.jsonl`;
    const huge = JSON.stringify({ phone: '13812380001', skin: '7', params: ['1', 'x'.repeat(300_000)] });
    put(key, [huge, JSON.stringify({ phone: '13812380002', skin: '7', params: ['1', '2'] })].join('\n'));
    await sms(asBuffer(ossEvent(key)), ossContext());
    expect(fake.requests.map((r) => r.query.phone)).toEqual(['13812380002']);
    expect(resultsOf(key).map((r) => [r.line, r.status, r.message])).toEqual([
      [1, 'poison', 'line is longer than 65536 bytes'],
      [2, 'sent', undefined],
    ]);
  });

  it('a connection cut mid-file fails the invocation promptly (no hang); the retry sends only what is left', async () => {
    const key = `batches/${randomBytes(3).toString('hex')}.jsonl`;
    const n = 600;
    const body = Array.from({ length: n }, (_, i) =>
      JSON.stringify({ phone: `1382${String(i).padStart(7, '0')}`, skin: '7', params: ['1', '2'] }),
    ).join('\n');
    put(key, body);
    oss.cutAfter(Math.floor(body.length / 2));
    const event = ossEvent(key);
    const started = Date.now();
    const err = await sms(asBuffer(event), ossContext()).catch((e: unknown) => e as Error);
    expect((err as Error).message).toContain('was cut short');
    expect(Date.now() - started).toBeLessThan(10_000);
    const sentFirst = fake.requests.length;
    expect(sentFirst).toBeGreaterThan(0);
    expect(sentFirst).toBeLessThan(n);
    // FC retries the invocation: every line goes out exactly once in all.
    await sms(asBuffer(event), ossContext());
    expect(new Set(fake.requests.map((r) => r.query.phone)).size).toBe(n);
    expect(fake.requests).toHaveLength(n);
  });

  it('keeps the OSS secret and STS token out of every log line', () => {
    expect(logs.text()).not.toContain(OSS_CREDS.accessKeySecret);
    expect(logs.text()).not.toContain(OSS_CREDS.securityToken);
  });
});

describe('OSS connections kept alive between invocations', () => {
  // A warm instance reuses pooled connections. The server closes one on which no request starts
  // within its idle timeout (300 ms here), unannounced. The results PUT is opened
  // before the batch is read: it must start its request at once, not hold a pooled connection
  // silent until its first line of results (it failed with "socket hang up" under load).
  let idleOss: FakeOss;
  beforeAll(async () => {
    idleOss = await startFakeOss({ ...OSS_CREDS, chunkBytes: 256, idleCloseMs: 300 });
  });
  afterAll(() => idleOss.close());

  it('a results PUT on a reused connection survives a read longer than the server idle timeout', async () => {
    const sms = eventFunction('long-sms', fake, new MemoryStore(), {}, { OSS_ENDPOINT: idleOss.endpoint, LIMIT_PHONE_DAILY: '0' });
    const job = (phone: string) => JSON.stringify({ phone, skin: '7', params: ['1', '2'] });
    const warm = `batches/${randomBytes(3).toString('hex')}.jsonl`;
    idleOss.objects.set(`/notify-bucket/${warm}`, Buffer.from(job('13812390001')));
    await sms(asBuffer(ossEvent(warm)), ossContext()); // leaves its GET and PUT connections in the pool
    const key = `batches/${randomBytes(3).toString('hex')}.jsonl`;
    idleOss.objects.set(`/notify-bucket/${key}`, Buffer.from([job('13812390002'), 'x'.repeat(300), job('13812390003')].join('\n')));
    // The object's first chunk arrives, then the download stalls past the idle timeout.
    const gate = idleOss.gate(256);
    const timer = setTimeout(gate.release, 800);
    idleOss.requests.length = 0;
    try {
      await sms(asBuffer(ossEvent(key)), ossContext());
    } finally {
      clearTimeout(timer);
    }
    expect(gate.releasedBy()).toBe('release');
    expect(idleOss.requests.map((r) => [r.method, r.ok])).toEqual([
      ['GET', true],
      ['PUT', true],
    ]);
    const results = (idleOss.objects.get(`/notify-bucket/results/${key}.result.jsonl`)?.toString('utf8') ?? '')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    expect(results.map((r) => [r.line, r.status])).toEqual([
      [1, 'sent'],
      [2, 'poison'],
      [3, 'sent'],
    ]);
  });
  it('a GET on a pooled connection the server has just closed is sent again, once', async () => {
    const sms = eventFunction('long-sms', fake, new MemoryStore(), {}, { OSS_ENDPOINT: idleOss.endpoint, LIMIT_PHONE_DAILY: '0' });
    const key = `batches/${randomBytes(3).toString('hex')}.jsonl`;
    idleOss.objects.set(`/notify-bucket/${key}`, Buffer.from(JSON.stringify({ phone: '13812390004', skin: '7', params: ['1', '2'] })));
    await sms(asBuffer(ossEvent(key)), ossContext()); // a pooled connection to reuse
    idleOss.dropNextReused();
    idleOss.requests.length = 0;
    fake.reset();
    fake.fallback = { kind: 'vendor', code: 'OK', message: 'ok' };
    expect(await sms(asBuffer(ossEvent(key, 'other-etag')), ossContext())).toMatchObject({ ok: true, total: 1 });
    // The dropped GET never reached the handler; the second one did, then the PUT.
    expect(idleOss.requests.map((r) => [r.method, r.ok])).toEqual([
      ['GET', true],
      ['PUT', true],
    ]);
    expect(fake.requests).toHaveLength(1);
  });
});

describe('CSV line splitting', () => {
  it.each([
    ['a,b,c', ['a', 'b', 'c']],
    ['"a,b",c', ['a,b', 'c']],
    ['"say ""hi""",x', ['say "hi"', 'x']],
    [',,', ['', '', '']],
    ['"多行\n说明",2', ['多行\n说明', '2']],
  ])('%j', (line, cells) => {
    expect(parseCsvRecord(line)).toEqual({ cells });
  });
  it.each([
    ['13800138000,"abc', { open: true }],
    ['13800138000,ab"c,1', { error: expect.stringContaining('quote inside unquoted field 2') }],
    ['13800138000,"ab"c,1', { error: expect.stringContaining('text after the closing quote of field 2') }],
  ])('malformed %j', (line, result) => {
    expect(parseCsvRecord(line)).toEqual(result);
  });
});

/** Bytes as written by an editor in that encoding (hex from a GBK table, not TextEncoder: UTF-8 only). */
const bytes = (...parts: Array<string | { hex: string }>) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p.hex, 'hex'))));
const GBK = { 张三: { hex: 'd5c5c8fd' }, 李四: { hex: 'c0eecbc4' }, 王五: { hex: 'cdf5cee5' } };

describe('batch file encodings and malformed CSV quotes', () => {
  let sms: ReturnType<typeof eventFunction>;
  beforeEach(() => {
    sms = eventFunction('long-sms', fake, new MemoryStore(), {}, { OSS_ENDPOINT: oss.endpoint, LIMIT_PHONE_DAILY: '0' });
  });
  const csvKey = () => `batches/sms/${randomBytes(3).toString('hex')}.csv`;

  it('a GBK CSV (Chinese Excel) is read as GB18030: the provider receives the right Chinese text', async () => {
    const key = csvKey();
    put(
      key,
      bytes(
        'phone,skin,params,sign\r\n',
        '13812390001,7,"[""1234"",""',
        GBK.张三,
        '""]",1\r\n',
        '13812390002,7,"[""5678"",""',
        GBK.李四,
        '""]",1\r\n',
      ),
    );
    const answer = (await sms(asBuffer(ossEvent(key)), ossContext())) as { ok: boolean };
    expect(answer.ok).toBe(true);
    expect(fake.requests.map((r) => r.query)).toEqual([
      { param: '1234|张三', phone: '13812390001', skin: '7', sign: '1' },
      { param: '5678|李四', phone: '13812390002', skin: '7', sign: '1' },
    ]);
    // On the wire: UTF-8 percent-encoding of 张三 / 李四, never of the GBK bytes or U+FFFD.
    expect(fake.requests[0]?.rawQuery).toContain('%E5%BC%A0%E4%B8%89');
    expect(fake.requests[1]?.rawQuery).toContain('%E6%9D%8E%E5%9B%9B');
    expect(fake.requests.map((r) => r.rawQuery).join('&')).not.toMatch(/%EF%BF%BD|%D5%C5/i);
    expect(resultsOf(key).map((r) => [r.line, r.status])).toEqual([
      [2, 'sent'],
      [3, 'sent'],
    ]);
    expect(logs.text()).toContain('batch file read as GB18030');
  });

  it('a UTF-8 CSV with a byte order mark (Excel "CSV UTF-8") still works; the BOM is dropped', async () => {
    const key = csvKey();
    put(key, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('phone,skin,params,sign\n13812390003,7,"[""1"",""王五""]",1\n')]));
    await sms(asBuffer(ossEvent(key)), ossContext());
    expect(fake.requests.map((r) => r.query.param)).toEqual(['1|王五']);
    expect(resultsOf(key).map((r) => r.status)).toEqual(['sent']);
  });

  it('mixed encodings: the first non-ASCII line decides; a line in the other encoding is poison, never mojibake', async () => {
    const utf8First = csvKey();
    put(
      utf8First,
      bytes(
        'phone,skin,params,sign\n',
        Buffer.from('13812390011,7,"[""1"",""王五""]",1\n').toString('latin1'),
        '13812390012,7,"[""1"",""',
        GBK.李四,
        '""]",1\n',
        '13812390013,7,"[""1"",""x""]",1\n',
      ),
    );
    await sms(asBuffer(ossEvent(utf8First)), ossContext());
    expect(fake.requests.map((r) => r.query.param)).toEqual(['1|王五', '1|x']);
    expect(resultsOf(utf8First).map((r) => [r.line, r.status, r.message])).toEqual([
      [2, 'sent', undefined],
      [3, 'poison', 'line is not valid UTF-8 (the file was read as UTF-8 from line 2; save the whole file in one encoding)'],
      [4, 'sent', undefined],
    ]);

    fake.reset();
    fake.fallback = { kind: 'vendor', code: 'OK', message: 'ok' };
    const gbkFirst = csvKey();
    put(
      gbkFirst,
      bytes(
        'phone,skin,params,sign\n',
        '13812390021,7,"[""1"",""',
        GBK.张三,
        '""]",1\n',
        Buffer.from('13812390022,7,"[""1"",""王五""]",1\n').toString('latin1'),
        '13812390023,7,',
        { hex: '81' },
        ',1\n',
      ),
    );
    await sms(asBuffer(ossEvent(gbkFirst)), ossContext());
    expect(fake.requests.map((r) => r.query.param)).toEqual(['1|张三']);
    expect(resultsOf(gbkFirst).map((r) => [r.line, r.status, r.message])).toEqual([
      [2, 'sent', undefined],
      [3, 'poison', 'line is UTF-8, not GB18030 (the file was read as GB18030 from line 2; save the whole file in one encoding)'],
      [4, 'poison', 'line is not valid GB18030 (the file was read as GB18030 from line 2; save the whole file in one encoding)'],
    ]);
  });

  it('JSON Lines are UTF-8 only: an invalid line is poison, the rest is sent', async () => {
    const key = `batches/sms/${randomBytes(3).toString('hex')}.jsonl`;
    put(
      key,
      bytes('{"phone":"13812390031","skin":"7","params":["1","', GBK.张三, '"]}\n{"phone":"13812390032","skin":"7","params":["1","2"]}\n'),
    );
    await sms(asBuffer(ossEvent(key)), ossContext());
    expect(fake.requests.map((r) => r.query.phone)).toEqual(['13812390032']);
    expect(resultsOf(key).map((r) => [r.line, r.status, r.message])).toEqual([
      [1, 'poison', 'line is not valid UTF-8 (JSON Lines files are UTF-8)'],
      [2, 'sent', undefined],
    ]);
  });

  it('a UTF-16 file is refused whole with a clear error (nothing sent)', async () => {
    const key = csvKey();
    put(key, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('phone\n13812390041\n', 'utf16le')]));
    const err = await sms(asBuffer(ossEvent(key)), ossContext()).catch((e: unknown) => e as Error);
    expect((err as Error).message).toContain('UTF-16');
    expect(fake.requests).toHaveLength(0);
  });

  it('a malformed quote makes that line poison; the lines around it are sent', async () => {
    const key = csvKey();
    const lines = [
      'phone,skin,params,sign',
      '13812391001,7,"[""1"",""a""]",1', // 2 sent
      '13812391002,7,"abc', // 3 unterminated: poison, and it must not swallow line 4
      '13812391003,7,"[""1"",""b""]",1', // 4 sent
      '13812391004,7,ab"c,1', // 5 stray quote in an unquoted field
      '13812391005,7,"[""1"",""c""]"x,1', // 6 text after the closing quote
      '13812391006,7,"第一行', // 7-8 a legitimate line break inside quotes
      '第二行",1',
      '13812391007,7,"never closed', // 9 unterminated, only quote-free lines after it
      '13812391008,7,plain,1', // 10 sent
    ];
    put(key, lines.join('\n'));
    await sms(asBuffer(ossEvent(key)), ossContext());
    expect(fake.requests.map((r) => [r.query.phone, r.query.param])).toEqual([
      ['13812391001', '1|a'],
      ['13812391003', '1|b'],
      ['13812391006', '第一行\n第二行'],
      ['13812391008', 'plain'],
    ]);
    const results = resultsOf(key);
    expect(results.map((r) => [r.line, r.status])).toEqual([
      [2, 'sent'],
      [3, 'poison'],
      [4, 'sent'],
      [5, 'poison'],
      [6, 'poison'],
      [7, 'sent'],
      [9, 'poison'],
      [10, 'sent'],
    ]);
    expect(results.find((r) => r.line === 3).message).toContain('quote that is never closed');
    expect(results.find((r) => r.line === 5).message).toContain('quote inside unquoted field 3');
    expect(results.find((r) => r.line === 6).message).toContain('text after the closing quote of field 3');
    expect(results.find((r) => r.line === 9).message).toContain('quote that is never closed');
  });
});

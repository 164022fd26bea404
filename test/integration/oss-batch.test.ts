import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { splitCsvLine } from '#shared/adapters/oss';
import { BatchRetryError } from '#shared/core/batch';
import { MemoryStore } from '#shared/store/memory';
import { RedisStore } from '#shared/store/redis';
import type { Store } from '#shared/store/types';
import { eventFunction } from '../support/events.ts';
import { asBuffer, captureLogs, fcContext, fixture } from '../support/fc.ts';
import { type FakeProvider, startFakeProvider } from '../support/fake-provider.ts';
import { type FakeOss, startFakeOss } from '../support/fake-oss.ts';
import { deleteKeys, REDIS_URL } from '../support/redis.ts';

const BATCHES = join(import.meta.dirname, '..', 'fixtures', 'batches');
const CREDS = { accessKeyId: 'STS.test-key-id', accessKeySecret: 'oss-secret-do-not-log-42', securityToken: 'sts-token-abc' };
const PREFIX = `fcn-test-${randomBytes(6).toString('hex')}:`;
const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, connectTimeout: 2000 });
const logs = captureLogs();
let fake: FakeProvider;
let oss: FakeOss;

beforeAll(async () => {
  fake = await startFakeProvider();
  oss = await startFakeOss({ ...CREDS, chunkBytes: 256 });
});
afterAll(async () => {
  await deleteKeys(redis, `${PREFIX}*`);
  await redis.quit();
  logs.stop();
  await fake.close();
  await oss.close();
});
beforeEach(() => {
  fake.reset();
  fake.fallback = { kind: 'vendor', code: 'OK', message: '发送成功' };
  oss.requests.length = 0;
});

/** The documented OSS event fixture, pointed at `key` (URL-encoded as OSS sends it). */
function ossEvent(key: string, eTag = randomBytes(8).toString('hex')) {
  const event = fixture<{ events: Array<Record<string, any>> }>('oss-object-created');
  const rec = event.events[0]!;
  rec.oss.object.key = encodeURIComponent(key).replace(/%2F/g, '/').replace(/%20/g, '+');
  rec.oss.object.eTag = eTag;
  return event;
}

const put = (key: string, body: string | Buffer) => oss.objects.set(`/notify-bucket/${key}`, Buffer.from(body));
const resultsOf = (key: string) =>
  (oss.objects.get(`/notify-bucket/results/${key}.result.jsonl`)?.toString('utf8') ?? '')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
const ctx = () => fcContext({ credentials: CREDS, function: { name: 'long-sms', timeout: 60 } });

const stores: Array<[string, () => Store]> = [
  ['memory', () => new MemoryStore()],
  ['Redis', () => new RedisStore(() => Promise.resolve(redis), { prefix: `${PREFIX}${randomBytes(3).toString('hex')}:` })],
];

describe.each(stores)('OSS batch files with the %s store', (_name, makeStore) => {
  let sms: ReturnType<typeof eventFunction>;
  beforeEach(() => {
    sms = eventFunction('long-sms', fake, makeStore(), {}, { OSS_ENDPOINT: oss.endpoint, LIMIT_PHONE_DAILY: '0' });
  });

  it('JSON Lines: sends the valid lines, reports the rest line by line, and a redelivery sends nothing again', async () => {
    const key = `batches/2026 五月/${randomBytes(3).toString('hex')}.jsonl`;
    put(key, readFileSync(join(BATCHES, 'reminders.jsonl')));
    const event = ossEvent(key);
    const answer = (await sms(asBuffer(event), ctx())) as { ok: boolean; total: number };
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

    const again = (await sms(asBuffer(event), ctx())) as { ok: boolean };
    expect(again.ok).toBe(true);
    expect(fake.requests).toHaveLength(3);
    expect(resultsOf(key).filter((r) => r.status === 'replayed').length).toBe(3);
  });

  it('CSV with a header row: quoted commas, quotes and line breaks, JSON params, prefixed phones', async () => {
    const key = `batches/${randomBytes(3).toString('hex')}.csv`;
    put(key, readFileSync(join(BATCHES, 'reminders.csv')));
    await sms(asBuffer(ossEvent(key)), ctx());
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
    await expect(sms(asBuffer(event), ctx())).rejects.toBeInstanceOf(BatchRetryError);
    expect(fake.requests).toHaveLength(3);
    expect(resultsOf(key).map((r) => r.status)).toEqual(['sent', 'failed', 'sent']);
    fake.reset();
    fake.fallback = { kind: 'vendor', code: 'OK', message: 'ok' };
    expect(((await sms(asBuffer(event), ctx())) as { ok: boolean }).ok).toBe(true);
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
      const answer = (await sms(asBuffer(ossEvent(key)), ctx())) as { ok: boolean; total: number };
      expect(answer).toMatchObject({ ok: true, total: 0 });
    }
    expect(oss.requests).toHaveLength(0);
  });

  it('a refused OSS signature throws (FC retries, then the dead-letter queue keeps the event) and sends nothing', async () => {
    const key = `batches/${randomBytes(3).toString('hex')}.jsonl`;
    put(key, JSON.stringify({ phone: '13812370001', skin: '7', params: ['1', '2'] }));
    const wrong = fcContext({ credentials: { ...CREDS, accessKeySecret: 'wrong-secret' }, function: { name: 'long-sms', timeout: 60 } });
    const err = await sms(asBuffer(ossEvent(key)), wrong).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain('403 SignatureDoesNotMatch');
    expect((err as Error).message).not.toContain('wrong-secret');
    expect(fake.requests).toHaveLength(0);
  });

  it('without the function role (empty context.credentials) it throws naming the fix', async () => {
    const err = await sms(asBuffer(ossEvent('batches/a.jsonl')), fcContext({ credentials: {} })).catch((e: unknown) => e as Error);
    expect((err as Error).message).toContain('role');
    expect(oss.requests).toHaveLength(0);
  });

  it('streams: sends from the first lines of a large file while the rest is still being downloaded', async () => {
    const key = `batches/${randomBytes(3).toString('hex')}.jsonl`;
    const n = 3000;
    const body = Array.from({ length: n }, (_, i) => JSON.stringify({ phone: `1381${String(i).padStart(7, '0')}`, skin: '7', params: ['1', '2'] })).join('\n');
    put(key, body);
    // The fake OSS stops after ~10% of the file until the provider has seen 256 sends.
    const gate = oss.gate(Math.floor(body.length / 10));
    const watcher = setInterval(() => {
      if (fake.requests.length >= 256) gate.release();
    }, 5);
    try {
      const answer = (await sms(asBuffer(ossEvent(key)), ctx())) as { ok: boolean; total: number };
      expect(answer).toMatchObject({ ok: true, total: n });
    } finally {
      clearInterval(watcher);
    }
    expect(gate.releasedBy()).toBe('release');
    expect(fake.requests).toHaveLength(n);
    expect(resultsOf(key)).toHaveLength(n);
  });

  it('refuses a line longer than 64 KB without holding it, and goes on with the next lines', async () => {
    const key = `batches/${randomBytes(3).toString('hex')}.jsonl`;
    const huge = JSON.stringify({ phone: '13812380001', skin: '7', params: ['1', 'x'.repeat(300_000)] });
    put(key, [huge, JSON.stringify({ phone: '13812380002', skin: '7', params: ['1', '2'] })].join('\n'));
    await sms(asBuffer(ossEvent(key)), ctx());
    expect(fake.requests.map((r) => r.query.phone)).toEqual(['13812380002']);
    expect(resultsOf(key).map((r) => [r.line, r.status, r.message])).toEqual([
      [1, 'poison', 'line is longer than 65536 bytes'],
      [2, 'sent', undefined],
    ]);
  });

  it('a connection cut mid-file fails the invocation promptly (no hang); the retry sends only what is left', async () => {
    const key = `batches/${randomBytes(3).toString('hex')}.jsonl`;
    const n = 600;
    const body = Array.from({ length: n }, (_, i) => JSON.stringify({ phone: `1382${String(i).padStart(7, '0')}`, skin: '7', params: ['1', '2'] })).join('\n');
    put(key, body);
    oss.cutAfter(Math.floor(body.length / 2));
    const event = ossEvent(key);
    const started = Date.now();
    const err = await sms(asBuffer(event), ctx()).catch((e: unknown) => e as Error);
    expect((err as Error).message).toContain('was cut short');
    expect(Date.now() - started).toBeLessThan(10_000);
    const sentFirst = fake.requests.length;
    expect(sentFirst).toBeGreaterThan(0);
    expect(sentFirst).toBeLessThan(n);
    // FC retries the invocation: every line goes out exactly once in all.
    await sms(asBuffer(event), ctx());
    expect(new Set(fake.requests.map((r) => r.query.phone)).size).toBe(n);
    expect(fake.requests).toHaveLength(n);
  });

  it('keeps the OSS secret and STS token out of every log line', () => {
    expect(logs.text()).not.toContain(CREDS.accessKeySecret);
    expect(logs.text()).not.toContain(CREDS.securityToken);
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
    expect(splitCsvLine(line)).toEqual(cells);
  });
});

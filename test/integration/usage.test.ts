import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { parse as parseCsv } from 'csv-parse/sync';
import { beforeEach, describe, expect, it } from 'vitest';
import { scheduleId } from '#shared/core/schedule';
import { createFunction } from '#shared/fc/app';
import { scheduledIdOf } from '#shared/fc/jobs-lookup';
import { RedisStore } from '#shared/store/redis';
import type { Store } from '#shared/store/types';
import { nextPhone, ossContext, ossEvent, topicEvent } from '../support/events.ts';
import { asBuffer, asHttpResult, fcContext, fixture, httpEvent } from '../support/fc.ts';
import { SPECS } from '../support/functions.ts';
import { REDIS_URL } from '../support/redis.ts';
import { PROVIDER_OK, startWorld } from '../support/world.ts';

/**
 * Issue 13: usage counters from every source on both stores, GET /usage (JSON, CSV) for
 * operators only, a job's fate for its caller only, and `npm run usage` against the same data.
 */

const KEYS = { backend: 'backend-key-0123456789abcdef', ops: 'ops-key-0123456789abcdef01', other: 'other-key-0123456789abcdef' };
const API_KEYS = Object.entries(KEYS)
  .map(([n, k]) => `${n}:${k}`)
  .join(',');
const { fake, providerEnv, oss, redis, slots, stores } = await startWorld({
  provider: { answer: PROVIDER_OK },
  oss: { chunkBytes: 4096 },
  redis: true,
});

// 2030-01-01 10:00 Beijing.
const T0 = Date.parse('2030-01-01T02:00:00Z');
const DAY = '2030-01-01';

function build(fn: keyof typeof SPECS, store: Store, clock: { t: number }, env: Record<string, string> = {}) {
  return createFunction(SPECS[fn], {
    env: {
      ...providerEnv,
      API_KEYS,
      OPS_CALLERS: 'ops',
      QUIET_HOURS: 'off',
      LIMIT_PHONE_INTERVAL_S: '0',
      LIMIT_PHONE_DAILY: '0',
      UPSTREAM_RETRIES: '0',
      PHONE_DENYLIST: '1380000',
      ...env,
    },
    store,
    catalog: null,
    retryDelayMs: 5,
    now: () => clock.t,
  });
}

type Fn = ReturnType<typeof build>;
async function http(fn: Fn, who: keyof typeof KEYS | null, method: string, path: string, body?: unknown, query?: Record<string, string>) {
  const ev = JSON.parse(
    httpEvent({
      method,
      path,
      ...(body !== undefined ? { body } : {}),
      headers: who ? { authorization: `Bearer ${KEYS[who]}` } : {},
    }).toString('utf8'),
  ) as Record<string, unknown>;
  if (query) ev.queryParameters = query;
  return asHttpResult(await fn(asBuffer(ev), fcContext({ function: { name: 'f', timeout: 60 } })));
}

const phone = () => nextPhone('1397');
const sms = (p: string, extra: Record<string, unknown> = {}) => ({ phone: p, skin: '1', params: ['1234'], ...extra });

describe.each(stores)('usage and job fates with the %s store', (storeName, makeStore) => {
  let store: Store;
  let prefix: string | undefined;
  const clock = { t: T0 };
  beforeEach(() => {
    store = makeStore();
    prefix = store instanceof RedisStore ? store.redisSource().prefix : undefined;
    clock.t = T0;
  });

  it('counts a mix of outcomes from HTTP, MNS, OSS and the timer; operators read them as JSON and CSV; others get 403', async () => {
    const fn = build('long-sms', store, clock);
    const voice = build('voice-notify', store, clock);
    // HTTP: sent, rejected by the vendor, failed (package exhausted), refused by our policy, scheduled.
    expect((await http(fn, 'backend', 'POST', '/sms', sms(phone(), { idempotencyKey: 'h-sent' }))).statusCode).toBe(200);
    fake.next({ kind: 'vendor', code: '101', message: '手机号码格式错误' });
    expect((await http(fn, 'backend', 'POST', '/sms', sms(phone(), { idempotencyKey: 'h-rej' }))).statusCode).toBe(422);
    fake.next({ kind: 'gateway', status: 403, errorMessage: 'Quota Exhausted' });
    expect((await http(fn, 'other', 'POST', '/sms', sms(phone(), { idempotencyKey: 'h-fail' }))).json).toMatchObject({
      error: { code: 'QUOTA_EXHAUSTED' },
    });
    expect((await http(fn, 'backend', 'POST', '/sms', sms('13800001234'))).statusCode).toBe(422);
    const scheduled = await http(
      fn,
      'backend',
      'POST',
      '/sms',
      sms(phone(), { idempotencyKey: 'h-later', sendAt: '2030-01-01T12:00:00+08:00' }),
    );
    expect(scheduled.statusCode).toBe(202);
    // The replay of a sent job is not counted again.
    expect((await http(fn, 'backend', 'POST', '/sms', sms(phone(), { idempotencyKey: 'h-sent' }))).statusCode).toBe(400);
    // MNS topic: one job.
    expect(await fn(asBuffer(topicEvent(sms(phone(), { idempotencyKey: 'm-1' }))), fcContext())).toMatchObject({
      ok: true,
      counts: { sent: 1 },
    });
    // OSS batch file: two lines.
    const key = `batches/${randomBytes(3).toString('hex')}.jsonl`;
    oss.objects.set(`/notify-bucket/${key}`, Buffer.from(`${JSON.stringify(sms(phone()))}\n${JSON.stringify(sms(phone()))}\n`));
    expect(await fn(asBuffer(ossEvent(key)), ossContext())).toMatchObject({
      ok: true,
      counts: { sent: 2 },
    });
    // Before it is due the scheduled job is visible to its caller as scheduled.
    expect((await http(fn, 'backend', 'GET', '/sms/h-later')).json).toMatchObject({
      status: 'scheduled',
      caller: 'backend',
      phone: expect.stringContaining('****'),
    });
    // Timer: the scheduled job is sent when due (counted for its caller, source timer).
    clock.t = Date.parse('2030-01-01T04:00:01Z');
    expect(
      await fn(asBuffer({ ...fixture<Record<string, unknown>>('timer'), payload: '', triggerName: 'tick' }), fcContext()),
    ).toMatchObject({
      ok: true,
      counts: { sent: 1 },
    });
    // A voice call from a timer payload.
    const timer = { ...fixture<Record<string, unknown>>('timer'), triggerName: `v-${randomBytes(3).toString('hex')}` };
    expect(await voice(asBuffer(timer), fcContext())).toMatchObject({ ok: true, counts: { sent: 1 } });

    const res = await http(fn, 'ops', 'GET', '/usage', undefined, { from: DAY, to: DAY });
    expect(res.statusCode).toBe(200);
    const report = res.json as any;
    expect(report.totals.sms).toEqual({ sent: 5, rejected: 1, failed: 1, unknown: 0, refused: 1, scheduled: 1, billable: 6, cost: 0.81 });
    expect(report.totals.voice).toMatchObject({ sent: 1, billable: 1, cost: 0 });
    expect(report.days).toEqual([
      { date: DAY, channel: 'sms', ...report.totals.sms },
      { date: DAY, channel: 'voice', ...report.totals.voice },
    ]);
    const row = (caller: string) => report.breakdown.find((r: any) => r.caller === caller && r.channel === 'sms');
    expect(row('backend')).toMatchObject({ template: '1', sent: 2, rejected: 1, refused: 1, scheduled: 1 });
    expect(row('other')).toMatchObject({ failed: 1, sent: 0 });
    expect(row('mns')).toMatchObject({ sent: 1 });
    expect(row('oss')).toMatchObject({ sent: 2 });
    expect(report.breakdown.find((r: any) => r.channel === 'voice')).toMatchObject({ caller: 'timer', template: '-', sent: 1 });
    expect(report.quota).toEqual({ sms: null, voice: null });

    // CSV, read with a real CSV parser: the same rows.
    const csv = await http(fn, 'ops', 'GET', '/usage', undefined, { from: DAY, to: DAY, format: 'csv' });
    expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8');
    const rows: Array<Record<string, unknown>> = parseCsv(csv.body, {
      columns: true,
      cast: (v, c) => (c.header || ['date', 'channel', 'caller', 'template'].includes(String(c.column)) ? v : Number(v)),
    });
    expect(rows).toEqual(report.breakdown);
    expect(Object.keys(rows[0] ?? {})).toEqual([
      'date',
      'channel',
      'caller',
      'template',
      'sent',
      'rejected',
      'failed',
      'unknown',
      'refused',
      'scheduled',
      'billable',
      'cost',
    ]);

    // Only operators; the template-validate function serves the same report from the same store.
    expect((await http(fn, 'backend', 'GET', '/usage')).json).toMatchObject({ error: { code: 'FORBIDDEN' } });
    expect((await http(fn, 'backend', 'GET', '/usage')).statusCode).toBe(403);
    expect((await http(fn, null, 'GET', '/usage')).statusCode).toBe(401);
    const tv = build('template-validate', store, clock);
    expect((await http(tv, 'ops', 'GET', '/usage', undefined, { from: DAY, to: DAY })).json).toEqual(report);
    expect((await http(tv, 'other', 'GET', '/usage')).statusCode).toBe(403);
    // Range checks name the parameter.
    expect((await http(fn, 'ops', 'GET', '/usage', undefined, { from: '2030-01-02', to: DAY })).json).toMatchObject({
      error: { code: 'INVALID_REQUEST' },
    });
    expect((await http(fn, 'ops', 'GET', '/usage', undefined, { from: '2028-01-01', to: DAY })).statusCode).toBe(400);
    expect((await http(fn, 'ops', 'GET', '/usage', undefined, { from: '2030-13-01' })).statusCode).toBe(400);

    // A job's fate: its caller and operators see it, another caller does not.
    const mine = await http(fn, 'backend', 'GET', '/sms/h-sent');
    expect(mine.statusCode).toBe(200);
    expect(mine.json).toMatchObject({
      idempotencyKey: 'h-sent',
      channel: 'sms',
      status: 'sent',
      source: 'http',
      caller: 'backend',
      attempts: 1,
      recorded: true,
      provider: { code: 'OK' },
    });
    expect(JSON.stringify(mine.json)).not.toMatch(/1397\d{7}/);
    expect((await http(fn, 'other', 'GET', '/sms/h-sent')).statusCode).toBe(404);
    expect((await http(fn, 'other', 'GET', '/sms/h-sent', undefined, { caller: 'backend' })).statusCode).toBe(403);
    expect((await http(fn, 'ops', 'GET', '/sms/h-sent')).json).toMatchObject({ status: 'sent', caller: 'backend' });
    expect((await http(fn, 'ops', 'GET', '/sms/h-rej', undefined, { caller: 'backend' })).json).toMatchObject({
      status: 'rejected',
      error: { code: 'INVALID_PHONE' },
    });
    expect((await http(fn, 'other', 'GET', '/sms/h-fail')).json).toMatchObject({ status: 'failed', error: { code: 'QUOTA_EXHAUSTED' } });
    expect((await http(fn, 'ops', 'GET', '/sms/m-1')).json).toMatchObject({ status: 'sent', caller: 'mns', source: 'mns' });
    expect((await http(fn, 'backend', 'GET', '/sms/h-later')).json).toMatchObject({ status: 'sent', source: 'timer', caller: 'backend' });
    expect((await http(tv, 'backend', 'GET', '/sms/h-later')).json).toMatchObject({ status: 'sent', source: 'timer' });
    expect((await http(fn, 'backend', 'GET', '/sms/never')).json).toMatchObject({ error: { code: 'NOT_FOUND' } });
    expect((await http(voice, 'backend', 'GET', '/voice/h-sent')).statusCode).toBe(404);

    // Scheduled, then cancelled: the lookup says so.
    const s2 = await http(fn, 'backend', 'POST', '/sms', sms(phone(), { idempotencyKey: 'h-cancel', sendAt: '2030-01-02T12:00:00+08:00' }));
    expect((await http(fn, 'backend', 'DELETE', `/sms/${(s2.json as any).id}`)).statusCode).toBe(200);
    expect((await http(fn, 'backend', 'GET', '/sms/h-cancel')).json).toMatchObject({ status: 'cancelled', id: (s2.json as any).id });

    if (storeName === 'Redis') {
      expect(slots.violations).toEqual([]);
      // One hash per Beijing day, kept over 400 days.
      const ttl = await redis.ttl(`${prefix}{usage:${DAY}}`);
      expect(ttl).toBeGreaterThan(400 * 86_400);
      // `npm run usage` reads the same data and prints the same totals.
      // (Read again: the cancelled job above was scheduled after the first report.)
      const now = await http(fn, 'ops', 'GET', '/usage', undefined, { from: DAY, to: DAY, format: 'csv' });
      const nowJson = (await http(fn, 'ops', 'GET', '/usage', undefined, { from: DAY, to: DAY })).json as any;
      expect(nowJson.totals.sms.scheduled).toBe(2);
      const run = promisify(execFile);
      const env = { ...process.env, REDIS_URL, TEMPLATES_FILE: '' };
      const csvOut = await run(
        process.execPath,
        ['--import', 'tsx', 'scripts/usage.ts', '--from', DAY, '--to', DAY, '--csv', '--prefix', prefix as string],
        {
          env,
          timeout: 60_000,
        },
      );
      expect(csvOut.stdout).toBe(now.body);
      const jsonOut = await run(
        process.execPath,
        ['--import', 'tsx', 'scripts/usage.ts', '--from', DAY, '--to', DAY, '--json', '--prefix', prefix as string],
        {
          env,
          timeout: 60_000,
        },
      );
      expect(JSON.parse(jsonOut.stdout).totals).toEqual(nowJson.totals);
      const tableOut = await run(
        process.execPath,
        ['--import', 'tsx', 'scripts/usage.ts', '--from', DAY, '--to', DAY, '--prefix', prefix as string],
        {
          env,
          timeout: 60_000,
        },
      );
      const totalLine = tableOut.stdout.split('\n').find((l) => l.includes('total') && l.includes('sms')) ?? '';
      const numbers = totalLine
        .split('│')
        .map((c) => c.trim())
        .filter((c) => /^[\d.]+$/.test(c));
      expect(numbers).toEqual(['5', '1', '1', '0', '1', '2', '6', '0.8100']);
    }
  }, 120_000);
});

describe('the scheduled id formula', () => {
  it('is the same in the lookup (kept apart for the template-validate bundle) and the batch runner', () => {
    for (const [c, k] of [
      ['backend', 'order-42'],
      ['mns', 'x\ny'],
      ['a', ''],
    ] as const)
      expect(scheduledIdOf(c, k)).toBe(scheduleId(c, k));
  });
});

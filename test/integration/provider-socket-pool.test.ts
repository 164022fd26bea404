import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BatchRetryError } from '#shared/errors';
import { createProviderClient, SOCKET_POOL_SIZE } from '#shared/provider/client';
import { longSmsRequest } from '#shared/provider/request';
import { MemoryStore } from '#shared/store/memory';
import { cloudEvent, EVENT_CALLER_KEY, eventFunction, nextPhone, phonesSent, smsJob } from '../support/events.ts';
import { TEST_APPCODE } from '../support/fake-provider.ts';
import { asBuffer, asHttpResult, fcContext, httpEvent } from '../support/fc.ts';
import { LIMITS_AND_QUIET_HOURS_OFF } from '../support/functions.ts';
import { PROVIDER_OK, startWorld } from '../support/world.ts';

/**
 * Issue 11 item 2: the provider deadline covers one socket's work (connect + request + answer),
 * not the wait for a socket of the pool; a job that never got a socket is "not sent" (retryable,
 * released, redelivered), never "outcome unknown".
 */

const { fake } = await startWorld({});

const batchOf = (n: number) => Array.from({ length: n }, () => cloudEvent(JSON.stringify(smsJob(nextPhone()))));
/** Every phone the provider received exactly once, and only the expected ones. */
function expectEachOnce(events: Array<{ data: { messageBody: string } }>): void {
  const expected = events.map((e) => JSON.parse(e.data.messageBody).phone as string).sort();
  expect(phonesSent(fake).sort()).toEqual(expected);
}

describe('provider client: waiting for a socket is not part of the deadline', () => {
  const client = (timeoutMs: number) =>
    createProviderClient({ credentials: { kind: 'appcode', appCode: TEST_APPCODE }, timeoutMs, retries: 0 });

  it(`more concurrent sends than the pool (${SOCKET_POOL_SIZE}) against a slow provider: all are sent, none times out in the queue`, async () => {
    // Each answer takes 1,000 ms of a 1,600 ms deadline (600 ms of slack for a loaded machine): a send queued
    // behind a full pool gets its socket at ~1,000 ms and would have timed out at 1,600 ms had the deadline
    // started before the wait.
    fake.fallback = { kind: 'delay', ms: 1000, next: PROVIDER_OK };
    const c = client(1600);
    const n = SOCKET_POOL_SIZE + 16;
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) => c.send(longSmsRequest(fake.longSmsUrl, { phone: nextPhone(), skin: '1' }, [String(1000 + i)]))),
    );
    expect(results.map((r) => r.status)).toEqual(Array(n).fill('sent'));
    expect(fake.requests).toHaveLength(n);
  });

  it('against a provider that hangs: only sends that reached it are "unknown"; the ones still queued are "not sent", retryable', async () => {
    fake.fallback = { kind: 'hang' };
    const c = client(1000);
    const n = SOCKET_POOL_SIZE + 16;
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) => c.send(longSmsRequest(fake.longSmsUrl, { phone: nextPhone(), skin: '1' }, [String(1000 + i)]))),
    );
    const unknown = results.filter((r) => r.status === 'unknown');
    const notSent = results.filter((r) => r.status === 'failed');
    expect(unknown.length + notSent.length).toBe(n);
    // Every "unknown" is a request the provider saw; every other one never left this process.
    expect(unknown).toHaveLength(fake.requests.length);
    expect(notSent.length).toBeGreaterThan(0);
    for (const r of notSent)
      expect(r).toMatchObject({ provider: { code: 'ENOSOCKET' }, error: { code: 'PROVIDER_ERROR', retryable: true } });
  });
});

describe('MNS queue batch at BATCH_CONCURRENCY=64 with a slow provider', () => {
  it('64 jobs in one batch: each reaches the provider exactly once, none is counted unknown', async () => {
    // 1,000 ms per answer and a 1,600 ms deadline: with a pool of 32 the second half would end unknown at 1,600 ms.
    fake.fallback = { kind: 'delay', ms: 1000, next: PROVIDER_OK };
    const fn = eventFunction(
      'long-sms',
      fake,
      new MemoryStore(),
      {},
      { ...LIMITS_AND_QUIET_HOURS_OFF, BATCH_CONCURRENCY: '64', UPSTREAM_TIMEOUT_MS: '1600' },
    );
    const events = batchOf(64);
    expect(await fn(asBuffer(events), fcContext())).toEqual({ ok: true, source: 'mns', total: 64, counts: { sent: 64 } });
    expectEachOnce(events);
  });

  it('two batches of 64 at once (instance concurrency) share the pool: all 128 sent once', async () => {
    fake.fallback = { kind: 'delay', ms: 400, next: PROVIDER_OK };
    const fn = eventFunction(
      'long-sms',
      fake,
      new MemoryStore(),
      {},
      { ...LIMITS_AND_QUIET_HOURS_OFF, BATCH_CONCURRENCY: '64', UPSTREAM_TIMEOUT_MS: '1600' },
    );
    const a = batchOf(64);
    const b = batchOf(64);
    const [ra, rb] = await Promise.all([fn(asBuffer(a), fcContext()), fn(asBuffer(b), fcContext())]);
    expect(ra).toMatchObject({ ok: true, counts: { sent: 64 } });
    expect(rb).toMatchObject({ ok: true, counts: { sent: 64 } });
    expectEachOnce([...a, ...b]);
  });

  it('jobs that never got a socket (provider hanging) are redelivered and then sent; the ones that reached it stay unknown, never sent twice', async () => {
    fake.fallback = { kind: 'hang' };
    const fn = eventFunction(
      'long-sms',
      fake,
      new MemoryStore(),
      {},
      { ...LIMITS_AND_QUIET_HOURS_OFF, BATCH_CONCURRENCY: '64', UPSTREAM_TIMEOUT_MS: '1000' },
    );
    const a = batchOf(64);
    const b = batchOf(64);
    const first = await Promise.allSettled([fn(asBuffer(a), fcContext()), fn(asBuffer(b), fcContext())]);
    const reached = fake.requests.length;
    let unknown = 0;
    let retry = 0;
    for (const r of first) {
      // A batch whose jobs all got a socket returns (all unknown); one with jobs left over asks for redelivery.
      const counts =
        r.status === 'fulfilled' ? (r.value as { counts: Record<string, number> }).counts : (r.reason as BatchRetryError).summary.counts;
      if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(BatchRetryError);
      unknown += counts.unknown ?? 0;
      retry += counts.failed ?? 0;
    }
    expect(unknown).toBe(reached);
    expect(unknown + retry).toBe(128);
    expect(retry).toBeGreaterThan(0);

    // The platform redelivers both events; the provider is healthy again.
    fake.fallback = PROVIDER_OK;
    await Promise.allSettled([fn(asBuffer(a), fcContext()), fn(asBuffer(b), fcContext())]);
    expectEachOnce([...a, ...b]);
  });
});

describe('HTTP: more concurrent requests than sockets', () => {
  it('a request that never got a socket is not answered 504; retried with its key it is sent once (claim released, limits refunded)', async () => {
    fake.fallback = { kind: 'hang' };
    // One send per phone a day: had the first try's count not been refunded, the retry would be 429.
    const call = eventFunction(
      'long-sms',
      fake,
      new MemoryStore(),
      {},
      { ...LIMITS_AND_QUIET_HOURS_OFF, LIMIT_PHONE_DAILY: '1', UPSTREAM_TIMEOUT_MS: '1000' },
    );
    const n = SOCKET_POOL_SIZE + 16;
    const jobs = Array.from({ length: n }, (_, i) => ({
      ...smsJob(nextPhone()),
      idempotencyKey: `pool-${i}-${randomBytes(4).toString('hex')}`,
    }));
    const post = (job: unknown) =>
      call(httpEvent({ path: '/sms', body: job, headers: { authorization: `Bearer ${EVENT_CALLER_KEY}` } }), fcContext()).then(
        asHttpResult,
      );
    const answers = await Promise.all(jobs.map(post));
    const timeouts = answers.filter((r) => r.statusCode === 504);
    const others = answers.filter((r) => r.statusCode !== 504);
    expect(timeouts).toHaveLength(fake.requests.length);
    expect(others.length).toBeGreaterThan(0);
    for (const r of others) expect(r).toMatchObject({ statusCode: 502, json: { error: { code: 'PROVIDER_ERROR', retryable: true } } });

    fake.fallback = PROVIDER_OK;
    const retried = await Promise.all(jobs.filter((_, i) => answers[i]!.statusCode !== 504).map(post));
    for (const r of retried) expect(r.statusCode).toBe(200);
    expect(new Set(phonesSent(fake)).size).toBe(n);
    expect(phonesSent(fake)).toHaveLength(n);
  });
});

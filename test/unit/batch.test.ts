import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SCHEDULE_LIMITS } from '#shared/config';
import { type BatchDeps, type BatchItem, runBatch } from '#shared/core/batch';
import type { Outcome, Sender } from '#shared/core/send';
import { GuardRefusal } from '#shared/errors';
import { createLogger } from '#shared/log';
import { MemoryStore } from '#shared/store/memory';
import type { ScheduledJob } from '#shared/store/types';

/**
 * core/batch.ts's branches that no trigger test reaches on purpose: the invocation deadline,
 * a guard's deferral (and a store that fails to keep it), a guard's refusal, and a sender that
 * fails in an unexpected way. The core takes plain dependencies (no FC context, no runtime): the
 * sender is a plain object, the store the real in-memory store, the deadline an absolute time.
 */

const NOW = Date.parse('2026-03-02T03:00:00Z');

function logs() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
      done();
    },
  });
  return { logger: createLogger({ destination }), lines };
}

function deps(send: Sender['send'] | undefined, store = new MemoryStore(() => NOW), over: Partial<BatchDeps> = {}) {
  const { logger, lines } = logs();
  const sender: Sender | undefined = send && { send, pendingWrites: () => 0 };
  const d: BatchDeps = {
    source: 'mns',
    channel: 'sms',
    sender,
    requestId: 'r',
    logger,
    store,
    now: () => NOW,
    limits: DEFAULT_SCHEDULE_LIMITS,
    startedAt: NOW,
    deadline: NOW + 30_000,
    claimTtlMs: 90_000,
    concurrency: 4,
    ...over,
  };
  return { d, lines, store };
}

const item = (n: number): BatchItem => ({
  ref: `msg ${n}`,
  defaultKey: `k-${n}`,
  raw: { phone: `1380013800${n}`, skin: '1', params: ['a'] },
});
const sent: Sender['send'] = async (job) =>
  ({
    status: 'sent',
    channel: 'sms',
    phoneMasked: '138****8000',
    idempotencyKey: job.idempotencyKey ?? null,
    replayed: false,
    attempts: 1,
    latencyMs: 1,
  }) as Outcome;

describe('runBatch', () => {
  it('stops taking jobs at the deadline: the rest are not-started and retryable, none is sent', async () => {
    let calls = 0;
    const { d } = deps(
      async (job, ctx) => {
        calls++;
        return sent(job, ctx);
      },
      undefined,
      { startedAt: NOW - 60_000, deadline: NOW },
    );
    // The deadline is now: it has passed before the first job.
    const summary = await runBatch([item(1), item(2)], d);
    expect(calls).toBe(0);
    expect(summary.results.map((r) => [r.status, r.code, r.retry])).toEqual([
      ['not-started', 'DEADLINE', true],
      ['not-started', 'DEADLINE', true],
    ]);
    expect(summary.retry).toBe(2);
  });

  it('sends while the deadline is ahead', async () => {
    const { d } = deps(sent, undefined, { deadline: NOW + 1 });
    const summary = await runBatch([item(1)], d);
    expect(summary.results[0]?.status).toBe('sent');
  });

  it('a guard deferral schedules the job for retryAt under its key; nothing is lost', async () => {
    const retryAt = NOW + 3_600_000;
    const { d, store } = deps(async () => {
      throw new GuardRefusal('OUTSIDE_SENDING_HOURS', 'outside hours', 'quiet-hours', { retryAt, now: NOW, action: 'defer' });
    });
    const summary = await runBatch([item(1)], d);
    const r = summary.results[0];
    expect(r).toMatchObject({ status: 'deferred', retry: false, code: 'OUTSIDE_SENDING_HOURS', sendAt: new Date(retryAt).toISOString() });
    const due = await store.claimDue('sms', retryAt + 1, 10, 60_000);
    expect(due.map((d: ScheduledJob) => [d.id, d.key])).toEqual([[r?.id, 'k-1']]);
  });

  it('a deferral the store cannot keep is a retryable STORE_UNAVAILABLE failure', async () => {
    const store = new MemoryStore(() => NOW);
    store.schedule = async () => {
      throw new Error('connection lost');
    };
    const { d } = deps(async () => {
      throw new GuardRefusal('OUTSIDE_SENDING_HOURS', 'outside hours', 'quiet-hours', { retryAt: NOW + 1000, now: NOW, action: 'defer' });
    }, store);
    const summary = await runBatch([item(1)], d);
    expect(summary.results[0]).toMatchObject({ status: 'failed', retry: true, code: 'STORE_UNAVAILABLE' });
  });

  it('a guard refusal without a retry time is reported as refused, not retried', async () => {
    const { d } = deps(async () => {
      throw new GuardRefusal('RECIPIENT_BLOCKED', 'on the denylist', 'denylist');
    });
    const summary = await runBatch([item(1)], d);
    expect(summary.results[0]).toMatchObject({ status: 'refused', retry: false, code: 'RECIPIENT_BLOCKED' });
  });

  it('an unexpected failure is a retryable INTERNAL result, logged with the error name only', async () => {
    const { d, lines } = deps(async () => {
      throw new TypeError('secret detail 13800138001');
    });
    const summary = await runBatch([item(1)], d);
    expect(summary.results[0]).toMatchObject({ status: 'failed', retry: true, code: 'INTERNAL', message: 'unexpected failure' });
    const line = lines.find((l) => l.msg === 'job failed unexpectedly');
    expect(line).toMatchObject({ level: 'error', err: { name: 'TypeError' } });
    expect(JSON.stringify(lines)).not.toContain('secret detail');
    expect(JSON.stringify(lines)).not.toContain('13800138001');
  });

  it('without a sender (misconfigured function) every job fails retryably with the configuration problem, nothing else', async () => {
    const { d } = deps(undefined, undefined, { configProblem: 'LONG_SMS_URL is not a URL' });
    const summary = await runBatch([item(1)], d);
    expect(summary.results[0]).toMatchObject({ status: 'failed', retry: true, code: 'CONFIG', message: 'LONG_SMS_URL is not a URL' });
  });

  it('calls onResult once per job with its result', async () => {
    const { d } = deps(sent);
    const seen: string[] = [];
    await runBatch([item(1), item(2)], d, async (i, r) => {
      seen.push(`${i.ref}:${r.status}`);
    });
    expect(seen.sort()).toEqual(['msg 1:sent', 'msg 2:sent']);
  });
});

describe('batch slots (issue 15): a job holds its slot until its provider call is over', () => {
  it('the next job starts when a job reports providerDone, while that job still records; never more than `concurrency` sending', async () => {
    let sending = 0;
    let maxSending = 0;
    let recording = 0;
    let startedWhileRecording = 0;
    const order: string[] = [];
    const { d } = deps(
      async (job, ctx) => {
        if (recording > 0) startedWhileRecording += 1;
        sending += 1;
        maxSending = Math.max(maxSending, sending);
        await new Promise((r) => setTimeout(r, 5)); // the provider
        sending -= 1;
        ctx.providerDone?.();
        recording += 1;
        order.push(`sent ${job.idempotencyKey}`);
        await new Promise((r) => setTimeout(r, 20)); // the record, slower than the provider here
        recording -= 1;
        order.push(`recorded ${job.idempotencyKey}`);
        return sent(job, ctx);
      },
      undefined,
      { concurrency: 1 },
    );
    const summary = await runBatch([1, 2, 3, 4, 5, 6].map(item), d);
    expect(summary.counts).toEqual({ sent: 6 });
    // One slot: without the early release no job could start while another records.
    expect(maxSending).toBe(1);
    expect(startedWhileRecording).toBeGreaterThan(0);
    // Every job's outcome was recorded before the batch answered.
    expect(order.filter((o) => o.startsWith('recorded'))).toHaveLength(6);
    expect(recording).toBe(0);
  });

  it('a job that never reaches the provider frees its slot when it ends; one that throws frees it too', async () => {
    let running = 0;
    let maxRunning = 0;
    const { d, lines } = deps(
      async (job, ctx) => {
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        await new Promise((r) => setTimeout(r, 2));
        running -= 1;
        if (job.idempotencyKey === 'k-2') throw new Error('boom'); // a bug in the sender
        return sent(job, ctx); // no providerDone: a replay, a refusal
      },
      undefined,
      { concurrency: 3 },
    );
    const summary = await runBatch([1, 2, 3, 4, 5, 6, 7].map(item), d);
    expect(summary.counts).toEqual({ sent: 6, failed: 1 });
    expect(maxRunning).toBe(3);
    expect(new Set(lines.filter((l) => l.event === 'batch-job' && l.status).map((l) => l.ref)).size).toBe(7);
  });
});

import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { type BatchItem, runBatch } from '#shared/core/batch';
import type { Outcome, Sender } from '#shared/core/send';
import { GuardRefusal } from '#shared/errors';
import type { Runtime } from '#shared/fc/runtime';
import { createLogger } from '#shared/log';
import { MemoryStore } from '#shared/store/memory';
import type { ScheduledJob } from '#shared/store/types';

/**
 * core/batch.ts's branches that no trigger test reaches on purpose: the invocation deadline,
 * a guard's deferral (and a store that fails to keep it), a guard's refusal, and a sender that
 * fails in an unexpected way. The sender is a plain object (the core takes it as a dependency);
 * the store is the real in-memory store.
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

function runtime(send: Sender['send'], store = new MemoryStore(() => NOW)) {
  const { logger, lines } = logs();
  const sender: Sender = { send, pendingWrites: () => 0 };
  const rt = {
    name: 'long-sms',
    channel: 'sms',
    config: undefined,
    configError: undefined,
    logger,
    store,
    limiter: undefined,
    sender,
    catalog: undefined,
    now: () => NOW,
  } as unknown as Runtime;
  return { rt, lines, store };
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
    const { rt } = runtime(async (job, ctx) => {
      calls++;
      return sent(job, ctx);
    });
    // Started 60 s ago with a 60 s function timeout: the deadline has passed before the first job.
    const summary = await runBatch([item(1), item(2)], { requestId: 'r', function: { timeout: 60 } }, rt, {
      source: 'mns',
      startedAt: NOW - 60_000,
    });
    expect(calls).toBe(0);
    expect(summary.results.map((r) => [r.status, r.code, r.retry])).toEqual([
      ['not-started', 'DEADLINE', true],
      ['not-started', 'DEADLINE', true],
    ]);
    expect(summary.retry).toBe(2);
  });

  it('sends while the deadline is ahead', async () => {
    const { rt } = runtime(sent);
    const summary = await runBatch([item(1)], { requestId: 'r', function: { timeout: 60 } }, rt, { source: 'mns', startedAt: NOW - 1000 });
    expect(summary.results[0]?.status).toBe('sent');
  });

  it('a guard deferral schedules the job for retryAt under its key; nothing is lost', async () => {
    const retryAt = NOW + 3_600_000;
    const { rt, store } = runtime(async () => {
      throw new GuardRefusal('OUTSIDE_SENDING_HOURS', 'outside hours', 'quiet-hours', { retryAt, now: NOW, action: 'defer' });
    });
    const summary = await runBatch([item(1)], { requestId: 'r' }, rt, { source: 'mns' });
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
    const { rt } = runtime(async () => {
      throw new GuardRefusal('OUTSIDE_SENDING_HOURS', 'outside hours', 'quiet-hours', { retryAt: NOW + 1000, now: NOW, action: 'defer' });
    }, store);
    const summary = await runBatch([item(1)], { requestId: 'r' }, rt, { source: 'mns' });
    expect(summary.results[0]).toMatchObject({ status: 'failed', retry: true, code: 'STORE_UNAVAILABLE' });
  });

  it('a guard refusal without a retry time is reported as refused, not retried', async () => {
    const { rt } = runtime(async () => {
      throw new GuardRefusal('RECIPIENT_BLOCKED', 'on the denylist', 'denylist');
    });
    const summary = await runBatch([item(1)], { requestId: 'r' }, rt, { source: 'mns' });
    expect(summary.results[0]).toMatchObject({ status: 'refused', retry: false, code: 'RECIPIENT_BLOCKED' });
  });

  it('an unexpected failure is a retryable INTERNAL result, logged with the error name only', async () => {
    const { rt, lines } = runtime(async () => {
      throw new TypeError('secret detail 13800138001');
    });
    const summary = await runBatch([item(1)], { requestId: 'r' }, rt, { source: 'mns' });
    expect(summary.results[0]).toMatchObject({ status: 'failed', retry: true, code: 'INTERNAL', message: 'unexpected failure' });
    const line = lines.find((l) => l.msg === 'job failed unexpectedly');
    expect(line).toMatchObject({ level: 'error', err: { name: 'TypeError' } });
    expect(JSON.stringify(lines)).not.toContain('secret detail');
    expect(JSON.stringify(lines)).not.toContain('13800138001');
  });
});

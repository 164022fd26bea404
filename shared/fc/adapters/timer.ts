import { DEFAULT_SCHEDULE_LIMITS } from '../../config.ts';
import { type BatchItem, type BatchSummary, runBatch } from '../../core/batch.ts';
import { claimTtlMs } from '../../core/idempotency.ts';
import { expiryOf } from '../../core/schedule.ts';
import { isRecord } from '../../jobs.ts';
import { errorFields } from '../../log.ts';
import { itemsFromText } from '../../parse/jobs-text.ts';
import { maskPhone } from '../../phone.ts';
import type { ScheduledJob } from '../../store/types.ts';
import type { FcContext, Runtime } from '../runtime.ts';
import { type Adapter, batchDeps, maxJobsPerEvent } from './adapter.ts';

/**
 * Timer trigger: `{triggerTime, triggerName, payload}`. `payload` may hold static reminders
 * (`{"jobs":[…]}`, keyed triggerName+triggerTime+index, so a retried tick sends nothing twice);
 * every tick also sends this channel's scheduled jobs that are due. Due jobs are leased
 * atomically, so overlapping ticks never share one; a job is forgotten only once its send has
 * ended for good, so a crash or a retryable failure brings it back on a later tick.
 */

/** How many due jobs one tick takes. The rest wait for the next tick. */
export const DUE_PER_TICK = 500;

export interface TimerEvent {
  triggerTime: string;
  triggerName: string;
  payload?: unknown;
}

export function isTimerEvent(v: unknown): v is TimerEvent {
  return isRecord(v) && typeof v.triggerTime === 'string' && typeof v.triggerName === 'string';
}

export const adapter: Adapter<TimerEvent> = {
  trigger: 'timer',
  matches: isTimerEvent,
  handle: (event, { fc, rt }) => handleTimer(event, fc, rt),
};

async function handleTimer(e: TimerEvent, fc: FcContext, rt: Runtime): Promise<BatchSummary> {
  const items: BatchItem[] = [];
  const tick = `${e.triggerName.slice(0, 100)}:${e.triggerTime.slice(0, 40)}`;
  const payload = typeof e.payload === 'string' ? e.payload.trim() : '';
  if (payload !== '' && payload !== '{}') {
    items.push(
      ...itemsFromText(payload, `timer ${tick}`, `timer:${tick}`).map((i) =>
        i.problem ? { ...i, problem: `timer payload: ${i.problem}` } : i,
      ),
    );
    // Only the payload's own jobs count: scheduled jobs are taken DUE_PER_TICK at a time. The
    // payload is static configuration: failing the tick would not fix it and would stop the
    // scheduled jobs below, so it becomes one poison item (logged at error level every tick).
    const max = maxJobsPerEvent(rt);
    if (items.length > max) {
      const n = items.length;
      const problem = `timer payload holds ${n} jobs, over MAX_JOBS_PER_EVENT (${max}); none of them was sent`;
      rt.logger.error(
        { event: 'event-refused', requestId: fc.requestId, source: 'timer', reason: 'too-many-jobs', jobs: n, max },
        `poison timer payload: ${problem}`,
      );
      items.splice(0, n, { ref: `timer ${tick}`, defaultKey: `timer:${tick}`, problem });
    }
  }
  const scheduled = new Map<BatchItem, ScheduledJob>();
  if (rt.channel) {
    const leaseMs = claimTtlMs(fc.function?.timeout);
    const now = rt.now();
    // A store that cannot answer fails the invocation (logged once by app.ts, FC retries it);
    // nothing was sent and the next tick takes the due jobs.
    for (const entry of await rt.store.claimDue(rt.channel, now, DUE_PER_TICK, leaseMs)) {
      // Not sent within SCHEDULE_EXPIRE_HOURS of its time (timers stopped, a long outage, a
      // deferral loop): a reminder that late does more harm than good. Dropped, with a line.
      const expiresAt = entry.expiresAt ?? expiryOf(rt.config?.schedule ?? DEFAULT_SCHEDULE_LIMITS, entry.dueAt);
      if (now > expiresAt) {
        rt.logger.warn(
          {
            event: 'scheduled-expired',
            requestId: fc.requestId,
            id: entry.id,
            caller: entry.caller,
            channel: entry.channel,
            dueAt: new Date(entry.dueAt).toISOString(),
            phone: maskPhone(String(entry.job.phone ?? '')),
          },
          'scheduled job expired unsent; dropped',
        );
        await rt.store.ack(entry.channel, entry.id, entry.caller);
        continue;
      }
      const item: BatchItem = {
        ref: `scheduled ${entry.id}`,
        raw: entry.job,
        defaultKey: entry.key,
        caller: entry.caller,
        scheduled: true,
      };
      scheduled.set(item, entry);
      items.push(item);
    }
  }
  return runBatch(items, batchDeps(fc, rt, { source: 'timer' }), async (item, result) => {
    const entry = scheduled.get(item);
    // Deferred: re-scheduled under the same id for later. Retryable: the lease runs out and a later tick retries.
    if (entry && !result.retry && result.status !== 'deferred') {
      // An ack the store misses only brings the job back after its lease; its idempotency key
      // (replayed or, once stale, unknown) keeps it from being sent again.
      await rt.store.ack(entry.channel, entry.id, entry.caller).catch((err: unknown) => {
        rt.logger.warn(
          { event: 'timer-ack-failed', requestId: fc.requestId, id: entry.id, err: errorFields(err) },
          'could not forget a finished scheduled job; it comes back after its lease and is not sent again',
        );
      });
    }
  });
}

import pLimit from 'p-limit';
import {
  DEFAULT_BATCH_CONCURRENCY,
  DEFAULT_MAX_JOBS_PER_EVENT,
  DEFAULT_UPSTREAM_RETRIES,
  DEFAULT_UPSTREAM_TIMEOUT_MS,
  MAX_BATCH_CONCURRENCY,
} from '../config.ts';
import { ChannelMismatchError, InvalidRequestError, NotifyError, PoisonEventError, storeUnavailable } from '../errors.ts';
import type { FcContext, Runtime } from '../fc/runtime.ts';
import { deferral } from '../guards/contract.ts';
import { sha256 } from '../hash.ts';
import { type Job, parseJob } from '../jobs.ts';
import { maskPhone } from '../phone.ts';
import type { ScheduledJob } from '../store/types.ts';
import { countLater, usageEvent } from '../usage/recorder.ts';
import { claimTtlMs, DEFAULT_FUNCTION_TIMEOUT_S } from './idempotency.ts';
import { dueTimeOf, expiryOf, scheduleJob } from './schedule.ts';

/**
 * Runs the jobs of one event (an MNS message, a queue batch, an OSS file, a timer tick) through
 * the sender with bounded concurrency and turns each into an outcome. Nothing here throws for
 * one job: poison jobs are logged and dropped, retryable failures are counted, and the adapter
 * throws once after the whole batch (`BatchRetryError`) so the platform redelivers and the jobs
 * already sent are replayed from the store instead of sent again.
 */

export interface BatchItem {
  /** Where the job came from, for logs and result files (`msg C6DB…`, `line 12`). Never the phone. */
  ref: string;
  /** The job as received (parsed JSON), or undefined with `problem` when it could not be read. */
  raw?: unknown;
  problem?: string;
  /** The idempotency key when the job has none of its own (MessageId, bucket+key+eTag+line, …). */
  defaultKey: string;
  /** Store key owner: the trigger kind, or the caller who scheduled the job. */
  caller?: string;
  /** A scheduled job taken by the timer (already counted against its caller when scheduled). */
  scheduled?: boolean;
}

export type JobStatus =
  | 'sent'
  | 'replayed'
  | 'rejected'
  | 'failed'
  | 'unknown'
  | 'refused'
  | 'scheduled'
  | 'deferred'
  | 'skipped'
  | 'poison'
  | 'in-progress'
  | 'not-started';

export interface JobResult {
  ref: string;
  status: JobStatus;
  /** True when a later delivery should try this job again (the invocation will fail). */
  retry: boolean;
  phone?: string;
  code?: string;
  message?: string;
  /** Scheduled/deferred jobs: their id and time. */
  id?: string;
  sendAt?: string;
  /** Sent (or refused/unknown) but the store could not record it; the job is not sent again (docs/guarantees.md). */
  recorded?: false;
}

export interface BatchSummary {
  source: string;
  total: number;
  counts: Partial<Record<JobStatus, number>>;
  /** How many jobs want a redelivery. */
  retry: number;
  results: JobResult[];
}

export interface BatchOptions {
  /** Trigger kind: `mns`, `oss`, `timer`; the store key owner when an item names none. */
  source: string;
  /** Upper bound on the invocation's own length (EventBridge caps at 5 min). */
  maxInvocationMs?: number;
  /** When the invocation started (epoch ms), for adapters that run several batches in one invocation (OSS chunks). */
  startedAt?: number;
  /** Called for each finished job (timers ack scheduled jobs, OSS writes a result line). */
  onResult?: (item: BatchItem, result: JobResult, job: Job | undefined) => Promise<void>;
}

export const FIVE_MINUTES_MS = 5 * 60 * 1000;

/** A stable id for a job scheduled from `caller` + `key`: scheduling the same job twice keeps one entry. */
export function scheduleId(caller: string, key: string): string {
  return sha256(`${caller}\n${key}`, 'base64url').slice(0, 22);
}

/** The job as stored for the timer: JSON without `sendAt`, and with the key it will be sent under. */
export function toScheduled(job: Job, caller: string, key: string, dueAt: number, id = scheduleId(caller, key)): ScheduledJob {
  const { sendAt: _s, ...rest } = job;
  return { id, channel: job.channel, caller, key, job: { ...rest, idempotencyKey: key }, dueAt };
}

/** MAX_JOBS_PER_EVENT of this runtime. */
export function maxJobsPerEvent(rt: Runtime): number {
  return rt.config?.maxJobsPerEvent ?? DEFAULT_MAX_JOBS_PER_EVENT;
}

/** Logs (error level, `event-refused`) and throws a PoisonEventError. */
export function poisonEvent(
  rt: Runtime,
  fc: FcContext,
  reason: PoisonEventError['reason'],
  message: string,
  fields: Record<string, unknown>,
): never {
  rt.logger.error({ event: 'event-refused', requestId: fc.requestId, reason, ...fields }, `poison event: ${message}`);
  throw new PoisonEventError(`poison event: ${message}; the invocation fails so the platform retries it and then dead-letters it`, reason);
}

/** An event with more jobs than MAX_JOBS_PER_EVENT, refused before any job is read (sending only the first N would leave the rest silently behind). */
export function refuseEvent(source: string, jobs: number, fc: FcContext, rt: Runtime): never {
  const max = maxJobsPerEvent(rt);
  return poisonEvent(rt, fc, 'too-many-jobs', `event holds ${jobs} jobs, over MAX_JOBS_PER_EVENT (${max}); nothing was sent`, {
    source,
    jobs,
    max,
  });
}

export async function runBatch(items: readonly BatchItem[], fc: FcContext, rt: Runtime, options: BatchOptions): Promise<BatchSummary> {
  const started = options.startedAt ?? rt.now();
  const timeoutMs = (fc.function?.timeout ?? DEFAULT_FUNCTION_TIMEOUT_S) * 1000;
  const budget = Math.min(timeoutMs, options.maxInvocationMs ?? Number.POSITIVE_INFINITY);
  const upstreamWorst =
    (rt.config?.upstreamTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS) * ((rt.config?.upstreamRetries ?? DEFAULT_UPSTREAM_RETRIES) + 1) + 2000;
  // Stop taking new jobs while one more send still fits before the platform kills us.
  const deadline = started + Math.max(budget / 2, budget - upstreamWorst);
  const claimTtl = claimTtlMs(fc.function?.timeout);
  const logger = rt.logger.child({ requestId: fc.requestId, source: options.source });
  // Never more than the provider client's socket pool (config refuses more; clamped again here
  // for runtimes built by hand), so no job of a batch waits for a socket.
  const limit = pLimit(Math.min(rt.config?.batchConcurrency ?? DEFAULT_BATCH_CONCURRENCY, MAX_BATCH_CONCURRENCY));

  async function one(item: BatchItem): Promise<{ result: JobResult; job?: Job }> {
    const base = { ref: item.ref };
    if (item.problem !== undefined)
      return { result: { ...base, status: 'poison', retry: false, code: 'INVALID_REQUEST', message: item.problem } };
    const channel = rt.channel;
    if (!channel || !rt.sender) {
      // Retryable: once the configuration is fixed, the redelivery sends (the message names the variables, no values).
      const message = rt.configError?.message ?? 'function is misconfigured';
      return { result: { ...base, status: 'failed', retry: true, code: 'CONFIG', message } };
    }
    let job: Job;
    try {
      job = parseJob(item.raw, channel);
    } catch (err) {
      if (err instanceof ChannelMismatchError) {
        return {
          result: {
            ...base,
            status: 'skipped',
            retry: false,
            code: 'CHANNEL_MISMATCH',
            message: `job is for channel ${err.jobChannel.slice(0, 20)}; this function sends ${channel}`,
          },
        };
      }
      const e = err instanceof NotifyError ? err : new NotifyError('INVALID_REQUEST', 'job could not be read');
      return { result: { ...base, status: 'poison', retry: false, code: e.code, message: e.message } };
    }
    const phone = maskPhone(job.phone);
    const caller = item.caller ?? options.source;
    const key = job.idempotencyKey ?? item.defaultKey;
    const keyed: Job = { ...job, idempotencyKey: key };
    const at = { ...base, phone };

    const dueAt = dueTimeOf(job, rt.now());
    if (dueAt !== undefined) {
      let entry: ScheduledJob;
      try {
        entry = await scheduleJob(rt, { job: keyed, caller, key, dueAt, http: false });
      } catch (err) {
        // Past SCHEDULE_MAX_DAYS: the job itself is wrong, a redelivery would not change it.
        if (err instanceof InvalidRequestError)
          return { result: { ...at, status: 'poison', retry: false, code: err.code, message: err.message }, job };
        if (err instanceof NotifyError) throw err;
        // The store failed: maybe not scheduled (a stalled store still runs the write later); a redelivery schedules it under the same id, never twice.
        const e = storeUnavailable(
          err,
          'nothing was sent; the job may or may not be scheduled (a slow store still runs the write), so retry with the same idempotencyKey: a retry replaces the entry, never doubles it',
        );
        return { result: { ...at, status: 'failed', retry: true, code: e.code, message: e.message }, job };
      }
      return { result: { ...at, status: 'scheduled', retry: false, id: entry.id, sendAt: job.sendAt }, job };
    }
    if (rt.now() >= deadline) {
      return {
        result: {
          ...at,
          status: 'not-started',
          retry: true,
          code: 'DEADLINE',
          message: 'not started: the invocation was close to its time limit',
        },
        job,
      };
    }
    try {
      // Scheduled jobs counted against their caller when they were scheduled (core/schedule.ts):
      // their send counts like a trigger's, so they are not counted twice.
      const fromTrigger = item.caller === undefined || item.scheduled === true;
      const o = await rt.sender.send(keyed, {
        requestId: fc.requestId ?? 'event',
        caller,
        logger,
        claimTtlMs: claimTtl,
        fromTrigger,
        source: options.source,
      });
      const status: JobStatus = o.replayed ? 'replayed' : o.status;
      const retry = o.status === 'failed' && o.error?.retryable === true;
      const result: JobResult = { ...at, status, retry };
      if (o.error) Object.assign(result, { code: o.error.code, message: o.error.message });
      if (o.recorded === false) result.recorded = false;
      return { result, job };
    } catch (err) {
      const d = deferral(err);
      if (d?.action === 'defer') {
        // A deferral is never refused by the pending cap (maxPending 0): the job was accepted already.
        const entry = toScheduled(keyed, caller, key, d.retryAt.getTime());
        entry.expiresAt = expiryOf(rt, entry.dueAt);
        try {
          await rt.store.schedule(entry, { now: rt.now() });
        } catch (err2) {
          const e = storeUnavailable(
            err2,
            'nothing was sent; the job may or may not be scheduled (a slow store still runs the write), so retry with the same idempotencyKey: a retry replaces the entry, never doubles it',
          );
          return { result: { ...at, status: 'failed', retry: true, code: e.code, message: e.message }, job };
        }
        countLater(rt.store, usageEvent(keyed, caller, 'scheduled', rt.now()), logger); // issue 13
        return {
          result: {
            ...at,
            status: 'deferred',
            retry: false,
            code: d.code,
            message: d.message,
            id: entry.id,
            sendAt: d.retryAt.toISOString(),
          },
          job,
        };
      }
      if (d) return { result: { ...at, status: 'refused', retry: false, code: d.code, message: d.message }, job };
      if (err instanceof NotifyError) {
        // DUPLICATE_IN_PROGRESS is retryable: another delivery holds the claim; leave this one for redelivery.
        const status: JobStatus = err.code === 'DUPLICATE_IN_PROGRESS' ? 'in-progress' : err.retryable ? 'failed' : 'rejected';
        return { result: { ...at, status, retry: err.retryable, code: err.code, message: err.message }, job };
      }
      logger.error({ event: 'batch-job', ref: item.ref, phone, err: { name: (err as Error)?.name } }, 'job failed unexpectedly');
      return { result: { ...at, status: 'failed', retry: true, code: 'INTERNAL', message: 'unexpected failure' }, job };
    }
  }

  const results = await Promise.all(
    items.map((item) =>
      limit(async () => {
        const { result, job } = await one(item);
        const level = result.status === 'poison' || (result.retry && result.status !== 'in-progress') ? 'warn' : 'info';
        logger[level](
          {
            event: 'batch-job',
            ref: item.ref,
            status: result.status,
            retry: result.retry,
            code: result.code,
            phone: result.phone,
            ...(result.recorded === false ? { recorded: false } : {}),
          },
          result.message ? `${result.status}: ${result.message}` : result.status,
        );
        if (options.onResult) await options.onResult(item, result, job);
        return result;
      }),
    ),
  );
  const counts: BatchSummary['counts'] = {};
  for (const r of results) counts[r.status] = (counts[r.status] ?? 0) + 1;
  const summary: BatchSummary = {
    source: options.source,
    total: results.length,
    counts,
    retry: results.filter((r) => r.retry).length,
    results,
  };
  logger[summary.retry > 0 ? 'warn' : 'info'](
    { event: 'batch', total: summary.total, counts, retry: summary.retry, ms: rt.now() - started },
    `batch of ${summary.total} from ${options.source} done`,
  );
  return summary;
}

import pLimit, { type LimitFunction } from 'p-limit';
import { MAX_BATCH_CONCURRENCY } from '../config.ts';
import { ChannelMismatchError, InvalidRequestError, NotifyError, scheduleUnsure } from '../errors.ts';
import { deferral } from '../guards/contract.ts';
import { type Channel, type Job, parseJob } from '../jobs.ts';
import type { Logger } from '../log.ts';
import { maskPhone } from '../phone.ts';
import type { ScheduledJob } from '../store/types.ts';
import { countLater, usageEvent } from '../usage/recorder.ts';
import { dueTimeOf, expiryOf, type ScheduleDeps, scheduleJob, toScheduled } from './schedule.ts';
import type { Sender } from './send.ts';

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

/**
 * What the batch runner needs, as plain values: no FC type reaches the core. The FC layer
 * (shared/fc/adapters/adapter.ts, `batchDeps`) builds it from FC's context and the runtime,
 * with the defaults of shared/config.ts.
 */
export interface BatchDeps extends ScheduleDeps {
  /** Trigger kind: `mns`, `oss`, `timer`; the store key owner when an item names none. */
  source: string;
  /** The channel this function sends, and its sender; either undefined = misconfigured. */
  channel: Channel | undefined;
  sender: Sender | undefined;
  /** Why the function is misconfigured (names variables, never values), for the CONFIG result. */
  configProblem?: string | undefined;
  /** For log lines and the sender. */
  requestId: string;
  logger: Logger;
  /** When the batch started (epoch ms), for its duration in the log. */
  startedAt: number;
  /** Absolute time (epoch ms) after which no new job is started (the rest are `not-started`). */
  deadline: number;
  /** How long a claim lives before it is stale (core/idempotency.ts claimTtlMs). */
  claimTtlMs: number;
  /** Jobs in flight at once (clamped to MAX_BATCH_CONCURRENCY, the provider client's socket pool). */
  concurrency: number;
  /**
   * The slots to take, when several runBatch calls of one invocation share them (the chunks of an
   * OSS batch file run overlapped, and together never exceed `concurrency`): `batchLimit()`.
   */
  limit?: LimitFunction;
}

/** The slots of a batch: `concurrency` clamped to 1 … MAX_BATCH_CONCURRENCY. */
export function batchLimit(concurrency: number): LimitFunction {
  return pLimit(Math.max(1, Math.min(concurrency, MAX_BATCH_CONCURRENCY)));
}

/** Called for each finished job (timers ack scheduled jobs, OSS writes a result line). */
export type OnResult = (item: BatchItem, result: JobResult, job: Job | undefined) => Promise<void>;

export async function runBatch(items: readonly BatchItem[], deps: BatchDeps, onResult?: OnResult): Promise<BatchSummary> {
  const { source, now, deadline } = deps;
  const logger = deps.logger.child({ requestId: deps.requestId, source });
  // Never more than the provider client's socket pool (config refuses more; clamped again here
  // for dependencies built by hand), so no job of a batch waits for a socket. A job holds its
  // slot from its start until its provider call is over (or it ends without one); its outcome is
  // then recorded outside the limit while the next job starts, so that job's claim and limits
  // travel to the store while this job's record does (issue 15). Every job is still awaited,
  // record and all, before the batch answers.
  const limit = deps.limit ?? batchLimit(deps.concurrency);

  /** Runs `one(item)`, holding a slot of `limit` until its provider call is over or it ends. */
  async function slotted(item: BatchItem, fields: Record<string, unknown>): Promise<{ result: JobResult; job?: Job }> {
    let whole: Promise<{ result: JobResult; job?: Job }> | undefined;
    await limit(
      () =>
        new Promise<void>((free) => {
          whole = one(item, free, fields);
          whole.then(
            () => free(),
            () => free(),
          );
        }),
    );
    return whole as Promise<{ result: JobResult; job?: Job }>;
  }

  async function one(
    item: BatchItem,
    providerDone: () => void,
    fields: Record<string, unknown>,
  ): Promise<{ result: JobResult; job?: Job }> {
    const base = { ref: item.ref };
    if (item.problem !== undefined)
      return { result: { ...base, status: 'poison', retry: false, code: 'INVALID_REQUEST', message: item.problem } };
    const { channel, sender } = deps;
    if (!channel || !sender) {
      // Retryable: once the configuration is fixed, the redelivery sends (the message names the variables, no values).
      const message = deps.configProblem ?? 'function is misconfigured';
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
    const caller = item.caller ?? source;
    const key = job.idempotencyKey ?? item.defaultKey;
    const keyed: Job = { ...job, idempotencyKey: key };
    const at = { ...base, phone };

    const dueAt = dueTimeOf(job, now());
    if (dueAt !== undefined) {
      let entry: ScheduledJob;
      try {
        entry = await scheduleJob(deps, { job: keyed, caller, key, dueAt, http: false });
      } catch (err) {
        // Past SCHEDULE_MAX_DAYS: the job itself is wrong, a redelivery would not change it.
        if (err instanceof InvalidRequestError)
          return { result: { ...at, status: 'poison', retry: false, code: err.code, message: err.message }, job };
        if (err instanceof NotifyError) throw err;
        // The store failed: maybe not scheduled (a stalled store still runs the write later); a redelivery schedules it under the same id, never twice.
        const e = scheduleUnsure(err);
        return { result: { ...at, status: 'failed', retry: true, code: e.code, message: e.message }, job };
      }
      return { result: { ...at, status: 'scheduled', retry: false, id: entry.id, sendAt: job.sendAt }, job };
    }
    if (now() >= deadline) {
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
      const o = await sender.send(keyed, {
        requestId: deps.requestId,
        caller,
        logger,
        claimTtlMs: deps.claimTtlMs,
        fromTrigger,
        source,
        providerDone,
        // One line per job (issue 15): the send's fields (outcome, provider code and request id,
        // attempts, upstream time, …) join the job's `batch-job` line, as they join an HTTP request's.
        logFields: fields,
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
        entry.expiresAt = expiryOf(deps.limits, entry.dueAt);
        try {
          await deps.store.schedule(entry, { now: now() });
        } catch (err2) {
          const e = scheduleUnsure(err2);
          return { result: { ...at, status: 'failed', retry: true, code: e.code, message: e.message }, job };
        }
        countLater(deps.store, usageEvent(keyed, caller, 'scheduled', now()), logger); // issue 13
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
    items.map((item) => {
      const fields: Record<string, unknown> = {};
      return slotted(item, fields).then(async ({ result, job }) => {
        // The send's own level is kept: error when it must alarm (credentials refused, store down:
        // its message then names it), warn for an outcome someone should look at.
        const alert = typeof fields.alert === 'string' ? fields.alert : undefined;
        const level = alert
          ? 'error'
          : result.status === 'poison' ||
              result.status === 'unknown' ||
              result.status === 'failed' ||
              (result.retry && result.status !== 'in-progress')
            ? 'warn'
            : 'info';
        logger[level](
          {
            ...fields,
            event: 'batch-job',
            ref: item.ref,
            status: result.status,
            retry: result.retry,
            code: result.code,
            phone: result.phone,
            ...(result.recorded === false ? { recorded: false } : {}),
          },
          alert ?? (result.message ? `${result.status}: ${result.message}` : result.status),
        );
        if (onResult) await onResult(item, result, job);
        return result;
      });
    }),
  );
  const counts: BatchSummary['counts'] = {};
  for (const r of results) counts[r.status] = (counts[r.status] ?? 0) + 1;
  const summary: BatchSummary = {
    source,
    total: results.length,
    counts,
    retry: results.filter((r) => r.retry).length,
    results,
  };
  logger[summary.retry > 0 ? 'warn' : 'info'](
    { event: 'batch', total: summary.total, counts, retry: summary.retry, ms: now() - deps.startedAt },
    `batch of ${summary.total} from ${source} done`,
  );
  return summary;
}

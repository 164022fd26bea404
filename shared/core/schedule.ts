import type { LimitConfig, ScheduleLimits } from '../config.ts';
import { InvalidRequestError, NotifyError } from '../errors.ts';
import { limitMessage, limitRules } from '../guards/rate-limit.ts';
import { sha256 } from '../hash.ts';
import type { Job } from '../jobs.ts';
import type { Limiter } from '../limiter/limiter.ts';
import type { Logger } from '../log.ts';
import { maskPhone } from '../phone.ts';
import type { ScheduledJob, Store } from '../store/types.ts';
import { countLater, usageEvent } from '../usage/recorder.ts';

/**
 * Scheduling a job for its `sendAt` (docs/limits.md, "Scheduled jobs"):
 * - `sendAt` at most SCHEDULE_MAX_DAYS ahead (400 INVALID_REQUEST; a poison job from a trigger);
 * - an HTTP caller's scheduling counts against its per-caller limits (LIMIT_CALLER_PER_MINUTE,
 *   LIMIT_CALLER_DAILY) now, as a send would — and only now: the timer's send later counts against
 *   the per-phone, verification and global limits, as trigger sends do, so one job counts once
 *   against its caller. Per-phone limits are not counted at scheduling: they are about when a
 *   phone receives messages, which is the send;
 * - an HTTP caller has at most SCHEDULE_MAX_PENDING jobs waiting per channel (429 RATE_LIMITED);
 * - every entry expires SCHEDULE_EXPIRE_HOURS after it is due (the timer drops it with a log line).
 */

/** What scheduling needs, as plain values (the FC layer builds it from the runtime and config.ts). */
export interface ScheduleDeps {
  store: Store;
  now: () => number;
  logger: Logger;
  /** SCHEDULE_MAX_PENDING, SCHEDULE_MAX_DAYS, SCHEDULE_EXPIRE_HOURS. */
  limits: ScheduleLimits;
  /** The per-caller rate limits an HTTP caller's scheduling counts against; both absent = none. */
  rateLimits?: LimitConfig | undefined;
  limiter?: Limiter | undefined;
}

/** A stable id for a job scheduled from `caller` + `key`: scheduling the same job twice keeps one entry. */
export function scheduleId(caller: string, key: string): string {
  return sha256(`${caller}\n${key}`, 'base64url').slice(0, 22);
}

/** The job as stored for the timer: JSON without `sendAt`, and with the key it will be sent under. */
export function toScheduled(job: Job, caller: string, key: string, dueAt: number, id = scheduleId(caller, key)): ScheduledJob {
  const { sendAt: _s, ...rest } = job;
  return { id, channel: job.channel, caller, key, job: { ...rest, idempotencyKey: key }, dueAt };
}

/** When an entry due at `dueAt` stops being sent. */
export function expiryOf(limits: ScheduleLimits, dueAt: number): number {
  return dueAt + limits.expireHours * 3_600_000;
}

/** `sendAt` further ahead than SCHEDULE_MAX_DAYS is the caller's mistake. */
export function checkHorizon(d: ScheduleDeps, dueAt: number): void {
  const days = d.limits.maxDays;
  if (dueAt > d.now() + days * 86_400_000) {
    throw new InvalidRequestError(`sendAt may be at most ${days} days ahead (SCHEDULE_MAX_DAYS)`, 'sendAt');
  }
}

export interface ScheduleRequest {
  job: Job;
  caller: string;
  key: string;
  dueAt: number;
  /** An HTTP caller: its per-caller limits and pending cap apply. Trigger jobs (MNS, OSS) pass false. */
  http: boolean;
}

export async function scheduleJob(d: ScheduleDeps, r: ScheduleRequest): Promise<ScheduledJob> {
  checkHorizon(d, r.dueAt);
  const entry = toScheduled(r.job, r.caller, r.key, r.dueAt);
  entry.expiresAt = expiryOf(d.limits, r.dueAt);
  const now = d.now();
  const limits = d.rateLimits;
  let refund: (() => Promise<void>) | undefined;
  if (r.http && limits && d.limiter) {
    const rules = limitRules(r.job, r.caller, undefined, limits).filter((rule) => rule.name.startsWith('caller-'));
    if (rules.length > 0) {
      const verdict = await d.limiter.consume(rules, now);
      if (!verdict.allowed) {
        d.logger.warn(
          { event: 'limit', rule: verdict.rule, caller: r.caller, channel: r.job.channel, phone: maskPhone(r.job.phone), scheduling: true },
          `limit reached: ${verdict.rule}`,
        );
        throw new NotifyError(
          'RATE_LIMITED',
          `${limitMessage(verdict.rule, limits)} (scheduling counts as a send); try again after ${new Date(verdict.retryAt).toISOString()}`,
          {
            retryable: true,
            retryAfter: Math.max(1, Math.ceil((verdict.retryAt - now) / 1000)),
          },
        );
      }
      const limiter = d.limiter;
      refund = () => limiter.refund(rules, verdict.token);
    }
  }
  const maxPending = r.http ? d.limits.maxPending : 0;
  const stored = await d.store.schedule(entry, { maxPending, now }).catch(async (err: unknown) => {
    await refund?.().catch(() => undefined);
    throw err;
  });
  if (!stored) {
    await refund?.();
    d.logger.warn(
      { event: 'limit', rule: 'schedule-pending', caller: r.caller, channel: r.job.channel, max: maxPending },
      'limit reached: schedule-pending',
    );
    throw new NotifyError(
      'RATE_LIMITED',
      `this caller already has ${maxPending} ${r.job.channel} jobs scheduled (SCHEDULE_MAX_PENDING); cancel some or wait until they are sent`,
      {
        retryable: true,
        retryAfter: 60,
      },
    );
  }
  countLater(d.store, usageEvent(r.job, r.caller, 'scheduled', now), d.logger); // issue 13
  return entry;
}

/**
 * The scheduling rule, written once: a job whose `sendAt` lies in the future is scheduled for
 * that time (HTTP and triggers alike); a `sendAt` now or past is sent at once. Returns the due time.
 */
export function dueTimeOf(job: { sendAt?: string | undefined }, now: number): number | undefined {
  if (job.sendAt === undefined) return undefined;
  const due = Date.parse(job.sendAt);
  return due > now ? due : undefined;
}

import { DEFAULT_SCHEDULE_LIMITS } from '../config.ts';
import { InvalidRequestError, NotifyError } from '../errors.ts';
import type { Runtime } from '../fc/runtime.ts';
import { limitMessage, limitRules } from '../guards/rate-limit.ts';
import type { Job } from '../jobs.ts';
import { maskPhone } from '../phone.ts';
import type { ScheduledJob } from '../store/types.ts';
import { countLater, usageEvent } from '../usage/recorder.ts';
import { toScheduled } from './batch.ts';

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

/** When an entry due at `dueAt` stops being sent. */
export function expiryOf(rt: Runtime, dueAt: number): number {
  return dueAt + (rt.config?.schedule.expireHours ?? DEFAULT_SCHEDULE_LIMITS.expireHours) * 3_600_000;
}

/** `sendAt` further ahead than SCHEDULE_MAX_DAYS is the caller's mistake. */
export function checkHorizon(rt: Runtime, dueAt: number): void {
  const days = rt.config?.schedule.maxDays ?? DEFAULT_SCHEDULE_LIMITS.maxDays;
  if (dueAt > rt.now() + days * 86_400_000) {
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

export async function scheduleJob(rt: Runtime, r: ScheduleRequest): Promise<ScheduledJob> {
  checkHorizon(rt, r.dueAt);
  const entry = toScheduled(r.job, r.caller, r.key, r.dueAt);
  entry.expiresAt = expiryOf(rt, r.dueAt);
  const now = rt.now();
  const limits = rt.config?.limits;
  let refund: (() => Promise<void>) | undefined;
  if (r.http && limits && rt.limiter) {
    const rules = limitRules(r.job, r.caller, undefined, limits).filter((rule) => rule.name.startsWith('caller-'));
    if (rules.length > 0) {
      const d = await rt.limiter.consume(rules, now);
      if (!d.allowed) {
        rt.logger.warn(
          { event: 'limit', rule: d.rule, caller: r.caller, channel: r.job.channel, phone: maskPhone(r.job.phone), scheduling: true },
          `limit reached: ${d.rule}`,
        );
        throw new NotifyError(
          'RATE_LIMITED',
          `${limitMessage(d.rule, limits)} (scheduling counts as a send); try again after ${new Date(d.retryAt).toISOString()}`,
          {
            retryable: true,
            retryAfter: Math.max(1, Math.ceil((d.retryAt - now) / 1000)),
          },
        );
      }
      const limiter = rt.limiter;
      refund = () => limiter.refund(rules, d.token);
    }
  }
  const maxPending = r.http ? (rt.config?.schedule.maxPending ?? DEFAULT_SCHEDULE_LIMITS.maxPending) : 0;
  const stored = await rt.store.schedule(entry, { maxPending, now }).catch(async (err: unknown) => {
    await refund?.().catch(() => undefined);
    throw err;
  });
  if (!stored) {
    await refund?.();
    rt.logger.warn(
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
  countLater(rt.store, usageEvent(r.job, r.caller, 'scheduled', now), rt.logger); // issue 13
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

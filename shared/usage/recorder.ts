import type { Outcome, SendContext, Sender } from '../core/send.ts';
import { GuardRefusal, NotifyError } from '../errors.ts';
import { type Job, parseJob } from '../jobs.ts';
import { errorFields, type Logger } from '../log.ts';
import { maskPhone } from '../phone.ts';
import type { Store } from '../store/types.ts';
import { BILLABLE, beijingDay, type UsageChannel, type UsageEvent, type UsageOutcome, type UsageWrite } from './counters.ts';
import type { AlertKind, QuotaWatch } from './quota.ts';

/**
 * The sender's hooks for usage (issue 13): what it counts and when. Counting never fails or
 * delays a send: the count of a recorded outcome rides in the record's round trip
 * (Store.complete), any other count is sent without being awaited, and every failure is a
 * warn line (`event=usage-count-failed`), never an error answer.
 */
export interface UsageHooks {
  /** The count to send with a new outcome record. */
  write(job: Job, ctx: SendContext, status: UsageOutcome): UsageWrite;
  /** A count without a record (keyless sends, releases, refusals): sent now, not awaited. */
  count(job: Job, ctx: SendContext, status: UsageOutcome): void;
  /** A guard or limit refused the job: `refused`, unless a trigger's batch will defer it (counted `scheduled` there). */
  refused(job: Job, ctx: SendContext, err: unknown): void;
  /** After every new outcome: quota checks and alerts (not awaited). */
  observed(job: Job, ctx: SendContext, outcome: Outcome): void;
}

export function usageEvent(job: Job, caller: string, outcome: UsageOutcome, now: number): UsageEvent {
  return { channel: job.channel, outcome, caller, template: 'skin' in job ? job.skin : '-', day: beijingDay(now) };
}

/** Sends one count without waiting for it; a failure is logged, never thrown. */
export function countLater(store: Store, e: UsageEvent, logger: Logger): void {
  store.countUsage(e).catch((err: unknown) => usageFailed(logger, e, err));
}

function usageFailed(logger: Logger, e: UsageEvent, err: unknown): void {
  logger.warn(
    { event: 'usage-count-failed', channel: e.channel, outcome: e.outcome, err: errorFields(err) },
    'usage counter not written (the job is unaffected)',
  );
}

export function createUsageHooks(deps: { store: Store; now: () => number; quota?: QuotaWatch }): UsageHooks {
  return {
    write(job, ctx, status) {
      const e = usageEvent(job, ctx.caller, status, deps.now());
      return { ...e, onError: (err) => usageFailed(ctx.logger, e, err) };
    },
    count(job, ctx, status) {
      countLater(deps.store, usageEvent(job, ctx.caller, status, deps.now()), ctx.logger);
    },
    refused(job, ctx, err) {
      if (!(err instanceof NotifyError)) return;
      // A trigger's job refused for now is deferred by the batch (core/batch.ts) and counted there as scheduled.
      if (err instanceof GuardRefusal && err.action === 'defer' && ctx.source !== undefined && ctx.source !== 'http') return;
      if (err.code === 'DUPLICATE_IN_PROGRESS' || err.code === 'INVALID_REQUEST') return;
      countLater(deps.store, usageEvent(job, ctx.caller, 'refused', deps.now()), ctx.logger);
    },
    observed(job, ctx, outcome) {
      // Alerts never alert about themselves (no recursion); replays were counted when first sent.
      if (!deps.quota || ctx.source === 'alert' || outcome.replayed) return;
      const channel = job.channel;
      if (outcome.error?.code === 'QUOTA_EXHAUSTED') void deps.quota.exhausted(channel, ctx.logger);
      else if (BILLABLE.includes(outcome.status as UsageOutcome)) void deps.quota.billed(channel, ctx.logger);
    },
  };
}

/**
 * The alert sender for ALERT_PHONES: through our own pipeline (guards, limits, idempotency), at
 * most once per channel and Beijing day (a marker in the day's hash, and an idempotency key per
 * phone and day). An alert about the SMS package going EMPTY goes by voice (an SMS would fail the
 * same way); every other alert goes by SMS with ALERT_SKIN (a catalog template whose one
 * parameter takes the text); without ALERT_SKIN, SMS alerts stay in the log. Alert sends carry
 * source `alert`, which the hooks above never alert about.
 */
export function createAlertSender(deps: {
  store: Store;
  now: () => number;
  phones: readonly string[];
  skin: string | undefined;
  sender: () => Sender | undefined;
}): (channel: UsageChannel, kind: AlertKind, text: string, logger: Logger) => Promise<void> {
  return async (channel, kind, text, logger) => {
    const sender = deps.sender();
    if (deps.phones.length === 0 || !sender) return;
    const by: UsageChannel = channel === 'sms' && kind === 'quota-exhausted' ? 'voice' : 'sms';
    if (by === 'sms' && !deps.skin) {
      logger.warn({ event: 'alert-skipped', channel, kind }, 'ALERT_PHONES is set but ALERT_SKIN is not: the alert stays in the log');
      return;
    }
    const day = beijingDay(deps.now());
    try {
      if (!(await deps.store.markOnce(day, `alert|${channel}`))) return;
    } catch (err) {
      logger.warn({ event: 'alert-failed', channel, err: errorFields(err) }, 'alert not sent: the store could not be reached');
      return;
    }
    for (const phone of deps.phones) {
      const raw =
        by === 'voice'
          ? { channel: 'voice', phone, content: text.slice(0, 200) }
          : { channel: 'sms', phone, skin: deps.skin, params: [text.slice(0, 200)] };
      try {
        const job = parseJob({ ...raw, idempotencyKey: `alert-${channel}-${day}-${phone}` }, by);
        const o = await sender.send(job, { requestId: `alert-${day}`, caller: 'alerts', source: 'alert', logger, fromTrigger: true });
        logger.warn(
          { event: 'alert-sent', channel, kind, by, phone: maskPhone(phone), outcome: o.status, errorCode: o.error?.code },
          `quota alert ${o.status}`,
        );
      } catch (err) {
        logger.warn({ event: 'alert-failed', channel, by, phone: maskPhone(phone), err: errorFields(err) }, 'quota alert not sent');
      }
    }
  };
}

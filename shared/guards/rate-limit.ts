import type { LimitConfig } from '../config.ts';
import { GuardRefusal } from '../errors.ts';
import { sha256 } from '../hash.ts';
import type { Job } from '../jobs.ts';
import { DAY_MS, HOUR_MS, type Limiter, type LimitRule, MINUTE_MS } from '../limiter/limiter.ts';
import type { Logger } from '../log.ts';
import { maskPhone } from '../phone.ts';
import { isVerificationFallback } from '../verify/mark.ts';
import type { TemplateKind, TemplateKindOf } from './template-kind.ts';

/**
 * Which limits a send counts against. Phones are keyed per channel (the SMS and voice vendors
 * count separately) by a hash, so Redis keys hold no phone numbers in clear; the verification
 * limits are per phone across both channels (docs/verification.md).
 */
export function limitRules(job: Job, caller: string | undefined, kind: TemplateKind | undefined, c: LimitConfig): LimitRule[] {
  const phone = sha256(job.phone, 'base64url').slice(0, 16);
  // Groups (one Redis hash slot each, one script per group): this phone, this caller, the budget.
  const p = `phone:${job.channel}:${phone}`;
  const rules: LimitRule[] = [];
  if (c.phoneIntervalS > 0)
    rules.push({ kind: 'interval', name: 'phone-interval', group: p, key: `${p}:last`, intervalMs: c.phoneIntervalS * 1000 });
  if (c.phoneDaily > 0)
    rules.push({ kind: 'window', name: 'phone-daily', group: p, key: `${p}:day`, limit: c.phoneDaily, windowMs: DAY_MS });
  // Verification limits count per phone across both channels (a voice code and an SMS code to
  // one phone share the windows): their own group, without the channel. A voice fallback of an
  // SMS start follows that SMS at once, so the interval does not apply to it (the windows do).
  if (kind === 'verification') {
    const g = `vlimit:${phone}`;
    const v = g;
    if (c.verificationIntervalS > 0 && !isVerificationFallback(job))
      rules.push({
        kind: 'interval',
        name: 'verification-interval',
        group: g,
        key: `${v}:last`,
        intervalMs: c.verificationIntervalS * 1000,
      });
    if (c.verificationHourly > 0)
      rules.push({
        kind: 'window',
        name: 'verification-hourly',
        group: g,
        key: `${v}:hour`,
        limit: c.verificationHourly,
        windowMs: HOUR_MS,
      });
    if (c.verificationDaily > 0)
      rules.push({ kind: 'window', name: 'verification-daily', group: g, key: `${v}:day`, limit: c.verificationDaily, windowMs: DAY_MS });
  }
  const k = `caller:${caller}`;
  if (caller !== undefined && c.callerPerMinute > 0)
    rules.push({ kind: 'window', name: 'caller-per-minute', group: k, key: `${k}:min`, limit: c.callerPerMinute, windowMs: MINUTE_MS });
  if (caller !== undefined && c.callerDaily > 0)
    rules.push({ kind: 'window', name: 'caller-daily', group: k, key: `${k}:day`, limit: c.callerDaily, windowMs: DAY_MS });
  if (c.globalDaily > 0)
    rules.push({ kind: 'window', name: 'global-daily', group: 'global', key: 'global:day', limit: c.globalDaily, windowMs: DAY_MS });
  return rules;
}

const WHY: Record<string, (c: LimitConfig) => string> = {
  'phone-interval': (c) => `this phone was sent to less than ${c.phoneIntervalS} s ago`,
  'phone-daily': (c) => `this phone has had its ${c.phoneDaily} sends for today (Beijing time)`,
  'verification-interval': (c) => `a verification code went to this phone less than ${c.verificationIntervalS} s ago`,
  'verification-hourly': (c) => `this phone has had ${c.verificationHourly} verification codes this hour`,
  'verification-daily': (c) => `this phone has had ${c.verificationDaily} verification codes today (Beijing time)`,
  'caller-per-minute': (c) => `this caller is over its ${c.callerPerMinute} sends a minute`,
  'caller-daily': (c) => `this caller is over its ${c.callerDaily} sends today (Beijing time)`,
  'global-daily': (c) => `this deployment's daily budget of ${c.globalDaily} sends is used up (Beijing time)`,
};

/** Why `rule` refused, for the caller (no values but the configured limits). */
export function limitMessage(rule: string, c: LimitConfig): string {
  return WHY[rule]?.(c) ?? 'a sending limit is reached';
}

export interface QuotaDeps {
  limiter: Limiter;
  limits: LimitConfig;
  now: () => number;
  kindOf: TemplateKindOf;
}

/**
 * Counts a send that is about to go to the provider; refuses with RATE_LIMITED (429 +
 * Retry-After) when any limit is reached. Returns the refund for a send that turns out not to
 * have reached the vendor.
 */
export function createQuota(deps: QuotaDeps) {
  return {
    async reserve(job: Job, ctx: { caller: string; logger: Logger; fromTrigger?: boolean }): Promise<() => Promise<void>> {
      const kind = deps.kindOf(job);
      const rules = limitRules(job, ctx.fromTrigger ? undefined : ctx.caller, kind, deps.limits);
      const now = deps.now();
      const decision = await deps.limiter.consume(rules, now);
      if (!decision.allowed) {
        // A verification code sent late is useless: never deferred, always reported.
        const action = kind === 'verification' ? 'report' : deps.limits.action;
        ctx.logger.warn(
          {
            event: 'limit',
            rule: decision.rule,
            caller: ctx.caller,
            channel: job.channel,
            phone: maskPhone(job.phone),
            retryAt: new Date(decision.retryAt).toISOString(),
            action,
          },
          `limit reached: ${decision.rule}`,
        );
        const why = WHY[decision.rule]?.(deps.limits) ?? 'a sending limit is reached';
        throw new GuardRefusal('RATE_LIMITED', `${why}; try again after ${new Date(decision.retryAt).toISOString()}`, decision.rule, {
          retryAt: decision.retryAt,
          now,
          action,
        });
      }
      return () => deps.limiter.refund(rules, decision.token);
    },
  };
}

export type Quota = ReturnType<typeof createQuota>;

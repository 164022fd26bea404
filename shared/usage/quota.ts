import type { Logger } from '../log.ts';
import { BILLABLE, beijingDay, daysBetween, MAX_REPORT_DAYS, totalField, type UsageChannel, type UsageStore } from './counters.ts';

/**
 * The marketplace package per channel (issue 13, docs/usage.md): QUOTA_LONG_SMS / QUOTA_VOICE =
 * `<calls bought>@<Beijing day the package was set>[+<calls already used then>]`, e.g.
 * `20740@2026-12-01` or, set in the middle of a package whose console shows 13818/20740,
 * `20740@2026-12-01+13818`. Used = that offset + every billable call (sent, rejected) counted from
 * that day on. The day must lie within the counters' retention (MAX_REPORT_DAYS).
 */
export interface QuotaSpec {
  purchased: number;
  since: string;
  usedBefore: number;
}

export interface QuotaStatus {
  purchased: number;
  used: number;
  remaining: number;
  remainingRatio: number;
  since: string;
}

/** Alibaba warns at 20 % left; so do we. */
export const QUOTA_LOW_RATIO = 0.2;
/** How often an instance re-reads the counters for the quota check (between reads it adds its own sends). */
export const QUOTA_REFRESH_MS = 5 * 60_000;

export function parseQuota(name: string, raw: string | undefined, problems: string[]): QuotaSpec | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const m = /^\s*(\d{1,9})\s*@\s*(\d{4}-\d{2}-\d{2})\s*(?:\+\s*(\d{1,9})\s*)?$/.exec(raw);
  const since = m?.[2];
  if (
    !m ||
    !since ||
    Number.isNaN(Date.parse(`${since}T00:00:00Z`)) ||
    new Date(`${since}T00:00:00Z`).toISOString().slice(0, 10) !== since
  ) {
    problems.push(
      `${name} must look like 20740@2026-12-01 (calls bought @ Beijing day the package was set, optionally +calls already used)`,
    );
    return undefined;
  }
  const purchased = Number(m[1]);
  if (purchased < 1) problems.push(`${name} must name at least 1 call bought`);
  return { purchased, since, usedBefore: Number(m[3] ?? 0) };
}

/** Used and remaining of a package, from the per-day totals (one HMGET per day since it was set, sent together). */
export async function quotaStatus(store: UsageStore, spec: QuotaSpec, channel: UsageChannel, now: number): Promise<QuotaStatus> {
  const today = beijingDay(now);
  let days = spec.since > today ? [] : daysBetween(spec.since, today);
  if (days.length > MAX_REPORT_DAYS + 30) days = days.slice(-(MAX_REPORT_DAYS + 30));
  const totals =
    days.length === 0
      ? []
      : await store.readTotals(
          days,
          BILLABLE.map((o) => totalField(channel, o)),
        );
  let used = spec.usedBefore;
  for (const row of totals) for (const v of row) used += Number(v ?? 0) || 0;
  return statusOf(spec, used);
}

function statusOf(spec: QuotaSpec, used: number): QuotaStatus {
  const remaining = Math.max(0, spec.purchased - used);
  return {
    purchased: spec.purchased,
    used,
    remaining,
    remainingRatio: Math.round((remaining / spec.purchased) * 10_000) / 10_000,
    since: spec.since,
  };
}

export type AlertKind = 'quota-low' | 'quota-exhausted';
/** The channels with a package quota, and the variable that sets it (docs/configuration.md). */
export const QUOTA_VARIABLES: Partial<Record<UsageChannel, string>> = { sms: 'QUOTA_LONG_SMS', voice: 'QUOTA_VOICE' };

export type SendAlert = (channel: UsageChannel, kind: AlertKind, text: string, logger: Logger) => Promise<void>;

/**
 * Watches one instance's billable sends against the packages: `event=quota-low` (error level)
 * once per channel per Beijing day across instances (a marker in the day's usage hash), and
 * `event=quota-exhausted` as soon as the gateway answers QUOTA_EXHAUSTED (at most once a minute
 * per instance and channel: a batch of 1000 jobs must not write 1000 alarm lines). Never awaited by a send.
 */
export class QuotaWatch {
  readonly #state = new Map<UsageChannel, { used: number; at: number; refreshing?: Promise<void> }>();
  readonly #lowDone = new Set<string>();
  readonly #exhaustedAt = new Map<UsageChannel, number>();

  constructor(
    readonly deps: {
      store: UsageStore;
      now: () => number;
      quotas: Partial<Record<UsageChannel, QuotaSpec>>;
      alert?: SendAlert;
      refreshMs?: number;
    },
  ) {}

  /** A billable send of `channel` happened (the counter write is on its way). Resolves when checked (tests). */
  billed(channel: UsageChannel, logger: Logger): Promise<void> {
    const spec = this.deps.quotas[channel];
    if (!spec) return Promise.resolve();
    const now = this.deps.now();
    const s = this.#state.get(channel);
    if (s && now - s.at < (this.deps.refreshMs ?? QUOTA_REFRESH_MS)) {
      s.used += 1;
      return this.#check(channel, spec, s.used, logger);
    }
    if (s?.refreshing) return s.refreshing;
    const refreshing = quotaStatus(this.deps.store, spec, channel, now)
      .then((q) => {
        this.#state.set(channel, { used: q.used, at: now });
        return this.#check(channel, spec, q.used, logger);
      })
      .catch((err: unknown) => {
        this.#state.delete(channel);
        logger.warn(
          { event: 'quota-check-failed', channel, err: { message: (err as Error)?.message } },
          'could not read the usage counters for the quota check',
        );
      });
    this.#state.set(channel, { used: s?.used ?? 0, at: s?.at ?? 0, refreshing });
    return refreshing;
  }

  async #check(channel: UsageChannel, spec: QuotaSpec, used: number, logger: Logger): Promise<void> {
    const q = statusOf(spec, used);
    if (q.remainingRatio >= QUOTA_LOW_RATIO) return;
    const day = beijingDay(this.deps.now());
    const local = `${day}|${channel}`;
    if (this.#lowDone.has(local)) return;
    this.#lowDone.add(local);
    let first: boolean;
    try {
      first = await this.deps.store.markOnce(day, `quota-low|${channel}`);
    } catch {
      // The store is down: try again on a later send (the marker keeps it to once a day).
      this.#lowDone.delete(local);
      return;
    }
    if (!first) return;
    const text = `fc-notify: ${channel} package low, ${q.remaining} of ${q.purchased} calls left (${Math.round(q.remainingRatio * 100)}%)`;
    logger.error({ event: 'quota-low', channel, ...q }, text);
    await this.deps.alert?.(channel, 'quota-low', text, logger);
  }

  /** The gateway answered QUOTA_EXHAUSTED for `channel`. */
  async exhausted(channel: UsageChannel, logger: Logger): Promise<void> {
    const now = this.deps.now();
    const last = this.#exhaustedAt.get(channel);
    if (last !== undefined && now - last < 60_000) return;
    this.#exhaustedAt.set(channel, now);
    const text = `fc-notify: ${channel} package EXHAUSTED, the gateway refuses calls; buy a package and update ${QUOTA_VARIABLES[channel] ?? 'its quota'}`;
    logger.error({ event: 'quota-exhausted', channel }, text);
    await this.deps.alert?.(channel, 'quota-exhausted', text, logger);
  }
}

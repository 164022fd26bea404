import { CHANNEL_NAMES, CHANNELS } from '../channels/index.ts';
import { InvalidRequestError } from '../errors.ts';
import { type Catalog, priceOf } from '../templates/catalog.ts';
import {
  BILLABLE,
  beijingDay,
  daysBetween,
  MAX_REPORT_DAYS,
  rowsOfDay,
  USAGE_OUTCOMES,
  type UsageChannel,
  type UsageOutcome,
  type UsageStore,
} from './counters.ts';
import { type QuotaSpec, type QuotaStatus, quotaStatus } from './quota.ts';

/**
 * The usage report (GET /usage, `npm run usage`, the console page): one shape for all three
 * (agreed with the console in issue 16, docs/usage.md).
 */

export type Counters = Record<UsageOutcome, number> & { billable: number; cost: number };

export interface UsageReport {
  from: string;
  to: string;
  timezone: 'Asia/Shanghai';
  currency: 'CNY';
  /** Yuan per billable call used for `cost` (null: no price known, cost 0). */
  pricing: Record<UsageChannel, number | null>;
  days: Array<{ date: string; channel: UsageChannel } & Counters>;
  breakdown: Array<{ date: string; channel: UsageChannel; caller: string; template: string } & Counters>;
  totals: Record<UsageChannel, Counters>;
  quota: Record<UsageChannel, QuotaStatus | null>;
}

/** Each channel's price per billable call (its description's `price` in the catalog's `pricing`). */
export function channelPrices(catalog: Catalog | undefined): Record<UsageChannel, number | undefined> {
  return Object.fromEntries(CHANNEL_NAMES.map((c) => [c, priceOf(CHANNELS[c].price, catalog)])) as Record<UsageChannel, number | undefined>;
}

export interface ReportOptions {
  from?: string | undefined;
  to?: string | undefined;
  now: number;
  pricing: Partial<Record<UsageChannel, number | undefined>>;
  quotas: Partial<Record<UsageChannel, QuotaSpec>>;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

function day(name: 'from' | 'to', v: string): string {
  if (!DAY.test(v) || Number.isNaN(Date.parse(`${v}T00:00:00Z`)) || new Date(`${v}T00:00:00Z`).toISOString().slice(0, 10) !== v) {
    throw new InvalidRequestError(`${name} must be a day as YYYY-MM-DD (Beijing time)`, name);
  }
  return v;
}

/** `from`/`to` checked: days, from ≤ to, at most MAX_REPORT_DAYS; both default to today (Beijing). */
export function reportRange(from: string | undefined, to: string | undefined, now: number): { from: string; to: string } {
  const today = beijingDay(now);
  const t = to === undefined || to === '' ? (from && from > today ? from : today) : day('to', to);
  // Without `from`: today, or `to` when that is earlier (day strings compare in order).
  const f = from === undefined || from === '' ? ([t, today].sort()[0] as string) : day('from', from);
  if (f > t) throw new InvalidRequestError('from must not be after to', 'from');
  const span = (Date.parse(`${t}T00:00:00Z`) - Date.parse(`${f}T00:00:00Z`)) / 86_400_000 + 1;
  if (span > MAX_REPORT_DAYS) throw new InvalidRequestError(`the range may cover at most ${MAX_REPORT_DAYS} days`, 'to');
  return { from: f, to: t };
}

const round4 = (n: number) => Math.round(n * 10_000) / 10_000;

function counters(): Counters {
  return { sent: 0, rejected: 0, failed: 0, unknown: 0, refused: 0, scheduled: 0, billable: 0, cost: 0 };
}

function finish(c: Counters, price: number | undefined): Counters {
  c.billable = BILLABLE.reduce((sum, o) => sum + c[o], 0);
  c.cost = round4(c.billable * (price ?? 0));
  return c;
}

export async function buildReport(store: UsageStore, o: ReportOptions): Promise<UsageReport> {
  const { from, to } = reportRange(o.from, o.to, o.now);
  const hashes = await store.readUsage(daysBetween(from, to));
  const breakdown: UsageReport['breakdown'] = [];
  const days: UsageReport['days'] = [];
  const totals = Object.fromEntries(CHANNEL_NAMES.map((c) => [c, counters()])) as UsageReport['totals'];
  for (const [date, hash] of Object.entries(hashes).sort(([a], [b]) => a.localeCompare(b))) {
    const rows = rowsOfDay(date, hash).sort(
      (a, b) => a.channel.localeCompare(b.channel) || a.caller.localeCompare(b.caller) || a.template.localeCompare(b.template),
    );
    const perChannel = new Map<UsageChannel, Counters>();
    for (const r of rows) {
      const c = counters();
      for (const k of USAGE_OUTCOMES) c[k] = r.counts[k];
      breakdown.push({ date, channel: r.channel, caller: r.caller, template: r.template, ...finish(c, o.pricing[r.channel]) });
      const d = perChannel.get(r.channel) ?? counters();
      perChannel.set(r.channel, d);
      for (const k of USAGE_OUTCOMES) {
        d[k] += r.counts[k];
        totals[r.channel][k] += r.counts[k];
      }
    }
    for (const channel of CHANNEL_NAMES) {
      const d = perChannel.get(channel);
      if (d) days.push({ date, channel, ...finish(d, o.pricing[channel]) });
    }
  }
  const quota = {} as UsageReport['quota'];
  const pricing = {} as UsageReport['pricing'];
  for (const channel of CHANNEL_NAMES) {
    finish(totals[channel], o.pricing[channel]);
    const spec = o.quotas[channel];
    quota[channel] = spec ? await quotaStatus(store, spec, channel, o.now) : null;
    pricing[channel] = o.pricing[channel] ?? null;
  }
  return {
    from,
    to,
    timezone: 'Asia/Shanghai',
    currency: 'CNY',
    pricing,
    days,
    breakdown,
    totals,
    quota,
  };
}

export const CSV_COLUMNS = ['date', 'channel', 'caller', 'template', ...USAGE_OUTCOMES, 'billable', 'cost'] as const;

function csvCell(v: string | number): string {
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** RFC 4180 text: the header, then one line per breakdown row (CRLF line ends). */
export function reportCsv(r: UsageReport): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const row of r.breakdown) lines.push(CSV_COLUMNS.map((c) => csvCell(row[c])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

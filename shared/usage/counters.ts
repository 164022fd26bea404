import { CHANNELS, type Channel } from '../channels/index.ts';
import { tagged } from '../store/keys.ts';

/**
 * Usage counters (issue 13, docs/usage.md): one count per Beijing day × channel × outcome ×
 * caller × template. In Redis one hash per day, `<prefix>{usage:<YYYY-MM-DD>}` (its own hash tag,
 * so on a cluster it is one slot per day, apart from the idempotency keys): field
 * `<channel>|<outcome>|<caller>|<template>` → count, plus a per-day total per channel and outcome
 * (`#|<channel>|<outcome>`, read by the quota check with one HMGET per day) and once-a-day
 * markers (`!<what>`, HSETNX). Kept USAGE_TTL_S (over 400 days: a year of reports plus the
 * current month). In memory the same fields live in a Map (one instance only).
 */

export const USAGE_OUTCOMES = ['sent', 'rejected', 'failed', 'unknown', 'refused', 'scheduled'] as const;
export type UsageOutcome = (typeof USAGE_OUTCOMES)[number];
/** Usage is counted per channel (shared/channels/). */
export type UsageChannel = Channel;

/**
 * Outcomes the marketplace gateway bills: every call the vendor answered. A vendor refusal
 * (`rejected`: bad template, blocked number) is an answered call; `failed` (not sent: timeout
 * before an answer, throttled, quota exhausted, auth refused), `unknown`, and our own refusals
 * and schedulings never reached the vendor or have no answer. docs/usage.md has the reasons.
 */
export const BILLABLE: readonly UsageOutcome[] = ['sent', 'rejected'];

/** 430 days: 400 days of reports (a year plus the current month) and a margin. */
export const USAGE_TTL_S = 430 * 86_400;
/** The longest range one report may cover (days kept are longer, see USAGE_TTL_S). */
export const MAX_REPORT_DAYS = 400;

export interface UsageEvent {
  channel: UsageChannel;
  outcome: UsageOutcome;
  /** Caller name, or the trigger kind (mns, oss, timer) for jobs from the deployer's triggers. */
  caller: string;
  /** The SMS skin id; `-` for voice. */
  template: string;
  /** Beijing day, YYYY-MM-DD. */
  day: string;
  n?: number;
}

/** A usage write that rides along with another store write; its failure never fails that write. */
export interface UsageWrite extends UsageEvent {
  onError?: (err: unknown) => void;
}

const BEIJING_OFFSET_MS = 8 * 3_600_000;

/** The Beijing (Asia/Shanghai, UTC+8, no DST) day holding `ms`. */
const DAY_MS = 86_400_000;
// The last day asked for (every send asks; issue 15: a Date and its ISO text per send was ~1 % of a warm call).
let lastDay = { index: Number.NaN, text: '' };

export function beijingDay(ms: number): string {
  const index = Math.floor((ms + BEIJING_OFFSET_MS) / DAY_MS);
  if (index !== lastDay.index) lastDay = { index, text: new Date(index * DAY_MS).toISOString().slice(0, 10) };
  return lastDay.text;
}

/** Every day from `from` to `to` (YYYY-MM-DD, inclusive). */
export function daysBetween(from: string, to: string): string[] {
  const out: string[] = [];
  const end = Date.parse(`${to}T00:00:00Z`);
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= end && out.length <= 5000; t += 86_400_000)
    out.push(new Date(t).toISOString().slice(0, 10));
  return out;
}

// Names are [\w.-] (callers, skins, triggers): `|` never occurs in them; anything else is replaced.
const clean = (s: string) => s.replace(/[^\w.-]/g, '_').slice(0, 64) || '-';

export function usageField(e: Pick<UsageEvent, 'channel' | 'outcome' | 'caller' | 'template'>): string {
  return `${e.channel}|${e.outcome}|${clean(e.caller)}|${clean(e.template)}`;
}

export function totalField(channel: UsageChannel, outcome: UsageOutcome): string {
  return `#|${channel}|${outcome}`;
}

export interface UsageRow {
  date: string;
  channel: UsageChannel;
  caller: string;
  template: string;
  counts: Record<UsageOutcome, number>;
}

export const zeroCounts = (): Record<UsageOutcome, number> => ({ sent: 0, rejected: 0, failed: 0, unknown: 0, refused: 0, scheduled: 0 });

/** The breakdown rows of one day's hash (totals and markers skipped). */
export function rowsOfDay(day: string, hash: Record<string, string | number>): UsageRow[] {
  const rows = new Map<string, UsageRow>();
  for (const [field, value] of Object.entries(hash)) {
    const parts = field.split('|');
    if (parts.length !== 4) continue;
    const [channel, outcome, caller, template] = parts as [UsageChannel, UsageOutcome, string, string];
    if (!Object.hasOwn(CHANNELS, channel) || !USAGE_OUTCOMES.includes(outcome)) continue;
    const id = `${channel}|${caller}|${template}`;
    let row = rows.get(id);
    if (!row) {
      row = { date: day, channel, caller, template, counts: zeroCounts() };
      rows.set(id, row);
    }
    row.counts[outcome] += Number(value) || 0;
  }
  return [...rows.values()];
}

/** `<prefix>{usage:<day>}`: one hash, one slot per day. */
export function usageKey(prefix: string, day: string): string {
  return tagged(prefix, `usage:${day}`);
}

// KEYS[1]: the day's hash. ARGV: field, total field, n, ttl seconds. One script, one key: one slot.
export const USAGE_INCR_LUA = `
redis.call('HINCRBY', KEYS[1], ARGV[1], tonumber(ARGV[3]))
redis.call('HINCRBY', KEYS[1], ARGV[2], tonumber(ARGV[3]))
if redis.call('TTL', KEYS[1]) < tonumber(ARGV[4]) - 86400 then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4])) end
return 1
`;

/** The arguments of USAGE_INCR_LUA for one event (after numKeys). */
export function usageIncrArgs(prefix: string, e: UsageEvent): [string, string, string, number, number] {
  return [usageKey(prefix, e.day), usageField(e), totalField(e.channel, e.outcome), e.n ?? 1, USAGE_TTL_S];
}

/**
 * What a store keeps for usage. Both stores implement it; the Redis one also sends a UsageWrite
 * in the same round trip as an outcome record (Store.complete).
 */
export interface UsageStore {
  /** Counts one event. Never awaited on a send's answer path. */
  countUsage(e: UsageEvent): Promise<void>;
  /** The hash of each day asked for (missing days: empty). */
  readUsage(days: readonly string[]): Promise<Record<string, Record<string, string>>>;
  /** The per-day totals of `fields` for each day (one HMGET per day, sent together). */
  readTotals(days: readonly string[], fields: readonly string[]): Promise<Array<Array<string | null>>>;
  /** True the first time `marker` is set for `day` (across instances with Redis). */
  markOnce(day: string, marker: string): Promise<boolean>;
}

/** The memory half: a day → field → count map (used by MemoryStore). */
export class MemoryUsage implements UsageStore {
  readonly #days = new Map<string, Map<string, number>>();

  #day(day: string): Map<string, number> {
    let d = this.#days.get(day);
    if (!d) {
      d = new Map();
      this.#days.set(day, d);
      // Kept as long as Redis keeps them (USAGE_TTL_S): a long-lived process does not grow for ever.
      const oldest = beijingDay(Date.parse(`${day}T00:00:00Z`) - USAGE_TTL_S * 1000);
      for (const k of this.#days.keys()) if (k < oldest) this.#days.delete(k);
    }
    return d;
  }

  add(e: UsageEvent): void {
    const d = this.#day(e.day);
    for (const f of [usageField(e), totalField(e.channel, e.outcome)]) d.set(f, (d.get(f) ?? 0) + (e.n ?? 1));
  }

  async countUsage(e: UsageEvent): Promise<void> {
    this.add(e);
  }

  async readUsage(days: readonly string[]): Promise<Record<string, Record<string, string>>> {
    const out: Record<string, Record<string, string>> = {};
    for (const day of days) out[day] = Object.fromEntries([...(this.#days.get(day) ?? [])].map(([k, v]) => [k, String(v)]));
    return out;
  }

  async readTotals(days: readonly string[], fields: readonly string[]): Promise<Array<Array<string | null>>> {
    return days.map((day) => fields.map((f) => (this.#days.get(day)?.has(f) ? String(this.#days.get(day)?.get(f)) : null)));
  }

  async markOnce(day: string, marker: string): Promise<boolean> {
    const d = this.#day(day);
    if (d.has(`!${marker}`)) return false;
    d.set(`!${marker}`, 1);
    return true;
  }
}

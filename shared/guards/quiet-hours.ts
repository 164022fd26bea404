import { specOf } from '../channels/index.ts';
import type { QuietHours } from '../config.ts';
import { GuardRefusal } from '../errors.ts';
import type { Job } from '../jobs.ts';
import { BEIJING_OFFSET_MS, DAY_MS, MINUTE_MS } from '../limiter/limiter.ts';
import type { TemplateKindOf } from './template-kind.ts';

const hhmm = (m: number) => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;

/** Minutes after Beijing midnight at `now`. */
export function beijingMinute(now: number): number {
  return Math.floor(((((now + BEIJING_OFFSET_MS) % DAY_MS) + DAY_MS) % DAY_MS) / MINUTE_MS);
}

/** Is `minute` inside the window (which may wrap past midnight, e.g. 22:00-06:00)? */
export function insideWindow(minute: number, q: Pick<QuietHours, 'startMinute' | 'endMinute'>): boolean {
  return q.startMinute < q.endMinute ? minute >= q.startMinute && minute < q.endMinute : minute >= q.startMinute || minute < q.endMinute;
}

/** The next time (epoch ms, on a whole minute) the window opens, after `now`. */
export function nextWindowStart(now: number, q: Pick<QuietHours, 'startMinute'>): number {
  const dayStart = Math.floor((now + BEIJING_OFFSET_MS) / DAY_MS) * DAY_MS - BEIJING_OFFSET_MS;
  const today = dayStart + q.startMinute * MINUTE_MS;
  return today > now ? today : today + DAY_MS;
}

/**
 * Voice calls and marketing SMS go out only inside the window (default 09:00-20:00 Beijing time,
 * the vendor's rule for marketing). Voice verification codes are exempt: the person asked for
 * the call and is waiting for it. Outside the window the job is refused; queued jobs carry a
 * `defer` action (send at the window's start) when QUIET_HOURS_ACTION=defer.
 */
export function quietHoursGuard(q: QuietHours, now: () => number, kindOf: TemplateKindOf): (job: Job) => Promise<void> {
  return async (job) => {
    const kind = kindOf(job);
    const rule = specOf(job).quietHours;
    if (!rule.applies(kind)) return;
    const t = now();
    if (insideWindow(beijingMinute(t), q)) return;
    throw new GuardRefusal(
      'OUTSIDE_SENDING_HOURS',
      `${rule.what} are sent only between ${hhmm(q.startMinute)} and ${hhmm(q.endMinute)} Beijing time`,
      'quiet-hours',
      { retryAt: nextWindowStart(t, q), now: t, action: q.action === 'defer' ? 'defer' : 'report' },
    );
  };
}

import { NotifyError } from '../errors.ts';
import { sha256 } from '../hash.ts';
import type { Channel } from '../jobs.ts';
import { maskPhone } from '../phone.ts';
import type { StoredOutcome } from '../store/types.ts';
import type { Runtime } from './runtime.ts';

/**
 * A job's fate (issue 13, docs/usage.md): `GET /sms/<idempotencyKey>`, `GET /voice/<idempotencyKey>`.
 * The store keeps an outcome under `idem:<channel>:<caller>:<key>` for 24 h, and a scheduled job
 * under the id scheduleId(caller, key) until it is sent, cancelled or expires: a lookup reads both.
 * A caller sees only its own jobs. An operator (OPS_CALLERS) sees every caller's: with
 * `?caller=<name>` that caller's job, without it the first found among itself, every API_KEYS
 * name and the trigger kinds (mns, oss, timer, anonymous), all read in one round trip.
 */

/**
 * The id a job scheduled by `caller` under `key` has: the same formula as core/batch.ts's
 * scheduleId, repeated here so template-validate's bundle does not carry the batch runner
 * (test/integration/usage.test.ts keeps the two equal).
 */
export function scheduledIdOf(caller: string, key: string): string {
  return sha256(`${caller}\n${key}`, 'base64url').slice(0, 22);
}

export const TRIGGER_CALLERS = ['mns', 'oss', 'timer', 'anonymous', 'alerts'] as const;

export type JobStatusAnswer = 'sent' | 'rejected' | 'failed' | 'unknown' | 'in-progress' | 'scheduled' | 'cancelled';

export interface JobFate {
  idempotencyKey: string;
  channel: Channel;
  status: JobStatusAnswer;
  phone?: string;
  provider?: { code: string; message: string; requestId?: string };
  error?: StoredOutcome['error'];
  at?: string;
  attempts?: number;
  source?: string;
  caller: string;
  recorded: boolean;
  sendAt?: string;
  /** Scheduled jobs: their id (for DELETE /<channel>/<id>). */
  id?: string;
}

export function isOperator(rt: Runtime, caller: string): boolean {
  return rt.config?.usage.opsCallers.includes(caller) === true;
}

async function fateOf(rt: Runtime, channel: Channel, key: string, caller: string): Promise<JobFate | undefined> {
  const id = scheduledIdOf(caller, key);
  const [peek, sched] = await Promise.all([rt.store.peek(`idem:${channel}:${caller}:${key}`), rt.store.scheduledJob(channel, id)]);
  const base = { idempotencyKey: key, channel, caller };
  if (peek?.kind === 'done') {
    const o = peek.outcome;
    const f: JobFate = { ...base, status: o.status, phone: o.phoneMasked, at: o.at, recorded: true };
    if (o.provider)
      f.provider = {
        code: o.provider.code,
        message: o.provider.message,
        ...(o.provider.requestId ? { requestId: o.provider.requestId } : {}),
      };
    if (o.error) f.error = o.error;
    if (o.attempts !== undefined) f.attempts = o.attempts;
    if (o.source !== undefined) f.source = o.source;
    return f;
  }
  if (peek?.kind === 'in-progress') {
    // A claim past its time never finished: the sender answers OUTCOME_UNKNOWN for it, and so do we.
    return { ...base, status: peek.stale ? 'unknown' : 'in-progress', recorded: false };
  }
  const job = sched.job;
  if (job && job.key === key && job.caller === caller) {
    const phone = typeof job.job.phone === 'string' ? maskPhone(job.job.phone) : undefined;
    return {
      ...base,
      status: 'scheduled',
      id: job.id,
      ...(phone ? { phone } : {}),
      sendAt: new Date(job.dueAt).toISOString(),
      recorded: true,
    };
  }
  if (sched.cancelledAt !== null)
    return { ...base, status: 'cancelled', id, at: new Date(sched.cancelledAt).toISOString(), recorded: true };
  return undefined;
}

export async function lookupJob(
  rt: Runtime,
  channel: Channel,
  key: string,
  asker: string,
  callerParam: string | undefined,
): Promise<JobFate> {
  const ops = isOperator(rt, asker);
  if (callerParam !== undefined && callerParam !== asker && !ops) {
    throw new NotifyError('FORBIDDEN', 'only OPS_CALLERS may look up the jobs of another caller');
  }
  const names =
    callerParam !== undefined
      ? [callerParam]
      : ops
        ? [asker, ...(rt.config?.apiKeys.map((k) => k.name) ?? []), ...TRIGGER_CALLERS]
        : [asker];
  const callers = [...new Set(names)];
  const fates = await Promise.all(callers.map((c) => fateOf(rt, channel, key, c)));
  const found = fates.find((f) => f !== undefined);
  if (!found)
    throw new NotifyError(
      'NOT_FOUND',
      `no ${channel} job under idempotencyKey ${key.slice(0, 64)} for this caller (outcomes are kept 24 h)`,
    );
  return found;
}

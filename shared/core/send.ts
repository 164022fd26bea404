import { specOf } from '../channels/index.ts';
import { NotifyError, storeUnavailable } from '../errors.ts';
import type { Channel, Job, SmsJob } from '../jobs.ts';
import { errorFields, type Logger, scrubValues } from '../log.ts';
import { maskPhone } from '../phone.ts';
import type { ProviderInfo } from '../provider/classify.ts';
import type { ProviderClient } from '../provider/client.ts';
import type { ProviderRequest } from '../provider/request.ts';
import type { OutcomeStatus, Store, StoredOutcome } from '../store/types.ts';
import type { UsageHooks } from '../usage/recorder.ts';
import { DEFAULT_CLAIM_TTL_MS, fingerprint, OUTCOME_TTL_MS } from './idempotency.ts';

/**
 * The core: one job in, one outcome out. It never sees an FC event (adapters do that) and
 * never builds HTTP answers. Steps: prepare (template/params) → idempotency claim → provider →
 * record → log.
 */

export interface Outcome {
  status: OutcomeStatus;
  channel: Job['channel'];
  /** Masked: the only form of the number that leaves the core. */
  phoneMasked: string;
  provider?: ProviderInfo;
  error?: NotifyError;
  idempotencyKey: string | null;
  replayed: boolean;
  attempts: number;
  latencyMs: number;
  /**
   * False when the outcome could not be written to the store (it stayed unreachable through the
   * bounded retry): the job is still reported as what it was (`sent`), the claim stays in the store
   * as the durable marker, and this instance retries the write on its next sends.
   */
  recorded?: false;
}

export interface SendContext {
  requestId: string;
  /** Name of the authenticated caller (never the key), or the trigger kind. */
  caller: string;
  logger: Logger;
  /** How long a claim may live: the function's own timeout plus a margin. */
  claimTtlMs?: number;
  /**
   * The job comes from the deployer's own triggers (an MNS message, an OSS file, a timer
   * reminder), not from an HTTP caller: per-caller limits do not apply (per-phone, verification
   * and the global budget do).
   */
  fromTrigger?: boolean;
  /**
   * Issue 15: the job's limits, reserved ahead by `Sender.reserve` while the caller wrote its own
   * record (a verification code), so both cost one round trip. send() uses it instead of
   * reserving again, and gives it back when a guard refuses the job.
   */
  reserved?: Reservation;
  /**
   * The request's own log line (HTTP): the send's fields are added to it instead of writing a
   * second line. Without it (batches) each send logs its own line.
   */
  logFields?: Record<string, unknown>;
  /** Where the job came from (http, mns, oss, timer; `alert` for quota alerts): kept with the outcome (issue 13). */
  source?: string;
  /**
   * Called once the provider call is over (its socket is free again), before the outcome is
   * recorded: a batch starts its next job then, so that job's claim travels while this one's
   * record does (issue 15). Not called for a send that never reaches the provider.
   */
  providerDone?: () => void;
}

type Level = 'info' | 'warn' | 'error';

function report(ctx: SendContext, level: Level, fields: Record<string, unknown>, msg: string): void {
  if (!ctx.logFields) {
    ctx.logger[level](fields, msg);
    return;
  }
  const { event: _event, ...rest } = fields;
  Object.assign(ctx.logFields, rest, level === 'error' ? { alert: msg } : {});
}

/**
 * Turns an SMS job's params into the ordered list the provider wants (template catalog hooks in
 * here); may also supply the sign (the catalog's, when the job gives none). Throws to refuse.
 */
export type SmsParamResolver = (job: SmsJob) => string[] | { params: string[]; sign: string | undefined };

/** A check before anything is claimed or sent (recipient policy, sending hours); throws a NotifyError to refuse. */
export type SendGuard = (job: Job, ctx: SendContext) => Promise<void>;

/**
 * Counts a send against the rate limits just before the provider call (after the idempotency
 * claim, so replays never count); throws to refuse, returns the refund for a send that
 * turns out not to have reached the vendor.
 */
export interface SendQuota {
  reserve(job: Job, ctx: SendContext): Promise<() => Promise<void>>;
}

export interface SenderDeps {
  client: ProviderClient;
  store: Store;
  /** Each channel's provider URL (config.ts `urls`). */
  urls: { readonly [C in Channel]: string };
  resolveSmsParams?: SmsParamResolver;
  guards?: readonly SendGuard[];
  quota?: SendQuota;
  /** Issue 13: usage counters and quota alerts (shared/usage/recorder.ts). */
  usage?: UsageHooks;
}

/**
 * Writes after the provider call (record the outcome, release the claim) are retried this often
 * within this budget: a store that blinks (failover, reconnect) loses nothing; one that stays down
 * does not hold the answer for long. Whatever still fails is kept in this instance (PENDING_MAX
 * writes) and written before its next send.
 */
export const STORE_WRITE_ATTEMPTS = 3;
export const STORE_WRITE_BUDGET_MS = 1500;
export const PENDING_MAX = 1000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs `op` up to STORE_WRITE_ATTEMPTS times within STORE_WRITE_BUDGET_MS; throws the last error. */
async function boundedWrite<T>(op: () => Promise<T>): Promise<T> {
  const started = Date.now();
  let last: unknown;
  for (let i = 0; i < STORE_WRITE_ATTEMPTS; i += 1) {
    if (i > 0) await sleep(Math.min(100 * 2 ** (i - 1), Math.max(0, STORE_WRITE_BUDGET_MS - (Date.now() - started))));
    const left = STORE_WRITE_BUDGET_MS - (Date.now() - started);
    if (i > 0 && left <= 0) break;
    let timer: NodeJS.Timeout | undefined;
    try {
      // The write itself may still land after we stop waiting: both writes are compare-and-set
      // by token, so a late one is as right as a timely one.
      return await Promise.race([
        op(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`store write took over ${Math.max(left, 50)} ms`)), Math.max(left, 50));
        }),
      ]);
    } catch (err) {
      last = err;
    } finally {
      clearTimeout(timer);
    }
  }
  throw last;
}

/** A write the store missed, kept to be written before this instance's next send. */
type PendingWrite =
  | { op: 'complete'; token: string; value: StoredOutcome; until: number }
  | { op: 'release'; token: string; until: number };

export function defaultResolveSmsParams(job: SmsJob): string[] {
  if (Array.isArray(job.params)) return job.params;
  throw new NotifyError(
    'TEMPLATE_MISMATCH',
    `params given by name need skin "${job.skin}" in the template catalog; send params as an array in template order`,
  );
}

function storedFrom(outcome: Outcome, fp: string, ctx: SendContext): StoredOutcome {
  const s: StoredOutcome = {
    status: outcome.status,
    channel: outcome.channel,
    phoneMasked: outcome.phoneMasked,
    fingerprint: fp,
    at: new Date().toISOString(),
    // Issue 13: for job lookups.
    attempts: outcome.attempts,
    caller: ctx.caller,
    ...(ctx.source !== undefined ? { source: ctx.source } : {}),
  };
  if (outcome.provider) {
    const { raw: _raw, ...provider } = outcome.provider;
    s.provider = provider;
  }
  if (outcome.error) {
    const e = outcome.error;
    s.error = { code: e.code, message: e.message, retryable: e.retryable };
    if (e.providerCode !== undefined) s.error.providerCode = e.providerCode;
    if (e.retryAfter !== undefined) s.error.retryAfter = e.retryAfter;
  }
  return s;
}

function outcomeFromStored(s: StoredOutcome, key: string): Outcome {
  const o: Outcome = {
    status: s.status,
    channel: s.channel,
    phoneMasked: s.phoneMasked,
    idempotencyKey: key,
    replayed: true,
    attempts: 0,
    latencyMs: 0,
  };
  if (s.provider) o.provider = s.provider;
  if (s.error) {
    o.error = new NotifyError(s.error.code as NotifyError['code'], s.error.message, {
      retryable: s.error.retryable,
      ...(s.error.providerCode !== undefined ? { providerCode: s.error.providerCode } : {}),
      ...(s.error.retryAfter !== undefined ? { retryAfter: s.error.retryAfter } : {}),
    });
  }
  return o;
}

/** A limit reservation, settled (never rejects): its refund, or why it was refused. */
export type Reservation = Promise<{ ok: true; value: () => Promise<void> } | { ok: false; err: unknown }>;

export interface Sender {
  /** Sends one validated job. Throws only NotifyError for refusals before any provider call. */
  send(job: Job, ctx: SendContext): Promise<Outcome>;
  /** Reserves `job`'s limits now, to hand to send() as `ctx.reserved` (undefined without limits). */
  reserve?(job: Job, ctx: SendContext): Reservation | undefined;
  /** Writes the store missed (outcomes, releases) still kept by this instance. */
  pendingWrites(): number;
}

export function createSender(deps: SenderDeps): Sender {
  const resolveSmsParams = deps.resolveSmsParams ?? defaultResolveSmsParams;

  function buildRequest(job: Job): ProviderRequest {
    // The channel's own builder (shared/channels/), with its URL.
    return specOf(job).request(deps.urls[job.channel], job, resolveSmsParams);
  }

  // Store key → the write the store missed. Per instance: a redelivery that lands here finds the
  // outcome even when the store lost it (restart without persistence); see docs/guarantees.md.
  const pending = new Map<string, PendingWrite>();
  let flushing: Promise<void> | undefined;

  function remember(storeKey: string, w: PendingWrite, logger: Logger): void {
    pending.delete(storeKey);
    pending.set(storeKey, w);
    if (pending.size > PENDING_MAX) {
      const [oldest] = pending.keys();
      if (oldest !== undefined) pending.delete(oldest);
      logger.error(
        { event: 'store-pending-dropped', max: PENDING_MAX, key: oldest },
        'too many store writes pending; the oldest is dropped (its claim stays: the job is not sent again)',
      );
    }
  }

  /** Writes what the store missed, before this send's claim (same connection, so in that order). */
  function flushPending(logger: Logger): Promise<void> {
    flushing ??= (async () => {
      const now = Date.now();
      const due = [...pending].filter(([k, w]) => {
        if (w.until > now) return true;
        pending.delete(k);
        return false;
      });
      await Promise.allSettled(
        due.map(async ([k, w]) => {
          // complete() is false when the outcome (or another claim) is already there: the late
          // write landed after all (a stalled server runs it when it wakes up), or another attempt holds the key.
          let changed = true;
          if (w.op === 'complete') changed = await deps.store.complete(k, w.token, w.value, w.until - now);
          else await deps.store.release(k, w.token);
          if (pending.get(k) === w) pending.delete(k);
          logger.warn(
            { event: 'store-pending-written', op: w.op, key: k, changed },
            `store reachable again: pending ${w.op} ${changed ? 'written' : 'no longer needed'}`,
          );
        }),
      );
    })().finally(() => {
      flushing = undefined;
    });
    return flushing;
  }

  /** Releases a claim (nothing was sent), retried briefly; kept for later when the store stays down. */
  async function release(storeKey: string, token: string, ctx: SendContext, fields: Record<string, unknown>): Promise<void> {
    try {
      await boundedWrite(() => deps.store.release(storeKey, token));
    } catch (err) {
      remember(storeKey, { op: 'release', token, until: Date.now() + OUTCOME_TTL_MS }, ctx.logger);
      ctx.logger.error(
        { event: 'store-release-failed', requestId: ctx.requestId, ...fields, err: errorFields(err) },
        'could not release an idempotency claim (nothing was sent); kept to retry',
      );
    }
  }

  const reserve = (job: Job, ctx: SendContext): Reservation | undefined =>
    deps.quota?.reserve(job, ctx).then(
      (value) => ({ ok: true as const, value }),
      (err: unknown) => ({ ok: false as const, err }),
    );

  return {
    pendingWrites: () => pending.size,
    reserve,
    async send(job, ctx) {
      const phoneMasked = maskPhone(job.phone);
      // Refusals that need no provider call happen before the claim: nothing to remember.
      const request = buildRequest(job);
      try {
        for (const guard of deps.guards ?? []) await guard(job, ctx);
      } catch (err) {
        const r = await ctx.reserved;
        if (r?.ok) await r.value().catch(() => undefined);
        deps.usage?.refused(job, ctx, err); // issue 13
        throw err;
      }
      const key = job.idempotencyKey ?? null;
      const storeKey = key === null ? null : `idem:${job.channel}:${ctx.caller}:${key}`;
      const fp = key === null ? '' : fingerprint(job);
      const ids = { channel: job.channel, phone: phoneMasked, idempotencyKey: key };
      let token: string | undefined;

      if (pending.size > 0) await flushPending(ctx.logger);

      // Issue 15: the claim and the limits go to the store together (one round trip of latency,
      // not two). A claim that is not taken (replay, duplicate, stale, store down) gives back what
      // the limits reserved and ignores their refusal: a replay is never counted or refused by a limit.
      const claimed =
        storeKey !== null && key !== null
          ? deps.store.claim(storeKey, fp, ctx.claimTtlMs ?? DEFAULT_CLAIM_TTL_MS, OUTCOME_TTL_MS).then(
              (value) => ({ ok: true as const, value }),
              (err: unknown) => ({ ok: false as const, err }),
            )
          : undefined;
      const reserved = ctx.reserved ?? reserve(job, ctx);
      const giveBack = async () => {
        const r = await reserved;
        if (r?.ok)
          await r
            .value()
            .catch((err: unknown) =>
              ctx.logger.warn({ event: 'limit-refund-failed', ...ids, err: errorFields(err) }, 'could not give a send back to the limits'),
            );
      };

      if (storeKey !== null && key !== null && claimed) {
        let claim: Awaited<ReturnType<Store['claim']>>;
        try {
          const c = await claimed;
          if (!c.ok) throw c.err;
          claim = c.value;
        } catch (err) {
          await giveBack();
          report(
            ctx,
            'error',
            { event: 'send', outcome: 'store-unavailable', step: 'claim', ...ids, storeError: errorFields(err) },
            'store unreachable before the send; nothing was sent',
          );
          throw storeUnavailable(err);
        }
        if (claim.kind === 'done' || claim.kind === 'in-progress') {
          await giveBack();
          const otherFp = claim.kind === 'done' ? claim.outcome.fingerprint : claim.fingerprint;
          if (otherFp !== fp) {
            throw new NotifyError('INVALID_REQUEST', 'idempotencyKey was already used for a different job within 24 h; use a new key');
          }
          if (claim.kind === 'in-progress' && claim.stale) {
            // The attempt holding the key should have ended by now and never recorded an answer:
            // its instance died or lost the store, maybe after the provider accepted the job.
            // Sending again could send twice, so this is "unknown", as a provider timeout is.
            const since = claim.staleAt !== undefined ? ` (it should have ended by ${new Date(claim.staleAt).toISOString()})` : '';
            const error = new NotifyError(
              'OUTCOME_UNKNOWN',
              `an earlier attempt with this idempotencyKey did not finish${since}; it may have been sent, so it is not sent again. Check the vendor console before sending with a new key`,
            );
            report(
              ctx,
              'warn',
              { event: 'send', outcome: 'unknown', staleClaim: true, ...ids, errorCode: error.code, replayed: false },
              'earlier attempt never finished: outcome unknown',
            );
            deps.usage?.count(job, ctx, 'unknown'); // issue 13
            return {
              status: 'unknown',
              channel: job.channel,
              phoneMasked,
              error,
              idempotencyKey: key,
              replayed: false,
              attempts: 0,
              latencyMs: 0,
            };
          }
          if (claim.kind === 'in-progress') {
            throw new NotifyError('DUPLICATE_IN_PROGRESS', 'a job with this idempotencyKey is being sent right now; ask again shortly', {
              retryable: true,
              retryAfter: 5,
            });
          }
          const replay = outcomeFromStored(claim.outcome, key);
          report(ctx, 'info', { event: 'send', outcome: replay.status, replayed: true, ...ids }, 'replayed stored outcome');
          return replay;
        }
        token = claim.token;
      }

      let refund: (() => Promise<void>) | undefined;
      if (reserved) {
        try {
          const r = await reserved;
          if (!r.ok) throw r.err;
          refund = r.value;
        } catch (err) {
          if (storeKey !== null && token !== undefined) await release(storeKey, token, ctx, ids);
          // Refusals (429 and deferrals) are NotifyErrors; anything else is the limiter's store failing.
          if (err instanceof NotifyError) {
            deps.usage?.refused(job, ctx, err); // issue 13
            throw err;
          }
          report(
            ctx,
            'error',
            { event: 'send', outcome: 'store-unavailable', step: 'limits', ...ids, storeError: errorFields(err) },
            'store unreachable before the send; nothing was sent',
          );
          throw storeUnavailable(err);
        }
      }

      let result: Awaited<ReturnType<ProviderClient['send']>>;
      try {
        result = await deps.client.send(request);
        ctx.providerDone?.();
      } catch (err) {
        ctx.providerDone?.();
        // A bug, not an answer: we cannot know whether anything was sent, so keep the claim.
        ctx.logger.error(
          { event: 'send', err: { name: (err as Error)?.name }, channel: job.channel, phone: phoneMasked },
          'provider client failed unexpectedly',
        );
        throw err;
      }

      const outcome: Outcome = {
        status: result.status,
        channel: job.channel,
        phoneMasked,
        idempotencyKey: key,
        replayed: false,
        attempts: result.attempts,
        latencyMs: result.latencyMs,
      };
      if (result.provider) {
        const texts = specOf(job).scrubTexts(job, request);
        const { raw, message } = result.provider;
        outcome.provider = {
          ...result.provider,
          message: scrubValues(message, texts),
          ...(raw !== undefined ? { raw: scrubValues(raw, texts) } : {}),
        };
      }
      if (result.error) outcome.error = result.error;

      // Not sent and worth retrying later (connection refused, throttled, vendor 106/102):
      // free the key and give the limits back so the retry can send. Sent, refused and unknown
      // outcomes are kept (and counted).
      const nothingSent = outcome.status !== 'sent' && outcome.status !== 'unknown' && outcome.error?.retryable === true;
      if (nothingSent && refund) {
        await refund().catch((err: unknown) =>
          ctx.logger.warn({ event: 'limit-refund-failed', ...ids, err: errorFields(err) }, 'could not give a send back to the limits'),
        );
      }
      // Issue 13: the usage count rides with the outcome record (same round trip, first attempt
      // only so a retried write never counts twice); without a record it is sent on its own, unawaited.
      let usage = storeKey !== null && token !== undefined && !nothingSent ? deps.usage?.write(job, ctx, outcome.status) : undefined;
      if (!usage) deps.usage?.count(job, ctx, outcome.status);
      if (storeKey !== null && token !== undefined) {
        if (nothingSent) await release(storeKey, token, ctx, ids);
        else {
          const value = storedFrom(outcome, fp, ctx);
          try {
            await boundedWrite(() => {
              const once = usage;
              usage = undefined;
              return deps.store.complete(storeKey, token, value, OUTCOME_TTL_MS, once);
            });
          } catch (err) {
            // The provider has answered: the answer stands whatever the store does. The claim stays
            // in the store (kept for the outcome TTL) and turns into OUTCOME_UNKNOWN once stale, so
            // this job is never sent again under its key; this instance writes the outcome later.
            outcome.recorded = false;
            remember(storeKey, { op: 'complete', token, value, until: Date.now() + OUTCOME_TTL_MS }, ctx.logger);
            ctx.logger.error(
              {
                event: 'send-unrecorded',
                requestId: ctx.requestId,
                caller: ctx.caller,
                outcome: outcome.status,
                ...ids,
                providerRequestId: outcome.provider?.requestId,
                err: errorFields(err),
              },
              `${outcome.status.toUpperCase()} BUT NOT RECORDED: the store is unreachable; the claim keeps the job from being sent again`,
            );
          }
        }
      }

      const level: Level =
        outcome.status === 'sent' || outcome.status === 'rejected'
          ? 'info'
          : outcome.error?.code === 'PROVIDER_AUTH_FAILED'
            ? 'error'
            : 'warn';
      report(
        ctx,
        level,
        {
          event: 'send',
          outcome: outcome.status,
          channel: job.channel,
          phone: phoneMasked,
          providerCode: outcome.provider?.code,
          providerRequestId: outcome.provider?.requestId,
          errorCode: outcome.error?.code,
          raw: outcome.provider?.raw,
          attempts: outcome.attempts,
          upstreamMs: outcome.latencyMs,
          idempotencyKey: key,
          replayed: false,
          ...(outcome.recorded === false ? { recorded: false } : {}),
        },
        outcome.error?.code === 'PROVIDER_AUTH_FAILED'
          ? 'PROVIDER CREDENTIALS REJECTED: check APPCODE / APP_KEY and the marketplace subscription'
          : `send ${outcome.status}`,
      );
      deps.usage?.observed(job, ctx, outcome); // issue 13: quota alerts, never awaited
      return outcome;
    },
  };
}

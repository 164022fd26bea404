import { NotifyError } from '../errors.ts';
import { sha256 } from '../hash.ts';
import type { Job, SmsJob } from '../jobs.ts';
import { type Logger, scrubValues } from '../log.ts';
import { maskPhone } from '../phone.ts';
import type { ProviderInfo } from '../provider/classify.ts';
import type { ProviderClient } from '../provider/client.ts';
import { longSmsRequest, type ProviderRequest, voiceRequest } from '../provider/request.ts';
import type { Store, StoredOutcome } from '../store/types.ts';

/**
 * The core: one job in, one outcome out. It never sees an FC event (adapters do that) and
 * never builds HTTP answers. Steps: prepare (template/params) → idempotency claim → provider →
 * record → log.
 */

export type OutcomeStatus = StoredOutcome['status'];

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
   * The request's own log line (HTTP): the send's fields are added to it instead of writing a
   * second line. Without it (batches) each send logs its own line.
   */
  logFields?: Record<string, unknown>;
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
  longSmsUrl: string;
  voiceUrl: string;
  resolveSmsParams?: SmsParamResolver;
  guards?: readonly SendGuard[];
  quota?: SendQuota;
}

export const OUTCOME_TTL_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_CLAIM_TTL_MS = 90_000;

export function defaultResolveSmsParams(job: SmsJob): string[] {
  if (Array.isArray(job.params)) return job.params;
  throw new NotifyError(
    'TEMPLATE_MISMATCH',
    `params given by name need skin "${job.skin}" in the template catalog; send params as an array in template order`,
  );
}

/** Stable hash of what would be sent: same key + different job is a caller bug, not a replay. */
export function fingerprint(job: Job): string {
  const { idempotencyKey: _k, ...rest } = job;
  const canonical = JSON.stringify(rest, Object.keys(rest).sort());
  const params = job.channel === 'sms' ? JSON.stringify(job.params) : '';
  return sha256(canonical + params, 'base64url').slice(0, 22);
}

function storedFrom(outcome: Outcome, fp: string): StoredOutcome {
  const s: StoredOutcome = { status: outcome.status, channel: outcome.channel, phoneMasked: outcome.phoneMasked, fingerprint: fp, at: new Date().toISOString() };
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
  const o: Outcome = { status: s.status, channel: s.channel, phoneMasked: s.phoneMasked, idempotencyKey: key, replayed: true, attempts: 0, latencyMs: 0 };
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

export interface Sender {
  /** Sends one validated job. Throws only NotifyError for refusals before any provider call. */
  send(job: Job, ctx: SendContext): Promise<Outcome>;
}

export function createSender(deps: SenderDeps): Sender {
  const resolveSmsParams = deps.resolveSmsParams ?? defaultResolveSmsParams;

  function buildRequest(job: Job): ProviderRequest {
    if (job.channel === 'voice') return voiceRequest(deps.voiceUrl, job);
    const resolved = resolveSmsParams(job);
    if (Array.isArray(resolved)) return longSmsRequest(deps.longSmsUrl, job, resolved);
    return longSmsRequest(deps.longSmsUrl, { ...job, sign: resolved.sign }, resolved.params);
  }

  return {
    async send(job, ctx) {
      const phoneMasked = maskPhone(job.phone);
      // Refusals that need no provider call happen before the claim: nothing to remember.
      const request = buildRequest(job);
      for (const guard of deps.guards ?? []) await guard(job, ctx);
      const key = job.idempotencyKey ?? null;
      const storeKey = key === null ? null : `idem:${job.channel}:${ctx.caller}:${key}`;
      const fp = key === null ? '' : fingerprint(job);
      let token: string | undefined;

      if (storeKey !== null && key !== null) {
        const claim = await deps.store.claim(storeKey, fp, ctx.claimTtlMs ?? DEFAULT_CLAIM_TTL_MS);
        if (claim.kind === 'done' || claim.kind === 'in-progress') {
          const otherFp = claim.kind === 'done' ? claim.outcome.fingerprint : claim.fingerprint;
          if (otherFp !== fp) {
            throw new NotifyError('INVALID_REQUEST', 'idempotencyKey was already used for a different job within 24 h; use a new key');
          }
          if (claim.kind === 'in-progress') {
            throw new NotifyError('DUPLICATE_IN_PROGRESS', 'a job with this idempotencyKey is being sent right now; ask again shortly', {
              retryable: true,
              retryAfter: 5,
            });
          }
          const replay = outcomeFromStored(claim.outcome, key);
          report(ctx, 'info', { event: 'send', outcome: replay.status, replayed: true, channel: job.channel, phone: phoneMasked, idempotencyKey: key }, 'replayed stored outcome');
          return replay;
        }
        token = claim.token;
      }

      let refund: (() => Promise<void>) | undefined;
      if (deps.quota) {
        try {
          refund = await deps.quota.reserve(job, ctx);
        } catch (err) {
          if (storeKey !== null && token !== undefined) await deps.store.release(storeKey, token);
          throw err;
        }
      }

      let result: Awaited<ReturnType<ProviderClient['send']>>;
      try {
        result = await deps.client.send(request);
      } catch (err) {
        // A bug, not an answer: we cannot know whether anything was sent, so keep the claim.
        ctx.logger.error({ event: 'send', err: { name: (err as Error)?.name }, channel: job.channel, phone: phoneMasked }, 'provider client failed unexpectedly');
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
        const texts = job.channel === 'sms' ? request.query.map(([, v]) => v) : [job.content];
        const { raw, message } = result.provider;
        outcome.provider = { ...result.provider, message: scrubValues(message, texts), ...(raw !== undefined ? { raw: scrubValues(raw, texts) } : {}) };
      }
      if (result.error) outcome.error = result.error;

      // Not sent and worth retrying later (connection refused, throttled, vendor 106/102):
      // free the key and give the limits back so the retry can send. Sent, refused and unknown
      // outcomes are kept (and counted).
      const nothingSent = outcome.status !== 'sent' && outcome.status !== 'unknown' && outcome.error?.retryable === true;
      if (nothingSent && refund) await refund();
      if (storeKey !== null && token !== undefined) {
        if (nothingSent) await deps.store.release(storeKey, token);
        else await deps.store.complete(storeKey, token, storedFrom(outcome, fp), OUTCOME_TTL_MS);
      }

      const level: Level = outcome.status === 'sent' || outcome.status === 'rejected' ? 'info' : outcome.error?.code === 'PROVIDER_AUTH_FAILED' ? 'error' : 'warn';
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
        },
        outcome.error?.code === 'PROVIDER_AUTH_FAILED' ? 'PROVIDER CREDENTIALS REJECTED: check APPCODE / APP_KEY and the marketplace subscription' : `send ${outcome.status}`,
      );
      return outcome;
    },
  };
}

import { randomUUID } from 'node:crypto';
import type * as z from 'zod/mini';
import type { Config } from '../config.ts';
import { DEFAULT_CLAIM_TTL_MS, OUTCOME_TTL_MS } from '../core/idempotency.ts';
import type { Outcome, Reservation, Sender } from '../core/send.ts';
import { ConfigError, NotifyError, storeUnavailable } from '../errors.ts';
import { sha256 } from '../hash.ts';
import type { Job, SmsJob, VoiceJob } from '../jobs.ts';
import type { Logger } from '../log.ts';
import { errorFields } from '../log.ts';
import { maskPhone, normalizePhone } from '../phone.ts';
import type { Store, StoredOutcome } from '../store/types.ts';
import type { Catalog } from '../templates/catalog.ts';
import { parseText, variableNames } from '../templates/render.ts';
import { codeVariable } from '../templates/rules.ts';
import { parseOrThrow } from '../validation.ts';
import {
  CODE_LENGTH,
  decoyMac,
  decryptCode,
  deriveKeys,
  encryptCode,
  generateCode,
  MAX_ATTEMPTS,
  macCode,
  phoneIndex,
  sameMac,
  spacedDigits,
  TTL_SECONDS,
  type VerifyKeys,
  voiceText,
} from './codes.ts';
import { markVerification } from './mark.ts';
import { smsVerifySchema, verifyCheckSchema, voiceVerifySchema } from './schema.ts';
import { type Sealed, verifyStoreFor } from './store.ts';

/**
 * Verification codes end to end (docs/verification.md): start (SMS or voice, with a voice
 * fallback for an SMS that was refused or failed), check. The code exists in clear only inside
 * this module, the provider request and — in sandbox mode only — the start answer: never in a log
 * line, an error message or a stored value.
 */

export type VerifyChannel = 'sms' | 'voice';

/**
 * What the flow needs (an FC runtime has all of it; the flow knows nothing of FC): the answers are
 * data, the HTTP route (shared/fc/routes/verify.ts) turns them into responses.
 */
export interface VerifyDeps {
  config: Config | undefined;
  configError: Error | undefined;
  catalog: Catalog | undefined;
  store: Store;
  sender: Sender | undefined;
  now: () => number;
  logger: Logger;
}

export type StartResult =
  | { ok: true; answer: Record<string, unknown>; replayed: boolean }
  /** The provider's answer was not `sent` (refused, failed, unknown): the error to answer with. */
  | { ok: false; error: NotifyError };

export interface FlowContext {
  requestId: string;
  caller: string;
  /** The request's log line (fields are added to it; the code never is). */
  log: Record<string, unknown>;
  claimTtlMs?: number;
}

const keyCache = new Map<string, VerifyKeys>();

/** The derived keys, or the refusal naming VERIFY_SECRET (fail closed). */
function keysOf(rt: VerifyDeps): VerifyKeys {
  const secret = rt.config?.verify.secret;
  if (!rt.config || secret === undefined) {
    throw rt.configError ?? new ConfigError(rt.config?.verify.problem ?? 'VERIFY_SECRET is required', ['VERIFY_SECRET']);
  }
  let k = keyCache.get(secret);
  if (!k) {
    k = deriveKeys(secret);
    keyCache.clear();
    keyCache.set(secret, k);
  }
  return k;
}

/** The store key of a phone's record: the HMAC of the number, so Redis lists no phones. */
const recordKey = (keys: VerifyKeys, phone: string) => `verify:${phoneIndex(keys, phone)}`;

/** Any text that might carry the code, with the code (and its spoken form) blanked out. */
function withoutCode(text: string, code: string): string {
  return text.replaceAll(spacedDigits(code), '[code]').replaceAll(code, '[code]');
}

function scrubError(err: NotifyError, code: string): NotifyError {
  const message = withoutCode(err.message, code);
  if (message === err.message) return err;
  return new NotifyError(err.code, message, {
    retryable: err.retryable,
    ...(err.providerCode !== undefined ? { providerCode: err.providerCode } : {}),
    ...(err.retryAfter !== undefined ? { retryAfter: err.retryAfter } : {}),
  });
}

/** The SMS template and params: the catalog's code variable gets the code, a minutes variable the validity. */
function smsJob(rt: VerifyDeps, input: z.infer<typeof smsVerifySchema>, phoneNo: string, code: string, ttlS: number): SmsJob {
  const verifySkin = rt.config?.verify.smsSkin ?? rt.catalog?.templates.find((t) => t.kind === 'verification')?.skin ?? '1';
  const skin = input.skin ?? verifySkin;
  const entry = rt.catalog?.get(skin);
  let params: SmsJob['params'] = [code];
  if (entry) {
    const names = variableNames(parseText(entry.text));
    const codeVar = codeVariable(names);
    if (codeVar === undefined) {
      throw new NotifyError(
        'TEMPLATE_MISMATCH',
        `skin "${skin}" has no variable for the code (name it #code#); choose a verification template (VERIFY_SMS_SKIN)`,
      );
    }
    const named: Record<string, string> = { [codeVar]: code };
    for (const n of names) if (n !== codeVar && /^(minutes?|min|ttl|分钟)$/i.test(n)) named[n] = String(Math.ceil(ttlS / 60));
    params = named;
  }
  const job: SmsJob = { channel: 'sms', phone: phoneNo, skin, params };
  if (input.sign !== undefined) job.sign = input.sign;
  return job;
}

function voiceJob(rt: VerifyDeps, phoneNo: string, code: string, ttlS: number): VoiceJob {
  return { channel: 'voice', phone: phoneNo, content: voiceText(rt.config?.verify.voiceText ?? '{code}', code, ttlS) };
}

/** Seconds until the phone may get another code: the verification interval (and the channel's phone interval). */
function resendAfterS(rt: VerifyDeps): number {
  const l = rt.config?.limits;
  return l ? Math.max(l.verificationIntervalS, l.phoneIntervalS) : 0;
}

/** `POST /sms/verify`, `POST /voice/verify`. */
export async function startVerification(rt: VerifyDeps, channel: VerifyChannel, body: unknown, ctx: FlowContext): Promise<StartResult> {
  if (!rt.sender) throw rt.configError ?? new NotifyError('INTERNAL', 'function is misconfigured');
  const input = parseOrThrow(channel === 'sms' ? smsVerifySchema : voiceVerifySchema, body) as z.infer<typeof smsVerifySchema>;
  const phoneNo = normalizePhone(input.phone);
  // After the caller's mistakes (nothing is sent either way), before anything is stored or sent.
  const keys = keysOf(rt);
  const masked = maskPhone(phoneNo);
  Object.assign(ctx.log, { verify: 'start', channel, phone: masked });

  // Idempotency: the same key from the same caller replays the first answer (a `sent` one; a
  // start that did not send frees its key, and a retry re-sends the same code).
  const idemKey = input.idempotencyKey === undefined ? null : `idem:verify-${channel}:${ctx.caller}:${input.idempotencyKey}`;
  const { idempotencyKey: _k, ...rest } = input;
  const fp = sha256(JSON.stringify({ ...rest, phone: phoneNo }, Object.keys({ ...rest, phone: phoneNo }).sort()), 'base64url').slice(0, 22);
  let token: string | undefined;
  if (idemKey !== null) {
    let claim: Awaited<ReturnType<Store['claim']>>;
    try {
      claim = await rt.store.claim(idemKey, fp, ctx.claimTtlMs ?? DEFAULT_CLAIM_TTL_MS, OUTCOME_TTL_MS);
    } catch (err) {
      Object.assign(ctx.log, { storeError: errorFields(err) });
      throw storeUnavailable(err);
    }
    if (claim.kind !== 'claimed') {
      const other = claim.kind === 'done' ? claim.outcome.fingerprint : claim.fingerprint;
      if (other !== fp)
        throw new NotifyError('INVALID_REQUEST', 'idempotencyKey was already used for a different start within 24 h; use a new key');
      if (claim.kind === 'done' && claim.outcome.provider?.ids?.answer) {
        Object.assign(ctx.log, { replayed: true });
        return { ok: true, answer: JSON.parse(claim.outcome.provider.ids.answer) as Record<string, unknown>, replayed: true };
      }
      if (claim.kind === 'in-progress' && claim.stale) {
        throw new NotifyError(
          'OUTCOME_UNKNOWN',
          'an earlier start with this idempotencyKey did not finish; it may have been sent. Start again with a new key',
        );
      }
      throw new NotifyError('DUPLICATE_IN_PROGRESS', 'a start with this idempotencyKey is running right now; ask again shortly', {
        retryable: true,
        retryAfter: 5,
      });
    }
    token = claim.token;
  }
  const release = async () => {
    if (idemKey !== null && token !== undefined) await rt.store.release(idemKey, token).catch(() => undefined);
  };

  const sendCtx = {
    requestId: ctx.requestId,
    caller: ctx.caller,
    logger: rt.logger,
    logFields: ctx.log,
    ...(ctx.claimTtlMs !== undefined ? { claimTtlMs: ctx.claimTtlMs } : {}),
  };
  // Issue 15: the first send's limits are reserved while the code record is written (one round
  // trip, not two); they do not depend on the code. Given back when no send uses them.
  let reserved: Reservation | undefined;
  const draftTtlS = input.ttlSeconds ?? TTL_SECONDS.default;
  try {
    const draft = channel === 'sms' ? smsJob(rt, input, phoneNo, '0', draftTtlS) : voiceJob(rt, phoneNo, '0', draftTtlS);
    reserved = (rt.sender as Sender).reserve?.(markVerification(draft), sendCtx);
  } catch (err) {
    await release();
    throw err;
  }
  const giveBack = async () => {
    const r = await reserved;
    reserved = undefined;
    if (r?.ok) await r.value().catch(() => undefined);
  };

  // The phone's live code, or a new one.
  const vstore = verifyStoreFor(rt.store);
  const key = recordKey(keys, phoneNo);
  const now = rt.now();
  const ttlS = input.ttlSeconds ?? TTL_SECONDS.default;
  const fresh = (): { code: string; sealed: Sealed } => {
    const id = randomUUID();
    const code = generateCode(input.codeLength ?? CODE_LENGTH.default);
    const sealed = {
      id,
      mac: macCode(keys, phoneNo, id, code).toString('base64url'),
      enc: encryptCode(keys, phoneNo, id, code),
      exp: now + ttlS * 1000,
      ttlS,
    };
    return { code, sealed };
  };
  let code: string;
  let record: Sealed;
  let reused: boolean;
  try {
    const made = fresh();
    const got = await vstore.start(key, made.sealed, now);
    reused = got.reused;
    record = got;
    code = got.reused ? (decryptCode(keys, phoneNo, got.id, got.enc) ?? '') : made.code;
    if (code === '') {
      // Sealed under another VERIFY_SECRET (it was changed): that code cannot be re-sent; replace it.
      const again = fresh();
      record = await vstore.start(key, again.sealed, now, true);
      code = again.code;
      reused = false;
    }
  } catch (err) {
    await giveBack();
    await release();
    Object.assign(ctx.log, { storeError: errorFields(err) });
    throw storeUnavailable(err);
  }
  Object.assign(ctx.log, { verificationId: record.id, resent: reused });

  const send = async (job: Job): Promise<Outcome> => {
    // The reservation goes with the first send only (the voice fallback reserves its own).
    const pre = reserved;
    reserved = undefined;
    try {
      return await (rt.sender as Sender).send(job, pre ? { ...sendCtx, reserved: pre } : sendCtx);
    } catch (err) {
      await release();
      throw err instanceof NotifyError ? scrubError(err, code) : err;
    }
  };

  let outcome: Outcome;
  let fallbackFrom: { channel: 'sms'; errorCode: string | undefined } | undefined;
  if (channel === 'sms') {
    outcome = await send(markVerification(smsJob(rt, input, phoneNo, code, record.ttlS)));
    // Refused or failed, never unknown (the SMS may still arrive): the same code by voice, now.
    if (input.fallback === 'voice' && (outcome.status === 'rejected' || outcome.status === 'failed')) {
      fallbackFrom = { channel: 'sms', errorCode: outcome.error?.code };
      // The call's fields replace the SMS's on the request's log line: keep the SMS's (scrubbed) here.
      Object.assign(ctx.log, {
        fallbackFrom: 'sms',
        sms: {
          outcome: outcome.status,
          providerCode: outcome.provider?.code,
          providerRequestId: outcome.provider?.requestId,
          errorCode: outcome.error?.code,
          raw: outcome.provider?.raw === undefined ? undefined : withoutCode(outcome.provider.raw, code),
          upstreamMs: outcome.latencyMs,
        },
      });
      outcome = await send(markVerification(voiceJob(rt, phoneNo, code, record.ttlS), { fallback: true }));
    }
  } else {
    outcome = await send(markVerification(voiceJob(rt, phoneNo, code, record.ttlS)));
  }

  if (outcome.status !== 'sent') {
    await release();
    const err = outcome.error ?? new NotifyError('OUTCOME_UNKNOWN', 'the provider answer could not be read');
    return { ok: false, error: scrubError(err, code) };
  }

  const answer: Record<string, unknown> = {
    status: 'sent',
    verificationId: record.id,
    channel: outcome.channel,
    phone: masked,
    expiresAt: new Date(record.exp).toISOString(),
    resendAfter: resendAfterS(rt),
    ...(fallbackFrom ? { fallbackFrom: fallbackFrom.channel } : {}),
  };
  // Sandbox only: nothing was sent, so the code is shown for trying the flow with curl.
  const sandbox = rt.config?.credentials.kind === 'sandbox';
  if (sandbox) answer.code = code;
  if (idemKey !== null && token !== undefined) {
    const stored: StoredOutcome = {
      status: 'sent',
      channel: outcome.channel,
      phoneMasked: masked,
      // The replayed answer; outside sandbox mode it has no code in it.
      provider: { code: 'OK', message: 'verification started', ids: { answer: JSON.stringify(answer) } },
      fingerprint: fp,
      at: new Date().toISOString(),
    };
    try {
      await rt.store.complete(idemKey, token, stored, OUTCOME_TTL_MS);
    } catch (err) {
      // Sent all the same; the claim stays and a retry with this key answers 409, then OUTCOME_UNKNOWN.
      Object.assign(ctx.log, { recorded: false, storeError: errorFields(err) });
    }
  }
  return { ok: true, answer, replayed: false };
}

export type CheckAnswer =
  | { valid: true }
  | { valid: false; reason: 'mismatch' | 'expired' | 'not-found' | 'too-many-attempts'; attemptsLeft: number };

/**
 * `POST /verify/check`. Every answer costs the same work: one store script, two HMACs and one
 * constant-time comparison, whether the phone has a code or not. A phone without a record gets a
 * decoy (a record no code matches), so it answers as a phone with a live code and a wrong guess:
 * `mismatch` counting down, then `too-many-attempts`, then `expired`.
 */
export async function checkVerification(rt: VerifyDeps, body: unknown, ctx: FlowContext): Promise<CheckAnswer> {
  const input = parseOrThrow(verifyCheckSchema, body);
  const phoneNo = normalizePhone(input.phone);
  const keys = keysOf(rt);
  Object.assign(ctx.log, { verify: 'check', phone: maskPhone(phoneNo) });
  const now = rt.now();
  const decoyId = randomUUID();
  const decoy: Sealed = {
    id: decoyId,
    mac: decoyMac(keys, phoneNo, decoyId).toString('base64url'),
    enc: '',
    exp: now + TTL_SECONDS.default * 1000,
    ttlS: TTL_SECONDS.default,
  };
  let res: Awaited<ReturnType<ReturnType<typeof verifyStoreFor>['attempt']>>;
  const vstore = verifyStoreFor(rt.store);
  const key = recordKey(keys, phoneNo);
  try {
    res = await vstore.attempt(key, { now, decoy, max: MAX_ATTEMPTS, ...(input.verificationId ? { id: input.verificationId } : {}) });
  } catch (err) {
    Object.assign(ctx.log, { storeError: errorFields(err) });
    throw storeUnavailable(err, 'the code was not checked; retry');
  }
  // The same HMAC and comparison on every path (timing): against the decoy when there is no record.
  const storedMac = Buffer.from(res.state === 'not-found' ? decoy.mac : res.mac, 'base64url');
  const candidate = macCode(keys, phoneNo, res.state === 'open' ? res.id : (input.verificationId ?? decoyId), input.code);
  const match = sameMac(candidate, storedMac);
  let answer: CheckAnswer;
  if (res.state === 'open') {
    if (match && !res.decoy) {
      let consumed: boolean;
      try {
        consumed = await vstore.consume(key, res.id);
      } catch (err) {
        Object.assign(ctx.log, { storeError: errorFields(err) });
        throw storeUnavailable(err, 'the code was right but could not be marked used; retry the check');
      }
      // Two checks with the right code at once: only the first is valid.
      answer = consumed ? { valid: true } : { valid: false, reason: 'not-found', attemptsLeft: 0 };
    } else {
      answer = { valid: false, reason: 'mismatch', attemptsLeft: Math.max(0, MAX_ATTEMPTS - res.tries) };
    }
  } else if (res.state === 'expired') answer = { valid: false, reason: 'expired', attemptsLeft: 0 };
  else if (res.state === 'locked') answer = { valid: false, reason: 'too-many-attempts', attemptsLeft: 0 };
  else answer = { valid: false, reason: 'not-found', attemptsLeft: 0 };
  Object.assign(ctx.log, answer.valid ? { valid: true } : { valid: false, reason: answer.reason, attemptsLeft: answer.attemptsLeft });
  return answer;
}

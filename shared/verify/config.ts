import { randomBytes } from 'node:crypto';
import { DEFAULT_VOICE_TEXT, spacedDigits } from './codes.ts';

/**
 * VERIFY_SECRET, VERIFY_SMS_SKIN and VERIFY_VOICE_TEXT (docs/configuration.md, docs/verification.md).
 * A missing VERIFY_SECRET does not stop the function's other routes: the verification routes
 * refuse (fail closed, naming the variable) and the instance logs it at start. Locally in sandbox
 * mode a random secret per process stands in (said at start): codes then do not survive a restart.
 */

export const MIN_VERIFY_SECRET_LENGTH = 16;
/** The voice provider's limit on a text (shared/channels/base.ts FIELD_LIMITS.voiceContentLength). */
const VOICE_MAX = 500;

/** One random secret per process (sandbox only), shared by the functions `npm start` hosts. */
let sandboxSecret: string | undefined;

export interface VerifyConfig {
  /** Undefined: verification refused, `problem` says why. */
  secret: string | undefined;
  secretSource: 'env' | 'random-sandbox' | 'missing';
  problem: string | undefined;
  /** VERIFY_SMS_SKIN; undefined = the catalog's first verification template, else skin 1. */
  smsSkin: string | undefined;
  voiceText: string;
}

export function loadVerifyConfig(
  e: { VERIFY_SECRET?: string | undefined; VERIFY_SMS_SKIN?: string | undefined; VERIFY_VOICE_TEXT?: string | undefined },
  ctx: { sandbox: boolean; deployed: boolean },
  problems: string[],
): VerifyConfig {
  const raw = e.VERIFY_SECRET?.trim() ?? '';
  let secret: string | undefined;
  let secretSource: VerifyConfig['secretSource'] = 'missing';
  let problem: string | undefined;
  if (raw !== '') {
    if (raw.length < MIN_VERIFY_SECRET_LENGTH) problems.push(`VERIFY_SECRET must be at least ${MIN_VERIFY_SECRET_LENGTH} characters`);
    secret = raw;
    secretSource = 'env';
  } else if (ctx.sandbox && !ctx.deployed) {
    sandboxSecret ??= randomBytes(32).toString('base64url');
    secret = sandboxSecret;
    secretSource = 'random-sandbox';
  } else {
    problem =
      'VERIFY_SECRET is required for the verification routes (POST /sms/verify, /voice/verify, /verify/check): set it to a random value of at least 16 characters (e.g. openssl rand -base64 32), the same for long-sms and voice-notify';
  }
  const voiceText = e.VERIFY_VOICE_TEXT?.trim() ? (e.VERIFY_VOICE_TEXT as string) : DEFAULT_VOICE_TEXT;
  if (!voiceText.includes('{code}')) problems.push('VERIFY_VOICE_TEXT must contain {code} (where the code is spoken)');
  else if (voiceText.replaceAll('{code}', spacedDigits('12345678')).replaceAll('{minutes}', '30').length > VOICE_MAX)
    problems.push(`VERIFY_VOICE_TEXT is over ${VOICE_MAX} characters with an 8-digit code in it`);
  const smsSkin = e.VERIFY_SMS_SKIN?.trim() || undefined;
  if (smsSkin !== undefined && smsSkin.length > 64) problems.push('VERIFY_SMS_SKIN must be at most 64 characters');
  return { secret, secretSource, problem, smsSkin, voiceText };
}

import * as z from 'zod/mini';
import { ChannelMismatchError, InvalidRequestError } from './errors.ts';
import { normalizePhone } from './phone.ts';
import { parseOrThrow } from './validation.ts';

export type Channel = 'sms' | 'voice';

export const FIELD_LIMITS = {
  /** Long SMS: the provider caps the whole text at 200 characters. */
  paramLength: 200,
  paramCount: 20,
  /** Voice: the vendor registers texts of up to 500 characters. */
  voiceContentLength: 500,
  idempotencyKeyLength: 200,
  skinLength: 64,
  signLength: 64,
} as const;

// C0 controls other than TAB/LF/CR, DEL, and lone surrogates cannot be sent as text.
// Char codes rather than a regex: Biome refuses control characters in a regex literal.
function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f) return true;
  }
  return false;
}

const text = (max: number) =>
  z.string().check(
    z.maxLength(max),
    z.refine((s) => !hasControl(s), { error: 'must not contain control characters' }),
    z.refine((s) => s.isWellFormed(), { error: 'must be valid Unicode text' }),
  );

const RESERVED_NAMES = new Set(['__proto__', 'constructor', 'prototype']);

const paramValue = text(FIELD_LIMITS.paramLength).check(
  z.refine((s) => !s.includes('|'), {
    error: 'must not contain "|": the provider joins parameters with it and cannot escape it',
  }),
);

const sendAt = z.string().check(
  z.refine((s) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(s) && !Number.isNaN(Date.parse(s)), {
    error: 'must be an ISO-8601 time with a zone, e.g. 2026-05-01T09:00:00+08:00',
  }),
);

const common = {
  phone: z.string().check(z.minLength(1, { error: 'is required' })),
  idempotencyKey: z.optional(text(FIELD_LIMITS.idempotencyKeyLength).check(z.minLength(1))),
  sendAt: z.optional(sendAt),
};

export const smsJobSchema = z.strictObject({
  channel: z.optional(z.literal('sms')),
  ...common,
  skin: text(FIELD_LIMITS.skinLength).check(z.minLength(1, { error: 'is required' })),
  params: z.union(
    [
      z.array(paramValue).check(z.maxLength(FIELD_LIMITS.paramCount)),
      z.record(
        z.string().check(
          z.regex(/^[\w\u4e00-\u9fff]{1,32}$/),
          // `__proto__` would be dropped silently by the object it lands in, `constructor` and
          // `prototype` would shadow Object's own: none can be a template variable.
          z.refine((k) => !RESERVED_NAMES.has(k), { error: 'must not be __proto__, constructor or prototype' }),
        ),
        paramValue,
      ),
    ],
    { error: 'must be an array of strings in template order, or an object of strings by variable name' },
  ),
  sign: z.optional(text(FIELD_LIMITS.signLength).check(z.minLength(1))),
});

export const voiceJobSchema = z.strictObject({
  channel: z.optional(z.literal('voice')),
  ...common,
  // Length is checked after parsing so that an over-long text gets CONTENT_TOO_LONG.
  content: text(10_000).check(z.minLength(1, { error: 'is required' })),
});

export type SmsJob = Omit<z.infer<typeof smsJobSchema>, 'channel'> & { channel: 'sms' };
export type VoiceJob = Omit<z.infer<typeof voiceJobSchema>, 'channel'> & { channel: 'voice' };
export type Job = SmsJob | VoiceJob;

/** A plain object (not null, not an array): the one definition, used by every event guard. */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Validates one job for `channel`. Phone numbers come back normalised to 11 digits.
 * `prefix` points error paths into the real payload (e.g. `jobs[3].`).
 */
export function parseJob(raw: unknown, channel: Channel, prefix = ''): Job {
  const at = prefix.replace(/\.$/, '');
  if (!isRecord(raw)) throw new InvalidRequestError(`${at || 'body'} must be a JSON object`, at || '(body)');
  if (raw.channel !== undefined && raw.channel !== channel) {
    throw new ChannelMismatchError(channel, String(raw.channel), prefix);
  }
  if (channel === 'sms') {
    // zod skips a `__proto__` key without a word; a variable silently lost would send a wrong text.
    if (isRecord(raw.params) && Object.hasOwn(raw.params, '__proto__')) {
      throw new InvalidRequestError(
        `${prefix}params.__proto__ must not be __proto__, constructor or prototype`,
        `${prefix}params.__proto__`,
      );
    }
    const job = parseOrThrow(smsJobSchema, raw, at);
    return { ...job, channel: 'sms', phone: normalizePhone(job.phone, `${prefix}phone`) };
  }
  const job = parseOrThrow(voiceJobSchema, raw, at);
  if (job.content.length > FIELD_LIMITS.voiceContentLength) {
    throw new InvalidRequestError(
      `${prefix}content is over ${FIELD_LIMITS.voiceContentLength} characters`,
      `${prefix}content`,
      'CONTENT_TOO_LONG',
    );
  }
  return { ...job, channel: 'voice', phone: normalizePhone(job.phone, `${prefix}phone`) };
}

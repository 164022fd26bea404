import * as z from 'zod/mini';
import { FIELD_LIMITS } from '../jobs.ts';
import { CODE_LENGTH, TTL_SECONDS } from './codes.ts';

/** Request bodies of the verification routes (also the OpenAPI description's, shared/openapi/table.ts). */

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;
const shortText = (max: number) =>
  z.string().check(
    z.minLength(1),
    z.maxLength(max),
    z.refine((s) => !CONTROL.test(s), { error: 'must not contain control characters' }),
  );
const phone = z.string().check(z.minLength(1, { error: 'is required' }));
// A whole number in a range, checked by hand: zod's number schema and checks would add ~3 KB to
// each bundle for two fields (the OpenAPI description gets type and range from shared/openapi/table.ts).
const wholeNumber = (min: number, max: number) =>
  z.optional(
    z.custom<number>((v) => Number.isInteger(v) && (v as number) >= min && (v as number) <= max, {
      error: `must be a whole number from ${min} to ${max}`,
    }),
  );
const codeLength = wholeNumber(CODE_LENGTH.min, CODE_LENGTH.max);
const ttlSeconds = wholeNumber(TTL_SECONDS.min, TTL_SECONDS.max);
const idempotencyKey = z.optional(shortText(FIELD_LIMITS.idempotencyKeyLength));

export const smsVerifySchema = z.strictObject({
  phone,
  skin: z.optional(shortText(FIELD_LIMITS.skinLength)),
  sign: z.optional(shortText(FIELD_LIMITS.signLength)),
  codeLength,
  ttlSeconds,
  fallback: z.optional(z.literal('voice')),
  idempotencyKey,
});

export const voiceVerifySchema = z.strictObject({ phone, codeLength, ttlSeconds, idempotencyKey });

export const verifyCheckSchema = z.strictObject({
  phone,
  code: z.string().check(z.regex(/^\d{4,8}$/, { error: 'must be the 4-8 digit code' })),
  verificationId: z.optional(z.string().check(z.regex(/^[\w-]{1,64}$/, { error: 'must be the verificationId of the start answer' }))),
});

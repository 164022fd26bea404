import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';

/**
 * The cryptography of verification codes (docs/verification.md):
 * - codes come from `crypto.randomInt` (uniform, CSPRNG), never Math.random;
 * - the store keeps an HMAC-SHA256 of the code (key derived from VERIFY_SECRET), bound to the
 *   phone and the verification id, so a stored hash cannot be moved to another number or record;
 * - so that a start within the validity can re-send the SAME code, the code is also kept
 *   encrypted with AES-256-GCM under a second derived key (the phone and id are its associated
 *   data). Whoever reads the store alone learns neither the code nor the phone;
 * - checks compare equal-length HMAC digests with `crypto.timingSafeEqual`.
 * Keys are derived with HKDF-SHA256 and separate labels, so the HMAC key and the encryption key
 * are independent even though one secret is configured.
 */

export const CODE_LENGTH = { min: 4, max: 8, default: 6 } as const;
export const TTL_SECONDS = { min: 60, max: 1800, default: 300 } as const;
/** Wrong checks that lock a code. */
export const MAX_ATTEMPTS = 5;

export interface VerifyKeys {
  mac: Buffer;
  enc: Buffer;
  /** For the phone's store key: the store holds no phone number in clear. */
  index: Buffer;
}

export function deriveKeys(secret: string): VerifyKeys {
  const ikm = Buffer.from(secret, 'utf8');
  const key = (label: string) => Buffer.from(hkdfSync('sha256', ikm, Buffer.alloc(0), `fc-notify verify ${label}`, 32));
  return { mac: key('mac v1'), enc: key('enc v1'), index: key('index v1') };
}

/** `length` digits, each uniform (randomInt per digit: no modulo bias, leading zeros kept). */
export function generateCode(length: number = CODE_LENGTH.default): string {
  if (!Number.isInteger(length) || length < CODE_LENGTH.min || length > CODE_LENGTH.max) {
    throw new RangeError(`code length must be ${CODE_LENGTH.min}-${CODE_LENGTH.max}`);
  }
  let code = '';
  for (let i = 0; i < length; i += 1) code += String(randomInt(10));
  return code;
}

/** HMAC of a code for one phone and one verification: 32 bytes, whatever the code's length. */
export function macCode(keys: VerifyKeys, phone: string, id: string, code: string): Buffer {
  return createHmac('sha256', keys.mac).update(`code\0${phone}\0${id}\0${code}`).digest();
}

/**
 * The hash a decoy record holds (a check for a phone without a code creates one): the same size
 * as a code's HMAC, and under a different label, so no code can ever match it.
 */
export function decoyMac(keys: VerifyKeys, phone: string, id: string): Buffer {
  return createHmac('sha256', keys.mac).update(`decoy\0${phone}\0${id}`).digest();
}

/** Constant-time equality of two digests (unequal lengths are compared against themselves, then refused). */
export function sameMac(a: Buffer, b: Buffer): boolean {
  if (a.length !== b.length) {
    timingSafeEqual(a, a);
    return false;
  }
  return timingSafeEqual(a, b);
}

/** Store key part for a phone: an HMAC, so keys list no numbers (and cannot be computed without the secret). */
export function phoneIndex(keys: VerifyKeys, phone: string): string {
  return createHmac('sha256', keys.index).update(phone).digest('base64url').slice(0, 22);
}

/** `iv.tag.ciphertext` (base64url), AES-256-GCM, associated data phone and id. */
export function encryptCode(keys: VerifyKeys, phone: string, id: string, code: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', keys.enc, iv);
  c.setAAD(Buffer.from(`${phone}\0${id}`));
  const ct = Buffer.concat([c.update(code, 'utf8'), c.final()]);
  return [iv, c.getAuthTag(), ct].map((b) => b.toString('base64url')).join('.');
}

/** The code back, or undefined when the record was not written under this secret (or was altered). */
export function decryptCode(keys: VerifyKeys, phone: string, id: string, sealed: string): string | undefined {
  const [iv, tag, ct] = sealed.split('.').map((s) => Buffer.from(s, 'base64url'));
  if (!iv || !tag || !ct || iv.length !== 12 || tag.length !== 16) return undefined;
  try {
    const d = createDecipheriv('aes-256-gcm', keys.enc, iv);
    d.setAAD(Buffer.from(`${phone}\0${id}`));
    d.setAuthTag(tag);
    const code = Buffer.concat([d.update(ct), d.final()]).toString('utf8');
    return /^\d{4,8}$/.test(code) ? code : undefined;
  } catch {
    return undefined;
  }
}

/** "123456" → "1 2 3 4 5 6": text-to-speech then reads digits, not a number (十二万三千…). */
export function spacedDigits(code: string): string {
  return code.split('').join(' ');
}

export const DEFAULT_VOICE_TEXT = '您的验证码是{code}，{minutes}分钟内有效。';

/** The spoken text: `{code}` spaced digit by digit, `{minutes}` the validity rounded up. */
export function voiceText(template: string, code: string, ttlSeconds: number): string {
  const minutes = String(Math.ceil(ttlSeconds / 60));
  return template.replaceAll('{code}', spacedDigits(code)).replaceAll('{minutes}', minutes);
}

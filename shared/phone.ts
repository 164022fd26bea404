import { InvalidRequestError } from './errors.ts';

const MAINLAND_MOBILE = /^1[3-9]\d{9}$/;
// Separators people type; anything else (full-width digits, invisible characters) is refused
// rather than guessed at: a wrong guess sends to the wrong person.
const SEPARATORS = /[ -]/g;

/**
 * Normalises `+86`/`0086`/`86` prefixes to the bare 11 digits of a mainland mobile number.
 * Throws INVALID_PHONE (422) naming the field; the message never repeats the number.
 */
export function normalizePhone(raw: string, field = 'phone'): string {
  if (raw.length > 32) throw new InvalidRequestError(`${field} is too long to be a phone number`, field, 'INVALID_PHONE');
  // Not String.trim(): it also eats a BOM, NBSP and other invisible characters, which are refused.
  let digits = raw.replace(/^[ \t]+|[ \t]+$/g, '').replace(SEPARATORS, '');
  if (digits.startsWith('+86')) digits = digits.slice(3);
  else if (digits.startsWith('0086')) digits = digits.slice(4);
  else if (digits.length === 13 && digits.startsWith('86')) digits = digits.slice(2);
  if (!MAINLAND_MOBILE.test(digits)) {
    throw new InvalidRequestError(
      `${field} must be a mainland China mobile number (11 digits starting 13-19, optional +86/0086/86 prefix)`,
      field,
      'INVALID_PHONE',
    );
  }
  return digits;
}

/** `13800138000` → `138****8000`. Anything unexpected is masked whole. */
export function maskPhone(phone: string): string {
  if (/^\d{11}$/.test(phone)) return `${phone.slice(0, 3)}****${phone.slice(7)}`;
  return phone.length <= 4 ? '****' : `${phone.slice(0, 2)}****`;
}

import * as crypto from 'node:crypto';

/**
 * SHA-256 of a UTF-8 string. Node's one-shot `crypto.hash` (20.12+) is about twice as fast as
 * createHash().update().digest() for the short inputs hashed on every send (the caller's key,
 * the phone's limit key); older 20.x runtimes fall back to createHash, with the same digest.
 */
const oneShot = (crypto as { hash?: typeof crypto.hash }).hash;

export function sha256(data: string): Buffer;
export function sha256(data: string, encoding: 'base64url' | 'hex'): string;
export function sha256(data: string, encoding?: 'base64url' | 'hex'): Buffer | string {
  if (oneShot) return encoding ? oneShot('sha256', data, encoding) : oneShot('sha256', data, 'buffer');
  const h = crypto.createHash('sha256').update(data, 'utf8');
  return encoding ? h.digest(encoding) : h.digest();
}

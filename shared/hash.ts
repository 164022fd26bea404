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

/**
 * A Map key for the in-memory store and limiter: the SHA-256 of `key` (43 base64url characters,
 * one flat string). Keys built from template literals are V8 ropes (a tree of string pieces,
 * ~200 bytes more per key than the text); a batch file of 100,000 lines keeps one idempotency
 * record and one phone counter per line for their TTL, so the key's size is paid 200,000 times
 * (BENCHMARKS.md, "OSS batch file of 100,000 lines").
 */
export function memoryKey(key: string): string {
  return sha256(key, 'base64url');
}

import { timingSafeEqual } from 'node:crypto';
import { NotifyError, UnauthorizedError } from '../errors.ts';
import { sha256 } from '../hash.ts';
import type { HttpRequest } from './adapters/http.ts';
import type { Runtime } from './runtime.ts';

/**
 * Caller authentication for the HTTP API: `Authorization: Bearer <key>` or `X-Api-Key: <key>`,
 * keys from API_KEYS (`name:key,…`). Returns the caller's name (never the key).
 * Fails closed: with no API_KEYS, HTTP sends are refused unless ALLOW_UNAUTHENTICATED=1.
 */

function presentedKey(req: HttpRequest): string | undefined {
  const auth = req.headers.authorization;
  if (auth) {
    const m = /^Bearer[ ]+(\S+)\s*$/i.exec(auth);
    if (m) return m[1];
  }
  const apiKey = req.headers['x-api-key'];
  return apiKey ? apiKey.trim() : undefined;
}

// Digests of the configured keys, made once per instance rather than on every request.
const keyDigests = new WeakMap<object, Array<{ name: string; digest: Buffer }>>();

function configuredDigests(apiKeys: ReadonlyArray<{ name: string; key: string }>): Array<{ name: string; digest: Buffer }> {
  let d = keyDigests.get(apiKeys);
  if (!d) {
    d = apiKeys.map((k) => ({ name: k.name, digest: sha256(k.key) }));
    keyDigests.set(apiKeys, d);
  }
  return d;
}

export function authenticate(req: HttpRequest, rt: Runtime): string {
  const config = rt.config;
  if (!config) throw rt.configError ?? new NotifyError('INTERNAL', 'function is misconfigured');
  if (config.apiKeys.length === 0) {
    if (config.allowUnauthenticated) return 'anonymous';
    throw new NotifyError(
      'INTERNAL',
      'function is misconfigured: API_KEYS is required for the HTTP trigger (or ALLOW_UNAUTHENTICATED=1 to accept anyone, not recommended)',
    );
  }
  const key = presentedKey(req);
  if (!key) throw new UnauthorizedError(req.headers.authorization || req.headers['x-api-key'] !== undefined ? 'malformed' : 'missing');
  // Compare fixed-length digests so neither length nor content leaks through timing; check all keys.
  const given = sha256(key);
  let caller: string | undefined;
  for (const k of configuredDigests(config.apiKeys)) {
    if (timingSafeEqual(given, k.digest) && caller === undefined) caller = k.name;
  }
  if (caller === undefined) throw new UnauthorizedError('unknown-key');
  return caller;
}

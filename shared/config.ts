import * as z from 'zod/mini';
import { ConfigError } from './errors.ts';

/**
 * The environment, read once per instance and validated whole (style.md §7).
 * Messages name the variable and never echo a value: several of these are secrets.
 */

const flag = z.optional(z.enum(['0', '1', 'true', 'false', '']));
const positiveInt = (name: string) =>
  z.optional(z.string().check(z.regex(/^\d+$/, { error: `${name} must be a whole number of milliseconds or a count` })));

const envSchema = z.object({
  APPCODE: z.optional(z.string()),
  APP_KEY: z.optional(z.string()),
  APP_SECRET: z.optional(z.string()),
  LONG_SMS_URL: z.optional(z.string()),
  VOICE_URL: z.optional(z.string()),
  SANDBOX: flag,
  API_KEYS: z.optional(z.string()),
  ALLOW_UNAUTHENTICATED: flag,
  REDIS_URL: z.optional(z.string()),
  UPSTREAM_TIMEOUT_MS: positiveInt('UPSTREAM_TIMEOUT_MS'),
  UPSTREAM_RETRIES: positiveInt('UPSTREAM_RETRIES'),
  MAX_BODY_BYTES: positiveInt('MAX_BODY_BYTES'),
  OSS_ENDPOINT: z.optional(z.string()),
  LOG_LEVEL: z.optional(z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent', ''])),
});

export type Credentials =
  | { kind: 'sandbox' }
  | { kind: 'appcode'; appCode: string }
  | { kind: 'signature'; appKey: string; appSecret: string };

export interface ApiKey {
  name: string;
  key: string;
}

export interface Config {
  credentials: Credentials;
  longSmsUrl: string;
  voiceUrl: string;
  apiKeys: ApiKey[];
  /** True only when API_KEYS is empty and ALLOW_UNAUTHENTICATED=1 was set on purpose. */
  allowUnauthenticated: boolean;
  redisUrl: string | undefined;
  upstreamTimeoutMs: number;
  upstreamRetries: number;
  maxBodyBytes: number;
  ossEndpoint: string | undefined;
  logLevel: string;
}

export const DEFAULT_LONG_SMS_URL = 'https://largesms.market.alicloudapi.com/largesms';
export const DEFAULT_VOICE_URL = 'https://yytz.market.alicloudapi.com/chuangxin/yytz';
export const MIN_API_KEY_LENGTH = 16;

const isOn = (v: string | undefined) => v === '1' || v === 'true';
const blank = (v: string | undefined) => v === undefined || v.trim() === '';

function checkUrl(name: string, value: string, problems: string[]): void {
  try {
    const u = new URL(value);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') problems.push(`${name} must be an http(s) URL`);
  } catch {
    problems.push(`${name} must be an absolute URL`);
  }
}

function parseApiKeys(raw: string, problems: string[]): ApiKey[] {
  const keys: ApiKey[] = [];
  const names = new Set<string>();
  for (const [i, entry] of raw.split(',').entries()) {
    const trimmed = entry.trim();
    if (trimmed === '') continue;
    const sep = trimmed.indexOf(':');
    const name = sep > 0 ? trimmed.slice(0, sep).trim() : '';
    const key = sep > 0 ? trimmed.slice(sep + 1).trim() : '';
    if (!/^[\w.-]{1,64}$/.test(name) || key === '') {
      problems.push(`API_KEYS entry ${i + 1} must look like name:key (name of letters, digits, . _ -)`);
      continue;
    }
    if (key.length < MIN_API_KEY_LENGTH) {
      problems.push(`API_KEYS key for "${name}" must be at least ${MIN_API_KEY_LENGTH} characters`);
      continue;
    }
    if (names.has(name)) problems.push(`API_KEYS names "${name}" twice`);
    names.add(name);
    keys.push({ name, key });
  }
  return keys;
}

export interface LoadConfigOptions {
  /** Sending functions need provider credentials; template-validate does not. */
  requireCredentials?: boolean;
}

/** Reads and validates the environment. Throws ConfigError listing every problem. */
export function loadConfig(env: Record<string, string | undefined> = process.env, options: LoadConfigOptions = {}): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const vars = [...new Set(parsed.error.issues.map((i) => String(i.path[0])))];
    const problems = parsed.error.issues.map((i) =>
      i.message && i.message !== 'Invalid input' ? i.message : `${String(i.path[0])} has an invalid value`,
    );
    throw new ConfigError(problems.join('; '), vars);
  }
  const e = parsed.data;
  const problems: string[] = [];
  const vars: string[] = [];

  let credentials: Credentials;
  if (isOn(e.SANDBOX)) {
    credentials = { kind: 'sandbox' };
  } else if (!blank(e.APPCODE)) {
    credentials = { kind: 'appcode', appCode: (e.APPCODE as string).trim() };
  } else if (!blank(e.APP_KEY) || !blank(e.APP_SECRET)) {
    if (blank(e.APP_KEY)) {
      problems.push('APP_KEY is required when APP_SECRET is set');
      vars.push('APP_KEY');
    }
    if (blank(e.APP_SECRET)) {
      problems.push('APP_SECRET is required when APP_KEY is set');
      vars.push('APP_SECRET');
    }
    credentials = { kind: 'signature', appKey: (e.APP_KEY ?? '').trim(), appSecret: (e.APP_SECRET ?? '').trim() };
  } else if (options.requireCredentials === false) {
    credentials = { kind: 'sandbox' };
  } else {
    problems.push('APPCODE is required (or APP_KEY and APP_SECRET, or SANDBOX=1 to use the built-in sandbox)');
    vars.push('APPCODE');
    credentials = { kind: 'sandbox' };
  }

  const longSmsUrl = blank(e.LONG_SMS_URL) ? DEFAULT_LONG_SMS_URL : (e.LONG_SMS_URL as string).trim();
  const voiceUrl = blank(e.VOICE_URL) ? DEFAULT_VOICE_URL : (e.VOICE_URL as string).trim();
  checkUrl('LONG_SMS_URL', longSmsUrl, problems);
  checkUrl('VOICE_URL', voiceUrl, problems);

  const apiKeys = blank(e.API_KEYS) ? [] : parseApiKeys(e.API_KEYS as string, problems);
  const allowUnauthenticated = apiKeys.length === 0 && isOn(e.ALLOW_UNAUTHENTICATED);

  const upstreamTimeoutMs = Number(e.UPSTREAM_TIMEOUT_MS || 5000);
  if (upstreamTimeoutMs < 100 || upstreamTimeoutMs > 120_000) problems.push('UPSTREAM_TIMEOUT_MS must be between 100 and 120000');
  const upstreamRetries = Number(e.UPSTREAM_RETRIES || 2);
  if (upstreamRetries > 5) problems.push('UPSTREAM_RETRIES must be at most 5');
  const maxBodyBytes = Number(e.MAX_BODY_BYTES || 64 * 1024);
  if (maxBodyBytes < 1024) problems.push('MAX_BODY_BYTES must be at least 1024');

  if (problems.length > 0) {
    const named = problems.map((p) => p.split(' ')[0] as string);
    throw new ConfigError(problems.join('; '), [...new Set([...vars, ...named])]);
  }
  return {
    credentials,
    longSmsUrl,
    voiceUrl,
    apiKeys,
    allowUnauthenticated,
    redisUrl: blank(e.REDIS_URL) ? undefined : e.REDIS_URL,
    upstreamTimeoutMs,
    upstreamRetries,
    maxBodyBytes,
    ossEndpoint: blank(e.OSS_ENDPOINT) ? undefined : e.OSS_ENDPOINT,
    logLevel: blank(e.LOG_LEVEL) ? 'info' : (e.LOG_LEVEL as string),
  };
}

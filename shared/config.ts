import { CHANNELS } from './channels/index.ts';
import { ConfigError } from './errors.ts';
import type { Channel } from './jobs.ts';
import { parseQuota, QUOTA_VARIABLES, type QuotaSpec } from './usage/quota.ts';
import { loadVerifyConfig, type VerifyConfig } from './verify/config.ts';

/**
 * The environment, read once per instance and validated whole (every problem named at once, not one per deploy).
 * Messages name the variable and never echo a value: several of these are secrets.
 */

/**
 * How each variable is checked before the rules below read it: `text` (any string), `enum` (one
 * of the values), or `pattern` (a string matching `re`, else `error`). Plain data, not zod
 * schemas: a cold start validates the environment once, and building ~50 zod objects at require
 * cost more than the check itself (BENCHMARKS.md, issue 15). A value that is not a string, or an
 * enum value not listed without an `error`, reads "<NAME> has an invalid value".
 */
type EnvRule =
  | { kind: 'text' }
  | { kind: 'enum'; values: readonly string[]; error?: string }
  | { kind: 'pattern'; re: RegExp; error: string };

const TEXT: EnvRule = { kind: 'text' };
const FLAG: EnvRule = { kind: 'enum', values: ['0', '1', 'true', 'false', ''] };
const WHOLE = /^\d+$/;
const COUNT = /^\s*\d{0,9}\s*$/;
const positiveInt = (name: string): EnvRule => ({
  kind: 'pattern',
  re: WHOLE,
  error: `${name} must be a whole number of milliseconds or a count`,
});
const count = (name: string): EnvRule => ({ kind: 'pattern', re: COUNT, error: `${name} must be a whole number (0 turns the limit off)` });

/** Every variable the functions validate, in the order problems are listed. */
export const ENV_RULES: Readonly<Record<string, EnvRule>> = {
  // Each channel's provider URL variable (LONG_SMS_URL, VOICE_URL), from its description: config
  // reads them through CHANNELS, so a new channel's variable is validated and read without a change here.
  ...Object.fromEntries(Object.values(CHANNELS).map((c) => [c.urlVariable, TEXT])),
  APPCODE: TEXT,
  APP_KEY: TEXT,
  APP_SECRET: TEXT,
  SANDBOX: FLAG,
  API_KEYS: TEXT,
  ALLOW_UNAUTHENTICATED: FLAG,
  REDIS_URL: TEXT,
  REDIS_CLUSTER: FLAG,
  STORE: { kind: 'enum', values: ['redis', 'memory', ''], error: 'STORE must be redis or memory' },
  /** Set by Function Compute in every instance (FC_* names are reserved); tells a deployed function from `npm start`. */
  FC_FUNCTION_NAME: TEXT,
  UPSTREAM_TIMEOUT_MS: positiveInt('UPSTREAM_TIMEOUT_MS'),
  UPSTREAM_RETRIES: positiveInt('UPSTREAM_RETRIES'),
  MAX_BODY_BYTES: positiveInt('MAX_BODY_BYTES'),
  OSS_ENDPOINT: TEXT,
  RESULT_PREFIX: TEXT,
  NOTIFY_PREFIX: TEXT,
  BATCH_CONCURRENCY: positiveInt('BATCH_CONCURRENCY'),
  MAX_EVENT_BYTES: positiveInt('MAX_EVENT_BYTES'),
  MAX_JOBS_PER_EVENT: positiveInt('MAX_JOBS_PER_EVENT'),
  SCHEDULE_MAX_PENDING: count('SCHEDULE_MAX_PENDING'),
  SCHEDULE_MAX_DAYS: positiveInt('SCHEDULE_MAX_DAYS'),
  SCHEDULE_EXPIRE_HOURS: positiveInt('SCHEDULE_EXPIRE_HOURS'),
  LOG_LEVEL: { kind: 'enum', values: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent', ''] },
  LIMIT_PHONE_INTERVAL_S: count('LIMIT_PHONE_INTERVAL_S'),
  LIMIT_PHONE_DAILY: count('LIMIT_PHONE_DAILY'),
  LIMIT_VERIFICATION_INTERVAL_S: count('LIMIT_VERIFICATION_INTERVAL_S'),
  LIMIT_VERIFICATION_HOURLY: count('LIMIT_VERIFICATION_HOURLY'),
  LIMIT_VERIFICATION_DAILY: count('LIMIT_VERIFICATION_DAILY'),
  LIMIT_CALLER_PER_MINUTE: count('LIMIT_CALLER_PER_MINUTE'),
  LIMIT_CALLER_DAILY: count('LIMIT_CALLER_DAILY'),
  LIMIT_GLOBAL_DAILY: count('LIMIT_GLOBAL_DAILY'),
  LIMIT_ACTION: { kind: 'enum', values: ['defer', 'report', ''], error: 'LIMIT_ACTION must be defer or report' },
  PHONE_ALLOWLIST: TEXT,
  PHONE_DENYLIST: TEXT,
  QUIET_HOURS: TEXT,
  QUIET_HOURS_ACTION: { kind: 'enum', values: ['defer', 'refuse', ''], error: 'QUIET_HOURS_ACTION must be defer or refuse' },
  VERIFY_SECRET: TEXT,
  VERIFY_SMS_SKIN: TEXT,
  VERIFY_VOICE_TEXT: TEXT,
  // Issue 13 (docs/usage.md).
  OPS_CALLERS: TEXT,
  QUOTA_LONG_SMS: TEXT,
  QUOTA_VOICE: TEXT,
  ALERT_PHONES: TEXT,
  ALERT_SKIN: TEXT,
};

/** The problem with one variable's value, or undefined (an unset variable is never a problem here). */
function envProblem(name: string, rule: EnvRule, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') return `${name} has an invalid value`;
  if (rule.kind === 'enum' && !rule.values.includes(value)) return rule.error ?? `${name} has an invalid value`;
  if (rule.kind === 'pattern' && !rule.re.test(value)) return rule.error;
  return undefined;
}

export type Credentials =
  | { kind: 'sandbox' }
  | { kind: 'appcode'; appCode: string }
  | { kind: 'signature'; appKey: string; appSecret: string };

export interface ApiKey {
  name: string;
  key: string;
}

/** Counts per window; 0 means the limit is off. Days are Beijing days (UTC+8). */
export interface LimitConfig {
  phoneIntervalS: number;
  phoneDaily: number;
  verificationIntervalS: number;
  verificationHourly: number;
  verificationDaily: number;
  callerPerMinute: number;
  callerDaily: number;
  globalDaily: number;
  /** What queued jobs over a limit become: scheduled for later, or reported as refused. */
  action: 'defer' | 'report';
}

export interface RecipientPolicy {
  /** Number prefixes (1–11 digits); empty = every mainland mobile. */
  allow: string[];
  deny: string[];
}

/** The window (Beijing time, minutes after midnight) in which voice calls and marketing SMS may go out. */
export interface QuietHours {
  startMinute: number;
  endMinute: number;
  action: 'defer' | 'refuse';
}

export interface Config {
  credentials: Credentials;
  /** Each channel's provider URL (its description's variable, else its default). */
  urls: { [C in Channel]: string };
  apiKeys: ApiKey[];
  /** True only when API_KEYS is empty and ALLOW_UNAUTHENTICATED=1 was set on purpose. */
  allowUnauthenticated: boolean;
  redisUrl: string | undefined;
  /** REDIS_CLUSTER=1: REDIS_URL names seed nodes of a cluster in direct mode (ioredis's cluster client). */
  redisCluster: boolean;
  /**
   * Where idempotency keys, limits and schedules live: `redis` (shared by every instance) or
   * `memory` (this instance only). Deployed, `redis` is the default and needs REDIS_URL;
   * `memory` must be chosen explicitly (STORE=memory).
   */
  store: 'redis' | 'memory';
  upstreamTimeoutMs: number;
  upstreamRetries: number;
  maxBodyBytes: number;
  ossEndpoint: string | undefined;
  /** Where OSS batch results go: `<resultPrefix><batch key>.result.jsonl`, outside every trigger prefix. */
  resultPrefix: string;
  /**
   * Notify on upload: keys under this prefix are matched against the catalog's notification
   * rules instead of read as batch files. Undefined = the channel's default (notify/sms/, notify/voice/).
   */
  notifyPrefix: string | undefined;
  /** How many jobs of one event batch are sent at once. */
  batchConcurrency: number;
  /** An async trigger's event over this many bytes is refused before it is parsed (docs/limits.md). */
  maxEventBytes: number;
  /** An event carrying more jobs than this is refused whole (docs/limits.md). */
  maxJobsPerEvent: number;
  /** Scheduling rules for `sendAt` (docs/limits.md). */
  schedule: ScheduleLimits;
  logLevel: string;
  limits: LimitConfig;
  recipients: RecipientPolicy;
  /** Undefined when QUIET_HOURS=off. */
  quietHours: QuietHours | undefined;
  /** Verification codes (shared/verify/config.ts). */
  verify: VerifyConfig;
  /** Issue 13: usage, quota and alerts (docs/usage.md). */
  usage: UsageConfig;
}

export interface UsageConfig {
  /** Caller names (from API_KEYS) that may read GET /usage and every caller's jobs. */
  opsCallers: string[];
  quotas: Partial<Record<Channel, QuotaSpec>>;
  alertPhones: string[];
  alertSkin: string | undefined;
}

function parseUsage(e: Record<string, string | undefined>, apiKeys: ApiKey[], problems: string[]): UsageConfig {
  const names = new Set(apiKeys.map((k) => k.name));
  const opsCallers = (e.OPS_CALLERS ?? '')
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');
  const unknown = opsCallers.filter((n) => !names.has(n));
  if (unknown.length > 0 && apiKeys.length > 0)
    problems.push(`OPS_CALLERS names ${unknown.length} caller(s) not in API_KEYS (check the spelling)`);
  const alertPhones = (e.ALERT_PHONES ?? '')
    .split(',')
    .map((p) => p.trim().replace(/^\+?86/, ''))
    .filter((p) => p !== '');
  if (alertPhones.some((p) => !/^1\d{10}$/.test(p))) problems.push('ALERT_PHONES must be mainland mobile numbers, comma-separated');
  const alertSkin = blank(e.ALERT_SKIN) ? undefined : (e.ALERT_SKIN as string).trim();
  const quotas: UsageConfig['quotas'] = {};
  for (const [channel, name] of Object.entries(QUOTA_VARIABLES) as Array<[Channel, string]>) {
    const q = parseQuota(name, e[name], problems);
    if (q) quotas[channel] = q;
  }
  return { opsCallers, quotas, alertPhones, alertSkin };
}

export const DEFAULT_RATE_LIMITS: LimitConfig = {
  phoneIntervalS: 60,
  phoneDaily: 15,
  verificationIntervalS: 60,
  verificationHourly: 5,
  verificationDaily: 10,
  callerPerMinute: 60,
  callerDaily: 2000,
  globalDaily: 10000,
  action: 'defer',
};
export interface ScheduleLimits {
  /** Jobs one HTTP caller may have waiting per channel; 0 = no cap. */
  maxPending: number;
  /** How far ahead `sendAt` may be. */
  maxDays: number;
  /** A scheduled job not sent within this many hours after it was due is dropped (logged). */
  expireHours: number;
}

export const DEFAULT_SCHEDULE_LIMITS: ScheduleLimits = { maxPending: 1000, maxDays: 30, expireHours: 24 };
/** 10 MiB: a full EventBridge batch of 100 MNS messages of 64 KB, base64-encoded, fits (docs/limits.md). */
export const DEFAULT_MAX_EVENT_BYTES = 10 * 1024 * 1024;
export const DEFAULT_MAX_JOBS_PER_EVENT = 1000;
/** Defaults read where a runtime was built without a config (a broken environment): one place. */
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;
/** FC's default function timeout, used where FC's context does not say (local runs, tests). */
export const DEFAULT_FUNCTION_TIMEOUT_S = 60;
export const DEFAULT_UPSTREAM_TIMEOUT_MS = 5000;
export const DEFAULT_UPSTREAM_RETRIES = 2;
export const DEFAULT_BATCH_CONCURRENCY = 8;

/**
 * The most jobs of one event sent at once. The provider client's socket pool has exactly this
 * many sockets (shared/provider/client.ts), so a batch never queues for a socket.
 */
export const MAX_BATCH_CONCURRENCY = 64;

export const DEFAULT_QUIET_HOURS = '09:00-20:00';

export const MIN_API_KEY_LENGTH = 16;
export const DEFAULT_RESULT_PREFIX = 'results/';
/** NOTIFY_PREFIX when unset, per channel (s.yaml sets it explicitly, from infra/names.json). */
export const defaultNotifyPrefix = (channel: Channel): `notify/${Channel}/` => `notify/${channel}/`;

const isOn = (v: string | undefined) => v === '1' || v === 'true';
const blank = (v: string | undefined) => v === undefined || v.trim() === '';

/**
 * A folder-like OSS prefix (RESULT_PREFIX, NOTIFY_PREFIX): ends with /, no leading /, no //, no
 * backslash or C0 control character, at most 200 UTF-16 units. Char codes, not a regex: Biome
 * refuses control characters in a regex literal.
 */
function isFolderPrefix(p: string): boolean {
  if (p.length === 0 || p.length > 200 || p.startsWith('/') || !p.endsWith('/') || p.includes('//')) return false;
  for (let i = 0; i < p.length; i++) if (p.charCodeAt(i) < 0x20 || p[i] === '\\') return false;
  return true;
}

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

function parsePrefixes(name: string, raw: string | undefined, problems: string[]): string[] {
  if (blank(raw)) return [];
  const out: string[] = [];
  for (const entry of (raw as string).split(',')) {
    const p = entry.trim();
    if (p === '') continue;
    if (!/^1\d{0,10}$/.test(p)) {
      problems.push(`${name} entries must be number prefixes of 1 to 11 digits starting with 1 (e.g. 138,1390000)`);
      return [];
    }
    out.push(p);
  }
  return out;
}

function parseQuietHours(raw: string | undefined, action: QuietHours['action'], problems: string[]): QuietHours | undefined {
  const value = blank(raw) ? DEFAULT_QUIET_HOURS : (raw as string).trim();
  if (/^(off|none|0)$/i.test(value)) return undefined;
  const m = /^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$/.exec(value);
  const minute = (h: string, mm: string) => Number(h) * 60 + Number(mm);
  if (!m || Number(m[1]) > 24 || Number(m[3]) > 24 || Number(m[2]) > 59 || Number(m[4]) > 59) {
    problems.push('QUIET_HOURS must look like 09:00-20:00 (Beijing time) or off');
    return undefined;
  }
  const startMinute = minute(m[1] as string, m[2] as string);
  const endMinute = minute(m[3] as string, m[4] as string);
  if (startMinute === endMinute || startMinute > 1440 || endMinute > 1440) {
    problems.push('QUIET_HOURS must be a window of non-zero length within a day, e.g. 09:00-20:00');
    return undefined;
  }
  return { startMinute, endMinute, action };
}

/**
 * STORE=redis needs REDIS_URL; STORE=memory is a deliberate per-instance store. Unset: Redis when
 * REDIS_URL is set, otherwise memory locally, but a deployed sending function (FC_FUNCTION_NAME set
 * by FC) refuses, because a blank REDIS_URL there is a forgotten setting, not a choice.
 * Messages start with the variable's name (the caller lists those names).
 */
function chooseStore(
  e: { STORE?: string; REDIS_URL?: string; FC_FUNCTION_NAME?: string },
  options: LoadConfigOptions,
  problems: string[],
): Config['store'] {
  const hasRedis = !blank(e.REDIS_URL);
  if (e.STORE === 'memory') {
    if (hasRedis) problems.push('STORE is memory but REDIS_URL is set: unset one of them (STORE=redis, the default, uses REDIS_URL)');
    return 'memory';
  }
  const needsStore = options.requireCredentials !== false;
  const deployed = !blank(e.FC_FUNCTION_NAME);
  if (!hasRedis && (e.STORE === 'redis' || (deployed && needsStore))) {
    problems.push(
      'REDIS_URL is required (STORE=redis keeps idempotency, limits and schedules shared by every instance), or set STORE=memory to choose a per-instance store on purpose',
    );
  }
  return hasRedis || e.STORE === 'redis' ? 'redis' : 'memory';
}

/** Reads and validates the environment. Throws ConfigError listing every problem. */
export function loadConfig(env: Record<string, string | undefined> = process.env, options: LoadConfigOptions = {}): Config {
  const invalid: string[] = [];
  const invalidVars: string[] = [];
  for (const name in ENV_RULES) {
    const p = envProblem(name, ENV_RULES[name] as EnvRule, env[name]);
    if (p !== undefined) {
      invalid.push(p);
      invalidVars.push(name);
    }
  }
  if (invalid.length > 0) throw new ConfigError(invalid.join('; '), invalidVars);
  const e = env;
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

  const urls = {} as Config['urls'];
  for (const c of Object.values(CHANNELS)) {
    const raw = (e as Record<string, string | undefined>)[c.urlVariable];
    urls[c.channel] = blank(raw) ? c.defaultUrl : (raw as string).trim();
    checkUrl(c.urlVariable, urls[c.channel], problems);
  }

  const apiKeys = blank(e.API_KEYS) ? [] : parseApiKeys(e.API_KEYS as string, problems);
  const allowUnauthenticated = apiKeys.length === 0 && isOn(e.ALLOW_UNAUTHENTICATED);

  const upstreamTimeoutMs = Number(e.UPSTREAM_TIMEOUT_MS || DEFAULT_UPSTREAM_TIMEOUT_MS);
  if (upstreamTimeoutMs < 100 || upstreamTimeoutMs > 120_000) problems.push('UPSTREAM_TIMEOUT_MS must be between 100 and 120000');
  const upstreamRetries = Number(e.UPSTREAM_RETRIES || DEFAULT_UPSTREAM_RETRIES);
  if (upstreamRetries > 5) problems.push('UPSTREAM_RETRIES must be at most 5');
  const maxBodyBytes = Number(e.MAX_BODY_BYTES || DEFAULT_MAX_BODY_BYTES);
  const batchConcurrency = Number(e.BATCH_CONCURRENCY || DEFAULT_BATCH_CONCURRENCY);
  if (batchConcurrency < 1 || batchConcurrency > MAX_BATCH_CONCURRENCY)
    problems.push(`BATCH_CONCURRENCY must be between 1 and ${MAX_BATCH_CONCURRENCY}`);
  if (maxBodyBytes < 1024) problems.push('MAX_BODY_BYTES must be at least 1024');
  if (isOn(e.REDIS_CLUSTER) && blank(e.REDIS_URL))
    problems.push('REDIS_CLUSTER is set but REDIS_URL is empty: name one or more seed nodes of the cluster, comma-separated');
  const maxEventBytes = Number(e.MAX_EVENT_BYTES || DEFAULT_MAX_EVENT_BYTES);
  if (maxEventBytes < 64 * 1024 || maxEventBytes > 32 * 1024 * 1024)
    problems.push("MAX_EVENT_BYTES must be between 65536 and 33554432 (FC's 32 MB invocation limit)");
  const maxJobsPerEvent = Number(e.MAX_JOBS_PER_EVENT || DEFAULT_MAX_JOBS_PER_EVENT);
  if (maxJobsPerEvent < 1 || maxJobsPerEvent > 100_000) problems.push('MAX_JOBS_PER_EVENT must be between 1 and 100000');
  const schedule: ScheduleLimits = {
    maxPending: blank(e.SCHEDULE_MAX_PENDING) ? DEFAULT_SCHEDULE_LIMITS.maxPending : Number((e.SCHEDULE_MAX_PENDING as string).trim()),
    maxDays: Number(e.SCHEDULE_MAX_DAYS || DEFAULT_SCHEDULE_LIMITS.maxDays),
    expireHours: Number(e.SCHEDULE_EXPIRE_HOURS || DEFAULT_SCHEDULE_LIMITS.expireHours),
  };
  if (schedule.maxDays < 1 || schedule.maxDays > 366) problems.push('SCHEDULE_MAX_DAYS must be between 1 and 366');
  if (schedule.expireHours < 1 || schedule.expireHours > 24 * 30) problems.push('SCHEDULE_EXPIRE_HOURS must be between 1 and 720');

  const num = (v: string | undefined, d: number) => (blank(v) ? d : Number((v as string).trim()));
  const limits: LimitConfig = {
    phoneIntervalS: num(e.LIMIT_PHONE_INTERVAL_S, DEFAULT_RATE_LIMITS.phoneIntervalS),
    phoneDaily: num(e.LIMIT_PHONE_DAILY, DEFAULT_RATE_LIMITS.phoneDaily),
    verificationIntervalS: num(e.LIMIT_VERIFICATION_INTERVAL_S, DEFAULT_RATE_LIMITS.verificationIntervalS),
    verificationHourly: num(e.LIMIT_VERIFICATION_HOURLY, DEFAULT_RATE_LIMITS.verificationHourly),
    verificationDaily: num(e.LIMIT_VERIFICATION_DAILY, DEFAULT_RATE_LIMITS.verificationDaily),
    callerPerMinute: num(e.LIMIT_CALLER_PER_MINUTE, DEFAULT_RATE_LIMITS.callerPerMinute),
    callerDaily: num(e.LIMIT_CALLER_DAILY, DEFAULT_RATE_LIMITS.callerDaily),
    globalDaily: num(e.LIMIT_GLOBAL_DAILY, DEFAULT_RATE_LIMITS.globalDaily),
    action: e.LIMIT_ACTION === 'report' ? 'report' : 'defer',
  };
  if (limits.phoneIntervalS > 86_400) problems.push('LIMIT_PHONE_INTERVAL_S must be at most 86400 (a day)');
  if (limits.verificationIntervalS > 86_400) problems.push('LIMIT_VERIFICATION_INTERVAL_S must be at most 86400 (a day)');
  const recipients: RecipientPolicy = {
    allow: parsePrefixes('PHONE_ALLOWLIST', e.PHONE_ALLOWLIST, problems),
    deny: parsePrefixes('PHONE_DENYLIST', e.PHONE_DENYLIST, problems),
  };
  const store = chooseStore(e, options, problems);
  const resultPrefix = blank(e.RESULT_PREFIX) ? DEFAULT_RESULT_PREFIX : (e.RESULT_PREFIX as string).trim();
  // A folder-like prefix, so results never share a name with a batch file; it must lie outside
  // the OSS trigger prefixes (s.yaml), or every results file would fire the trigger again.
  if (!isFolderPrefix(resultPrefix)) {
    problems.push('RESULT_PREFIX must be a folder such as results/ (ends with /, no leading /, no //, at most 200 characters)');
  }
  const notifyPrefix = blank(e.NOTIFY_PREFIX) ? undefined : (e.NOTIFY_PREFIX as string).trim();
  if (notifyPrefix !== undefined) {
    // Same shape rule as RESULT_PREFIX; and apart from it, or a result file would be taken for an upload.
    if (!isFolderPrefix(notifyPrefix)) {
      problems.push('NOTIFY_PREFIX must be a folder such as notify/sms/ (ends with /, no leading /, no //, at most 200 characters)');
    } else if (notifyPrefix.startsWith(resultPrefix) || resultPrefix.startsWith(notifyPrefix)) {
      problems.push(`NOTIFY_PREFIX must not overlap RESULT_PREFIX (${resultPrefix})`);
    }
  }
  const quietHours = parseQuietHours(e.QUIET_HOURS, e.QUIET_HOURS_ACTION === 'refuse' ? 'refuse' : 'defer', problems);
  const verify = loadVerifyConfig(e, { sandbox: credentials.kind === 'sandbox', deployed: !blank(e.FC_FUNCTION_NAME) }, problems);
  const usage = parseUsage(e, apiKeys, problems);

  if (problems.length > 0) {
    const named = problems.map((p) => p.split(' ')[0] as string);
    throw new ConfigError(problems.join('; '), [...new Set([...vars, ...named])]);
  }
  return {
    credentials,
    urls,
    apiKeys,
    allowUnauthenticated,
    redisUrl: blank(e.REDIS_URL) ? undefined : e.REDIS_URL,
    redisCluster: isOn(e.REDIS_CLUSTER),
    store,
    upstreamTimeoutMs,
    upstreamRetries,
    maxBodyBytes,
    batchConcurrency,
    maxEventBytes,
    maxJobsPerEvent,
    schedule,
    ossEndpoint: blank(e.OSS_ENDPOINT) ? undefined : e.OSS_ENDPOINT,
    resultPrefix,
    notifyPrefix,
    logLevel: blank(e.LOG_LEVEL) ? 'info' : (e.LOG_LEVEL as string),
    limits,
    recipients,
    quietHours,
    verify,
    usage,
  };
}

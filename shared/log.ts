import pino from 'pino';

/**
 * One JSON line per event, to stdout (FC ships stdout to SLS).
 *
 * Two layers keep secrets and phone numbers out:
 * 1. pino `redact` removes known fields (authorization headers, keys, codes) by path;
 * 2. every finished line is scrubbed: the configured secret values are replaced and any
 *    11-digit mainland mobile number is masked (`138****8000`), so a value that slipped
 *    into an unexpected field (a raw provider body, an error message) still does not leak.
 */

export type Logger = pino.Logger;

/**
 * The one redaction list: credentials (AppCode, AppSecret, caller keys, signatures, the
 * Authorization header) and message contents that may carry verification codes (SMS params,
 * voice content). Values that slip past these paths are still caught by `scrub`.
 */
/**
 * The one redaction list: a field with one of these names (any case, at any depth of a log
 * call's object) is logged as [REDACTED]. Values that slip into other fields are caught by the
 * line scrubber below.
 */
export const REDACTED_KEYS: ReadonlySet<string> = new Set([
  'appcode',
  'appsecret',
  'apikey',
  'key',
  'secret',
  'password',
  'authorization',
  'x-api-key',
  'x-ca-signature',
  'cookie',
  'params',
  'content',
  'query',
]);

const CENSOR = '[REDACTED]';
const MAX_DEPTH = 4;

/**
 * Copy-on-write redaction of REDACTED_KEYS. A plain walk over the few fields of a log call is
 * cheaper than pino's path-compiled `redact` (measured ~0.1 ms per line with wildcard paths),
 * and covers every depth instead of the paths someone remembered to list.
 */
export function redactFields<T>(value: T, depth = 0): T {
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH || value instanceof Error) return value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    value.forEach((v, i) => {
      const r = redactFields(v, depth + 1);
      if (r !== v) {
        out ??= [...value];
        out[i] = r;
      }
    });
    return (out ?? value) as T;
  }
  let out: Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const r = REDACTED_KEYS.has(k.toLowerCase()) && v !== undefined ? CENSOR : redactFields(v, depth + 1);
    if (r !== v) {
      out ??= { ...(value as Record<string, unknown>) };
      out[k] = r;
    }
  }
  return (out ?? value) as T;
}

const secrets = new Set<string>();

/** Values that must never appear in a log line (AppCode, AppSecret, caller keys). */
export function registerSecret(value: string | undefined): void {
  // Very short values would mangle ordinary text and are refused by config anyway.
  if (value && value.length >= 6) secrets.add(value);
}

const PHONE_IN_TEXT = /(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)/g;

export function scrub(line: string): string {
  let out = line;
  for (const secret of secrets) {
    if (out.includes(secret)) out = out.replaceAll(secret, '[REDACTED]');
  }
  return out.replace(PHONE_IN_TEXT, '$1****$3');
}

/**
 * Removes the given values (a job's params, its voice text, and the digit runs inside them —
 * verification codes) from provider text we keep for diagnosis: a vendor that echoes our
 * request must not put a code into the logs or the store. Values under 4 characters are left,
 * as replacing them would mangle ordinary text.
 */
export function scrubValues(text: string, values: readonly string[]): string {
  // Digit runs can only be found in a text that has one; most provider messages have none.
  const digits = /\d{4}/.test(text);
  const all = new Set<string>();
  for (const v of values) {
    if (v.length >= 4 && text.includes(v)) all.add(v);
    if (digits) for (const run of v.match(/\d{4,}/g) ?? []) if (text.includes(run)) all.add(run);
  }
  if (all.size === 0) return text;
  let out = text;
  // Longest first, so a value is not half-replaced by one of its own digit runs.
  for (const v of [...all].sort((a, b) => b.length - a.length)) out = out.replaceAll(v, '[REDACTED]');
  return out;
}

// Absolute file paths and file URLs (/var/task/index.js, file:///code/x.ts, C:\\x\\y.js): internal
// detail that has no place in a log line below debug level.
const PATH_IN_TEXT = /(?:file:\/\/)?(?:\/[\w.@+-]+){2,}(?::\d+)*|[A-Za-z]:\\[^\s'"]+/g;

export function withoutPaths(text: string): string {
  return text.replace(PATH_IN_TEXT, '[path]');
}

/**
 * An unexpected error as log fields: its name, code and message (file paths removed, cut to 300
 * characters). The stack — frames with file paths — only when the logger is at debug level or
 * below (LOG_LEVEL=debug), for someone who is looking for it.
 */
export function errorFields(err: unknown, logger?: Logger): Record<string, unknown> {
  if (!(err instanceof Error)) return { name: typeof err };
  const out: Record<string, unknown> = { name: err.name, message: withoutPaths(err.message).slice(0, 300) };
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') out.code = code.slice(0, 60);
  if (logger?.isLevelEnabled('debug') && err.stack) out.stack = err.stack;
  return out;
}

/**
 * The error an async trigger's invocation fails with: FC prints a rejected handler's error with
 * its stack in the function's log, so below debug level the stack is cut to its first line (the
 * name and message, without file paths).
 */
export function withoutStack<T extends Error>(err: T, logger?: Logger): T {
  if (!logger?.isLevelEnabled('debug')) {
    Object.defineProperty(err, 'stack', { value: `${err.name}: ${withoutPaths(err.message)}`, configurable: true, writable: true });
  }
  return err;
}

export interface LoggerOptions {
  level?: string;
  /** Where lines go; tests pass a collector. Defaults to stdout. */
  destination?: pino.DestinationStream;
  base?: Record<string, unknown>;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: options.base ?? null,
      messageKey: 'msg',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }), log: (obj) => redactFields(obj) },
      // Not pino's default `err` serializer, which writes the stack (frames with file paths): an
      // Error logged as `err` keeps its name, code and message; fields already built (errorFields,
      // with the stack at debug level) pass as they are.
      serializers: { err: (e: unknown) => (e instanceof Error ? errorFields(e) : e) },
      hooks: { streamWrite: scrub },
    },
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

let root: Logger | undefined;
let rootDestination: pino.DestinationStream | undefined;

/** The instance's logger. Tests may swap the destination before the first use. */
export function rootLogger(level?: string): Logger {
  if (!root) root = createLogger({ level, destination: rootDestination });
  else if (level && root.level !== level) root.level = level;
  return root;
}

/** For tests and the local server: send every future root log line to `destination`. */
export function setLogDestination(destination: pino.DestinationStream | undefined): void {
  rootDestination = destination;
  root = undefined;
}

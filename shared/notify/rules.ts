import { CHANNELS, type Channel } from '../channels/index.ts';
import type { Finding, TemplateEntry } from '../templates/rules.ts';

/**
 * Notify-on-upload rules (`notifications` in templates.json; docs/notify-on-upload.md). An
 * ordinary upload under the function's NOTIFY_PREFIX is matched, key relative to that prefix,
 * against the rules of the function's channel in catalog order; the first match makes one job.
 *
 * Key pattern grammar (kept small on purpose):
 *   - `{name}` is a named part: one or more characters of ONE path segment (never `/`);
 *     name = letter or `_`, then letters, digits, `_` (at most 32);
 *   - everything else is literal and matched exactly (case-sensitive), `*`, `?` included;
 *   - two parts need literal text between them; a part is the shortest text that lets the rest
 *     of the pattern match (`{a}-{b}` on `x-y-z` gives a=`x`, b=`y-z`);
 *   - at most 10 parts; no leading `/`, no empty, `.` or `..` segment; `{` and `}` only around names.
 * Values come from a part (`{"part":"order"}`), user metadata (`{"meta":"customer"}`, read from
 * `x-oss-meta-customer` with one HEAD, only when the matched rule needs it) or a constant
 * (`{"value":"…"}`).
 */

/** A rule's channel is a `Channel`; how it is checked and makes its job is in the channel's description (`notify`). */
export type NotifyChannel = Channel;

export interface ValueSource {
  part?: string;
  meta?: string;
  value?: string;
}

export interface NotifyRule {
  name: string;
  description?: string;
  channel: NotifyChannel;
  /** Key pattern, relative to the function's notify prefix. */
  key: string;
  phone: ValueSource;
  /** SMS: the catalog skin; params by template variable name. */
  skin?: string;
  sign?: string;
  /** Voice: the spoken text with `{var}` placeholders; params by placeholder name. */
  content?: string;
  params?: Record<string, ValueSource>;
}

export const PART_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,31}$/;
export const MAX_PARTS = 10;
/** OSS object keys are at most 1023 bytes (UTF-8). */
export const MAX_KEY_BYTES = 1023;
const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]{0,31})\}/g;
// C0 controls, DEL, C1 controls: never part of a name, a number or an order id.
const CONTROL = /\p{Cc}/u; // exactly U+0000–U+001F and U+007F–U+009F

export interface CompiledPattern {
  regex: RegExp;
  parts: string[];
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The pattern as a regular expression, or the first problem with it. */
export function compilePattern(pattern: string): { compiled?: CompiledPattern; problem?: string } {
  if (pattern.startsWith('/')) return { problem: 'must not start with "/" (it is relative to the notify prefix)' };
  if (CONTROL.test(pattern)) return { problem: 'must not contain control characters' };
  const segments = pattern.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) return { problem: 'must not contain an empty, "." or ".." segment' };
  const parts: string[] = [];
  let source = '';
  let i = 0;
  let lastWasPart = false;
  while (i < pattern.length) {
    const open = pattern.indexOf('{', i);
    const literal = pattern.slice(i, open < 0 ? undefined : open);
    if (literal.includes('}')) return { problem: 'has a "}" without its "{"' };
    if (literal !== '') lastWasPart = false;
    source += escapeRegExp(literal);
    if (open < 0) break;
    const close = pattern.indexOf('}', open);
    if (close < 0) return { problem: 'has a "{" without its "}"' };
    const name = pattern.slice(open + 1, close);
    if (!PART_NAME.test(name))
      return { problem: `has an invalid part name "{${name.slice(0, 40)}}" (a letter or _, then letters, digits or _, at most 32)` };
    if (parts.includes(name)) return { problem: `names the part {${name}} twice` };
    if (lastWasPart) return { problem: `has two parts with nothing between them before {${name}} (where one ends would be a guess)` };
    parts.push(name);
    source += '([^/]+?)';
    lastWasPart = true;
    i = close + 1;
  }
  if (parts.length > MAX_PARTS) return { problem: `has ${parts.length} parts; at most ${MAX_PARTS}` };
  return { compiled: { regex: new RegExp(`^${source}$`, 'u'), parts } };
}

export const sourceKind = (s: ValueSource): 'part' | 'meta' | 'value' =>
  s.part !== undefined ? 'part' : s.meta !== undefined ? 'meta' : 'value';

/** Every value source of a rule, with the name it fills (`phone` or a param name). */
export function sourcesOf(rule: NotifyRule): Array<[string, ValueSource]> {
  return [['phone', rule.phone], ...Object.entries(rule.params ?? {}).map(([k, v]) => [`params.${k}`, v] as [string, ValueSource])];
}

/** Metadata names (lowercase, as OSS stores them) a rule reads; empty = no HEAD needed. */
export function metaNames(rule: NotifyRule): string[] {
  return [...new Set(sourcesOf(rule).flatMap(([, s]) => (s.meta !== undefined ? [s.meta.toLowerCase()] : [])))];
}

/** `content` with each `{var}` placeholder replaced by its value (one without a value kept as is). */
function fill(content: string, values: Record<string, string>): string {
  return content.replace(PLACEHOLDER, (whole, n: string) => values[n] ?? whole);
}

/** `{var}` placeholders of a voice content, in order, distinct. */
export function placeholders(content: string): string[] {
  return [...new Set([...content.matchAll(PLACEHOLDER)].map((m) => m[1] as string))];
}

/** Why a value (from a key part, metadata or a constant) cannot be sent, or undefined. */
export function valueProblem(value: string): string | undefined {
  if (value === '') return 'is empty';
  if (CONTROL.test(value)) return 'contains control characters';
  if (!value.isWellFormed()) return 'is not valid Unicode text';
  if (value.includes('|')) return 'contains "|" (the SMS provider joins parameters with it)';
  if (value.length > 200) return 'is longer than 200 characters';
  return undefined;
}

/** Why an object key (relative to the notify prefix, decoded) is refused before any rule is tried. */
export function keyProblem(fullKey: string, relative: string): string | undefined {
  if (Buffer.byteLength(fullKey, 'utf8') > MAX_KEY_BYTES)
    return `is longer than ${MAX_KEY_BYTES} bytes (more than OSS allows: not a real upload)`;
  if (CONTROL.test(fullKey)) return 'contains control characters (such as %00)';
  if (!fullKey.isWellFormed()) return 'is not valid Unicode text';
  if (relative.split('/').some((s) => s === '.' || s === '..')) return 'has a "." or ".." segment';
  return undefined;
}

const pathOf = (i: number) => `notifications[${i}]`;

/** The rules over a shape-valid catalog (the schema has run): every problem names the rule. */
export function notifyFindings(rules: readonly NotifyRule[], templates: readonly TemplateEntry[]): Finding[] {
  const out: Finding[] = [];
  const firstName = new Map<string, number>();
  const seenPattern = new Map<string, number>();
  rules.forEach((rule, i) => {
    const at = pathOf(i);
    const err = (path: string, rid: Finding['rule'], message: string) =>
      out.push({ path: `${at}${path}`, rule: rid, message: `rule "${rule.name}": ${message}`, severity: 'error' });
    const prev = firstName.get(rule.name);
    if (prev !== undefined) err('.name', 'notify.duplicate-name', `the name is already used by ${pathOf(prev)}; each rule name once`);
    else firstName.set(rule.name, i);

    const { compiled, problem } = compilePattern(rule.key);
    if (problem) err('.key', 'notify.pattern', `key pattern ${problem}`);
    const same = seenPattern.get(`${rule.channel}\n${rule.key}`);
    if (same !== undefined) {
      out.push({
        path: `${at}.key`,
        rule: 'notify.shadowed',
        message: `rule "${rule.name}": ${pathOf(same)} has the same key pattern and comes first, so this rule never matches`,
        severity: 'warning',
      });
    } else seenPattern.set(`${rule.channel}\n${rule.key}`, i);

    for (const [name, s] of sourcesOf(rule)) {
      if (s.part !== undefined && compiled && !compiled.parts.includes(s.part)) {
        err(
          `.${name}.part`,
          'notify.unknown-part',
          `${name} comes from part {${s.part}}, which the key pattern "${rule.key}" does not have (it has ${compiled.parts.map((p) => `{${p}}`).join(', ') || 'no parts'})`,
        );
      }
      if (s.value !== undefined) {
        const vp = valueProblem(s.value);
        if (vp) err(`.${name}.value`, 'notify.constant', `the constant for ${name} ${vp}`);
      }
    }

    // What a rule of the channel must name (a template, a text) is its description's.
    const params = Object.keys(rule.params ?? {});
    const variables = (names: readonly string[], mark: (name: string) => string, needs: string, hasNo: string) => {
      const missing = names.filter((v) => !params.includes(v));
      const extra = params.filter((p) => !names.includes(p));
      if (missing.length > 0) err('.params', 'notify.params', `${needs} ${missing.map(mark).join(', ')}; give each a source in params`);
      if (extra.length > 0) err('.params', 'notify.params', `${hasNo} ${extra.map(mark).join(', ')}`);
    };
    CHANNELS[rule.channel].notify.check(rule, { templates, err, variables, placeholders, fill });
  });
  return out;
}

/** `(rule "x")` added to schema findings under notifications[i], so a build error names the rule. */
export function nameRuleFindings(findings: readonly Finding[], data: unknown): Finding[] {
  const rules = (data as { notifications?: unknown } | null)?.notifications;
  if (!Array.isArray(rules)) return [...findings];
  return findings.map((f) => {
    const m = /^notifications\[(\d+)\]/.exec(f.path);
    const name = m ? (rules[Number(m[1])] as { name?: unknown } | undefined)?.name : undefined;
    return typeof name === 'string' && !f.message.startsWith('rule "') ? { ...f, message: `rule "${name.slice(0, 64)}": ${f.message}` } : f;
  });
}

export interface Match {
  rule: NotifyRule;
  index: number;
  parts: Record<string, string>;
}

const compiledCache = new WeakMap<NotifyRule, CompiledPattern | null>();

function compiledOf(rule: NotifyRule): CompiledPattern | null {
  let c = compiledCache.get(rule);
  if (c === undefined) {
    c = compilePattern(rule.key).compiled ?? null;
    compiledCache.set(rule, c);
  }
  return c;
}

/** The first rule (of `channel`, when given) whose pattern matches the relative key. */
export function matchRule(rules: readonly NotifyRule[], relative: string, channel?: NotifyChannel): Match | undefined {
  for (let index = 0; index < rules.length; index += 1) {
    const rule = rules[index] as NotifyRule;
    if (channel && rule.channel !== channel) continue;
    const c = compiledOf(rule);
    const m = c?.regex.exec(relative);
    if (!c || !m) continue;
    return { rule, index, parts: Object.fromEntries(c.parts.map((p, i) => [p, m[i + 1] as string])) };
  }
  return undefined;
}

export type Resolved = { job: Record<string, unknown>; problem?: undefined } | { job?: undefined; problem: string };

/**
 * The job a match makes, with `meta` the object's user metadata (lowercase names, decoded
 * values; undefined when no HEAD was made). A missing or unusable value refuses the whole job:
 * never sent with an empty param.
 */
export function buildJob(match: Match, meta: Record<string, string> | undefined): Resolved {
  const { rule, parts } = match;
  const valueFor = (name: string, s: ValueSource): { v?: string; problem?: string } => {
    let v: string | undefined;
    let from: string;
    if (s.part !== undefined) {
      v = parts[s.part];
      from = `key part {${s.part}}`;
    } else if (s.meta !== undefined) {
      v = meta?.[s.meta.toLowerCase()];
      from = `metadata x-oss-meta-${s.meta.toLowerCase()}`;
      if (v === undefined) return { problem: `${name}: ${from} is missing on the object` };
    } else {
      v = s.value;
      from = 'constant';
    }
    const p = valueProblem(v ?? '');
    return p ? { problem: `${name}: ${from} ${p}` } : { v: v as string };
  };
  const phone = valueFor('phone', rule.phone);
  if (phone.problem) return { problem: phone.problem };
  const values: Record<string, string> = {};
  for (const [name, s] of Object.entries(rule.params ?? {})) {
    const r = valueFor(`params.${name}`, s);
    if (r.problem) return { problem: r.problem };
    values[name] = r.v as string;
  }
  return { job: CHANNELS[rule.channel].notify.job(rule, phone.v as string, values, { fill }) };
}

/**
 * A user metadata value as sent by HTTP: ASCII, percent-encoded UTF-8 (`%E5%BC%A0…`, what we
 * document), or raw UTF-8 bytes (Node gives them as latin1 text). Returns undefined when the
 * bytes are not UTF-8. A `%` that starts no valid escape is kept as it is; `+` is not a space.
 */
export function decodeMetaValue(raw: string): string | undefined {
  // Characters above U+00FF cannot be header bytes: already text (templates:check --meta 张三).
  if (/[\u0100-\uffff]/.test(raw)) return raw; // UTF-16 units, so surrogates count too
  const bytes = Buffer.from(raw, 'latin1');
  if (bytes.some((b) => b >= 0x80)) {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      return undefined;
    }
  }
  if (!/%[0-9A-Fa-f]{2}/.test(raw)) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

import { countChars, segmentsFor } from './count.ts';
import { type ParsedText, parseText, render, variableNames } from './render.ts';

/**
 * The template rules (vendor seed 003 and Alibaba's SMS rules). Each finding carries a stable
 * rule id, a path into the caller's JSON, and a message that says how to fix it. Rule ids are
 * part of the public contract: users grep for them in CI output.
 */

export type TemplateKind = 'verification' | 'notification' | 'marketing';
export type TemplateProvider = 'long-sms' | 'voice';

export interface TemplateEntry {
  skin: string;
  kind: TemplateKind;
  text: string;
  sign?: string;
  provider?: TemplateProvider;
  description?: string;
  example?: Record<string, string>;
}

export const RULE_IDS = [
  'schema',
  'catalog.duplicate-skin',
  'catalog.unknown-skin',
  'signature.missing',
  'signature.malformed',
  'variable.malformed',
  'variable.count',
  'example.undeclared',
  'example.missing',
  'length.max',
  'length.utf16',
  'verification.keyword',
  'verification.link',
  'verification.code-variable',
  'verification.code-digits',
  'verification.opt-out',
  'notification.opt-out',
  'marketing.opt-out',
  'marketing.sending-hours',
  'param.count',
  'param.missing',
  'param.undeclared',
  'param.pipe',
  'param.newline',
  'voice.code-digits',
  'phone.invalid',
  // Notify-on-upload rules (shared/notify/rules.ts).
  'notify.duplicate-name',
  'notify.pattern',
  'notify.shadowed',
  'notify.unknown-part',
  'notify.unknown-skin',
  'notify.params',
  'notify.channel',
  'notify.constant',
] as const;

export type RuleId = (typeof RULE_IDS)[number];
export type Severity = 'error' | 'warning';

export interface Finding {
  path: string;
  rule: RuleId;
  message: string;
  severity: Severity;
}

/** Characters the provider accepts, signature included. */
export const MAX_CHARS: Record<TemplateProvider, number> = { 'long-sms': 200, voice: 500 };
export const MAX_VARIABLES = 20;

const KEYWORD = /验证码|注册码|校验码|动态码/;
const LINK = /https?:\/\/|www\.|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|cn|net|org|top|xyz|cc|io|me|vip|info|shop|site|ly|co|link|app)\b/i;
// Wordings seen in registered templates: 拒收请回复R, 回T退订, 退订回N, 回复TD退订, 退订请回复T…
const OPT_OUT = [/拒收请?回复?[A-Za-z]{1,4}/, /回复?[A-Za-z]{1,4}退订/, /退订请?回复?[A-Za-z]{1,4}/];
const LINE_BREAK = /[\r\n\u0085\u2028\u2029]/;
const CODE_DIGITS = /^\d{4,6}$/;

// Full-width letters and digits (Ｒ, １２３４) are what users type on Chinese keyboards; fold them
// before matching wordings, never before counting.
const fold = (s: string) => s.normalize('NFKC');

export const hasKeyword = (s: string) => KEYWORD.test(fold(s));
export const hasLink = (s: string) => LINK.test(fold(s));
export const hasOptOut = (s: string) => OPT_OUT.some((re) => re.test(fold(s)));

/** The variable that carries the code in a verification template: `code`, `…Code`, `…码`, or the only one. */
export function codeVariable(names: readonly string[]): string | undefined {
  return names.find((n) => /code$/i.test(n) || n.endsWith('码')) ?? (names.length === 1 ? names[0] : undefined);
}

/** Marketing may be sent 09:00:00 up to (not including) 20:00:00 Beijing time (UTC+8, no DST). */
export function withinMarketingHours(at: Date): boolean {
  const minutes = ((at.getUTCHours() + 8) % 24) * 60 + at.getUTCMinutes();
  return minutes >= 9 * 60 && minutes < 20 * 60;
}

const err = (path: string, rule: RuleId, message: string): Finding => ({ path, rule, message, severity: 'error' });
const warn = (path: string, rule: RuleId, message: string): Finding => ({ path, rule, message, severity: 'warning' });

function lengthFindings(text: string, provider: TemplateProvider, path: string, what: string, note = ''): Finding[] {
  const max = MAX_CHARS[provider];
  const chars = countChars(text);
  const out: Finding[] = [];
  if (chars > max) {
    const who =
      provider === 'long-sms' ? `the long-SMS provider allows ${max} (it answers 1009 字数限制)` : `voice texts are limited to ${max}`;
    out.push(err(path, 'length.max', `${what} is ${chars} characters counting the signature; ${who}. Shorten the text${note}`));
  } else if (text.length > max) {
    out.push(
      warn(
        path,
        'length.utf16',
        `${what} is ${chars} characters as users see them but ${text.length} UTF-16 units; a provider counting emoji as 2 would refuse it. Replace emoji to be safe`,
      ),
    );
  }
  return out;
}

function kindFindings(t: TemplateEntry, parsed: ParsedText, path: string): Finding[] {
  const out: Finding[] = [];
  const at = `${path}.text`;
  if (t.kind === 'verification') {
    if (!hasKeyword(t.text))
      out.push(
        err(
          at,
          'verification.keyword',
          'a verification template must say 验证码, 注册码, 校验码 or 动态码; add one of them (or use kind "notification")',
        ),
      );
    if (hasLink(t.text)) out.push(err(at, 'verification.link', 'verification templates must not contain links; remove the URL'));
    if (hasOptOut(t.text))
      out.push(err(at, 'verification.opt-out', 'verification templates must not carry marketing text such as an opt-out; remove it'));
    if (codeVariable(variableNames(parsed)) === undefined) {
      out.push(
        err(
          at,
          'verification.code-variable',
          'a verification template needs a variable for the code: name it #code# (or the template may have only one variable)',
        ),
      );
    }
  } else if (t.kind === 'marketing') {
    if (!hasOptOut(t.text))
      out.push(err(at, 'marketing.opt-out', 'marketing templates must tell how to opt out: end with e.g. 拒收请回复R, 回T退订 or 退订回N'));
  } else if (hasOptOut(t.text)) {
    out.push(
      err(
        at,
        'notification.opt-out',
        'notification templates must not carry an opt-out (that makes them marketing); remove it or use kind "marketing"',
      ),
    );
  }
  return out;
}

/** Rules on parameter values: what the `|`-joined query and the message can carry. */
export function valueFindings(
  t: Pick<TemplateEntry, 'kind' | 'provider'> | undefined,
  name: string | undefined,
  value: string,
  path: string,
  isCode: boolean,
): Finding[] {
  const out: Finding[] = [];
  if (value.includes('|'))
    out.push(
      err(
        path,
        'param.pipe',
        'must not contain "|": the provider joins parameters with it and cannot escape it; remove or replace it (e.g. with ／)',
      ),
    );
  if (LINE_BREAK.test(value))
    out.push(err(path, 'param.newline', 'must not contain line breaks: vendors refuse or mangle them; put the text on one line'));
  if (t?.kind === 'verification') {
    if (isCode && !CODE_DIGITS.test(value)) {
      const rule = t.provider === 'voice' ? 'voice.code-digits' : 'verification.code-digits';
      out.push(err(path, rule, `the code${name ? ` (#${name}#)` : ''} must be 4 to 6 digits (0-9), got ${describeValue(value)}`));
    }
    if (hasLink(value))
      out.push(err(path, 'verification.link', 'verification messages must not contain links; remove the URL from this value'));
  }
  return out;
}

function describeValue(value: string): string {
  return /^\d+$/.test(value) ? `${value.length} digit(s)` : 'a value that is not only digits';
}

export interface TemplateResult {
  findings: Finding[];
  parsed: ParsedText;
  /** The text that would be sent (with `example` values when complete, else the registered text). */
  preview: string;
  length: number;
  segments: number;
}

/** Every rule that can be checked on a template alone (and its `example` values). */
export function checkTemplate(t: TemplateEntry, path = 'template'): TemplateResult {
  const provider = t.provider ?? 'long-sms';
  const parsed = parseText(t.text);
  const findings: Finding[] = [];
  const at = `${path}.text`;

  if (provider === 'long-sms') {
    if (parsed.signature === undefined) {
      findings.push(err(at, 'signature.missing', 'the text must start with the signature in 【】, e.g. 【测试】您的验证码是#code#'));
    } else if (parsed.signature.trim() === '') {
      findings.push(err(at, 'signature.malformed', 'the signature between 【】 is empty; write the registered signature, e.g. 【测试】'));
    }
  }
  for (const m of parsed.malformed) {
    findings.push(
      err(
        at,
        'variable.malformed',
        `"${m.token}" is not a variable: write #name# with letters, digits, _ or 汉字 (at most 32), and no stray #`,
      ),
    );
  }
  if (parsed.variables.length > MAX_VARIABLES) {
    findings.push(err(at, 'variable.count', `the text has ${parsed.variables.length} variables; at most ${MAX_VARIABLES} are supported`));
  }
  findings.push(...kindFindings(t, parsed, path));

  const names = variableNames(parsed);
  const code = t.kind === 'verification' ? codeVariable(names) : undefined;
  let complete = false;
  if (t.example !== undefined) {
    for (const name of Object.keys(t.example)) {
      if (!names.includes(name))
        findings.push(
          err(`${path}.example.${name}`, 'example.undeclared', `the text has no #${name}#; fix the name or remove it from example`),
        );
    }
    const missing = names.filter((n) => !Object.hasOwn(t.example as object, n));
    if (missing.length > 0) {
      findings.push(
        err(
          `${path}.example`,
          'example.missing',
          `example has no value for ${missing.map((n) => `#${n}#`).join(', ')}; give one for every variable`,
        ),
      );
    }
    for (const [name, value] of Object.entries(t.example)) {
      if (names.includes(name)) findings.push(...valueFindings(t, name, value, `${path}.example.${name}`, name === code));
    }
    complete = missing.length === 0;
  }

  const preview = complete
    ? render(
        t.text,
        parsed.variables.map((v) => (t.example as Record<string, string>)[v.name] ?? ''),
      )
    : t.text;
  // Without examples only the fixed text is certain; the values add to it.
  const measured = complete ? preview : parsed.fixed;
  findings.push(
    ...lengthFindings(
      measured,
      provider,
      at,
      complete ? 'the text with the example values' : 'the text without its variables',
      complete ? '' : ' (variable values come on top)',
    ),
  );
  const length = countChars(measured);
  return { findings, parsed, preview, length, segments: provider === 'voice' ? 0 : segmentsFor(length) };
}

export interface ParamsResult {
  findings: Finding[];
  /** Values in template order (one per occurrence), when they could be resolved. */
  values: string[] | undefined;
  rendered: string | undefined;
}

/** A job's params against a catalog template: count, names, values, rendered length. */
export function checkParams(t: TemplateEntry, params: readonly string[] | Record<string, string>, path = 'params'): ParamsResult {
  const provider = t.provider ?? 'long-sms';
  const parsed = parseText(t.text);
  const names = variableNames(parsed);
  const code = t.kind === 'verification' ? codeVariable(names) : undefined;
  const findings: Finding[] = [];
  let values: string[] | undefined;

  if (Array.isArray(params)) {
    const list = params as readonly string[];
    if (list.length !== parsed.variables.length) {
      findings.push(
        err(
          path,
          'param.count',
          `template ${t.skin} has ${parsed.variables.length} variable(s) (${parsed.variables.map((v) => `#${v.name}#`).join(' ') || 'none'}) but ${list.length} value(s) were given; give one per variable, in order`,
        ),
      );
    } else values = [...list];
    list.forEach((value, i) => {
      const name = parsed.variables[i]?.name;
      findings.push(...valueFindings(t, name, value, `${path}[${i}]`, name !== undefined && name === code));
    });
  } else {
    const named = params as Record<string, string>;
    for (const name of Object.keys(named)) {
      if (!names.includes(name))
        findings.push(
          err(
            `${path}.${name}`,
            'param.undeclared',
            `template ${t.skin} has no #${name}#; its variables are ${names.map((n) => `#${n}#`).join(' ') || 'none'}`,
          ),
        );
    }
    const missing = names.filter((n) => !Object.hasOwn(named, n));
    for (const name of missing) findings.push(err(`${path}.${name}`, 'param.missing', `template ${t.skin} needs a value for #${name}#`));
    for (const [name, value] of Object.entries(named)) {
      if (names.includes(name)) findings.push(...valueFindings(t, name, value, `${path}.${name}`, name === code));
    }
    if (missing.length === 0) values = parsed.variables.map((v) => named[v.name] as string);
  }

  let rendered: string | undefined;
  if (values !== undefined) {
    rendered = render(t.text, values);
    findings.push(...lengthFindings(rendered, provider, path, 'the message'));
  }
  return { findings, values, rendered };
}

/** Param rules that hold without a catalog entry (the skin is not in the catalog). */
/**
 * Params for a skin not in the catalog. Only `|` breaks the wire format; a line break is a
 * warning here (we do not know the template, and the value still reaches the vendor exactly as
 * text), and an error for catalog templates and in /templates/validate.
 */
export function checkPlainParams(params: readonly string[], path = 'params'): Finding[] {
  return params
    .flatMap((value, i) => valueFindings(undefined, undefined, value, `${path}[${i}]`, false))
    .map((f) => (f.rule === 'param.newline' ? { ...f, severity: 'warning' as const } : f));
}

/** Voice content sent directly: length, and a spoken code must be 4-6 digits. */
export function checkVoiceContent(content: string, path = 'content'): Finding[] {
  const findings = lengthFindings(content, 'voice', path, 'the voice text');
  const folded = fold(content);
  if (KEYWORD.test(folded)) {
    // The digits following the keyword are the code: 验证码是 12345, 验证码：1234。
    const m = /(?:验证码|注册码|校验码|动态码)\D{0,6}?(\d+)/.exec(folded);
    if (!m)
      findings.push(
        err(path, 'voice.code-digits', 'the text mentions a code but no digits follow it; put the 4 to 6 digit code after 验证码'),
      );
    else if (!CODE_DIGITS.test(m[1] as string))
      findings.push(err(path, 'voice.code-digits', `the spoken code must be 4 to 6 digits, got ${(m[1] as string).length}`));
  }
  return findings;
}

export function sendingHoursFinding(t: TemplateEntry, at: Date, path: string): Finding | undefined {
  if (t.kind !== 'marketing' || withinMarketingHours(at)) return undefined;
  return err(
    path,
    'marketing.sending-hours',
    'marketing messages may be sent only 09:00-20:00 Beijing time; schedule it (sendAt) inside those hours',
  );
}

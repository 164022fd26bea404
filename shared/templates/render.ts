/**
 * Template text: 【signature】 + content with variables written `#name#`. The vendor fills the
 * variables in order of appearance from the `|`-joined `param`, so a name used twice is two
 * positions (named params fill both with the same value).
 */

// `__proto__` cannot be a key of named params (it would be dropped), so it cannot be a variable either.
export const VARIABLE_NAME = /^(?!__proto__$)[A-Za-z0-9_\u4e00-\u9fff]{1,32}$/;
const SIGNATURE = /^【([^【】]*)】/;

export interface Variable {
  name: string;
  /** Offset of the opening `#` in the text. */
  index: number;
}

export interface ParsedText {
  /** The text inside the leading 【】, or undefined when the text does not start with one. */
  signature: string | undefined;
  variables: Variable[];
  /** `#…#` pairs whose name is not a valid variable name, and a stray unpaired `#`. */
  malformed: Array<{ index: number; token: string }>;
  /** The text with every variable removed: what is there whatever the values. */
  fixed: string;
}

/** At most `max` code points, never half a surrogate pair. */
function shorten(s: string, max: number): string {
  const cps = Array.from(s);
  return cps.length <= max ? s : `${cps.slice(0, max).join('')}…`;
}

export function parseText(text: string): ParsedText {
  const sig = SIGNATURE.exec(text);
  const variables: Variable[] = [];
  const malformed: ParsedText['malformed'] = [];
  let fixed = '';
  let i = 0;
  while (i < text.length) {
    const open = text.indexOf('#', i);
    if (open < 0) {
      fixed += text.slice(i);
      break;
    }
    fixed += text.slice(i, open);
    const close = text.indexOf('#', open + 1);
    if (close < 0) {
      // A stray `#` is sent as it is, so it still counts.
      malformed.push({ index: open, token: shorten(text.slice(open), 12) });
      fixed += text.slice(open);
      break;
    }
    const name = text.slice(open + 1, close);
    if (VARIABLE_NAME.test(name)) variables.push({ name, index: open });
    else {
      malformed.push({ index: open, token: shorten(text.slice(open, close + 1), 40) });
      fixed += text.slice(open, close + 1);
    }
    i = close + 1;
  }
  return { signature: sig ? sig[1] : undefined, variables, malformed, fixed };
}

/** Distinct variable names in order of first appearance. */
export function variableNames(parsed: ParsedText): string[] {
  return [...new Set(parsed.variables.map((v) => v.name))];
}

/** Fills the variables in order with `values` (one per occurrence); a missing value stays `#name#`. */
export function render(text: string, values: readonly string[]): string {
  let k = 0;
  const parsed = parseText(text);
  if (parsed.variables.length === 0) return text;
  let out = '';
  let from = 0;
  for (const v of parsed.variables) {
    out += text.slice(from, v.index);
    const value = values[k];
    out += value ?? `#${v.name}#`;
    k += 1;
    from = v.index + v.name.length + 2;
  }
  return out + text.slice(from);
}

import type * as z from 'zod/mini';
import { InvalidRequestError } from './errors.ts';

type Issue = z.core.$ZodIssue;

/** `params[1].code` style path, as a user would point into their JSON. */
export function formatPath(path: readonly PropertyKey[], prefix = ''): string {
  let out = prefix;
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(body)' : out;
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let cur = data;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** One readable sentence per issue; zod/mini ships no message locale, so we write our own. */
export function describeIssue(issue: Issue, data: unknown, prefix = ''): string {
  const where = formatPath(issue.path, prefix);
  if ((issue.code === 'invalid_type' || issue.code === 'invalid_union') && valueAt(data, issue.path) === undefined) {
    return `${where} is required`;
  }
  // Messages set explicitly in a schema (`{ error: '…' }`) win.
  if (issue.message && issue.message !== 'Invalid input') return `${where} ${issue.message}`;
  switch (issue.code) {
    case 'invalid_type': {
      const actual = valueAt(data, issue.path);
      return `${where} must be ${article(issue.expected)}, got ${typeName(actual)}`;
    }
    case 'too_small':
      return issue.origin === 'array'
        ? `${where} must have at least ${issue.minimum} item(s)`
        : `${where} must be at least ${issue.minimum} character(s)`;
    case 'too_big':
      return issue.origin === 'array'
        ? `${where} must have at most ${issue.maximum} item(s)`
        : `${where} must be at most ${issue.maximum} character(s)`;
    case 'unrecognized_keys':
      return `${where} has unknown field(s): ${issue.keys.join(', ')}`;
    case 'invalid_value':
      return `${where} must be one of: ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_union':
      return `${where} does not match any accepted shape`;
    case 'invalid_format':
      return `${where} has an invalid format`;
    default:
      return `${where} is invalid`;
  }
}

function article(expected: string): string {
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

/** Parses or throws InvalidRequestError naming the first problem (and counting the rest). */
export function parseOrThrow<T extends z.ZodMiniType>(schema: T, data: unknown, prefix = ''): z.infer<T> {
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  const issues = result.error.issues;
  const first = issues[0] as Issue;
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more problem(s))` : '';
  throw new InvalidRequestError(`${describeIssue(first, data, prefix)}${more}`, formatPath(first.path, prefix));
}

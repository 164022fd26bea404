import type { ValidationError } from '../generated/catalog-validator.js';
import { type NotifyRule, notifyFindings } from '../notify/rules.ts';
import { checkTemplate, type Finding, type TemplateEntry, type TemplateProvider } from './rules.ts';

/**
 * Catalog checks that need no validator instance: turning ajv errors (from the standalone
 * validator at runtime, or the full compiler at build time) into findings, and the rules over
 * a whole catalog. Kept apart from catalog.ts so the build can run before the validator exists.
 */

export interface CatalogFile {
  $schema?: string;
  pricing?: Partial<Record<TemplateProvider, number>>;
  templates: TemplateEntry[];
  /** Notify-on-upload rules (shared/notify/rules.ts, docs/notify-on-upload.md). */
  notifications?: NotifyRule[];
}

/** `/templates/0/kind` → `templates[0].kind`, under `prefix`. */
export function pointerToPath(pointer: string, prefix = ''): string {
  let out = prefix;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(key) ? `[${key}]` : out === '' ? key : `.${key}`;
  }
  return out === '' ? '(root)' : out;
}

function describeAjvError(e: ValidationError, prefix: string): { path: string; message: string } {
  const path = pointerToPath(e.instancePath, prefix);
  const p = e.params;
  switch (e.keyword) {
    case 'required':
      return { path: `${path === '(root)' ? '' : `${path}.`}${String(p.missingProperty)}`, message: 'is required' };
    case 'additionalProperties':
      return { path, message: `has an unknown field "${String(p.additionalProperty)}"` };
    case 'enum':
      return { path, message: `must be one of: ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}` };
    case 'type':
      return { path, message: `must be ${String(p.type)}` };
    case 'pattern':
      return { path, message: `has characters that are not allowed (must match ${String(p.pattern)})` };
    case 'propertyNames':
      return { path, message: `has an invalid name "${String(p.propertyName)}" (variable names: letters, digits, _ or 汉字, at most 32)` };
    // The bundled validator carries no message strings (scripts/build-catalog.ts): word them here.
    case 'maxLength':
      return { path, message: `must be at most ${String(p.limit)} characters` };
    case 'minLength':
      return { path, message: Number(p.limit) === 1 ? 'must not be empty' : `must be at least ${String(p.limit)} characters` };
    case 'maxItems':
      return { path, message: `must have at most ${String(p.limit)} entries` };
    case 'maxProperties':
      // Only a value source (part | meta | value) allows exactly one field.
      if (Number(p.limit) === 1) return { path, message: 'must have exactly one of part, meta or value' };
      return { path, message: `must have at most ${String(p.limit)} fields` };
    case 'minProperties':
      // Only a value source (part | meta | value) allows exactly one field.
      if (Number(p.limit) === 1) return { path, message: 'must have exactly one of part, meta or value' };
      return { path, message: `must have at least ${String(p.limit)} field(s)` };
    case 'maximum':
    case 'minimum':
      return { path, message: `must be ${e.keyword === 'maximum' ? '<=' : '>='} ${String(p.limit)}` };
    default:
      return { path, message: e.message ?? 'is invalid' };
  }
}

/** One readable line per schema problem. */
export function describeAjvErrors(errors: readonly ValidationError[], prefix = ''): string[] {
  return schemaFindings(errors, prefix).map((f) => `${f.path} ${f.message}`);
}

export function schemaFindings(errors: readonly ValidationError[], prefix = ''): Finding[] {
  const seen = new Set<string>();
  const out: Finding[] = [];
  for (const e of errors) {
    // propertyNames reports the same name twice (pattern, then propertyNames): keep the clearer one.
    if (e.schemaPath.includes('/propertyNames/')) continue;
    const d = describeAjvError(e, prefix);
    const line = `${d.path} ${d.message}`;
    if (seen.has(line)) continue;
    seen.add(line);
    out.push({ path: d.path, rule: 'schema', message: d.message, severity: 'error' });
  }
  return out;
}

/** The rules over a shape-valid catalog: duplicates and each template. */
export function ruleFindings(catalog: CatalogFile): Finding[] {
  const findings: Finding[] = [];
  const first = new Map<string, number>();
  catalog.templates.forEach((t, i) => {
    const at = first.get(t.skin);
    if (at !== undefined) {
      findings.push({
        path: `templates[${i}].skin`,
        rule: 'catalog.duplicate-skin',
        message: `skin "${t.skin}" is already listed at templates[${at}]; each skin once`,
        severity: 'error',
      });
    } else first.set(t.skin, i);
    findings.push(...checkTemplate(t, `templates[${i}]`).findings);
  });
  findings.push(...notifyFindings(catalog.notifications ?? [], catalog.templates));
  return findings;
}

/** Errors only, as `path: [rule] message` lines. */
export function catalogProblems(findings: readonly Finding[]): string[] {
  return findings.filter((f) => f.severity === 'error').map((f) => `${f.path}: [${f.rule}] ${f.message}`);
}

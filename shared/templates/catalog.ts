import { existsSync, readFileSync } from 'node:fs';
import { CatalogError } from '../errors.ts';
import { validateCatalog } from '../generated/catalog-validator.js';
import { type NotifyRule, nameRuleFindings } from '../notify/rules.ts';
import { type CatalogFile, ruleFindings, schemaFindings } from './catalog-check.ts';
import type { Finding, TemplateEntry, TemplateProvider } from './rules.ts';

export type { CatalogFile } from './catalog-check.ts';

/**
 * The template catalog (`templates.json`): the user's registered templates. Shape-checked with
 * the ajv standalone validator generated at build time (no ajv compiler at runtime), then every
 * rule in rules.ts. Where it comes from at runtime, first found wins:
 *   1. RuntimeOptions.catalog (tests, local server);
 *   2. TEMPLATES_FILE (a path, read once per instance);
 *   3. the catalog the build embedded in the bundle (scripts/build-catalog.ts);
 *   4. none: array params pass through unchecked, named params are refused.
 */

export interface Catalog {
  /** Where it was read from, for logs and messages. */
  source: string;
  templates: readonly TemplateEntry[];
  /** Notify-on-upload rules, in catalog order (shared/notify/rules.ts). */
  notifications: readonly NotifyRule[];
  get(skin: string): TemplateEntry | undefined;
  /** Yuan per provider call, when known. */
  pricePerCall(provider: TemplateProvider): number | undefined;
}

/** Long SMS: the 135元/1000 calls package; one send is one call whatever its length. */
export const DEFAULT_PRICES: Partial<Record<TemplateProvider, number>> = { 'long-sms': 0.135 };

/** Yuan per call for a provider: the catalog's `pricing`, else the default; undefined when unknown. */
export function priceOf(provider: TemplateProvider | undefined, catalog: Catalog | undefined): number | undefined {
  return provider && (catalog?.pricePerCall(provider) ?? DEFAULT_PRICES[provider]);
}

/** Shape (standalone validator) and rules; never throws. */
export function checkCatalogData(data: unknown): { findings: Finding[]; catalog: CatalogFile | undefined } {
  if (!validateCatalog(data)) return { findings: nameRuleFindings(schemaFindings(validateCatalog.errors ?? []), data), catalog: undefined };
  const catalog = data as CatalogFile;
  return { findings: ruleFindings(catalog), catalog };
}

export function createCatalog(file: CatalogFile, source: string): Catalog {
  const bySkin = new Map(file.templates.map((t) => [t.skin, t] as const));
  return {
    source,
    templates: file.templates,
    notifications: file.notifications ?? [],
    get: (skin) => bySkin.get(skin),
    pricePerCall: (provider) => file.pricing?.[provider] ?? DEFAULT_PRICES[provider],
  };
}

/** Validates a parsed catalog; throws CatalogError listing every error. */
export function parseCatalog(data: unknown, source: string): Catalog {
  const { findings, catalog } = checkCatalogData(data);
  const problems = findings
    .filter((f) => f.severity === 'error')
    .map((f) => (f.rule === 'schema' ? `${f.path} ${f.message}` : `${f.path}: [${f.rule}] ${f.message}`));
  if (problems.length > 0 || !catalog) throw new CatalogError(source, problems);
  return createCatalog(catalog, source);
}

export function readCatalogFile(path: string): unknown {
  if (!existsSync(path)) throw new CatalogError(path, ['the file does not exist']);
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new CatalogError(path, [`not valid JSON: ${(e as Error).message.slice(0, 200)}`]);
  }
}

export function loadCatalogFile(path: string): Catalog {
  return parseCatalog(readCatalogFile(path), path);
}

// Replaced by esbuild's `define` with the catalog's JSON text; undeclared (typeof → 'undefined') under tsx/vitest.
declare const __FCN_TEMPLATE_CATALOG__: string | undefined;

function embeddedCatalog(): string | undefined {
  return typeof __FCN_TEMPLATE_CATALOG__ === 'string' ? __FCN_TEMPLATE_CATALOG__ : undefined;
}

/**
 * The catalog for this instance. `override` (null = explicitly none) wins; then TEMPLATES_FILE;
 * then the build's embedded catalog. Throws CatalogError (a ConfigError naming TEMPLATES_FILE).
 */
export function loadRuntimeCatalog(env: Record<string, string | undefined>, override?: Catalog | null): Catalog | undefined {
  if (override !== undefined) return override ?? undefined;
  const file = env.TEMPLATES_FILE?.trim();
  if (file) return loadCatalogFile(file);
  const embedded = embeddedCatalog();
  // The build validated the embedded catalog with the full schema and every rule (a broken one
  // fails the build), so the instance does not pay to check it again at every cold start.
  if (embedded !== undefined) return createCatalog(JSON.parse(embedded) as CatalogFile, 'embedded at build');
  return undefined;
}

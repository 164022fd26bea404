import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ENV_RULES } from '#shared/config';

/**
 * docs/configuration.md promises "every variable the code reads, in one table". This holds it to
 * the code: the variables the functions validate (the keys of config.ts's schema) plus every
 * environment variable read by name anywhere in shared/, scripts/ and functions/.
 */

const ROOT = join(import.meta.dirname, '..', '..');

/** Read from process.env only to hand the environment on to a child process: not configuration. */
const NOT_CONFIGURATION = new Set(['PATH']);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(c|m)?[jt]s$/.test(e.name) && !e.name.endsWith('.d.ts'))
    .map((e) => join(e.parentPath, e.name))
    .filter((f) => !relative(ROOT, f).startsWith(join('shared', 'generated')));
}

/** `process.env.X`, `env.X`, `env['X']`, `env["X"]` — how this code base reads its environment. */
function variablesRead(source: string): string[] {
  const names = new Set<string>();
  for (const m of source.matchAll(/\benv(?:\.([A-Z][A-Z0-9_]+)|\[\s*['"]([A-Z][A-Z0-9_]+)['"]\s*\])/g)) names.add((m[1] ?? m[2]) as string);
  return [...names];
}

/** The variable names of the first table whose header starts with `| variable |`. */
function tableVariables(markdown: string): string[] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => /^\|\s*variable\s*\|/.test(l));
  if (start < 0) return [];
  const names: string[] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    const first = line.split('|')[1] ?? '';
    for (const m of first.matchAll(/`([A-Z][A-Z0-9_]*)`/g)) names.push(m[1] as string);
  }
  return names;
}

function codeVariables(): string[] {
  const fromSchema = Object.keys(ENV_RULES);
  const fromSource = ['shared', 'scripts', 'functions']
    .flatMap((d) => sourceFiles(join(ROOT, d)))
    .flatMap((f) => variablesRead(readFileSync(f, 'utf8')));
  return [...new Set([...fromSchema, ...fromSource])].filter((v) => !NOT_CONFIGURATION.has(v)).sort();
}

describe('docs/configuration.md', () => {
  const doc = readFileSync(join(ROOT, 'docs', 'configuration.md'), 'utf8');
  const documented = tableVariables(doc);

  it('lists exactly the environment variables the code reads, each once', () => {
    expect([...documented].sort()).toEqual(codeVariables());
    expect(documented.length).toBe(new Set(documented).size);
  });

  it('covers every key of the config schema (the variables the functions validate)', () => {
    const keys = Object.keys(ENV_RULES);
    expect(keys.length).toBeGreaterThan(30);
    expect(keys.filter((k) => !documented.includes(k))).toEqual([]);
  });

  it('finds variables the way the code reads them, and table rows the way the page writes them', () => {
    expect(variablesRead("const a = process.env.FOO_BAR; env['BAZ']; env.QUX ?? x; environment.NOPE; env.lower")).toEqual([
      'FOO_BAR',
      'BAZ',
      'QUX',
    ]);
    expect(tableVariables('text\n| variable | default |\n|---|---|\n| `A_B` | 1 |\n| `C` | 2 |\n\n| variable |\n|---|\n| `D` |')).toEqual([
      'A_B',
      'C',
    ]);
  });
});

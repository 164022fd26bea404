import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The core takes plain dependencies and never sees FC types (docs/architecture.md): no file in
 * shared/core/ imports from shared/fc/ or anything named runtime. Import specifiers are read from
 * the source text (static `import … from`, `export … from` and dynamic `import()`).
 */

const CORE = join(import.meta.dirname, '../../shared/core');

function importsOf(source: string): string[] {
  const found: string[] = [];
  for (const m of source.matchAll(/\b(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) found.push(m[1] as string);
  return found;
}

const forbidden = (spec: string) => /(^|\/)fc\//.test(spec) || /runtime/i.test(spec);

describe('shared/core imports', () => {
  it('finds the imports of a file, and the rule catches fc/ and runtime', () => {
    const sample = "import { a } from '../fc/runtime.ts';\nimport type { B } from './send.ts';\nconst c = await import('../fc/app.ts');";
    expect(importsOf(sample)).toEqual(['../fc/runtime.ts', './send.ts', '../fc/app.ts']);
    expect(importsOf(sample).filter(forbidden)).toEqual(['../fc/runtime.ts', '../fc/app.ts']);
  });

  const files = readdirSync(CORE).filter((f) => f.endsWith('.ts'));
  it('covers every core module', () => {
    expect(files).toEqual(expect.arrayContaining(['batch.ts', 'schedule.ts', 'send.ts', 'idempotency.ts']));
  });

  it.each(files)('core/%s imports nothing from shared/fc/ and no runtime', (file) => {
    const specs = importsOf(readFileSync(join(CORE, file), 'utf8'));
    expect(specs.length).toBeGreaterThan(0);
    expect(specs.filter(forbidden)).toEqual([]);
  });
});

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * `npm ci` refuses a lockfile that names an optional dependency without recording it ("Missing:
 * @biomejs/cli-darwin-x64@… from lock file"), even for a platform it would skip. That is how Biome
 * once had to leave the devDependencies (docs/development.md). Every optional dependency of every
 * locked package must have its own entry.
 */

interface LockEntry {
  optionalDependencies?: Record<string, string>;
}

const lock = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package-lock.json'), 'utf8')) as {
  packages: Record<string, LockEntry>;
};

/** Where npm would look for `name` required from the package at `at` (nested first, then hoisted). */
function resolved(at: string, name: string): boolean {
  let dir = at;
  for (;;) {
    if (lock.packages[`${dir ? `${dir}/` : ''}node_modules/${name}`]) return true;
    if (!dir) return false;
    const i = dir.lastIndexOf('/node_modules/');
    dir = i < 0 ? '' : dir.slice(0, i);
  }
}

describe('package-lock.json', () => {
  it('records every optional dependency (the platform packages of Biome and esbuild included)', () => {
    const missing: string[] = [];
    let checked = 0;
    for (const [at, entry] of Object.entries(lock.packages)) {
      for (const name of Object.keys(entry.optionalDependencies ?? {})) {
        checked += 1;
        if (!resolved(at, name)) missing.push(`${at || '(root)'} → ${name}`);
      }
    }
    expect(checked).toBeGreaterThan(10);
    expect(missing).toEqual([]);
  });

  it("pins Biome and the coverage provider exactly, the provider at vitest's own version", () => {
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    expect(pkg.devDependencies['@biomejs/biome']).toMatch(/^\d+\.\d+\.\d+$/);
    expect(pkg.devDependencies['@vitest/coverage-v8']).toBe(pkg.devDependencies.vitest);
    expect(lock.packages['node_modules/@vitest/coverage-v8']?.['version' as never]).toBe(
      lock.packages['node_modules/vitest']?.['version' as never],
    );
  });
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { shareBuiltinInterop } from '../../scripts/build.ts';

/**
 * scripts/build.ts `shareBuiltinInterop`: esbuild's `__toESM(require("<built-in>"), 1)` made once
 * per built-in instead of once per import (issue 15, cold start). Checked on esbuild's own output.
 */

// Two modules importing the same built-ins the way axios and our code do (default, namespace, node: prefix).
// An .mjs file: Node's ESM semantics, as axios (type: module) and our .ts sources get (`__toESM(..., 1)`).
const dir = mkdtempSync(join(tmpdir(), 'fcn-interop-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
function bundle(minify: boolean): string {
  const entry = join(dir, 'entry.mjs');
  writeFileSync(
    entry,
    `
        import * as http from 'http';
        import * as httpToo from 'node:http';
        import util from 'util';
        import { sep } from 'node:path';
        export const seen = { http, httpToo, util, sep };
      `,
  );
  return buildSync({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    minify,
    write: false,
  }).outputFiles[0]?.text as string;
}

function run(code: string): Record<string, any> {
  const module = { exports: {} as Record<string, any> };
  new Function('module', 'exports', 'require', code)(module, module.exports, require);
  return module.exports.seen;
}

describe('shareBuiltinInterop', () => {
  it.each([false, true])('gives every import of a built-in the same interop object, with the same exports (minify %s)', (minify) => {
    const before = bundle(minify);
    const after = shareBuiltinInterop(before);
    expect(after).not.toBe(before);
    expect(after.match(/__fcnBuiltinESM\(require\(/g)).toHaveLength(3);
    expect(after.split('\n')).toHaveLength(before.split('\n').length);
    const a = run(after);
    const b = run(before);
    // Shared after, one copy per import before.
    expect(a.http).toBe(a.httpToo);
    expect(b.http).not.toBe(b.httpToo);
    // Same reads as esbuild's own helper: the module as default, each export live.
    expect(a.httpToo.default).toBe(require('node:http'));
    expect(a.httpToo.request).toBe(require('node:http').request);
    expect(a.util.inspect).toBe(require('node:util').inspect);
    expect(Object.keys(a.httpToo).sort()).toEqual(Object.keys(b.httpToo).sort());
    expect(a.sep).toBe(b.sep);
  });

  it('keeps "use strict" first, and leaves code without built-in interop as it is', () => {
    const code = `"use strict";var X=(e,t,r)=>(r=e!=null?A(B(e)):{},C(e));var y=X(require("http"),1);`;
    expect(shareBuiltinInterop(code).startsWith('"use strict";var __fcnBuiltinESM=')).toBe(true);
    expect(shareBuiltinInterop(code)).toContain('var y=__fcnBuiltinESM(require("http"),X);');
    // A package's interop is not touched (not a built-in), nor code without esbuild's helper.
    expect(shareBuiltinInterop('var X=(e,t,r)=>(r=e!=null?1:{});var y=X(require("pino"),1);')).toBe(
      'var X=(e,t,r)=>(r=e!=null?1:{});var y=X(require("pino"),1);',
    );
    expect(shareBuiltinInterop('var y=require("http");')).toBe('var y=require("http");');
  });

  it('fails the build when esbuild changes its helper and the interop is still there', () => {
    expect(() => shareBuiltinInterop('var X=(e,t)=>t?e:{default:e};var y=X(require("http"),1);')).toThrow(
      /shareBuiltinInterop needs updating/,
    );
  });
});

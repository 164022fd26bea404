import { mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, type Metafile } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EMBED_GLOBAL, prepareCatalog, ROOT } from '../../scripts/build-catalog.ts';
import { asHttpResult, fcContext, httpEvent } from '../support/fc.ts';

/**
 * The function bundles as the build makes them (esbuild, CJS, node20, minified, catalog embedded
 * through `define`): no ajv compiler inside, the standalone validator inside, and the embedded
 * catalog answering in the bundled code.
 */

const FUNCTIONS = ['long-sms', 'template-validate'] as const;
const outdir = mkdtempSync(join(tmpdir(), 'fcn-bundle-'));
let metafile: Metafile;
const outputs = new Map<string, string>();

beforeAll(async () => {
  const { define } = prepareCatalog({ file: join(ROOT, 'templates.json'), generate: false, required: true });
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: Object.fromEntries(FUNCTIONS.map((f) => [f, join(ROOT, 'functions', f, 'index.ts')])),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minify: true,
    metafile: true,
    write: false,
    outdir,
    define,
    logLevel: 'silent',
  });
  metafile = result.metafile;
  for (const file of result.outputFiles) {
    const name = FUNCTIONS.find((f) => file.path.endsWith(`${f}.js`));
    if (name) outputs.set(name, file.text);
  }
}, 60_000);

function inputsOf(fn: string): string[] {
  const out = Object.entries(metafile.outputs).find(([path]) => path.endsWith(`${fn}.js`));
  return Object.keys(out?.[1].inputs ?? {});
}

describe.each(FUNCTIONS)('%s bundle', (fn) => {
  it('contains the standalone validator and nothing of ajv (no compiler, no runtime helpers)', () => {
    const inputs = inputsOf(fn);
    expect(inputs.length).toBeGreaterThan(10);
    expect(inputs).toContain('shared/generated/catalog-validator.js');
    expect(inputs.filter((p) => /node_modules\/ajv\/(dist|lib)\/(compile|core|ajv)/.test(p))).toEqual([]);
    expect(inputs.filter((p) => p.includes('node_modules/ajv/'))).toEqual([]);
    expect(inputs.filter((p) => /node_modules\/zod\/(v4\/classic|lib\/)/.test(p))).toEqual([]);
  });

  it('embeds the catalog in place of the build global', () => {
    const code = outputs.get(fn) as string;
    // esbuild writes non-ASCII as \u escapes; the variable names are ASCII.
    expect(code.includes('#name#') && code.includes('#order#') && code.includes('#days#')).toBe(true);
    expect(code.includes(EMBED_GLOBAL)).toBe(false);
  });
});

describe('the bundled template-validate function', () => {
  const saved = { ...process.env };
  afterAll(() => {
    process.env = saved;
  });

  it('answers a dry run from the catalog embedded at build time (no TEMPLATES_FILE)', async () => {
    const file = join(outdir, 'template-validate.cjs');
    writeFileSync(file, outputs.get('template-validate') as string);
    process.env = { ...saved, SANDBOX: '1', API_KEYS: 'ci:bundle-test-key-0123456789', LOG_LEVEL: 'silent' };
    delete process.env.TEMPLATES_FILE;
    const { handler } = createRequire(import.meta.url)(file) as { handler: (e: Buffer, c: unknown) => Promise<unknown> };
    const res = asHttpResult(
      await handler(
        httpEvent({
          path: '/templates/validate',
          body: { job: { phone: '13800138000', skin: '2', params: { days: '3', name: '张三', order: 'A1' } } },
          headers: { 'x-api-key': 'bundle-test-key-0123456789' },
        }),
        fcContext(),
      ),
    );
    expect(res.statusCode).toBe(200);
    expect(res.json).toMatchObject({
      valid: true,
      preview: '【测试】尊敬的张三，您的订单A1已发货，预计3天送达。',
      request: { query: { param: '张三|A1|3', skin: '2', sign: '1' } },
      sent: false,
    });
  });
});

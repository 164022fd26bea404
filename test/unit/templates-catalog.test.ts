import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { CatalogError } from '#shared/errors';
import { createRuntime } from '#shared/fc/runtime';
import { makeSender } from '#shared/fc/sending';
import { createCatalog, loadRuntimeCatalog, parseCatalog } from '#shared/templates/catalog';
import { CatalogBuildError, EMBED_GLOBAL, prepareCatalog, ROOT, VALIDATOR_PATH, validatorSource } from '../../scripts/build-catalog.ts';
import { runTemplatesCheck } from '../../scripts/templates-check.ts';

const dir = mkdtempSync(join(tmpdir(), 'fcn-templates-'));
const write = (name: string, content: unknown) => {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
};
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}
const GOOD = { templates: [{ skin: '1', kind: 'verification', text: '【测试】您的验证码是#code#。', sign: '1' }] };
const BAD_SHAPE = { templates: [{ skin: 'a b', kind: 'ad', text: 3 }, { kind: 'notification' }], extra: true };
const BAD_RULES = {
  templates: [
    { skin: '1', kind: 'verification', text: '您的密码是#code#' },
    { skin: '1', kind: 'marketing', text: '【店】全场8折' },
  ],
};

describe('generated standalone validator', () => {
  it('is up to date with schemas/templates.schema.json (run `npm run templates:generate` when this fails)', () => {
    expect(readFileSync(VALIDATOR_PATH, 'utf8')).toBe(validatorSource());
  });

  it('imports and requires nothing: no ajv at runtime at all', () => {
    const code = readFileSync(VALIDATOR_PATH, 'utf8');
    expect(code).not.toMatch(/\brequire\s*\(/);
    expect(code).not.toMatch(/^\s*import\b/m);
  });
});

describe('prepareCatalog (build step)', () => {
  it('validates the repo catalog and returns the esbuild define that embeds it', () => {
    const p = prepareCatalog({ file: join(ROOT, 'templates.json'), generate: false });
    expect(p.catalog?.templates.map((t) => t.skin)).toEqual(['1', '2']);
    const literal = p.define[EMBED_GLOBAL] as string;
    expect(JSON.parse(JSON.parse(literal))).toEqual(p.catalog);
  });

  it('fails the build listing every schema problem', () => {
    const file = write('bad-shape.json', BAD_SHAPE);
    const error = thrown(() => prepareCatalog({ file, generate: false }));
    expect(error).toBeInstanceOf(CatalogBuildError);
    const problems = (error as CatalogBuildError).problems;
    expect(problems).toEqual(
      expect.arrayContaining([
        '(root) has an unknown field "extra"',
        'templates[0].skin has characters that are not allowed (must match ^[A-Za-z0-9_.-]+$)',
        'templates[0].kind must be one of: "verification", "notification", "marketing"',
        'templates[0].text must be string',
        'templates[1].skin is required',
        'templates[1].text is required',
      ]),
    );
    expect((error as Error).message).toContain('bad-shape.json is invalid (6 problem(s))');
  });

  it('fails the build listing every rule problem with its rule id', () => {
    const file = write('bad-rules.json', BAD_RULES);
    const error = thrown(() => prepareCatalog({ file, generate: false }));
    expect(error).toBeInstanceOf(CatalogBuildError);
    expect((error as CatalogBuildError).problems.map((p) => /: \[([\w.-]+)\]/.exec(p)?.[1])).toEqual([
      'signature.missing',
      'verification.keyword',
      'catalog.duplicate-skin',
      'marketing.opt-out',
    ]);
  });

  it('fails on malformed JSON with the parser position', () => {
    const file = write('broken.json', '{"templates": [');
    expect(() => prepareCatalog({ file, generate: false })).toThrow(/broken\.json is invalid[\s\S]*not valid JSON/);
  });

  it('allows no catalog unless required, and says what that means', () => {
    const file = join(dir, 'absent.json');
    const p = prepareCatalog({ file, generate: false });
    expect(p.define).toEqual({});
    expect(p.warnings[0]).toMatch(/named params will be refused/);
    expect(() => prepareCatalog({ file, generate: false, required: true })).toThrow(/does not exist/);
  });
});

describe('runtime catalog', () => {
  it('takes an explicit catalog first, then TEMPLATES_FILE, else none', () => {
    const given = createCatalog(GOOD as never, 'given');
    const file = write('good.json', GOOD);
    expect(loadRuntimeCatalog({ TEMPLATES_FILE: file }, given)).toBe(given);
    expect(loadRuntimeCatalog({ TEMPLATES_FILE: file }, null)).toBeUndefined();
    expect(loadRuntimeCatalog({ TEMPLATES_FILE: file })?.get('1')?.text).toBe('【测试】您的验证码是#code#。');
    expect(loadRuntimeCatalog({})).toBeUndefined();
  });

  it('refuses a broken catalog naming TEMPLATES_FILE and every problem', () => {
    const file = write('bad-rules-2.json', BAD_RULES);
    const error = thrown(() => loadRuntimeCatalog({ TEMPLATES_FILE: file }));
    expect(error).toBeInstanceOf(CatalogError);
    expect((error as CatalogError).variables).toEqual(['TEMPLATES_FILE']);
    expect((error as CatalogError).problems).toHaveLength(4);
    expect(() => parseCatalog(BAD_SHAPE, 'inline')).toThrow(/template catalog inline is invalid: \(root\) has an unknown field "extra"/);
  });

  it('a function with a broken catalog fails closed: no sender, the problem named', () => {
    const rt = createRuntime('long-sms', 'sms', { env: { SANDBOX: '1', TEMPLATES_FILE: join(dir, 'missing.json') } }, makeSender);
    expect(rt.sender).toBeUndefined();
    expect(rt.config).toBeUndefined();
    expect(rt.configError?.variables).toEqual(['TEMPLATES_FILE']);
    expect(rt.configError?.message).toMatch(/missing\.json is invalid: the file does not exist/);
  });
});

describe('templates:check CLI', () => {
  const run = (args: string[]) => {
    const lines: string[] = [];
    const code = runTemplatesCheck(args, (l) => lines.push(l), {});
    return { code, out: lines.join('\n') };
  };

  it('passes the repo catalog with a readable report', () => {
    const { code, out } = run([join(ROOT, 'templates.json')]);
    expect(code).toBe(0);
    expect(out).toContain('OK    skin 1  verification  long-sms  24 chars, 1 segment(s)');
    expect(out).toContain('【测试】您的验证码是123456，5分钟内有效。');
    expect(out).toMatch(/0 error\(s\), 0 warning\(s\): passed$/);
  });

  it('exits 1 listing each template problem with its rule id', () => {
    const { code, out } = run([write('cli-bad.json', BAD_RULES)]);
    expect(code).toBe(1);
    expect(out).toContain('FAIL  skin 1  verification');
    expect(out).toContain('templates[0].text  [signature.missing]');
    expect(out).toContain('templates[1].skin  [catalog.duplicate-skin]');
    expect(out).toMatch(/4 error\(s\), 0 warning\(s\): FAILED$/);
  });

  it('exits 1 on schema problems and 2 when the file is missing or not JSON', () => {
    expect(run([write('cli-shape.json', BAD_SHAPE)])).toMatchObject({
      code: 1,
      out: expect.stringContaining('[schema] has an unknown field "extra"'),
    });
    expect(run([join(dir, 'nope.json')])).toMatchObject({ code: 2, out: expect.stringContaining('does not exist') });
    expect(run([write('cli-broken.json', '{')])).toMatchObject({ code: 2, out: expect.stringContaining('is not valid JSON') });
  });

  it('as the real command: a failing catalog makes the process exit non-zero', async () => {
    const bad = write('cli-process.json', BAD_RULES);
    const exec = promisify(execFile);
    const err = await exec(join(ROOT, 'node_modules', '.bin', 'tsx'), [join(ROOT, 'scripts', 'templates-check.ts'), bad], {
      cwd: ROOT,
    }).then(
      () => undefined,
      (e: { code: number; stdout: string }) => e,
    );
    expect(err?.code).toBe(1);
    expect(err?.stdout).toContain('[marketing.opt-out]');
    const ok = await exec(join(ROOT, 'node_modules', '.bin', 'tsx'), [join(ROOT, 'scripts', 'templates-check.ts')], { cwd: ROOT });
    expect(ok.stdout).toContain('passed');
  });
});

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../scripts/build.ts';
import { deployEnv, runDeployCheck } from '../../scripts/deploy-check.ts';

const run = promisify(execFile);
const APPCODE = `fake-appcode-${process.pid}-deploycheck`;
const VERIFY_SECRET = `fake-verify-secret-${process.pid}-0123456789`;

function check(env: Record<string, string | undefined>): { code: number; text: string } {
  const lines: string[] = [];
  const code = runDeployCheck(env, (l) => lines.push(l));
  return { code, text: lines.join('\n') };
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('deploy check (npm run deploy:check)', () => {
  it('refuses a deploy without REDIS_URL, naming REDIS_URL and STORE=memory', () => {
    const r = check({ APPCODE });
    expect(r.code).toBe(1);
    expect(r.text).toContain('refused; nothing was deployed');
    expect(r.text).toContain('REDIS_URL is required');
    expect(r.text).toContain('STORE=memory');
    // An explicit STORE=redis is the same.
    expect(check({ APPCODE, STORE: 'redis', REDIS_URL: '  ' }).code).toBe(1);
  });

  it('lets STORE=memory through, saying what it means', () => {
    const r = check({ APPCODE, VERIFY_SECRET, STORE: 'memory' });
    expect(r.code).toBe(0);
    expect(r.text).toContain('per instance');
  });

  it('passes with a redis:// or rediss:// REDIS_URL, refuses another scheme', () => {
    expect(check({ APPCODE, VERIFY_SECRET, REDIS_URL: 'rediss://user:pw@r-bp1.redis.rds.aliyuncs.com:6380/0' }).code).toBe(0);
    const bad = check({ APPCODE, REDIS_URL: 'http://r-bp1.redis.rds.aliyuncs.com' });
    expect(bad.code).toBe(1);
    expect(bad.text).toContain('REDIS_URL must start with redis://');
  });

  it('runs the functions’ own configuration check: a bad value is refused by name, never echoed', () => {
    const r = check({ APPCODE, STORE: 'memory', UPSTREAM_TIMEOUT_MS: 'soon' });
    expect(r.code).toBe(1);
    expect(r.text).toContain('UPSTREAM_TIMEOUT_MS');
    expect(r.text).not.toContain(APPCODE);
    expect(check({ APPCODE, STORE: 'disk' }).text).toContain('STORE must be redis or memory');
    // SANDBOX is never passed to a deployed function, so it cannot stand in for APPCODE.
    expect(check({ SANDBOX: '1', STORE: 'memory' }).text).toContain('APPCODE is required');
  });

  it('refuses a deploy without VERIFY_SECRET (both sending functions serve the verification routes), never echoing it', () => {
    const r = check({ APPCODE, STORE: 'memory' });
    expect(r.code).toBe(1);
    expect(r.text).toContain('VERIFY_SECRET is required');
    const short = check({ APPCODE, STORE: 'memory', VERIFY_SECRET: 'tooshort-secret' });
    expect(short.code).toBe(1);
    expect(short.text).toContain('VERIFY_SECRET must be at least 16 characters');
    expect(short.text).not.toContain('tooshort-secret');
  });

  it('reads a .env beside s.yaml, as `s` does; the shell wins', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fcn-deploy-check-'));
    dirs.push(dir);
    writeFileSync(join(dir, '.env'), 'REDIS_URL=redis://127.0.0.1:6390\nSTORE=redis\n');
    expect(deployEnv({ APPCODE }, dir)).toMatchObject({ APPCODE, REDIS_URL: 'redis://127.0.0.1:6390', STORE: 'redis' });
    expect(deployEnv({ APPCODE, STORE: 'memory' }, dir).STORE).toBe('memory');
  });

  it('is what `npm run deploy` and the s.yaml pre-deploy action run before anything is built or uploaded', async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.deploy).toMatch(/^npm run deploy:check && .*s deploy/);
    expect(pkg.scripts['deploy:check']).toBe('tsx scripts/deploy-check.ts');
    expect(readFileSync(join(ROOT, 's.yaml'), 'utf8')).toMatch(/run: npm ci && npm run deploy:check && npm run build/);
    // The script itself, as a process: exit 1 and the message on stderr.
    const dir = mkdtempSync(join(tmpdir(), 'fcn-deploy-check-'));
    dirs.push(dir);
    const err = await run(join(ROOT, 'node_modules', '.bin', 'tsx'), [join(ROOT, 'scripts', 'deploy-check.ts')], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOME: dir, APPCODE },
      timeout: 60_000,
    }).catch((e: unknown) => e as { code?: number; stderr?: string });
    expect((err as { code?: number }).code).toBe(1);
    expect((err as { stderr?: string }).stderr).toContain('REDIS_URL is required');
  });
});

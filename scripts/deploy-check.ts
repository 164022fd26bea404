import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseEnv } from 'node:util';
import { loadConfig } from '../shared/config.ts';
import { ConfigError } from '../shared/errors.ts';

/**
 * `npm run deploy:check` (run by `npm run deploy` and by s.yaml's pre-deploy action): refuses a
 * deploy whose environment the functions would refuse once deployed, before anything is uploaded.
 * It renders the sending functions' environment as s.yaml does (STORE defaults to `redis`, so a
 * missing REDIS_URL stops here unless STORE=memory was chosen) and runs the functions' own
 * configuration check on it, as Function Compute would (FC_FUNCTION_NAME set).
 * Messages name variables, never values. Exit 0 = go, 1 = refused.
 */

/** The deploying shell's environment, with a `.env` beside s.yaml underneath it (as `s` loads it). */
export function deployEnv(env: Record<string, string | undefined> = process.env, dir = process.cwd()): Record<string, string | undefined> {
  const file = resolve(dir, '.env');
  const fromFile = existsSync(file) ? (parseEnv(readFileSync(file, 'utf8')) as Record<string, string>) : {};
  return { ...fromFile, ...env };
}

/** Variables s.yaml passes from the deploying shell to the sending functions (others, like SANDBOX, never reach them). */
const PASSED = [
  'APPCODE',
  'API_KEYS',
  'LONG_SMS_URL',
  'VOICE_URL',
  'UPSTREAM_TIMEOUT_MS',
  'UPSTREAM_RETRIES',
  'MAX_BODY_BYTES',
  'BATCH_CONCURRENCY',
  'LOG_LEVEL',
  'VERIFY_SECRET',
  'VERIFY_SMS_SKIN',
  'VERIFY_VOICE_TEXT',
];

export function runDeployCheck(env: Record<string, string | undefined>, print: (line: string) => void): number {
  // What s.yaml renders for long-sms / voice-notify: ${env('STORE', 'redis')}, ${env('REDIS_URL', '')}.
  const passed = Object.fromEntries(PASSED.filter((k) => env[k] !== undefined).map((k) => [k, env[k]]));
  const store = env.STORE && env.STORE.trim() !== '' ? env.STORE.trim() : 'redis';
  const redisUrl = env.REDIS_URL?.trim() ?? '';
  const problems: string[] = [];
  try {
    const config = loadConfig({ ...passed, STORE: store, REDIS_URL: redisUrl, FC_FUNCTION_NAME: 'long-sms' }, { requireCredentials: true });
    // Both sending functions serve the verification routes (docs/verification.md).
    if (config.verify.problem) problems.push(config.verify.problem);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.message.split('; '));
  }
  if (redisUrl !== '' && !/^rediss?:\/\//.test(redisUrl))
    problems.push('REDIS_URL must start with redis:// or rediss:// (Tair/Redis reachable from Function Compute)');
  if (problems.length > 0) {
    print('deploy check: refused; nothing was deployed.');
    for (const p of problems) print(`  - ${p}`);
    if (problems.some((p) => p.startsWith('REDIS_URL is required'))) {
      print('  Set REDIS_URL=redis://user:password@host:6379/0 (a Tair/Redis the functions can reach, see docs/deploy.md),');
      print('  or STORE=memory to deploy with a per-instance store on purpose (duplicates across instances are possible).');
    }
    return 1;
  }
  if (store === 'memory') {
    print('deploy check: STORE=memory: idempotency, limits and schedules will be per instance (chosen on purpose).');
  } else {
    print('deploy check: OK (STORE=redis, REDIS_URL set).');
  }
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = runDeployCheck(deployEnv(), (line) => process.stderr.write(`${line}\n`));
}

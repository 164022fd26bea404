/**
 * `npm start`: the three functions on one local HTTP server (PORT, default 9000).
 * With no APPCODE (or APP_KEY/APP_SECRET) it runs the built-in sandbox: nothing leaves the process.
 */
import { existsSync } from 'node:fs';
import { closeRedisConnection } from '../shared/store/redis-connection.ts';
import { startLocalServer } from './local-server.ts';

const env = process.env;
const notes: string[] = [];
if (!env.APPCODE && !env.APP_KEY && env.SANDBOX !== '0') {
  env.SANDBOX = '1';
  notes.push('SANDBOX mode: no APPCODE set, the built-in sandbox provider answers and nothing is sent.');
  notes.push('  Magic numbers: 134000 + provider code, e.g. 13400000105 answers 105, 13400001009 answers 1009.');
  if (env.QUIET_HOURS === undefined) {
    // Trying it out at 22:00 should not meet the 09:00-20:00 voice/marketing window; production keeps it.
    env.QUIET_HOURS = 'off';
    notes.push('  Quiet hours are off in the sandbox (set QUIET_HOURS=09:00-20:00 to try them).');
  }
}
if (!env.API_KEYS && env.ALLOW_UNAUTHENTICATED === undefined) {
  env.ALLOW_UNAUTHENTICATED = '1';
  notes.push('No API_KEYS set: the local server accepts any caller (a deployed function refuses instead).');
}

if (!env.REDIS_URL && env.STORE !== 'redis') {
  // Locally a blank REDIS_URL means memory; a deployed function refuses instead (STORE=redis by default).
  notes.push('No REDIS_URL: in-memory store (idempotency, limits and schedules live in this process only).');
}

// The deployed bundles embed templates.json at build time; locally the file is read directly.
if (env.TEMPLATES_FILE === undefined && existsSync('templates.json')) env.TEMPLATES_FILE = 'templates.json';

// Functions read their configuration at module load, so import them after the environment is set.
const [sms, voice, templates] = await Promise.all([
  import('../functions/long-sms/index.ts'),
  import('../functions/voice-notify/index.ts'),
  import('../functions/template-validate/index.ts'),
]);

const port = Number(env.PORT || 9000);
const host = env.HOST || '127.0.0.1';
const server = await startLocalServer(
  { 'long-sms': sms.handler, 'voice-notify': voice.handler, 'template-validate': templates.handler },
  { port, host, ...(env.FC_REGION ? { region: env.FC_REGION } : {}) },
);

process.stderr.write(
  [
    `fc-notify local server listening on ${server.url}`,
    ...notes,
    "  POST /sms   POST /voice   POST /templates/validate   GET /healthz   GET /console (operators' page)   POST /invoke/<function>",
    '  POST /sms/verify   POST /voice/verify   POST /verify/check   (docs/verification.md)',
    '',
  ].join('\n'),
);

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`${signal}: shutting down\n`);
  const force = setTimeout(() => process.exit(1), 5000);
  force.unref();
  await server.close();
  await closeRedisConnection();
  process.exit(0);
}
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));

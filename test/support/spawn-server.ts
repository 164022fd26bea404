import { type ChildProcess, spawn } from 'node:child_process';
import { closedPort } from './fake-provider.ts';

export interface SpawnedServer {
  url: string;
  child: ChildProcess;
  output: () => string;
  /** Sends a signal and resolves with the exit code. */
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
}

/**
 * Runs `npm start` (exactly what the README tells users) with `env`, on a free port.
 * `direct` runs the same script with node itself, so its own exit code can be checked
 * (npm re-raises a forwarded signal instead of passing the child's exit code on).
 */
export async function spawnNpmStart(env: Record<string, string>, options: { direct?: boolean } = {}): Promise<SpawnedServer> {
  const port = await closedPort();
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    // Start from a clean slate: no provider settings leak in from the developer's shell.
    if (
      v !== undefined &&
      !/^(APPCODE|APP_KEY|APP_SECRET|API_KEYS|SANDBOX|ALLOW_UNAUTHENTICATED|REDIS_URL|LONG_SMS_URL|VOICE_URL)$/.test(k)
    )
      base[k] = v;
  }
  const [cmd, args] = options.direct ? ['node', ['--import', 'tsx', 'scripts/start.ts']] : ['npm', ['start', '--silent']];
  const child = spawn(cmd as string, args as string[], {
    cwd: new URL('../..', import.meta.url).pathname,
    env: { ...base, ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: npm → tsx → node is three processes, and a signal to npm alone
    // leaves the server running as an orphan.
    detached: true,
  });
  let out = '';
  child.stdout?.on('data', (c) => (out += String(c)));
  child.stderr?.on('data', (c) => (out += String(c)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start did not listen within 30 s:\n${out}`)), 30_000);
    const check = () => {
      if (out.includes('listening on')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`npm start exited with ${code}:\n${out}`));
    });
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    url: `http://127.0.0.1:${port}`,
    child,
    output: () => out,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      // Signal the whole group, as a terminal's Ctrl-C does.
      process.kill(-(child.pid as number), signal);
      return exited;
    },
  };
}

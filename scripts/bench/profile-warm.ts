/**
 * Where a warm call's time goes, ours beside the baseline (`npx tsx scripts/bench/profile-warm.ts
 * [calls]`): builds long-sms and the axios baseline unminified (esbuild's `// path` comments mark
 * where each module starts), runs warm-pair-runner.cjs under `node --cpu-prof` against a local
 * HTTPS stand-in (the log lines go to a pipe, as in the bench and on FC), and attributes the
 * profile's self time to modules of each bundle and to Node's internals. Then, without the
 * profiler, cpu-pair-runner.cjs measures the CPU time (user + system) per call of each side in
 * the same process: a figure that depends far less on machine load than wall time. A measuring
 * aid for BENCHMARKS.md, not a gate.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { build, ROOT } from '../build.ts';
import { makeSelfSignedCert } from '../dev-cert.ts';
import { benchEnv, bundleHandler, httpEvent, moduleOfLine, startProvider } from './common.ts';

const CALLS = Number(process.argv[2] || 4000);
const OUT = join(ROOT, '.bench', 'profile-warm');

type Node = { id: number; callFrame: { url: string; lineNumber: number; functionName: string } };
type Profile = { nodes: Node[]; samples: number[]; timeDeltas: number[] };

function spawnNode(args: string[], env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stdout.resume(); // the log lines: read and dropped, like the bench does
    child.stderr.on('data', (c) => (err += String(c)));
    child.on('exit', (code) => (code === 0 ? resolve(err) : reject(new Error(`run exited ${code}: ${err.slice(0, 300)}`))));
  });
}

async function main(): Promise<void> {
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  mkdirSync(join(OUT, 'tls'), { recursive: true });
  const cert = makeSelfSignedCert(join(OUT, 'tls'));
  const ours = await build({ outdir: join(OUT, 'dist'), minify: false, functions: ['long-sms'], codeCache: false });
  const { file: oursFile, codeFile } = ours.bundles[0] as { file: string; codeFile: string };
  const baselineFile = join(OUT, 'baseline', 'index.js');
  await bundleHandler('baseline-handler.cjs', baselineFile, false);
  const oursModule = moduleOfLine(readFileSync(codeFile, 'utf8'));
  const baseModule = moduleOfLine(readFileSync(baselineFile, 'utf8'));

  const provider = await startProvider(cert);
  const eventFile = join(OUT, 'event.json');
  writeFileSync(eventFile, httpEvent());
  const env = benchEnv(cert.certPath, provider.url);
  const load = () => (loadavg()[0] as number).toFixed(2);
  console.log(`load average (1 min) before: ${load()}`);

  // CPU per call, both sides in one process, blocks alternating.
  const cpu = await spawnNode([join(ROOT, 'scripts', 'bench', 'cpu-pair-runner.cjs'), oursFile, baselineFile, eventFile, '10'], env);
  console.log(`cpu per call: ${cpu.trim().split('\n').at(-1)}`);

  const dir = join(OUT, 'prof');
  await spawnNode(
    [
      '--cpu-prof',
      '--cpu-prof-interval',
      '100',
      '--cpu-prof-dir',
      dir,
      join(ROOT, 'scripts', 'bench', 'warm-pair-runner.cjs'),
      oursFile,
      baselineFile,
      eventFile,
      String(CALLS),
      '2000',
    ],
    env,
  );
  await provider.close();
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile')) as string;
  const p = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const totals = new Map<string, number>();
  const fns = new Map<string, number>();
  let all = 0;
  p.samples.forEach((id, k) => {
    const n = byId.get(id) as Node;
    const { url: u, lineNumber, functionName } = n.callFrame;
    let key: string;
    if (u === '') key = functionName || '(anonymous native)';
    else if (u.startsWith('node:')) key = `node: ${u.replace(/^node:(internal\/)?/, '').split('/')[0]}`;
    else if (u.endsWith(`/${codeFile.split('/').at(-1)}`) && u.includes('profile-warm/dist')) key = `ours: ${oursModule(lineNumber)}`;
    else if (u.includes('profile-warm/baseline')) key = `base: ${baseModule(lineNumber)}`;
    else key = `other: ${u.split('/').at(-1)}`;
    const us = p.timeDeltas[k] ?? 0;
    all += us;
    totals.set(key, (totals.get(key) ?? 0) + us);
    if (key.startsWith('ours: ')) {
      const f = `${key} ${functionName || '(anon)'}:${lineNumber}`;
      fns.set(f, (fns.get(f) ?? 0) + us);
    }
  });
  const per = (us: number) =>
    `${((us / all) * 100).toFixed(2).padStart(6)} %  ${(us / (CALLS + 2000)).toFixed(1).padStart(6)} µs per call of one side (profiler on)`;
  console.log(`profiled ${(all / 1e6).toFixed(2)} s over ${CALLS + 2000} calls of each side; load after: ${load()}`);
  for (const [k, v] of [...totals].sort((a, b) => b[1] - a[1]).slice(0, 45)) console.log(`${per(v)}  ${k}`);
  const sum = (prefix: string) => [...totals].filter(([k]) => k.startsWith(prefix)).reduce((a, [, v]) => a + v, 0);
  console.log(`ours total ${per(sum('ours: '))}; of it shared/ ${per(sum('ours: shared'))}; baseline total ${per(sum('base: '))}`);
  console.log('our own functions (self time):');
  for (const [k, v] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, 60)) console.log(`${per(v)}  ${k.slice(6)}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

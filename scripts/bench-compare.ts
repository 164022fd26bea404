/**
 * `npm run bench:compare -- <rev>`: is this tree's long-sms bundle slower than the one at <rev>?
 * "No worse than before" for a change (a restructure, a dependency bump) measured side by side,
 * not from two bench runs minutes apart on a shared machine.
 *
 * The bundle at <rev> is built by <rev>'s own scripts/build.ts in a detached git worktree under
 * .bench/compare/ (its node_modules is a link to this tree's, so a rev whose lockfile needs other
 * packages may not build: the error says so). Both bundles then run against the same HTTPS
 * provider stand-in with the same event and environment as `npm run bench` (scripts/bench/common.ts):
 *
 * - cold: a fresh node per start, the two bundles alternating, median of BENCH_COLD_RUNS (21) each;
 *   also the child's CPU time up to the answer (cold-runner.cjs's `cpu` line), less load-sensitive;
 * - warm: BENCH_WARM_RUNS (5) processes that load both bundles and call them in turn
 *   (scripts/bench/warm-pair-runner.cjs), the median of the per-process p50 ratios;
 * - code size of both (index.js + app.js, or index.js alone for a build without the loader).
 *
 * Prints the ratios this tree / <rev> (below 1 is faster) and exits 0 when neither ratio is over
 * BENCH_COMPARE_TOLERANCE (default 1.03: the spread of the same code against itself here).
 * The worktree is removed at the end.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { benchEnv, httpEvent, median, run, startProvider } from './bench/common.ts';
import { build, ROOT } from './build.ts';
import { makeSelfSignedCert } from './dev-cert.ts';

const rev = process.argv[2];
if (!rev) {
  console.error('usage: npm run bench:compare -- <git revision>');
  process.exit(2);
}
const COLD_RUNS = Number(process.env.BENCH_COLD_RUNS || 21);
const WARM_RUNS = Number(process.env.BENCH_WARM_RUNS || 5);
const WARM_CALLS = Number(process.env.BENCH_WARM_CALLS || 1000);
const WARM_WARMUP = Number(process.env.BENCH_WARM_WARMUP || 2000);
const TOLERANCE = Number(process.env.BENCH_COMPARE_TOLERANCE || 1.03);
const OUT = join(ROOT, '.bench', 'compare');

/** Code a cold start reads: index.js plus app.js when the build has the code-cache loader. */
function codeBytes(indexFile: string): number {
  const app = join(dirname(indexFile), 'app.js');
  return statSync(indexFile).size + (existsSync(app) ? statSync(app).size : 0);
}

/** Builds long-sms at `revision` with that revision's own build script; returns its index.js. */
function buildAt(revision: string): { file: string; sha: string } {
  const sha = execFileSync('git', ['rev-parse', '--verify', `${revision}^{commit}`], { cwd: ROOT, encoding: 'utf8' }).trim();
  const tree = join(OUT, `tree-${sha.slice(0, 12)}`);
  if (existsSync(tree)) execFileSync('git', ['worktree', 'remove', '--force', tree], { cwd: ROOT, stdio: 'ignore' });
  execFileSync('git', ['worktree', 'add', '--detach', '--quiet', tree, sha], { cwd: ROOT, stdio: 'inherit' });
  try {
    symlinkSync(join(ROOT, 'node_modules'), join(tree, 'node_modules'), 'dir');
    const outdir = join(OUT, `dist-${sha.slice(0, 12)}`);
    const script = join(tree, '.bench-compare-build.ts');
    writeFileSync(
      script,
      `import { build } from './scripts/build.ts';\nconst r = await build({ outdir: ${JSON.stringify(outdir)}, functions: ['long-sms'] });\nconsole.log(JSON.stringify(r.bundles.map((b) => b.file)));\n`,
    );
    const out = execFileSync(join(ROOT, 'node_modules', '.bin', 'tsx'), [script], { cwd: tree, encoding: 'utf8' });
    const files = JSON.parse(out.trim().split('\n').at(-1) as string) as string[];
    if (!files[0]) throw new Error(`the build at ${revision} made no long-sms bundle`);
    return { file: files[0], sha };
  } finally {
    execFileSync('git', ['worktree', 'remove', '--force', tree], { cwd: ROOT, stdio: 'ignore' });
  }
}

async function main(): Promise<number> {
  mkdirSync(OUT, { recursive: true });
  const loadBefore = loadavg()[0] as number;
  const base = buildAt(rev as string);
  const head = (await build({ outdir: join(OUT, 'dist-head'), functions: ['long-sms'] })).bundles[0]?.file;
  if (!head) throw new Error('no long-sms bundle in this tree');
  const tlsDir = join(OUT, 'tls');
  mkdirSync(tlsDir, { recursive: true });
  const cert = makeSelfSignedCert(tlsDir);
  const provider = await startProvider(cert);
  const eventFile = join(OUT, 'http-event.json');
  writeFileSync(eventFile, httpEvent());
  const env = benchEnv(cert.certPath, provider.url);
  const runner = (name: string) => join(ROOT, 'scripts', 'bench', name);

  const cold: Record<'head' | 'base', number[]> = { head: [], base: [] };
  const coldCpu: Record<'head' | 'base', number[]> = { head: [], base: [] };
  for (let i = 0; i < COLD_RUNS; i++) {
    const order = i % 2 === 0 ? (['head', 'base'] as const) : (['base', 'head'] as const);
    for (const side of order) {
      const r = await run([runner('cold-runner.cjs'), side === 'head' ? head : base.file, eventFile], env);
      if (r.code !== 0 || r.err.trim().split('\n').at(-1) !== '200') throw new Error(`cold run of ${side} failed: ${r.err.slice(0, 300)}`);
      cold[side].push(r.ms);
      const cpu = /^cpu (\d+)$/m.exec(r.err);
      if (cpu) coldCpu[side].push(Number(cpu[1]) / 1000);
    }
  }
  const warm: number[] = [];
  for (let i = 0; i < WARM_RUNS; i++) {
    const [first, second] = i % 2 === 0 ? [head, base.file] : [base.file, head];
    const r = await run([runner('warm-pair-runner.cjs'), first, second, eventFile, String(WARM_CALLS), String(WARM_WARMUP)], env);
    if (r.code !== 0) throw new Error(`warm pair run failed: ${r.err.slice(0, 300)}`);
    const p = JSON.parse(r.err.trim().split('\n').at(-1) as string) as { ratio: number };
    warm.push(i % 2 === 0 ? p.ratio : 1 / p.ratio);
  }
  await provider.close();

  const coldRatio = median(cold.head) / median(cold.base);
  const warmRatio = median(warm);
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
  console.log(`fc-notify bench:compare — this tree against ${rev} (${base.sha.slice(0, 12)}), long-sms`);
  console.log(`load average (1 min): ${loadBefore.toFixed(2)} before, ${(loadavg()[0] as number).toFixed(2)} after`);
  console.log(`code        this tree ${kb(codeBytes(head))}   ${rev} ${kb(codeBytes(base.file))}`);
  console.log(
    `cold        this tree ${median(cold.head).toFixed(1)} ms   ${rev} ${median(cold.base).toFixed(1)} ms   ratio ${coldRatio.toFixed(3)}× (median of ${COLD_RUNS} each, alternated)`,
  );
  if (coldCpu.head.length > 0 && coldCpu.base.length > 0)
    console.log(
      `cold CPU    this tree ${median(coldCpu.head).toFixed(1)} ms   ${rev} ${median(coldCpu.base).toFixed(1)} ms   ratio ${(median(coldCpu.head) / median(coldCpu.base)).toFixed(3)}× (user + system up to the answer, process.cpuUsage; informative)`,
    );
  console.log(
    `warm p50    ratio ${warmRatio.toFixed(3)}× (median of ${WARM_RUNS} processes, side by side; per process ${warm.map((r) => r.toFixed(3)).join(' ')})`,
  );
  const ok = coldRatio <= TOLERANCE && warmRatio <= TOLERANCE;
  console.log(`${ok ? 'PASS' : 'FAIL'}  no worse than ${rev} (each ratio ≤ ${TOLERANCE}×)`);
  writeFileSync(
    join(OUT, 'last.json'),
    `${JSON.stringify({ rev, sha: base.sha, date: new Date().toISOString(), cold, coldCpu, warm, coldRatio, warmRatio, ok }, null, 2)}\n`,
  );
  rmSync(join(OUT, `dist-${base.sha.slice(0, 12)}`), { recursive: true, force: true });
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(2);
  },
);

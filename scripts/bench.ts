/**
 * `npm run bench`: cold start, warm per-call cost, batch throughput and bundle sizes, measured
 * side by side with the hand-written baseline (scripts/bench/baseline-handler.cjs) in one run,
 * against a local HTTPS provider stand-in. Exits 0 only when every goal holds.
 *
 * Options (env): BENCH_COLD_RUNS (default 21 per side), BENCH_WARM_CALLS (1000),
 * BENCH_WARM_WARMUP (2000), BENCH_WARM_RUNS (5 per side), BENCH_BATCH_JOBS (1000),
 * BENCH_PROVIDER_DELAY_MS (50, for the batch only), BENCH_ONLY (cold,warm,batch,redis).
 * The `redis` section (issue 15) starts its own redis-server on a free port (killed by pid):
 * commands and sequential round trips per send (scripts/bench-redis.ts), and the batch with REDIS_URL.
 * The `oss` section (issue 15, goal 3b; scripts/bench/oss-batch.ts): a BENCH_OSS_LINES-line (100,000)
 * CSV batch file from the fake OSS through the built long-sms bundle in a child process, peak RSS
 * from /proc/<pid>/status, provider answering after BENCH_OSS_DELAY_MS, with the memory store and
 * with Redis (its own redis-server, killed by pid).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { startRedisChild } from '../test/support/redis-child.ts';
import { benchEnv, bundleHandler, httpEvent, median, run, startProvider } from './bench/common.ts';
import { benchOss } from './bench/oss-batch.ts';
import { benchRedis } from './bench-redis.ts';
import { build, ROOT } from './build.ts';
import { makeSelfSignedCert } from './dev-cert.ts';

const OUT = join(ROOT, '.bench');
const COLD_RUNS = Number(process.env.BENCH_COLD_RUNS || 21);
const WARM_CALLS = Number(process.env.BENCH_WARM_CALLS || 1000);
// Untimed calls before the timed ones: V8 is still optimising the request path for the first
// ~2,000 calls of a process (p50 falls by ~40 % over them, on both sides; see BENCHMARKS.md).
const WARM_WARMUP = Number(process.env.BENCH_WARM_WARMUP || 2000);
const WARM_RUNS = Number(process.env.BENCH_WARM_RUNS || 5);
const BATCH_JOBS = Number(process.env.BENCH_BATCH_JOBS || 1000);
const PROVIDER_DELAY_MS = Number(process.env.BENCH_PROVIDER_DELAY_MS || 50);
const BATCH_CONCURRENCY = 8;

// Issue 6 (first round): cold and warm against the axios baseline, bundle size, batch.
// Issue 15: cold against the floor (bare Node + one HTTPS GET), and the warm margin (1.05×, was 1.10×).
const GOALS = {
  coldRatio: 1.1,
  coldFloorRatio: 1.3,
  warmP50Ratio: 1.05,
  warmSeparateRatio: 1.1,
  bundleKb: 320,
  batchRatio: 1.2,
  redisBatchRatio: 1.1,
};
/** BENCH_ONLY=cold,warm,batch runs some sections (for working on one); a partial run never passes. */
const SECTIONS = new Set((process.env.BENCH_ONLY || 'cold,warm,batch,redis,oss').split(',').map((s) => s.trim()));
const PARTIAL = !['cold', 'warm', 'batch', 'redis', 'oss'].every((s) => SECTIONS.has(s));

function batchEvent(n: number): string {
  const events = Array.from({ length: n }, (_, i) => ({
    id: `bench-${i}`,
    source: 'MNS-bench',
    specversion: '1.0',
    type: 'mns:Queue:SendMessage',
    subject: 'acs:mns:cn-hangzhou:0:queues/notify',
    time: new Date().toISOString(),
    data: {
      requestId: `r-${i}`,
      messageId: `m-${i}`,
      messageBody: JSON.stringify({ channel: 'sms', phone: `138${String(i).padStart(8, '0')}`, skin: '1', params: [String(1000 + i)] }),
    },
  }));
  return JSON.stringify(events);
}

async function main(): Promise<void> {
  const loadBefore = +(loadavg()[0] as number).toFixed(2);
  mkdirSync(OUT, { recursive: true });
  const tlsDir = join(OUT, 'tls');
  mkdirSync(tlsDir, { recursive: true });
  const cert = makeSelfSignedCert(tlsDir);

  // Our bundles exactly as `npm run build` makes them; the baseline bundled plainly, same settings.
  const ours = await build({ outdir: join(OUT, 'dist') });
  // The same long-sms without its V8 code cache (app.cache): measured cold beside it, reported (no goal).
  const noCache = (await build({ outdir: join(OUT, 'dist-nocache'), functions: ['long-sms'], codeCache: false })).bundles[0] as {
    file: string;
  };
  const baselineFile = join(OUT, 'baseline', 'index.js');
  await bundleHandler('baseline-handler.cjs', baselineFile);
  const baselineBytes = readFileSync(baselineFile).length;
  // The floor: one HTTPS GET with Node's own `https`, nothing else (scripts/bench/floor-handler.cjs).
  const floorFile = join(OUT, 'floor', 'index.js');
  await bundleHandler('floor-handler.cjs', floorFile);
  const smsBundle = ours.bundles.find((b) => b.name === 'long-sms');
  if (!smsBundle) throw new Error('no long-sms bundle');

  const provider = await startProvider(cert);
  const eventFile = join(OUT, 'http-event.json');
  writeFileSync(eventFile, httpEvent());
  const env = benchEnv(cert.certPath, provider.url);

  const runner = (name: string) => join(ROOT, 'scripts', 'bench', name);

  // Cold: ours, the baseline and the floor in turn, the order rotating run by run, so drift on the
  // machine (other processes, CPU frequency) hits all three alike.
  const cold = { ours: [] as number[], baseline: [] as number[], floor: [] as number[], oursNoCache: [] as number[] };
  const coldSides = [
    ['ours', smsBundle.file],
    ['oursNoCache', noCache.file],
    ['baseline', baselineFile],
    ['floor', floorFile],
  ] as const;
  for (let i = 0; i < (SECTIONS.has('cold') ? COLD_RUNS : 0); i++) {
    for (let j = 0; j < coldSides.length; j++) {
      const [side, file] = coldSides[(i + j) % coldSides.length] as (typeof coldSides)[number];
      const r = await run([runner('cold-runner.cjs'), file, eventFile], env);
      if (r.code !== 0 || r.err.trim().split('\n').at(-1) !== '200')
        throw new Error(`cold run of ${side} failed (${r.code}): ${r.err.slice(0, 300)}`);
      cold[side].push(r.ms);
    }
  }

  // Warm: per run, one fresh process per side (the order alternates run by run): WARM_WARMUP
  // untimed calls, then WARM_CALLS timed ones. A process's p50 moves by ±15 % from one process to
  // the next on this kind of machine (placement on the cores, JIT timing), so each side's figure
  // is the median over WARM_RUNS processes.
  type WarmRun = { p50: number; p99: number; mean: number; warmingP50: number };
  const warm: Record<'ours' | 'baseline', WarmRun[]> = { ours: [], baseline: [] };
  for (let i = 0; i < (SECTIONS.has('warm') ? WARM_RUNS : 0); i++) {
    const order = [
      ['ours', smsBundle.file],
      ['baseline', baselineFile],
    ] as const;
    for (const [side, file] of i % 2 === 0 ? order : [...order].reverse()) {
      const r = await run([runner('warm-runner.cjs'), file, eventFile, String(WARM_CALLS), String(WARM_WARMUP)], env);
      if (r.code !== 0) throw new Error(`warm run of ${side} failed: ${r.err.slice(0, 300)}`);
      warm[side].push(JSON.parse(r.err.trim().split('\n').at(-1) as string));
    }
  }
  const medianOf = (runs: WarmRun[], k: keyof WarmRun) => median(runs.map((r) => r[k]));

  // Warm, side by side in one process (scripts/bench/warm-pair-runner.cjs): both bundles loaded,
  // called in turn call by call, so load from other processes at any moment hits both alike. On a
  // shared machine this is the figure the goal applies to (separate processes above are reported:
  // their per-process p50 moved 0.58–4 ms under a load average of 10–15). The ratio per process is
  // ours p50 / baseline p50 over the same stretch of time; the goal applies to the median of WARM_RUNS.
  type PairRun = { a: { p50: number; p99: number }; b: { p50: number; p99: number }; ratio: number };
  const pairs: PairRun[] = [];
  for (let i = 0; i < (SECTIONS.has('warm') ? WARM_RUNS : 0); i++) {
    // Which bundle is required first alternates too.
    const [first, second] = i % 2 === 0 ? [smsBundle.file, baselineFile] : [baselineFile, smsBundle.file];
    const r = await run([runner('warm-pair-runner.cjs'), first, second, eventFile, String(WARM_CALLS), String(WARM_WARMUP)], env);
    if (r.code !== 0) throw new Error(`warm pair run failed: ${r.err.slice(0, 300)}`);
    const p = JSON.parse(r.err.trim().split('\n').at(-1) as string) as PairRun;
    pairs.push(i % 2 === 0 ? p : { a: p.b, b: p.a, ratio: p.b.p50 / p.a.p50 });
  }

  // Batch: one MNS queue batch through our handler, provider answering after 50 ms.
  provider.state.delayMs = PROVIDER_DELAY_MS;
  provider.state.requests = 0;
  const batchFile = join(OUT, 'batch-event.json');
  writeFileSync(batchFile, batchEvent(BATCH_JOBS));
  const batchRun = SECTIONS.has('batch')
    ? await run([runner('batch-runner.cjs'), smsBundle.file, batchFile], { ...env, BATCH_CONCURRENCY: String(BATCH_CONCURRENCY) })
    : { code: 1, err: 'not run (BENCH_ONLY)' };
  const batch =
    batchRun.code === 0
      ? { ok: true, ms: JSON.parse(batchRun.err.trim().split('\n').at(-1) as string).ms as number, requests: provider.state.requests }
      : { ok: false, ms: Number.NaN, requests: provider.state.requests, error: batchRun.err.slice(0, 400) };

  // Issue 15: the same batch with the production store (REDIS_URL: claims, limits, records in Redis),
  // and the Redis commands and round trips per send.
  let redisBatch: { ok: boolean; ms: number; requests: number; error?: string } = {
    ok: false,
    ms: Number.NaN,
    requests: 0,
    error: 'not run',
  };
  let redisRoundTrips: { ok: boolean; lines: string[] } = { ok: false, lines: ['not run (BENCH_ONLY)'] };
  if (SECTIONS.has('redis')) {
    const redis = await startRedisChild();
    try {
      provider.state.requests = 0;
      const r = await run([runner('batch-runner.cjs'), smsBundle.file, batchFile], {
        ...env,
        BATCH_CONCURRENCY: String(BATCH_CONCURRENCY),
        REDIS_URL: redis.url,
      });
      redisBatch =
        r.code === 0
          ? { ok: true, ms: JSON.parse(r.err.trim().split('\n').at(-1) as string).ms as number, requests: provider.state.requests }
          : { ok: false, ms: Number.NaN, requests: provider.state.requests, error: r.err.slice(0, 400) };
    } finally {
      await redis.close();
    }
    redisRoundTrips = await benchRedis();
  }
  // Issue 15, goal 3b: the 100,000-line OSS batch file (scripts/bench/oss-batch.ts).
  const oss = SECTIONS.has('oss') ? await benchOss({ bundle: smsBundle.file, env, provider, out: OUT }) : undefined;
  await provider.close();

  const idealBatchMs = (BATCH_JOBS / BATCH_CONCURRENCY) * PROVIDER_DELAY_MS;
  const coldOurs = median(cold.ours);
  const coldBase = median(cold.baseline);
  const coldFloor = median(cold.floor);
  const coldNoCache = median(cold.oursNoCache);
  const wOurs = { p50: medianOf(warm.ours, 'p50'), p99: medianOf(warm.ours, 'p99'), warming: medianOf(warm.ours, 'warmingP50') };
  const wBase = {
    p50: medianOf(warm.baseline, 'p50'),
    p99: medianOf(warm.baseline, 'p99'),
    warming: medianOf(warm.baseline, 'warmingP50'),
  };
  const results = {
    date: new Date().toISOString(),
    // The machine is shared: the 1-minute load average before and after the measurements.
    load: { before: loadBefore, after: loadavg().map((l) => +l.toFixed(2)) },
    machine: { cpus: cpus().length, model: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
    bundles: Object.fromEntries<{ kb: number; lazy: string[] }>([
      ...ours.bundles.map(
        (b) =>
          [b.name, { kb: +(b.bytes / 1024).toFixed(1), lazy: b.lazy.map((l) => `${l.module} ${(l.bytes / 1024).toFixed(1)} KB`) }] as const,
      ),
      ['baseline', { kb: +(baselineBytes / 1024).toFixed(1), lazy: [] }] as const,
    ]),
    cold: {
      runs: COLD_RUNS,
      oursMs: +coldOurs.toFixed(1),
      baselineMs: +coldBase.toFixed(1),
      floorMs: +coldFloor.toFixed(1),
      oursWithoutCodeCacheMs: +coldNoCache.toFixed(1),
      ratio: +(coldOurs / coldBase).toFixed(3),
      floorRatio: +(coldOurs / coldFloor).toFixed(3),
      baselineFloorRatio: +(coldBase / coldFloor).toFixed(3),
    },
    warm: {
      calls: WARM_CALLS,
      oursP50: +wOurs.p50.toFixed(3),
      baselineP50: +wBase.p50.toFixed(3),
      p50Ratio: +(wOurs.p50 / wBase.p50).toFixed(3),
      oursP99: +wOurs.p99.toFixed(3),
      baselineP99: +wBase.p99.toFixed(3),
      warmup: WARM_WARMUP,
      runs: WARM_RUNS,
      // Reported, not a goal: the first calls of a process, while V8 is still optimising.
      oursWarmingP50: +wOurs.warming.toFixed(3),
      baselineWarmingP50: +wBase.warming.toFixed(3),
      warmingP50Ratio: +(wOurs.warming / wBase.warming).toFixed(3),
      perRun: { ours: warm.ours.map((r) => +r.p50.toFixed(3)), baseline: warm.baseline.map((r) => +r.p50.toFixed(3)) },
      // Separate processes (one per side, alternated): reported, no goal.
      separateP50Ratio: +(wOurs.p50 / wBase.p50).toFixed(3),
      // Side by side in one process: the goal.
      pairedOursP50: +median(pairs.map((p) => p.a.p50)).toFixed(3),
      pairedBaselineP50: +median(pairs.map((p) => p.b.p50)).toFixed(3),
      pairedRatio: +median(pairs.map((p) => p.ratio)).toFixed(3),
      pairedPerRun: pairs.map((p) => +p.ratio.toFixed(3)),
    },
    batch: {
      jobs: BATCH_JOBS,
      concurrency: BATCH_CONCURRENCY,
      providerDelayMs: PROVIDER_DELAY_MS,
      ms: batch.ms,
      idealMs: idealBatchMs,
      ratio: +(batch.ms / idealBatchMs).toFixed(3),
      providerRequests: batch.requests,
      ...(batch.ok ? {} : { error: batch.error }),
    },
    redisBatch: {
      ms: redisBatch.ms,
      ratio: +(redisBatch.ms / idealBatchMs).toFixed(3),
      providerRequests: redisBatch.requests,
      ...(redisBatch.ok ? {} : { error: redisBatch.error }),
    },
    redisRoundTrips: redisRoundTrips.lines,
    oss: oss?.runs ?? 'not run (BENCH_ONLY)',
  };
  const checks = [
    ['cold first response ≤ 1.10× baseline', results.cold.ratio <= GOALS.coldRatio, `${results.cold.ratio}×`],
    ['cold first response ≤ 1.30× floor', results.cold.floorRatio <= GOALS.coldFloorRatio, `${results.cold.floorRatio}×`],
    [
      'warm p50 ≤ 1.05× baseline (side by side in one process)',
      results.warm.pairedRatio <= GOALS.warmP50Ratio,
      `${results.warm.pairedRatio}×`,
    ],
    [
      'warm p50 ≤ 1.10× baseline (separate processes, first-round goal)',
      results.warm.separateP50Ratio <= GOALS.warmSeparateRatio,
      `${results.warm.separateP50Ratio}×`,
    ],
    ...ours.bundles.map(
      (b) => [`bundle ${b.name} ≤ ${GOALS.bundleKb} KB`, b.bytes <= GOALS.bundleKb * 1024, `${(b.bytes / 1024).toFixed(1)} KB`] as const,
    ),
    [
      'batch ≤ 1.2× ideal',
      batch.ok && results.batch.ratio <= GOALS.batchRatio && batch.requests === BATCH_JOBS,
      batch.ok ? `${results.batch.ratio}× (${batch.requests} requests)` : 'failed',
    ],
    [
      'batch with Redis ≤ 1.10× ideal',
      redisBatch.ok && results.redisBatch.ratio <= GOALS.redisBatchRatio && redisBatch.requests === BATCH_JOBS,
      redisBatch.ok ? `${results.redisBatch.ratio}× (${redisBatch.requests} requests)` : `failed: ${redisBatch.error}`,
    ],
    ['Redis: ≤ 2 sequential round trips and ≤ 8 commands per send', redisRoundTrips.ok, 'see the table above'],
    ...(oss?.checks ?? [['OSS 100,000-line file', false, 'not run (BENCH_ONLY)'] as const]),
  ] as const;
  writeFileSync(join(OUT, 'last.json'), `${JSON.stringify({ ...results, checks }, null, 2)}\n`);

  const line = (a: string, b: string, c = '') => `${a.padEnd(26)}${b.padEnd(30)}${c}`;
  console.log(`fc-notify bench — ${results.machine.cpus} cores, ${results.machine.model}, Node ${process.version}\n`);
  console.log(
    line(
      'bundle sizes',
      Object.entries(results.bundles)
        .map(([k, v]) => `${k} ${v.kb} KB`)
        .join(', '),
    ),
  );
  for (const b of ours.bundles)
    if (b.lazy.length) console.log(line('', `${b.name} loads on demand: ${b.lazy.map((l) => l.module).join(', ')}`));
  console.log(`load average (1 min): ${results.load.before} before, ${results.load.after[0]} after\n`);
  console.log(
    line(
      'cold first response',
      `ours ${results.cold.oursMs} ms`,
      `baseline ${results.cold.baselineMs} ms  ratio ${results.cold.ratio}× (median of ${COLD_RUNS})`,
    ),
  );
  console.log(
    line(
      '',
      `floor ${results.cold.floorMs} ms`,
      `ours/floor ${results.cold.floorRatio}×  baseline/floor ${results.cold.baselineFloorRatio}× (bare Node + one HTTPS GET)`,
    ),
  );
  console.log(line('', `ours without app.cache ${results.cold.oursWithoutCodeCacheMs} ms`, `(V8 code cache off, no goal)`));
  console.log(
    line(
      'warm p50, separate',
      `ours ${results.warm.oursP50} ms`,
      `baseline ${results.warm.baselineP50} ms  ratio ${results.warm.p50Ratio}× (median of ${WARM_RUNS} processes, ${WARM_CALLS} calls after ${WARM_WARMUP})`,
    ),
  );
  console.log(
    line(
      'warm p50, side by side',
      `ours ${results.warm.pairedOursP50} ms`,
      `baseline ${results.warm.pairedBaselineP50} ms  ratio ${results.warm.pairedRatio}× (median of ${WARM_RUNS} processes; per process ${results.warm.pairedPerRun.join(' ')})`,
    ),
  );
  console.log(line('warm p99', `ours ${results.warm.oursP99} ms`, `baseline ${results.warm.baselineP99} ms`));
  console.log(
    line('  per process p50', `ours ${results.warm.perRun.ours.join(' ')}  `, `baseline ${results.warm.perRun.baseline.join(' ')}`),
  );
  console.log(
    line(
      'warming p50 (no goal)',
      `ours ${results.warm.oursWarmingP50} ms`,
      `baseline ${results.warm.baselineWarmingP50} ms  ratio ${results.warm.warmingP50Ratio}× (first ${Math.min(WARM_CALLS, WARM_WARMUP)} calls)`,
    ),
  );
  console.log(
    line(
      `batch ${BATCH_JOBS} jobs`,
      `${Number.isNaN(batch.ms) ? 'failed' : `${Math.round(batch.ms)} ms`}`,
      `ideal ${idealBatchMs} ms (${BATCH_JOBS}/${BATCH_CONCURRENCY} × ${PROVIDER_DELAY_MS} ms)  ratio ${results.batch.ratio}×`,
    ),
  );
  console.log(
    line(
      `batch ${BATCH_JOBS} jobs, Redis`,
      `${Number.isNaN(redisBatch.ms) ? 'failed' : `${Math.round(redisBatch.ms)} ms`}`,
      `ideal ${idealBatchMs} ms  ratio ${results.redisBatch.ratio}×`,
    ),
  );
  console.log(redisRoundTrips.lines.join('\n'));
  for (const l of oss?.lines ?? []) console.log(l);
  console.log('');
  for (const [name, ok, value] of checks) console.log(`${ok ? 'PASS' : 'FAIL'}  ${name}: ${value}`);
  if (PARTIAL) console.log(`partial run (BENCH_ONLY=${[...SECTIONS].join(',')}): the skipped sections fail`);
  if (!batch.ok) console.log(`batch error: ${batch.error}`);
  process.exitCode = !PARTIAL && checks.every(([, ok]) => ok) ? 0 : 1;
}

main().then(
  // The Redis section's functions keep their store connections open (as in FC): end here.
  () => process.exit(),
  (err) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exit(2);
  },
);

/**
 * `npm run bench:cluster`: is the global daily counter a hot key on a Redis Cluster?
 *
 * Starts a local three-node cluster (test/support/redis-cluster.ts), then for each variant runs
 * the limiter's real reservation (RedisLimiter.consume with the rules a send counts against:
 * phone, caller, global budget) from several simulated FC instances (one cluster client each) for
 * a fixed time, and reports reservations/s, latency, and per node: CPU seconds used and the
 * scripts it ran (INFO cpu, INFO commandstats). Variants:
 *   - no-global:  LIMIT_GLOBAL_DAILY=0 (phone and caller groups only);
 *   - global-1:   the global budget as one key (what the code does);
 *   - global-8:   the budget split into 8 sub-counters of limit/8 each, a random one per send
 *                 (what sharding would do), to see whether it buys anything.
 *
 * Options (env): BENCH_SECONDS (5), BENCH_INSTANCES (4), BENCH_CONCURRENCY (16 per instance).
 */

import { execFile } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { promisify } from 'node:util';
import { DEFAULT_RATE_LIMITS, type LimitConfig } from '../shared/config.ts';
import { limitRules } from '../shared/guards/rate-limit.ts';
import type { LimitRule } from '../shared/limiter/limiter.ts';
import { CONSUME_SCRIPT, RedisLimiter } from '../shared/limiter/redis.ts';
import { connectCluster } from '../shared/store/redis-cluster.ts';
import { REDIS_OPTIONS } from '../shared/store/redis-connection.ts';
import { startCluster } from '../test/support/redis-cluster.ts';

const SECONDS = Number(process.env.BENCH_SECONDS || 5);
const INSTANCES = Number(process.env.BENCH_INSTANCES || 4);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY || 16);
const FIELD_LIMITS: LimitConfig = {
  ...DEFAULT_RATE_LIMITS,
  phoneIntervalS: 0,
  phoneDaily: 1e9,
  callerPerMinute: 1e9,
  callerDaily: 1e9,
  globalDaily: 1e9,
};

type Variant = { name: string; rules: (phone: string, caller: string) => LimitRule[] };

const variants: Variant[] = [
  {
    name: 'no-global',
    rules: (phone, caller) =>
      limitRules({ channel: 'sms', phone, skin: '1', params: [] }, caller, undefined, { ...FIELD_LIMITS, globalDaily: 0 }),
  },
  {
    name: 'global-1',
    rules: (phone, caller) => limitRules({ channel: 'sms', phone, skin: '1', params: [] }, caller, undefined, FIELD_LIMITS),
  },
  {
    name: 'global-8',
    rules: (phone, caller) =>
      limitRules({ channel: 'sms', phone, skin: '1', params: [] }, caller, undefined, FIELD_LIMITS).map((r) =>
        r.name === 'global-daily' && r.kind === 'window'
          ? { ...r, group: `global:${randomInt(8)}`, key: `global:${randomInt(8)}:day`, limit: Math.ceil(r.limit / 8) }
          : r,
      ),
  },
];

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
}

async function nodeStats(cli: (port: number, ...a: string[]) => Promise<string>, port: number) {
  const cpu = await cli(port, 'INFO', 'cpu');
  const used = ['used_cpu_sys', 'used_cpu_user']
    .map((k) => Number(new RegExp(`${k}:([\\d.]+)`).exec(cpu)?.[1] ?? 0))
    .reduce((a, b) => a + b, 0);
  const stats = await cli(port, 'INFO', 'commandstats');
  let scripts = 0;
  let usec = 0;
  for (const m of stats.matchAll(/cmdstat_(evalsha|eval):calls=(\d+),usec=(\d+)/g)) {
    scripts += Number(m[2]);
    usec += Number(m[3]);
  }
  return { cpu: used, scripts, usec };
}

async function main(): Promise<void> {
  const cluster = await startCluster();
  const results: Array<Record<string, unknown>> = [];
  try {
    const clients = await Promise.all(Array.from({ length: INSTANCES }, () => connectCluster(cluster.url, REDIS_OPTIONS)));
    const globalPort = await cluster.portOf('{global}');
    for (const v of variants) {
      const limiters = clients.map((c, i) => new RedisLimiter(() => Promise.resolve(c), { prefix: `bench:${v.name}:${i}:` }));
      // Warm-up: scripts loaded on every node connection, JIT warm.
      await Promise.all(limiters.map((l) => l.consume(v.rules('13800000000', 'warm'), Date.now())));
      await Promise.all(cluster.ports.map((p) => cluster.cli(p, 'CONFIG', 'RESETSTAT')));
      const before = await Promise.all(cluster.ports.map((p) => nodeStats(cluster.cli, p)));
      const latencies: number[] = [];
      const end = performance.now() + SECONDS * 1000;
      const started = performance.now();
      let done = 0;
      await Promise.all(
        limiters.flatMap((limiter, i) =>
          Array.from({ length: CONCURRENCY }, async () => {
            while (performance.now() < end) {
              const phone = `139${String(randomInt(1e8)).padStart(8, '0')}`;
              const t = performance.now();
              const d = await limiter.consume(v.rules(phone, `caller${i}-${randomInt(10)}`), Date.now());
              if (!d.allowed) throw new Error(`refused by ${d.rule}`);
              latencies.push(performance.now() - t);
              done += 1;
            }
          }),
        ),
      );
      const elapsed = (performance.now() - started) / 1000;
      const after = await Promise.all(cluster.ports.map((p) => nodeStats(cluster.cli, p)));
      const nodes = cluster.ports.map((p, i) => {
        const [a, b] = [after[i], before[i]];
        if (!a || !b) throw new Error(`no stats for node ${p}`);
        return {
          port: p,
          holdsGlobal: p === globalPort,
          cpuPct: Math.round(((a.cpu - b.cpu) / elapsed) * 1000) / 10,
          scriptsPerS: Math.round(a.scripts / elapsed),
          usecPerScript: a.scripts ? Math.round((a.usec / a.scripts) * 10) / 10 : 0,
        };
      });
      const row = {
        variant: v.name,
        reservationsPerS: Math.round(done / elapsed),
        p50ms: Math.round(pct(latencies, 50) * 100) / 100,
        p99ms: Math.round(pct(latencies, 99) * 100) / 100,
        nodes,
      };
      results.push(row);
      console.log(JSON.stringify(row));
    }
    for (const c of clients) c.disconnect();
    // The node's own ceiling for the budget's script on its one key, without our client in the
    // way: redis-benchmark, 50 connections, pipelines of 16, the real script through EVALSHA.
    const sha = await cluster.cli(globalPort, 'SCRIPT', 'LOAD', CONSUME_SCRIPT);
    const key = `{global}:day:w86400000:${Math.floor(Date.now() / 86_400_000)}`;
    const before = await nodeStats(cluster.cli, globalPort);
    const t = performance.now();
    const { stdout } = await promisify(execFile)(
      'redis-benchmark',
      [
        '-p',
        String(globalPort),
        '-n',
        '300000',
        '-c',
        '50',
        '-P',
        '16',
        '-q',
        'EVALSHA',
        sha,
        '1',
        key,
        String(Date.now()),
        'tok',
        'w',
        '1000000000000',
        String(Date.now() + 86_400_000),
      ],
      { timeout: 60_000 },
    );
    const elapsed = (performance.now() - t) / 1000;
    const after = await nodeStats(cluster.cli, globalPort);
    const row = {
      variant: 'one-node-ceiling',
      redisBenchmark: stdout.trim().split('\r').pop()?.trim(),
      cpuPct: Math.round(((after.cpu - before.cpu) / elapsed) * 1000) / 10,
      usecPerScript: Math.round(((after.usec - before.usec) / (after.scripts - before.scripts)) * 10) / 10,
    };
    results.push(row);
    console.log(JSON.stringify(row));
  } finally {
    await cluster.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

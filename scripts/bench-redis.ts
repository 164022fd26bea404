/**
 * `npm run bench:redis` (also run by `npm run bench`): Redis commands and sequential round trips
 * per send through the real handlers, against a redis-server this script starts on a free port
 * (killed by pid at the end) behind a counting proxy. See BENCHMARKS.md ("Redis round trips").
 */
import { startFakeProvider } from '../test/support/fake-provider.ts';
import { startRedisChild } from '../test/support/redis-child.ts';
import { measureRedisSends } from './bench/redis-sends.ts';

export const GOAL = { roundTrips: 2, commands: 8 };

export async function benchRedis(): Promise<{ ok: boolean; lines: string[] }> {
  const redis = await startRedisChild();
  const fake = await startFakeProvider();
  fake.fallback = { kind: 'vendor', code: 'OK', message: '发送成功' };
  try {
    const rows = await measureRedisSends(redis.port, fake, { runs: 3, delayMs: 10 });
    const lines = [
      'Redis round trips per send (median of 3; round trips = client writes sent with nothing unanswered; writes = all client write bursts; delayed = extra wall time / 10 ms delay):',
    ];
    let ok = true;
    for (const r of rows) {
      const pass = r.roundTrips <= GOAL.roundTrips && r.commands <= GOAL.commands;
      ok &&= pass;
      lines.push(
        `  ${r.kind.padEnd(22)} commands ${String(r.commands).padStart(2)} (goal ≤ ${GOAL.commands})  round trips ${r.roundTrips} (goal ≤ ${GOAL.roundTrips})  writes ${r.writes}  delayed ≈ ${r.delayedRoundTrips?.toFixed(1)}  ${pass ? 'ok' : 'OVER'}`,
        `    ${r.names.join(' ')}`,
      );
    }
    return { ok, lines };
  } finally {
    await fake.close();
    await redis.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { ok, lines } = await benchRedis();
  console.log(lines.join('\n'));
  console.log(
    `load average: ${(await import('node:os'))
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  process.exit(ok ? 0 : 1);
}

/**
 * `npm run bench:verify`: can a caller tell, from how long `POST /verify/check` takes, whether a
 * phone has a code? (Issue 12: a check for an unknown phone must cost what a wrong code costs.)
 *
 * Through the real long-sms handler (HTTP event in, answer out; sandbox provider), for each store
 * (memory; Redis in a redis-server child on a free port), it starts a code for N phones, then
 * times N checks of a WRONG code for those phones interleaved, in random order, with N checks for
 * N phones that have NO code (each phone's first check, so neither side has been checked before).
 * Reports median and quartiles per group and the median difference. Bounded: N (default 2000,
 * `--n`), one pass per store.
 */

import { randomInt } from 'node:crypto';
import { Redis } from 'ioredis';
import { createFunction } from '../shared/fc/app.ts';
import { healthRoute } from '../shared/fc/routes/send.ts';
import { verifyCheckRoute, verifyStartRoute } from '../shared/fc/routes/verify.ts';
import { makeSender } from '../shared/fc/sending.ts';
import { MemoryLimiter } from '../shared/limiter/memory.ts';
import { MemoryStore } from '../shared/store/memory.ts';
import { RedisStore } from '../shared/store/redis.ts';
import type { Store } from '../shared/store/types.ts';
import { httpEvent } from '../test/support/fc.ts';
import { LIMITS_AND_QUIET_HOURS_OFF } from '../test/support/functions.ts';
import { startRedisChild } from '../test/support/redis-child.ts';

const arg = process.argv.indexOf('--n');
const N = Math.min(20_000, Math.max(100, arg > 0 ? Number(process.argv[arg + 1]) : 2000));
const KEY = 'bench-caller-key-0123456789';

const event = (path: string, body: unknown): Buffer => httpEvent({ path, body, headers: { authorization: `Bearer ${KEY}` } });

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] as number;
};

async function run(name: string, store: Store): Promise<string> {
  const fn = createFunction(
    { name: 'long-sms', channel: 'sms', makeSender, routes: [verifyStartRoute('sms'), verifyCheckRoute, healthRoute] },
    {
      env: {
        SANDBOX: '1',
        API_KEYS: `bench:${KEY}`,
        VERIFY_SECRET: 'bench-verify-secret-0123456789',
        LOG_LEVEL: 'silent',
        ...LIMITS_AND_QUIET_HOURS_OFF,
        LIMIT_CALLER_DAILY: '0',
        LIMIT_GLOBAL_DAILY: '0',
      },
      store,
      limiter: new MemoryLimiter(),
    },
  );
  const call = async (path: string, body: unknown) => {
    const res = (await fn(event(path, body), { requestId: 'bench' })) as { statusCode: number; body: string };
    if (res.statusCode !== 200) throw new Error(`${path}: ${res.statusCode} ${res.body}`);
    return JSON.parse(res.body) as Record<string, unknown>;
  };
  // Known phones 139…, unknown 137…: same length, same normalisation work.
  const known = Array.from({ length: N }, (_, i) => `139${String(i).padStart(8, '0')}`);
  const unknown = Array.from({ length: N }, (_, i) => `137${String(i).padStart(8, '0')}`);
  const wrong: string[] = [];
  for (const phone of known) {
    const a = await call('/sms/verify', { phone });
    const code = String(a.code);
    wrong.push(code.replace(/^\d/, (d) => String((Number(d) + 1) % 10)));
  }
  // Warm-up (JIT, connection): 200 checks of other phones, not timed.
  for (let i = 0; i < 200; i += 1) await call('/verify/check', { phone: `136${String(i).padStart(8, '0')}`, code: '000000' });
  const tKnown: number[] = [];
  const tUnknown: number[] = [];
  for (let i = 0; i < N; i += 1) {
    const order = randomInt(2) === 0 ? ['k', 'u'] : ['u', 'k'];
    for (const which of order) {
      const body = which === 'k' ? { phone: known[i], code: wrong[i] } : { phone: unknown[i], code: wrong[i] };
      const t0 = process.hrtime.bigint();
      const answer = await call('/verify/check', body);
      const us = Number(process.hrtime.bigint() - t0) / 1000;
      if (answer.reason !== 'mismatch' || answer.attemptsLeft !== 4) throw new Error(`unexpected answer ${JSON.stringify(answer)}`);
      (which === 'k' ? tKnown : tUnknown).push(us);
    }
  }
  await store.close();
  const m = (xs: number[]) =>
    `median ${quantile(xs, 0.5).toFixed(1)} µs (p25 ${quantile(xs, 0.25).toFixed(1)}, p75 ${quantile(xs, 0.75).toFixed(1)})`;
  const dk = quantile(tKnown, 0.5);
  const du = quantile(tUnknown, 0.5);
  const diff = du - dk;
  const iqr = quantile(tKnown, 0.75) - quantile(tKnown, 0.25);
  return [
    `${name}: ${N} checks each, interleaved in random order`,
    `  wrong code, phone with a code : ${m(tKnown)}`,
    `  any code, phone without code  : ${m(tUnknown)}`,
    `  median difference (unknown − wrong): ${diff >= 0 ? '+' : ''}${diff.toFixed(1)} µs (${((diff / dk) * 100).toFixed(1)} %), ${(Math.abs(diff) / Math.max(iqr, 1e-9)).toFixed(2)} of the wrong-code IQR`,
  ].join('\n');
}

const lines: string[] = [];
lines.push(await run('memory store', new MemoryStore()));
const child = await startRedisChild();
try {
  const conn = new Redis(child.url, { maxRetriesPerRequest: 0 });
  lines.push(
    await run(
      `Redis ${child.url.replace(/^redis:\/\//, '')} (own redis-server child)`,
      new RedisStore(() => Promise.resolve(conn), { prefix: 'bench-verify:' }),
    ),
  );
  conn.disconnect();
} finally {
  await child.close();
}
console.log(`node ${process.version}, ${new Date().toISOString()}\n${lines.join('\n')}`);

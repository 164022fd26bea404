// Warm per-call cost, side by side in one process: loads two bundles (ours and the baseline) and
// calls them in turn, call by call (A B, then B A, ...), so whatever else the machine does at a
// given moment hits both alike. `warmup` untimed calls of each, then `count` timed calls of each.
// Prints {a: {p50, p99}, b: {p50, p99}, ratio: a.p50 / b.p50} as the last line on stderr.
// argv: bundle A, bundle B, event file, count, warmup.
const { readFileSync } = require('node:fs');
const a = require(process.argv[2]).handler;
const b = require(process.argv[3]).handler;
const event = readFileSync(process.argv[4]);
const count = Number(process.argv[5] || 1000);
const warmup = Number(process.argv[6] || 2000);
const quantile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];

async function timed(handler, i) {
  const t0 = process.hrtime.bigint();
  const res = await handler(Buffer.from(event), { requestId: `bench-${i}`, function: { name: 'bench', timeout: 30 } });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (!res || res.statusCode !== 200) throw new Error(`answer ${res && res.statusCode}: ${res && res.body}`);
  return ms;
}

(async () => {
  const times = { a: [], b: [] };
  for (let i = 0; i < warmup + count; i++) {
    const order = i % 2 === 0 ? ['a', 'b'] : ['b', 'a'];
    for (const side of order) {
      const ms = await timed(side === 'a' ? a : b, i);
      if (i >= warmup) times[side].push(ms);
    }
  }
  const out = {};
  for (const side of ['a', 'b']) {
    const s = times[side].sort((x, y) => x - y);
    out[side] = { p50: quantile(s, 0.5), p99: quantile(s, 0.99) };
  }
  out.ratio = out.a.p50 / out.b.p50;
  process.stderr.write(`\n${JSON.stringify(out)}\n`);
})().catch((err) => {
  process.stderr.write(String(err && err.message));
  process.exit(1);
});

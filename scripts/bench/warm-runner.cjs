// Warm per-call cost: one process, sequential invocations of the same event; prints, as the last
// line on stderr (stdout carries the function's own log lines, as on FC):
//   {p50, p99, mean} of the `count` timed calls, made after `warmup` untimed ones, and
//   warmingP50: the p50 of the first min(warmup, count) calls of the process (V8 still optimising).
// argv: bundle path, event file, count, warmup.
const { readFileSync } = require('node:fs');
const { handler } = require(process.argv[2]);
const event = readFileSync(process.argv[3]);
const count = Number(process.argv[4] || 1000);
const warmup = Number(process.argv[5] || 50);

const quantile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];

(async () => {
  const times = [];
  const warming = [];
  for (let i = 0; i < warmup + count; i++) {
    const t0 = process.hrtime.bigint();
    const res = await handler(Buffer.from(event), { requestId: `bench-${i}`, function: { name: 'bench', timeout: 30 } });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (res?.statusCode !== 200) throw new Error(`answer ${res?.statusCode}: ${res?.body}`);
    if (i >= warmup) times.push(ms);
    else if (i < count) warming.push(ms);
  }
  times.sort((a, b) => a - b);
  warming.sort((a, b) => a - b);
  const out = { p50: quantile(times, 0.5), p99: quantile(times, 0.99), mean: times.reduce((a, b) => a + b, 0) / times.length };
  if (warming.length > 0) out.warmingP50 = quantile(warming, 0.5);
  process.stderr.write(`\n${JSON.stringify(out)}\n`);
})().catch((err) => {
  process.stderr.write(String(err?.message));
  process.exit(1);
});

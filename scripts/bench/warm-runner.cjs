// Warm per-call cost: one process, sequential invocations; prints {p50, p99, mean} in ms as the
// last line on stderr (stdout carries the function's own log lines, as on FC).
// argv: bundle path, event file, count, warmup.
const { readFileSync } = require('node:fs');
const { handler } = require(process.argv[2]);
const event = readFileSync(process.argv[3]);
const count = Number(process.argv[4] || 1000);
const warmup = Number(process.argv[5] || 50);

(async () => {
  const times = [];
  for (let i = 0; i < warmup + count; i++) {
    const t0 = process.hrtime.bigint();
    const res = await handler(Buffer.from(event), { requestId: `bench-${i}`, function: { name: 'bench', timeout: 30 } });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (!res || res.statusCode !== 200) throw new Error(`answer ${res && res.statusCode}: ${res && res.body}`);
    if (i >= warmup) times.push(ms);
  }
  times.sort((a, b) => a - b);
  const q = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))];
  process.stderr.write(`\n${JSON.stringify({ p50: q(0.5), p99: q(0.99), mean: times.reduce((a, b) => a + b, 0) / times.length })}\n`);
})().catch((err) => {
  process.stderr.write(String(err && err.message));
  process.exit(1);
});

// CPU time per warm call, both bundles in one process (scripts/bench/profile-warm.ts): 2,000
// untimed calls of each (interleaved), then `blocks` rounds of 500 calls of one side and 500 of
// the other (the order alternating), each block measured with process.cpuUsage() (user + system
// of this process; the provider stand-in runs in the parent). CPU time depends far less on what
// else the machine runs than wall time. Prints {a, b, ratio} (µs per call, medians of the
// blocks) as the last line on stderr. argv: bundle A, bundle B, event file, blocks.
const { readFileSync } = require('node:fs');
const a = require(process.argv[2]).handler;
const b = require(process.argv[3]).handler;
const event = readFileSync(process.argv[4]);
const blocks = Math.min(100, Number(process.argv[5] || 10));
const ctx = (i) => ({ requestId: `cpu-${i}`, function: { name: 'bench', timeout: 30 } });

async function call(handler, i) {
  const res = await handler(Buffer.from(event), ctx(i));
  if (!res || res.statusCode !== 200) throw new Error(`answer ${res && res.statusCode}: ${res && res.body}`);
}

async function block(handler, n) {
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) await call(handler, i);
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / n;
}

const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

(async () => {
  for (let i = 0; i < 2000; i++) {
    await call(a, i);
    await call(b, i);
  }
  const per = { a: [], b: [] };
  for (let k = 0; k < blocks; k++) {
    for (const side of k % 2 === 0 ? ['a', 'b'] : ['b', 'a']) per[side].push(await block(side === 'a' ? a : b, 500));
  }
  const out = { a: +median(per.a).toFixed(1), b: +median(per.b).toFixed(1) };
  out.ratio = +(out.a / out.b).toFixed(3);
  out.blocksA = per.a.map((x) => +x.toFixed(0));
  out.blocksB = per.b.map((x) => +x.toFixed(0));
  process.stderr.write(`\n${JSON.stringify(out)}\n`);
})().catch((err) => {
  process.stderr.write(String(err && err.message));
  process.exit(1);
});

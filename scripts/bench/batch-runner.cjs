// One MNS queue batch (EventBridge, an array of CloudEvents) through a bundle; prints the wall
// time as {"ms": n} on the last stderr line. argv: bundle path, event file.
const { readFileSync } = require('node:fs');
const { handler } = require(process.argv[2]);
const event = readFileSync(process.argv[3]);
const t0 = process.hrtime.bigint();
handler(event, { requestId: 'bench-batch', function: { name: 'bench', timeout: 300 } }).then(
  () => {
    process.stderr.write(`\n${JSON.stringify({ ms: Number(process.hrtime.bigint() - t0) / 1e6 })}\n`);
    process.exit(0);
  },
  (err) => {
    process.stderr.write(String(err?.message));
    process.exit(1);
  },
);

// One OSS ObjectCreated event (a batch file) through a bundle, in one invocation. argv: bundle
// path, event file, function timeout (s), credentials (JSON: the FC context's, made up for the
// bench). Prints on the last stderr line {"ms", "cpuMs", "hwmKb", "loadedRssKb", "heap", "answer"}:
// wall time of the handler, the CPU time it took (user + system), the process's peak RSS (VmHWM)
// read from /proc/self/status after the handler resolved, the RSS with the bundle loaded (before
// the event), and V8's heap figures at the end.
const { readFileSync } = require('node:fs');

const statusKb = (field) => {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : Number.NaN;
};
const { handler } = require(process.argv[2]);
const event = readFileSync(process.argv[3]);
const context = {
  requestId: 'bench-oss',
  region: 'cn-hangzhou',
  function: { name: 'long-sms', timeout: Number(process.argv[4]) },
  credentials: JSON.parse(process.argv[5]),
};
const loadedRssKb = statusKb('VmRSS');
const t0 = process.hrtime.bigint();
const cpu0 = process.cpuUsage();
handler(event, context).then(
  (answer) => {
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const cpu = process.cpuUsage(cpu0);
    const m = process.memoryUsage();
    const heap = {
      heapUsedKb: m.heapUsed >> 10,
      heapTotalKb: m.heapTotal >> 10,
      externalKb: m.external >> 10,
      arrayBuffersKb: m.arrayBuffers >> 10,
    };
    process.stderr.write(
      `\n${JSON.stringify({ ms, cpuMs: (cpu.user + cpu.system) / 1000, hwmKb: statusKb('VmHWM'), loadedRssKb, heap, answer })}\n`,
    );
    process.exit(0);
  },
  (err) => {
    process.stderr.write(`\n${String(err?.message).slice(0, 500)}\n`);
    process.exit(1);
  },
);

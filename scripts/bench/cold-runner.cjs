// One cold start: a fresh node process requires the bundle, handles one HTTP event, exits.
// argv: bundle path, event file. Prints the answer's status code on stderr (stdout carries the
// function's own log lines, as on FC). The line before it is `cpu <µs>`: user + system CPU of
// this process up to the answer (process.cpuUsage; far less sensitive to other load than wall time).
const { readFileSync } = require('node:fs');
const { handler } = require(process.argv[2]);
handler(readFileSync(process.argv[3]), { requestId: 'bench-cold', function: { name: 'bench', timeout: 30 } }).then(
  (res) => {
    const c = process.cpuUsage();
    process.stderr.write(`\ncpu ${c.user + c.system}\n${res?.statusCode}\n`);
    process.exit(0);
  },
  (err) => {
    process.stderr.write(String(err?.message));
    process.exit(1);
  },
);

// The reader of a measured function's stdout (its log lines), in a process of its own as on FC,
// where a separate agent process reads the function's stdout and ships it to SLS: it drains the
// pipe as it fills, counting bytes and lines, and prints {bytes, lines} on its stdout at the end
// of the pipe. It says `ready` (one line on stderr) once it reads, so its own start-up is over
// before the measured process starts (scripts/bench/common.ts `run`).
let bytes = 0;
let lines = 0;
process.stdin.on('data', (chunk) => {
  bytes += chunk.length;
  for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines += 1;
});
process.stdin.on('end', () => process.stdout.write(`${JSON.stringify({ bytes, lines })}\n`));
process.stderr.write('ready\n');

/**
 * Where a cold start's milliseconds go (`npx tsx scripts/bench/profile-cold.ts [runs]`): builds
 * long-sms unminified (esbuild's `// path` comments mark where each module starts), runs
 * cold-runner.cjs under `node --cpu-prof` against a local HTTPS stand-in, and attributes the
 * profile's self time to modules (by line), to V8 categories ((program) = compile/parse and other
 * work outside JS, (garbage collector)) and to Node's own internals. Prints the totals of `runs`
 * profiles (default 5) divided by runs. A measuring aid for BENCHMARKS.md, not a gate.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { build, ROOT } from '../build.ts';
import { makeSelfSignedCert } from '../dev-cert.ts';
import { moduleOfLine } from './common.ts';

const RUNS = Number(process.argv[2] || 5);
const OUT = join(ROOT, '.bench', 'profile');

type Node = {
  id: number;
  callFrame: { url: string; lineNumber: number; functionName: string };
  children?: number[];
  positionTicks?: Array<{ line: number; ticks: number }>;
};
type Profile = { nodes: Node[]; samples: number[]; timeDeltas: number[] };

async function main(): Promise<void> {
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  const cert = makeSelfSignedCert(join(ROOT, '.bench', 'tls'));
  const ours = await build({ outdir: join(OUT, 'dist'), minify: false, functions: ['long-sms'] });
  const { file: bundle, codeFile } = ours.bundles[0] as { file: string; codeFile: string };
  const which = moduleOfLine(readFileSync(codeFile, 'utf8'));
  const server = https.createServer({ key: cert.key, cert: cert.cert }, (req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"Message":"ok","Code":"OK"}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const eventFile = join(OUT, 'event.json');
  writeFileSync(
    eventFile,
    JSON.stringify({
      version: 'v1',
      rawPath: '/sms',
      headers: { 'Content-Type': 'application/json', Authorization: 'Bearer bench-caller-key-000000000000' },
      queryParameters: {},
      body: JSON.stringify({ phone: '13800138000', skin: '1', params: ['1234'], sign: '1' }),
      isBase64Encoded: false,
      requestContext: { http: { method: 'POST', path: '/sms', sourceIp: '127.0.0.1' }, requestId: 'p' },
    }),
  );
  const totals = new Map<string, number>();
  for (let i = 0; i < RUNS; i++) {
    const dir = join(OUT, `run-${i}`);
    // Asynchronous spawn: the stand-in server runs in this process.
    await new Promise<void>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [
          '--cpu-prof',
          '--cpu-prof-interval',
          '200',
          '--cpu-prof-dir',
          dir,
          join(ROOT, 'scripts', 'bench', 'cold-runner.cjs'),
          bundle,
          eventFile,
        ],
        {
          env: {
            PATH: process.env.PATH ?? '',
            NODE_EXTRA_CA_CERTS: cert.certPath,
            APPCODE: 'x'.repeat(30),
            API_KEYS: 'bench:bench-caller-key-000000000000',
            LONG_SMS_URL: `${url}/largesms`,
          },
          stdio: 'ignore',
        },
      );
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`profiled run exited ${code}`))));
    });
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile')) as string;
    const p = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile;
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    // The phase of a sample: under the loader's top level (index.js) = evaluation at require;
    // after the last such sample = the first call (the handler's work, TLS, the answer); before
    // the first = Node's own start. (The handler's work after an await has no runner frame on its
    // stack, so the phase is told by time, not by the stack.)
    const underLoader = (id: number): boolean => {
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
        const f = (byId.get(cur) as Node).callFrame;
        if (f.url.endsWith('/index.js') && f.url.includes('profile')) return true;
      }
      return false;
    };
    const inRequire = p.samples.map(underLoader);
    const firstReq = inRequire.indexOf(true);
    const lastReq = inRequire.lastIndexOf(true);
    const phaseOf = (k: number): string => (k < firstReq ? 'node start' : k <= lastReq ? 'require' : 'first call');
    // A bundle function's self time is spread over the lines V8 sampled in it (positionTicks), so
    // the top level of the scope-hoisted modules (one big function) is split by module too.
    const tickShares = new Map<number, Array<[string, number]>>();
    for (const n of p.nodes) {
      if (!n.positionTicks || !(n.callFrame.url.endsWith('app.js') && n.callFrame.url.includes('profile'))) continue;
      const total = n.positionTicks.reduce((a, t) => a + t.ticks, 0);
      const shares = new Map<string, number>();
      for (const t of n.positionTicks) {
        const mod = which(t.line - 1);
        shares.set(mod, (shares.get(mod) ?? 0) + t.ticks / total);
      }
      tickShares.set(n.id, [...shares.entries()]);
    }
    p.samples.forEach((id, k) => {
      const n = byId.get(id) as Node;
      const { url: u, lineNumber, functionName } = n.callFrame;
      const ms = (p.timeDeltas[k] ?? 0) / 1000;
      const add = (key: string, v: number) => {
        totals.set(key, (totals.get(key) ?? 0) + v);
        const phase = `[${phaseOf(k)}] ${key}`;
        totals.set(phase, (totals.get(phase) ?? 0) + v);
      };
      if (u === '') add(functionName || '(anonymous native)', ms);
      else if (u.startsWith('node:')) add(`node internals: ${u.replace(/^node:internal\//, '').split('/')[0]}`, ms);
      else if (u.endsWith('app.js') && u.includes('profile')) {
        const shares = tickShares.get(id);
        if (shares) for (const [mod, share] of shares) add(mod, ms * share);
        else add(which(lineNumber), ms);
      } else add(`runner/other: ${u.split('/').at(-1)}`, ms);
    });
  }
  server.close();
  const rows = [...totals.entries()].filter(([k]) => !k.startsWith('[')).sort((a, b) => b[1] - a[1]);
  const phases = [...totals.entries()]
    .filter(([k]) => k.startsWith('['))
    .sort((a, b) => (a[0].split(']')[0] === b[0].split(']')[0] ? b[1] - a[1] : a[0] < b[0] ? -1 : 1));
  const sum = rows.reduce((a, [, v]) => a + v, 0) / RUNS;
  for (const ph of ['node start', 'require', 'first call']) {
    const list = phases.filter(([k]) => k.startsWith(`[${ph}]`));
    console.log(
      `${ph}: ${(list.reduce((a, [, v]) => a + v, 0) / RUNS).toFixed(1)} ms — ${list
        .slice(0, Number(process.argv[3] || 24))
        .map(([k, v]) => `${k.slice(ph.length + 3)} ${(v / RUNS).toFixed(1)}`)
        .join(', ')}`,
    );
  }
  console.log(`profiled time per cold start: ${sum.toFixed(1)} ms (mean of ${RUNS}; profiler overhead included)`);
  for (const [k, v] of rows.slice(0, 40)) console.log(`${(v / RUNS).toFixed(2).padStart(8)} ms  ${k}`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);

/**
 * Peak RSS of one invocation with an oversized event (docs/limits.md reports the figures).
 *
 *   npx tsx scripts/event-memory.ts            # every scenario, each in a fresh process
 *   ROOT=/path/to/other/checkout npx tsx scripts/event-memory.ts   # the same against another checkout
 *
 * Each scenario runs in its own Node process (so one's garbage does not raise the next one's
 * peak) with the built-in sandbox provider, limits and quiet hours off and logs silenced, and
 * prints the process's peak RSS (`process.resourceUsage().maxRSS`) after the invocation ends —
 * or after 60 s, whichever comes first (a refused event ends at once; an accepted one would send
 * every job).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const SCENARIOS = {
  baseline: 'one CloudEvent with one job',
  'cloudevents-100k': 'an array of 100,000 MNS CloudEvents (one job each)',
  'mns-body-25mb': 'one MNS CloudEvent whose body is a 25 MB JSON array of jobs',
  'at-limit-1000-events': 'just under both limits: 1,000 CloudEvents of ~10 KB (one job each)',
  'at-limit-tiny-many': 'just under MAX_EVENT_BYTES: ~10 MB of tiny RawData objects (refused by MAX_JOBS_PER_EVENT after parsing)',
} as const;
type Scenario = keyof typeof SCENARIOS;

const cloudEvent = (i: number, body: string) => ({
  id: `ce-${i}`,
  source: 'MNS-Function-mnstrigger',
  specversion: '1.0',
  type: 'mns:Queue:SendMessage',
  datacontenttype: 'application/json; charset=utf-8',
  subject: 'acs:mns:cn-hangzhou:164901546557****:queues/notify',
  time: '2021-04-08T06:28:17.093Z',
  aliyunregionid: 'cn-hangzhou',
  data: { requestId: `req-${i}`, messageId: `msg-${i}`, messageBody: body },
});
const job = (i: number) =>
  JSON.stringify({ channel: 'sms', phone: `139${String(i % 100_000_000).padStart(8, '0')}`, skin: '1', params: ['1234'] });

function event(s: Scenario): Buffer {
  if (s === 'baseline') return Buffer.from(JSON.stringify(cloudEvent(0, job(0))));
  if (s === 'at-limit-1000-events') {
    // ~9.6 KB per message: 16 params of 200 CJK characters (3 bytes each in UTF-8).
    const params = Array.from({ length: 16 }, () => '通'.repeat(200));
    return Buffer.from(
      JSON.stringify(Array.from({ length: 1000 }, (_, i) => cloudEvent(i, JSON.stringify({ ...JSON.parse(job(i)), params })))),
    );
  }
  if (s === 'at-limit-tiny-many') {
    const one = '{"messageBody":"{}"}';
    const n = Math.floor((10 * 1024 * 1024 - 2) / (one.length + 1));
    return Buffer.from(`[${Array(n).fill(one).join(',')}]`);
  }
  if (s === 'cloudevents-100k') return Buffer.from(JSON.stringify(Array.from({ length: 100_000 }, (_, i) => cloudEvent(i, job(i)))));
  const jobs: string[] = [];
  let size = 2;
  for (let i = 0; size < 25 * 1024 * 1024; i += 1) {
    const j = job(i);
    jobs.push(j);
    size += j.length + 1;
  }
  return Buffer.from(JSON.stringify(cloudEvent(0, `[${jobs.join(',')}]`)));
}

async function child(s: Scenario, file: string): Promise<void> {
  const root = process.env.ROOT ?? process.cwd();
  const url = (p: string) => pathToFileURL(`${root}/${p}`).href;
  const { createFunction } = (await import(url('shared/fc/app.ts'))) as typeof import('../shared/fc/app.ts');
  const { makeSender } = (await import(url('shared/fc/sending.ts'))) as typeof import('../shared/fc/sending.ts');
  const { setLogDestination } = (await import(url('shared/log.ts'))) as typeof import('../shared/log.ts');
  const { Writable } = await import('node:stream');
  setLogDestination(new Writable({ write: (_c, _e, cb) => cb() }) as never);
  const fn = createFunction(
    { name: 'long-sms', channel: 'sms', makeSender, routes: [] },
    {
      env: {
        SANDBOX: '1',
        QUIET_HOURS: 'off',
        LIMIT_PHONE_INTERVAL_S: '0',
        LIMIT_PHONE_DAILY: '0',
        LIMIT_VERIFICATION_INTERVAL_S: '0',
        LIMIT_VERIFICATION_HOURLY: '0',
        LIMIT_VERIFICATION_DAILY: '0',
        LIMIT_GLOBAL_DAILY: '0',
        BATCH_CONCURRENCY: '64',
      },
      catalog: null,
    },
  );
  // Built by the parent and read here as FC hands it over: one Buffer, nothing else of it in memory.
  const ev = readFileSync(file);
  const bytes = ev.length;
  const before = process.resourceUsage().maxRSS;
  const started = performance.now();
  const report = (outcome: string) => {
    const mb = (kb: number) => Math.round(kb / 1024);
    const peak = process.resourceUsage().maxRSS;
    console.log(
      JSON.stringify({
        scenario: s,
        eventMB: Math.round(bytes / 1048576),
        rssBeforeMB: mb(before),
        peakRssMB: mb(peak),
        addedMB: mb(peak - before),
        ms: Math.round(performance.now() - started),
        outcome,
      }),
    );
    process.exit(0);
  };
  setTimeout(() => report('still running after 60 s (stopped)'), 60_000).unref();
  const out = await fn(ev, { requestId: 'mem', function: { timeout: 300 } }).catch((e: unknown) => ({ thrown: (e as Error).name }));
  report(JSON.stringify(out).slice(0, 160));
}

if (process.argv[2]) {
  await child(process.argv[2] as Scenario, process.argv[3] as string);
} else {
  const dir = mkdtempSync(join(tmpdir(), 'fcn-mem-'));
  try {
    for (const s of Object.keys(SCENARIOS) as Scenario[]) {
      const file = join(dir, `${s}.json`);
      writeFileSync(file, event(s));
      const r = spawnSync(process.execPath, ['--import', 'tsx', import.meta.filename, s, file], {
        encoding: 'utf8',
        env: process.env,
        timeout: 120_000,
      });
      process.stdout.write(r.stdout || `${s}: failed ${r.stderr.slice(0, 400)}\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

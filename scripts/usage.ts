import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import Table from 'cli-table3';
import { CHANNEL_NAMES, type Channel } from '../shared/channels/index.ts';
import { RedisStore } from '../shared/store/redis.ts';
import { closeRedisConnection, redisConnection } from '../shared/store/redis-connection.ts';
import { loadCatalogFile } from '../shared/templates/catalog.ts';
import { USAGE_OUTCOMES } from '../shared/usage/counters.ts';
import { parseQuota, QUOTA_VARIABLES, type QuotaSpec } from '../shared/usage/quota.ts';
import { buildReport, channelPrices, reportCsv, type UsageReport } from '../shared/usage/report.ts';

/**
 * `npm run usage -- [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--csv | --json] [--prefix fcn:]`:
 * the GET /usage report in a terminal, read straight from REDIS_URL (REDIS_CLUSTER=1 for a
 * cluster). Pricing from TEMPLATES_FILE or ./templates.json; quota from QUOTA_LONG_SMS /
 * QUOTA_VOICE, as the functions read them. Exit 2 on unusable arguments or environment.
 * docs/usage.md.
 */

function fail(message: string): never {
  process.stderr.write(`usage: ${message}\n`);
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    from: { type: 'string' },
    to: { type: 'string' },
    csv: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    prefix: { type: 'string', default: 'fcn:' },
  },
  strict: true,
});

const url = process.env.REDIS_URL?.trim();
if (!url) fail('REDIS_URL is required (the Redis the functions use)');
const problems: string[] = [];
const quotas: Partial<Record<Channel, QuotaSpec>> = {};
for (const [channel, name] of Object.entries(QUOTA_VARIABLES) as Array<[Channel, string]>) {
  const q = parseQuota(name, process.env[name], problems);
  if (q) quotas[channel] = q;
}
if (problems.length > 0) fail(problems.join('; '));
const catalogPath = process.env.TEMPLATES_FILE?.trim() || resolve('templates.json');
const catalog = existsSync(catalogPath) ? loadCatalogFile(catalogPath) : undefined;

const store = new RedisStore(() => redisConnection(url, process.env.REDIS_CLUSTER === '1' || process.env.REDIS_CLUSTER === 'true'), {
  prefix: values.prefix,
});

function table(r: UsageReport): string {
  const head = ['date', 'channel', 'caller', 'template', ...USAGE_OUTCOMES, 'billable', 'cost ¥'];
  const t = new Table({ head, style: { head: [], border: [] } });
  for (const row of r.breakdown)
    t.push([row.date, row.channel, row.caller, row.template, ...USAGE_OUTCOMES.map((o) => row[o]), row.billable, row.cost.toFixed(4)]);
  for (const channel of CHANNEL_NAMES) {
    const c = r.totals[channel];
    t.push([`total ${r.from}..${r.to}`, channel, '', '', ...USAGE_OUTCOMES.map((o) => c[o]), c.billable, c.cost.toFixed(4)]);
  }
  const lines = [`Usage ${r.from} to ${r.to} (Beijing days), cost in CNY`, t.toString()];
  for (const channel of CHANNEL_NAMES) {
    const q = r.quota[channel];
    lines.push(
      q
        ? `quota ${channel}: used ${q.used} of ${q.purchased}, ${q.remaining} left (${(q.remainingRatio * 100).toFixed(1)}%)`
        : `quota ${channel}: not set${QUOTA_VARIABLES[channel] ? ` (${QUOTA_VARIABLES[channel]})` : ''}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

try {
  const report = await buildReport(store, {
    from: values.from,
    to: values.to,
    now: Date.now(),
    pricing: channelPrices(catalog),
    quotas,
  });
  process.stdout.write(values.csv ? reportCsv(report) : values.json ? `${JSON.stringify(report, null, 2)}\n` : table(report));
} catch (err) {
  fail((err as Error).message);
} finally {
  await closeRedisConnection();
}

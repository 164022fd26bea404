import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHANNEL_NAMES, defaultUrls } from '../shared/channels/index.ts';
import { defaultNotifyPrefix } from '../shared/config.ts';
import { buildJob, decodeMetaValue, keyProblem, matchRule, metaNames, type NotifyChannel, sourceKind } from '../shared/notify/rules.ts';
import { type CatalogFile, checkCatalogData, createCatalog } from '../shared/templates/catalog.ts';
import { checkTemplate, type Finding } from '../shared/templates/rules.ts';
import { dryRunJob } from '../shared/templates/validate.ts';

/**
 * `npm run templates:check [file] [--key <object key> [--meta name=value]…]`: a readable report of
 * the template catalog and its notification rules for users' CI. With `--key`, also which rule an
 * upload with that key (and that user metadata) matches and the job it would make.
 * Exit 0 when there are no errors (warnings allowed) and a given key makes a valid job; 1 on
 * errors, or when the key matches no rule or its job would be refused; 2 on unusable arguments
 * or a file that cannot be read.
 */

interface Args {
  file: string | undefined;
  key: string | undefined;
  meta: Record<string, string>;
  problem?: string;
}

function parseArgs(args: readonly string[]): Args {
  const out: Args = { file: undefined, key: undefined, meta: {} };
  for (let i = 0; i < args.length; i += 1) {
    const a = args[i] as string;
    if (a === '--key' || a === '--meta') {
      const v = args[i + 1];
      i += 1;
      if (v === undefined) return { ...out, problem: `${a} needs a value` };
      if (a === '--key') out.key = v;
      else {
        const at = v.indexOf('=');
        if (at <= 0) return { ...out, problem: `--meta takes name=value, got ${JSON.stringify(v)}` };
        // As OSS stores it: lowercase name, without the x-oss-meta- prefix if given.
        out.meta[
          v
            .slice(0, at)
            .toLowerCase()
            .replace(/^x-oss-meta-/, '')
        ] = v.slice(at + 1);
      }
    } else if (a.startsWith('--')) return { ...out, problem: `unknown option ${a}` };
    else out.file = a;
  }
  return out;
}

/** What an upload with `key` would do; returns whether it makes a valid job. */
function explainKey(catalog: CatalogFile, key: string, rawMeta: Record<string, string>, print: (line: string) => void): boolean {
  const known = CHANNEL_NAMES.map((c): [NotifyChannel, string] => [c, defaultNotifyPrefix(c)]).find(([, p]) => key.startsWith(p));
  const channel = known?.[0];
  const relative = known ? key.slice(known[1].length) : key;
  print(
    `key ${key}: ${known ? `${channel} function (prefix ${known[1]}), pattern key ${relative}` : 'no notify prefix, so rules of every channel are tried on the whole key'}`,
  );
  const bad = keyProblem(key, relative);
  if (bad) {
    print(`  refused: the object key ${bad}; nothing would be sent`);
    return false;
  }
  const match = matchRule(catalog.notifications ?? [], relative, channel);
  if (!match) {
    print('  matches no rule: the upload would be logged (notify-unmatched) and ignored');
    return false;
  }
  print(`  matches rule "${match.rule.name}" (notifications[${match.index}]), parts ${JSON.stringify(match.parts)}`);
  const needed = metaNames(match.rule);
  const meta: Record<string, string> = {};
  for (const [k, v] of Object.entries(rawMeta)) {
    const d = decodeMetaValue(v);
    if (d !== undefined) meta[k] = d;
  }
  if (needed.length > 0)
    print(
      `  reads metadata (one HEAD): ${needed.map((n) => `x-oss-meta-${n}${n in meta ? `=${JSON.stringify(meta[n])}` : ' (not given)'}`).join(', ')}`,
    );
  const built = buildJob(match, needed.length > 0 ? meta : undefined);
  if (built.problem !== undefined) {
    print(`  refused: ${built.problem}; nothing would be sent`);
    return false;
  }
  print(`  job: ${JSON.stringify(built.job)}`);
  const dry = dryRunJob(built.job, {
    catalog: createCatalog(catalog, 'check'),
    urls: defaultUrls(),
    now: new Date(),
  });
  for (const e of dry.errors) print(`      error    ${e.path}  [${e.rule}] ${e.message}`);
  for (const w of dry.warnings) print(`      warning  ${w.path}  [${w.rule}] ${w.message}`);
  print(
    `  ${dry.valid ? 'valid' : 'INVALID'}: ${dry.length ?? '?'} chars${dry.segments ? `, ${dry.segments} segment(s)` : ''}${dry.preview ? `: ${dry.preview}` : ''}`,
  );
  return dry.valid;
}

export function runTemplatesCheck(
  argv: readonly string[],
  print: (line: string) => void,
  env: Record<string, string | undefined> = process.env,
): number {
  const args = parseArgs(argv);
  if (args.problem) {
    print(`templates:check: ${args.problem} (usage: templates:check [file] [--key <object key> [--meta name=value]…])`);
    return 2;
  }
  const file = args.file ?? env.TEMPLATES_FILE ?? 'templates.json';
  if (!existsSync(file)) {
    print(`templates:check: ${file} does not exist (pass a path, set TEMPLATES_FILE, or create templates.json)`);
    return 2;
  }
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    print(`templates:check: ${file} is not valid JSON: ${(e as Error).message}`);
    return 2;
  }
  const { findings, catalog } = checkCatalogData(data);
  const line = (f: Finding) => `      ${f.severity === 'error' ? 'error  ' : 'warning'}  ${f.path}  [${f.rule}] ${f.message}`;
  if (!catalog) {
    print(`${file}: the catalog does not match schemas/templates.schema.json`);
    for (const f of findings) print(line(f));
  } else {
    print(`${file}: ${catalog.templates.length} template(s)`);
    catalog.templates.forEach((t, i) => {
      const own = findings.filter((f) => f.path === `templates[${i}]` || f.path.startsWith(`templates[${i}].`));
      const r = checkTemplate(t, `templates[${i}]`);
      const ok = !own.some((f) => f.severity === 'error');
      const size = (t.provider ?? 'long-sms') === 'voice' ? `${r.length} chars` : `${r.length} chars, ${r.segments} segment(s)`;
      const measured = t.example ? '' : ' (fixed text; add "example" to measure values)';
      print(`  ${ok ? 'OK  ' : 'FAIL'}  skin ${t.skin}  ${t.kind}  ${t.provider ?? 'long-sms'}  ${size}${measured}`);
      print(`        ${r.preview}`);
      for (const f of own) print(line(f));
    });
    const rules = catalog.notifications ?? [];
    if (rules.length > 0) print(`notifications: ${rules.length} rule(s) (notify on upload; first match wins)`);
    rules.forEach((r, i) => {
      const own = findings.filter((f) => f.path === `notifications[${i}]` || f.path.startsWith(`notifications[${i}].`));
      const ok = !own.some((f) => f.severity === 'error');
      const what = r.channel === 'sms' ? `skin ${r.skin ?? '?'}` : 'voice content';
      const meta = metaNames(r);
      const from = Object.entries(r.params ?? {})
        .map(([k, v]) => `${k}←${sourceKind(v)}`)
        .join(', ');
      print(
        `  ${ok ? 'OK  ' : 'FAIL'}  ${r.name}  ${r.channel}  ${r.key} → ${what}${from ? ` (${from})` : ''}${meta.length > 0 ? `; HEAD for ${meta.join(', ')}` : ''}`,
      );
      for (const f of own) print(line(f));
    });
  }
  const errors = findings.filter((f) => f.severity === 'error').length;
  const warnings = findings.length - errors;
  let keyOk = true;
  if (args.key !== undefined) {
    if (catalog && errors === 0) keyOk = explainKey(catalog, args.key, args.meta, print);
    else print(`key ${args.key}: not tried, the catalog has errors`);
  }
  print(`${errors} error(s), ${warnings} warning(s): ${errors > 0 || !keyOk ? 'FAILED' : 'passed'}`);
  return errors > 0 || !keyOk ? 1 : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = runTemplatesCheck(process.argv.slice(2), (l) => console.log(l));
}

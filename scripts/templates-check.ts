import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkCatalogData } from '../shared/templates/catalog.ts';
import { checkTemplate, type Finding } from '../shared/templates/rules.ts';

/**
 * `npm run templates:check [file]`: a readable report of the template catalog for users' CI.
 * Exit 0 when there are no errors (warnings allowed), 1 on errors, 2 when the file cannot be read.
 */

export function runTemplatesCheck(args: readonly string[], print: (line: string) => void, env: Record<string, string | undefined> = process.env): number {
  const file = args[0] ?? env.TEMPLATES_FILE ?? 'templates.json';
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
  }
  const errors = findings.filter((f) => f.severity === 'error').length;
  const warnings = findings.length - errors;
  print(`${errors} error(s), ${warnings} warning(s): ${errors > 0 ? 'FAILED' : 'passed'}`);
  return errors > 0 ? 1 : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = runTemplatesCheck(process.argv.slice(2), (l) => console.log(l));
}

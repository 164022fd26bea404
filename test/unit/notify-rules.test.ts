import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '#shared/config';
import {
  buildJob,
  compilePattern,
  decodeMetaValue,
  keyProblem,
  matchRule,
  metaNames,
  type NotifyRule,
  notifyFindings,
} from '#shared/notify/rules';
import { checkCatalogData, parseCatalog } from '#shared/templates/catalog';
import { RULE_IDS, type TemplateEntry } from '#shared/templates/rules';
import { CatalogBuildError, prepareCatalog, ROOT } from '../../scripts/build-catalog.ts';
import { runTemplatesCheck } from '../../scripts/templates-check.ts';

const dir = mkdtempSync(join(tmpdir(), 'fcn-notify-rules-'));
const write = (name: string, content: unknown) => {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(content));
  return path;
};
const EXAMPLE = join(ROOT, 'docs', 'examples', 'notify-on-upload.templates.json');
const example = () => JSON.parse(readFileSync(EXAMPLE, 'utf8'));
const TEMPLATES: TemplateEntry[] = [
  { skin: '31', kind: 'notification', text: '【测试】#name#您好，您的电子发票#order#已开具。', sign: '1' },
];
const invoice: NotifyRule = {
  name: 'invoice-sms',
  channel: 'sms',
  key: 'invoices/{phone}/{order}.pdf',
  phone: { part: 'phone' },
  skin: '31',
  params: { name: { meta: 'Customer' }, order: { part: 'order' } },
};

describe('NOTIFY_PREFIX', () => {
  const config = (NOTIFY_PREFIX: string, RESULT_PREFIX = '') => loadConfig({ NOTIFY_PREFIX, RESULT_PREFIX }, { requireCredentials: false });
  it('is a folder apart from RESULT_PREFIX; unset means the channel default', () => {
    expect(config('').notifyPrefix).toBeUndefined();
    expect(config(' uploads/notify/ ').notifyPrefix).toBe('uploads/notify/');
    for (const bad of ['notify', '/notify/', 'a//b/', 'a\u0000/']) expect(() => config(bad), bad).toThrow(/NOTIFY_PREFIX must be a folder/);
    expect(() => config('results/notify/')).toThrow('NOTIFY_PREFIX must not overlap RESULT_PREFIX (results/)');
    expect(() => config('out/', 'out/results/')).toThrow('must not overlap RESULT_PREFIX');
  });
});

describe('key pattern grammar', () => {
  it('compiles named parts to single-segment captures and everything else to literals', () => {
    const { compiled } = compilePattern('a.b/{x}-{y}(*)?.pdf');
    expect(compiled?.parts).toEqual(['x', 'y']);
    expect(compiled?.regex.exec('a.b/1-2-3(*)?.pdf')?.slice(1)).toEqual(['1', '2-3']);
    // Literal dots, stars and question marks are literal; a part never crosses "/".
    expect(compiled?.regex.test('aXb/1-2(*)?.pdf')).toBe(false);
    expect(compiled?.regex.test('a.b/1/2-3(*)?.pdf')).toBe(false);
    expect(compiled?.regex.test('a.b/-3(*)?.pdf')).toBe(false);
  });

  it.each([
    ['/invoices/{phone}', 'must not start with "/"'],
    ['invoices//{phone}', 'empty, "." or ".." segment'],
    ['invoices/../{phone}', 'empty, "." or ".." segment'],
    ['invoices/{phone', 'has a "{" without its "}"'],
    ['invoices/phone}', 'has a "}" without its "{"'],
    ['invoices/{1phone}', 'invalid part name "{1phone}"'],
    ['invoices/{phone}/{phone}', 'names the part {phone} twice'],
    ['invoices/{phone}{order}', 'two parts with nothing between them'],
    [`${Array.from({ length: 11 }, (_, i) => `{p${i}}`).join('/')}`, 'has 11 parts; at most 10'],
    ['invoices/\u0000{phone}', 'control characters'],
  ])('refuses %j', (pattern, problem) => {
    expect(compilePattern(pattern).problem).toContain(problem);
  });

  it('first matching rule of the channel wins; other channels are skipped', () => {
    const rules: NotifyRule[] = [
      { ...invoice, name: 'voice-first', channel: 'voice', content: '{order}', skin: undefined, params: { order: { part: 'order' } } },
      invoice,
      { ...invoice, name: 'later' },
    ];
    expect(matchRule(rules, 'invoices/13800138000/A1.pdf', 'sms')).toMatchObject({
      index: 1,
      parts: { phone: '13800138000', order: 'A1' },
    });
    expect(matchRule(rules, 'invoices/13800138000/A1.pdf', 'voice')?.rule.name).toBe('voice-first');
    expect(matchRule(rules, 'invoices/13800138000/A1.pdf.bak', 'sms')).toBeUndefined();
    expect(matchRule(rules, 'other/13800138000/A1.pdf')).toBeUndefined();
  });

  it('refuses hostile keys before any rule is tried', () => {
    expect(keyProblem('notify/sms/a/../b', 'a/../b')).toContain('".."');
    expect(keyProblem('notify/sms/a/./b', 'a/./b')).toContain('"."');
    expect(keyProblem('notify/sms/a\u0000b', 'a\u0000b')).toContain('control characters');
    expect(keyProblem(`notify/sms/${'|'.repeat(1024)}`, '|'.repeat(1024))).toContain('1023 bytes');
    expect(keyProblem('notify/sms/\ud800', '\ud800')).toContain('Unicode');
    expect(keyProblem('notify/sms/invoices/13800138000/A1.pdf', 'invoices/13800138000/A1.pdf')).toBeUndefined();
  });
});

describe('the job a match makes', () => {
  const match = (key: string) => matchRule([invoice], key, 'sms')!;
  it('takes values from parts, metadata (lowercase names) and constants', () => {
    expect(metaNames(invoice)).toEqual(['customer']);
    expect(buildJob(match('invoices/13800138000/A1.pdf'), { customer: '张三' })).toEqual({
      job: { channel: 'sms', phone: '13800138000', skin: '31', params: { name: '张三', order: 'A1' } },
    });
    const voice: NotifyRule = {
      name: 'v',
      channel: 'voice',
      key: '{phone}/{w}.jpg',
      phone: { part: 'phone' },
      content: '包裹{w}已到{s}，{w}。',
      params: { w: { part: 'w' }, s: { value: '驿站' } },
    };
    expect(buildJob(matchRule([voice], '13900139000/SF1.jpg')!, undefined)).toEqual({
      job: { channel: 'voice', phone: '13900139000', content: '包裹SF1已到驿站，SF1。' },
    });
  });

  it('refuses, naming the value, when metadata is missing or a value is unusable', () => {
    expect(buildJob(match('invoices/13800138000/A1.pdf'), {})).toEqual({
      problem: 'params.name: metadata x-oss-meta-customer is missing on the object',
    });
    expect(buildJob(match('invoices/13800138000/A1.pdf'), { customer: '' }).problem).toBe(
      'params.name: metadata x-oss-meta-customer is empty',
    );
    expect(buildJob(match('invoices/13800138000/A|1.pdf'), { customer: 'x' }).problem).toContain(
      'params.order: key part {order} contains "|"',
    );
    expect(buildJob(match('invoices/13800138000/A1.pdf'), { customer: 'x'.repeat(201) }).problem).toContain('longer than 200');
  });

  it('decodes metadata values: percent-encoded UTF-8, raw UTF-8 bytes, plain ASCII; a stray % stays', () => {
    expect(decodeMetaValue('%E5%BC%A0%E4%B8%89')).toBe('张三');
    expect(decodeMetaValue(Buffer.from('李四', 'utf8').toString('latin1'))).toBe('李四');
    expect(decodeMetaValue('Zhang San')).toBe('Zhang San');
    expect(decodeMetaValue('50% off')).toBe('50% off');
    expect(decodeMetaValue('100%25')).toBe('100%');
    expect(decodeMetaValue('a+b')).toBe('a+b');
    expect(decodeMetaValue(Buffer.from([0xd5, 0xc5]).toString('latin1'))).toBeUndefined();
  });
});

describe('catalog checks of the rules (each names the rule)', () => {
  const rules = (extra: Partial<NotifyRule>, base: NotifyRule = invoice) =>
    notifyFindings([{ ...base, ...extra } as NotifyRule], TEMPLATES);
  const ids = new Set<string>();
  const seen = (fs: ReturnType<typeof notifyFindings>) => {
    for (const f of fs) ids.add(f.rule);
    return fs.map((f) => `${f.path}: [${f.rule}] ${f.message}`);
  };

  it('accept a good rule and the docs example', () => {
    expect(rules({})).toEqual([]);
    expect(checkCatalogData(example()).findings).toEqual([]);
    expect(parseCatalog(example(), 'example').notifications.map((r) => r.name)).toEqual(['invoice-sms', 'parcel-photo-voice']);
  });

  it('report every problem with its rule id and the rule name', () => {
    expect(seen(rules({ key: 'invoices/{phone}{order}.pdf' }))).toEqual([
      expect.stringMatching(/^notifications\[0\]\.key: \[notify\.pattern\] rule "invoice-sms": key pattern has two parts/),
    ]);
    expect(seen(rules({ params: { name: { part: 'customer' }, order: { part: 'order' } } }))).toEqual([
      expect.stringContaining(
        'notifications[0].params.name.part: [notify.unknown-part] rule "invoice-sms": params.name comes from part {customer}',
      ),
    ]);
    expect(seen(rules({ skin: '99' }))).toEqual([
      expect.stringContaining('[notify.unknown-skin] rule "invoice-sms": skin "99" is not a long-sms template'),
    ]);
    expect(seen(rules({ params: { order: { part: 'order' }, extra: { value: 'x' } } }))).toEqual([
      expect.stringContaining('[notify.params] rule "invoice-sms": template 31 needs #name#'),
      expect.stringContaining('[notify.params] rule "invoice-sms": template 31 has no variable #extra#'),
    ]);
    expect(seen(rules({ params: { name: { value: 'a|b' }, order: { part: 'order' } } }))).toEqual([
      expect.stringContaining('[notify.constant] rule "invoice-sms": the constant for params.name contains "|"'),
    ]);
    expect(seen(rules({ content: 'x' }))).toEqual([expect.stringContaining('[notify.channel]')]);
    expect(seen(rules({ channel: 'voice', skin: undefined, params: { w: { part: 'order' } }, content: '{w}{v}' }))).toEqual([
      expect.stringContaining('[notify.params] rule "invoice-sms": content uses {v}'),
    ]);
    expect(seen(rules({ channel: 'voice', skin: undefined, params: {}, content: '长'.repeat(501) }))).toEqual([
      expect.stringContaining('[length.max]'),
    ]);
    const twice = notifyFindings([invoice, invoice], TEMPLATES);
    expect(seen(twice)).toEqual([
      expect.stringContaining(
        'notifications[1].name: [notify.duplicate-name] rule "invoice-sms": the name is already used by notifications[0]',
      ),
      expect.stringContaining('notifications[1].key: [notify.shadowed]'),
    ]);
    expect(twice.find((f) => f.rule === 'notify.shadowed')?.severity).toBe('warning');
  });

  it('every notify.* rule id is produced here', () => {
    expect(RULE_IDS.filter((id) => id.startsWith('notify.') && !ids.has(id))).toEqual([]);
  });
});

describe('docs/notify-on-upload.md', () => {
  it('its worked examples are the example catalog: every JSON rule and template block is in it', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'notify-on-upload.md'), 'utf8');
    const blocks = [...doc.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]!.trim()).filter((b) => b.startsWith('{'));
    expect(blocks.length).toBe(3);
    const ex = example();
    for (const b of blocks) {
      const v = JSON.parse(b);
      const inExample = v.channel
        ? ex.notifications.find((r: NotifyRule) => r.name === v.name)
        : ex.templates.find((t: TemplateEntry) => t.skin === v.skin);
      expect(inExample, b.slice(0, 60)).toEqual(
        v.channel
          ? { ...v, description: inExample?.description }
          : { ...v, ...(inExample?.description ? { description: inExample.description } : {}) },
      );
    }
  });
});

describe('an invalid rule fails the build, naming the rule', () => {
  it('a rule problem (unknown part) and a schema problem (unknown field, bad source) both name the rule', () => {
    const bad = example();
    bad.notifications[0].params.order = { part: 'orderr' };
    bad.notifications[1].speak = true;
    bad.notifications[1].params.station = { meta: 'station', value: 'x' };
    const schemaError = (() => {
      try {
        prepareCatalog({ file: write('bad-schema.json', bad), generate: false });
      } catch (e) {
        return e as CatalogBuildError;
      }
    })();
    expect(schemaError).toBeInstanceOf(CatalogBuildError);
    expect(schemaError!.problems).toEqual(
      expect.arrayContaining([
        'notifications[1] rule "parcel-photo-voice": has an unknown field "speak"',
        'notifications[1].params.station rule "parcel-photo-voice": must have exactly one of part, meta or value',
      ]),
    );
    // The bundled (standalone) validator, as TEMPLATES_FILE is read at runtime: the same words.
    expect(checkCatalogData(bad).findings.map((f) => `${f.path} ${f.message}`)).toEqual(
      expect.arrayContaining([
        'notifications[1] rule "parcel-photo-voice": has an unknown field "speak"',
        'notifications[1].params.station rule "parcel-photo-voice": must have exactly one of part, meta or value',
      ]),
    );
    delete bad.notifications[1].speak;
    bad.notifications[1].params.station = { meta: 'station' };
    expect(() => prepareCatalog({ file: write('bad-rule.json', bad), generate: false })).toThrow(
      /notifications\[0\]\.params\.order\.part: \[notify\.unknown-part\] rule "invoice-sms": params\.order comes from part \{orderr\}/,
    );
  });

  it('as the real `npm run build` (scripts/build.ts): exits 1 with the rule named, before bundling anything', async () => {
    const bad = example();
    bad.notifications[1].key = 'parcels/{phone}{waybill}.jpg';
    const file = write('bad-build.json', bad);
    const err = await promisify(execFile)(join(ROOT, 'node_modules', '.bin', 'tsx'), [join(ROOT, 'scripts', 'build.ts')], {
      cwd: ROOT,
      env: { ...process.env, TEMPLATES_FILE: file },
      timeout: 60_000,
    }).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).toBe(1);
    expect(err?.stderr).toContain('build failed: template catalog');
    expect(err?.stderr).toContain('[notify.pattern] rule "parcel-photo-voice": key pattern has two parts with nothing between them');
  });
});

describe('npm run templates:check with --key', () => {
  const run = (args: string[]) => {
    const lines: string[] = [];
    const code = runTemplatesCheck(args, (l) => lines.push(l), {});
    return { code, out: lines.join('\n') };
  };

  it('lists the rules, and for a sample key shows the rule and the job it would make', () => {
    const r = run([EXAMPLE, '--key', 'notify/sms/invoices/13800138000/FP1.pdf', '--meta', 'customer=%E5%BC%A0%E4%B8%89']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('OK    invoice-sms  sms  invoices/{phone}/{order}.pdf → skin 31');
    expect(r.out).toContain('matches rule "invoice-sms" (notifications[0]), parts {"phone":"13800138000","order":"FP1"}');
    expect(r.out).toContain('job: {"channel":"sms","phone":"13800138000","skin":"31","params":{"name":"张三","order":"FP1"}}');
    expect(r.out).toContain('valid: ');
    expect(r.out).toContain('【测试】张三您好，您的电子发票FP1已开具');
  });

  it('a key relative to the prefix tries every channel; no match, missing metadata and bad arguments fail', () => {
    expect(run([EXAMPLE, '--key', 'parcels/13900139000/SF1.jpg', '--meta', 'x-oss-meta-station=驿站'])).toMatchObject({
      code: 0,
      out: expect.stringContaining('"content":"您好，您的大件快递SF1已送达驿站并签收'),
    });
    expect(run([EXAMPLE, '--key', 'notify/sms/contracts/1.pdf'])).toMatchObject({
      code: 1,
      out: expect.stringContaining('matches no rule'),
    });
    expect(run([EXAMPLE, '--key', 'notify/sms/invoices/13800138000/FP1.pdf'])).toMatchObject({
      code: 1,
      out: expect.stringContaining('refused: params.name: metadata x-oss-meta-customer is missing on the object'),
    });
    expect(run([EXAMPLE, '--key', 'notify/sms/invoices/12/FP1.pdf', '--meta', 'customer=x'])).toMatchObject({
      code: 1,
      out: expect.stringContaining('INVALID'),
    });
    expect(run([EXAMPLE, '--meta', 'novalue'])).toMatchObject({ code: 2 });
    expect(run([EXAMPLE, '--bogus'])).toMatchObject({ code: 2 });
  });
});

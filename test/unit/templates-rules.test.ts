import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createCatalog } from '#shared/templates/catalog';
import { ruleFindings } from '#shared/templates/catalog-check';
import { resolveSms } from '#shared/templates/resolve';
import {
  checkParams,
  checkTemplate,
  checkVoiceContent,
  type Finding,
  RULE_IDS,
  type RuleId,
  type TemplateEntry,
  withinMarketingHours,
} from '#shared/templates/rules';

/** Every rule id a test below produced; the last test checks none was left untested. */
const seen = new Set<RuleId>();
const rules = (findings: Finding[], severity: Finding['severity'] = 'error') => {
  for (const f of findings) seen.add(f.rule);
  return findings.filter((f) => f.severity === severity).map((f) => f.rule);
};

const verification = (text: string, extra: Partial<TemplateEntry> = {}): TemplateEntry => ({
  skin: 'v',
  kind: 'verification',
  text,
  ...extra,
});
const notification = (text: string, extra: Partial<TemplateEntry> = {}): TemplateEntry => ({
  skin: 'n',
  kind: 'notification',
  text,
  ...extra,
});
const marketing = (text: string, extra: Partial<TemplateEntry> = {}): TemplateEntry => ({ skin: 'm', kind: 'marketing', text, ...extra });

describe('template rules', () => {
  it.each<[string, TemplateEntry, RuleId[]]>([
    ['a good verification template', verification('【测试】您的验证码是#code#，5分钟内有效。'), []],
    ['a good notification template', notification('【测试】尊敬的#name#，您的订单#order#已发货。'), []],
    ['a good marketing template', marketing('【小店】新品上架，全场8折。拒收请回复R'), []],
    ['no signature', notification('尊敬的#name#，订单已发货。'), ['signature.missing']],
    ['signature at the end only', notification('订单已发货。【测试】'), ['signature.missing']],
    ['empty signature', notification('【 】订单已发货。'), ['signature.malformed']],
    ['voice texts need no signature', notification('您好，您的快递已送达。', { provider: 'voice' }), []],
    ['stray #', notification('【测试】订单#已发货'), ['variable.malformed']],
    ['variable with a space', notification('【测试】您好#user name#'), ['variable.malformed']],
    ['empty variable ##', notification('【测试】您好##'), ['variable.malformed']],
    ['Chinese variable name is fine', notification('【测试】您好#姓名#'), []],
    ['21 variables', notification(`【测试】${Array.from({ length: 21 }, (_, i) => `#v${i}#`).join(',')}`), ['variable.count']],
    ['verification without a keyword', verification('【测试】您的密码是#code#'), ['verification.keyword']],
    ['verification with 注册码', verification('【测试】您的注册码是#code#'), []],
    ['verification with 校验码', verification('【测试】校验码#code#'), []],
    ['verification with 动态码', verification('【测试】动态码#code#'), []],
    ['verification with an http link', verification('【测试】验证码#code#，详见http://a.example'), ['verification.link']],
    ['verification with a bare domain', verification('【测试】验证码#code#，登录shop.cn'), ['verification.link']],
    ['verification with www.', verification('【测试】验证码#code#，www.example'), ['verification.link']],
    ['verification with an opt-out', verification('【测试】验证码#code#，回T退订'), ['verification.opt-out']],
    ['verification with no code variable', verification('【测试】验证码#a#和#b#'), ['verification.code-variable']],
    ['verification with one variable of any name', verification('【测试】验证码#x#'), []],
    ['verification with a …Code variable', verification('【测试】#name#，验证码#smsCode#'), []],
    ['marketing without an opt-out', marketing('【小店】新品上架，全场8折。'), ['marketing.opt-out']],
  ])('%s', (_name, t, expected) => {
    expect(rules(checkTemplate(t).findings)).toEqual(expected);
  });

  it.each([
    ['拒收请回复R'],
    ['回T退订'],
    ['退订回N'],
    ['回TD退订'],
    ['回复TD退订'],
    ['退订回复T'],
    ['退订请回复TD'],
    ['拒收回R'],
    ['回Ｔ退订 (full-width T)'],
    ['拒收请回复Ｒ (full-width R)'],
  ])('opt-out wording %s: marketing passes, notification and verification fail', (wording) => {
    const w = wording.split(' ')[0] as string;
    expect(rules(checkTemplate(marketing(`【小店】全场8折。${w}`)).findings)).toEqual([]);
    expect(rules(checkTemplate(notification(`【小店】订单已发货。${w}`)).findings)).toEqual(['notification.opt-out']);
    expect(rules(checkTemplate(verification(`【小店】验证码#code#。${w}`)).findings)).toEqual(['verification.opt-out']);
  });

  it('names the rule, the path and how to fix it', () => {
    const [f] = checkTemplate(marketing('【小店】全场8折'), 'templates[3]').findings;
    expect(f).toEqual({
      path: 'templates[3].text',
      rule: 'marketing.opt-out',
      severity: 'error',
      message: expect.stringContaining('拒收请回复R'),
    });
  });
});

describe('length: 200 characters with the signature for long SMS, 500 for voice', () => {
  // 【测试】 is 4 characters; the value fills the rest.
  const t = notification('【测试】#msg#');
  const fill = (unit: string, n: number) => unit.repeat(n);
  it.each<[string, string, RuleId[], RuleId[]]>([
    ['200 ASCII', fill('a', 196), [], []],
    ['201 ASCII', fill('a', 197), ['length.max'], []],
    ['200 CJK', fill('汉', 196), [], []],
    ['201 CJK', fill('汉', 197), ['length.max'], []],
    ['200 full-width', fill('Ａ', 196), [], []],
    ['201 full-width', fill('Ａ', 197), ['length.max'], []],
    // Emoji count 1 each as users see them; the UTF-16 length (392) earns a warning.
    ['200 with emoji', fill('😀', 196), [], ['length.utf16']],
    ['201 with emoji', fill('😀', 197), ['length.max'], []],
    ['200 with ZWJ family emoji', fill('👨‍👩‍👧', 196), [], ['length.utf16']],
    ['201 with ZWJ family emoji', fill('👨‍👩‍👧', 197), ['length.max'], []],
  ])('%s', (_name, value, errors, warnings) => {
    const r = checkParams(t, [value]);
    expect(rules(r.findings)).toEqual(errors);
    expect(rules(r.findings, 'warning')).toEqual(warnings);
  });

  it('measures a template with its example values, else only its fixed text', () => {
    const long = notification(`【测试】${'汉'.repeat(150)}#a#`);
    expect(checkTemplate(long).length).toBe(154);
    expect(rules(checkTemplate(long).findings)).toEqual([]);
    const withExample = checkTemplate({ ...long, example: { a: '字'.repeat(47) } });
    expect(withExample.length).toBe(201);
    expect(rules(withExample.findings)).toEqual(['length.max']);
    expect(rules(checkTemplate(notification(`【测试】${'汉'.repeat(197)}`)).findings)).toEqual(['length.max']);
  });

  it.each<[number, RuleId[]]>([
    [500, []],
    [501, ['length.max']],
  ])('voice template of %i characters', (n, expected) => {
    expect(rules(checkTemplate(notification('您'.repeat(n), { provider: 'voice' })).findings)).toEqual(expected);
  });

  it.each<[number, number]>([
    [70, 1],
    [71, 2],
  ])('a rendered message of %i characters is %i segment(s)', (n, segments) => {
    const r = checkTemplate({ ...t, example: { msg: '汉'.repeat(n - 4) } });
    expect(r.length).toBe(n);
    expect(r.segments).toBe(segments);
  });
});

describe('params against a template', () => {
  const v = verification('【测试】您的验证码是#code#，5分钟内有效。');
  const order = notification('【测试】尊敬的#name#，订单#order#预计#days#天送达。');

  it.each<[string, string, RuleId[]]>([
    ['3 digits', '123', ['verification.code-digits']],
    ['4 digits', '1234', []],
    ['6 digits', '123456', []],
    ['7 digits', '1234567', ['verification.code-digits']],
    ['letters', '12ab', ['verification.code-digits']],
    ['full-width digits', '１２３４', ['verification.code-digits']],
    ['a link', 'a.cn/x', ['verification.code-digits', 'verification.link']],
  ])('verification code of %s', (_name, code, expected) => {
    expect(rules(checkParams(v, [code]).findings)).toEqual(expected);
    expect(rules(checkParams(v, { code }).findings)).toEqual(expected);
  });

  it.each<[string, string, RuleId[]]>([
    ['a pipe', 'a|b', ['param.pipe']],
    ['a line feed', 'a\nb', ['param.newline']],
    ['a carriage return', 'a\rb', ['param.newline']],
    ['a Unicode line separator', 'a\u2028b', ['param.newline']],
    ['nothing wrong', 'a b&#%+', []],
  ])('a value with %s', (_name, value, expected) => {
    expect(rules(checkParams(order, [value, 'A1', '3']).findings)).toEqual(expected);
  });

  it('orders named params by the template and fills a repeated variable at each place', () => {
    expect(checkParams(order, { days: '3', order: 'A1', name: '张三' }).values).toEqual(['张三', 'A1', '3']);
    const twice = notification('【测试】#name#您好，#name#的包裹到了');
    expect(checkParams(twice, { name: '李四' }).rendered).toBe('【测试】李四您好，李四的包裹到了');
  });

  it.each<[string, string[] | Record<string, string>, RuleId[]]>([
    ['too few array values', ['张三', 'A1'], ['param.count']],
    ['too many array values', ['张三', 'A1', '3', 'x'], ['param.count']],
    ['a missing name', { name: '张三', order: 'A1' }, ['param.missing']],
    ['an unknown name', { name: '张三', order: 'A1', days: '3', extra: 'x' }, ['param.undeclared']],
  ])('%s', (_name, params, expected) => {
    expect(rules(checkParams(order, params).findings)).toEqual(expected);
  });

  it.each<[string, Record<string, string>, RuleId[]]>([
    ['complete', { name: '张三', order: 'A1', days: '3' }, []],
    ['missing a value', { name: '张三' }, ['example.missing']],
    ['naming an unknown variable', { name: '张三', order: 'A1', days: '3', typo: 'x' }, ['example.undeclared']],
    ['with a pipe', { name: '张|三', order: 'A1', days: '3' }, ['param.pipe']],
  ])('example values %s', (_name, example, expected) => {
    expect(rules(checkTemplate({ ...order, example }).findings)).toEqual(expected);
  });

  it.each<[string, RuleId[]]>([
    ['123', ['voice.code-digits']],
    ['1234', []],
    ['123456', []],
    ['1234567', ['voice.code-digits']],
  ])('voice template code %s', (code, expected) => {
    const t = verification('您的验证码是#code#，请勿泄露。', { provider: 'voice' });
    expect(rules(checkParams(t, [code]).findings)).toEqual(expected);
  });
});

describe('voice content', () => {
  it.each<[string, string, RuleId[]]>([
    ['3-digit code', '您的验证码是123，请勿泄露。', ['voice.code-digits']],
    ['4-digit code', '您的验证码是1234，请勿泄露。', []],
    ['6-digit code with a colon', '您的验证码：123456。', []],
    ['7-digit code', '您的动态码是1234567。', ['voice.code-digits']],
    ['full-width 4-digit code', '您的验证码是１２３４。', []],
    ['a keyword without a code', '请输入验证码。', ['voice.code-digits']],
    ['no code at all', '您好，您的快递已送达小区门口，请前来签收。', []],
    ['500 characters', '您'.repeat(500), []],
    ['501 characters', '您'.repeat(501), ['length.max']],
  ])('%s', (_name, content, expected) => {
    expect(rules(checkVoiceContent(content))).toEqual(expected);
  });
});

describe('marketing sending hours (Beijing time, 09:00 to 20:00)', () => {
  it.each<[string, boolean]>([
    ['2026-05-01T00:59:59Z', false], // 08:59:59 Beijing
    ['2026-05-01T01:00:00Z', true], // 09:00:00
    ['2026-05-01T11:59:59Z', true], // 19:59:59
    ['2026-05-01T12:00:00Z', false], // 20:00:00
    ['2026-05-01T16:30:00Z', false], // 00:30 next day
  ])('%s → %s', (iso, within) => {
    expect(withinMarketingHours(new Date(iso))).toBe(within);
    const catalog = createCatalog({ templates: [marketing('【小店】#n#，全场8折。回T退订')] }, 'test');
    expect(rules(resolveSms({ skin: 'm', params: ['张三'] }, catalog, new Date(iso)).findings)).toEqual(
      within ? [] : ['marketing.sending-hours'],
    );
    // Notifications are sent around the clock.
    const n = createCatalog({ templates: [notification('【测试】#n#，订单已发货。')] }, 'test');
    expect(rules(resolveSms({ skin: 'n', params: ['张三'] }, n, new Date(iso)).findings)).toEqual([]);
  });
});

describe('catalog-level rules', () => {
  it('refuses the same skin twice, pointing at the second', () => {
    const f = ruleFindings({ templates: [notification('【测试】甲'), notification('【测试】乙')] });
    expect(rules(f)).toEqual(['catalog.duplicate-skin']);
    expect(f[0]?.path).toBe('templates[1].skin');
  });

  it('refuses named params for a skin that is not in the catalog and passes array params through', () => {
    const catalog = createCatalog({ templates: [] }, 'test');
    const at = new Date('2026-05-01T03:00:00Z');
    expect(rules(resolveSms({ skin: '9', params: { code: '1234' } }, catalog, at).findings)).toEqual(['catalog.unknown-skin']);
    const pass = resolveSms({ skin: '9', params: ['x', 'y'] }, catalog, at);
    expect(pass.findings).toEqual([]);
    expect(pass.params).toEqual(['x', 'y']);
  });
});

describe('coverage of the rule list', () => {
  // Produced by the schema, the dry run and the HTTP tests (http-template-validate.test.ts).
  const elsewhere: RuleId[] = ['schema', 'phone.invalid'];
  // Notify-on-upload rule ids: test/unit/notify-rules.test.ts produces each.
  const notify = RULE_IDS.filter((id) => id.startsWith('notify.'));

  it('every rule id was produced by a test above', () => {
    const missing = RULE_IDS.filter((id) => !seen.has(id) && !elsewhere.includes(id) && !notify.includes(id));
    expect(missing).toEqual([]);
  });

  it('every rule id is documented in docs/templates.md', () => {
    const doc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'templates.md'), 'utf8');
    expect(RULE_IDS.filter((id) => !doc.includes(`\`${id}\``))).toEqual([]);
  });
});

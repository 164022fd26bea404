import { beforeEach, describe, expect, it } from 'vitest';
import { createFunction } from '#shared/fc/app';
import { healthRoute } from '#shared/fc/routes/send';
import { validateRoute } from '#shared/fc/routes/validate';
import { BEIJING_9PM, BEIJING_10AM, providerTemplates, testCatalog } from '../support/catalog.ts';
import { asHttpResult, fcContext, httpEvent } from '../support/fc.ts';
import { startWorld } from '../support/world.ts';

/**
 * POST /templates/validate through the FC HTTP adapter. The fake provider runs (and its URLs are
 * configured) to prove that neither a template check nor a job dry run sends anything.
 */

const CALLER_KEY = 'caller-key-abcdefghijklmnop';
let clock = BEIJING_10AM;
const { fake, providerEnv, logs } = await startWorld({ provider: { templates: providerTemplates() } });
const handler = createFunction(
  { name: 'template-validate', routes: [validateRoute, healthRoute] },
  {
    env: {
      ...providerEnv,
      API_KEYS: `app:${CALLER_KEY}`,
      MAX_BODY_BYTES: '4096',
    },
    catalog: testCatalog(),
    now: () => clock.getTime(),
  },
);
beforeEach(() => {
  clock = BEIJING_10AM;
});

const auth = { authorization: `Bearer ${CALLER_KEY}` };
const post = async (body: unknown, headers: Record<string, string> = auth) =>
  asHttpResult(await handler(httpEvent({ path: '/templates/validate', body, headers }), fcContext()));
const postRaw = async (rawBody: string, headers: Record<string, string> = auth) =>
  asHttpResult(await handler(httpEvent({ path: '/templates/validate', rawBody, headers }), fcContext()));

describe('POST /templates/validate {"template":…}', () => {
  it('answers the contract shape for a good template', async () => {
    const res = await post({
      template: { skin: '8', kind: 'verification', text: '【测试】您的验证码是#code#，5分钟内有效。', example: { code: '1234' } },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json).toEqual({
      valid: true,
      errors: [],
      warnings: [],
      length: 22,
      segments: 1,
      preview: '【测试】您的验证码是1234，5分钟内有效。',
      kind: 'verification',
      provider: 'long-sms',
      variables: ['code'],
      measured: 'example',
      cost: { calls: 1, yuanPerCall: 0.135, yuan: 0.135 },
    });
    expect(fake.requests).toHaveLength(0);
  });

  it('lists every broken rule with path, rule id and a fix', async () => {
    const res = await post({ template: { skin: '8', kind: 'verification', text: '您的密码是#code#，详见 http://x.example #oops' } });
    expect(res.statusCode).toBe(200);
    expect(res.json.valid).toBe(false);
    expect(res.json.errors.map((e: { rule: string }) => e.rule)).toEqual([
      'signature.missing',
      'variable.malformed',
      'verification.keyword',
      'verification.link',
    ]);
    expect(res.json.errors[0]).toEqual({ path: 'template.text', rule: 'signature.missing', message: expect.stringContaining('【测试】') });
    expect(res.json.measured).toBe('fixed-text');
  });

  it('reports a template of the wrong shape as schema errors naming each field', async () => {
    const res = await post({ template: { skin: 'a b', kind: '营销', text: 42, colour: 'red' } });
    expect(res.statusCode).toBe(200);
    expect(res.json).toMatchObject({ valid: false, length: null, segments: null, preview: null });
    expect(res.json.errors).toEqual([
      { path: 'template', rule: 'schema', message: 'has an unknown field "colour"' },
      { path: 'template.skin', rule: 'schema', message: expect.stringMatching(/not allowed/) },
      { path: 'template.kind', rule: 'schema', message: 'must be one of: "verification", "notification", "marketing"' },
      { path: 'template.text', rule: 'schema', message: 'must be string' },
    ]);
  });

  it('names a bad example variable once, and a non-string example value', async () => {
    const res = await post({ template: { skin: '8', kind: 'notification', text: '【测试】#x#', example: { 'a b': 'v', x: 1 } } });
    expect(res.json.errors).toEqual([
      {
        path: 'template.example',
        rule: 'schema',
        message: 'has an invalid name "a b" (variable names: letters, digits, _ or 汉字, at most 32)',
      },
      { path: 'template.example.x', rule: 'schema', message: 'must be string' },
    ]);
  });

  it('measures voice templates against 500 characters and gives no segments', async () => {
    const res = await post({ template: { skin: 'v1', kind: 'notification', provider: 'voice', text: '您'.repeat(501) } });
    expect(res.json).toMatchObject({ valid: false, length: 501, segments: null, errors: [{ rule: 'length.max' }] });
  });
});

describe('POST /templates/validate {"job":…} (dry run)', () => {
  it('renders, counts, prices and shows the exact query, sending nothing', async () => {
    const res = await post({ job: { phone: '+86 138 0013 8000', skin: '2', params: { days: '3', order: 'A&1', name: '张三' } } });
    expect(res.statusCode).toBe(200);
    expect(res.json).toEqual({
      valid: true,
      errors: [],
      warnings: [],
      length: 28,
      segments: 1,
      preview: '【测试】尊敬的张三，您的订单A&1已发货，预计3天送达。',
      channel: 'sms',
      skin: '2',
      kind: 'notification',
      cost: { calls: 1, yuanPerCall: 0.135, yuan: 0.135 },
      request: {
        method: 'GET',
        url: `${fake.longSmsUrl}?param=%E5%BC%A0%E4%B8%89%7CA%261%7C3&phone=13800138000&skin=2&sign=7`,
        query: { param: '张三|A&1|3', phone: '13800138000', skin: '2', sign: '7' },
        rawQuery: 'param=%E5%BC%A0%E4%B8%89%7CA%261%7C3&phone=13800138000&skin=2&sign=7',
      },
      sent: false,
    });
    expect(fake.requests).toHaveLength(0);
  });

  it.each<[string, Record<string, unknown>, string[]]>([
    ['too long', { skin: '4', params: ['汉'.repeat(197)] }, ['length.max']],
    ['wrong param count', { skin: '2', params: ['a'] }, ['param.count']],
    ['a short code and a pipe', { skin: '1', params: { code: '1|2' } }, ['param.pipe']],
    ['a 3-digit code', { skin: '1', params: { code: '123' } }, ['verification.code-digits']],
    ['named params, skin not in the catalog', { skin: '77', params: { a: '1' } }, ['catalog.unknown-skin']],
    ['a bad phone', { phone: '12345', skin: '1', params: ['1234'] }, ['phone.invalid']],
    ['a missing skin', { skin: undefined, params: ['1234'] }, ['schema']],
  ])('a job with %s is invalid, has no request, and sends nothing', async (_name, job, rules) => {
    const res = await post({ job: { phone: '13800138000', ...job } });
    expect(res.statusCode).toBe(200);
    expect(res.json.valid).toBe(false);
    expect(res.json.errors.map((e: { rule: string }) => e.rule)).toEqual(rules);
    expect(res.json.request ?? null).toBeNull();
    expect(res.json.sent).toBe(false);
    expect(fake.requests).toHaveLength(0);
  });

  it('counts segments at the 70/71 boundary', async () => {
    const at70 = await post({ job: { phone: '13800138000', skin: '4', params: ['汉'.repeat(66)] } });
    const at71 = await post({ job: { phone: '13800138000', skin: '4', params: ['汉'.repeat(67)] } });
    expect([at70.json.length, at70.json.segments]).toEqual([70, 1]);
    expect([at71.json.length, at71.json.segments]).toEqual([71, 2]);
  });

  it('flags marketing outside 09:00-20:00 Beijing time', async () => {
    clock = BEIJING_9PM;
    const res = await post({ job: { phone: '13800138000', skin: '3', params: ['张三'] } });
    expect(res.json.valid).toBe(false);
    expect(res.json.errors).toEqual([
      { path: 'job.skin', rule: 'marketing.sending-hours', message: expect.stringContaining('09:00-20:00') },
    ]);
  });

  it('warns that a skin not in the catalog cannot be checked, and still shows the query', async () => {
    const res = await post({ job: { phone: '13800138000', skin: '77', params: ['x'] } });
    expect(res.json).toMatchObject({
      valid: true,
      length: null,
      segments: null,
      preview: null,
      kind: null,
      warnings: [{ rule: 'catalog.unknown-skin' }],
    });
    expect(res.json.request.query).toEqual({ param: 'x', phone: '13800138000', skin: '77' });
  });

  it('dry-runs voice jobs: spoken code digits, length, the query', async () => {
    const bad = await post({ job: { channel: 'voice', phone: '13800138000', content: '您的验证码是123。' } });
    expect(bad.json).toMatchObject({
      valid: false,
      channel: 'voice',
      segments: null,
      errors: [{ path: 'job.content', rule: 'voice.code-digits' }],
      request: null,
    });
    const good = await post({ job: { channel: 'voice', phone: '13800138000', content: '您的验证码是1234。' } });
    expect(good.json).toMatchObject({
      valid: true,
      length: 11,
      preview: '您的验证码是1234。',
      request: { query: { content: '您的验证码是1234。', mobile: '13800138000' } },
    });
    const long = await post({ job: { channel: 'voice', phone: '13800138000', content: '您'.repeat(501) } });
    expect(long.json.errors).toMatchObject([{ rule: 'length.max' }]);
    expect(fake.requests).toHaveLength(0);
  });

  it('refuses a channel no description has, naming the channels, instead of checking it as SMS', async () => {
    const res = await post({ job: { channel: 'fax', phone: '13800138000', skin: '1', params: ['x'] } });
    expect(res.statusCode).toBe(200);
    expect(res.json).toMatchObject({
      valid: false,
      errors: [{ path: 'job.channel', rule: 'schema', message: 'channel must be one of sms, voice, got "fax"' }],
    });
    expect(res.json.channel).toBeUndefined();
    expect(fake.requests).toHaveLength(0);
  });
});

describe('bad input', () => {
  it.each<[string, string, RegExp]>([
    ['malformed JSON', '{"template":', /not valid JSON/],
    ['an array body', '[]', /must be a JSON object/],
    ['neither template nor job', '{}', /exactly one of/],
    ['both template and job', '{"template":{},"job":{}}', /exactly one of/],
    ['an unknown field', '{"tmpl":{}}', /unknown field\(s\): tmpl/],
    ['a template that is a string', '{"template":"【测试】hi"}', /template must be a JSON object/],
  ])('%s → 400 naming the problem', async (_name, raw, message) => {
    const res = await postRaw(raw);
    expect(res.statusCode).toBe(400);
    expect(res.json.error.code).toBe('INVALID_REQUEST');
    expect(res.json.error.message).toMatch(message);
  });

  it('refuses an oversized body with 413', async () => {
    const res = await post({ template: { skin: '1', kind: 'notification', text: `【测试】${'x'.repeat(5000)}` } });
    expect(res.statusCode).toBe(413);
    expect(res.json.error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('answers hostile strings as findings, not crashes', async () => {
    const res = await post({ template: { skin: '1', kind: 'notification', text: '【测试】#__proto__# #constructor# \u0000 <script>' } });
    expect(res.statusCode).toBe(200);
    expect(res.json.variables).toEqual(['constructor']);
    expect(res.json.errors).toMatchObject([{ rule: 'variable.malformed', message: expect.stringContaining('#__proto__#') }]);
    // A literal "__proto__" key (JSON.parse makes it an own property) is refused, not silently dropped.
    const job = await postRaw('{"job":{"phone":"13800138000","skin":"4","params":{"__proto__":"x","detail":"y"}}}');
    expect(job.statusCode).toBe(200);
    expect(job.json).toMatchObject({ valid: false, errors: [{ rule: 'schema', message: expect.stringContaining('__proto__') }] });
  });

  it('needs a caller key, and only POST', async () => {
    expect((await post({ template: {} }, {})).statusCode).toBe(401);
    const get = asHttpResult(await handler(httpEvent({ method: 'GET', path: '/templates/validate', headers: auth }), fcContext()));
    expect(get.statusCode).toBe(405);
  });

  it('logs rule ids only, never the phone or the values', async () => {
    const from = logs.lines.length;
    await post({ job: { phone: '13800138000', skin: '1', params: { code: '987' } } });
    const lines = logs.lines.slice(from).map((l) => JSON.parse(l));
    expect(lines).toMatchObject([{ event: 'http', status: 200, valid: false, rules: ['verification.code-digits'] }]);
    expect(JSON.stringify(lines)).not.toContain('13800138000');
  });
});

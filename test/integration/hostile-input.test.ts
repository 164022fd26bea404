import { describe, expect, it } from 'vitest';
import { invokers, PROTECTED_ROUTES, SPECS } from '../support/functions.ts';
import { startWorld } from '../support/world.ts';

const KEY = 'caller-key-hostile-0123456789';
const auth = { authorization: `Bearer ${KEY}` };

const { fake, providerEnv } = await startWorld({
  provider: { templates: { '1': '【测试】您的验证码是#code#。', '2': '【测试】#a#，#b#，#c#' } },
});
const fns = invokers({
  env: {
    ...providerEnv,
    API_KEYS: `app:${KEY}`,
    VERIFY_SECRET: 'verify-secret-hostile-0123456789',
    LIMIT_PHONE_INTERVAL_S: '0',
    LIMIT_PHONE_DAILY: '0',
    QUIET_HOURS: 'off',
  },
  retryDelayMs: 5,
});

const TEN_MB = 10 * 1024 * 1024;
const deepArray = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
const deepObject = (n: number) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;

/** A clear error, not a crash: a 4xx naming a problem (or the 501 of a route not built here). */
function expectClearRefusal(res: { statusCode: number; json: any }, status?: number): void {
  expect(res.statusCode).not.toBe(500);
  expect(res.statusCode).toBeGreaterThanOrEqual(400);
  if (status !== undefined) expect(res.statusCode).toBe(status);
  expect(typeof res.json?.error?.code).toBe('string');
  expect(typeof res.json?.error?.message).toBe('string');
}

describe.each(PROTECTED_ROUTES)('hostile bodies on POST $path', ({ fn, path }) => {
  it('a 10 MB body is 413 before anything else, plain or base64', async () => {
    const huge = `{"phone":"13800138000","pad":"${'x'.repeat(TEN_MB)}"}`;
    for (const base64 of [false, true]) {
      const res = await fns[fn]({ path, headers: auth, rawBody: huge, base64 });
      expect(res.statusCode).toBe(413);
      expect(res.json.error.code).toBe('PAYLOAD_TOO_LARGE');
      expect(res.json.error.message).toContain('65536 bytes');
    }
    expect(fake.requests).toHaveLength(0);
  });

  it.each([
    ['deeply nested arrays', `{"phone":"13800138000","skin":"1","params":${deepArray(30_000)},"content":"x"}`],
    ['deeply nested objects', `{"phone":"13800138000","skin":"1","params":${deepObject(8_000)},"content":"x"}`],
    ['a nested body', deepObject(8_000)],
    ['__proto__ at the top', '{"phone":"13800138000","skin":"1","params":["1"],"content":"x","__proto__":{"isAdmin":true}}'],
    [
      'constructor at the top',
      '{"phone":"13800138000","skin":"1","params":["1"],"content":"x","constructor":{"prototype":{"polluted":1}}}',
    ],
    ['a JSON array', '[{"phone":"13800138000"}]'],
    ['JSON null', 'null'],
    ['malformed JSON', '{"phone": "13800138000",'],
    ['a phone as a number', '{"phone":13800138000,"skin":"1","params":["1"],"content":"x"}'],
  ])('%s is a clear 4xx, nothing sent, nothing polluted', async (_name, rawBody) => {
    const res = await fns[fn]({ path, headers: auth, rawBody });
    expectClearRefusal(res, fn === 'template-validate' ? undefined : 400);
    expect(fake.requests).toHaveLength(0);
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it.each([
    ['full-width digits', '１３８００１３８０００'],
    ['a zero-width space', '138\u200b00138000'],
    ['a zero-width joiner', '\u200d13800138000'],
    ['a BOM', '\ufeff13800138000'],
    ['a right-to-left override', '\u202e13800138000'],
    ['Arabic-Indic digits', '١٣٨٠٠١٣٨٠٠٠'],
    ['a trailing newline and more digits', '13800138000\n13900139000'],
    ['twelve digits', '138001380001'],
  ])('a phone with %s is INVALID_PHONE and the answer does not repeat it', async (_name, phone) => {
    if (fn === 'template-validate') return;
    const body =
      path === '/verify/check'
        ? { phone, code: '123456' }
        : path.endsWith('/verify')
          ? { phone }
          : fn === 'long-sms'
            ? { phone, skin: '1', params: ['1'] }
            : { phone, content: '您好' };
    const res = await fns[fn]({ path, headers: auth, body });
    expect(res.statusCode).toBe(422);
    expect(res.json.error.code).toBe('INVALID_PHONE');
    expect(res.json.error.message).toContain('phone');
    expect(res.body).not.toContain('13800138000');
    expect(fake.requests).toHaveLength(0);
  });
});

describe('params reach the provider as text, never as extra query parameters', () => {
  const nasty = ['a\r\nb', 'x&phone=13900000000&skin=9', '#frag%20%zz+1'];

  it('long SMS: CR/LF, &, #, % and + in params', async () => {
    const res = await fns['long-sms']({
      path: '/sms',
      headers: auth,
      body: { phone: '13800138000', skin: '2', params: nasty, sign: '1&x=y' },
    });
    expect(res.statusCode).toBe(200);
    expect(fake.requests).toHaveLength(1);
    const got = fake.requests[0]!;
    expect(got.rawQuery).toBe(
      'param=a%0D%0Ab%7Cx%26phone%3D13900000000%26skin%3D9%7C%23frag%2520%25zz%2B1&phone=13800138000&skin=2&sign=1%26x%3Dy',
    );
    expect(got.query).toEqual({ param: nasty.join('|'), phone: '13800138000', skin: '2', sign: '1&x=y' });
    expect(Object.keys(got.query)).toEqual(['param', 'phone', 'skin', 'sign']);
  });

  it('voice: the same characters in content', async () => {
    const content = '您好\r\n&mobile=13900000000#%41+';
    const res = await fns['voice-notify']({ path: '/voice', headers: auth, body: { phone: '13800138000', content } });
    expect(res.statusCode).toBe(200);
    const got = fake.requests[0]!;
    expect(got.rawQuery).toBe('content=%E6%82%A8%E5%A5%BD%0D%0A%26mobile%3D13900000000%23%2541%2B&mobile=13800138000');
    expect(got.query).toEqual({ content, mobile: '13800138000' });
  });

  it('a | inside a param is refused (the provider cannot escape it), naming the param', async () => {
    const res = await fns['long-sms']({ path: '/sms', headers: auth, body: { phone: '13800138000', skin: '1', params: ['1|2'] } });
    expect(res.statusCode).toBe(400);
    expect(res.json.error.message).toContain('params[0]');
    expect(fake.requests).toHaveLength(0);
  });

  it.each(['__proto__', 'constructor', 'prototype'])('params by name refuse %s as a variable name', async (name) => {
    const res = await fns['long-sms']({
      path: '/sms',
      headers: auth,
      rawBody: `{"phone":"13800138000","skin":"1","params":{"${name}":"1"}}`,
    });
    expect(res.statusCode).toBe(400);
    expect(res.json.error.code).toBe('INVALID_REQUEST');
    expect(fake.requests).toHaveLength(0);
  });

  it('control characters other than CR/LF/TAB are refused, naming the field', async () => {
    const res = await fns['voice-notify']({ path: '/voice', headers: auth, body: { phone: '13800138000', content: 'a\u0000b' } });
    expect(res.statusCode).toBe(400);
    expect(res.json.error.message).toContain('content');
  });
});

describe('GET /healthz under hostile input', () => {
  it.each(Object.keys(SPECS) as Array<keyof typeof SPECS>)('%s: a 10 MB body is 413; a query string is ignored', async (fn) => {
    expect((await fns[fn]({ method: 'GET', path: '/healthz', rawBody: 'x'.repeat(TEN_MB) })).statusCode).toBe(413);
    const ok = await fns[fn]({
      method: 'GET',
      path: '/healthz',
      query: JSON.parse('{"__proto__":"x","a":"\\r\\n"}') as Record<string, string>,
    });
    expect(ok.statusCode).toBe(200);
    expect(fake.requests).toHaveLength(0);
  });
});

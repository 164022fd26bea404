import { beforeEach, describe, expect, it } from 'vitest';
import { createFunction } from '#shared/fc/app';
import { healthRoute, sendRoute } from '#shared/fc/routes/send';
import { makeSender } from '#shared/fc/sending';
import { BEIJING_9PM, BEIJING_10AM, providerTemplates, testCatalog } from '../support/catalog.ts';
import { TEST_APPCODE } from '../support/fake-provider.ts';
import { asHttpResult, fcContext, httpEvent } from '../support/fc.ts';
import { startWorld } from '../support/world.ts';

/**
 * long-sms with a template catalog, against the real local fake provider: named params are
 * ordered by the template, and a job the catalog shows would fail never reaches the provider.
 */

const CALLER_KEY = 'caller-key-abcdefghijklmnop';
let clock = BEIJING_10AM;
// Skin 9 is registered with the vendor but not in the catalog.
const { fake, logs } = await startWorld({ provider: { templates: providerTemplates({ '9': '【测试】#a#和#b#' }) } });
const handler = createFunction(
  { name: 'long-sms', channel: 'sms', makeSender, routes: [sendRoute('sms'), healthRoute] },
  {
    env: { APPCODE: TEST_APPCODE, LONG_SMS_URL: fake.longSmsUrl, API_KEYS: `app:${CALLER_KEY}`, LIMIT_PHONE_INTERVAL_S: '0' },
    retryDelayMs: 5,
    catalog: testCatalog(),
    now: () => clock.getTime(),
  },
);
beforeEach(() => {
  clock = BEIJING_10AM;
});

const post = async (body: unknown) =>
  asHttpResult(await handler(httpEvent({ path: '/sms', body, headers: { authorization: `Bearer ${CALLER_KEY}` } }), fcContext()));

describe('long-sms with the template catalog', () => {
  it('orders named params by the template and sends the catalog sign', async () => {
    const res = await post({ phone: '13800138000', skin: '2', params: { days: '3', order: 'A&1', name: '张三' } });
    expect(res.statusCode).toBe(200);
    expect(res.json.status).toBe('sent');
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]?.rawQuery).toBe('param=%E5%BC%A0%E4%B8%89%7CA%261%7C3&phone=13800138000&skin=2&sign=7');
    expect(fake.requests[0]?.query).toEqual({ param: '张三|A&1|3', phone: '13800138000', skin: '2', sign: '7' });
  });

  it("keeps the job's own sign over the catalog's", async () => {
    const res = await post({ phone: '13800138000', skin: '1', params: { code: '1234' }, sign: '5' });
    expect(res.statusCode).toBe(200);
    expect(fake.requests[0]?.query).toEqual({ param: '1234', phone: '13800138000', skin: '1', sign: '5' });
  });

  it.each<[string, Record<string, unknown>, number, string, RegExp]>([
    [
      'too few array params',
      { skin: '2', params: ['张三', 'A1'] },
      422,
      'TEMPLATE_MISMATCH',
      /has 3 variable\(s\).*but 2 value\(s\).*\[param\.count\]/,
    ],
    [
      'a missing named param',
      { skin: '2', params: { name: '张三', order: 'A1' } },
      422,
      'TEMPLATE_MISMATCH',
      /needs a value for #days# \[param\.missing\]/,
    ],
    [
      'an undeclared named param',
      { skin: '1', params: { code: '1234', extra: 'x' } },
      422,
      'TEMPLATE_MISMATCH',
      /has no #extra#.*\[param\.undeclared\]/,
    ],
    [
      'a message over 200 characters',
      { skin: '4', params: ['汉'.repeat(197)] },
      422,
      'CONTENT_TOO_LONG',
      /201 characters.*\[length\.max\]/,
    ],
    ['a 3-digit code', { skin: '1', params: ['123'] }, 422, 'TEMPLATE_MISMATCH', /4 to 6 digits.*\[verification\.code-digits\]/],
    ['a 7-digit code', { skin: '1', params: { code: '1234567' } }, 422, 'TEMPLATE_MISMATCH', /\[verification\.code-digits\]/],
    ['a line break in a value', { skin: '4', params: ['第一行\n第二行'] }, 400, 'INVALID_REQUEST', /line breaks.*\[param\.newline\]/],
    [
      'named params for a skin not in the catalog',
      { skin: '9', params: { a: '1', b: '2' } },
      422,
      'TEMPLATE_MISMATCH',
      /\[catalog\.unknown-skin\]/,
    ],
  ])('refuses %s before any provider call', async (_name, job, status, code, message) => {
    const res = await post({ phone: '13800138000', idempotencyKey: `refused-${_name}`, ...job });
    expect(res.statusCode).toBe(status);
    expect(res.json.error).toMatchObject({ code, retryable: false });
    expect(res.json.error.message).toMatch(message);
    expect(fake.requests).toHaveLength(0);
  });

  it('passes a line break for a skin not in the catalog through as text (only catalog templates refuse it)', async () => {
    const res = await post({ phone: '13800138000', skin: '9', params: ['a\r\nb', 'c'] });
    expect(res.statusCode).toBe(200);
    expect(fake.requests[0]?.query.param).toBe('a\r\nb|c');
  });

  it('refuses marketing at 21:00 Beijing time with OUTSIDE_SENDING_HOURS, and sends it at 10:00', async () => {
    clock = BEIJING_9PM;
    const job = { phone: '13800138000', skin: '3', params: { name: '张三' }, idempotencyKey: 'promo-1' };
    const refused = await post(job);
    expect(refused.statusCode).toBe(422);
    // Refused by the quiet-hours guard (QUIET_HOURS, default 09:00-20:00): retryable inside the window.
    expect(refused.json.error).toMatchObject({ code: 'OUTSIDE_SENDING_HOURS', retryable: true });
    expect(refused.json.error.message).toMatch(/between 09:00 and 20:00 Beijing time/);
    expect(Number(refused.headers['retry-after'])).toBe(12 * 3600);
    expect(fake.requests).toHaveLength(0);
    // The refusal took no idempotency claim: the same job and key send once inside the hours.
    clock = BEIJING_10AM;
    const sent = await post(job);
    expect(sent.statusCode).toBe(200);
    expect(sent.json.replayed).toBe(false);
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]?.query.param).toBe('张三');
  });

  it('sends notifications at any hour', async () => {
    clock = BEIJING_9PM;
    const res = await post({ phone: '13800138000', skin: '2', params: ['张三', 'A1', '3'] });
    expect(res.statusCode).toBe(200);
    expect(fake.requests).toHaveLength(1);
  });

  it('passes array params for a skin not in the catalog through to the provider', async () => {
    const res = await post({ phone: '13800138000', skin: '9', params: ['x', 'y'] });
    expect(res.statusCode).toBe(200);
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]?.query).toEqual({ param: 'x|y', phone: '13800138000', skin: '9' });
  });

  it('logs a refusal as one warn line without the phone number or the param values', async () => {
    const from = logs.lines.length;
    const res = await post({ phone: '13800138000', skin: '1', params: ['98765432'] });
    expect(res.statusCode).toBe(422);
    const lines = logs.lines.slice(from);
    expect(lines.map((l) => JSON.parse(l)).filter((l) => l.event === 'http')).toMatchObject([{ status: 422, path: '/sms' }]);
    expect(lines.join('\n')).not.toContain('13800138000');
    expect(lines.join('\n')).not.toContain('98765432');
  });
});

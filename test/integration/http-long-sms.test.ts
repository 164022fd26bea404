import { beforeAll, describe, expect, it } from 'vitest';
import { createFunction } from '#shared/fc/app';
import { healthRoute, sendRoute } from '#shared/fc/routes/send';
import { makeSender } from '#shared/fc/sending';
import { TEST_APPCODE } from '../support/fake-provider.ts';
import { asHttpResult, fcContext, httpEvent } from '../support/fc.ts';
import { startWorld } from '../support/world.ts';

const CALLER_KEY = 'caller-key-abcdefghijklmnop';
let handler: ReturnType<typeof createFunction>;

const { fake } = await startWorld({});
beforeAll(async () => {
  handler = createFunction(
    { name: 'long-sms', channel: 'sms', makeSender, routes: [sendRoute('sms'), healthRoute] },
    {
      // The tests send to one phone back to back; per-phone limits have their own tests.
      env: { APPCODE: TEST_APPCODE, LONG_SMS_URL: fake.longSmsUrl, API_KEYS: `app:${CALLER_KEY}`, LIMIT_PHONE_INTERVAL_S: '0' },
      retryDelayMs: 5,
    },
  );
});

const post = async (body: unknown, headers: Record<string, string> = { authorization: `Bearer ${CALLER_KEY}` }) =>
  asHttpResult(await handler(httpEvent({ path: '/sms', body, headers }), fcContext()));

describe('POST /sms through the FC HTTP adapter', () => {
  it('sends exactly the documented query with the AppCode header and answers the contract shape', async () => {
    const res = await post({ phone: '+86 138-0013-8000', skin: '1', params: ['12 34&#%+'], sign: '1', idempotencyKey: 'order-42' });
    expect(res.statusCode).toBe(200);
    expect(res.json).toEqual({
      status: 'sent',
      channel: 'sms',
      phone: '138****8000',
      provider: { code: 'OK', message: '发送成功', requestId: expect.any(String) },
      idempotencyKey: 'order-42',
      replayed: false,
    });
    expect(fake.requests).toHaveLength(1);
    const got = fake.requests[0]!;
    expect(got.method).toBe('GET');
    expect(got.path).toBe('/largesms');
    expect(got.rawQuery).toBe('param=12%2034%26%23%25%2B&phone=13800138000&skin=1&sign=1');
    expect(got.query).toEqual({ param: '12 34&#%+', phone: '13800138000', skin: '1', sign: '1' });
    expect(got.headers.authorization).toBe(`APPCODE ${TEST_APPCODE}`);
  });

  it('replays the first outcome for the same idempotency key without a second provider call', async () => {
    const job = { phone: '13800138000', skin: '1', params: ['5678'], idempotencyKey: 'replay-1' };
    const first = await post(job);
    const second = await post(job);
    expect(first.json.replayed).toBe(false);
    expect(second.statusCode).toBe(200);
    expect(second.json.replayed).toBe(true);
    expect(second.headers['idempotent-replayed']).toBe('true');
    expect(fake.requests).toHaveLength(1);
  });

  it('refuses a missing caller key before any provider call', async () => {
    const res = await post({ phone: '13800138000', skin: '1', params: ['1'] }, {});
    expect(res.statusCode).toBe(401);
    expect(res.json.error.code).toBe('UNAUTHORIZED');
    expect(fake.requests).toHaveLength(0);
  });
});

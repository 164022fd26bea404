import { beforeAll, describe, expect, it } from 'vitest';
import { createFunction } from '#shared/fc/app';
import { healthRoute, sendRoute } from '#shared/fc/routes/send';
import { makeSender } from '#shared/fc/sending';
import { TEST_APPCODE } from '../support/fake-provider.ts';
import { asBuffer, asHttpResult, fcContext, fixture, type HttpEventInput, httpEvent } from '../support/fc.ts';
import { startWorld } from '../support/world.ts';

const KEY = 'adapter-test-key-0123456789';
let sms: ReturnType<typeof createFunction>;

const spec = { name: 'long-sms' as const, channel: 'sms' as const, makeSender, routes: [sendRoute('sms'), healthRoute] };

const { fake, logs } = await startWorld({});
beforeAll(async () => {
  // Per-phone limits are tested on their own (limits-*.test.ts); here every test sends to one number.
  sms = createFunction(spec, {
    env: {
      APPCODE: TEST_APPCODE,
      LONG_SMS_URL: fake.longSmsUrl,
      API_KEYS: `t:${KEY}`,
      MAX_BODY_BYTES: '4096',
      LIMIT_PHONE_INTERVAL_S: '0',
    },
  });
});

const call = async (input: HttpEventInput, handler = sms) =>
  asHttpResult(await handler(httpEvent({ ...input, headers: { Authorization: `Bearer ${KEY}`, ...(input.headers ?? {}) } }), fcContext()));

const job = { phone: '13800138000', skin: '1', params: ['1234'] };

describe('FC3 HTTP adapter', () => {
  it('accepts the documented fixture event as a Buffer', async () => {
    const event = fixture<Record<string, any>>('http-v1');
    event.headers.Authorization = `Bearer ${KEY}`;
    const res = asHttpResult(await sms(asBuffer(event), fcContext()));
    expect(res.statusCode).toBe(200);
    expect(res.json.status).toBe('sent');
    expect(fake.requests).toHaveLength(1);
  });

  it('reads the event from a plain Uint8Array view too (only its own bytes, not the whole buffer under it)', async () => {
    const event = fixture<Record<string, any>>('http-v1');
    event.headers.Authorization = `Bearer ${KEY}`;
    const bytes = asBuffer(event);
    // The event sits in the middle of a larger ArrayBuffer, with non-JSON bytes on both sides.
    const backing = new Uint8Array(bytes.length + 8).fill(0x7b);
    backing.set(bytes, 4);
    const res = asHttpResult(await sms(new Uint8Array(backing.buffer, 4, bytes.length), fcContext()));
    expect(res.statusCode).toBe(200);
    expect(fake.requests).toHaveLength(1);
  });

  it('decodes base64 bodies', async () => {
    const res = await call({ body: job, base64: true });
    expect(res.statusCode).toBe(200);
    expect(fake.requests[0]?.query.param).toBe('1234');
  });

  it('reads headers case-insensitively (AUTHORIZATION, idempotency-KEY)', async () => {
    const res = asHttpResult(
      await sms(httpEvent({ body: job, headers: { AUTHORIZATION: `Bearer ${KEY}`, 'IDEMPOTENCY-KEY': 'hdr-1' } }), fcContext()),
    );
    expect(res.statusCode).toBe(200);
    expect(res.json.idempotencyKey).toBe('hdr-1');
  });

  it.each([
    ['{"phone":', 'not valid JSON'],
    ['[1,2]', 'must be a JSON object'],
    ['null', 'must be a JSON object'],
    ['', 'body is empty'],
  ])('answers 400 INVALID_REQUEST for body %j', async (rawBody, message) => {
    const res = await call({ rawBody });
    expect(res.statusCode).toBe(400);
    expect(res.json.error.code).toBe('INVALID_REQUEST');
    expect(res.json.error.message).toContain(message);
    expect(res.json.error.retryable).toBe(false);
    expect(fake.requests).toHaveLength(0);
  });

  it('answers 400 for bytes that are not UTF-8', async () => {
    const res = asHttpResult(
      await sms(
        asBuffer({
          ...fixture<Record<string, any>>('http-v1'),
          headers: { authorization: `Bearer ${KEY}` },
          body: Buffer.from([0xff, 0xfe, 0x7b]).toString('base64'),
          isBase64Encoded: true,
        }),
        fcContext(),
      ),
    );
    expect(res.statusCode).toBe(400);
    expect(res.json.error.message).toContain('UTF-8');
  });

  it('answers 413 PAYLOAD_TOO_LARGE over MAX_BODY_BYTES, plain or base64', async () => {
    const big = { ...job, params: ['x'.repeat(5000)] };
    for (const base64 of [false, true]) {
      const res = await call({ body: big, base64 });
      expect(res.statusCode).toBe(413);
      expect(res.json.error.code).toBe('PAYLOAD_TOO_LARGE');
    }
    expect(fake.requests).toHaveLength(0);
  });

  it('answers 404 for an unknown route and 405 with Allow for a wrong method', async () => {
    const missing = await call({ path: '/nope', body: job });
    expect(missing.statusCode).toBe(404);
    expect(missing.json.error.code).toBe('NOT_FOUND');
    const wrong = await call({ path: '/sms', method: 'GET' });
    expect(wrong.statusCode).toBe(405);
    expect(wrong.headers.allow).toBe('POST');
  });

  it('answers /healthz without a caller key and without calling the provider', async () => {
    const res = asHttpResult(await sms(httpEvent({ method: 'GET', path: '/healthz' }), fcContext()));
    expect(res.statusCode).toBe(200);
    expect(res.json).toEqual({ ok: true });
    expect(fake.requests).toHaveLength(0);
  });

  it('refuses the header and the body disagreeing on the idempotency key', async () => {
    const res = await call({ body: { ...job, idempotencyKey: 'a' }, headers: { 'Idempotency-Key': 'b' } });
    expect(res.statusCode).toBe(400);
    expect(res.json.error.message).toContain('disagree');
  });

  it('refuses one idempotency key reused for a different job', async () => {
    expect((await call({ body: { ...job, idempotencyKey: 'reuse' } })).statusCode).toBe(200);
    const res = await call({ body: { ...job, params: ['9999'], idempotencyKey: 'reuse' } });
    expect(res.statusCode).toBe(400);
    expect(res.json.error.message).toContain('already used for a different job');
    expect(fake.requests).toHaveLength(1);
  });

  it('logs one line per request with requestId, function, status, outcome and latency, phones masked', async () => {
    const ctx = fcContext();
    await sms(httpEvent({ body: job, headers: { Authorization: `Bearer ${KEY}` } }), ctx);
    const lines = logs.parsed().filter((l) => l.requestId === ctx.requestId);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'info',
      event: 'http',
      function: 'long-sms',
      status: 200,
      outcome: 'sent',
      providerCode: 'OK',
      caller: 't',
      phone: '138****8000',
      attempts: 1,
    });
    expect(typeof lines[0].ms).toBe('number');
    expect(typeof lines[0].upstreamMs).toBe('number');
    expect(logs.text()).not.toContain('13800138000');
  });
});

describe('unknown event shapes', () => {
  it('text that is not JSON is read as an MNS STREAM message: a poison job, logged with the reason, answered, nothing sent', async () => {
    const before = logs.lines.length;
    const res = await sms(Buffer.from('hello, world'), fcContext());
    expect(res).toEqual({ ok: true, source: 'mns', total: 1, counts: { poison: 1 } });
    expect(
      logs
        .parsed()
        .slice(before)
        .some((l) => l.event === 'batch-job' && l.status === 'poison' && /not valid JSON/.test(l.msg)),
    ).toBe(true);
    expect(fake.requests).toHaveLength(0);
  });

  it.each([
    ['JSON without an HTTP shape', asBuffer({ foo: 1 })],
    ['a JSON array', asBuffer([1, 2, 3])],
  ])('%s: a clear log line, an answer, no crash, nothing sent', async (_name, event) => {
    const before = logs.lines.length;
    const res = (await sms(event, fcContext())) as { ok: boolean; error: { code: string } };
    expect(res.ok).toBe(false);
    expect(res.error.code).toBe('INVALID_REQUEST');
    expect(
      logs
        .parsed()
        .slice(before)
        .some((l) => l.event === 'unsupported-event' && l.level === 'error'),
    ).toBe(true);
    expect(fake.requests).toHaveLength(0);
  });
});

describe('fail closed', () => {
  it('a sending function with no credentials refuses to send, naming APPCODE; healthz says why', async () => {
    const broken = createFunction(spec, { env: { API_KEYS: `t:${KEY}` } });
    const res = await call({ body: job }, broken);
    expect(res.statusCode).toBe(500);
    expect(res.json.error.code).toBe('INTERNAL');
    expect(res.json.error.message).toContain('APPCODE is required');
    const health = asHttpResult(await broken(httpEvent({ method: 'GET', path: '/healthz' }), fcContext()));
    expect(health.statusCode).toBe(503);
    expect(health.json.ok).toBe(false);
  });

  it('an HTTP trigger with no API_KEYS refuses to send unless ALLOW_UNAUTHENTICATED=1', async () => {
    const closed = createFunction(spec, { env: { APPCODE: TEST_APPCODE, LONG_SMS_URL: fake.longSmsUrl } });
    const res = await call({ body: job }, closed);
    expect(res.statusCode).toBe(500);
    expect(res.json.error.message).toContain('API_KEYS is required');
    expect(fake.requests).toHaveLength(0);
    const open = createFunction(spec, { env: { APPCODE: TEST_APPCODE, LONG_SMS_URL: fake.longSmsUrl, ALLOW_UNAUTHENTICATED: '1' } });
    expect((await call({ body: job, headers: {} }, open)).statusCode).toBe(200);
  });
});

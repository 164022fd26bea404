import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { documentFor } from '#shared/openapi/select';
import { ROUTE_DOCS } from '#shared/openapi/table';
import { asHttpResult, fcContext, httpEvent } from '../support/fc.ts';
import { invoker, invokers, LIMITS_AND_QUIET_HOURS_OFF, SPECS } from '../support/functions.ts';
import { startWorld } from '../support/world.ts';

/**
 * GET /openapi.json on each function, and real answers of the functions checked against the
 * schemas the document publishes for them (so the answers the code builds by hand cannot drift
 * from the description either).
 */

const ROOT = join(import.meta.dirname, '..', '..');
const whole = JSON.parse(readFileSync(join(ROOT, 'openapi.json'), 'utf8')) as Record<string, any>;
const REF = 'https://fc-notify.test/openapi.json';
const ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false });
ajv.addSchema({ ...whole, $id: REF });
const rebase = (schema: unknown) =>
  JSON.parse(JSON.stringify(schema).replaceAll('"$ref":"#/', `"$ref":"${REF}#/`)) as Record<string, unknown>;

/** Checks a real answer against what the document says `method path` answers with that status. */
function expectDocumented(method: string, path: string, res: { statusCode: number; json: unknown; headers: Record<string, string> }): void {
  const op = whole.paths[path]?.[method];
  expect(op, `${method} ${path} is in the document`).toBeDefined();
  let response = op.responses[String(res.statusCode)];
  expect(response, `${method} ${path} documents status ${res.statusCode}`).toBeDefined();
  if (response.$ref) response = whole.components.responses[String(response.$ref).split('/').pop() as string];
  const validate = ajv.compile(rebase(response.content['application/json'].schema));
  expect(
    validate(res.json),
    `${method} ${path} ${res.statusCode}: ${JSON.stringify(validate.errors)} for ${JSON.stringify(res.json)}`,
  ).toBe(true);
  // Answers may gain fields for clients that ignore unknown ones, but every field the code sends
  // today must be described: a field added to the code and not to the table fails here.
  let schema = response.content['application/json'].schema;
  if (schema.$ref) schema = whole.components.schemas[String(schema.$ref).split('/').pop() as string];
  if (schema.properties && schema.additionalProperties === undefined && res.json && typeof res.json === 'object') {
    expect(
      Object.keys(res.json).filter((k) => !(k in schema.properties)),
      `${method} ${path} ${res.statusCode}: undocumented fields`,
    ).toEqual([]);
  }
  for (const header of Object.keys(response.headers ?? {})) {
    if (header === 'Retry-After' || header === 'Allow') continue; // only some codes of the status carry them
    if (res.headers[header.toLowerCase()] !== undefined) expect(typeof res.headers[header.toLowerCase()]).toBe('string');
  }
}

const KEY = 'caller-key-openapi-0123456789';
/** Within SCHEDULE_MAX_DAYS, so the job is scheduled (the document's examples use a fixed date). */
const inADay = () => new Date(Date.now() + 86_400_000).toISOString();
const auth = { authorization: `Bearer ${KEY}` };

const { fake, providerEnv } = await startWorld({});
const fns = invokers({
  env: {
    ...providerEnv,
    API_KEYS: `openapi-test:${KEY}`,
    ...LIMITS_AND_QUIET_HOURS_OFF,
  },
  retryDelayMs: 5,
});

describe('GET /openapi.json', () => {
  it.each(Object.keys(SPECS) as Array<keyof typeof SPECS>)(
    '%s answers its own routes, without a caller key (public like /healthz)',
    async (fn) => {
      const res = await fns[fn]({ method: 'GET', path: '/openapi.json' });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(res.json).toEqual(documentFor(whole, fn));
      const own = ROUTE_DOCS.filter((r) => r.functions.includes(fn));
      for (const r of own) expect(res.json.paths[r.path]?.[r.method], `${fn} ${r.method} ${r.path}`).toBeDefined();
      const others = ROUTE_DOCS.filter((r) => !r.functions.includes(fn));
      for (const r of others) expect(res.json.paths[r.path]?.[r.method], `${fn} must not describe ${r.method} ${r.path}`).toBeUndefined();
      expect(res.json.openapi).toBe('3.1.0');
      expectDocumented('get', '/openapi.json', res);
    },
  );

  it('answers HEAD too, and refuses other methods with 405 like any route', async () => {
    expect((await fns['long-sms']({ method: 'HEAD', path: '/openapi.json' })).statusCode).toBe(200);
    const post = await fns['long-sms']({ method: 'POST', path: '/openapi.json', body: {} });
    expect(post.statusCode).toBe(405);
    expect(post.json.error.code).toBe('METHOD_NOT_ALLOWED');
  });
});

describe('every documented operation is routed by the real function modules (functions/*/index.ts)', () => {
  it('no documented route answers "no route"; a route of another function does', async () => {
    const modules = {
      'long-sms': await import('../../functions/long-sms/index.ts'),
      'voice-notify': await import('../../functions/voice-notify/index.ts'),
      'template-validate': await import('../../functions/template-validate/index.ts'),
    };
    for (const [fn, mod] of Object.entries(modules)) {
      for (const r of ROUTE_DOCS) {
        const path = r.path.replace(/\{[^}]+\}/, 'abc');
        const res = asHttpResult(
          await mod.handler(httpEvent({ method: r.method.toUpperCase(), path, body: r.body ? {} : undefined }), fcContext()),
        );
        const unrouted = res.statusCode === 404 && /^no route /.test(res.json?.error?.message ?? '');
        expect(unrouted || res.statusCode === 405, `${fn} ${r.method} ${r.path}: ${res.statusCode} ${res.body.slice(0, 120)}`).toBe(
          !r.functions.includes(fn as never),
        );
      }
    }
  });
});

describe('real answers match the schemas the document publishes', () => {
  it('POST /sms: 200 sent, 200 replayed, 202 scheduled; DELETE /sms/{id}: 200, then 404; bad id 400', async () => {
    const sms = fns['long-sms'];
    const job = { phone: '13800138000', skin: '1', params: ['1234'], idempotencyKey: 'openapi-sent-1' };
    const sent = await sms({ path: '/sms', body: job, headers: auth });
    expect(sent.statusCode).toBe(200);
    expectDocumented('post', '/sms', sent);
    const replay = await sms({ path: '/sms', body: job, headers: auth });
    expect(replay.json.replayed).toBe(true);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expectDocumented('post', '/sms', replay);

    const scheduled = await sms({
      path: '/sms',
      body: { ...job, idempotencyKey: 'openapi-later-1', sendAt: inADay() },
      headers: auth,
    });
    expect(scheduled.statusCode).toBe(202);
    expectDocumented('post', '/sms', scheduled);
    // The id matches the path parameter's documented pattern.
    const idParam = whole.paths['/sms/{id}'].delete.parameters.find((p: { name: string }) => p.name === 'id');
    expect(scheduled.json.id).toMatch(new RegExp(idParam.schema.pattern));
    const cancelled = await sms({ method: 'DELETE', path: `/sms/${scheduled.json.id}`, headers: auth });
    expect(cancelled.statusCode).toBe(200);
    expectDocumented('delete', '/sms/{id}', cancelled);
    const again = await sms({ method: 'DELETE', path: `/sms/${scheduled.json.id}`, headers: auth });
    expect(again.statusCode).toBe(404);
    expectDocumented('delete', '/sms/{id}', again);
    // An id outside the documented pattern is refused as a bad request, one inside it is looked up.
    const badId = 'x'.repeat(65);
    expect(new RegExp(idParam.schema.pattern).test(badId)).toBe(false);
    const bad = await sms({ method: 'DELETE', path: `/sms/${badId}`, headers: auth });
    expect(bad.statusCode).toBe(400);
    expectDocumented('delete', '/sms/{id}', bad);
    expect(fake.requests).toHaveLength(1);
  });

  it("POST /sms errors: 400, 401, 413, 422 (ours and the vendor's), each with a code of its status", async () => {
    const sms = fns['long-sms'];
    const cases = [
      await sms({ path: '/sms', body: { phone: '13800138000', skin: '1', parms: ['1'] }, headers: auth }),
      await sms({ path: '/sms', body: { phone: '13800138000', skin: '1', params: ['1'] } }),
      await sms({
        path: '/sms',
        rawBody: JSON.stringify({ phone: '13800138000', skin: '1', params: ['x'.repeat(70_000)] }),
        headers: auth,
      }),
      await sms({ path: '/sms', body: { phone: '12345', skin: '1', params: ['1'] }, headers: auth }),
    ];
    fake.next({ kind: 'vendor', code: '105', message: '模板不匹配' });
    cases.push(await sms({ path: '/sms', body: { phone: '13800138000', skin: '1', params: ['1'] }, headers: auth }));
    expect(cases.map((c) => c.statusCode)).toEqual([400, 401, 413, 422, 422]);
    expect(cases[4]?.json.error.providerCode).toBe('105');
    for (const c of cases) expectDocumented('post', '/sms', c);
  });

  it('POST /voice: 200 sent and 202 scheduled; DELETE /voice/{id}: 200', async () => {
    const voice = fns['voice-notify'];
    const sent = await voice({ path: '/voice', body: { phone: '13800138000', content: '您好，您的快递已送达。' }, headers: auth });
    expect(sent.statusCode).toBe(200);
    expectDocumented('post', '/voice', sent);
    const scheduled = await voice({
      path: '/voice',
      body: { phone: '13800138000', content: '您好', sendAt: inADay() },
      headers: auth,
    });
    expect(scheduled.statusCode).toBe(202);
    expectDocumented('post', '/voice', scheduled);
    const cancelled = await voice({ method: 'DELETE', path: `/voice/${scheduled.json.id}`, headers: auth });
    expectDocumented('delete', '/voice/{id}', cancelled);
    const tooLong = await voice({ path: '/voice', body: { phone: '13800138000', content: '好'.repeat(501) }, headers: auth });
    expect(tooLong.json.error.code).toBe('CONTENT_TOO_LONG');
    expectDocumented('post', '/voice', tooLong);
  });

  it('POST /templates/validate and GET /healthz answer as documented', async () => {
    const tv = fns['template-validate'];
    for (const example of Object.values(ROUTE_DOCS.find((r) => r.path === '/templates/validate')?.body?.examples ?? {})) {
      const res = await tv({ path: '/templates/validate', body: example.value, headers: auth });
      expect(res.statusCode).toBe(200);
      expect(res.json.valid).toBe(true);
      expectDocumented('post', '/templates/validate', res);
    }
    const invalid = await tv({ path: '/templates/validate', body: { job: { phone: '1' } }, headers: auth });
    expect(invalid.json.valid).toBe(false);
    expectDocumented('post', '/templates/validate', invalid);
    const refused = await tv({ path: '/templates/validate', body: { nothing: 1 }, headers: auth });
    expectDocumented('post', '/templates/validate', refused);
    for (const fn of Object.keys(SPECS) as Array<keyof typeof SPECS>)
      expectDocumented('get', '/healthz', await fns[fn]({ method: 'GET', path: '/healthz' }));
    const deep = await fns['long-sms']({ method: 'GET', path: '/healthz', query: { deep: '1' } });
    expect(deep.json).toMatchObject({ ok: true, store: 'memory' });
    expectDocumented('get', '/healthz', deep);
    const misconfigured = invoker('long-sms', { env: { API_KEYS: `x:${KEY}`, LONG_SMS_URL: 'not a url' } });
    const unhealthy = await misconfigured({ method: 'GET', path: '/healthz' });
    expect(unhealthy.statusCode).toBe(503);
    expectDocumented('get', '/healthz', unhealthy);
  });
});

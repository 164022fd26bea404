import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { ERROR_STATUS, NotifyError } from '#shared/errors';
import { type buildDocument, documentText } from '#shared/openapi/document';
import { documentFor } from '#shared/openapi/select';
import { ROUTE_DOCS, type RouteDoc } from '#shared/openapi/table';
import { SPECS } from '../support/functions.ts';

/**
 * The OpenAPI description cannot drift from the code: it is valid OpenAPI 3.1 (a real validator),
 * the committed file is the generated one, every error code is in it with its status, every
 * example body passes both the document's schema and the code's real validator, and bodies the
 * document refuses (or the table lists as refused) are refused by the code too.
 */

const ROOT = join(import.meta.dirname, '..', '..');
const committedText = readFileSync(join(ROOT, 'openapi.json'), 'utf8');
const committed = JSON.parse(committedText) as ReturnType<typeof buildDocument>;
const FUNCTIONS = Object.keys(SPECS) as Array<keyof typeof SPECS>;

/** ajv (JSON Schema 2020-12, the dialect of OpenAPI 3.1) over the document's own schemas. */
function docAjv(doc: Record<string, unknown>): Ajv2020 {
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false });
  ajv.addSchema({ ...doc, $id: 'https://fc-notify.test/openapi.json' });
  return ajv;
}
const ajv = docAjv(committed);
const REF = 'https://fc-notify.test/openapi.json';

/** `#/components/...` refs point into the document added to ajv under REF. */
function rebase(schema: unknown): Record<string, unknown> {
  return JSON.parse(JSON.stringify(schema).replaceAll('"$ref":"#/', `"$ref":"${REF}#/`)) as Record<string, unknown>;
}

/** The request body schema as the document publishes it (refs still local to the document). */
function publishedRequestSchema(r: RouteDoc): Record<string, unknown> {
  const op = committed.paths[r.path]?.[r.method] as { requestBody: { content: Record<string, { schema: Record<string, unknown> }> } };
  return op.requestBody.content['application/json']?.schema ?? {};
}

function requestSchema(r: RouteDoc): Record<string, unknown> {
  return rebase(publishedRequestSchema(r));
}

/** The code's answer to a body: accepted, or refused with an error code. */
function codeVerdict(r: RouteDoc, body: unknown): string {
  try {
    r.body?.accept(structuredClone(body) as Record<string, unknown>);
    return 'accepted';
  } catch (err) {
    if (err instanceof NotifyError) return err.code;
    throw err;
  }
}

/** Bodies the document's schema refuses, derived from it: each required field missing, an unknown field added. */
function brokenBodies(schema: Record<string, unknown>, example: Record<string, unknown>): Array<[string, Record<string, unknown>]> {
  let target = schema;
  const ref = schema.$ref;
  if (typeof ref === 'string') target = committed.components.schemas?.[ref.split('/').pop() as string] as Record<string, unknown>;
  const required = (target.required as string[] | undefined) ?? Object.keys(example);
  const out: Array<[string, Record<string, unknown>]> = required
    .filter((k) => k in example)
    .map((k) => {
      const { [k]: _dropped, ...rest } = example;
      return [`without ${k}`, rest];
    });
  out.push(['with an unknown field', { ...example, parms: ['1'] }]);
  return out;
}

describe('openapi.json', () => {
  it('is exactly what `npm run openapi` generates now (run it and commit when this fails)', () => {
    expect(committedText).toBe(documentText());
  });

  it('is valid OpenAPI 3.1, as a whole and as each function serves it', async () => {
    const validator = new Validator();
    const whole = await validator.validate(structuredClone(committed));
    expect(whole, JSON.stringify(whole.errors)).toEqual({ valid: true });
    expect(validator.version).toBe('3.1');
    for (const fn of FUNCTIONS) {
      const result = await new Validator().validate(documentFor(committed, fn));
      expect(result, `${fn}: ${JSON.stringify(result.errors)}`).toEqual({ valid: true });
    }
  });

  it('a real validator refuses a broken document (the check can fail)', async () => {
    const broken = structuredClone(committed) as Record<string, any>;
    broken.paths['/sms'].post.responses['200'].content = 'not an object';
    const result = await new Validator().validate(broken);
    expect(result.valid).toBe(false);
  });

  it('describes every route each function serves, and no other (the table matches the wiring)', () => {
    for (const fn of FUNCTIONS) {
      const wired = SPECS[fn].routes.map((r) => `${r.method} ${r.path}`).sort();
      const documented = ROUTE_DOCS.filter((r) => r.functions.includes(fn))
        .map((r) => `${r.method.toUpperCase()} ${r.path.replace(/\{[^}]+\}$/, '*')}`)
        .sort();
      expect(documented, fn).toEqual(wired);
      expect(Object.keys(documentFor(committed, fn).paths as object).sort(), fn).toEqual(
        [...new Set(ROUTE_DOCS.filter((r) => r.functions.includes(fn)).map((r) => r.path))].sort(),
      );
    }
  });

  it('marks exactly the public routes as needing no key; the rest take Bearer or X-Api-Key', () => {
    expect(committed.components.securitySchemes).toMatchObject({
      bearerAuth: { type: 'http', scheme: 'bearer' },
      apiKeyAuth: { type: 'apiKey', in: 'header', name: 'X-Api-Key' },
    });
    expect(committed.security).toEqual([{ bearerAuth: [] }, { apiKeyAuth: [] }]);
    for (const fn of FUNCTIONS) {
      for (const route of SPECS[fn].routes) {
        const doc = ROUTE_DOCS.find((r) => r.method.toUpperCase() === route.method && r.path.replace(/\{[^}]+\}$/, '*') === route.path);
        expect(!!doc?.public, `${route.method} ${route.path}`).toBe(!!route.public);
      }
    }
  });

  it('holds every error code of shared/errors.ts with its HTTP status, and the error shape', () => {
    const codeSchema = committed.components.schemas?.ErrorCode as { enum: string[]; 'x-http-status': Record<string, number> };
    expect(codeSchema.enum.sort()).toEqual(Object.keys(ERROR_STATUS).sort());
    expect(codeSchema['x-http-status']).toEqual(ERROR_STATUS);
    for (const [code, status] of Object.entries(ERROR_STATUS)) {
      const response = committed.components.responses?.[`Error${status}`] as { content: { 'application/json': { schema: unknown } } };
      const validate = ajv.compile(rebase(response.content['application/json'].schema));
      expect(validate(new NotifyError(code as keyof typeof ERROR_STATUS, 'm', { providerCode: '105' }).toBody()), code).toBe(true);
      // A code answered under another status does not fit that status's answer.
      const other = Object.entries(ERROR_STATUS).find(([, s]) => s !== status)?.[0] as keyof typeof ERROR_STATUS;
      expect(validate(new NotifyError(other, 'm').toBody()), `${other} under ${status}`).toBe(false);
    }
    const error = ajv.compile(rebase({ $ref: '#/components/schemas/Error' }));
    expect(error({ error: { code: 'RATE_LIMITED', message: 'slow down', retryable: true } })).toBe(true);
    expect(error({ error: { code: 'RATE_LIMITED', message: 'slow down' } })).toBe(false);
    expect(error({ error: { code: 'NO_SUCH_CODE', message: 'x', retryable: false } })).toBe(false);
  });
});

describe.each(ROUTE_DOCS.filter((r) => r.body).map((r) => [`${r.method.toUpperCase()} ${r.path}`, r] as const))(
  '%s request body',
  (_name, route) => {
    const body = route.body as NonNullable<RouteDoc['body']>;
    const examples = Object.entries(body.examples);

    it('has examples in the document', () => {
      expect(examples.length).toBeGreaterThan(0);
      const op = committed.paths[route.path]?.[route.method] as { requestBody: { content: { 'application/json': { examples: unknown } } } };
      expect(op.requestBody.content['application/json'].examples).toEqual(body.examples);
    });

    it.each(examples)('example "%s" passes the document schema and the code', (_key, example) => {
      const validate = ajv.compile(requestSchema(route));
      expect(validate(example.value), JSON.stringify(validate.errors)).toBe(true);
      expect(codeVerdict(route, example.value)).toBe('accepted');
    });

    it.each(examples)('example "%s", broken, is refused by the document schema and by the code', (_key, example) => {
      const validate = ajv.compile(requestSchema(route));
      const broken = brokenBodies(publishedRequestSchema(route), example.value as Record<string, unknown>);
      expect(broken.length).toBeGreaterThan(1);
      for (const [how, value] of broken) {
        expect(validate(value), `document accepts the example ${how}`).toBe(false);
        expect(codeVerdict(route, value), `code accepts the example ${how}`).not.toBe('accepted');
      }
    });

    it.each((body.counterExamples ?? []).map((c) => [c.summary, c] as const))('the code refuses %s', (_s, counter) => {
      expect(codeVerdict(route, counter.value)).toBe(counter.code);
    });
  },
);

import { readFileSync } from 'node:fs';
import type * as z from 'zod/mini';
import { toJSONSchema } from 'zod/v4/core';
import { ERROR_STATUS, type ErrorCode } from '../errors.ts';
import { type JsonSchema, type ResponseDoc, ROUTE_DOCS, type RouteDoc, schemaDocs } from './table.ts';

/**
 * Builds the OpenAPI 3.1 document from ROUTE_DOCS (table.ts), the zod schemas the code validates
 * with (through zod 4's own JSON Schema generator, which reads zod/mini schemas too), the template
 * JSON schema, and the error codes of shared/errors.ts. Build-time only: it loads zod's generator.
 */

export type OpenApiDocument = Record<string, unknown> & {
  paths: Record<string, Record<string, Record<string, unknown>>>;
  components: Record<string, Record<string, unknown>>;
};

const ROOT = new URL('../../', import.meta.url);
const COMPONENT = (id: string) => `#/components/schemas/${id}`;

function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('package.json', ROOT), 'utf8')) as { version: string }).version;
}

/** The template entry of schemas/templates.schema.json (draft-07, no internal $refs), as a 2020-12 component. */
function templateSchema(): JsonSchema {
  const file = JSON.parse(readFileSync(new URL('schemas/templates.schema.json', ROOT), 'utf8')) as {
    definitions: { template: JsonSchema };
  };
  return {
    ...file.definitions.template,
    description: 'A template as the catalog (templates.json) holds it; schemas/templates.schema.json.',
  };
}

/** `$schema`/`$id` belong to standalone schemas, not to components of one document. */
function asComponent(schema: Record<string, unknown>): JsonSchema {
  const { $schema: _s, $id: _i, ...rest } = schema;
  return rest;
}

function isZod(s: unknown): s is z.ZodMiniType {
  return typeof s === 'object' && s !== null && '_zod' in s;
}

/** HTTP statuses whose error codes carry a Retry-After header. */
const RETRY_AFTER_STATUSES = new Set([422, 429, 503]);

function errorCodesByStatus(): Map<number, ErrorCode[]> {
  const by = new Map<number, ErrorCode[]>();
  for (const [code, status] of Object.entries(ERROR_STATUS) as Array<[ErrorCode, number]>) {
    by.set(status, [...(by.get(status) ?? []), code]);
  }
  return new Map([...by].sort(([a], [b]) => a - b));
}

function errorComponents(): { schemas: Record<string, JsonSchema>; responses: Record<string, unknown> } {
  const codes = Object.keys(ERROR_STATUS) as ErrorCode[];
  const schemas: Record<string, JsonSchema> = {
    ErrorCode: {
      type: 'string',
      enum: codes,
      description: 'Every error code; `x-http-status` gives the HTTP status of each (shared/errors.ts).',
      'x-http-status': { ...ERROR_STATUS },
    },
    Error: {
      type: 'object',
      required: ['error'],
      additionalProperties: false,
      properties: {
        error: {
          type: 'object',
          required: ['code', 'message', 'retryable'],
          additionalProperties: false,
          properties: {
            code: { $ref: COMPONENT('ErrorCode') },
            message: { type: 'string', description: 'What to fix. Never contains a secret or a full phone number.' },
            retryable: { type: 'boolean', description: 'true: nothing was sent and a retry with the same idempotency key may succeed.' },
            providerCode: { type: 'string', description: 'The vendor\'s code when the provider refused (e.g. "105").' },
          },
        },
      },
    },
  };
  const responses: Record<string, unknown> = {};
  for (const [status, list] of errorCodesByStatus()) {
    const headers: Record<string, unknown> = {};
    if (RETRY_AFTER_STATUSES.has(status)) headers['Retry-After'] = { $ref: '#/components/headers/Retry-After' };
    if (status === 405) headers.Allow = { description: 'The methods the path accepts.', schema: { type: 'string' } };
    responses[`Error${status}`] = {
      description: list.join(', '),
      ...(Object.keys(headers).length > 0 ? { headers } : {}),
      content: {
        'application/json': {
          schema: { allOf: [{ $ref: COMPONENT('Error') }], properties: { error: { properties: { code: { enum: list } } } } },
          example: { error: { code: list[0], message: '…', retryable: false } },
        },
      },
    };
  }
  return { schemas, responses };
}

/** Zod schemas used in the table (bodies and answers) → component schemas or inline schemas. */
function zodSchemas(routes: readonly RouteDoc[]): { components: Record<string, JsonSchema>; inline: Map<z.ZodMiniType, JsonSchema> } {
  // One generator run over the registry, so shared parts resolve to `$ref`s between components.
  const generated = toJSONSchema(schemaDocs, { uri: COMPONENT, io: 'input', unrepresentable: 'any', metadata: schemaDocs }) as {
    schemas: Record<string, Record<string, unknown>>;
  };
  const components: Record<string, JsonSchema> = {};
  for (const [id, s] of Object.entries(generated.schemas)) components[id] = asComponent(s);
  const inline = new Map<z.ZodMiniType, JsonSchema>();
  const used = [...routes.flatMap((r) => [r.body?.schema, ...Object.values(r.responses).map((x) => x.schema)])];
  for (const s of used) {
    if (!isZod(s) || inline.has(s)) continue;
    const id = schemaDocs.get(s)?.id;
    if (id === undefined)
      inline.set(s, asComponent(toJSONSchema(s, { io: 'input', unrepresentable: 'any', metadata: schemaDocs }) as Record<string, unknown>));
    else inline.set(s, { $ref: COMPONENT(id) });
  }
  return { components, inline };
}

function responseObject(doc: ResponseDoc, schemaOf: (s: ResponseDoc['schema']) => JsonSchema): Record<string, unknown> {
  return {
    description: doc.description,
    ...(doc.headers ? { headers: Object.fromEntries(doc.headers.map((h) => [h, { $ref: `#/components/headers/${h}` }])) } : {}),
    content: {
      [doc.mediaType ?? 'application/json']: { schema: schemaOf(doc.schema), ...(doc.examples ? { examples: doc.examples } : {}) },
    },
  };
}

export function buildDocument(routes: readonly RouteDoc[] = ROUTE_DOCS): OpenApiDocument {
  const { components: zodComponents, inline } = zodSchemas(routes);
  const schemaOf = (s: ResponseDoc['schema']): JsonSchema => (isZod(s) ? (inline.get(s) ?? {}) : s);
  const errors = errorComponents();
  const paths: OpenApiDocument['paths'] = {};
  for (const r of routes) {
    const responses: Record<string, unknown> = {};
    for (const [status, doc] of Object.entries(r.responses)) responses[status] = responseObject(doc, schemaOf);
    for (const status of r.errors) {
      if (!(`Error${status}` in errors.responses))
        throw new Error(`${r.method.toUpperCase()} ${r.path}: no error code has HTTP status ${status} (shared/errors.ts)`);
      responses[String(status)] = { $ref: `#/components/responses/Error${status}` };
    }
    const operation: Record<string, unknown> = {
      operationId: r.operationId,
      summary: r.summary,
      ...(r.description ? { description: r.description } : {}),
      tags: [...r.functions],
      'x-fc-functions': [...r.functions],
      ...(r.public ? { security: [] } : {}),
      ...(r.parameters ? { parameters: r.parameters.map((p) => ({ ...p })) } : {}),
      ...(r.body
        ? {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: schemaOf(r.body.schema), examples: r.body.examples } },
            },
          }
        : {}),
      responses,
    };
    paths[r.path] ??= {};
    const item = paths[r.path] as Record<string, unknown>;
    if (item[r.method]) throw new Error(`${r.method.toUpperCase()} ${r.path} is described twice in shared/openapi/table.ts`);
    item[r.method] = operation;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'fc-notify',
      version: packageVersion(),
      summary: 'Long SMS and voice notifications on Alibaba Cloud Function Compute 3.0',
      description:
        'Three functions, each behind its own HTTP trigger: long-sms (POST /sms), voice-notify (POST /voice) and template-validate (POST /templates/validate). This file describes all of them; GET /openapi.json on a function answers with its own routes only. Generated by `npm run openapi` from shared/openapi/table.ts and the zod schemas the code validates with; do not edit by hand.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    tags: [
      { name: 'long-sms', description: 'Long SMS (长短信) through the Alibaba Cloud Marketplace API.' },
      { name: 'voice-notify', description: 'Voice notification calls (语音通知).' },
      { name: 'template-validate', description: 'Template checks and dry runs; sends nothing.' },
    ],
    security: [{ bearerAuth: [] }, { apiKeyAuth: [] }],
    paths,
    components: {
      schemas: { ...zodComponents, Template: templateSchema(), ...errors.schemas },
      responses: errors.responses,
      headers: {
        'Retry-After': {
          description: 'Seconds to wait before retrying (429, 503, and 422 OUTSIDE_SENDING_HOURS).',
          schema: { type: 'integer', minimum: 1 },
        },
        'Idempotent-Replayed': {
          description: '`true` when the answer is the replay of an earlier one for the same idempotency key.',
          schema: { type: 'string', enum: ['true'] },
        },
      },
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'A caller key from API_KEYS: `Authorization: Bearer <key>`.' },
        apiKeyAuth: { type: 'apiKey', in: 'header', name: 'X-Api-Key', description: 'The same caller key in the X-Api-Key header.' },
      },
    },
  };
}

/** The committed file's exact text: stable key order, two-space indent, final newline. */
export function documentText(doc: OpenApiDocument = buildDocument()): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}

export const DOCUMENT_PATH = new URL('openapi.json', ROOT);

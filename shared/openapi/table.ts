import * as z from 'zod/mini';
import { CHANNELS, defaultUrls } from '../channels/index.ts';
import { NotifyError } from '../errors.ts';
import type { FunctionName } from '../fc/runtime.ts';
import { FIELD_LIMITS, parseJob, smsJobSchema, voiceJobSchema } from '../jobs.ts';
import { normalizePhone } from '../phone.ts';
import { validateBody } from '../templates/validate.ts';
import { parseOrThrow } from '../validation.ts';
import type { VerifyChannel } from '../verify/flow.ts';
import { smsVerifySchema, verifyCheckSchema, voiceVerifySchema } from '../verify/schema.ts';

/**
 * THE table of the HTTP API, for the OpenAPI description (`openapi.json`, `GET /openapi.json`).
 * To add a route: add its handler to `functions/<name>/index.ts` and one entry to ROUTE_DOCS here;
 * `npm run openapi` regenerates the document, and test/unit/openapi.test.ts checks that every
 * example in it passes the code's real validator and that a broken one is refused.
 *
 * Build-time only: read by scripts/openapi.ts and scripts/build.ts, never imported by a function
 * (the bundles embed the generated JSON text instead; a bundle test asserts this module is absent).
 * Request bodies reuse the zod schemas the code validates with (shared/channels/) and the template
 * JSON schema (schemas/templates.schema.json); answers, which the code builds without a schema,
 * are described here and checked against real answers in test/integration/http-openapi.test.ts.
 */

/** Metadata merged into the generated JSON schema of a zod schema (`id` makes it a component). */
export type SchemaMeta = Record<string, unknown> & { id?: string };

/** Annotations of the zod schemas the code validates with; the schemas themselves stay as they are. */
export const schemaDocs = z.registry<SchemaMeta>();

const PHONE_EXAMPLE = '13800138000';

schemaDocs.add(smsJobSchema, {
  id: 'SmsJob',
  title: 'Long SMS job',
  description:
    'One long SMS (up to 200 characters with the signature), as POST /sms, MNS, OSS batch lines and timers take it. Unknown fields are refused.',
});
schemaDocs.add(voiceJobSchema, {
  id: 'VoiceJob',
  title: 'Voice notification job',
  description:
    'One voice notification call (text to speech), as POST /voice, MNS, OSS batch lines and timers take it. Unknown fields are refused.',
});
schemaDocs.add(smsJobSchema.shape.channel, {
  description: 'Optional over HTTP: the route implies it. A job for the other channel is refused (400).',
});
schemaDocs.add(voiceJobSchema.shape.channel, {
  description: 'Optional over HTTP: the route implies it. A job for the other channel is refused (400).',
});
// `phone`, `idempotencyKey` and `sendAt` are the same schema objects in both jobs.
schemaDocs.add(smsJobSchema.shape.phone, {
  description:
    'Mainland China mobile number, 1[3-9] + 9 digits. +86 / 0086 / 86 prefixes, spaces and hyphens are accepted and removed; anything else (full-width digits, invisible characters) is refused with 422 INVALID_PHONE. Answers show it masked (138****8000).',
  examples: [PHONE_EXAMPLE, '+86 138-0013-8000'],
});
schemaDocs.add(smsJobSchema.shape.idempotencyKey, {
  description:
    'The same key from the same caller on the same channel within 24 h never sends twice: the first answer is replayed (`replayed: true`). Also read from the Idempotency-Key header (both given and different: 400). No key, no deduplication.',
  examples: ['order-42'],
});
schemaDocs.add(smsJobSchema.shape.sendAt, {
  description:
    'ISO-8601 time with a zone (seconds optional), e.g. 2026-05-01T09:00:00+08:00. In the future: the job is scheduled (202) and sent by the timer trigger when due (at most SCHEDULE_MAX_DAYS, default 30, ahead: further is 400; past SCHEDULE_MAX_PENDING jobs waiting for the caller: 429); otherwise it is sent now.',
  examples: ['2026-05-01T09:00:00+08:00'],
});
schemaDocs.add(smsJobSchema.shape.skin, { description: "The vendor's template id (模板编号).", examples: ['1'] });
schemaDocs.add(smsJobSchema.shape.params, {
  description: `Template parameters: an array of strings in template order (at most ${FIELD_LIMITS.paramCount}), or an object by variable name when the skin is in the template catalog. Each value at most ${FIELD_LIMITS.paramLength} characters, without "|" (the vendor joins values with it and cannot escape it) or control characters. Values are strings: a number would lose leading zeros.`,
  examples: [['1234'], { code: '1234' }],
});
schemaDocs.add(smsJobSchema.shape.sign, {
  description: 'Signature id (专属签名) from the vendor; the catalog default when omitted.',
  examples: ['1'],
});
schemaDocs.add(voiceJobSchema.shape.content, {
  // The zod schema reads up to 10,000 characters so that a longer text gets its own error code.
  maxLength: FIELD_LIMITS.voiceContentLength,
  description: `The text spoken, 1-${FIELD_LIMITS.voiceContentLength} characters; longer: 422 CONTENT_TOO_LONG. No control characters.`,
  examples: ['您好，您的快递已送达。'],
});

const channelEnum = z.enum(['sms', 'voice']);

const providerAnswer = z.object({
  code: z.string(),
  message: z.string(),
  requestId: z.optional(z.string()),
});
schemaDocs.add(providerAnswer, {
  description: 'The vendor\'s own code and message ("OK" when sent), and the gateway\'s request id when it gave one.',
});

const sentAnswer = z.object({
  status: z.literal('sent'),
  channel: channelEnum,
  phone: z.string(),
  provider: providerAnswer,
  idempotencyKey: z.nullable(z.string()),
  replayed: z.boolean(),
  recorded: z.optional(z.literal(false)),
});
schemaDocs.add(sentAnswer, {
  id: 'SentAnswer',
  description:
    'The provider accepted the message. `replayed: true`: an earlier answer for the same idempotency key, nothing was sent again. `recorded: false` (present only then): the store could not record the outcome after the send; it is not sent again (docs/guarantees.md).',
});

const scheduledAnswer = z.object({
  status: z.literal('scheduled'),
  id: z.string(),
  channel: channelEnum,
  phone: z.string(),
  sendAt: z.string(),
  idempotencyKey: z.string(),
});
schemaDocs.add(scheduledAnswer, {
  id: 'ScheduledAnswer',
  description:
    '`sendAt` was in the future: the job is stored and sent once by the timer trigger when due. `id` cancels it (DELETE). Without an idempotency key one is generated and returned.',
});

const cancelledAnswer = z.object({ status: z.literal('cancelled'), id: z.string(), channel: channelEnum });
schemaDocs.add(cancelledAnswer, { id: 'CancelledAnswer' });

const issue = z.object({ path: z.string(), rule: z.string(), message: z.string() });
schemaDocs.add(issue, {
  id: 'ValidationIssue',
  description: '`rule` is a stable rule id (e.g. `length.max`, `schema`, `catalog.unknown-skin`).',
});

const validationAnswer = z.looseObject({
  valid: z.boolean(),
  errors: z.array(issue),
  warnings: z.array(issue),
  length: z.nullable(z.number()),
  segments: z.nullable(z.number()),
  preview: z.nullable(z.string()),
});
schemaDocs.add(validationAnswer, {
  id: 'ValidationAnswer',
  description:
    'Rule results (`valid` is false when there is an error). A template check adds kind, provider, variables, measured and cost (per send, from the catalog pricing; null when unknown); a job dry run adds channel, cost, the provider request that would be made (`request`) and `sent: false`. Nothing is ever sent.',
});

const healthy = z.object({ ok: z.literal(true), store: z.optional(z.string()), storeMs: z.optional(z.number()) });
schemaDocs.add(healthy, { id: 'Healthy', description: 'With `deep=1`: the store kind (`redis`, `memory`) and how long its ping took.' });
const unhealthy = z.object({ ok: z.literal(false), problem: z.optional(z.string()), store: z.optional(z.literal('unreachable')) });
schemaDocs.add(unhealthy, {
  id: 'Unhealthy',
  description:
    'Misconfigured (`problem` names the variable, never its value), or with `deep=1` the store did not answer (`store: "unreachable"`, Retry-After).',
});

/** A JSON schema written by hand, for bodies not described by one zod schema (or `$ref`s). */
export type JsonSchema = Record<string, unknown>;

export interface Example {
  summary: string;
  value: unknown;
}

/** A body the code must refuse, with the error code it answers. */
export interface CounterExample {
  summary: string;
  value: unknown;
  code: string;
}

export interface ParameterDoc {
  name: string;
  in: 'path' | 'header' | 'query';
  required?: boolean;
  description: string;
  schema: JsonSchema;
  example?: unknown;
}

export interface ResponseDoc {
  description: string;
  schema: z.ZodMiniType | JsonSchema;
  headers?: readonly string[];
  examples?: Record<string, Example>;
  /** Default `application/json`; the console page's files are HTML, JavaScript and CSS. */
  mediaType?: string;
}

export interface RouteDoc {
  method: 'get' | 'post' | 'delete';
  /** OpenAPI path template, e.g. `/sms/{id}`. */
  path: string;
  /** The functions that serve it: each serves (GET /openapi.json) only the routes listed for it. */
  functions: readonly FunctionName[];
  operationId: string;
  summary: string;
  description?: string;
  /** No caller key needed. */
  public?: boolean;
  parameters?: readonly ParameterDoc[];
  body?: {
    schema: z.ZodMiniType | JsonSchema;
    examples: Record<string, Example>;
    /** Bodies the JSON schema cannot refuse (refinements) but the code does: tested, not published. */
    counterExamples?: readonly CounterExample[];
    /** The code's real validator for this body: returns when it accepts it, throws a NotifyError otherwise. */
    accept: (body: Record<string, unknown>) => void;
  };
  /** Answers other than errors, by HTTP status. */
  responses: Record<number, ResponseDoc>;
  /** HTTP statuses of the error answers this route can give (codes per status come from shared/errors.ts). */
  errors: readonly number[];
}

/**
 * The channels whose routes this table documents (texts and examples per channel below). A new
 * channel's function serves its routes without them; its OpenAPI document lists them once added here.
 */
type Documented = 'sms' | 'voice';

const SENDING_ERRORS = [400, 401, 409, 413, 422, 429, 500, 502, 503, 504] as const;

const idempotencyHeader: ParameterDoc = {
  name: 'Idempotency-Key',
  in: 'header',
  description: 'Same as the `idempotencyKey` field (either may be used; both given and different: 400).',
  schema: { type: 'string', minLength: 1, maxLength: FIELD_LIMITS.idempotencyKeyLength },
  example: 'order-42',
};

/** Scheduled job ids, as shared/fc/routes/send.ts's cancelRoute checks them. */
export const SCHEDULED_ID_PATTERN = '^[\\w-]{1,64}$';

const smsExamples: Record<string, Example> = {
  now: {
    summary: 'Send now, params in template order',
    value: { phone: PHONE_EXAMPLE, skin: '1', params: ['1234'], idempotencyKey: 'order-42' },
  },
  signed: {
    summary: 'With a signature id and the channel spelled out',
    value: { channel: 'sms', phone: '+86 138-0013-8000', skin: '1', params: ['1234'], sign: '1' },
  },
  scheduled: {
    summary: 'Scheduled: 202 while sendAt is ahead (at most SCHEDULE_MAX_DAYS)',
    value: { phone: PHONE_EXAMPLE, skin: '1', params: ['1234'], sendAt: '2026-05-01T09:00:00+08:00', idempotencyKey: 'reminder-7' },
  },
};
const voiceExamples: Record<string, Example> = {
  now: { summary: 'Call now', value: { phone: PHONE_EXAMPLE, content: '您好，您的快递已送达。', idempotencyKey: 'parcel-9' } },
  scheduled: {
    summary: 'Scheduled: 202 while sendAt is ahead (at most SCHEDULE_MAX_DAYS)',
    value: { phone: PHONE_EXAMPLE, content: '您好，您的快递已送达。', sendAt: '2026-05-01T09:00:00+08:00' },
  },
};

const smsCounterExamples: CounterExample[] = [
  { summary: 'not a mainland mobile', value: { phone: '12345', skin: '1', params: ['1'] }, code: 'INVALID_PHONE' },
  { summary: 'a "|" in a value', value: { phone: PHONE_EXAMPLE, skin: '1', params: ['a|b'] }, code: 'INVALID_REQUEST' },
  { summary: 'a control character', value: { phone: PHONE_EXAMPLE, skin: '1', params: ['a\u0007'] }, code: 'INVALID_REQUEST' },
  {
    summary: 'sendAt without a zone',
    value: { phone: PHONE_EXAMPLE, skin: '1', params: ['1'], sendAt: '2099-05-01T09:00:00' },
    code: 'INVALID_REQUEST',
  },
  { summary: 'the other channel', value: { channel: 'voice', phone: PHONE_EXAMPLE, skin: '1', params: ['1'] }, code: 'INVALID_REQUEST' },
];
const voiceCounterExamples: CounterExample[] = [
  {
    summary: 'text over the limit',
    value: { phone: PHONE_EXAMPLE, content: '好'.repeat(FIELD_LIMITS.voiceContentLength + 1) },
    code: 'CONTENT_TOO_LONG',
  },
  { summary: 'not a mainland mobile', value: { phone: '+1 555 0100', content: '您好' }, code: 'INVALID_PHONE' },
  { summary: 'the other channel', value: { channel: 'sms', phone: PHONE_EXAMPLE, content: '您好' }, code: 'INVALID_REQUEST' },
];

function sendRoutes(channel: Documented): RouteDoc[] {
  const fn = CHANNELS[channel].functionName;
  const path = `/${channel}`;
  const what = channel === 'sms' ? 'a long SMS' : 'a voice notification call';
  return [
    {
      method: 'post',
      path,
      functions: [fn],
      operationId: channel === 'sms' ? 'sendSms' : 'sendVoice',
      summary: `Send ${what}, now or at sendAt`,
      description:
        'Validates the job, applies the recipient policy, rate limits and sending hours, then calls the provider once. Retrying with the same idempotency key is always safe. With `sendAt` in the future the job is scheduled instead (202).',
      parameters: [idempotencyHeader],
      body: {
        schema: channel === 'sms' ? smsJobSchema : voiceJobSchema,
        examples: channel === 'sms' ? smsExamples : voiceExamples,
        counterExamples: channel === 'sms' ? smsCounterExamples : voiceCounterExamples,
        accept: (body) => {
          parseJob(body, channel);
        },
      },
      responses: {
        200: {
          description: 'Sent (or the replay of an earlier answer for the same idempotency key).',
          schema: sentAnswer,
          headers: ['Idempotent-Replayed'],
          examples: {
            sent: {
              summary: 'Sent',
              value: {
                status: 'sent',
                channel,
                phone: '138****8000',
                provider: { code: 'OK', message: '发送成功' },
                idempotencyKey: 'order-42',
                replayed: false,
              },
            },
          },
        },
        202: {
          description: 'Scheduled: `sendAt` is in the future.',
          schema: scheduledAnswer,
          examples: {
            scheduled: {
              summary: 'Scheduled',
              value: {
                status: 'scheduled',
                id: 'a1b2c3d4e5f6a7b8c9d0e1f2',
                channel,
                phone: '138****8000',
                sendAt: '2026-05-01T09:00:00+08:00',
                idempotencyKey: 'reminder-7',
              },
            },
          },
        },
      },
      errors: SENDING_ERRORS,
    },
    {
      method: 'delete',
      path: `${path}/{id}`,
      functions: [fn],
      operationId: channel === 'sms' ? 'cancelScheduledSms' : 'cancelScheduledVoice',
      summary: `Cancel a scheduled ${channel} job`,
      description:
        'Only the caller that scheduled it can cancel it. 404 when it was already sent, cancelled, or never scheduled by this caller.',
      parameters: [
        {
          name: 'id',
          in: 'path',
          required: true,
          description: 'The `id` of the 202 answer.',
          schema: { type: 'string', pattern: SCHEDULED_ID_PATTERN },
          example: 'a1b2c3d4e5f6a7b8c9d0e1f2',
        },
      ],
      responses: { 200: { description: 'Cancelled: it will not be sent.', schema: cancelledAnswer } },
      errors: [400, 401, 404, 413, 500, 503],
    },
  ];
}

schemaDocs.add(smsVerifySchema, {
  id: 'SmsVerifyStart',
  title: 'Start a verification by SMS',
  description:
    'We generate the code (crypto.randomInt) and send it in the verification template. Within the validity a new start re-sends the SAME code (and answers the same verificationId and expiresAt). Unknown fields are refused. docs/verification.md.',
});
schemaDocs.add(voiceVerifySchema, {
  id: 'VoiceVerifyStart',
  title: 'Start a verification by voice call',
  description: 'The code is spoken digit by digit (VERIFY_VOICE_TEXT). Same rules as the SMS start. docs/verification.md.',
});
schemaDocs.add(verifyCheckSchema, {
  id: 'VerifyCheck',
  title: 'Check a code',
  description:
    'Call it from your backend, never from the app. A correct code is consumed; 5 wrong checks lock it. `verificationId` (optional, from the start answer) makes the answer exact: `not-found` when that verification is gone, `expired` when it ran out.',
});
schemaDocs.add(smsVerifySchema.shape.codeLength, {
  type: 'integer',
  minimum: 4,
  maximum: 8,
  description: 'Digits, 4-8 (default 6).',
  examples: [6],
});
schemaDocs.add(smsVerifySchema.shape.ttlSeconds, {
  type: 'integer',
  minimum: 60,
  maximum: 1800,
  description: 'Validity in seconds, 60-1800 (default 300).',
  examples: [300],
});
schemaDocs.add(smsVerifySchema.shape.fallback, {
  description: '`voice`: when the SMS is refused or fails (never when its outcome is unknown), the same code is spoken by one voice call.',
});
schemaDocs.add(smsVerifySchema.shape.skin, {
  description:
    "Template id; default VERIFY_SMS_SKIN, else the catalog's first verification template. The catalog names the code variable; an uncatalogued skin gets the code as its first param.",
  examples: ['1'],
});

const verifyStarted = z.object({
  status: z.literal('sent'),
  verificationId: z.string(),
  channel: channelEnum,
  phone: z.string(),
  expiresAt: z.string(),
  resendAfter: z.number(),
  fallbackFrom: z.optional(z.literal('sms')),
  code: z.optional(z.string()),
});
schemaDocs.add(verifyStarted, {
  id: 'VerifyStarted',
  description:
    '`resendAfter`: seconds before this phone may get another code (the verification limits; enable the resend button then). `fallbackFrom: "sms"`: the SMS was refused or failed and the code went by voice. `code`: in sandbox mode only.',
});
const verifyChecked = z.union([
  z.object({ valid: z.literal(true) }),
  z.object({
    valid: z.literal(false),
    reason: z.enum(['mismatch', 'expired', 'not-found', 'too-many-attempts']),
    attemptsLeft: z.number(),
  }),
]);
schemaDocs.add(verifyChecked, {
  id: 'VerifyCheckAnswer',
  description:
    'A phone without a code answers like a wrong guess (a decoy record): the answer never tells which numbers have codes, in shape or in time.',
});

function verifyStartRoute(channel: VerifyChannel): RouteDoc {
  return {
    method: 'post',
    path: `/${channel}/verify`,
    functions: [CHANNELS[channel].functionName],
    operationId: channel === 'sms' ? 'startSmsVerification' : 'startVoiceVerification',
    summary:
      channel === 'sms' ? 'Send a verification code by SMS (optionally falling back to a call)' : 'Send a verification code by voice call',
    description:
      'Limits: the verification limits per phone (1/min, 5/h, 10/day by default) count across both channels; over them 429 with Retry-After. An idempotencyKey replays the first answer. Needs VERIFY_SECRET (500 naming it otherwise).',
    parameters: [idempotencyHeader],
    body: {
      schema: channel === 'sms' ? smsVerifySchema : voiceVerifySchema,
      examples:
        channel === 'sms'
          ? {
              plain: { summary: 'Default template, 6 digits, 5 minutes', value: { phone: PHONE_EXAMPLE } },
              fallback: {
                summary: 'Fall back to a call',
                value: { phone: PHONE_EXAMPLE, codeLength: 4, ttlSeconds: 600, fallback: 'voice', idempotencyKey: 'signup-42' },
              },
            }
          : { plain: { summary: '6 digits spoken, 5 minutes', value: { phone: PHONE_EXAMPLE } } },
      counterExamples: [
        { summary: 'a 3-digit code', value: { phone: PHONE_EXAMPLE, codeLength: 3 }, code: 'INVALID_REQUEST' },
        { summary: 'not a mainland mobile', value: { phone: '12345' }, code: 'INVALID_PHONE' },
      ],
      accept: (body) => {
        parseOrThrow(channel === 'sms' ? smsVerifySchema : voiceVerifySchema, body);
        normalizePhone(String(body.phone));
      },
    },
    responses: {
      200: {
        description: 'Sent (a replay for the same idempotency key carries Idempotent-Replayed).',
        schema: verifyStarted,
        headers: ['Idempotent-Replayed'],
        examples: {
          sent: {
            summary: 'Sent',
            value: {
              status: 'sent',
              verificationId: '0b4f6c1e-3a52-4a57-9d0e-8f1a2b3c4d5e',
              channel,
              phone: '138****8000',
              expiresAt: '2026-05-01T02:05:00.000Z',
              resendAfter: 60,
            },
          },
        },
      },
    },
    errors: SENDING_ERRORS,
  };
}

/** The request body of POST /templates/validate: exactly one of `template` or `job`. */
const validateBodySchema: JsonSchema = {
  oneOf: [
    {
      type: 'object',
      title: 'Template check',
      required: ['template'],
      additionalProperties: false,
      properties: { template: { $ref: '#/components/schemas/Template' } },
    },
    {
      type: 'object',
      title: 'Job dry run',
      required: ['job'],
      additionalProperties: false,
      properties: {
        job: {
          description:
            'A job as POST /sms or /voice takes it (`channel` picks which; default sms). An invalid job is answered 200 with `valid: false`.',
          anyOf: [{ $ref: '#/components/schemas/SmsJob' }, { $ref: '#/components/schemas/VoiceJob' }],
        },
      },
    },
  ],
};

// Issue 13: usage and a job's fate (shared/routes/usage.ts, docs/usage.md).
const countersSchema: JsonSchema = {
  type: 'object',
  required: ['sent', 'rejected', 'failed', 'unknown', 'refused', 'scheduled', 'billable', 'cost'],
  properties: {
    sent: { type: 'integer' },
    rejected: { type: 'integer', description: 'Refused by the vendor (an answered, billed call).' },
    failed: { type: 'integer', description: 'Not sent: no answer usable, throttled, quota exhausted, credentials refused.' },
    unknown: { type: 'integer', description: 'Maybe sent: timeout after the request left, or an attempt that never finished.' },
    refused: { type: 'integer', description: 'Refused by our own limits or policy before any call.' },
    scheduled: { type: 'integer', description: 'Put in the schedule (sendAt ahead, or deferred by a limit).' },
    billable: { type: 'integer', description: 'sent + rejected: what the gateway bills.' },
    cost: { type: 'number', description: 'billable × the catalog pricing, yuan, 4 decimals.' },
  },
};
const quotaSchema: JsonSchema = {
  oneOf: [
    { type: 'null' },
    {
      type: 'object',
      required: ['purchased', 'used', 'remaining', 'remainingRatio'],
      properties: {
        purchased: { type: 'integer' },
        used: { type: 'integer' },
        remaining: { type: 'integer' },
        remainingRatio: { type: 'number' },
        since: { type: 'string' },
      },
    },
  ],
};
const usageAnswer: JsonSchema = {
  type: 'object',
  required: ['from', 'to', 'timezone', 'currency', 'days', 'breakdown', 'totals', 'quota'],
  properties: {
    from: { type: 'string', format: 'date' },
    to: { type: 'string', format: 'date' },
    timezone: { const: 'Asia/Shanghai' },
    currency: { const: 'CNY' },
    pricing: { type: 'object' },
    days: { type: 'array', items: { allOf: [{ type: 'object', required: ['date', 'channel'] }, countersSchema] } },
    breakdown: {
      type: 'array',
      items: { allOf: [{ type: 'object', required: ['date', 'channel', 'caller', 'template'] }, countersSchema] },
    },
    totals: { type: 'object', required: ['sms', 'voice'], properties: { sms: countersSchema, voice: countersSchema } },
    quota: { type: 'object', required: ['sms', 'voice'], properties: { sms: quotaSchema, voice: quotaSchema } },
  },
};
const jobFateAnswer: JsonSchema = {
  type: 'object',
  required: ['idempotencyKey', 'channel', 'status', 'caller', 'recorded'],
  properties: {
    idempotencyKey: { type: 'string' },
    channel: { enum: ['sms', 'voice'] },
    status: { enum: ['sent', 'rejected', 'failed', 'unknown', 'in-progress', 'scheduled', 'cancelled'] },
    phone: { type: 'string' },
    provider: { type: 'object' },
    error: { type: 'object' },
    at: { type: 'string' },
    attempts: { type: 'integer' },
    source: { type: 'string' },
    caller: { type: 'string' },
    recorded: { type: 'boolean' },
    sendAt: { type: 'string' },
    id: { type: 'string' },
  },
};

function jobRouteDoc(channel: Documented): RouteDoc {
  return {
    method: 'get',
    path: `/${channel}/{idempotencyKey}`,
    functions: [CHANNELS[channel].functionName, 'template-validate'],
    operationId: channel === 'sms' ? 'smsJobFate' : 'voiceJobFate',
    summary: `What became of a ${channel} job`,
    description:
      "The recorded outcome under this idempotency key (kept 24 h), or the scheduled job (pending, cancelled within a day). A caller sees only its own jobs; OPS_CALLERS see every caller's (`caller` picks one; without it the first found). 404 when none.",
    parameters: [
      {
        name: 'idempotencyKey',
        in: 'path',
        required: true,
        description: 'The key the job was sent or scheduled with.',
        schema: { type: 'string', minLength: 1, maxLength: FIELD_LIMITS.idempotencyKeyLength },
        example: 'order-42',
      },
      {
        name: 'caller',
        in: 'query',
        description: 'OPS_CALLERS only: whose job (a caller name, or mns, oss, timer).',
        schema: { type: 'string' },
        example: 'backend',
      },
    ],
    responses: {
      200: {
        description: "The job's fate.",
        schema: jobFateAnswer,
        examples: {
          sent: {
            summary: 'Sent from HTTP',
            value: {
              idempotencyKey: 'order-42',
              channel,
              status: 'sent',
              phone: '138****8000',
              provider: { code: 'OK', message: '发送成功' },
              at: '2026-12-01T10:00:00.000Z',
              attempts: 1,
              source: 'http',
              caller: 'backend',
              recorded: true,
            },
          },
        },
      },
    },
    errors: [400, 401, 403, 404, 500, 503],
  };
}

export const ROUTE_DOCS: readonly RouteDoc[] = [
  ...sendRoutes('sms'),
  ...sendRoutes('voice'),
  verifyStartRoute('sms'),
  verifyStartRoute('voice'),
  {
    method: 'post',
    path: '/verify/check',
    functions: ['long-sms', 'voice-notify'],
    operationId: 'checkVerification',
    summary: 'Check a verification code (from your backend)',
    description:
      'Either function checks a code sent by either (one store). Every answer costs the same work whether the phone has a code or not.',
    body: {
      schema: verifyCheckSchema,
      examples: {
        check: { summary: 'Check', value: { phone: PHONE_EXAMPLE, code: '123456' } },
        exact: {
          summary: 'With the verificationId',
          value: { phone: PHONE_EXAMPLE, code: '123456', verificationId: '0b4f6c1e-3a52-4a57-9d0e-8f1a2b3c4d5e' },
        },
      },
      counterExamples: [{ summary: 'letters in the code', value: { phone: PHONE_EXAMPLE, code: '12a456' }, code: 'INVALID_REQUEST' }],
      accept: (body) => {
        parseOrThrow(verifyCheckSchema, body);
        normalizePhone(String(body.phone));
      },
    },
    responses: {
      200: {
        description: 'Valid (the code is used up), or why not.',
        schema: verifyChecked,
        examples: {
          valid: { summary: 'Right code', value: { valid: true } },
          mismatch: { summary: 'Wrong code', value: { valid: false, reason: 'mismatch', attemptsLeft: 4 } },
        },
      },
    },
    errors: [400, 401, 413, 422, 500, 503],
  },
  {
    method: 'post',
    path: '/templates/validate',
    functions: ['template-validate'],
    operationId: 'validateTemplate',
    summary: 'Check a template, or dry-run a job, before paying for a send',
    description:
      'Runs every template rule (length, segments, variables, signature, kind) or renders a job as it would be sent. Never sends.',
    body: {
      schema: validateBodySchema,
      examples: {
        template: {
          summary: 'Check a template',
          value: { template: { skin: '1', kind: 'verification', text: '【测试】您的验证码是#code#' } },
        },
        job: { summary: 'Dry-run a job', value: { job: { channel: 'sms', phone: PHONE_EXAMPLE, skin: '1', params: ['1234'] } } },
        voice: {
          summary: 'Dry-run a voice job',
          value: { job: { channel: 'voice', phone: PHONE_EXAMPLE, content: '您好，您的快递已送达。' } },
        },
      },
      counterExamples: [
        {
          summary: 'both template and job',
          value: { template: { skin: '1', kind: 'verification', text: '【测试】#code#' }, job: {} },
          code: 'INVALID_REQUEST',
        },
        { summary: 'a template that is not an object', value: { template: 'x' }, code: 'INVALID_REQUEST' },
      ],
      accept: (body) => {
        const answer = validateBody(body, {
          catalog: undefined,
          urls: defaultUrls(),
          now: new Date(),
        });
        if (!answer.valid)
          throw new NotifyError('INVALID_REQUEST', `valid: false: ${answer.errors.map((e) => `${e.path} ${e.message}`).join('; ')}`);
      },
    },
    responses: {
      200: {
        description: 'Rule results. An invalid template or job is still a 200, with `valid: false` and the errors.',
        schema: validationAnswer,
        examples: {
          template: {
            summary: 'A valid template',
            value: {
              valid: true,
              errors: [],
              warnings: [],
              length: 14,
              segments: 1,
              preview: '【测试】您的验证码是#code#',
              kind: 'verification',
              provider: 'long-sms',
              variables: ['code'],
              measured: 'fixed-text',
              cost: { calls: 1, yuanPerCall: 0.135, yuan: 0.135 },
            },
          },
        },
      },
    },
    errors: [400, 401, 413, 500],
  },
  {
    method: 'get',
    path: '/healthz',
    functions: ['long-sms', 'voice-notify', 'template-validate'],
    operationId: 'health',
    summary: 'Liveness and configuration check',
    description:
      'No caller key, no secrets, no provider call. 503 when the function is misconfigured (the problem names the variable). With `deep=1` it also pings the store (Redis) within a short timeout.',
    public: true,
    parameters: [
      {
        name: 'deep',
        in: 'query',
        description: 'Any value other than empty, `0` or `false`: also check that the store answers.',
        schema: { type: 'string' },
        example: '1',
      },
    ],
    responses: {
      200: { description: 'Configured (and, with `deep=1`, the store answered).', schema: healthy },
      503: { description: 'Misconfigured, or the store did not answer.', schema: unhealthy, headers: ['Retry-After'] },
    },
    errors: [],
  },
  {
    method: 'get',
    path: '/openapi.json',
    functions: ['long-sms', 'voice-notify', 'template-validate'],
    operationId: 'openapi',
    summary: 'This description (the routes of the function that serves it)',
    description:
      'No caller key: it describes the contract, which is public (openapi.json in the repository), and holds no configuration. Each function answers with its own routes, so a client generated from it targets the URL it was fetched from.',
    public: true,
    responses: { 200: { description: 'OpenAPI 3.1 document.', schema: { type: 'object', required: ['openapi', 'paths'] } } },
    errors: [],
  },
  {
    method: 'get',
    path: '/console',
    functions: ['template-validate'],
    operationId: 'console',
    summary: "The operators' console page",
    description:
      "A static HTML page (no key needed to load it; it asks for a caller key and keeps it in the tab's sessionStorage): template checker and dry run, usage chart with quota, job lookup. Strict Content-Security-Policy; Brotli or gzip when accepted. On the default *.fcapp.run domain FC forces a download: use a custom domain (docs/console.md).",
    public: true,
    responses: { 200: { description: 'The page.', schema: { type: 'string' }, mediaType: 'text/html' } },
    errors: [],
  },
  {
    method: 'get',
    path: '/console/{file}',
    functions: ['template-validate'],
    operationId: 'consoleAsset',
    summary: "The console page's script and style sheet",
    public: true,
    parameters: [
      { name: 'file', in: 'path', required: true, description: 'The file.', schema: { type: 'string', enum: ['app.js', 'app.css'] } },
    ],
    responses: {
      200: {
        description: 'The file (text/javascript or text/css), cacheable for a year (its URL carries a content hash).',
        schema: { type: 'string' },
        mediaType: 'text/javascript',
      },
    },
    errors: [404],
  },
  jobRouteDoc('sms'),
  jobRouteDoc('voice'),
  {
    method: 'get',
    path: '/usage',
    functions: ['long-sms', 'voice-notify', 'template-validate'],
    operationId: 'usage',
    summary: 'Usage, cost and quota left (OPS_CALLERS only)',
    description:
      'Counts per Beijing day and channel (and per caller and template in `breakdown`), cost from the catalog pricing, and the package left per channel from QUOTA_LONG_SMS / QUOTA_VOICE. `format=csv`: the breakdown as text/csv. 403 for callers not in OPS_CALLERS.',
    parameters: [
      {
        name: 'from',
        in: 'query',
        description: 'First Beijing day, YYYY-MM-DD (default today).',
        schema: { type: 'string', format: 'date' },
        example: '2026-12-01',
      },
      {
        name: 'to',
        in: 'query',
        description: 'Last Beijing day, inclusive (default today; at most 400 days after from).',
        schema: { type: 'string', format: 'date' },
        example: '2026-12-07',
      },
      { name: 'format', in: 'query', description: '`json` (default) or `csv`.', schema: { enum: ['json', 'csv'] }, example: 'csv' },
    ],
    responses: {
      200: {
        description: 'The report (JSON), or the breakdown as CSV with `format=csv`.',
        schema: usageAnswer,
        examples: {
          week: {
            summary: 'A day of SMS',
            value: {
              from: '2026-12-01',
              to: '2026-12-01',
              timezone: 'Asia/Shanghai',
              currency: 'CNY',
              pricing: { sms: 0.135, voice: null },
              days: [
                {
                  date: '2026-12-01',
                  channel: 'sms',
                  sent: 3,
                  rejected: 1,
                  failed: 0,
                  unknown: 0,
                  refused: 2,
                  scheduled: 1,
                  billable: 4,
                  cost: 0.54,
                },
              ],
              breakdown: [
                {
                  date: '2026-12-01',
                  channel: 'sms',
                  caller: 'backend',
                  template: '1',
                  sent: 3,
                  rejected: 1,
                  failed: 0,
                  unknown: 0,
                  refused: 2,
                  scheduled: 1,
                  billable: 4,
                  cost: 0.54,
                },
              ],
              totals: {
                sms: { sent: 3, rejected: 1, failed: 0, unknown: 0, refused: 2, scheduled: 1, billable: 4, cost: 0.54 },
                voice: { sent: 0, rejected: 0, failed: 0, unknown: 0, refused: 0, scheduled: 0, billable: 0, cost: 0 },
              },
              quota: { sms: { purchased: 20740, used: 13818, remaining: 6922, remainingRatio: 0.3337, since: '2026-11-01' }, voice: null },
            },
          },
        },
      },
    },
    errors: [400, 401, 403, 500, 503],
  },
];

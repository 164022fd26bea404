import * as z from 'zod/mini';
import { InvalidRequestError } from '../errors.ts';
import { longSmsRequest } from '../provider/request.ts';
import { parseText, variableNames } from '../templates/render.ts';
import { resolveSms } from '../templates/resolve.ts';
import { checkPlainParams } from '../templates/rules.ts';
import { type ChannelSpec, commonJobFields, FIELD_LIMITS, isRecord, text } from './base.ts';
import { WITH_DRY_RUN } from './dry-run.ts';

/** Long SMS (长短信): a catalog template by `skin`, its values in `params`. */

const RESERVED_NAMES = new Set(['__proto__', 'constructor', 'prototype']);

const paramValue = text(FIELD_LIMITS.paramLength).check(
  z.refine((s) => !s.includes('|'), {
    error: 'must not contain "|": the provider joins parameters with it and cannot escape it',
  }),
);

export const smsJobSchema = z.strictObject({
  channel: z.optional(z.literal('sms')),
  ...commonJobFields,
  skin: text(FIELD_LIMITS.skinLength).check(z.minLength(1, { error: 'is required' })),
  params: z.union(
    [
      z.array(paramValue).check(z.maxLength(FIELD_LIMITS.paramCount)),
      z.record(
        z.string().check(
          z.regex(/^[\w\u4e00-\u9fff]{1,32}$/),
          // `__proto__` would be dropped silently by the object it lands in, `constructor` and
          // `prototype` would shadow Object's own: none can be a template variable.
          z.refine((k) => !RESERVED_NAMES.has(k), { error: 'must not be __proto__, constructor or prototype' }),
        ),
        paramValue,
      ),
    ],
    { error: 'must be an array of strings in template order, or an object of strings by variable name' },
  ),
  sign: z.optional(text(FIELD_LIMITS.signLength).check(z.minLength(1))),
});

export type SmsJob = Omit<z.infer<typeof smsJobSchema>, 'channel'> & { channel: 'sms' };

export const sms: ChannelSpec<SmsJob, 'long-sms'> = {
  channel: 'sms',
  functionName: 'long-sms',
  path: '/sms',
  urlVariable: 'LONG_SMS_URL',
  defaultUrl: 'https://largesms.market.alicloudapi.com/largesms',
  schema: smsJobSchema,
  checkRaw(raw, prefix) {
    // zod skips a `__proto__` key without a word; a variable silently lost would send a wrong text.
    if (isRecord(raw.params) && Object.hasOwn(raw.params, '__proto__')) {
      throw new InvalidRequestError(
        `${prefix}params.__proto__ must not be __proto__, constructor or prototype`,
        `${prefix}params.__proto__`,
      );
    }
  },
  request(url, job, resolve) {
    // Named params and the template's own sign come from the catalog when it has the skin.
    const r = resolve(job);
    return Array.isArray(r) ? longSmsRequest(url, job, r) : longSmsRequest(url, { ...job, sign: r.sign }, r.params);
  },
  fingerprintExtra: (job) => JSON.stringify(job.params),
  scrubTexts: (_job, request) => request.query.map(([, v]) => v),
  price: 'long-sms',
  // SMS: only marketing texts wait for the sending hours; notifications and codes go at once.
  quietHours: { applies: (kind) => kind === 'marketing', what: 'marketing SMS' },
  dryRun: WITH_DRY_RUN
    ? {
        segments: true,
        checkRaw(raw) {
          // `|` and line breaks get their own rule ids even though the job schema refuses `|` too.
          const p = raw.params;
          if (Array.isArray(p) && p.every((v) => typeof v === 'string')) return checkPlainParams(p as string[], 'job.params');
          if (isRecord(p)) {
            return Object.entries(p).flatMap(([k, v]) =>
              typeof v === 'string' ? checkPlainParams([v], `job.params.${k}`).map((f) => ({ ...f, path: `job.params.${k}` })) : [],
            );
          }
          return [];
        },
        run(job, { catalog, url, now }) {
          const r = resolveSms(job, catalog, now, 'job.');
          const findings = [...r.findings];
          if (!r.template && Array.isArray(job.params)) {
            findings.push({
              path: 'job.skin',
              rule: 'catalog.unknown-skin',
              message: `skin "${job.skin}" is not in the template catalog, so the text, its length and the param count cannot be checked; add it to templates.json`,
              severity: 'warning',
            });
          }
          const { params } = r;
          return {
            findings,
            text: r.rendered,
            request: params && longSmsRequest(url, { ...job, sign: r.sign }, params),
            extra: { skin: job.skin, kind: r.template?.kind ?? null },
          };
        },
      }
    : undefined,
  notify: {
    check(rule, { templates, err, variables }) {
      if (rule.content !== undefined)
        err('.content', 'notify.channel', 'content is for voice rules; an SMS rule names a catalog template with skin');
      if (rule.skin === undefined) {
        err('.skin', 'notify.channel', 'an SMS rule needs skin (a long-sms template of this catalog)');
        return;
      }
      const t = templates.find((x) => x.skin === rule.skin && (x.provider ?? 'long-sms') === 'long-sms');
      if (!t) {
        err('.skin', 'notify.unknown-skin', `skin "${rule.skin}" is not a long-sms template of this catalog; add it to templates`);
        return;
      }
      variables(variableNames(parseText(t.text)), (v) => `#${v}#`, `template ${t.skin} needs`, `template ${t.skin} has no variable`);
    },
    job: (rule, phone, values) => ({ channel: 'sms', phone, skin: rule.skin, params: values, ...(rule.sign ? { sign: rule.sign } : {}) }),
  },
};

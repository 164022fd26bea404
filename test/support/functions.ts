import { createFunction, type FunctionSpec } from '#shared/fc/app';
import type { RuntimeOptions } from '#shared/fc/runtime';
import { spec as longSms } from '../../functions/long-sms/spec.ts';
import { spec as templateValidate } from '../../functions/template-validate/spec.ts';
import { spec as voiceNotify } from '../../functions/voice-notify/spec.ts';
import { asHttpResult, fcContext, type HttpEventInput, type HttpResult, httpEvent } from './fc.ts';

/** The three functions exactly as functions/*\/index.ts wire them (their spec.ts), for tests that cover every route. */
export const SPECS: Record<'long-sms' | 'voice-notify' | 'template-validate', FunctionSpec> = {
  'long-sms': longSms,
  'voice-notify': voiceNotify,
  'template-validate': templateValidate,
};

/** Every route that needs a caller key, with a body that would pass validation. */
export const PROTECTED_ROUTES = [
  { fn: 'long-sms', path: '/sms', body: { phone: '13800138000', skin: '1', params: ['1234'] } },
  { fn: 'voice-notify', path: '/voice', body: { phone: '13800138000', content: '您好，您的快递已送达。' } },
  { fn: 'long-sms', path: '/sms/verify', body: { phone: '13800138000' } },
  { fn: 'voice-notify', path: '/voice/verify', body: { phone: '13800138000' } },
  { fn: 'long-sms', path: '/verify/check', body: { phone: '13800138000', code: '123456' } },
  { fn: 'voice-notify', path: '/verify/check', body: { phone: '13800138000', code: '123456' } },
  {
    fn: 'template-validate',
    path: '/templates/validate',
    body: { template: { skin: '1', kind: 'verification', text: '【测试】您的验证码是#code#' } },
  },
] as const;

export type Invoker = ((input: HttpEventInput & { query?: Record<string, string> }) => Promise<HttpResult>) & {
  handler: ReturnType<typeof createFunction>;
};

/** All three functions with the same options (tests that cover every route). */
export function invokers(options: RuntimeOptions): Record<keyof typeof SPECS, Invoker> {
  const fns = {} as Record<keyof typeof SPECS, Invoker>;
  for (const fn of Object.keys(SPECS) as Array<keyof typeof SPECS>) fns[fn] = invoker(fn, options);
  return fns;
}

/** Builds one function and a helper that invokes it with an HTTP event (optionally with query parameters). */
export function invoker(fn: keyof typeof SPECS, options: RuntimeOptions): Invoker {
  const handler = createFunction(SPECS[fn], options);
  const call = async (input: HttpEventInput & { query?: Record<string, string> }) => {
    let event: Buffer = httpEvent(input);
    if (input.query) {
      const parsed = JSON.parse(event.toString('utf8')) as Record<string, unknown>;
      parsed.queryParameters = input.query;
      event = Buffer.from(JSON.stringify(parsed));
    }
    return asHttpResult(await handler(event, fcContext()));
  };
  return Object.assign(call, { handler });
}

/**
 * Env that turns the per-phone, verification and caller-per-minute limits and the quiet hours off,
 * for tests that send to one phone many times at any hour (limits and sending hours have their own
 * tests). The caller's and the global daily limits stay at their defaults; add them where needed.
 */
export const LIMITS_AND_QUIET_HOURS_OFF: Readonly<Record<string, string>> = {
  QUIET_HOURS: 'off',
  LIMIT_PHONE_INTERVAL_S: '0',
  LIMIT_PHONE_DAILY: '0',
  LIMIT_VERIFICATION_INTERVAL_S: '0',
  LIMIT_VERIFICATION_HOURLY: '0',
  LIMIT_VERIFICATION_DAILY: '0',
  LIMIT_CALLER_PER_MINUTE: '0',
};

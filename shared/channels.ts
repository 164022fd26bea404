import type { SmsParamResolver } from './core/send.ts';
import type { Channel, Job, SmsJob, VoiceJob } from './jobs.ts';
import { longSmsRequest, type ProviderRequest, voiceRequest } from './provider/request.ts';
import type { TemplateKind } from './templates/rules.ts';

/**
 * One description per channel: everything that differs between long SMS and voice, in one
 * place. Every module that used to ask "sms or voice?" reads it here, and `CHANNELS` is typed
 * by `Channel`, so adding a channel to `Channel` does not compile until its description exists
 * (no ternary can route a third channel to voice silently). How to add one: docs/architecture.md.
 */
export interface ChannelSpec<J extends Job = Job> {
  channel: J['channel'];
  /** The function's HTTP path (`POST <path>`, `DELETE <path>/<id>`). */
  path: `/${string}`;
  /** The environment variable with the provider's URL, and its default (config.ts reads it from here). */
  urlVariable: string;
  defaultUrl: string;
  /** The provider request for a job (query parameters in the vendor's order, provider/request.ts). */
  request(url: string, job: J, resolveSmsParams: SmsParamResolver): ProviderRequest;
  /** What the job's fingerprint adds beyond its JSON (same key + other params = a conflict). */
  fingerprintExtra(job: J): string;
  /** The caller's texts that the provider may echo: scrubbed from its answer before logging. */
  scrubTexts(job: J, request: ProviderRequest): string[];
  /** Whether QUIET_HOURS applies to a job of this template kind, and how a refusal names it. */
  quietHours: { applies(kind: TemplateKind | undefined): boolean; what: string };
}

const sms: ChannelSpec<SmsJob> = {
  channel: 'sms',
  path: '/sms',
  urlVariable: 'LONG_SMS_URL',
  defaultUrl: 'https://largesms.market.alicloudapi.com/largesms',
  request(url, job, resolve) {
    // Named params and the template's own sign come from the catalog when it has the skin.
    const r = resolve(job);
    return Array.isArray(r) ? longSmsRequest(url, job, r) : longSmsRequest(url, { ...job, sign: r.sign }, r.params);
  },
  fingerprintExtra: (job) => JSON.stringify(job.params),
  scrubTexts: (_job, request) => request.query.map(([, v]) => v),
  // SMS: only marketing texts wait for the sending hours; notifications and codes go at once.
  quietHours: { applies: (kind) => kind === 'marketing', what: 'marketing SMS' },
};

const voice: ChannelSpec<VoiceJob> = {
  channel: 'voice',
  path: '/voice',
  urlVariable: 'VOICE_URL',
  defaultUrl: 'https://yytz.market.alicloudapi.com/chuangxin/yytz',
  request: (url, job) => voiceRequest(url, job),
  fingerprintExtra: () => '',
  scrubTexts: (job) => [job.content],
  // A call rings: every voice call but a verification code waits for the sending hours.
  quietHours: { applies: (kind) => kind !== 'verification', what: 'voice calls' },
};

export const CHANNELS: { readonly [C in Channel]: ChannelSpec<Extract<Job, { channel: C }>> } = { sms, voice };

/** The description of `job`'s channel, typed for that job. */
export function specOf<J extends Job>(job: J): ChannelSpec<J> {
  return CHANNELS[job.channel] as unknown as ChannelSpec<J>;
}

import * as z from 'zod/mini';
import { InvalidRequestError } from '../errors.ts';
import { voiceRequest } from '../provider/request.ts';
import { countChars } from '../templates/count.ts';
import { type ChannelSpec, commonJobFields, FIELD_LIMITS, text } from './base.ts';
import { WITH_DRY_RUN } from './dry-run.ts';

/** Voice notification (语音通知): the vendor calls and speaks `content`. */

export const voiceJobSchema = z.strictObject({
  channel: z.optional(z.literal('voice')),
  ...commonJobFields,
  // Length is checked after parsing so that an over-long text gets CONTENT_TOO_LONG.
  content: text(10_000).check(z.minLength(1, { error: 'is required' })),
});

export type VoiceJob = Omit<z.infer<typeof voiceJobSchema>, 'channel'> & { channel: 'voice' };

export const voice: ChannelSpec<VoiceJob, 'voice-notify'> = {
  channel: 'voice',
  functionName: 'voice-notify',
  path: '/voice',
  urlVariable: 'VOICE_URL',
  defaultUrl: 'https://yytz.market.alicloudapi.com/chuangxin/yytz',
  schema: voiceJobSchema,
  checkJob(job, prefix) {
    if (job.content.length > FIELD_LIMITS.voiceContentLength) {
      throw new InvalidRequestError(
        `${prefix}content is over ${FIELD_LIMITS.voiceContentLength} characters`,
        `${prefix}content`,
        'CONTENT_TOO_LONG',
      );
    }
  },
  request: (url, job) => voiceRequest(url, job),
  fingerprintExtra: () => '',
  scrubTexts: (job) => [job.content],
  price: 'voice',
  // A call rings: every voice call but a verification code waits for the sending hours.
  quietHours: { applies: (kind) => kind !== 'verification', what: 'voice calls' },
  dryRun: WITH_DRY_RUN
    ? {
        segments: false,
        run: (job, { url, checkVoiceContent }) => {
          const findings = checkVoiceContent(job.content, 'job.content');
          return { findings, text: job.content, request: voiceRequest(url, job) };
        },
      }
    : undefined,
  notify: {
    check(rule, { err, variables, placeholders, fill }) {
      if (rule.skin !== undefined || rule.sign !== undefined)
        err('.skin', 'notify.channel', 'skin and sign are for SMS rules; a voice rule speaks its content');
      if (rule.content === undefined) {
        err('.content', 'notify.channel', 'a voice rule needs content (the text to speak, with {name} placeholders)');
        return;
      }
      const holes = placeholders(rule.content);
      variables(holes, (v) => `{${v}}`, 'content uses', 'content has no placeholder');
      const fixed = countChars(fill(rule.content, Object.fromEntries(holes.map((h) => [h, '']))));
      if (fixed > 500) err('.content', 'length.max', `content is ${fixed} characters without its values; voice takes at most 500`);
    },
    job: (rule, phone, values, { fill }) => ({ channel: 'voice', phone, content: fill(rule.content ?? '', values) }),
  },
};

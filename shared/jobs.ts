import { type ChannelSpec, isRecord } from './channels/base.ts';
import { CHANNELS, type Channel, type Job } from './channels/index.ts';
import { ChannelMismatchError, InvalidRequestError } from './errors.ts';
import { normalizePhone } from './phone.ts';
import { parseOrThrow } from './validation.ts';

// The job types and schemas live with their channel (shared/channels/); named here for the many importers.
export { FIELD_LIMITS, isRecord } from './channels/base.ts';
export type { Channel, Job } from './channels/index.ts';
export { type SmsJob, smsJobSchema } from './channels/sms.ts';
export { type VoiceJob, voiceJobSchema } from './channels/voice.ts';

/**
 * Validates one job for `channel`, by its description (schema and checks). Phone numbers come
 * back normalised to 11 digits. `prefix` points error paths into the real payload (e.g. `jobs[3].`).
 */
export function parseJob(raw: unknown, channel: Channel, prefix = ''): Job {
  const at = prefix.replace(/\.$/, '');
  if (!isRecord(raw)) throw new InvalidRequestError(`${at || 'body'} must be a JSON object`, at || '(body)');
  if (raw.channel !== undefined && raw.channel !== channel) {
    throw new ChannelMismatchError(channel, String(raw.channel), prefix);
  }
  const spec = CHANNELS[channel] as unknown as ChannelSpec<Job>;
  spec.checkRaw?.(raw, prefix);
  const job = parseOrThrow(spec.schema, raw, at);
  spec.checkJob?.(job, prefix);
  return { ...job, channel, phone: normalizePhone(job.phone, `${prefix}phone`) } as Job;
}

import type { TemplateKind, TemplateKindOf } from '../guards/template-kind.ts';
import type { Job } from '../jobs.ts';

/**
 * Jobs built by the verification flow carry their kind without a catalog: an SMS with an
 * uncatalogued skin and a voice call are verification codes all the same, so the verification
 * limits (counted across both channels) and the sending-hours exemption apply to them.
 * A voice call placed as the fallback of an SMS start is the same start: its verification limits
 * were counted by the SMS and are not counted again.
 */
const verification = new WeakSet<Job>();
const fallbacks = new WeakSet<Job>();

export function markVerification(job: Job, options: { fallback?: boolean } = {}): Job {
  verification.add(job);
  if (options.fallback) fallbacks.add(job);
  return job;
}

export const isVerificationFallback = (job: Job): boolean => fallbacks.has(job);

/** `kindOf`, answering `verification` for the flow's jobs. */
export function withVerificationKind(kindOf: TemplateKindOf): TemplateKindOf {
  return (job): TemplateKind | undefined => (verification.has(job) ? 'verification' : kindOf(job));
}

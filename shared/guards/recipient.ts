import type { RecipientPolicy } from '../config.ts';
import { GuardRefusal } from '../errors.ts';
import type { Job } from '../jobs.ts';

/**
 * Who may receive: mainland mobiles only (parseJob already refuses anything else), then the
 * deployment's denylist, then its allowlist when one is set. Phones here are normalised.
 * Refusals never repeat the number.
 */
export function recipientGuard(policy: RecipientPolicy): (job: Job) => Promise<void> {
  return async (job) => {
    if (policy.deny.some((p) => job.phone.startsWith(p))) {
      throw new GuardRefusal('RECIPIENT_BLOCKED', "phone is on this deployment's denylist (PHONE_DENYLIST)", 'denylist');
    }
    if (policy.allow.length > 0 && !policy.allow.some((p) => job.phone.startsWith(p))) {
      throw new GuardRefusal('RECIPIENT_BLOCKED', "phone is not in this deployment's allowlist (PHONE_ALLOWLIST)", 'allowlist');
    }
  };
}

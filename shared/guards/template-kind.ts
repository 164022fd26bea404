import type { Job } from '../jobs.ts';

export type TemplateKind = 'verification' | 'notification' | 'marketing';

/**
 * The kind of template a job uses: verification codes get stricter limits and are never
 * deferred (a late code is useless); marketing SMS keep to sending hours.
 *
 * Seam for the template catalog (shared/templates/): it knows each `skin`'s kind and fills this
 * in. Until then no job has a kind, so only the plain per-phone limits and, for voice, sending
 * hours apply. Tests and the local server may inject their own via RuntimeOptions.templateKindOf.
 */
export function templateKindOf(_job: Job): TemplateKind | undefined {
  return undefined;
}

export type TemplateKindOf = (job: Job) => TemplateKind | undefined;

import type { Job } from '../jobs.ts';
import type { Catalog } from '../templates/catalog.ts';

import type { TemplateKind } from '../templates/rules.ts';

export type { TemplateKind };

export type TemplateKindOf = (job: Job) => TemplateKind | undefined;

/**
 * The kind of template a job uses: verification codes get stricter limits and are never
 * deferred (a late code is useless); marketing SMS keep to sending hours.
 *
 * The template catalog knows each SMS `skin`'s kind. A skin not in the catalog, and voice
 * content, have no kind: only the plain per-phone limits and, for voice, sending hours apply.
 * Tests may inject their own via RuntimeOptions.templateKindOf.
 */
export function catalogKindOf(catalog: Catalog | undefined): TemplateKindOf {
  // A job names a catalog template by its `skin` (SMS); other jobs have none.
  return (job) => ('skin' in job ? catalog?.get(job.skin)?.kind : undefined);
}

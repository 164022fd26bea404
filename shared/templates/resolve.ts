import { type ErrorCode, InvalidRequestError } from '../errors.ts';
import type { SmsJob } from '../jobs.ts';
import type { Catalog } from './catalog.ts';
import { checkParams, checkPlainParams, type Finding, sendingHoursFinding, type TemplateEntry } from './rules.ts';

/**
 * An SMS job against the catalog: the ordered params, the sign, and every finding. Shared by the
 * sender (refuses on any error, before any provider call) and the dry run (reports them all).
 */

export interface ResolvedSms {
  template: TemplateEntry | undefined;
  /** Values in template order; undefined when they cannot be resolved. */
  params: string[] | undefined;
  sign: string | undefined;
  rendered: string | undefined;
  findings: Finding[];
}

/** The catalog's SMS template for a skin (voice entries are not SMS templates). */
export function smsTemplate(catalog: Catalog | undefined, skin: string): TemplateEntry | undefined {
  const t = catalog?.get(skin);
  return t && (t.provider ?? 'long-sms') === 'long-sms' ? t : undefined;
}

export function resolveSms(
  job: Pick<SmsJob, 'skin' | 'params' | 'sign'>,
  catalog: Catalog | undefined,
  at: Date,
  prefix = '',
): ResolvedSms {
  const path = `${prefix}params`;
  const template = smsTemplate(catalog, job.skin);
  if (!template) {
    if (Array.isArray(job.params)) {
      // No catalog entry: users may not keep one, so array params go through as given.
      return { template, params: [...job.params], sign: job.sign, rendered: undefined, findings: checkPlainParams(job.params, path) };
    }
    const finding: Finding = {
      path: `${prefix}skin`,
      rule: 'catalog.unknown-skin',
      message: `params given by name need skin "${job.skin}" in the template catalog; add it to templates.json or send params as an array in template order`,
      severity: 'error',
    };
    return { template, params: undefined, sign: job.sign, rendered: undefined, findings: [finding] };
  }
  const checked = checkParams(template, job.params, path);
  const findings = [...checked.findings];
  const hours = sendingHoursFinding(template, at, `${prefix}skin`);
  if (hours) findings.push(hours);
  return { template, params: checked.values, sign: job.sign ?? template.sign, rendered: checked.rendered, findings };
}

// When several rules fail, the caller's own mistake is named first.
const CODE_ORDER: ErrorCode[] = ['INVALID_REQUEST', 'TEMPLATE_MISMATCH', 'CONTENT_TOO_LONG', 'OUTSIDE_SENDING_HOURS'];

export function errorCodeFor(rule: Finding['rule']): ErrorCode {
  if (rule === 'param.pipe' || rule === 'param.newline') return 'INVALID_REQUEST';
  if (rule === 'length.max') return 'CONTENT_TOO_LONG';
  if (rule === 'marketing.sending-hours') return 'OUTSIDE_SENDING_HOURS';
  return 'TEMPLATE_MISMATCH';
}

/** Throws the NotifyError for the findings' errors, naming the first problem and its rule. */
export function throwIfErrors(findings: readonly Finding[]): void {
  const errors = findings.filter((f) => f.severity === 'error');
  if (errors.length === 0) return;
  const ranked = [...errors].sort((a, b) => CODE_ORDER.indexOf(errorCodeFor(a.rule)) - CODE_ORDER.indexOf(errorCodeFor(b.rule)));
  const first = ranked[0] as Finding;
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more problem(s); POST /templates/validate lists them all)` : '';
  throw new InvalidRequestError(`${first.path}: ${first.message} [${first.rule}]${more}`, first.path, errorCodeFor(first.rule));
}

/**
 * The sender's hook (SenderDeps.resolveSmsParams): refuses before any provider call.
 * Sending hours are left to the quiet-hours guard (shared/guards/quiet-hours.ts), which knows
 * the configured window and whether a queued job is deferred or refused; the dry run still
 * reports them.
 */
export function createCatalogResolver(catalog: Catalog | undefined) {
  return (job: SmsJob): { params: string[]; sign: string | undefined } => {
    const r = resolveSms(job, catalog, new Date());
    throwIfErrors(r.findings.filter((f) => f.rule !== 'marketing.sending-hours'));
    return { params: r.params as string[], sign: r.sign };
  };
}

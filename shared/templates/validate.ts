import { CHANNELS } from '../channels.ts';
import { InvalidRequestError } from '../errors.ts';
import { validateTemplate } from '../generated/catalog-validator.js';
import { type Channel, type Job, parseJob } from '../jobs.ts';
import { encodeQuery, longSmsRequest, type ProviderRequest, requestUrl, voiceRequest } from '../provider/request.ts';
import type { Catalog } from './catalog.ts';
import { schemaFindings } from './catalog-check.ts';
import { countChars, segmentsFor } from './count.ts';
import { resolveSms } from './resolve.ts';
import { checkPlainParams, checkTemplate, checkVoiceContent, type Finding, type RuleId, type TemplateEntry } from './rules.ts';

/**
 * `POST /templates/validate`: a template's rule results, or a dry run of a job (what would be
 * sent, how long, how many segments, what it costs). Nothing is ever sent from here.
 */

export interface Issue {
  path: string;
  rule: RuleId;
  message: string;
}

export interface ValidationAnswer {
  valid: boolean;
  errors: Issue[];
  warnings: Issue[];
  /** User-perceived characters, signature included; null when the text cannot be known. */
  length: number | null;
  /** SMS segments (≤70 → 1, else 67 each); null for voice or an unknown text. */
  segments: number | null;
  preview: string | null;
  [extra: string]: unknown;
}

const issue = (f: Finding): Issue => ({ path: f.path, rule: f.rule, message: f.message });

/** The channels there are, from their descriptions (shared/channels.ts). */
const CHANNEL_NAMES = Object.keys(CHANNELS) as Channel[];

function split(findings: readonly Finding[]): Pick<ValidationAnswer, 'valid' | 'errors' | 'warnings'> {
  const errors = findings.filter((f) => f.severity === 'error').map(issue);
  return { valid: errors.length === 0, errors, warnings: findings.filter((f) => f.severity === 'warning').map(issue) };
}

export function validateTemplateBody(raw: unknown): ValidationAnswer {
  if (!validateTemplate(raw)) {
    return { ...split(schemaFindings(validateTemplate.errors ?? [], 'template')), length: null, segments: null, preview: null };
  }
  const t = raw as TemplateEntry;
  const r = checkTemplate(t, 'template');
  const provider = t.provider ?? 'long-sms';
  return {
    ...split(r.findings),
    length: r.length,
    segments: provider === 'voice' ? null : r.segments,
    preview: r.preview,
    kind: t.kind,
    provider,
    variables: [...new Set(r.parsed.variables.map((v) => v.name))],
    // Without example values only the fixed text is measured.
    measured: t.example !== undefined && r.preview !== t.text ? 'example' : 'fixed-text',
  };
}

export interface DryRunDeps {
  catalog: Catalog | undefined;
  /** Each channel's provider URL, for the request a dry run shows. */
  urls: { readonly [C in Channel]: string };
  now: Date;
}

function describeRequest(req: ProviderRequest): { method: 'GET'; url: string; query: Record<string, string>; rawQuery: string } {
  return { method: 'GET', url: requestUrl(req), query: Object.fromEntries(req.query), rawQuery: encodeQuery(req.query) };
}

function rawParamFindings(raw: Record<string, unknown>): Finding[] {
  // `|` and line breaks get their own rule ids even though the job schema refuses `|` too.
  const p = raw.params;
  if (Array.isArray(p) && p.every((v) => typeof v === 'string')) return checkPlainParams(p as string[], 'job.params');
  if (p && typeof p === 'object' && !Array.isArray(p)) {
    return Object.entries(p).flatMap(([k, v]) =>
      typeof v === 'string' ? checkPlainParams([v], `job.params.${k}`).map((f) => ({ ...f, path: `job.params.${k}` })) : [],
    );
  }
  return [];
}

function parseFailure(err: InvalidRequestError): Finding {
  const rule: RuleId = err.code === 'CONTENT_TOO_LONG' ? 'length.max' : err.code === 'INVALID_PHONE' ? 'phone.invalid' : 'schema';
  return { path: err.path ?? 'job', rule, message: err.message, severity: 'error' };
}

export function dryRunJob(raw: unknown, deps: DryRunDeps): ValidationAnswer {
  const empty = { length: null, segments: null, preview: null, sent: false };
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return {
      ...split([
        { path: 'job', rule: 'schema', message: 'must be a JSON object (a job as POST /sms or /voice takes it)', severity: 'error' },
      ]),
      ...empty,
    };
  }
  const obj = raw as Record<string, unknown>;
  // The job's channel from the channel descriptions; a job without one is an SMS job (as POST /sms
  // takes it), and a name no description has is refused by name, never checked as SMS.
  const named = obj.channel === undefined ? 'sms' : CHANNEL_NAMES.find((c) => c === obj.channel);
  if (named === undefined) {
    return {
      ...split([
        {
          path: 'job.channel',
          rule: 'schema',
          message: `channel must be one of ${CHANNEL_NAMES.join(', ')}, got ${JSON.stringify(obj.channel).slice(0, 40)}`,
          severity: 'error',
        },
      ]),
      ...empty,
    };
  }
  const channel: Channel = named;
  const pre = channel === 'sms' ? rawParamFindings(obj) : [];
  let job: Job;
  try {
    job = parseJob(obj, channel, 'job.');
  } catch (err) {
    if (!(err instanceof InvalidRequestError)) throw err;
    const f = parseFailure(err);
    const covered = pre.some((p) => f.path.startsWith(p.path) || p.path.startsWith(f.path));
    return { ...split(covered ? pre : [...pre, f]), ...empty, channel };
  }

  if (job.channel === 'voice') {
    const findings = checkVoiceContent(job.content, 'job.content');
    const answer = split(findings);
    const price = deps.catalog?.pricePerCall('voice');
    return {
      ...answer,
      length: countChars(job.content),
      segments: null,
      preview: job.content,
      channel: 'voice',
      cost: price === undefined ? null : { calls: 1, yuanPerCall: price, yuan: price },
      request: answer.valid ? describeRequest(voiceRequest(deps.urls.voice, job)) : null,
      sent: false,
    };
  }

  const r = resolveSms(job, deps.catalog, deps.now, 'job.');
  const findings = [...r.findings];
  if (!r.template && Array.isArray(job.params)) {
    findings.push({
      path: 'job.skin',
      rule: 'catalog.unknown-skin',
      message: `skin "${job.skin}" is not in the template catalog, so the text, its length and the param count cannot be checked; add it to templates.json`,
      severity: 'warning',
    });
  }
  const answer = split(findings);
  const length = r.rendered === undefined ? null : countChars(r.rendered);
  const price = deps.catalog?.pricePerCall('long-sms') ?? 0.135;
  return {
    ...answer,
    length,
    segments: length === null ? null : segmentsFor(length),
    preview: r.rendered ?? null,
    channel: 'sms',
    skin: job.skin,
    kind: r.template?.kind ?? null,
    // One long-SMS send is billed as one call, whatever its segments (vendor package pricing).
    cost: { calls: 1, yuanPerCall: price, yuan: price },
    request: answer.valid && r.params ? describeRequest(longSmsRequest(deps.urls.sms, { ...job, sign: r.sign }, r.params)) : null,
    sent: false,
  };
}

/**
 * A template check's cost per send (the operators' console shows it beside the length): one call at
 * the catalog's price for the template's provider (long SMS is billed per call, whatever its
 * segments); null when no price is known (voice without `pricing.voice`).
 */
function withCost(answer: ValidationAnswer, catalog: Catalog | undefined): ValidationAnswer {
  if (answer.kind === undefined) return answer; // schema failure: nothing to price
  const provider = answer.provider === 'voice' ? 'voice' : 'long-sms';
  const price = catalog?.pricePerCall(provider) ?? (provider === 'long-sms' ? 0.135 : undefined);
  return { ...answer, cost: price === undefined ? null : { calls: 1, yuanPerCall: price, yuan: price } };
}

/** The body: exactly one of `template` or `job`. Anything else is the caller's mistake (400). */
export function validateBody(body: Record<string, unknown>, deps: DryRunDeps): ValidationAnswer {
  const keys = Object.keys(body);
  const unknown = keys.filter((k) => k !== 'template' && k !== 'job');
  if (unknown.length > 0)
    throw new InvalidRequestError(
      `body has unknown field(s): ${unknown
        .slice(0, 5)
        .map((k) => k.slice(0, 40))
        .join(', ')}; send {"template":{…}} or {"job":{…}}`,
      '(body)',
    );
  const hasTemplate = body.template !== undefined;
  const hasJob = body.job !== undefined;
  if (hasTemplate === hasJob) throw new InvalidRequestError('send exactly one of {"template":{…}} or {"job":{…}}', '(body)');
  if (hasTemplate) {
    if (body.template === null || typeof body.template !== 'object' || Array.isArray(body.template)) {
      throw new InvalidRequestError('template must be a JSON object with skin, kind and text', 'template');
    }
    return withCost(validateTemplateBody(body.template), deps.catalog);
  }
  return dryRunJob(body.job, deps);
}

import type { ChannelSpec } from '../channels/base.ts';
import { CHANNEL_NAMES, CHANNELS } from '../channels/index.ts';
import { InvalidRequestError } from '../errors.ts';
import { validateTemplate } from '../generated/catalog-validator.js';
import { type Channel, type Job, parseJob } from '../jobs.ts';
import { encodeQuery, type ProviderRequest, requestUrl } from '../provider/request.ts';
import { type Catalog, priceOf } from './catalog.ts';
import { schemaFindings } from './catalog-check.ts';
import { countChars, segmentsFor } from './count.ts';
import { checkTemplate, checkVoiceContent, type Finding, type RuleId, type TemplateEntry } from './rules.ts';

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
  // What differs per channel (what to check, which request to show, the price) is its description's dry run.
  const spec = CHANNELS[channel] as unknown as ChannelSpec<Job>;
  const dry = spec.dryRun;
  // Only a sending function's bundle lacks it (WITH_DRY_RUN), and no sending function dry-runs.
  if (!dry) throw new Error('no dry run in this bundle');
  const pre = dry.checkRaw?.(obj) ?? [];
  let job: Job;
  try {
    job = parseJob(obj, channel, 'job.');
  } catch (err) {
    if (!(err instanceof InvalidRequestError)) throw err;
    const f = parseFailure(err);
    const covered = pre.some((p) => f.path.startsWith(p.path) || p.path.startsWith(f.path));
    return { ...split(covered ? pre : [...pre, f]), ...empty, channel };
  }

  const r = dry.run(job, { catalog: deps.catalog, url: deps.urls[channel], now: deps.now, checkVoiceContent });
  const answer = split(r.findings);
  const length = r.text === undefined ? null : countChars(r.text);
  const price = priceOf(spec.price, deps.catalog);
  return {
    ...answer,
    length,
    segments: dry.segments && length !== null ? segmentsFor(length) : null,
    preview: r.text ?? null,
    channel,
    ...r.extra,
    // One send is billed as one call, whatever its segments (vendor package pricing).
    cost: price === undefined ? null : { calls: 1, yuanPerCall: price, yuan: price },
    request: answer.valid && r.request ? describeRequest(r.request) : null,
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
  const price = priceOf(answer.provider === 'voice' ? 'voice' : 'long-sms', catalog);
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

import * as z from 'zod/mini';
import type { SmsParamResolver } from '../core/send.ts';
import type { ProviderRequest } from '../provider/request.ts';
import type { Finding, TemplateEntry, TemplateKind, TemplateProvider } from '../templates/rules.ts';
import type { DryRun } from './dry-run.ts';

/**
 * What every channel description is made of (`ChannelSpec`), and the job fields every channel
 * shares. The channel files (`sms.ts`, `voice.ts`) import this module and nothing that imports
 * them back, so `shared/jobs.ts` can read the registry without an import cycle.
 */

export const FIELD_LIMITS = {
  /** Long SMS: the provider caps the whole text at 200 characters. */
  paramLength: 200,
  paramCount: 20,
  /** Voice: the vendor registers texts of up to 500 characters. */
  voiceContentLength: 500,
  idempotencyKeyLength: 200,
  skinLength: 64,
  signLength: 64,
} as const;

/** A plain object (not null, not an array): the one definition, used by every event guard. */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

// C0 controls other than TAB/LF/CR, DEL, and lone surrogates cannot be sent as text.
// Char codes rather than a regex: Biome refuses control characters in a regex literal.
function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f) return true;
  }
  return false;
}

/** A text field of at most `max` UTF-16 units that can be sent (no control characters, valid Unicode). */
export const text = (max: number) =>
  z.string().check(
    z.maxLength(max),
    z.refine((s) => !hasControl(s), { error: 'must not contain control characters' }),
    z.refine((s) => s.isWellFormed(), { error: 'must be valid Unicode text' }),
  );

const sendAt = z.string().check(
  z.refine((s) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(s) && !Number.isNaN(Date.parse(s)), {
    error: 'must be an ISO-8601 time with a zone, e.g. 2026-05-01T09:00:00+08:00',
  }),
);

/** The fields of every job: spread into each channel's `z.strictObject`. */
export const commonJobFields = {
  phone: z.string().check(z.minLength(1, { error: 'is required' })),
  idempotencyKey: z.optional(text(FIELD_LIMITS.idempotencyKeyLength).check(z.minLength(1))),
  sendAt: z.optional(sendAt),
};

/** What every job has once parsed: its channel and the phone (normalised to 11 digits by parseJob). */
export interface BaseJob {
  channel: string;
  phone: string;
  idempotencyKey?: string | undefined;
  sendAt?: string | undefined;
}

/** A notify-on-upload rule as a channel sees it (shared/notify/rules.ts `NotifyRule`). */
export interface ChannelRule {
  channel: string;
  skin?: string;
  sign?: string;
  content?: string;
  params?: Record<string, unknown>;
}

export interface RuleCheckContext {
  templates: readonly TemplateEntry[];
  /**
   * Reports the rule's `params` against the variables its text has: each variable needs a
   * source (`<needs> #a#, #b#; give each a source in params`) and each source a variable
   * (`<hasNo> #c#`), names shown by `mark`.
   */
  variables(names: readonly string[], mark: (name: string) => string, needs: string, hasNo: string): void;
  /** Reports an error at `notifications[i]<path>`, message prefixed by the rule's name. */
  err(path: string, rule: Finding['rule'], message: string): void;
  /** The `{name}` placeholders of a text, in order, distinct; and the text filled from values. */
  placeholders(content: string): string[];
  fill(content: string, values: Record<string, string>): string;
}

/**
 * One description per channel: everything that differs between channels, in one file per
 * channel, listed once in `shared/channels/index.ts`. Every module that used to ask "sms or
 * voice?" reads it there. How to add a channel: docs/architecture.md.
 */
export interface ChannelSpec<J extends BaseJob = BaseJob, F extends string = string> {
  channel: J['channel'];
  /** The FC function that sends this channel (its folder under functions/, its name in s.yaml). */
  functionName: F;
  /** The function's HTTP path (`POST <path>`, `DELETE <path>/<id>`, `GET <path>/<id>`). */
  path: `/${string}`;
  /** The environment variable with the provider's URL, and its default (config.ts reads it from here). */
  urlVariable: string;
  defaultUrl: string;
  /** The job schema (a `z.strictObject` with `channel: z.optional(z.literal(name))` and `...commonJobFields`). */
  schema: z.ZodMiniType<Omit<J, 'channel'> & { channel?: J['channel'] | undefined }, unknown>;
  /** Checks on the raw object before the schema (`prefix` points into the payload, e.g. `jobs[3].`). */
  checkRaw?(raw: Record<string, unknown>, prefix: string): void;
  /** Checks on the parsed job after the schema. */
  checkJob?(job: Omit<J, 'channel'>, prefix: string): void;
  /** The provider request for a job (query parameters in the vendor's order, provider/request.ts). */
  request(url: string, job: J, resolveSmsParams: SmsParamResolver): ProviderRequest;
  /** What the job's fingerprint adds beyond its JSON (same key + other params = a conflict). */
  fingerprintExtra(job: J): string;
  /** The caller's texts that the provider may echo: scrubbed from its answer before logging. */
  scrubTexts(job: J, request: ProviderRequest): string[];
  /** Which price of the catalog (`pricing`, templates.json) one send costs; none: no cost is shown. */
  price: TemplateProvider | undefined;
  /** Whether QUIET_HOURS applies to a job of this template kind, and how a refusal names it. */
  quietHours: { applies(kind: TemplateKind | undefined): boolean; what: string };
  /**
   * The dry run of `POST /templates/validate` (./dry-run.ts). Write it as `WITH_DRY_RUN ? { … } : undefined`:
   * only template-validate uses it, and the sending bundles drop it then.
   */
  dryRun: DryRun<J> | undefined;
  /** Notify-on-upload (shared/notify/rules.ts): how a rule of this channel is checked and makes its job. */
  notify: {
    check(rule: ChannelRule, ctx: RuleCheckContext): void;
    job(rule: ChannelRule, phone: string, values: Record<string, string>, ctx: Pick<RuleCheckContext, 'fill'>): Record<string, unknown>;
  };
}

import type { ProviderRequest } from '../provider/request.ts';
import type { Catalog } from '../templates/catalog.ts';
import type { Finding } from '../templates/rules.ts';
import type { BaseJob } from './base.ts';

declare const __FCN_DRY_RUN__: boolean | undefined;
/**
 * Whether this code carries the channels' dry runs (`ChannelSpec.dryRun`): true from source (tsx,
 * vitest) and in template-validate's bundle. scripts/build.ts defines `__FCN_DRY_RUN__` (false for
 * the sending functions), so esbuild drops each `WITH_DRY_RUN ? {…} : undefined` from their bundles:
 * they never run a dry run and the bytes count against their budget. (A module with no runtime import:
 * esbuild inlines a constant into other modules only when nothing is evaluated before it.)
 */
export const WITH_DRY_RUN = typeof __FCN_DRY_RUN__ === 'undefined' || __FCN_DRY_RUN__;

/** The dry run of `POST /templates/validate` as a channel describes it (`ChannelSpec.dryRun`). */

/** What a channel's dry run (`POST /templates/validate` with a job) is given. */
export interface DryRunContext {
  catalog: Catalog | undefined;
  /** The channel's provider URL. */
  url: string;
  now: Date;
  /**
   * The voice text rules (shared/templates/rules.ts), passed in rather than imported: an import
   * from a channel file would put them in the sending bundles, where nothing uses them.
   */
  checkVoiceContent(content: string, path: string): Finding[];
}

/** What a channel's dry run found; shared/templates/validate.ts turns it into the answer. */
export interface DryRunResult {
  findings: Finding[];
  /** The text that would be sent (rendered template, spoken content); undefined when unknown. */
  text: string | undefined;
  /** The provider request when it can be built (shown when nothing is wrong). */
  request: ProviderRequest | undefined;
  /** Fields the answer adds for this channel (e.g. `skin`, `kind`). */
  extra?: Record<string, unknown>;
}

/** A channel's dry run: what to check, which text and request to show, which price one send costs. */
export interface DryRun<J extends BaseJob> {
  /** Whether the answer counts SMS segments (else `segments: null`). */
  segments: boolean;
  /** Findings on the raw job, before parsing (their own rule ids for mistakes the schema also refuses). */
  checkRaw?(raw: Record<string, unknown>): Finding[];
  run(job: J, ctx: DryRunContext): DryRunResult;
}

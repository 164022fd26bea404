import type { ChannelSpec } from './base.ts';
import { sms } from './sms.ts';
import { voice } from './voice.ts';

/**
 * The registry: every channel, one line each. `Channel`, `Job`, the function names, parseJob,
 * the routes' paths, the URL variables, the dry run and the notify rules all come from here.
 * How to add a channel: docs/architecture.md.
 */
export const CHANNELS = {
  sms,
  voice,
} as const;

export type Channel = keyof typeof CHANNELS;
/** The job of a channel, as its description types it. */
export type JobOf<C extends Channel> = (typeof CHANNELS)[C] extends ChannelSpec<infer J, string> ? J : never;
export type Job = { [C in Channel]: JobOf<C> }[Channel];
/** The sending functions' names (functions/<name>/), one per channel. */
export type ChannelFunctionName = (typeof CHANNELS)[Channel]['functionName'];

type Assert<T extends true> = T;
/** A description listed under another channel's name does not compile. */
export type KeysAreChannelNames = Assert<{ [C in Channel]: (typeof CHANNELS)[C]['channel'] extends C ? true : false }[Channel]>;

/** The channels there are, in registry order. */
export const CHANNEL_NAMES = /* @__PURE__ */ Object.keys(CHANNELS) as Channel[];

/** Each channel's default provider URL (config.ts reads the variables; tools and tests start from these). */
export function defaultUrls(): { [C in Channel]: string } {
  return Object.fromEntries(CHANNEL_NAMES.map((c) => [c, CHANNELS[c].defaultUrl])) as { [C in Channel]: string };
}

/** The description of `job`'s channel, typed for that job. */
export function specOf<J extends Job>(job: J): ChannelSpec<J> {
  return CHANNELS[job.channel] as unknown as ChannelSpec<J>;
}

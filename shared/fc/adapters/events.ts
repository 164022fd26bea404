import { tryAdapter } from './adapter.ts';
import { adapter as mnsQueue } from './mns-queue.ts';
import { streamAdapter as mnsStream, adapter as mnsTopic } from './mns-topic.ts';
import { adapter as oss } from './oss.ts';
import { adapter as timer } from './timer.ts';

export { RawMessage } from './mns-topic.ts';

/**
 * Async trigger adapters, each picked by its documented type guard; order matters (STREAM `{body}` last).
 * shared/fc/app.ts loads this module with `await import()` on the first event that is not an HTTP
 * request, so an HTTP cold start does not evaluate the OSS, MNS and timer code (issue 15).
 */
export const EVENT_ADAPTERS = [tryAdapter(timer), tryAdapter(mnsTopic), tryAdapter(mnsQueue), tryAdapter(oss), tryAdapter(mnsStream)];

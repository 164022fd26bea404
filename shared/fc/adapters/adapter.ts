import type { BatchSummary } from '../../core/batch.ts';
import type { FcContext, Runtime } from '../runtime.ts';
import type { HttpResponse, Route } from './http.ts';

/** What one invocation hands an adapter: FC's context, the instance's runtime and the function's routes. */
export interface Invocation {
  fc: FcContext;
  rt: Runtime;
  routes: readonly Route[];
}

/**
 * The one face of every trigger adapter: each `adapters/<trigger>.ts` exports `adapter`, a type
 * guard that narrows the event (`matches(v): v is E`, so `handle` needs no cast) and a handler.
 * Async triggers answer a BatchSummary; HTTP answers an HttpResponse.
 */
export interface Adapter<E, R = BatchSummary> {
  readonly trigger: 'http' | 'mns-topic' | 'mns-stream' | 'mns-queue' | 'oss' | 'timer';
  matches(v: unknown): v is E;
  handle(event: E, call: Invocation): Promise<R>;
}

export type HttpAdapter<E> = Adapter<E, HttpResponse>;

/** Runs `v` through the first adapter whose guard accepts it; undefined when none does. */
export function dispatch<R>(
  adapters: ReadonlyArray<(v: unknown, call: Invocation) => Promise<R> | undefined>,
  v: unknown,
  call: Invocation,
) {
  for (const a of adapters) {
    const p = a(v, call);
    if (p) return p;
  }
  return undefined;
}

/** An adapter as a function that declines (undefined) the events its guard refuses. */
export function tryAdapter<E, R>(a: Adapter<E, R>): (v: unknown, call: Invocation) => Promise<R> | undefined {
  return (v, call) => (a.matches(v) ? a.handle(v, call) : undefined);
}

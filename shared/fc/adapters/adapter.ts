import {
  DEFAULT_BATCH_CONCURRENCY,
  DEFAULT_FUNCTION_TIMEOUT_S,
  DEFAULT_MAX_JOBS_PER_EVENT,
  DEFAULT_SCHEDULE_LIMITS,
  DEFAULT_UPSTREAM_RETRIES,
  DEFAULT_UPSTREAM_TIMEOUT_MS,
} from '../../config.ts';
import type { BatchDeps, BatchSummary } from '../../core/batch.ts';
import { claimTtlMs } from '../../core/idempotency.ts';
import type { ScheduleDeps } from '../../core/schedule.ts';
import { PoisonEventError } from '../../errors.ts';
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

/**
 * The core's dependencies from FC's context and the runtime: the one place that reads
 * `fc.function.timeout` and the runtime's config for the core (defaults from config.ts).
 */
export function scheduleDeps(rt: Runtime): ScheduleDeps {
  return {
    store: rt.store,
    now: rt.now,
    logger: rt.logger,
    limits: rt.config?.schedule ?? DEFAULT_SCHEDULE_LIMITS,
    rateLimits: rt.config?.limits,
    limiter: rt.limiter,
  };
}

export interface BatchCall {
  /** Trigger kind: `mns`, `oss`, `timer`. */
  source: string;
  /** Upper bound on the invocation's own length (EventBridge caps at 5 min). */
  maxInvocationMs?: number;
  /** When the invocation started (epoch ms), for adapters that run several batches in one invocation (OSS chunks). */
  startedAt?: number;
}

export function batchDeps(fc: FcContext, rt: Runtime, call: BatchCall): BatchDeps {
  const startedAt = call.startedAt ?? rt.now();
  const timeoutS = fc.function?.timeout ?? DEFAULT_FUNCTION_TIMEOUT_S;
  const budget = Math.min(timeoutS * 1000, call.maxInvocationMs ?? Number.POSITIVE_INFINITY);
  const c = rt.config;
  const upstreamWorst =
    (c?.upstreamTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS) * ((c?.upstreamRetries ?? DEFAULT_UPSTREAM_RETRIES) + 1) + 2000;
  return {
    ...scheduleDeps(rt),
    source: call.source,
    channel: rt.channel,
    sender: rt.sender,
    configProblem: rt.configError?.message,
    requestId: fc.requestId ?? 'event',
    startedAt,
    // Stop taking new jobs while one more send still fits before the platform kills us.
    deadline: startedAt + Math.max(budget / 2, budget - upstreamWorst),
    claimTtlMs: claimTtlMs(timeoutS),
    concurrency: c?.batchConcurrency ?? DEFAULT_BATCH_CONCURRENCY,
  };
}

/** EventBridge's cap on one invocation (MNS queue sources). */
export const FIVE_MINUTES_MS = 5 * 60 * 1000;

/** MAX_JOBS_PER_EVENT of this runtime. */
export function maxJobsPerEvent(rt: Runtime): number {
  return rt.config?.maxJobsPerEvent ?? DEFAULT_MAX_JOBS_PER_EVENT;
}

/** Logs (error level, `event-refused`) and throws a PoisonEventError. */
export function poisonEvent(
  rt: Runtime,
  fc: FcContext,
  reason: PoisonEventError['reason'],
  message: string,
  fields: Record<string, unknown>,
): never {
  rt.logger.error({ event: 'event-refused', requestId: fc.requestId, reason, ...fields }, `poison event: ${message}`);
  throw new PoisonEventError(`poison event: ${message}; the invocation fails so the platform retries it and then dead-letters it`, reason);
}

/** An event with more jobs than MAX_JOBS_PER_EVENT, refused before any job is read (sending only the first N would leave the rest silently behind). */
export function refuseEvent(source: string, jobs: number, fc: FcContext, rt: Runtime): never {
  const max = maxJobsPerEvent(rt);
  return poisonEvent(rt, fc, 'too-many-jobs', `event holds ${jobs} jobs, over MAX_JOBS_PER_EVENT (${max}); nothing was sent`, {
    source,
    jobs,
    max,
  });
}

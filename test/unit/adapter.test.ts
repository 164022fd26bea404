import { describe, expect, it } from 'vitest';
import { DEFAULT_BATCH_CONCURRENCY, DEFAULT_SCHEDULE_LIMITS, loadConfig } from '#shared/config';
import { batchDeps, FIVE_MINUTES_MS } from '#shared/fc/adapters/adapter';
import type { Runtime } from '#shared/fc/runtime';
import { createLogger } from '#shared/log';
import { MemoryStore } from '#shared/store/memory';

/**
 * shared/fc/adapters/adapter.ts's `batchDeps`: the one place that turns FC's context (function
 * timeout, request id) and the runtime's config into the core's plain dependencies.
 */

const NOW = Date.parse('2026-03-02T03:00:00Z');

function runtime(env: Record<string, string> | undefined): Runtime {
  const config = env ? loadConfig({ SANDBOX: '1', STORE: 'memory', ALLOW_UNAUTHENTICATED: '1', ...env }) : undefined;
  return {
    name: 'long-sms',
    channel: 'sms',
    config,
    configError: undefined,
    logger: createLogger(),
    store: new MemoryStore(() => NOW),
    limiter: undefined,
    sender: undefined,
    catalog: undefined,
    now: () => NOW,
  };
}

describe('batchDeps', () => {
  it('stops new jobs while the worst upstream attempt still fits in the function timeout', () => {
    // 60 s timeout; 5 s × (2 retries + 1) + 2 s = 17 s worst case → deadline 43 s after the start.
    const d = batchDeps({ requestId: 'r', function: { timeout: 60 } }, runtime({}), { source: 'mns' });
    expect(d.deadline - NOW).toBe(43_000);
    expect(d.startedAt).toBe(NOW);
    expect(d.claimTtlMs).toBe(90_000);
    expect(d.requestId).toBe('r');
    expect(d.concurrency).toBe(DEFAULT_BATCH_CONCURRENCY);
  });

  it('keeps at least half the budget, and caps it by the invocation limit', () => {
    const short = batchDeps({ function: { timeout: 20 } }, runtime({}), { source: 'mns', startedAt: NOW - 5000 });
    expect(short.deadline).toBe(NOW - 5000 + 10_000);
    const capped = batchDeps({ function: { timeout: 600 } }, runtime({}), { source: 'mns', maxInvocationMs: FIVE_MINUTES_MS });
    expect(capped.deadline - NOW).toBe(FIVE_MINUTES_MS - 17_000);
    expect(capped.claimTtlMs).toBe(630_000);
  });

  it('reads the configuration, and config.ts defaults without one', () => {
    const configured = batchDeps({}, runtime({ BATCH_CONCURRENCY: '3', UPSTREAM_TIMEOUT_MS: '1000', SCHEDULE_EXPIRE_HOURS: '2' }), {
      source: 'oss',
    });
    expect(configured.concurrency).toBe(3);
    expect(configured.deadline - NOW).toBe(60_000 - 5000);
    expect(configured.limits.expireHours).toBe(2);
    const bare = batchDeps({}, runtime(undefined), { source: 'timer' });
    expect(bare.limits).toEqual(DEFAULT_SCHEDULE_LIMITS);
    expect(bare.requestId).toBe('event');
    expect(bare.rateLimits).toBeUndefined();
  });
});

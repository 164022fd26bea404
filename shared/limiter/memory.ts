import { randomUUID } from 'node:crypto';
import { memoryKey } from '../hash.ts';
import { type LimitDecision, type Limiter, type LimitRule, makeToken, tokenTime, windowEnd, windowIndex, windowKey } from './limiter.ts';

/** One instance's counters: for local runs and tests. Limits do not hold across instances. */
export class MemoryLimiter implements Limiter {
  readonly kind = 'memory' as const;
  readonly #counters = new Map<string, { count: number; expiresAt: number }>();
  readonly #lastSend = new Map<string, { token: string; at: number; expiresAt: number }>();
  #sweptAt = 0;

  async consume(rules: readonly LimitRule[], now: number): Promise<LimitDecision> {
    this.#sweep(now);
    let refusal: { retryAt: number; rule: string } | undefined;
    for (const rule of rules) {
      let retryAt: number | undefined;
      if (rule.kind === 'interval') {
        const last = this.#lastSend.get(memoryKey(rule.key));
        if (last && now - last.at < rule.intervalMs) retryAt = last.at + rule.intervalMs;
      } else {
        const count = this.#counters.get(memoryKey(windowKey(rule, now)))?.count ?? 0;
        if (count >= rule.limit) retryAt = windowEnd(windowIndex(now, rule.windowMs), rule.windowMs);
      }
      if (retryAt !== undefined && (refusal === undefined || retryAt > refusal.retryAt)) refusal = { retryAt, rule: rule.name };
    }
    if (refusal) return { allowed: false, ...refusal };
    const token = makeToken(now, randomUUID());
    for (const rule of rules) {
      if (rule.kind === 'interval') {
        this.#lastSend.set(memoryKey(rule.key), { token, at: now, expiresAt: now + rule.intervalMs });
      } else {
        const key = memoryKey(windowKey(rule, now));
        const c = this.#counters.get(key);
        if (c) c.count += 1;
        else this.#counters.set(key, { count: 1, expiresAt: windowEnd(windowIndex(now, rule.windowMs), rule.windowMs) });
      }
    }
    return { allowed: true, token };
  }

  async refund(rules: readonly LimitRule[], token: string): Promise<void> {
    const at = tokenTime(token);
    for (const rule of rules) {
      if (rule.kind === 'interval') {
        if (this.#lastSend.get(memoryKey(rule.key))?.token === token) this.#lastSend.delete(memoryKey(rule.key));
      } else {
        const c = this.#counters.get(memoryKey(windowKey(rule, at)));
        if (c && c.count > 0) c.count -= 1;
      }
    }
  }

  /** Expired entries only cost memory (keys carry their window), so sweep now and then, not per call. */
  #sweep(now: number): void {
    if (now - this.#sweptAt < 10_000) return;
    this.#sweptAt = now;
    for (const [k, v] of this.#counters) if (v.expiresAt <= now) this.#counters.delete(k);
    for (const [k, v] of this.#lastSend) if (v.expiresAt <= now) this.#lastSend.delete(k);
  }

  async close(): Promise<void> {
    this.#counters.clear();
    this.#lastSend.clear();
  }
}

import { describe, expect, it } from 'vitest';
import { claimTtlMs, DEFAULT_CLAIM_TTL_MS, fingerprint, OUTCOME_TTL_MS } from '#shared/core/idempotency';
import type { Job } from '#shared/jobs';

describe('idempotency rules', () => {
  it('a claim lives the function timeout plus 30 s (60 s when FC does not say)', () => {
    expect(claimTtlMs(60)).toBe(90_000);
    expect(claimTtlMs(600)).toBe(630_000);
    expect(claimTtlMs()).toBe(90_000);
    expect(DEFAULT_CLAIM_TTL_MS).toBe(90_000);
  });

  it('an outcome is remembered 24 h', () => {
    expect(OUTCOME_TTL_MS).toBe(86_400_000);
  });

  it('the fingerprint ignores the key and key order, and sees every field and param', () => {
    const a: Job = { channel: 'sms', phone: '13800138000', skin: '1', params: ['x', 'y'], idempotencyKey: 'k1' };
    const b = { idempotencyKey: 'k2', params: ['x', 'y'], skin: '1', phone: '13800138000', channel: 'sms' } as Job;
    expect(fingerprint(a)).toBe(fingerprint(b));
    expect(fingerprint({ ...a, params: ['x', 'z'] } as Job)).not.toBe(fingerprint(a));
    expect(fingerprint({ ...a, phone: '13800138001' })).not.toBe(fingerprint(a));
    const v: Job = { channel: 'voice', phone: '13800138000', content: '您好' };
    expect(fingerprint({ ...v, content: '再见' })).not.toBe(fingerprint(v));
    expect(fingerprint(a)).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });
});

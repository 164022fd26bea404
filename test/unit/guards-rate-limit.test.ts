import { describe, expect, it } from 'vitest';
import { DEFAULT_RATE_LIMITS } from '#shared/config';
import { limitRules } from '#shared/guards/rate-limit';

describe('which limits apply to whom', () => {
  const job = { channel: 'sms' as const, phone: '13800138000', skin: '1', params: ['1234'] };
  it("an HTTP caller gets per-caller limits; the deployer's own triggers (caller undefined) do not", () => {
    const http = limitRules(job, 'backend', undefined, DEFAULT_RATE_LIMITS).map((r) => r.name);
    const trigger = limitRules(job, undefined, undefined, DEFAULT_RATE_LIMITS).map((r) => r.name);
    expect(http).toEqual(expect.arrayContaining(['phone-interval', 'phone-daily', 'caller-per-minute', 'caller-daily', 'global-daily']));
    expect(trigger).toEqual(['phone-interval', 'phone-daily', 'global-daily']);
  });
});

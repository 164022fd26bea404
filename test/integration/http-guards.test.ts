import { describe, expect, it } from 'vitest';
import { invoker } from '../support/functions.ts';
import { startWorld } from '../support/world.ts';

const KEY = 'caller-key-guards-0123456789';
const auth = { authorization: `Bearer ${KEY}` };
const { fake, providerEnv } = await startWorld({});
// 2026-03-10 22:30 Beijing.
const LATE_EVENING = Date.UTC(2026, 2, 10, 14, 30);

const env = (extra: Record<string, string> = {}) => ({
  ...providerEnv,
  API_KEYS: `app:${KEY}`,
  ...extra,
});

describe('guards in the send path, over HTTP', () => {
  it('a denylisted number gets 422 RECIPIENT_BLOCKED and nothing reaches the provider', async () => {
    const sms = invoker('long-sms', { env: env({ PHONE_DENYLIST: '170,1380013' }) });
    const res = await sms({ path: '/sms', headers: auth, body: { phone: '+86 138 0013 8000', skin: '1', params: ['1'] } });
    expect(res.statusCode).toBe(422);
    expect(res.json.error).toEqual({
      code: 'RECIPIENT_BLOCKED',
      message: "phone is on this deployment's denylist (PHONE_DENYLIST)",
      retryable: false,
    });
    expect(fake.requests).toHaveLength(0);
  });

  it('with an allowlist, only its prefixes are sent to', async () => {
    const sms = invoker('long-sms', { env: env({ PHONE_ALLOWLIST: '139' }) });
    expect((await sms({ path: '/sms', headers: auth, body: { phone: '13800138000', skin: '1', params: ['1'] } })).json.error.code).toBe(
      'RECIPIENT_BLOCKED',
    );
    expect((await sms({ path: '/sms', headers: auth, body: { phone: '13900139000', skin: '1', params: ['1'] } })).statusCode).toBe(200);
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]!.query.phone).toBe('13900139000');
  });

  it('a voice call at 22:30 Beijing time is refused with Retry-After until 09:00; SMS still go', async () => {
    const voice = invoker('voice-notify', { env: env(), now: () => LATE_EVENING });
    const res = await voice({ path: '/voice', headers: auth, body: { phone: '13800138000', content: '您好' } });
    expect(res.statusCode).toBe(422);
    expect(res.json.error.code).toBe('OUTSIDE_SENDING_HOURS');
    expect(res.json.error.retryable).toBe(true);
    expect(res.headers['retry-after']).toBe(String(10.5 * 3600));
    const sms = invoker('long-sms', { env: env(), now: () => LATE_EVENING });
    expect((await sms({ path: '/sms', headers: auth, body: { phone: '13800138000', skin: '1', params: ['1'] } })).statusCode).toBe(200);
    expect(fake.requests.map((r) => r.path)).toEqual(['/largesms']);
  });

  it('a refused send does not take the idempotency key: the same key sends once the guard allows it', async () => {
    const clock = { t: LATE_EVENING };
    const voice = invoker('voice-notify', { env: env(), now: () => clock.t });
    const job = { phone: '13800138000', content: '您好', idempotencyKey: 'night-call-1' };
    expect((await voice({ path: '/voice', headers: auth, body: job })).statusCode).toBe(422);
    clock.t += 11 * 3600_000;
    const res = await voice({ path: '/voice', headers: auth, body: job });
    expect(res.statusCode).toBe(200);
    expect(res.json.replayed).toBe(false);
    expect(fake.requests).toHaveLength(1);
  });

  it('a send refused by a limit does not take the idempotency key either', async () => {
    const clock = { t: Date.UTC(2026, 2, 10, 4) };
    const sms = invoker('long-sms', { env: env(), now: () => clock.t });
    expect((await sms({ path: '/sms', headers: auth, body: { phone: '13800138000', skin: '1', params: ['1'] } })).statusCode).toBe(200);
    const job = { phone: '13800138000', skin: '1', params: ['2'], idempotencyKey: 'limited-1' };
    expect((await sms({ path: '/sms', headers: auth, body: job })).statusCode).toBe(429);
    clock.t += 60_000;
    const res = await sms({ path: '/sms', headers: auth, body: job });
    expect(res.statusCode).toBe(200);
    expect(fake.requests).toHaveLength(2);
  });
});

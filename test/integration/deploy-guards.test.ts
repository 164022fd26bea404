import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MisroutedJobsError } from '#shared/errors';
import { MemoryStore } from '#shared/store/memory';
import { RedisStore } from '#shared/store/redis';
import { cloudEvent, EVENT_CALLER_KEY, eventFunction, nextPhone, phonesSent, smsJob, topicEvent, voiceJob } from '../support/events.ts';
import { asBuffer, asHttpResult, fcContext, httpEvent } from '../support/fc.ts';
import { startWorld } from '../support/world.ts';

/**
 * What a real account needs and no local run shows (issue 10, deploy half):
 * - a queue hands each message to ONE consumer, so a job for the other channel on a queue is a
 *   misrouting: the invocation fails (after sending the rest) so EventBridge retries and then
 *   dead-letters it, instead of acknowledging and losing it;
 * - a deployed sending function without REDIS_URL refuses to send unless STORE=memory was chosen.
 */

const { fake, logs } = await startWorld({});

describe('a job for the other channel on a queue (misrouted)', () => {
  it('sends the rest of the batch, then fails naming the misrouted message; the redelivery replays and fails again (so it is dead-lettered)', async () => {
    const sms = eventFunction('long-sms', fake, new MemoryStore());
    const phones = [nextPhone(), nextPhone()];
    const voicePhone = nextPhone();
    const misroutedId = `misrouted-${randomBytes(4).toString('hex')}`;
    const batch = [
      cloudEvent(JSON.stringify(smsJob(phones[0]!))),
      cloudEvent(JSON.stringify(voiceJob(voicePhone)), misroutedId),
      cloudEvent(JSON.stringify(smsJob(phones[1]!))),
    ];

    const err = await sms(asBuffer(batch), fcContext()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MisroutedJobsError);
    const e = err as MisroutedJobsError;
    expect(e.refs).toEqual([`msg ${misroutedId}`]);
    expect(e.message).toContain(`misrouted: msg ${misroutedId}`);
    expect(e.message).toContain('1 of 3 jobs');
    // No phone (masked or not) in the thrown message.
    expect(e.message).not.toMatch(/1\d{2}(\d{8}|\*{4}\d{4})/);
    expect(e.summary.counts).toEqual({ sent: 2, skipped: 1 });
    expect(e.summary.retry).toBe(1);
    expect(phonesSent(fake).sort()).toEqual([...phones].sort());
    const alert = logs.parsed().filter((l) => l.event === 'queue-misrouted' && l.level === 'error');
    expect(alert.map((l) => l.refs)).toContainEqual([`msg ${misroutedId}`]);

    // EventBridge retries the whole batch: nothing is sent twice, and it fails again (then the DLQ).
    const again = await sms(asBuffer(batch), fcContext()).catch((x: unknown) => x);
    expect(again).toBeInstanceOf(MisroutedJobsError);
    expect((again as MisroutedJobsError).summary.counts).toEqual({ replayed: 2, skipped: 1 });
    expect(fake.requests).toHaveLength(2);
  });

  it('one misrouted CloudEvent alone fails too (not acknowledged), and nothing is sent', async () => {
    const voice = eventFunction('voice-notify', fake, new MemoryStore());
    const err = await voice(asBuffer(cloudEvent(JSON.stringify(smsJob(nextPhone())), 'm-1')), fcContext()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MisroutedJobsError);
    expect((err as Error).message).toContain('misrouted: msg m-1');
    expect(fake.requests).toHaveLength(0);
  });

  it('a job without a channel on a queue is this function’s (not misrouted)', async () => {
    const sms = eventFunction('long-sms', fake, new MemoryStore());
    const { channel: _c, ...noChannel } = smsJob(nextPhone());
    expect(await sms(asBuffer(cloudEvent(JSON.stringify(noChannel))), fcContext())).toMatchObject({ ok: true, counts: { sent: 1 } });
  });

  it('on a topic (which fans out to both functions) the other channel is still skipped and acknowledged', async () => {
    const sms = eventFunction('long-sms', fake, new MemoryStore());
    expect(await sms(asBuffer(topicEvent(voiceJob(nextPhone()))), fcContext())).toMatchObject({ ok: true, counts: { skipped: 1 } });
  });
});

describe('the store a deployed function uses (STORE, REDIS_URL)', () => {
  const deployed = { FC_FUNCTION_NAME: 'long-sms' };
  const auth = { authorization: `Bearer ${EVENT_CALLER_KEY}` };

  it('deployed with STORE=redis and no REDIS_URL: refuses every send, naming REDIS_URL and STORE=memory; /healthz is 503', async () => {
    const fn = eventFunction('long-sms', fake, undefined as never, { store: undefined }, { ...deployed, STORE: 'redis', REDIS_URL: '' });
    expect(fn.runtime.configError?.variables).toContain('REDIS_URL');
    const res = asHttpResult(await fn(httpEvent({ path: '/sms', body: smsJob(nextPhone()), headers: auth }), fcContext()));
    expect(res.statusCode).toBe(500);
    expect(res.body).toContain('REDIS_URL is required');
    expect(res.body).toContain('STORE=memory');
    const health = asHttpResult(await fn(httpEvent({ method: 'GET', path: '/healthz', headers: auth }), fcContext()));
    expect(health.statusCode).toBe(503);
    expect(fake.requests).toHaveLength(0);
    expect(logs.text()).toContain('configuration invalid, refusing to send: REDIS_URL is required');
  });

  it('deployed with no STORE at all (e.g. set up in the console) and no REDIS_URL: refuses the same way', () => {
    const fn = eventFunction('long-sms', fake, undefined as never, { store: undefined }, deployed);
    expect(fn.runtime.configError?.message).toContain('REDIS_URL is required');
  });

  it('deployed with STORE=memory chosen on purpose: sends, with a warning in the log', async () => {
    const fn = eventFunction('long-sms', fake, undefined as never, { store: undefined }, { ...deployed, STORE: 'memory' });
    expect(fn.runtime.configError).toBeUndefined();
    expect(fn.runtime.store).toBeInstanceOf(MemoryStore);
    const res = asHttpResult(await fn(httpEvent({ path: '/sms', body: smsJob(nextPhone()), headers: auth }), fcContext()));
    expect(res.statusCode).toBe(200);
    expect(logs.text()).toContain('STORE=memory: idempotency, limits and schedules are kept per instance');
  });

  it('STORE=memory together with REDIS_URL is ambiguous and refused', () => {
    const fn = eventFunction(
      'long-sms',
      fake,
      undefined as never,
      { store: undefined },
      { STORE: 'memory', REDIS_URL: 'redis://127.0.0.1:1' },
    );
    expect(fn.runtime.configError?.variables).toContain('STORE');
  });

  it('deployed with REDIS_URL: the Redis store (STORE defaults to redis)', () => {
    const fn = eventFunction('long-sms', fake, undefined as never, { store: undefined }, { ...deployed, REDIS_URL: 'redis://127.0.0.1:1' });
    expect(fn.runtime.configError).toBeUndefined();
    expect(fn.runtime.store).toBeInstanceOf(RedisStore);
  });

  it('locally (no FC_FUNCTION_NAME) a blank REDIS_URL is the memory store, as `npm start` says', () => {
    const fn = eventFunction('long-sms', fake, undefined as never, { store: undefined });
    expect(fn.runtime.configError).toBeUndefined();
    expect(fn.runtime.store).toBeInstanceOf(MemoryStore);
  });

  it('template-validate (no store, no STORE in s.yaml) starts deployed without REDIS_URL', async () => {
    const { createRuntime } = await import('#shared/fc/runtime');
    const rt = createRuntime('template-validate', undefined, { env: { ...deployed, API_KEYS: `app:${EVENT_CALLER_KEY}` } });
    expect(rt.configError).toBeUndefined();
  });
});

import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { beforeEach, describe, expect, it } from 'vitest';
import { BatchRetryError } from '#shared/errors';
import { RedisStore } from '#shared/store/redis';
import type { Store } from '#shared/store/types';
import { cloudEvent, EVENT_CALLER_KEY, eventFunction, nextPhone, phonesSent, smsJob, topicEvent, voiceJob } from '../support/events.ts';
import { asBuffer, asHttpResult, fcContext, fixture, httpEvent } from '../support/fc.ts';
import { REDIS_URL } from '../support/redis.ts';
import { startWorld } from '../support/world.ts';

const { fake, logs, prefix: PREFIX, slots, stores } = await startWorld({ redis: true });

const auth = { authorization: `Bearer ${EVENT_CALLER_KEY}` };

describe.each(stores)('event triggers with the %s store', (_name, makeStore) => {
  let store: Store;
  let sms: ReturnType<typeof eventFunction>;
  let voice: ReturnType<typeof eventFunction>;
  beforeEach(() => {
    store = makeStore();
    sms = eventFunction('long-sms', fake, store);
    voice = eventFunction('voice-notify', fake, store);
  });

  describe('MNS topic', () => {
    it('JSON format (documented fixture): sends the job once; the same message redelivered is replayed, not sent', async () => {
      const event = fixture('mns-topic-json');
      (event as Record<string, unknown>).MessageId = `fixture-${randomBytes(4).toString('hex')}`;
      const first = await sms(asBuffer(event), fcContext());
      expect(first).toEqual({ ok: true, source: 'mns', total: 1, counts: { sent: 1 } });
      const again = await sms(asBuffer(event), fcContext());
      expect(again).toEqual({ ok: true, source: 'mns', total: 1, counts: { replayed: 1 } });
      expect(fake.requests).toHaveLength(1);
      expect(fake.requests[0]!.query).toMatchObject({ phone: '13800138000', skin: '1', param: '1234' });
    });

    it('JSON format with PublishTime as a string and attribute keys at top level', async () => {
      const phone = nextPhone();
      const event = topicEvent(smsJob(phone), undefined, { PublishTime: '1550216480040', Extend: '{"k":"v"}' });
      expect(await sms(asBuffer(event), fcContext())).toMatchObject({ ok: true, counts: { sent: 1 } });
      expect(phonesSent(fake)).toEqual([phone]);
    });

    it('STREAM format {body, attrs} (documented fixture) on the voice function, twice: one call', async () => {
      const event = fixture('mns-topic-stream-attrs');
      const phone = nextPhone();
      event.body = JSON.stringify(voiceJob(phone));
      expect(await voice(asBuffer(event), fcContext())).toMatchObject({ ok: true, counts: { sent: 1 } });
      expect(await voice(asBuffer(event), fcContext())).toMatchObject({ ok: true, counts: { replayed: 1 } });
      expect(phonesSent(fake)).toEqual([phone]);
      expect(fake.requests[0]!.path).toBe(new URL(fake.voiceUrl).pathname);
    });

    it('STREAM format raw message text (the job itself), twice: one send', async () => {
      const phone = nextPhone();
      const raw = Buffer.from(JSON.stringify(smsJob(phone, { idempotencyKey: `stream-${phone}` })));
      expect(await sms(raw, fcContext())).toMatchObject({ ok: true, counts: { sent: 1 } });
      expect(await sms(raw, fcContext())).toMatchObject({ ok: true, counts: { replayed: 1 } });
      expect(phonesSent(fake)).toEqual([phone]);
    });

    it('STREAM raw text that is not JSON is a poison message: logged with the reason, no send, no redelivery', async () => {
      const res = await sms(Buffer.from('hello, not a job'), fcContext());
      expect(res).toEqual({ ok: true, source: 'mns', total: 1, counts: { poison: 1 } });
      expect(fake.requests).toHaveLength(0);
      expect(logs.text()).toContain('message body is not valid JSON');
    });

    it('a job for the other channel is skipped and logged, not sent', async () => {
      const res = await sms(asBuffer(topicEvent(voiceJob(nextPhone()))), fcContext());
      expect(res).toMatchObject({ ok: true, counts: { skipped: 1 } });
      expect(fake.requests).toHaveLength(0);
      expect(logs.text()).toContain('job is for channel voice; this function sends sms');
    });
  });

  describe('MNS queue through EventBridge', () => {
    it('one CloudEvent (documented fixture, plain body), redelivered: sent once', async () => {
      const event = cloudEvent(fixture<Record<string, any>>('mns-queue-cloudevent').data.messageBody);
      expect(await sms(asBuffer(event), fcContext())).toMatchObject({ ok: true, counts: { sent: 1 } });
      expect(await sms(asBuffer(event), fcContext())).toMatchObject({ ok: true, counts: { replayed: 1 } });
      expect(fake.requests).toHaveLength(1);
    });

    it('a base64 messageBody is decoded', async () => {
      const phone = nextPhone();
      const event = cloudEvent(Buffer.from(JSON.stringify(smsJob(phone))).toString('base64'));
      expect(await sms(asBuffer(event), fcContext())).toMatchObject({ ok: true, counts: { sent: 1 } });
      expect(phonesSent(fake)).toEqual([phone]);
    });

    it('a batch (array of CloudEvents) and a RawData array, each delivered twice: every job reaches the provider once', async () => {
      const phones = [nextPhone(), nextPhone(), nextPhone()];
      const batch = phones.map((p) => cloudEvent(JSON.stringify(smsJob(p))));
      const raw = [nextPhone(), nextPhone()].map((p) => ({
        requestId: 'r',
        messageId: randomBytes(8).toString('hex'),
        messageBody: JSON.stringify(smsJob(p)),
      }));
      for (let i = 0; i < 2; i += 1) {
        await sms(asBuffer(batch), fcContext());
        await sms(asBuffer(raw), fcContext());
      }
      const sent = phonesSent(fake);
      expect(sent).toHaveLength(5);
      expect(new Set(sent)).toEqual(new Set([...phones, ...raw.map((r) => JSON.parse(r.messageBody).phone)]));
    });

    it('a batch with a poison message returns normally and sends the valid jobs', async () => {
      const good = [nextPhone(), nextPhone()];
      const batch = [
        cloudEvent(JSON.stringify(smsJob(good[0]!))),
        cloudEvent('{"phone": oops'),
        cloudEvent(JSON.stringify({ phone: '123', skin: '1', params: ['x'] })),
        cloudEvent(JSON.stringify(smsJob(good[1]!))),
      ];
      const res = await sms(asBuffer(batch), fcContext());
      expect(res).toMatchObject({ ok: true, total: 4, counts: { sent: 2, poison: 2 } });
      expect(new Set(phonesSent(fake))).toEqual(new Set(good));
      const poison = logs.parsed().filter((l) => l.event === 'batch-job' && l.status === 'poison');
      expect(poison.length).toBeGreaterThanOrEqual(2);
      expect(poison.map((l) => l.msg).join('\n')).toMatch(/not valid JSON[\s\S]*phone|phone[\s\S]*not valid JSON/);
    });

    it('a retryable failure throws after the rest of the batch is sent; the redelivery sends only that job', async () => {
      const phones = [nextPhone(), nextPhone(), nextPhone()];
      const batch = phones.map((p) => cloudEvent(JSON.stringify(smsJob(p))));
      fake.next({ kind: 'vendor', code: '106', message: '系统错误' });
      const err = await sms(asBuffer(batch), fcContext()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BatchRetryError);
      expect((err as BatchRetryError).summary.counts).toEqual({ sent: 2, failed: 1 });
      expect((err as Error).message).not.toMatch(/1391\d{7}/);
      expect(fake.requests).toHaveLength(3);
      const failedPhone = fake.requests[0]!.query.phone;
      expect(await sms(asBuffer(batch), fcContext())).toMatchObject({ ok: true, counts: { replayed: 2, sent: 1 } });
      expect(fake.requests).toHaveLength(4);
      expect(fake.requests[3]!.query.phone).toBe(failedPhone);
    });
  });

  describe('timer', () => {
    it('static reminders from the payload (documented fixture), the same tick twice: one call', async () => {
      const event = { ...fixture('timer'), triggerName: `daily-${randomBytes(3).toString('hex')}` };
      expect(await voice(asBuffer(event), fcContext())).toMatchObject({ ok: true, source: 'timer', counts: { sent: 1 } });
      expect(await voice(asBuffer(event), fcContext())).toMatchObject({ ok: true, counts: { replayed: 1 } });
      expect(fake.requests).toHaveLength(1);
      expect(fake.requests[0]!.query).toMatchObject({ mobile: '13800138000', content: '您好，今天下午三点有例会。' });
    });

    it('a payload that is not JSON is logged and the tick still completes', async () => {
      const res = await voice(asBuffer({ triggerTime: '2024-05-01T01:00:00Z', triggerName: 't', payload: 'not json' }), fcContext());
      expect(res).toMatchObject({ ok: true, counts: { poison: 1 } });
      expect(logs.text()).toContain('timer payload: message body is not valid JSON');
    });
  });

  describe('scheduling (sendAt) over HTTP, sent by the timer', () => {
    it('202 scheduled; the timer sends it once when due; DELETE cancels another', async () => {
      const clock = { t: Date.parse('2030-01-01T00:00:00Z') };
      const fn = eventFunction('long-sms', fake, store, { now: () => clock.t });
      const phone = nextPhone();
      const post = async (body: unknown) => asHttpResult(await fn(httpEvent({ path: '/sms', body, headers: auth }), fcContext()));
      const res = await post(smsJob(phone, { sendAt: '2030-01-01T09:00:00+08:00' }));
      expect(res.statusCode).toBe(202);
      expect(res.json).toEqual({
        status: 'scheduled',
        id: expect.stringMatching(/^[\w-]+$/),
        channel: 'sms',
        phone: `${phone.slice(0, 3)}****${phone.slice(7)}`,
        sendAt: '2030-01-01T09:00:00+08:00',
        idempotencyKey: expect.any(String),
      });
      const other = await post(smsJob(nextPhone(), { sendAt: '2030-01-01T09:00:00+08:00' }));
      const del = asHttpResult(await fn(httpEvent({ method: 'DELETE', path: `/sms/${other.json.id}`, headers: auth }), fcContext()));
      expect(del.statusCode).toBe(200);
      expect(del.json).toEqual({ status: 'cancelled', id: other.json.id, channel: 'sms' });
      const again = asHttpResult(await fn(httpEvent({ method: 'DELETE', path: `/sms/${other.json.id}`, headers: auth }), fcContext()));
      expect(again.statusCode).toBe(404);

      const tick = (t: string) => fn(asBuffer({ triggerTime: t, triggerName: 'scheduler', payload: '' }), fcContext());
      expect(await tick('2030-01-01T00:30:00Z')).toMatchObject({ ok: true, total: 0 });
      expect(fake.requests).toHaveLength(0);
      clock.t = Date.parse('2030-01-01T01:00:00Z');
      expect(await tick('2030-01-01T01:00:00Z')).toMatchObject({ ok: true, counts: { sent: 1 } });
      expect(await tick('2030-01-01T01:01:00Z')).toMatchObject({ ok: true, total: 0 });
      expect(phonesSent(fake)).toEqual([phone]);
    });

    it('a job from a queue with a future sendAt is scheduled, not sent', async () => {
      const phone = nextPhone();
      // Within SCHEDULE_MAX_DAYS (30 days by default; further ahead is a poison job, see event-limits and schedule-limits tests).
      const sendAt = new Date(Date.now() + 86_400_000).toISOString();
      const res = await sms(asBuffer(cloudEvent(JSON.stringify(smsJob(phone, { sendAt })))), fcContext());
      expect(res).toMatchObject({ ok: true, counts: { scheduled: 1 } });
      expect(fake.requests).toHaveLength(0);
    });
  });

  it('an unknown event shape is logged clearly and answered without a crash or a send', async () => {
    const res = await sms(asBuffer({ hello: 'world' }), fcContext());
    expect(res).toEqual({ ok: false, error: { code: 'INVALID_REQUEST', message: 'event shape not recognised; nothing was sent' } });
    expect(logs.text()).toContain('event shape not recognised');
    expect(fake.requests).toHaveLength(0);
  });
});

describe('two overlapping timer runs against Redis', () => {
  it('send each due job exactly once', async () => {
    const prefix = `${PREFIX}overlap:`;
    const conns = [slots.watch(new Redis(REDIS_URL)), slots.watch(new Redis(REDIS_URL))];
    try {
      const clock = { t: Date.parse('2030-06-01T00:00:00Z') };
      const [a, b] = conns.map((c) =>
        eventFunction('long-sms', fake, new RedisStore(() => Promise.resolve(c), { prefix }), { now: () => clock.t }),
      );
      const phones = Array.from({ length: 12 }, () => nextPhone());
      for (const p of phones) {
        const r = asHttpResult(
          await a!(httpEvent({ path: '/sms', body: smsJob(p, { sendAt: '2030-06-01T08:30:00+08:00' }), headers: auth }), fcContext()),
        );
        expect(r.statusCode).toBe(202);
      }
      clock.t = Date.parse('2030-06-01T01:00:00Z');
      const ev = (name: string) => asBuffer({ triggerTime: '2030-06-01T01:00:00Z', triggerName: name, payload: '' });
      await Promise.all([
        a!(ev('tick'), fcContext()),
        b!(ev('tick'), fcContext()),
        a!(ev('tick'), fcContext()),
        b!(ev('tick'), fcContext()),
      ]);
      const sent = phonesSent(fake);
      expect(sent).toHaveLength(12);
      expect(new Set(sent)).toEqual(new Set(phones));
    } finally {
      await Promise.all(conns.map((c) => c.quit()));
    }
  });
});

// Runs last: schedules, claims and ack on standalone Redis must still be one-slot operations.
it('every script and MULTI the event paths sent touched keys of one hash slot', () => {
  expect(slots.checked).toBeGreaterThanOrEqual(10);
  expect(slots.violations).toEqual([]);
});

import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RATE_LIMITS } from '#shared/config';
import { limitRules } from '#shared/guards/rate-limit';
import { RedisLimiter } from '#shared/limiter/redis';
import { RedisStore } from '#shared/store/redis';
import { closeRedisConnection, createRedisClient, redisConnection } from '#shared/store/redis-connection';
import { EVENT_CALLER_KEY, eventFunction, nextPhone, phonesSent, smsJob } from '../support/events.ts';
import { type FakeProvider, startFakeProvider } from '../support/fake-provider.ts';
import { asBuffer, asHttpResult, fcContext, fixture, httpEvent } from '../support/fc.ts';
import { type RedisChild, startRedisChild } from '../support/redis-child.ts';
import { countSocketWrites } from '../support/socket-writes.ts';

/**
 * Issue 15: commands issued in one tick leave in one socket write (shared/store/redis-writes.ts).
 * Counted on the client's own socket (each `_write`/`_writev` is one write syscall waking
 * redis-server), against this file's own redis-server. Before, a send wrote three times: its claim,
 * its limit scripts (issued at the same moment) and its record.
 */
let redis: RedisChild;
let fake: FakeProvider;
const clients: Redis[] = [];
const RUN = randomBytes(4).toString('hex');

beforeAll(async () => {
  redis = await startRedisChild();
  fake = await startFakeProvider();
  fake.fallback = { kind: 'vendor', code: 'OK', message: '发送成功' };
});
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await closeRedisConnection();
  await fake?.close();
  await redis?.close();
});

describe('one socket write per tick', () => {
  it('a claim and the limit scripts issued together leave in ONE write, and both are answered right', async () => {
    const c = await createRedisClient(redis.url);
    clients.push(c);
    const store = new RedisStore(async () => c, { prefix: `w${RUN}:` });
    const limiter = new RedisLimiter(async () => c, { prefix: `w${RUN}:limit:` });
    const rules = () =>
      limitRules({ channel: 'sms', phone: nextPhone('1392'), skin: '1', params: [] }, 'writes', undefined, DEFAULT_RATE_LIMITS);
    // Warm up: the connection, and EVALSHA → EVAL on a script's first use.
    await Promise.all([store.claim(`k-${RUN}-0`, 'fp', 60_000), limiter.consume(rules(), Date.now())]);
    const count = countSocketWrites([c.stream]);
    const [claim, limits] = await Promise.all([store.claim(`k-${RUN}-1`, 'fp', 60_000), limiter.consume(rules(), Date.now())]);
    expect(claim.kind).toBe('claimed');
    expect(limits.allowed).toBe(true);
    expect(count.chunks()).toBe(2); // the SET, the limits pipeline: two writes asked for …
    expect(count.writes()).toBe(1); // … one write made
    // The same claim again (a replay) is seen: the order on the connection is kept.
    count.reset();
    expect((await store.claim(`k-${RUN}-1`, 'fp', 60_000)).kind).toBe('in-progress');
    expect(count.writes()).toBe(2); // SET NX refused, then GET: two sequential writes
  });

  it('a keyed send through the handler (REDIS_URL, default limits): two socket writes (claim + limits, then the record), not three', async () => {
    const fn = eventFunction(
      'long-sms',
      fake,
      undefined as never,
      { store: undefined },
      { REDIS_URL: redis.url, LIMIT_PHONE_INTERVAL_S: '60', LOG_LEVEL: 'silent' },
    );
    const send = (idempotencyKey: string) =>
      fn(
        httpEvent({
          path: '/sms',
          body: { phone: nextPhone('1392'), skin: '1', params: ['1234'], idempotencyKey },
          headers: { authorization: `Bearer ${EVENT_CALLER_KEY}` },
        }),
        fcContext(),
      ).then(asHttpResult);
    expect((await send(`warm-${RUN}`)).statusCode).toBe(200);
    const count = countSocketWrites([(await redisConnection(redis.url)).stream]);
    const key = `send-${RUN}`;
    const res = await send(key);
    expect(res.statusCode).toBe(200);
    expect(res.json).toMatchObject({ status: 'sent' });
    expect(count.chunks()).toBe(3);
    expect(count.writes()).toBe(2);
  });

  it('an MNS queue batch: concurrent jobs issuing in the same tick share writes (fewer than two per job), each job sent once', async () => {
    const fn = eventFunction('long-sms', fake, undefined as never, { store: undefined }, { REDIS_URL: redis.url, LOG_LEVEL: 'silent' });
    const base = fixture<Record<string, any>>('mns-queue-cloudevent');
    const phones = Array.from({ length: 20 }, () => nextPhone('1392'));
    const batch = phones.map((phone, i) => ({
      ...base,
      id: `ce-${RUN}-${i}`,
      data: { ...base.data, messageId: `qw-${RUN}-${i}`, messageBody: JSON.stringify(smsJob(phone)) },
    }));
    await redisConnection(redis.url);
    const count = countSocketWrites([(await redisConnection(redis.url)).stream]);
    const before = fake.requests.length;
    expect(await fn(asBuffer(batch), fcContext())).toMatchObject({ ok: true, counts: { sent: 20 } });
    expect(phonesSent(fake).slice(before).sort()).toEqual([...phones].sort());
    expect(count.chunks()).toBeGreaterThanOrEqual(60); // claim, limits, record per job …
    expect(count.writes()).toBeLessThan(40); // … in fewer than two writes per job
  });
});

import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createFunction } from '#shared/fc/app';
import type { RuntimeOptions } from '#shared/fc/runtime';
import { MemoryStore } from '#shared/store/memory';
import { RedisStore } from '#shared/store/redis';
import { createRedisClient } from '#shared/store/redis-connection';
import type { Store } from '#shared/store/types';
import { nextPhone } from '../support/events.ts';
import { asHttpResult, fcContext, httpEvent } from '../support/fc.ts';
import { SPECS } from '../support/functions.ts';
import { deleteKeys } from '../support/redis.ts';
import { PROVIDER_OK, startWorld } from '../support/world.ts';

/**
 * Issue 13: quota-low once per channel and Beijing day (injected clock), alerts at most once and
 * never recursive, and the usage write adds no Redis round trip to a send (measured through a
 * TCP proxy that counts what the client writes).
 */

const KEY = 'backend-key-0123456789abcdef';
const ALERT_PHONE = '13912340000';
const {
  fake,
  providerEnv,
  logs,
  redis,
  prefix: PREFIX,
} = await startWorld({ provider: { answer: PROVIDER_OK }, redis: true, clearLogs: true });

const T0 = Date.parse('2030-01-01T02:00:00Z');

function build(
  fn: 'long-sms' | 'voice-notify',
  store: Store,
  clock: { t: number },
  env: Record<string, string> = {},
  extra: Partial<RuntimeOptions> = {},
) {
  return createFunction(SPECS[fn], {
    env: {
      ...providerEnv,
      API_KEYS: `backend:${KEY}`,
      QUIET_HOURS: 'off',
      LIMIT_PHONE_INTERVAL_S: '0',
      LIMIT_PHONE_DAILY: '0',
      UPSTREAM_RETRIES: '0',
      ...env,
    },
    store,
    catalog: null,
    retryDelayMs: 5,
    now: () => clock.t,
    ...extra,
  });
}

const phone = () => nextPhone('1398');
async function send(fn: ReturnType<typeof build>, body: Record<string, unknown>, path = '/sms') {
  return asHttpResult(await fn(httpEvent({ path, body, headers: { authorization: `Bearer ${KEY}` } }), fcContext()));
}
const sms = (extra: Record<string, unknown> = {}) => ({
  phone: phone(),
  skin: '1',
  params: ['1234'],
  idempotencyKey: randomBytes(6).toString('hex'),
  ...extra,
});
const events = (name: string) => logs.parsed().filter((l) => l.event === name);
const alertsTo = () => fake.requests.filter((r) => (r.query.phone ?? r.query.mobile) === ALERT_PHONE);

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
}

describe('quota alerts', () => {
  it('quota-low: one error line per channel and Beijing day, one alert SMS; the next day once more', async () => {
    const clock = { t: T0 };
    const store = new MemoryStore();
    // 10 bought, 7 used before the package was set here: 3 left.
    const fn = build('long-sms', store, clock, { QUOTA_LONG_SMS: '10@2030-01-01+7', ALERT_PHONES: ALERT_PHONE, ALERT_SKIN: '9' });
    expect((await send(fn, sms())).statusCode).toBe(200); // 2 left: 20 %, not under
    await until(() => false, 100);
    expect(events('quota-low')).toHaveLength(0);
    expect((await send(fn, sms())).statusCode).toBe(200); // 1 left: 10 %
    await until(() => alertsTo().length > 0);
    expect(events('quota-low')).toHaveLength(1);
    expect(events('quota-low')[0]).toMatchObject({
      level: 'error',
      channel: 'sms',
      purchased: 10,
      used: 9,
      remaining: 1,
      remainingRatio: 0.1,
    });
    expect(alertsTo()).toHaveLength(1);
    expect(alertsTo()[0]!.query).toMatchObject({ skin: '9' });
    for (let i = 0; i < 3; i += 1) await send(fn, sms());
    await until(() => false, 150);
    expect(events('quota-low')).toHaveLength(1);
    expect(alertsTo()).toHaveLength(1);
    // The alert itself is counted (billable, caller "alerts") but never alerts about itself.
    const usage = await store.readUsage(['2030-01-01']);
    expect(usage['2030-01-01']?.['sms|sent|alerts|9']).toBe('1');
    // A new Beijing day (16:00 UTC = midnight in Beijing): once more, after the cache refresh.
    clock.t = Date.parse('2030-01-01T16:00:01Z');
    await send(fn, sms());
    await until(() => alertsTo().length > 1);
    expect(events('quota-low')).toHaveLength(2);
    expect(alertsTo()).toHaveLength(2);
  });

  it('two instances (one Redis): quota-low and the alert go out once between them', async () => {
    const prefix = `${PREFIX}two:`;
    const clock = { t: T0 };
    const env = { QUOTA_LONG_SMS: '10@2030-01-01+8', ALERT_PHONES: ALERT_PHONE, ALERT_SKIN: '9' };
    const a = build('long-sms', new RedisStore(() => Promise.resolve(redis), { prefix }), clock, env);
    const b = build('long-sms', new RedisStore(() => Promise.resolve(redis), { prefix }), clock, env);
    await send(a, sms());
    await send(b, sms());
    await until(() => alertsTo().length > 0);
    await until(() => false, 200);
    expect(events('quota-low')).toHaveLength(1);
    expect(alertsTo()).toHaveLength(1);
  });

  it('QUOTA_EXHAUSTED from the gateway: event=quota-exhausted at once; an empty SMS package alerts by voice, once a day', async () => {
    const clock = { t: T0 };
    const fn = build('long-sms', new MemoryStore(), clock, { ALERT_PHONES: ALERT_PHONE, ALERT_SKIN: '9' });
    fake.next({ kind: 'gateway', status: 403, errorMessage: 'Quota Exhausted' });
    expect((await send(fn, sms())).json).toMatchObject({ error: { code: 'QUOTA_EXHAUSTED' } });
    expect(events('quota-exhausted')).toHaveLength(1);
    expect(events('quota-exhausted')[0]).toMatchObject({ level: 'error', channel: 'sms' });
    await until(() => alertsTo().length > 0);
    expect(alertsTo()).toHaveLength(1);
    expect(alertsTo()[0]!.path).toBe(new URL(fake.voiceUrl).pathname);
    clock.t += 120_000;
    fake.next({ kind: 'gateway', status: 403, errorMessage: 'Quota Exhausted' });
    await send(fn, sms());
    await until(() => false, 150);
    expect(events('quota-exhausted')).toHaveLength(2);
    expect(alertsTo()).toHaveLength(1);
  });
});

/** A TCP proxy to the shared Redis that counts the client's writes (each a burst of commands sent together). */
async function countingProxy(): Promise<{ url: string; writes: () => number; reset: () => void; close: () => Promise<void> }> {
  let writes = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const up = connect(6379, '127.0.0.1');
    sockets.add(client).add(up);
    client.on('data', (d) => {
      writes += 1;
      up.write(d);
    });
    up.pipe(client);
    client.on('error', () => up.destroy());
    up.on('error', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `redis://127.0.0.1:${port}`,
    writes: () => writes,
    reset: () => {
      writes = 0;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('round trips', () => {
  it('a send with the usage counter makes exactly as many Redis round trips as one without (standalone)', async () => {
    const proxy = await countingProxy();
    const client: Redis = await createRedisClient(proxy.url);
    const commands: string[] = [];
    const orig = client.sendCommand.bind(client) as (...a: unknown[]) => unknown;
    (client as unknown as { sendCommand: unknown }).sendCommand = (cmd: { name: string }, ...rest: unknown[]) => {
      commands.push(cmd.name);
      return orig(cmd, ...rest);
    };
    const prefix = `${PREFIX}rt:`;
    try {
      const clock = { t: T0 };
      const store = new RedisStore(() => Promise.resolve(client), { prefix });
      const withUsage = build('long-sms', store, clock);
      const without = build('long-sms', store, clock, {}, { senderDeps: { usage: undefined } });
      // Warm up: connection, script loading (EVALSHA → EVAL once per script).
      for (const fn of [withUsage, without]) expect((await send(fn, sms())).statusCode).toBe(200);
      const measure = async (fn: ReturnType<typeof build>) => {
        await until(() => false, 50);
        proxy.reset();
        commands.length = 0;
        expect((await send(fn, sms())).statusCode).toBe(200);
        await until(() => false, 50);
        return { writes: proxy.writes(), commands: [...commands] };
      };
      const a = await measure(without);
      const b = await measure(withUsage);
      // claim (SET NX), then the record; with usage the counter script goes in the record's pipeline.
      expect(a.writes).toBe(2);
      expect(b.writes).toBe(a.writes);
      expect(b.commands.length).toBe(a.commands.length + 1);
      const day = await client.hgetall(`${prefix}{usage:2030-01-01}`);
      expect(day['sms|sent|backend|1']).toBe('2');
    } finally {
      await deleteKeys(client, `${prefix}*`);
      await client.quit();
      await proxy.close();
    }
  });
});

describe('store faults (docs/guarantees.md)', () => {
  it('a usage counter that cannot be written never turns a sent job into an error: 200, recorded, one warn line', async () => {
    const prefix = `${PREFIX}fault:`;
    const clock = { t: T0 };
    // The day's key holds a string: HINCRBY fails with WRONGTYPE inside the pipeline.
    await redis.set(`${prefix}{usage:2030-01-01}`, 'not a hash');
    const fn = build('long-sms', new RedisStore(() => Promise.resolve(redis), { prefix }), clock);
    const job = sms();
    const res = await send(fn, job);
    expect(res.statusCode).toBe(200);
    expect(res.json.recorded).toBeUndefined();
    expect((await send(fn, job)).json).toMatchObject({ status: 'sent', replayed: true });
    expect(events('usage-count-failed')).toHaveLength(1);
    expect(events('usage-count-failed')[0]).toMatchObject({ level: 'warn', channel: 'sms', outcome: 'sent' });
    expect(fake.requests).toHaveLength(1);
  });
});

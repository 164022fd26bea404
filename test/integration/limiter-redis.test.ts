import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_RATE_LIMITS } from '#shared/config';
import { limitRules } from '#shared/guards/rate-limit';
import { RedisLimiter } from '#shared/limiter/redis';
import { closeRedisConnection } from '#shared/store/redis-connection';
import { type FakeProvider, startFakeProvider, TEST_APPCODE } from '../support/fake-provider.ts';
import { captureLogs } from '../support/fc.ts';
import { type Invoker, invoker } from '../support/functions.ts';
import {
  globalBudgetContract,
  limiterContract,
  NEXT_BEIJING_MIDNIGHT,
  NOON_BEIJING,
  partialFailure,
  uniquePhone,
} from '../support/limiter-contract.ts';
import { deleteKeys as deleteMatching } from '../support/redis.ts';
import { slotWatch } from '../support/slot-check.ts';

const REDIS_URL = 'redis://127.0.0.1:6379';
const PREFIX = `fcn-test-${randomBytes(6).toString('hex')}:`;
const KEY = 'caller-key-redis-limits-01234';
const auth = { authorization: `Bearer ${KEY}` };
const clients: Redis[] = [];
let fake: FakeProvider;
const logs = captureLogs();

/** A connection of its own, as a separate FC instance would have. */
const slots = slotWatch();
function connection(): Promise<Redis> {
  const r = slots.watch(new Redis(REDIS_URL, { maxRetriesPerRequest: 1, connectTimeout: 2000 }));
  clients.push(r);
  return Promise.resolve(r);
}

const limiter = (prefix = PREFIX) => new RedisLimiter(connection, { prefix });

const deleteKeys = async (pattern: string) => deleteMatching(await connection(), pattern);

beforeAll(async () => {
  fake = await startFakeProvider();
});
afterAll(async () => {
  await deleteKeys(`${PREFIX}*`);
  await Promise.all(clients.map((c) => c.quit().catch(() => undefined)));
  await closeRedisConnection();
  logs.stop();
  await fake.close();
});
beforeEach(() => fake.reset());

limiterContract('Redis', () => limiter());
globalBudgetContract('Redis', () => limiter(`${PREFIX}global-${randomBytes(3).toString('hex')}:`));
partialFailure('Redis', connection, `${PREFIX}partial-`);

describe('round trips', () => {
  it("a send's groups (phone, verification, caller, budget) go to Redis as one pipeline: one write, one round trip", async () => {
    const r = await connection();
    await r.ping(); // ready: nothing goes through the offline queue (which would show each command twice)
    const seen: Array<{ name: string; stream: unknown }> = [];
    const send = r.sendCommand.bind(r) as (...a: unknown[]) => unknown;
    (r as unknown as { sendCommand: unknown }).sendCommand = (command: { name: string }, stream?: unknown, ...rest: unknown[]) => {
      seen.push({ name: command.name, stream });
      return send(command, stream, ...rest);
    };
    const l = new RedisLimiter(() => Promise.resolve(r), { prefix: `${PREFIX}rtt:` });
    const rules = limitRules({ channel: 'sms', phone: uniquePhone(), skin: '1', params: [] }, 'rtt', 'verification', DEFAULT_RATE_LIMITS);
    // Verification limits are per phone across channels (issue 12): a group of their own.
    expect(new Set(rules.map((x) => x.group)).size).toBe(4);
    expect((await l.consume(rules, NOON_BEIJING)).allowed).toBe(true);
    const scripts = seen.filter((c) => c.name === 'evalsha' || c.name === 'eval');
    expect(scripts).toHaveLength(4);
    expect(scripts[0]!.stream).toBeDefined();
    expect(new Set(scripts.map((c) => c.stream)).size).toBe(1);
  });
});

describe('two instances sharing Redis', () => {
  const clock = { t: NOON_BEIJING };
  let a: Invoker;
  let b: Invoker;

  beforeAll(() => {
    const options = (prefix: string) => ({
      env: { APPCODE: TEST_APPCODE, LONG_SMS_URL: fake.longSmsUrl, API_KEYS: `app:${KEY}`, QUIET_HOURS: 'off', LIMIT_GLOBAL_DAILY: '0' },
      retryDelayMs: 5,
      now: () => clock.t,
      limiter: limiter(prefix),
    });
    const prefix = `${PREFIX}instances:`;
    a = invoker('long-sms', options(prefix));
    b = invoker('long-sms', options(prefix));
  });
  beforeEach(() => {
    clock.t = NOON_BEIJING;
  });

  it('a phone sent to by one instance is refused by the other within the interval, with Retry-After', async () => {
    const phone = uniquePhone();
    expect((await a({ path: '/sms', headers: auth, body: { phone, skin: '1', params: ['1'] } })).statusCode).toBe(200);
    clock.t += 30_000;
    const res = await b({ path: '/sms', headers: auth, body: { phone, skin: '1', params: ['2'] } });
    expect(res.statusCode).toBe(429);
    expect(res.json.error.code).toBe('RATE_LIMITED');
    expect(res.json.error.retryable).toBe(true);
    expect(res.headers['retry-after']).toBe('30');
    expect(fake.requests).toHaveLength(1);
    expect(logs.text()).not.toContain(phone);
  });

  it('the daily cap holds across instances: the 15th send goes, the 16th is refused before the provider', async () => {
    const phone = uniquePhone();
    for (let i = 1; i <= 15; i++) {
      clock.t = NOON_BEIJING + i * 60_000;
      const res = await (i % 2 ? a : b)({ path: '/sms', headers: auth, body: { phone, skin: '1', params: [String(i)] } });
      expect(res.statusCode).toBe(200);
    }
    clock.t = NOON_BEIJING + 16 * 60_000;
    const res = await b({ path: '/sms', headers: auth, body: { phone, skin: '1', params: ['16'] } });
    expect(res.statusCode).toBe(429);
    expect(Number(res.headers['retry-after'])).toBe((NEXT_BEIJING_MIDNIGHT - clock.t) / 1000);
    expect(fake.requests).toHaveLength(15);
    clock.t = NEXT_BEIJING_MIDNIGHT;
    expect((await a({ path: '/sms', headers: auth, body: { phone, skin: '1', params: ['17'] } })).statusCode).toBe(200);
    expect(fake.requests).toHaveLength(16);
  });

  it('parallel sends from both instances cannot overrun a cap (check-and-count is atomic)', async () => {
    const clockFree = { t: NOON_BEIJING };
    const options = {
      env: {
        APPCODE: TEST_APPCODE,
        LONG_SMS_URL: fake.longSmsUrl,
        API_KEYS: `app:${KEY}`,
        QUIET_HOURS: 'off',
        LIMIT_PHONE_INTERVAL_S: '0',
        LIMIT_PHONE_DAILY: '5',
        LIMIT_GLOBAL_DAILY: '0',
      },
      retryDelayMs: 5,
      now: () => clockFree.t,
    };
    const prefix = `${PREFIX}race:`;
    const x = invoker('long-sms', { ...options, limiter: limiter(prefix) });
    const y = invoker('long-sms', { ...options, limiter: limiter(prefix) });
    const phone = uniquePhone();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (i % 2 ? x : y)({ path: '/sms', headers: auth, body: { phone, skin: '1', params: [String(i)] } }),
      ),
    );
    expect(results.filter((r) => r.statusCode === 200)).toHaveLength(5);
    expect(results.filter((r) => r.statusCode === 429)).toHaveLength(15);
    expect(fake.requests).toHaveLength(5);
  });

  it('a replay (same idempotency key) does not count; a send the provider never saw is given back', async () => {
    const phone = uniquePhone();
    const job = { phone, skin: '1', params: ['7'], idempotencyKey: `k-${phone}` };
    expect((await a({ path: '/sms', headers: auth, body: job })).statusCode).toBe(200);
    const replay = await a({ path: '/sms', headers: auth, body: job });
    expect(replay.json.replayed).toBe(true);
    // Gateway flow control three times: nothing reached the vendor, so nothing is counted.
    const other = uniquePhone();
    fake.next(
      ...Array.from({ length: 3 }, () => ({ kind: 'gateway' as const, status: 403, errorMessage: 'Throttled by API Flow Control' })),
    );
    const throttled = await b({ path: '/sms', headers: auth, body: { phone: other, skin: '1', params: ['8'] } });
    expect(throttled.json.error.code).toBe('PROVIDER_THROTTLED');
    const again = await a({ path: '/sms', headers: auth, body: { phone: other, skin: '1', params: ['8'] } });
    expect(again.statusCode).toBe(200);
    expect(fake.requests).toHaveLength(1 + 3 + 1);
  });
});

describe('REDIS_URL wiring', () => {
  it('with REDIS_URL set, the runtime counts in Redis under fcn:limit:, shared by every instance', async () => {
    const caller = `redis-wiring-${randomBytes(4).toString('hex')}`;
    const env = {
      APPCODE: TEST_APPCODE,
      LONG_SMS_URL: fake.longSmsUrl,
      API_KEYS: `${caller}:${KEY}`,
      REDIS_URL,
      QUIET_HOURS: 'off',
      LIMIT_GLOBAL_DAILY: '0',
    };
    const x = invoker('long-sms', { env });
    const y = invoker('long-sms', { env });
    expect(x.handler.runtime.limiter?.kind).toBe('redis');
    const phone = uniquePhone();
    try {
      expect((await x({ path: '/sms', headers: auth, body: { phone, skin: '1', params: ['1'] } })).statusCode).toBe(200);
      expect((await y({ path: '/sms', headers: auth, body: { phone, skin: '1', params: ['1'] } })).statusCode).toBe(429);
      const r = await connection();
      // Hash-tagged per group: fcn:limit:{phone:sms:<hash>}:last, fcn:limit:{caller:<name>}:min:…
      const keys = limitRules({ channel: 'sms', phone, skin: '1', params: [] }, caller, undefined, DEFAULT_RATE_LIMITS).map(
        (rule) => `fcn:limit:{${rule.group}}${rule.key.slice(rule.group!.length)}*`,
      );
      const found = (await Promise.all(keys.map((k) => r.keys(k)))).flat();
      expect(found.length).toBeGreaterThanOrEqual(4);
      expect(found.join(' ')).not.toContain(phone);
    } finally {
      await deleteKeys(
        `fcn:limit:*${limitRules({ channel: 'sms', phone, skin: '1', params: [] }, caller, undefined, DEFAULT_RATE_LIMITS)[0]!.key.split(':')[2]}*`,
      );
      await deleteKeys(`fcn:limit:{caller:${caller}}*`);
    }
  });
});

// Runs last: standalone Redis accepts scripts spanning slots, a cluster (or Tair's proxy) does not.
it('every limiter script touched keys of one hash slot, and every script had a key', () => {
  expect(slots.checked).toBeGreaterThanOrEqual(50);
  expect(slots.violations).toEqual([]);
});

import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Limiter } from '#shared/limiter/limiter';
import { MemoryLimiter } from '#shared/limiter/memory';
import { RedisLimiter } from '#shared/limiter/redis';
import { MemoryStore } from '#shared/store/memory';
import { RedisStore } from '#shared/store/redis';
import { createRedisClient } from '#shared/store/redis-connection';
import type { Store } from '#shared/store/types';
import { BEIJING_9PM, BEIJING_10AM, providerTemplates, testCatalog } from '../support/catalog.ts';
import { type FakeProvider, startFakeProvider, TEST_APPCODE } from '../support/fake-provider.ts';
import { captureLogs } from '../support/fc.ts';
import { type Invoker, invoker } from '../support/functions.ts';
import { deleteKeys, REDIS_URL } from '../support/redis.ts';
import { startRedisChild } from '../support/redis-child.ts';
import { slotWatch } from '../support/slot-check.ts';

/**
 * Issue 12: verification codes end to end against the real local fake provider, with the memory
 * store and with Redis (cluster key rules watched). The code is read where the person would read
 * it: the SMS `param` and the voice `content` the provider received.
 */

const KEY = 'caller-key-verify-0123456789';
const SECRET = 'verify-secret-for-tests-0123456789';
const PREFIX = `fcn-test-verify-${process.pid}-`;
const slots = slotWatch();
let redis: Redis;
let fake: FakeProvider;
const logs = captureLogs();
let clock = BEIJING_10AM.getTime();
/** Every code a test saw, for the log scan at the end. */
const codesSeen = new Set<string>();
/** Every answer body that was not a 200, for the log scan. */
const errorBodies: string[] = [];

const NO_LIMITS = {
  LIMIT_PHONE_INTERVAL_S: '0',
  LIMIT_PHONE_DAILY: '0',
  LIMIT_VERIFICATION_INTERVAL_S: '0',
  LIMIT_VERIFICATION_HOURLY: '0',
  LIMIT_VERIFICATION_DAILY: '0',
};

beforeAll(async () => {
  fake = await startFakeProvider({ templates: providerTemplates({ '9': '【测试】验证码#a#' }) });
  redis = slots.watch(new Redis(REDIS_URL, { maxRetriesPerRequest: 1, connectTimeout: 2000 }));
});
afterAll(async () => {
  logs.stop();
  await deleteKeys(redis, `${PREFIX}*`);
  redis.disconnect();
  await fake.close();
});
beforeEach(() => {
  fake.reset();
  clock = BEIJING_10AM.getTime();
});

interface Pair {
  sms: Invoker;
  voice: Invoker;
}

type StoreKit = { store: Store; limiter: Limiter };
const KITS: Array<[string, () => StoreKit]> = [
  ['memory', () => ({ store: new MemoryStore(), limiter: new MemoryLimiter() })],
  [
    'Redis',
    () => {
      const prefix = `${PREFIX}${randomBytes(3).toString('hex')}:`;
      return {
        store: new RedisStore(() => Promise.resolve(redis), { prefix }),
        limiter: new RedisLimiter(() => Promise.resolve(redis), { prefix }),
      };
    },
  ],
];

/** long-sms and voice-notify sharing one store, one limiter and one clock, as deployed. */
function pair(kit: StoreKit, env: Record<string, string> = NO_LIMITS): Pair {
  const options = {
    env: {
      APPCODE: TEST_APPCODE,
      LONG_SMS_URL: fake.longSmsUrl,
      VOICE_URL: fake.voiceUrl,
      API_KEYS: `app:${KEY}`,
      VERIFY_SECRET: SECRET,
      QUIET_HOURS: 'off',
      ...env,
    },
    retryDelayMs: 5,
    catalog: testCatalog(),
    store: kit.store,
    limiter: kit.limiter,
    now: () => clock,
  };
  return { sms: invoker('long-sms', options), voice: invoker('voice-notify', options) };
}

const auth = { authorization: `Bearer ${KEY}` };
let phoneSeq = 0;
/** A fresh phone per test, so stores shared across tests never mix records. */
const newPhone = () => `1390000${String(1000 + (phoneSeq++ % 9000)).padStart(4, '0')}`;

async function call(fn: Invoker, path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fn({ path, body, headers: { ...auth, ...headers } });
  if (res.statusCode !== 200) errorBodies.push(res.body);
  return res;
}

/** The code the person received: the SMS param, or the voice text's digits. */
function receivedCode(i = -1): string {
  const req = fake.requests.at(i);
  if (!req) throw new Error('no provider request');
  const code =
    req.path === '/largesms' ? (req.query.param ?? '') : /((?:\d ){3,7}\d)/.exec(req.query.content ?? '')?.[1]?.replaceAll(' ', '');
  if (!code) throw new Error(`no code in ${req.path}`);
  codesSeen.add(code);
  return code;
}

const wrong = (code: string) => code.replace(/^\d/, (d) => String((Number(d) + 1) % 10));

describe.each(KITS)('verification codes (%s store)', (_name, makeKit) => {
  it('SMS: the code in the SMS param checks valid once, from either function', async () => {
    const fns = pair(makeKit());
    const phone = newPhone();
    const start = await call(fns.sms, '/sms/verify', { phone });
    expect(start.statusCode).toBe(200);
    expect(start.json).toEqual({
      status: 'sent',
      verificationId: expect.stringMatching(/^[\w-]{36}$/),
      channel: 'sms',
      phone: `${phone.slice(0, 3)}****${phone.slice(7)}`,
      expiresAt: new Date(clock + 300_000).toISOString(),
      resendAfter: 0,
    });
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]?.query.skin).toBe('1');
    const code = receivedCode();
    expect(code).toMatch(/^\d{6}$/);
    // voice-notify checks a code long-sms sent: one store.
    expect((await call(fns.voice, '/verify/check', { phone, code })).json).toEqual({ valid: true });
    const again = await call(fns.sms, '/verify/check', { phone, code });
    expect(again.json).toMatchObject({ valid: false });
  });

  it('voice: the code is spoken digit by digit and checks valid', async () => {
    const fns = pair(makeKit());
    const phone = newPhone();
    const start = await call(fns.voice, '/voice/verify', { phone, codeLength: 4, ttlSeconds: 120 });
    expect(start.statusCode).toBe(200);
    expect(start.json.channel).toBe('voice');
    const content = fake.requests[0]?.query.content ?? '';
    expect(content).toMatch(/^您的验证码是\d \d \d \d，2分钟内有效。$/);
    const code = receivedCode();
    expect((await call(fns.sms, '/verify/check', { phone, code })).json).toEqual({ valid: true });
  });

  it('wrong codes count down and lock the code, even against the right one', async () => {
    const fns = pair(makeKit());
    const phone = newPhone();
    await call(fns.sms, '/sms/verify', { phone });
    const code = receivedCode();
    const left: number[] = [];
    for (let i = 0; i < 5; i += 1) {
      const res = await call(fns.sms, '/verify/check', { phone, code: wrong(code) });
      expect(res.json).toMatchObject({ valid: false, reason: 'mismatch' });
      left.push(res.json.attemptsLeft);
    }
    expect(left).toEqual([4, 3, 2, 1, 0]);
    expect((await call(fns.sms, '/verify/check', { phone, code })).json).toEqual({
      valid: false,
      reason: 'too-many-attempts',
      attemptsLeft: 0,
    });
    // A new start after a lock sends a new code, which works.
    await call(fns.sms, '/sms/verify', { phone });
    const next = receivedCode();
    expect((await call(fns.sms, '/verify/check', { phone, code: next })).json).toEqual({ valid: true });
  });

  it('expires with the clock; the verificationId then tells expired from not-found', async () => {
    const fns = pair(makeKit());
    const phone = newPhone();
    const start = await call(fns.sms, '/sms/verify', { phone, ttlSeconds: 60 });
    const code = receivedCode();
    clock += 59_000;
    expect((await call(fns.sms, '/verify/check', { phone, code: wrong(code) })).json.reason).toBe('mismatch');
    clock += 2_000;
    expect((await call(fns.sms, '/verify/check', { phone, code })).json).toEqual({ valid: false, reason: 'expired', attemptsLeft: 0 });
    const id = start.json.verificationId;
    expect((await call(fns.sms, '/verify/check', { phone, code, verificationId: id })).json.reason).toBe('expired');
    expect((await call(fns.sms, '/verify/check', { phone, code, verificationId: '00000000-0000-0000-0000-000000000000' })).json).toEqual({
      valid: false,
      reason: 'not-found',
      attemptsLeft: 0,
    });
  });

  it('a new start within the validity re-sends the same code, by either channel', async () => {
    const fns = pair(makeKit());
    const phone = newPhone();
    const first = await call(fns.sms, '/sms/verify', { phone });
    const code = receivedCode();
    clock += 30_000;
    const second = await call(fns.voice, '/voice/verify', { phone });
    expect(second.statusCode).toBe(200);
    expect(receivedCode()).toBe(code);
    expect(second.json.verificationId).toBe(first.json.verificationId);
    expect(second.json.expiresAt).toBe(first.json.expiresAt);
    const third = await call(fns.sms, '/sms/verify', { phone });
    expect(receivedCode()).toBe(code);
    expect(third.json.verificationId).toBe(first.json.verificationId);
    expect((await call(fns.sms, '/verify/check', { phone, code })).json).toEqual({ valid: true });
    // Used: the next start sends a new code (a new verification).
    const fourth = await call(fns.sms, '/sms/verify', { phone });
    expect(fourth.json.verificationId).not.toBe(first.json.verificationId);
  });

  it.each([
    ['rejected (vendor 104)', { kind: 'vendor', code: '104', message: '签名错误' }],
    ['failed (vendor 107)', { kind: 'vendor', code: '107', message: '其他错误' }],
  ] as const)('fallback: an SMS %s is followed by exactly one voice call with the same code', async (_n, behaviour) => {
    const fns = pair(makeKit());
    const phone = newPhone();
    fake.next(behaviour);
    const res = await call(fns.sms, '/sms/verify', { phone, fallback: 'voice' });
    expect(res.statusCode).toBe(200);
    expect(res.json).toMatchObject({ status: 'sent', channel: 'voice', fallbackFrom: 'sms' });
    expect(fake.requests.map((r) => r.path)).toEqual(['/largesms', '/chuangxin/yytz']);
    const smsCode = receivedCode(0);
    expect(receivedCode(1)).toBe(smsCode);
    expect((await call(fns.sms, '/verify/check', { phone, code: smsCode })).json).toEqual({ valid: true });
  });

  it.each([
    ['sent', undefined, 200],
    ['unknown (unreadable answer)', { kind: 'raw', status: 200, body: '<html>oops</html>' }, 504],
  ] as const)('fallback: an SMS %s places no voice call', async (_n, behaviour, status) => {
    const fns = pair(makeKit());
    if (behaviour) fake.next(behaviour);
    const res = await call(fns.sms, '/sms/verify', { phone: newPhone(), fallback: 'voice' });
    expect(res.statusCode).toBe(status);
    expect(fake.requests.map((r) => r.path)).toEqual(['/largesms']);
    receivedCode(0);
  });

  it('without fallback, a refused SMS is answered as refused and nothing else is sent', async () => {
    const fns = pair(makeKit());
    fake.next({ kind: 'vendor', code: '104', message: '签名错误' });
    const res = await call(fns.sms, '/sms/verify', { phone: newPhone() });
    expect(res.statusCode).toBe(422);
    expect(res.json.error.code).toBe('SIGNATURE_INVALID');
    expect(fake.requests).toHaveLength(1);
    receivedCode(0);
  });

  it('a vendor that echoes the code in its answers: the code is in no log line and no error body', async () => {
    const fns = pair(makeKit());
    const phone = newPhone();
    // SMS refused with the code in its message, then the fallback call's answer (unreadable) repeats its text.
    fake.next(
      { kind: 'echo', make: (q) => ({ kind: 'vendor', code: '104', message: `签名错误 param=${q.param}` }) },
      { kind: 'echo', make: (q) => ({ kind: 'raw', status: 200, body: `<html>${q.content}</html>` }) },
    );
    const before = logs.lines.length;
    const res = await call(fns.sms, '/sms/verify', { phone, fallback: 'voice' });
    expect(res.statusCode).toBe(504);
    const code = receivedCode(0);
    expect(receivedCode(1)).toBe(code);
    // An SMS answer that cannot be read, repeating the code (no fallback: its outcome is unknown).
    fake.next({ kind: 'echo', make: (q) => ({ kind: 'raw', status: 200, body: `oops ${q.param}` }) });
    const res2 = await call(fns.sms, '/sms/verify', { phone: newPhone(), fallback: 'voice' });
    expect(res2.statusCode).toBe(504);
    const code2 = receivedCode();
    const lines = logs.lines.slice(before).join('\n');
    // The excerpts are logged, scrubbed: without the scrub the code would be right there.
    expect(lines).toContain('"raw":"<html>[REDACTED]</html>"');
    expect(lines).toContain('"raw":"oops [REDACTED]"');
    expect(lines).toContain('"sms":{"outcome":"rejected","providerCode":"104"');
    for (const c of [code, code2]) {
      expect(lines).not.toContain(c);
      expect(lines).not.toContain(c.split('').join(' '));
      expect(res.body + res2.body).not.toContain(c);
    }
  });

  it('the verification limits apply across both channels; resendAfter comes from them', async () => {
    const fns = pair(makeKit(), { LIMIT_PHONE_INTERVAL_S: '0' });
    const phone = newPhone();
    const first = await call(fns.sms, '/sms/verify', { phone });
    expect(first.json.resendAfter).toBe(60);
    receivedCode();
    clock += 10_000;
    const tooSoon = await call(fns.voice, '/voice/verify', { phone });
    expect(tooSoon.statusCode).toBe(429);
    expect(tooSoon.json.error.code).toBe('RATE_LIMITED');
    expect(Number(tooSoon.headers['retry-after'])).toBeGreaterThanOrEqual(49);
    expect(fake.requests).toHaveLength(1);
    // Four more, alternating channels a minute apart: the fifth of the hour is the last.
    for (let i = 0; i < 4; i += 1) {
      clock += 61_000;
      const fn = i % 2 === 0 ? fns.voice : fns.sms;
      const res = await call(fn, i % 2 === 0 ? '/voice/verify' : '/sms/verify', { phone });
      expect(res.statusCode).toBe(200);
      receivedCode();
    }
    clock += 61_000;
    const sixth = await call(fns.voice, '/voice/verify', { phone });
    expect(sixth.statusCode).toBe(429);
    expect(sixth.json.error.message).toMatch(/5 verification codes this hour/);
    expect(fake.requests).toHaveLength(5);
  });

  it('an idempotencyKey replays the first answer and sends once', async () => {
    const fns = pair(makeKit());
    const phone = newPhone();
    const a = await call(fns.sms, '/sms/verify', { phone, idempotencyKey: 'signup-1' });
    const b = await call(fns.sms, '/sms/verify', { phone }, { 'idempotency-key': 'signup-1' });
    expect(b.statusCode).toBe(200);
    expect(b.json).toEqual(a.json);
    expect(b.headers['idempotent-replayed']).toBe('true');
    expect(fake.requests).toHaveLength(1);
    receivedCode();
    const other = await call(fns.sms, '/sms/verify', { phone, codeLength: 4, idempotencyKey: 'signup-1' });
    expect(other.statusCode).toBe(400);
  });

  it('a phone without a code answers like a wrong guess (decoy), then locks and expires the same way', async () => {
    const fns = pair(makeKit());
    const phone = newPhone();
    const left: unknown[] = [];
    for (let i = 0; i < 6; i += 1) left.push((await call(fns.sms, '/verify/check', { phone, code: '123456' })).json);
    expect(left.slice(0, 5)).toEqual([4, 3, 2, 1, 0].map((n) => ({ valid: false, reason: 'mismatch', attemptsLeft: n })));
    expect(left[5]).toEqual({ valid: false, reason: 'too-many-attempts', attemptsLeft: 0 });
    clock += 301_000;
    expect((await call(fns.sms, '/verify/check', { phone, code: '123456' })).json.reason).toBe('expired');
    // A real start replaces the decoy at once.
    await call(fns.sms, '/sms/verify', { phone });
    expect((await call(fns.sms, '/verify/check', { phone, code: receivedCode() })).json).toEqual({ valid: true });
  });

  it('an uncatalogued skin gets the code as its first param; the catalog names the variable', async () => {
    const fns = pair(makeKit());
    const phone = newPhone();
    await call(fns.sms, '/sms/verify', { phone, skin: '9' });
    expect(fake.requests[0]?.query.skin).toBe('9');
    const code = receivedCode();
    expect(fake.requests[0]?.query.param).toBe(code);
  });
});

describe('sandbox, secrets and refusals', () => {
  it('sandbox mode: the start answer carries the code (random per-process secret); it checks valid', async () => {
    const store = new MemoryStore();
    const sms = invoker('long-sms', { env: { SANDBOX: '1', API_KEYS: `app:${KEY}`, ...NO_LIMITS }, store, now: () => clock });
    const phone = newPhone();
    const res = await call(sms, '/sms/verify', { phone, codeLength: 8 });
    expect(res.statusCode).toBe(200);
    expect(res.json.code).toMatch(/^\d{8}$/);
    codesSeen.add(res.json.code);
    expect(logs.text()).toMatch(/VERIFY_SECRET unset: sandbox mode uses a random secret/);
    expect((await call(sms, '/verify/check', { phone, code: res.json.code })).json).toEqual({ valid: true });
  });

  it('a voice code goes out at 21:00 Beijing time (the person is waiting for it); a plain voice call does not', async () => {
    const fns = pair(KITS[0]?.[1]() as StoreKit, { ...NO_LIMITS, QUIET_HOURS: '09:00-20:00' });
    clock = BEIJING_9PM.getTime();
    const phone = newPhone();
    expect((await call(fns.voice, '/voice/verify', { phone })).statusCode).toBe(200);
    receivedCode();
    const plain = await call(fns.voice, '/voice', { phone, content: '您好，您的快递已送达。' });
    expect(plain.statusCode).toBe(422);
    expect(plain.json.error.code).toBe('OUTSIDE_SENDING_HOURS');
  });

  it('outside sandbox mode the answer never carries the code', async () => {
    const fns = pair(KITS[0]?.[1]() as StoreKit);
    const res = await call(fns.sms, '/sms/verify', { phone: newPhone() });
    expect(res.json).not.toHaveProperty('code');
    receivedCode();
  });

  it('deployed without VERIFY_SECRET: the verification routes refuse naming it; /sms still sends', async () => {
    const env = {
      APPCODE: TEST_APPCODE,
      LONG_SMS_URL: fake.longSmsUrl,
      API_KEYS: `app:${KEY}`,
      FC_FUNCTION_NAME: 'long-sms',
      STORE: 'memory',
      QUIET_HOURS: 'off',
    };
    const sms = invoker('long-sms', { env, catalog: testCatalog(), now: () => clock });
    for (const [path, body] of [
      ['/sms/verify', { phone: newPhone() }],
      ['/verify/check', { phone: newPhone(), code: '123456' }],
    ] as const) {
      const res = await call(sms, path, body);
      expect(res.statusCode).toBe(500);
      expect(res.json.error.message).toMatch(/VERIFY_SECRET is required/);
    }
    expect(fake.requests).toHaveLength(0);
    expect((await call(sms, '/sms', { phone: newPhone(), skin: '2', params: ['a', 'b', 'c'] })).statusCode).toBe(200);
  });

  it('a short VERIFY_SECRET is a configuration error', async () => {
    const sms = invoker('long-sms', { env: { SANDBOX: '1', API_KEYS: `app:${KEY}`, VERIFY_SECRET: 'short' } });
    const res = await call(sms, '/sms/verify', { phone: newPhone() });
    expect(res.statusCode).toBe(500);
    expect(res.json.error.message).toMatch(/VERIFY_SECRET must be at least 16/);
    expect(res.body).not.toContain('short');
  });

  it.each([
    [{ phone: '13800138000', codeLength: 3 }, 'codeLength'],
    [{ phone: '13800138000', codeLength: 9 }, 'codeLength'],
    [{ phone: '13800138000', ttlSeconds: 59 }, 'ttlSeconds'],
    [{ phone: '13800138000', ttlSeconds: 1801 }, 'ttlSeconds'],
    [{ phone: '13800138000', fallback: 'sms' }, 'fallback'],
  ])('refuses %j (400 naming %s)', async (body, field) => {
    const fns = pair(KITS[0]?.[1]() as StoreKit);
    const res = await call(fns.sms, '/sms/verify', body);
    expect(res.statusCode).toBe(400);
    expect(res.json.error.message).toContain(field);
    expect(fake.requests).toHaveLength(0);
  });
});

describe('store faults (docs/guarantees.md: no offline queue, STORE_UNAVAILABLE before a send)', () => {
  it('Redis gone: a start answers 503 STORE_UNAVAILABLE and sends nothing; a check answers 503', async () => {
    const child = await startRedisChild();
    const conn = await createRedisClient(child.url);
    try {
      const prefix = `${PREFIX}fault:`;
      const fns = pair({
        store: new RedisStore(() => Promise.resolve(conn), { prefix }),
        limiter: new RedisLimiter(() => Promise.resolve(conn), { prefix }),
      });
      const phone = newPhone();
      expect((await call(fns.sms, '/sms/verify', { phone })).statusCode).toBe(200);
      const code = receivedCode();
      await child.kill();
      for (const [fn, path] of [
        [fns.sms, '/sms/verify'],
        [fns.voice, '/voice/verify'],
      ] as const) {
        const res = await call(fn, path, { phone });
        expect(res.statusCode).toBe(503);
        expect(res.json.error.code).toBe('STORE_UNAVAILABLE');
        expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      }
      const check = await call(fns.sms, '/verify/check', { phone, code });
      expect(check.statusCode).toBe(503);
      expect(check.json.error.code).toBe('STORE_UNAVAILABLE');
      expect(fake.requests).toHaveLength(1);
    } finally {
      conn.disconnect();
      await child.close();
    }
  });
});

describe('no code in logs or error bodies', () => {
  it('no generated code appears in any log line or error answer (scan of this whole file)', () => {
    expect(codesSeen.size).toBeGreaterThan(15);
    const text = logs.text();
    expect(logs.lines.length).toBeGreaterThan(50);
    for (const code of codesSeen) {
      const bare = new RegExp(`(?<!\\d)${code}(?!\\d)`);
      const spaced = code.split('').join(' ');
      expect(bare.test(text), `code ${code} in a log line`).toBe(false);
      expect(text.includes(spaced), `spoken code ${code} in a log line`).toBe(false);
      for (const body of errorBodies) expect(bare.test(body) || body.includes(spaced), `code in ${body}`).toBe(false);
    }
  });

  it('every Redis script touched one hash slot', () => {
    expect(slots.checked).toBeGreaterThan(20);
    expect(slots.violations).toEqual([]);
  });
});

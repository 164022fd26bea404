import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeEach, expect } from 'vitest';
import { MemoryStore } from '#shared/store/memory';
import { RedisStore } from '#shared/store/redis';
import type { Store } from '#shared/store/types';
import { type FakeOss, type FakeOssOptions, OSS_CREDS, startFakeOss } from './fake-oss.ts';
import { type Behaviour, type FakeProvider, type FakeProviderOptions, startFakeProvider, TEST_APPCODE } from './fake-provider.ts';
import { captureLogs } from './fc.ts';
import { deleteKeys, REDIS_URL } from './redis.ts';
import { type SlotWatch, slotWatch } from './slot-check.ts';

/**
 * The local world an integration suite runs against, started once per test file:
 *
 *   const { fake, oss, redis, logs, stores } = await startWorld({ oss: {}, redis: true });
 *
 * - `fake`: the fake provider (test/support/fake-provider.ts), reset before each test; with
 *   `provider.answer`, that answer is its fallback after each reset (else its realistic default);
 * - `providerEnv`: APPCODE, LONG_SMS_URL and VOICE_URL pointing at `fake` (and OSS_ENDPOINT at
 *   `oss`), to spread into a function's env;
 * - `oss` (with `oss`): the fake OSS (test/support/fake-oss.ts) for the function role's
 *   OSS_CREDS unless other credentials are given; its request record is cleared before each test;
 * - `redis`, `prefix`, `slots`, `stores` (with `redis: true`): a connection to the shared Redis,
 *   watched for cross-slot scripts (`slots`; any violation fails the file after its tests), a key prefix no other file uses (its keys are deleted
 *   after the file; the shared Redis is never flushed), and the [memory, Redis] store pair for
 *   `describe.each`, each call a fresh store (Redis ones under a fresh sub-prefix);
 * - `logs`: every log line of the file (test/support/fc.ts captureLogs); `clearLogs` empties it
 *   before each test (leave it off when a last test checks the whole file's lines).
 *
 * It registers its own beforeEach and afterAll hooks (at the file's top level, so call it there,
 * with top-level await, before the file's own hooks): the world is torn down after every hook
 * and test of the file.
 */

export interface WorldOptions {
  provider?: FakeProviderOptions & { answer?: Behaviour };
  oss?: Partial<FakeOssOptions>;
  redis?: boolean;
  clearLogs?: boolean;
}

interface RedisWorld {
  redis: Redis;
  /** `fcn-test-<random>:`, unique to this file. */
  prefix: string;
  slots: SlotWatch;
  /** [name, new store] for `describe.each`: the memory store and a Redis store under a fresh prefix. */
  stores: Array<[string, () => Store]>;
}

export type World<O extends WorldOptions> = {
  fake: FakeProvider;
  /** APPCODE and the provider URLs of `fake` (and OSS_ENDPOINT with `oss`): spread it into a function's env. */
  providerEnv: Readonly<Record<string, string>>;
  logs: ReturnType<typeof captureLogs>;
} & (O['oss'] extends object ? { oss: FakeOss } : unknown) &
  (O['redis'] extends true ? RedisWorld : unknown);

/** What the provider answers when a suite only needs sends to succeed. */
export const PROVIDER_OK: Behaviour = { kind: 'vendor', code: 'OK', message: '发送成功' };

export async function startWorld<const O extends WorldOptions>(options: O): Promise<World<O>> {
  const logs = captureLogs();
  const { answer, ...providerOptions } = options.provider ?? {};
  const fake = await startFakeProvider(providerOptions);
  const oss = options.oss ? await startFakeOss({ ...OSS_CREDS, ...options.oss }) : undefined;
  const providerEnv = {
    APPCODE: TEST_APPCODE,
    LONG_SMS_URL: fake.longSmsUrl,
    VOICE_URL: fake.voiceUrl,
    ...(oss ? { OSS_ENDPOINT: oss.endpoint } : {}),
  };
  const world: Record<string, unknown> = { fake, providerEnv, logs, ...(oss ? { oss } : {}) };

  let redis: Redis | undefined;
  let slots: SlotWatch | undefined;
  let prefix = '';
  if (options.redis) {
    prefix = `fcn-test-${randomBytes(6).toString('hex')}:`;
    slots = slotWatch();
    redis = slots.watch(new Redis(REDIS_URL, { maxRetriesPerRequest: 1, connectTimeout: 2000 }));
    const conn = redis;
    const stores: RedisWorld['stores'] = [
      ['memory', () => new MemoryStore()],
      ['Redis', () => new RedisStore(() => Promise.resolve(conn), { prefix: `${prefix}${randomBytes(3).toString('hex')}:` })],
    ];
    Object.assign(world, { redis, prefix, slots, stores });
  }

  beforeEach(() => {
    fake.reset();
    if (answer) fake.fallback = answer;
    if (oss) oss.requests.length = 0;
    if (options.clearLogs) logs.lines.length = 0;
  });
  afterAll(async () => {
    if (redis) {
      await deleteKeys(redis, `${prefix}*`);
      await redis.quit();
      // Every script and transaction the file ran through this connection fits one hash slot.
      expect(slots?.violations).toEqual([]);
    }
    logs.stop();
    await fake.close();
    await oss?.close();
  });
  return world as World<O>;
}

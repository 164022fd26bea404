/**
 * A function instance that dies mid-send: it claims the job (Redis) through the real sender and
 * is SIGKILLed by the parent test while the fake provider hangs. Env: FAKE_LONG_SMS_URL,
 * STORE_PREFIX, EVENT (the MNS event JSON).
 */
import { Redis } from 'ioredis';
import { RedisStore } from '#shared/store/redis';
import { eventFunction } from './events.ts';
import type { FakeProvider } from './fake-provider.ts';
import { fcContext } from './fc.ts';

const redis = new Redis('redis://127.0.0.1:6379');
const store = new RedisStore(() => Promise.resolve(redis), { prefix: process.env.STORE_PREFIX! });
const fake = { longSmsUrl: process.env.FAKE_LONG_SMS_URL!, voiceUrl: process.env.FAKE_LONG_SMS_URL! } as FakeProvider;
const fn = eventFunction('long-sms', fake, store, {}, { UPSTREAM_TIMEOUT_MS: '60000' });
process.stdout.write('ready\n');
await fn(Buffer.from(process.env.EVENT!), fcContext());
process.stdout.write('finished\n');

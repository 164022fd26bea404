import { randomBytes } from 'node:crypto';
import { createFunction } from '#shared/fc/app';
import type { RuntimeOptions } from '#shared/fc/runtime';
import type { Store } from '#shared/store/types';
import { OSS_CREDS } from './fake-oss.ts';
import type { FakeProvider } from './fake-provider.ts';
import { TEST_APPCODE } from './fake-provider.ts';
import { fcContext, fixture } from './fc.ts';
import { SPECS } from './functions.ts';

export const EVENT_CALLER_KEY = 'caller-key-events-0123456789';

/** A sending function wired to the fake provider; limits and quiet hours off so only idempotency decides. */
export function eventFunction(
  fn: 'long-sms' | 'voice-notify',
  fake: FakeProvider,
  store: Store,
  extra: Partial<RuntimeOptions> = {},
  env: Record<string, string> = {},
) {
  return createFunction(SPECS[fn], {
    env: {
      APPCODE: TEST_APPCODE,
      LONG_SMS_URL: fake.longSmsUrl,
      VOICE_URL: fake.voiceUrl,
      API_KEYS: `app:${EVENT_CALLER_KEY}`,
      LIMIT_PHONE_INTERVAL_S: '0',
      QUIET_HOURS: 'off',
      UPSTREAM_RETRIES: '0',
      ...env,
    },
    store,
    catalog: null,
    retryDelayMs: 5,
    ...extra,
  });
}

let n = 0;
/**
 * A phone no other test in the run uses (distinct per call): `head` (4 digits), the process, a
 * counter. A file whose phones must not meet the other files' passes a head of its own.
 */
export function nextPhone(head = '1391'): string {
  n += 1;
  return `${head}${String(process.pid % 1000).padStart(3, '0')}${String(n).padStart(4, '0')}`;
}

export const smsJob = (phone: string, extra: Record<string, unknown> = {}) => ({
  channel: 'sms',
  phone,
  skin: '1',
  params: ['1234'],
  ...extra,
});
export const voiceJob = (phone: string, extra: Record<string, unknown> = {}) => ({
  channel: 'voice',
  phone,
  content: '您好，今天下午三点有例会。',
  ...extra,
});

/** Phones the fake provider received, in order. */
export const phonesSent = (fake: FakeProvider) => fake.requests.map((r) => r.query.phone ?? r.query.mobile ?? JSON.stringify(r.query));

/** An MNS topic event (documented JSON fixture) carrying `job`. */
export const topicEvent = (job: unknown, messageId = randomBytes(8).toString('hex'), extra: Record<string, unknown> = {}) => ({
  ...fixture('mns-topic-json'),
  Message: JSON.stringify(job),
  MessageId: messageId,
  ...extra,
});

/** An MNS queue CloudEvent (documented fixture) with message `body`. */
export const cloudEvent = (body: string, messageId = randomBytes(8).toString('hex')) => {
  const base = fixture<Record<string, any>>('mns-queue-cloudevent');
  return { ...base, id: `ce-${messageId}`, data: { ...base.data, messageId, messageBody: body } };
};

/**
 * The documented OSS ObjectCreated event for `key`, URL-encoded as OSS sends it (or `rawKey`
 * exactly as given), stamped now.
 */
export function ossEvent(key: string, eTag = randomBytes(8).toString('hex'), rawKey?: string) {
  const event = fixture<{ events: Array<Record<string, any>> }>('oss-object-created');
  const rec = event.events[0]!;
  rec.oss.object.key = rawKey ?? encodeURIComponent(key).replace(/%2F/g, '/').replace(/%20/g, '+');
  rec.oss.object.eTag = eTag;
  rec.eventTime = new Date().toISOString();
  return event;
}

/** The FC context of an OSS-triggered invocation: the function role's STS credentials (or `credentials`), a 60 s timeout. */
export const ossContext = (fn = 'long-sms', credentials: Record<string, string> = OSS_CREDS) =>
  fcContext({ credentials, function: { name: fn, timeout: 60 } });

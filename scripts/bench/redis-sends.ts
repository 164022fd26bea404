import { randomBytes, randomInt } from 'node:crypto';
import { createFunction } from '../../shared/fc/app.ts';
import { testCatalog } from '../../test/support/catalog.ts';
import { TEST_APPCODE } from '../../test/support/fake-provider.ts';
import { asHttpResult, fcContext, httpEvent } from '../../test/support/fc.ts';
import { SPECS } from '../../test/support/functions.ts';
import { startCountingProxy } from './redis-proxy.ts';

/**
 * Redis commands and client writes (one write = one pipeline = one round trip of latency) per
 * send, through the real handlers with REDIS_URL pointing at a counting proxy in front of a Redis
 * on `redisPort`: default limits, the test catalog, the given fake provider. Each kind is warmed
 * once (connection, EVAL → EVALSHA script load), then measured `runs` times; the median is kept.
 * Writes made after the answer (deferred records) are counted too: the count waits `settleMs`.
 */
export type SendKind = 'keyed' | 'unkeyed' | 'verification-template' | 'voice' | 'verify-start';
export interface SendCounts {
  kind: SendKind;
  commands: number;
  writes: number;
  /** Sequential round trips: writes sent with nothing earlier still unanswered. */
  roundTrips: number;
  names: string[];
  /** Extra wall time per send with every client chunk delayed by `delayMs`, in units of delayMs. */
  delayedRoundTrips?: number;
}

// Every send goes to a new phone (the default per-phone interval would refuse a second one).
let n = randomInt(0, 5000);
const phone = () => {
  n += 1;
  return `1397${String(process.pid % 1000).padStart(3, '0')}${String(n % 10_000).padStart(4, '0')}`;
};

export const SEND_KINDS: SendKind[] = ['keyed', 'unkeyed', 'verification-template', 'voice', 'verify-start'];
const KEY = 'bench-redis-caller-key-0123456789';

export async function measureRedisSends(
  redisPort: number,
  provider: { longSmsUrl: string; voiceUrl: string },
  options: { runs?: number; settleMs?: number; delayMs?: number; kinds?: SendKind[] } = {},
): Promise<SendCounts[]> {
  const runs = options.runs ?? 3;
  const settleMs = options.settleMs ?? 80;
  const proxy = await startCountingProxy(redisPort);
  const env = {
    APPCODE: TEST_APPCODE,
    LONG_SMS_URL: provider.longSmsUrl,
    VOICE_URL: provider.voiceUrl,
    API_KEYS: `bench:${KEY}`,
    REDIS_URL: proxy.url,
    VERIFY_SECRET: 'bench-verify-secret-0123456789abcdef',
    QUIET_HOURS: 'off',
    LOG_LEVEL: 'silent',
    UPSTREAM_RETRIES: '0',
  };
  const catalog = testCatalog();
  const sms = createFunction(SPECS['long-sms'], { env, catalog, retryDelayMs: 5 });
  const voice = createFunction(SPECS['voice-notify'], { env, catalog, retryDelayMs: 5 });
  const idem = () => randomBytes(8).toString('hex');
  const requests: Record<SendKind, () => { fn: typeof sms; path: string; body: Record<string, unknown> }> = {
    keyed: () => ({ fn: sms, path: '/sms', body: { phone: phone(), skin: '4', params: ['您的快递已送达'], idempotencyKey: idem() } }),
    unkeyed: () => ({ fn: sms, path: '/sms', body: { phone: phone(), skin: '4', params: ['您的快递已送达'] } }),
    'verification-template': () => ({
      fn: sms,
      path: '/sms',
      body: { phone: phone(), skin: '1', params: ['123456'], idempotencyKey: idem() },
    }),
    voice: () => ({ fn: voice, path: '/voice', body: { phone: phone(), content: '您好，您的快递已送达。', idempotencyKey: idem() } }),
    'verify-start': () => ({ fn: sms, path: '/sms/verify', body: { phone: phone() } }),
  };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const once = async (kind: SendKind): Promise<{ ms: number; status: number }> => {
    const { fn, path, body } = requests[kind]();
    const t0 = performance.now();
    const res = asHttpResult(await fn(httpEvent({ path, body, headers: { authorization: `Bearer ${KEY}` } }), fcContext()));
    const ms = performance.now() - t0;
    if (res.statusCode !== 200) throw new Error(`${kind}: HTTP ${res.statusCode} ${JSON.stringify(res.json)}`);
    return { ms, status: res.statusCode };
  };
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const out: SendCounts[] = [];
  try {
    for (const kind of options.kinds ?? SEND_KINDS) {
      await once(kind);
      await sleep(settleMs);
      const samples: { writes: number; roundTrips: number; names: string[]; ms: number }[] = [];
      for (let i = 0; i < runs; i += 1) {
        proxy.reset();
        const { ms } = await once(kind);
        await sleep(settleMs);
        samples.push({ writes: proxy.writes(), roundTrips: proxy.roundTrips(), names: proxy.commands(), ms });
      }
      samples.sort((a, b) => a.names.length - b.names.length);
      const mid = samples[Math.floor(samples.length / 2)] as (typeof samples)[number];
      const result: SendCounts = { kind, commands: mid.names.length, writes: mid.writes, roundTrips: mid.roundTrips, names: mid.names };
      if (options.delayMs) {
        proxy.setDelay(options.delayMs);
        const delayed: number[] = [];
        for (let i = 0; i < runs; i += 1) delayed.push((await once(kind)).ms);
        proxy.setDelay(0);
        await sleep(settleMs);
        result.delayedRoundTrips = (median(delayed) - median(samples.map((s) => s.ms))) / options.delayMs;
      }
      out.push(result);
    }
  } finally {
    await proxy.close();
  }
  return out;
}

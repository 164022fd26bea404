import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { memoryKey, sha256 } from '#shared/hash';
import type { LimitRule } from '#shared/limiter/limiter';
import { MemoryLimiter } from '#shared/limiter/memory';
import { MemoryStore } from '#shared/store/memory';
import type { StoredOutcome } from '#shared/store/types';

/**
 * An OSS batch file keeps, per line, one idempotency record (memory store) and one phone counter
 * (memory limiter) for their TTL: 100,000 lines, 100,000 of each. Their keys are built from
 * template literals, i.e. V8 ropes; kept as Map keys they cost ~200 bytes more each than their
 * text. The in-memory store and limiter key their Maps by `memoryKey` (one flat 43-character
 * digest) instead. BENCHMARKS.md, "OSS batch file of 100,000 lines".
 */

describe('memoryKey', () => {
  it('is a fixed-size digest, the same for equal keys however they were built, different for different keys', () => {
    const rope = ['idem', 'sms', 'oss', `oss:bucket/batches/a.csv@E7#${12}`].join(':');
    const flat = 'idem:sms:oss:oss:bucket/batches/a.csv@E7#12';
    expect(memoryKey(rope)).toBe(memoryKey(flat));
    expect(memoryKey(flat)).toBe(sha256(flat, 'base64url'));
    expect(memoryKey(flat)).toHaveLength(43);
    expect(memoryKey(`${flat}3`)).not.toBe(memoryKey(flat));
  });
});

describe('the in-memory store and limiter per batch line', () => {
  it('keep under 650 bytes of heap per line (record + phone counter): ~490, ~780 with the keys as built', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const store = new MemoryStore();
    const limiter = new MemoryLimiter();
    const N = 20_000;
    const now = Date.now();
    const [channel, caller, bucket, objectKey, eTag] = [
      'sms',
      'oss',
      'bench-bucket',
      'batches/sms/file.csv',
      '9DFB2448A868D9A534A942992A130B86',
    ];
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < N; i++) {
      // As the OSS adapter and the sender build them (template literals: ropes), the phone digest sliced.
      const key = `idem:${channel}:${caller}:${`oss:${bucket}/${objectKey}@${eTag}#${i + 2}`}`;
      const fingerprint = sha256(`job ${i}`, 'base64url').slice(0, 22);
      const phone = `139${String(i).padStart(8, '0')}`;
      const group = `phone:${channel}:${sha256(phone, 'base64url').slice(0, 16)}`;
      const rule: LimitRule = { kind: 'window', name: 'phone-daily', group, key: `${group}:day`, limit: 10, windowMs: 86_400_000 };
      const claim = await store.claim(key, fingerprint, 60_000, 86_400_000);
      if (claim.kind !== 'claimed') throw new Error('expected a claim');
      expect((await limiter.consume([rule], now)).allowed).toBe(true);
      const outcome: StoredOutcome = {
        status: 'sent',
        channel: 'sms',
        phoneMasked: `${phone.slice(0, 3)}****${phone.slice(7)}`,
        provider: { code: 'OK', message: '发送成功' },
        fingerprint,
        at: new Date(now + i).toISOString(),
        source: 'oss',
        attempts: 1,
        caller: 'oss',
      };
      expect(await store.complete(key, claim.token, outcome, 86_400_000)).toBe(true);
    }
    gc();
    const perLine = (process.memoryUsage().heapUsed - before) / N;
    // Still all there: a replay finds each record, the phone counter counts.
    const last = `idem:sms:oss:oss:bench-bucket/batches/sms/file.csv@9DFB2448A868D9A534A942992A130B86#${N + 1}`;
    expect(await store.claim(last, 'x', 60_000)).toMatchObject({
      kind: 'done',
      outcome: { phoneMasked: `139****${String(N - 1).slice(-4)}` },
    });
    expect(perLine).toBeGreaterThan(100);
    expect(perLine).toBeLessThan(650);
  });
});

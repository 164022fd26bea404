import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { BatchRetryError } from '#shared/errors';
import { RedisStore } from '#shared/store/redis';
import { eventFunction, nextPhone, smsJob, topicEvent } from '../support/events.ts';
import { asBuffer, fcContext } from '../support/fc.ts';
import { startWorld } from '../support/world.ts';

const { fake, logs, redis, prefix: PREFIX } = await startWorld({ redis: true });

it('a process killed after claiming, while the provider had the request: never sent again (in progress, then outcome unknown once stale)', async () => {
  const phone = nextPhone();
  const messageId = `crash-${randomBytes(4).toString('hex')}`;
  const event = topicEvent(smsJob(phone), messageId);
  fake.next({ kind: 'hang' });
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '..', 'support', 'crash-child.ts')], {
    cwd: join(import.meta.dirname, '..', '..'),
    env: { ...process.env, FAKE_LONG_SMS_URL: fake.longSmsUrl, STORE_PREFIX: PREFIX, EVENT: JSON.stringify(event) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  // The provider seeing the request proves the claim was taken (the sender claims first).
  while (fake.requests.length === 0) {
    if (child.exitCode !== null) throw new Error(`child exited early: ${out}`);
    await new Promise((r) => setImmediate(r));
  }
  child.kill('SIGKILL');
  await once(child, 'exit');
  expect(out).not.toContain('finished');

  const key = `${PREFIX}idem:sms:mns:mns:${messageId}`;
  const claim = await redis.get(key);
  expect(claim).toMatch(/^c:[0-9a-f-]{36}:\d+:/);
  // The claim is the durable marker that a send may have happened: kept as long as an outcome (24 h).
  expect(await redis.pttl(key)).toBeGreaterThan(23 * 3600_000);
  // It is stale after the function timeout (fixture: 30 s) plus a margin.
  const staleAt = Number(claim!.split(':')[2]);
  expect(staleAt - Date.now()).toBeGreaterThan(30_000);
  expect(staleAt - Date.now()).toBeLessThanOrEqual(60_000);

  const fn = eventFunction('long-sms', fake, new RedisStore(() => Promise.resolve(redis), { prefix: PREFIX }));
  const whileClaimed = await fn(asBuffer(event), fcContext()).catch((e: unknown) => e);
  expect(whileClaimed).toBeInstanceOf(BatchRetryError);
  expect((whileClaimed as BatchRetryError).summary.counts).toEqual({ 'in-progress': 1 });
  expect(fake.requests).toHaveLength(1);

  // Make the claim stale now instead of waiting ~60 s (same value, stale time in the past).
  const parts = claim!.split(':');
  parts[2] = String(Date.now() - 1);
  await redis.set(key, parts.join(':'), 'KEEPTTL');
  // The redelivery after the stale time: unknown, not redelivered again, and not sent.
  expect(await fn(asBuffer(event), fcContext())).toMatchObject({ ok: true, counts: { unknown: 1 } });
  expect(await fn(asBuffer(event), fcContext())).toMatchObject({ ok: true, counts: { unknown: 1 } });
  expect(fake.requests).toHaveLength(1);
  expect(
    logs.parsed().some((l) => l.event === 'batch-job' && l.staleClaim === true && l.phone === `${phone.slice(0, 3)}****${phone.slice(-4)}`),
  ).toBe(true);
});

import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ScheduledJob, Store, StoredOutcome } from '#shared/store/types';

/** What every Store must do, run against each implementation. */
export function storeContract(name: string, make: () => Store, sleep: (ms: number) => Promise<void>): void {
  const outcome = (fp: string): StoredOutcome => ({
    status: 'sent',
    channel: 'sms',
    phoneMasked: '138****8000',
    fingerprint: fp,
    at: new Date().toISOString(),
  });
  const key = () => `idem:sms:test:${randomUUID()}`;

  describe(`${name} store: idempotency`, () => {
    it('gives a key to one claimant; a second sees in-progress with the first fingerprint', async () => {
      const s = make();
      const k = key();
      const a = await s.claim(k, 'fp-a', 10_000);
      expect(a.kind).toBe('claimed');
      expect(await s.claim(k, 'fp-b', 10_000)).toMatchObject({ kind: 'in-progress', fingerprint: 'fp-a', stale: false });
    });

    it('of many concurrent claims exactly one wins', async () => {
      const s = make();
      const k = key();
      const results = await Promise.all(Array.from({ length: 20 }, () => s.claim(k, 'fp', 10_000)));
      expect(results.filter((r) => r.kind === 'claimed')).toHaveLength(1);
    });

    it('records the outcome only with the claim token, then replays it', async () => {
      const s = make();
      const k = key();
      const c = await s.claim(k, 'fp', 10_000);
      if (c.kind !== 'claimed') throw new Error('expected a claim');
      expect(await s.complete(k, 'not-the-token', outcome('fp'), 60_000)).toBe(false);
      expect(await s.complete(k, c.token, outcome('fp'), 60_000)).toBe(true);
      const again = await s.claim(k, 'fp', 10_000);
      expect(again).toMatchObject({ kind: 'done', outcome: { status: 'sent', fingerprint: 'fp', phoneMasked: '138****8000' } });
    });

    it('release frees the key for the token holder only', async () => {
      const s = make();
      const k = key();
      const c = await s.claim(k, 'fp', 10_000);
      if (c.kind !== 'claimed') throw new Error('expected a claim');
      await s.release(k, 'other-token');
      expect((await s.claim(k, 'fp', 10_000)).kind).toBe('in-progress');
      await s.release(k, c.token);
      expect((await s.claim(k, 'fp', 10_000)).kind).toBe('claimed');
    });

    it('a claim kept past its stale time is reported stale (its attempt may have sent) and is not taken again', async () => {
      const s = make();
      const k = key();
      // 1 s of freshness: wide enough that a loaded CI machine answers the second claim inside it.
      const c = await s.claim(k, 'fp', 1000, 60_000);
      if (c.kind !== 'claimed') throw new Error('expected a claim');
      expect(await s.claim(k, 'fp', 1000, 60_000)).toMatchObject({ kind: 'in-progress', fingerprint: 'fp', stale: false });
      await sleep(1050);
      const later = await s.claim(k, 'fp', 1000, 60_000);
      expect(later).toMatchObject({ kind: 'in-progress', fingerprint: 'fp', stale: true });
      expect(later.kind === 'in-progress' && later.staleAt! <= Date.now()).toBe(true);
      // The late attempt may still record its answer, which then replays.
      expect(await s.complete(k, c.token, outcome('fp'), 60_000)).toBe(true);
      expect((await s.claim(k, 'fp', 30, 60_000)).kind).toBe('done');
    });

    it('complete writes the outcome when the claim is gone (the store lost it), never over another claim or an outcome', async () => {
      const s = make();
      const k = key();
      expect(await s.complete(k, 'lost-token', outcome('fp'), 60_000)).toBe(true);
      expect(await s.claim(k, 'fp', 10_000)).toMatchObject({ kind: 'done', outcome: { fingerprint: 'fp' } });
      expect(await s.complete(k, 'lost-token', outcome('fp2'), 60_000)).toBe(false);
      const k2 = key();
      expect((await s.claim(k2, 'fp', 10_000)).kind).toBe('claimed');
      expect(await s.complete(k2, 'other-token', outcome('fp'), 60_000)).toBe(false);
      expect((await s.claim(k2, 'fp', 10_000)).kind).toBe('in-progress');
    });

    it('ping answers while the store is reachable', async () => {
      await expect(make().ping()).resolves.toBeUndefined();
    });

    it('an expired claim can be taken again, and the old token can no longer complete it', async () => {
      const s = make();
      const k = key();
      const c = await s.claim(k, 'fp', 30);
      if (c.kind !== 'claimed') throw new Error('expected a claim');
      await sleep(60);
      const c2 = await s.claim(k, 'fp', 10_000);
      expect(c2.kind).toBe('claimed');
      expect(await s.complete(k, c.token, outcome('fp'), 60_000)).toBe(false);
    });
  });

  describe(`${name} store: scheduled jobs`, () => {
    const entry = (over: Partial<ScheduledJob> = {}): ScheduledJob => ({
      id: randomUUID(),
      channel: 'sms',
      caller: 'app',
      key: `k-${randomUUID()}`,
      job: { phone: '13800138000', skin: '1', params: ['1'] },
      dueAt: 1_000,
      ...over,
    });

    it('hands out only due jobs of the channel, each to one of two overlapping takers, until acked or the lease ends', async () => {
      const s = make();
      const channel = 'voice';
      const due = [entry({ channel, dueAt: 1_000 }), entry({ channel, dueAt: 2_000 })];
      const later = entry({ channel, dueAt: 9_000 });
      for (const e of [...due, later]) await s.schedule(e);
      const [a, b] = await Promise.all([s.claimDue(channel, 5_000, 10, 1_000), s.claimDue(channel, 5_000, 10, 1_000)]);
      const ids = [...a!, ...b!].map((j) => j.id).sort();
      expect(ids).toEqual(due.map((d) => d.id).sort());
      expect(await s.claimDue(channel, 5_500, 10, 1_000)).toEqual([]);
      await s.ack(channel, due[0]!.id);
      // Lease over: the un-acked job comes back (a crashed timer loses nothing).
      const back = await s.claimDue(channel, 6_001, 10, 1_000);
      expect(back.map((j) => j.id)).toEqual([due[1]!.id]);
      expect(back[0]).toEqual(due[1]);
      await s.ack(channel, due[1]!.id);
      expect((await s.claimDue(channel, 9_000, 10, 1_000)).map((j) => j.id)).toEqual([later.id]);
      await s.ack(channel, later.id);
    });

    it('caps the jobs one caller has waiting per channel: new ids refused at the cap, a known id replaced, places freed by ack, cancel and expiry', async () => {
      const s = make();
      const caller = `cap-${randomUUID()}`;
      const now = Date.now();
      const mk = (over: Partial<ScheduledJob> = {}) =>
        entry({ caller, channel: 'sms', dueAt: now + 60_000, expiresAt: now + 3_600_000, ...over });
      const a = mk();
      const b = mk();
      expect(await s.schedule(a, { maxPending: 2, now })).toBe(true);
      expect(await s.schedule(b, { maxPending: 2, now })).toBe(true);
      const c = mk();
      expect(await s.schedule(c, { maxPending: 2, now })).toBe(false);
      // Refused means not stored: it is never handed out.
      expect((await s.claimDue('sms', now + 120_000, 100, 1_000)).map((j) => j.id)).not.toContain(c.id);
      // The same id again (a retried POST, a deferral) is a replacement, not a new job.
      expect(await s.schedule({ ...a, dueAt: now + 90_000 }, { maxPending: 2, now })).toBe(true);
      // Other callers and the other channel have their own count; no cap means no refusal.
      expect(await s.schedule(mk({ caller: `${caller}-other` }), { maxPending: 2, now })).toBe(true);
      expect(await s.schedule(mk({ channel: 'voice' }), { maxPending: 2, now })).toBe(true);
      expect(await s.schedule(mk(), { now })).toBe(true);
      const d = mk();
      expect(await s.schedule(d, { maxPending: 3, now })).toBe(false);
      await s.ack('sms', a.id, caller);
      expect(await s.schedule(d, { maxPending: 3, now })).toBe(true);
      expect(await s.cancel('sms', d.id, caller)).toBe(true);
      expect(await s.schedule(mk(), { maxPending: 3, now })).toBe(true);
      // Jobs past their expiry no longer count.
      expect(await s.schedule(mk(), { maxPending: 3, now: now + 3_600_001 })).toBe(true);
    });

    it('cancel removes a job of its caller only, once', async () => {
      const s = make();
      const e = entry({ channel: 'sms', dueAt: 0 });
      await s.schedule(e);
      expect(await s.cancel('sms', e.id, 'someone-else')).toBe(false);
      expect(await s.cancel('voice', e.id, 'app')).toBe(false);
      expect(await s.cancel('sms', e.id, 'app')).toBe(true);
      expect(await s.cancel('sms', e.id, 'app')).toBe(false);
      expect((await s.claimDue('sms', 10_000, 100, 1_000)).map((j) => j.id)).not.toContain(e.id);
    });
  });
}

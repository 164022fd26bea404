import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { defaultUrls } from '#shared/channels/index';
import { createSender, type SendContext } from '#shared/core/send';
import { createLogger } from '#shared/log';
import type { ProviderClient, ProviderResult } from '#shared/provider/client';
import type { ProviderRequest } from '#shared/provider/request';
import { MemoryStore } from '#shared/store/memory';

/**
 * core/send.ts with plain dependencies: a provider client that records what it is given (the
 * HTTP path to the real fake provider is covered by test/integration/provider-*.test.ts), the
 * real in-memory store. One job in, one outcome out; the idempotency claim around it.
 */

function setup(answer: (req: ProviderRequest) => ProviderResult) {
  const requests: ProviderRequest[] = [];
  const client: ProviderClient = {
    async send(req) {
      requests.push(req);
      return answer(req);
    },
  };
  const lines: string[] = [];
  const logger = createLogger({
    destination: new Writable({
      write(chunk, _e, done) {
        lines.push(String(chunk));
        done();
      },
    }),
  });
  const sender = createSender({
    client,
    store: new MemoryStore(),
    urls: { ...defaultUrls(), sms: 'https://sms.test/largesms', voice: 'https://voice.test/yytz' },
  });
  const ctx: SendContext = { requestId: 'r1', caller: 'test', logger };
  return { sender, requests, ctx, lines };
}

const OK = (): ProviderResult => ({
  status: 'sent',
  provider: { code: 'OK', message: '发送成功' },
  safeToRetry: false,
  attempts: 1,
  latencyMs: 2,
});

describe('createSender', () => {
  it('builds each channel’s request from its description: SMS param|phone|skin to LONG_SMS_URL, voice content|mobile to VOICE_URL', async () => {
    const { sender, requests, ctx } = setup(OK);
    await sender.send({ channel: 'sms', phone: '13800138000', skin: '7', params: ['a', 'b'] }, ctx);
    await sender.send({ channel: 'voice', phone: '13800138000', content: '您好' }, ctx);
    expect(requests).toEqual([
      {
        channel: 'sms',
        endpoint: 'https://sms.test/largesms',
        query: [
          ['param', 'a|b'],
          ['phone', '13800138000'],
          ['skin', '7'],
        ],
      },
      {
        channel: 'voice',
        endpoint: 'https://voice.test/yytz',
        query: [
          ['content', '您好'],
          ['mobile', '13800138000'],
        ],
      },
    ]);
  });

  it('the same key and job is replayed from the store, never sent twice', async () => {
    const { sender, requests, ctx } = setup(OK);
    const job = { channel: 'sms' as const, phone: '13800138000', skin: '7', params: ['a'], idempotencyKey: 'order-1' };
    const first = await sender.send(job, ctx);
    const again = await sender.send(job, ctx);
    expect(first).toMatchObject({ status: 'sent', replayed: false, phoneMasked: '138****8000' });
    expect(again).toMatchObject({ status: 'sent', replayed: true });
    expect(requests).toHaveLength(1);
  });

  it('the same key with another job is refused before any send', async () => {
    const { sender, requests, ctx } = setup(OK);
    await sender.send({ channel: 'sms', phone: '13800138000', skin: '7', params: ['a'], idempotencyKey: 'k' }, ctx);
    await expect(
      sender.send({ channel: 'sms', phone: '13800138000', skin: '7', params: ['b'], idempotencyKey: 'k' }, ctx),
    ).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
    });
    expect(requests).toHaveLength(1);
  });

  it('scrubs the caller’s texts (the channel’s scrub list) from a provider message that echoes them', async () => {
    const { sender, ctx } = setup((req) => ({
      status: 'rejected',
      provider: { code: '105', message: `bad param ${req.query[0]?.[1]}` },
      safeToRetry: false,
      attempts: 1,
      latencyMs: 1,
    }));
    const o = await sender.send({ channel: 'voice', phone: '13800138000', content: '您的验证码是 4321' }, ctx);
    expect(o.provider?.message).toBeDefined();
    expect(o.provider?.message).not.toContain('4321');
  });
});

describe('providerDone (issue 15: a batch starts its next job while this one records)', () => {
  it('is called once, after the provider answered and before the outcome is in the store; a replay never calls it', async () => {
    const { sender, ctx } = setup(OK);
    const seen: string[] = [];
    const job = { channel: 'sms' as const, phone: '13800138000', skin: '7', params: ['a'], idempotencyKey: 'k-1' };
    const first = await sender.send(job, { ...ctx, providerDone: () => seen.push('done') });
    expect(first.status).toBe('sent');
    expect(seen).toEqual(['done']);
    const again = await sender.send(job, { ...ctx, providerDone: () => seen.push('again') });
    expect(again.replayed).toBe(true);
    expect(seen).toEqual(['done']);
  });

  it('runs before the record: the key is still claimed (in progress) when it is called', async () => {
    const store = new MemoryStore();
    const sender = createSender({
      client: { send: async () => OK() },
      store,
      urls: { sms: 'https://s.test/x', voice: 'https://v.test/y' },
    });
    const { ctx } = setup(OK);
    let claimAtDone: string | undefined;
    const job = { channel: 'sms' as const, phone: '13800138000', skin: '7', params: ['a'], idempotencyKey: 'k-2' };
    await sender.send(job, {
      ...ctx,
      providerDone: () => {
        void store.claim('idem:sms:test:k-2', 'other', 1000).then((c) => (claimAtDone = c.kind));
      },
    });
    expect(claimAtDone).toBe('in-progress');
  });
});

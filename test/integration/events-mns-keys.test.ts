import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { messageKey } from '#shared/fc/adapters/mns-queue';
import { MemoryStore } from '#shared/store/memory';
import { eventFunction, nextPhone, phonesSent, smsJob } from '../support/events.ts';
import { asBuffer, fcContext, fixture } from '../support/fc.ts';
import { startWorld } from '../support/world.ts';

/** Issue 11 item 5: default MNS keys that cannot collide. */

const { fake, logs } = await startWorld({});

const fn = () => eventFunction('long-sms', fake, new MemoryStore());
const body = () => JSON.stringify(smsJob(nextPhone()));
const cloudEvent = (data: Record<string, unknown>, id: unknown = `ce-${randomBytes(6).toString('hex')}`) => {
  const base = fixture<Record<string, any>>('mns-queue-cloudevent');
  return { ...base, id, data: { requestId: 'r', ...data } };
};

describe('MNS queue messages without a usable messageId', () => {
  it('two different RawData messages without messageId in one event are both sent; the event redelivered sends nothing more', async () => {
    const send = fn();
    const event = [
      { requestId: 'r', messageBody: body() },
      { requestId: 'r', messageBody: body() },
    ];
    expect(await send(asBuffer(event), fcContext())).toEqual({ ok: true, source: 'mns', total: 2, counts: { sent: 2 } });
    expect(await send(asBuffer(event), fcContext())).toEqual({ ok: true, source: 'mns', total: 2, counts: { replayed: 2 } });
    expect(fake.requests).toHaveLength(2);
  });

  it("two different messages without any id, each in its own event (the issue's mns:index-0 clash), are both sent", async () => {
    const send = fn();
    expect(await send(asBuffer([{ requestId: 'r', messageBody: body() }]), fcContext())).toMatchObject({ counts: { sent: 1 } });
    expect(await send(asBuffer([{ requestId: 'r', messageBody: body() }]), fcContext())).toMatchObject({ counts: { sent: 1 } });
    expect(fake.requests).toHaveLength(2);
  });

  it('the same message redelivered alone (another batch position) is sent once', async () => {
    const send = fn();
    const a = { requestId: 'r', messageBody: body() };
    const b = { requestId: 'r', messageBody: body() };
    await send(asBuffer([a, b]), fcContext());
    expect(await send(asBuffer([b]), fcContext())).toMatchObject({ counts: { replayed: 1 } });
    expect(fake.requests).toHaveLength(2);
  });

  it('CloudEvents without data.messageId: two different ones in a batch are both sent, each once', async () => {
    const send = fn();
    const event = [cloudEvent({ messageBody: body() }), cloudEvent({ messageBody: body() })];
    expect(await send(asBuffer(event), fcContext())).toMatchObject({ counts: { sent: 2 } });
    expect(await send(asBuffer(event), fcContext())).toMatchObject({ counts: { replayed: 2 } });
    expect(fake.requests).toHaveLength(2);
  });

  it('an object messageId never becomes "[object Object]": two messages with object ids are both sent', async () => {
    const send = fn();
    const event = [cloudEvent({ messageId: { x: 1 }, messageBody: body() }), cloudEvent({ messageId: { x: 1 }, messageBody: body() })];
    expect(await send(asBuffer(event), fcContext())).toMatchObject({ counts: { sent: 2 } });
    expect(phonesSent(fake)).toHaveLength(2);
    expect(logs.text()).not.toContain('[object Object]');
  });

  it('messageKey: the messageId when it is a usable string or number, else a digest of event id and body', () => {
    expect(messageKey({ messageId: 'C6DB60D1', messageBody: 'x' }, 'ev')).toBe('C6DB60D1');
    expect(messageKey({ messageId: 42, messageBody: 'x' }, 'ev')).toBe('42');
    const d = messageKey({ messageId: { a: 1 }, messageBody: 'x' }, 'ev');
    expect(d).toMatch(/^body-[\w-]{27}$/);
    expect(messageKey({ messageBody: 'x' }, 'ev')).toBe(d);
    expect(messageKey({ messageBody: 'y' }, 'ev')).not.toBe(d);
    expect(messageKey({ messageBody: 'x' }, 'ev2')).not.toBe(d);
    expect(messageKey({ messageId: '', messageBody: 'x' }, 'ev')).toBe(d);
    expect(messageKey({ messageId: 'z'.repeat(101), messageBody: 'x' }, 'ev')).toBe(d);
  });
});

describe('MNS topic JSON with an empty MessageId', () => {
  it('two different messages are both sent', async () => {
    const send = fn();
    for (let i = 0; i < 2; i += 1) {
      const event = { ...fixture('mns-topic-json'), Message: body(), MessageId: '' };
      expect(await send(asBuffer(event), fcContext())).toMatchObject({ counts: { sent: 1 } });
    }
    expect(fake.requests).toHaveLength(2);
  });
});

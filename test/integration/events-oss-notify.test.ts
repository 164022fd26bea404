import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '#shared/store/memory';
import { type CatalogFile, createCatalog } from '#shared/templates/catalog';
import { eventFunction, ossContext, ossEvent } from '../support/events.ts';
import { OSS_CREDS } from '../support/fake-oss.ts';
import { asBuffer } from '../support/fc.ts';
import { PROVIDER_OK, startWorld } from '../support/world.ts';

/**
 * Notify on upload (docs/notify-on-upload.md) end to end: the real OSS event shape, the fake OSS
 * (V4 signatures recomputed with ali-oss's signer) for the HEAD, the fake provider for the send.
 */

const { fake, oss, logs } = await startWorld({ provider: { answer: PROVIDER_OK }, oss: {} });

const NOTIFY_CATALOG: CatalogFile = {
  templates: [{ skin: '21', kind: 'notification', text: '【测试】#name#您好，您的电子发票#order#已开具，请查收。', sign: '1' }],
  notifications: [
    {
      name: 'invoice-sms',
      channel: 'sms',
      key: 'invoices/{phone}/{order}.pdf',
      phone: { part: 'phone' },
      skin: '21',
      params: { name: { meta: 'customer' }, order: { part: 'order' } },
    },
    {
      name: 'receipt-sms',
      channel: 'sms',
      key: 'receipts/{phone}/{id}.pdf',
      phone: { part: 'phone' },
      skin: '21',
      params: { name: { value: '客户' }, order: { part: 'id' } },
    },
    {
      name: 'parcel-voice',
      channel: 'voice',
      key: 'parcels/{phone}/{waybill}.jpg',
      phone: { part: 'phone' },
      content: '您好，您的大件包裹{waybill}已在{station}签收，照片已上传。',
      params: { waybill: { part: 'waybill' }, station: { meta: 'Station' } },
    },
  ],
};

const resource = (key: string) => `/notify-bucket/${key}`;
function upload(key: string, body: string, meta: Record<string, string> = {}): string {
  oss.objects.set(resource(key), Buffer.from(body));
  oss.meta.set(resource(key), meta);
  return oss.etagOf(resource(key));
}

const catalog = () => createCatalog(NOTIFY_CATALOG, 'notify test catalog');
const sms = (env: Record<string, string> = {}) =>
  eventFunction(
    'long-sms',
    fake,
    new MemoryStore(),
    { catalog: catalog() },
    { OSS_ENDPOINT: oss.endpoint, LIMIT_PHONE_DAILY: '0', ...env },
  );
const voice = () =>
  eventFunction('voice-notify', fake, new MemoryStore(), { catalog: catalog() }, { OSS_ENDPOINT: oss.endpoint, LIMIT_PHONE_DAILY: '0' });
const tag = () => randomBytes(3).toString('hex');
const notifyLines = (event: string) => logs.parsed().filter((l) => l.event === event);

describe('notify on upload (long-sms, rule invoice-sms)', () => {
  it('a matching upload sends exactly one job with values from the key and the metadata, after one V4-signed HEAD', async () => {
    const order = `A${tag()}`;
    const key = `notify/sms/invoices/13800138000/${order}.pdf`;
    // 张三, percent-encoded UTF-8 (what the docs tell uploaders to send).
    const eTag = upload(key, '%PDF-1.7 invoice', { customer: '%E5%BC%A0%E4%B8%89' });
    const answer = (await sms()(asBuffer(ossEvent(key, eTag)), ossContext())) as {
      ok: boolean;
      total: number;
      counts: Record<string, number>;
    };
    expect(answer).toMatchObject({ ok: true, total: 1, counts: { sent: 1 } });
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]!.query).toEqual({ param: `张三|${order}`, phone: '13800138000', skin: '21', sign: '1' });
    // On the wire: UTF-8 percent-encoding of 张三, then the | separator, then the order from the key.
    expect(fake.requests[0]!.rawQuery).toContain(`param=%E5%BC%A0%E4%B8%89%7C${order}`);
    // One HEAD (never a GET: the object's body is not read), signed V4 and accepted by the fake OSS.
    expect(oss.requests.map((r) => [r.method, r.path, r.auth, r.ok])).toEqual([['HEAD', resource(key), 'v4', true]]);
    expect(oss.requests[0]!.headers.authorization).toMatch(
      /^OSS4-HMAC-SHA256 Credential=STS\.test-key-id\/\d{8}\/cn-shanghai\/oss\/aliyun_v4_request,Signature=[0-9a-f]{64}$/,
    );
    expect(oss.requests[0]!.headers['x-oss-security-token']).toBe(OSS_CREDS.securityToken);
    expect(notifyLines('notify').at(-1)).toMatchObject({
      rule: 'invoice-sms',
      status: 'sent',
      object: expect.stringContaining('138****8000'),
    });
  });

  it('redelivery and a re-upload of the same bytes send nothing; a new version (new eTag) notifies again', async () => {
    const fn = sms();
    const key = `notify/sms/invoices/13800138001/B${tag()}.pdf`;
    const eTag = upload(key, 'v1', { customer: 'Li' });
    const event = ossEvent(key, eTag);
    await fn(asBuffer(event), ossContext());
    expect(fake.requests).toHaveLength(1);
    // The same event again (FC's async retry, OSS's at-least-once delivery).
    expect(await fn(asBuffer(event), ossContext())).toMatchObject({ ok: true, counts: { replayed: 1 } });
    // The same bytes uploaded again: a new event, the same eTag.
    await fn(asBuffer(ossEvent(key, eTag)), ossContext());
    expect(fake.requests).toHaveLength(1);
    // New bytes: a new version, a new notification.
    const eTag2 = upload(key, 'v2', { customer: 'Li' });
    expect(eTag2).not.toBe(eTag);
    await fn(asBuffer(ossEvent(key, eTag2)), ossContext());
    expect(fake.requests).toHaveLength(2);
  });

  it('metadata stored as raw UTF-8 bytes is read as UTF-8 too', async () => {
    const key = `notify/sms/invoices/13800138002/C${tag()}.pdf`;
    const eTag = upload(key, 'x', { customer: '李四' });
    await sms()(asBuffer(ossEvent(key, eTag)), ossContext());
    expect(fake.requests.map((r) => r.query.param)).toEqual([expect.stringMatching(/^李四\|C/)]);
  });

  it('a key that matches no rule sends nothing and reads nothing (logged, ignored); nor is a .csv under the notify prefix read as a batch', async () => {
    const fn = sms();
    for (const key of [
      'notify/sms/contracts/13800138003/x.pdf',
      'notify/sms/invoices/13800138003.pdf',
      'notify/sms/invoices/13800138003/x.PDF',
      'notify/sms/list.csv',
      'notify/sms/parcels/13800138003/SF1.jpg',
    ]) {
      const eTag = upload(key, 'x', { customer: 'x' });
      expect(await fn(asBuffer(ossEvent(key, eTag)), ossContext())).toMatchObject({ ok: true, total: 0 });
    }
    expect(fake.requests).toHaveLength(0);
    expect(oss.requests).toHaveLength(0);
    expect(notifyLines('notify-unmatched').length).toBeGreaterThanOrEqual(5);
  });

  it('a rule whose metadata is missing is refused with a clear log line, never sent with an empty param', async () => {
    const key = `notify/sms/invoices/13800138004/D${tag()}.pdf`;
    const eTag = upload(key, 'x', {});
    const answer = await sms()(asBuffer(ossEvent(key, eTag)), ossContext());
    expect(answer).toMatchObject({ ok: true, total: 1, counts: { poison: 1 } });
    expect(fake.requests).toHaveLength(0);
    const line = notifyLines('notify-refused').at(-1);
    expect(line).toMatchObject({ level: 'warn', rule: 'invoice-sms' });
    expect(line.msg).toBe('rule "invoice-sms": params.name: metadata x-oss-meta-customer is missing on the object; nothing sent');
    // An empty value is no better than a missing one.
    const key2 = `notify/sms/invoices/13800138004/E${tag()}.pdf`;
    await sms()(asBuffer(ossEvent(key2, upload(key2, 'x', { customer: '' }))), ossContext());
    expect(fake.requests).toHaveLength(0);
    expect(notifyLines('notify-refused').at(-1).msg).toContain('metadata x-oss-meta-customer is empty');
  });

  it('a rule with constants and key parts only makes no HEAD at all', async () => {
    const key = `notify/sms/receipts/13800138005/R${tag()}.pdf`;
    await sms()(asBuffer(ossEvent(key, upload(key, 'x'))), ossContext());
    expect(fake.requests.map((r) => r.query.param)).toEqual([expect.stringMatching(/^客户\|R/)]);
    expect(oss.requests).toHaveLength(0);
  });

  it('hostile keys (../, %00, 1 KB of |, | in a part) never reach the provider', async () => {
    const fn = sms();
    const pipes = '|'.repeat(1024);
    const cases: Array<[string, string | undefined]> = [
      ['notify/sms/invoices/../13800138006/A1.pdf', undefined],
      ['notify/sms/invoices/13800138006/../A1.pdf', undefined],
      ['notify/sms/invoices/13800138006/..%2F..%2Fetc%2Fpasswd.pdf', 'notify/sms/invoices/13800138006/..%2F..%2Fetc%2Fpasswd.pdf'],
      ['notify/sms/invoices/13800138006/A1\u0000.pdf', 'notify/sms/invoices/13800138006/A1%00.pdf'],
      ['notify/sms/invoices/1380013%0080006/A1.pdf', 'notify/sms/invoices/1380013%0080006/A1.pdf'],
      [`notify/sms/invoices/13800138006/${pipes}.pdf`, undefined],
      ['notify/sms/invoices/13800138006/A1|13900139000.pdf', undefined],
      ['notify/sms/invoices/13800138006|1/A1.pdf', undefined],
    ];
    for (const [key, raw] of cases) {
      const eTag = upload(key, 'x', { customer: 'ok' });
      const answer = await fn(asBuffer(ossEvent(key, eTag, raw)), ossContext()).catch((e: unknown) => e);
      expect(answer, key.slice(0, 60)).toMatchObject({ ok: true });
    }
    expect(fake.requests).toHaveLength(0);
    const refused = notifyLines('notify-refused').slice(-cases.length);
    expect(refused.map((l) => l.msg)).toEqual([
      expect.stringContaining('has a "." or ".." segment'),
      expect.stringContaining('has a "." or ".." segment'),
      expect.stringContaining('has a "." or ".." segment'),
      expect.stringContaining('contains control characters'),
      expect.stringContaining('contains control characters'),
      expect.stringContaining('longer than 1023 bytes'),
      expect.stringContaining('params.order: key part {order} contains "|"'),
      expect.stringContaining('phone: key part {phone} contains "|"'),
    ]);
  });

  it('a value the job schema refuses (a phone that is not one) is refused by the ordinary validation', async () => {
    const key = `notify/sms/invoices/12345/F${tag()}.pdf`;
    const answer = await sms()(asBuffer(ossEvent(key, upload(key, 'x', { customer: 'x' }))), ossContext());
    expect(answer).toMatchObject({ ok: true, counts: { poison: 1 } });
    expect(fake.requests).toHaveLength(0);
  });

  it('goes through the same guards as every job: a denylisted phone is refused', async () => {
    const key = `notify/sms/invoices/13800138007/G${tag()}.pdf`;
    const answer = await sms({ PHONE_DENYLIST: '1380013' })(asBuffer(ossEvent(key, upload(key, 'x', { customer: 'x' }))), ossContext());
    expect(answer).toMatchObject({ ok: true, counts: { refused: 1 } });
    expect(fake.requests).toHaveLength(0);
  });

  it('an object overwritten since its event is left to the newer version (metadata belongs to a version)', async () => {
    const key = `notify/sms/invoices/13800138008/H${tag()}.pdf`;
    const old = upload(key, 'old', { customer: 'x' });
    upload(key, 'new', { customer: 'y' });
    expect(await sms()(asBuffer(ossEvent(key, old)), ossContext())).toMatchObject({ ok: true, total: 0 });
    expect(fake.requests).toHaveLength(0);
    expect(notifyLines('notify-superseded')).not.toHaveLength(0);
  });

  it('a refused HEAD signature fails the invocation (FC retries, then dead-letters) and sends nothing', async () => {
    const key = `notify/sms/invoices/13800138009/I${tag()}.pdf`;
    const eTag = upload(key, 'x', { customer: 'x' });
    const wrong = ossContext('long-sms', { ...OSS_CREDS, accessKeySecret: 'wrong-secret' });
    const err = await sms()(asBuffer(ossEvent(key, eTag)), wrong).catch((e: unknown) => e as Error);
    expect((err as Error).message).toContain('HEAD');
    expect((err as Error).message).toContain('403');
    expect(oss.requests.map((r) => [r.method, r.refused])).toEqual([['HEAD', 'SignatureDoesNotMatch']]);
    expect(fake.requests).toHaveLength(0);
  });
});

describe('notify on upload (voice-notify, rule parcel-voice)', () => {
  it('a large-parcel photo calls the phone in the key with the waybill from the key and the station from metadata', async () => {
    const waybill = `SF${tag()}`;
    const key = `notify/voice/parcels/13900139000/${waybill}.jpg`;
    const eTag = upload(key, 'JPEG', { station: encodeURIComponent('朝阳站') });
    const answer = await voice()(asBuffer(ossEvent(key, eTag)), ossContext('voice-notify'));
    expect(answer).toMatchObject({ ok: true, counts: { sent: 1 } });
    expect(fake.requests.map((r) => r.query)).toEqual([
      { content: `您好，您的大件包裹${waybill}已在朝阳站签收，照片已上传。`, mobile: '13900139000' },
    ]);
    expect(oss.requests.map((r) => [r.method, r.ok])).toEqual([['HEAD', true]]);
  });

  it('the voice function only applies voice rules, under its own prefix', async () => {
    const key = `notify/voice/invoices/13900139001/A${tag()}.pdf`;
    expect(await voice()(asBuffer(ossEvent(key, upload(key, 'x', { customer: 'x' }))), ossContext('voice-notify'))).toMatchObject({
      ok: true,
      total: 0,
    });
    expect(fake.requests).toHaveLength(0);
  });
});

describe('secrets', () => {
  it('keep the OSS secret and STS token out of every log line, and mask phones', () => {
    expect(logs.text()).not.toContain(OSS_CREDS.accessKeySecret);
    expect(logs.text()).not.toContain(OSS_CREDS.securityToken);
    expect(logs.text()).not.toContain('13800138000');
  });
});

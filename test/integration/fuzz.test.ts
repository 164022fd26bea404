import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchRetryError, PoisonEventError } from '#shared/errors';
import { MemoryStore } from '#shared/store/memory';
import { type FakeOss, startFakeOss } from '../support/fake-oss.ts';
import { type Behaviour, type FakeProvider, startFakeProvider } from '../support/fake-provider.ts';
import { asHttpResult, captureLogs, fcContext, fixture, httpEvent } from '../support/fc.ts';
import { invoker, LIMITS_AND_QUIET_HOURS_OFF } from '../support/functions.ts';

/**
 * Property-based fuzzing (issue 11) of HTTP bodies and event shapes through the real handlers,
 * against a counting fake provider and a fake OSS. Seeded and bounded (numRuns), so a failure
 * is reproducible: fast-check prints the seed, path and the shrunk counterexample.
 *
 * Properties:
 * - no crash: HTTP always answers; an async trigger resolves or throws only the documented
 *   errors the platform retries (BatchRetryError, PoisonEventError, OSS read failures);
 * - no 5xx on HTTP except the documented provider/store outcomes (502/503/504 with their codes);
 * - nothing sent for an invalid job: a 4xx without a provider code, and a batch with nothing
 *   sent/answered, leave the provider's request count unchanged;
 * - no secret (distinctive AppCode, caller key, OSS secret), no stack frame or file path, no full
 *   phone number in any answer or log line.
 */

const SEED = 20_261_201;
const APPCODE = 'AppCodeFUZZ5e1c9a3b7d2f4e6a8c';
const CALLER_KEY = 'CallerKeyFUZZ8b7a6f5e4d3c2b1a';
const OSS = { accessKeyId: 'STS.fuzz-key-id', accessKeySecret: 'OssSecretFUZZ0a9b8c7d6e5f', securityToken: 'sts-token-FUZZ' };
const SECRETS = [APPCODE, CALLER_KEY, OSS.accessKeySecret, OSS.securityToken];
const UNMASKED_PHONE = /(?<!\d)1[3-9]\d{9}(?!\d)/;
// A stack frame (`at fn (file:line)`, `\n    at `) or a path of this machine or of FC's (/var/task).
const INTERNALS = /\\n\s+at |\n\s+at |\bat [\w.$<>]+ \(|node_modules|\/work\/|\/var\/task|\/code\/|\.ts:\d+:\d+|\.js:\d+:\d+/;
const DOCUMENTED_5XX: Record<number, string[]> = {
  502: ['PROVIDER_ERROR', 'PROVIDER_AUTH_FAILED'],
  503: ['QUOTA_EXHAUSTED', 'PROVIDER_THROTTLED', 'STORE_UNAVAILABLE'],
  504: ['OUTCOME_UNKNOWN'],
};

let fake: FakeProvider;
let oss: FakeOss;
const logs = captureLogs();
let fns: Record<'long-sms' | 'voice-notify' | 'template-validate', ReturnType<typeof invoker>>;

beforeAll(async () => {
  fake = await startFakeProvider({ appCode: APPCODE });
  oss = await startFakeOss({ ...OSS, chunkBytes: 512 });
  const env = {
    APPCODE,
    LONG_SMS_URL: fake.longSmsUrl,
    VOICE_URL: fake.voiceUrl,
    API_KEYS: `fuzzer:${CALLER_KEY}`,
    OSS_ENDPOINT: oss.endpoint,
    UPSTREAM_TIMEOUT_MS: '500',
    UPSTREAM_RETRIES: '0',
    ...LIMITS_AND_QUIET_HOURS_OFF,
    LIMIT_CALLER_DAILY: '0',
    LIMIT_GLOBAL_DAILY: '0',
  };
  const opts = { env, retryDelayMs: 5, catalog: null };
  fns = {
    'long-sms': invoker('long-sms', { ...opts, store: new MemoryStore() }),
    'voice-notify': invoker('voice-notify', { ...opts, store: new MemoryStore() }),
    'template-validate': invoker('template-validate', { ...opts, store: new MemoryStore() }),
  };
});
afterAll(async () => {
  logs.stop();
  await fake.close();
  await oss.close();
});

/** Everything said since `from` (log lines) plus `extra` (answers, thrown messages) must be clean. */
function expectClean(fromLine: number, extra: string[]): void {
  const said = [...logs.lines.slice(fromLine), ...extra];
  for (const text of said) {
    for (const s of SECRETS) expect(text, 'a secret leaked').not.toContain(s);
    expect(text, 'a stack frame or file path').not.toMatch(INTERNALS);
  }
  for (const line of logs.lines.slice(fromLine)) expect(line, 'an unmasked phone in a log line').not.toMatch(UNMASKED_PHONE);
}

// ---- generators -------------------------------------------------------------------------------

const validPhone = fc.integer({ min: 0, max: 99_999_999 }).map((n) => `139${String(n).padStart(8, '0')}`);
const phoneish = fc.oneof(
  validPhone,
  validPhone.map((p) => `+86${p}`),
  fc.string({ maxLength: 14 }),
  fc.integer().map(String),
  fc.constant(''),
);
// Keys from letters and dashes only: an echoed key can never look like a phone number.
const key = fc.stringMatching(/^[a-zA-Z-]{1,30}$/);
const anyValue = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), { maxKeys: 2 }),
);
const sendAt = fc.oneof(
  fc.constant(undefined),
  fc.integer({ min: -2 * 86_400_000, max: 40 * 86_400_000 }).map((ms) => new Date(Date.now() + ms).toISOString()),
  fc.constant('2099-01-01T00:00:00Z'),
  fc.string({ maxLength: 25 }),
);
/** Something shaped like a job, valid or (mostly) not. */
const jobLike = fc
  .record(
    {
      channel: fc.oneof(fc.constant('sms'), fc.constant('voice'), anyValue),
      phone: fc.oneof(phoneish, anyValue),
      skin: fc.oneof(fc.constant('1'), fc.constant('2'), anyValue),
      params: fc.oneof(fc.constant(['1234']), fc.array(fc.string({ maxLength: 12 }), { maxLength: 4 }), anyValue),
      content: fc.oneof(fc.constant('您好，今天下午三点有例会。'), fc.string({ maxLength: 60 }), anyValue),
      idempotencyKey: fc.oneof(key, anyValue),
      sendAt,
      extra: anyValue,
    },
    { requiredKeys: [] },
  )
  .map((j) => Object.fromEntries(Object.entries(j).filter(([, v]) => v !== undefined)));
/** A job that is valid for one of the channels (so some runs do send). */
const validJob = fc.oneof(
  fc.record({ channel: fc.constant('sms'), phone: validPhone, skin: fc.constant('1'), params: fc.constant(['1234']), idempotencyKey: key }),
  fc.record({ channel: fc.constant('voice'), phone: validPhone, content: fc.constant('您好，今天下午三点有例会。'), idempotencyKey: key }),
);
const anyJob = fc.oneof({ weight: 3, arbitrary: jobLike }, { weight: 1, arbitrary: validJob });
const bodyText = fc.oneof(
  anyJob.map((j) => JSON.stringify(j)),
  fc.array(anyJob, { maxLength: 4 }).map((a) => JSON.stringify(a)),
  fc.array(anyJob, { maxLength: 4 }).map((jobs) => JSON.stringify({ jobs })),
  anyJob.map((j) => Buffer.from(JSON.stringify(j)).toString('base64')),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 80 }),
);

// ---- HTTP ---------------------------------------------------------------------------------------

const ROUTES: ReadonlyArray<readonly ['long-sms' | 'voice-notify' | 'template-validate', string, string]> = [
  ['long-sms', 'POST', '/sms'],
  ['voice-notify', 'POST', '/voice'],
  ['template-validate', 'POST', '/templates/validate'],
  ['long-sms', 'DELETE', '/sms/abc'],
  ['voice-notify', 'GET', '/healthz'],
  ['template-validate', 'PUT', '/sms'],
];

const templateBody = fc.record(
  {
    template: fc.record(
      {
        skin: fc.oneof(fc.constant('1'), anyValue),
        kind: fc.oneof(fc.constant('verification'), fc.constant('notice'), anyValue),
        text: fc.oneof(fc.constant('【测试】您的验证码是#code#'), fc.string({ maxLength: 60 })),
        sign: anyValue,
      },
      { requiredKeys: [] },
    ),
    job: anyJob,
  },
  { requiredKeys: [] },
);

// Fresh keys (12 random letters): a valid job is sent, not replayed from an earlier run.
const freshKey = fc.stringMatching(/^[a-z]{12}$/);
const validSms = fc.record({ phone: validPhone, skin: fc.constant('1'), params: fc.constant(['1234']), idempotencyKey: freshKey });
const validVoice = fc.record({ phone: validPhone, content: fc.constant('您好，今天下午三点有例会。'), idempotencyKey: freshKey });
const weighted = <T>(w: number, arbitrary: fc.Arbitrary<T>) => ({ weight: w, arbitrary });

const httpCase = fc
  .record({
    route: fc.oneof(weighted(4, fc.constantFrom(...ROUTES.slice(0, 3))), weighted(1, fc.constantFrom(...ROUTES.slice(3)))),
    auth: fc.oneof(weighted(4, fc.constant('good')), weighted(1, fc.constantFrom('none', 'wrong'))),
    contentType: fc.oneof(
      weighted(4, fc.constant('application/json')),
      weighted(1, fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', undefined)),
    ),
    headerKey: fc.oneof(weighted(4, fc.constant(undefined)), weighted(1, key)),
    // How the provider answers if the job gets that far: mostly like the real one, sometimes a documented failure.
    provider: fc.oneof(
      weighted(6, fc.constant<Behaviour>({ kind: 'realistic' })),
      weighted(
        1,
        fc.constantFrom<Behaviour>(
          { kind: 'vendor', code: '106', message: '系统错误!' },
          { kind: 'gateway', status: 403, errorMessage: 'Quota Exhausted' },
          { kind: 'reset' },
          { kind: 'raw', status: 200, body: `echo APPCODE ${APPCODE} 13912345678` },
        ),
      ),
    ),
  })
  .chain((c) =>
    fc
      .oneof(
        // A valid job for the route (so runs do send), with sometimes a sendAt (scheduled, or past the horizon).
        weighted(
          6,
          (c.route[2] === '/voice' ? validVoice : validSms).chain((j) =>
            fc
              .oneof(weighted(3, fc.constant(undefined)), weighted(1, sendAt))
              .map((at) => ({ raw: JSON.stringify(at === undefined ? j : { ...j, sendAt: at }), base64: false })),
          ),
        ),
        weighted(
          3,
          anyJob.map((j) => ({ raw: JSON.stringify(j), base64: false })),
        ),
        weighted(
          1,
          templateBody.map((t) => ({ raw: JSON.stringify(t), base64: false })),
        ),
        weighted(
          1,
          fc.jsonValue({ maxDepth: 3 }).map((v) => ({ raw: JSON.stringify(v), base64: false })),
        ),
        weighted(
          1,
          fc.string({ maxLength: 100 }).map((raw) => ({ raw, base64: false })),
        ),
        weighted(
          1,
          fc.uint8Array({ maxLength: 100 }).map((b) => ({ raw: Buffer.from(b).toString('latin1'), base64: true })),
        ),
      )
      .map((body) => ({ ...c, body })),
  );

/** Counts of what the HTTP runs did, to show the fuzzing reaches the sending path (asserted below). */
const codes: Record<string, number> = {};
const seen = { sent: 0, scheduled: 0, refused4xx: 0, provider5xx: 0 };

describe('fuzz: HTTP bodies on every route, with and without a caller key', () => {
  it('never crashes, never answers an undocumented 5xx, sends nothing for an invalid job, says no secret, stack or phone', async () => {
    await fc.assert(
      fc.asyncProperty(httpCase, async (c) => {
        const [fn, method, path] = c.route;
        const headers: Record<string, string> = {};
        if (c.auth === 'good') headers.authorization = `Bearer ${CALLER_KEY}`;
        if (c.auth === 'wrong') headers.authorization = 'Bearer not-the-key-0000000000000';
        if (c.contentType) headers['Content-Type'] = c.contentType;
        if (c.headerKey) headers['Idempotency-Key'] = c.headerKey;
        const fromLine = logs.lines.length;
        const before = fake.requests.length;
        fake.queue.length = 0;
        fake.next(c.provider);
        const res = await fns[fn]({ method, path, headers, rawBody: c.body.raw, ...(c.body.base64 ? { base64: true } : {}) });
        const sent = fake.requests.length - before;
        expect(res.statusCode).toBeGreaterThanOrEqual(200);
        if (res.statusCode >= 500) {
          expect(DOCUMENTED_5XX[res.statusCode], `undocumented ${res.statusCode}: ${res.body}`).toContain(res.json?.error?.code);
        }
        if (res.statusCode >= 400 && res.statusCode < 500 && res.json?.error?.providerCode === undefined) {
          expect(sent, `a ${res.statusCode} sent something`).toBe(0);
        }
        expect(sent).toBeLessThanOrEqual(1);
        if (res.statusCode === 202 || res.statusCode === 401 || res.statusCode === 404 || res.statusCode === 405) expect(sent).toBe(0);
        // The job's own phone is never echoed in full (answers carry 138****8000).
        const phone = /(1[3-9]\d{9})$/.exec(String(tryJson(c.body.raw)?.phone ?? ''))?.[1];
        if (phone) expect(res.body).not.toContain(phone);
        expectClean(fromLine, [res.body, JSON.stringify(res.headers)]);
        if (res.statusCode === 200 && sent === 1) seen.sent += 1;
        if (res.statusCode === 202) seen.scheduled += 1;
        if (res.statusCode >= 400 && res.statusCode < 500) seen.refused4xx += 1;
        if (res.statusCode >= 500) seen.provider5xx += 1;
        codes[`${res.statusCode} ${res.json?.error?.code ?? ''}`] = (codes[`${res.statusCode} ${res.json?.error?.code ?? ''}`] ?? 0) + 1;
      }),
      { seed: SEED, numRuns: 400, endOnFailure: true },
    );
    // The properties are only worth something if the runs reached every kind of outcome.
    expect(seen.sent, JSON.stringify(codes)).toBeGreaterThan(20);
    expect(seen.scheduled, JSON.stringify(codes)).toBeGreaterThan(2);
    expect(seen.refused4xx, JSON.stringify(codes)).toBeGreaterThan(50);
    expect(seen.provider5xx, JSON.stringify(codes)).toBeGreaterThan(2);
  }, 20_000);
});

function tryJson(text: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(text);
    return v && typeof v === 'object' ? v : undefined;
  } catch {
    return undefined;
  }
}

// ---- events -----------------------------------------------------------------------------------

const topicJson = fc
  .record({ Message: bodyText, MessageId: fc.oneof(fc.stringMatching(/^[0-9A-F]{0,32}$/), fc.string({ maxLength: 10 })) })
  .map((m) => ({ ...fixture('mns-topic-json'), ...m }));
const streamAttrs = bodyText.map((body) => ({ body, attrs: { k: 'v' } }));
const cloudEvent = fc
  .record({
    id: fc.oneof(fc.string({ maxLength: 12 }), fc.integer(), fc.constant(undefined)),
    messageId: fc.oneof(fc.stringMatching(/^[0-9A-F]{0,32}$/), anyValue, fc.constant(undefined)),
    messageBody: bodyText,
  })
  .map(({ id, messageId, messageBody }) => {
    const base = fixture<Record<string, any>>('mns-queue-cloudevent');
    const data: Record<string, unknown> = { requestId: 'r', messageBody };
    if (messageId !== undefined) data.messageId = messageId;
    return { ...base, id, data };
  });
const rawData = cloudEvent.map((e) => e.data);
const timer = fc.record({
  triggerTime: fc.oneof(fc.constant(new Date().toISOString()), fc.string({ maxLength: 30 })),
  triggerName: fc.string({ maxLength: 20 }),
  payload: fc.oneof(bodyText, fc.constant(''), fc.constant('{}')),
});

let ossN = 0;
/** An OSS event for an object the fake OSS holds (or not: a missing object is a retried failure). */
const ossCase = fc
  .record({
    ext: fc.constantFrom('.jsonl', '.csv', '.txt', '.jsonl.sms.result.jsonl'),
    lines: fc.array(
      fc.oneof(
        anyJob.map((j) => JSON.stringify(j)),
        fc.string({ maxLength: 40 }),
        fc.constant('phone,skin,params'),
        validPhone.map((p) => `${p},1,1234`),
      ),
      { maxLength: 6 },
    ),
    exists: fc.boolean(),
    eventName: fc.constantFrom('ObjectCreated:PutObject', 'ObjectRemoved:DeleteObject'),
  })
  .map((o) => {
    ossN += 1;
    const key = `fuzz/${ossN}${o.ext}`;
    const event = fixture<{ events: Array<Record<string, any>> }>('oss-object-created');
    const rec = event.events[0]!;
    rec.eventName = o.eventName;
    rec.oss.object.key = key;
    rec.oss.object.eTag = createHash('md5').update(key).digest('hex');
    return { event, key, body: o.lines.join('\n'), exists: o.exists };
  });

const eventCase = fc.oneof(
  topicJson.map((e) => ({ kind: 'mns topic JSON', event: Buffer.from(JSON.stringify(e)) as Buffer })),
  streamAttrs.map((e) => ({ kind: 'mns topic STREAM {body,attrs}', event: Buffer.from(JSON.stringify(e)) })),
  bodyText.map((t) => ({ kind: 'mns topic STREAM raw', event: Buffer.from(t) })),
  cloudEvent.map((e) => ({ kind: 'mns queue CloudEvent', event: Buffer.from(JSON.stringify(e)) })),
  fc
    .array(cloudEvent, { minLength: 1, maxLength: 5 })
    .map((a) => ({ kind: 'mns queue CloudEvent[]', event: Buffer.from(JSON.stringify(a)) })),
  fc.array(rawData, { minLength: 1, maxLength: 5 }).map((a) => ({ kind: 'mns queue RawData[]', event: Buffer.from(JSON.stringify(a)) })),
  timer.map((e) => ({ kind: 'timer', event: Buffer.from(JSON.stringify(e)) })),
  fc.jsonValue({ maxDepth: 4 }).map((v) => ({ kind: 'arbitrary JSON', event: Buffer.from(JSON.stringify(v) ?? 'null') })),
  fc.uint8Array({ maxLength: 200 }).map((b) => ({ kind: 'arbitrary bytes', event: Buffer.from(b) })),
  ossCase.map((o) => ({ kind: 'oss', event: Buffer.from(JSON.stringify(o.event)), oss: o })),
);

/** What an async trigger may throw: a batch asking for redelivery, a poison event (dead-lettered after retries), or an OSS read/format failure FC retries. */
function documentedThrow(err: unknown): boolean {
  if (err instanceof BatchRetryError || err instanceof PoisonEventError) return true;
  const m = (err as Error)?.message ?? '';
  return /^OSS (GET|PUT) .* answered HTTP \d+|^CSV header must name columns|was cut short after line/.test(m);
}

const eventsSeen = { sent: 0, poison: 0, thrown: 0 };

describe('fuzz: event shapes through the sending functions', () => {
  it('resolve or throw only documented retryable errors; nothing sent that was not counted; no secret, stack or phone', async () => {
    await fc.assert(
      fc.asyncProperty(eventCase, fc.constantFrom('long-sms', 'voice-notify'), async (c, fn) => {
        if ('oss' in c && c.oss) {
          if (c.oss.exists) oss.objects.set(`/notify-bucket/${c.oss.key}`, Buffer.from(c.oss.body));
          else oss.objects.delete(`/notify-bucket/${c.oss.key}`);
        }
        fake.queue.length = 0;
        const fromLine = logs.lines.length;
        const before = fake.requests.length;
        let out: unknown;
        let thrown: unknown;
        try {
          out = await fns[fn].handler(c.event, fcContext({ credentials: OSS, function: { name: fn, timeout: 60 } }));
        } catch (err) {
          thrown = err;
        }
        const sent = fake.requests.length - before;
        if (thrown !== undefined)
          expect(documentedThrow(thrown), `${c.kind}: undocumented throw ${(thrown as Error)?.name}: ${(thrown as Error)?.message}`).toBe(
            true,
          );
        const counts: Record<string, number> =
          thrown instanceof BatchRetryError
            ? thrown.summary.counts
            : ((out as { counts?: Record<string, number> } | undefined)?.counts ?? {});
        // Every provider request belongs to a job that reached the provider step (sent, refused by
        // the vendor, unknown, failed there). No such job — invalid, skipped, scheduled — no request.
        const reached = (counts.sent ?? 0) + (counts.rejected ?? 0) + (counts.unknown ?? 0) + (counts.failed ?? 0);
        expect(sent, `${c.kind}: provider requests`).toBeLessThanOrEqual(reached);
        eventsSeen.sent += sent;
        eventsSeen.poison += counts.poison ?? 0;
        if (thrown !== undefined) eventsSeen.thrown += 1;
        const extra = [JSON.stringify(out ?? null)];
        if (thrown) extra.push(String((thrown as Error).message), String((thrown as Error).stack));
        expectClean(fromLine, extra);
      }),
      { seed: SEED, numRuns: 300, endOnFailure: true },
    );
    expect(eventsSeen.sent, JSON.stringify(eventsSeen)).toBeGreaterThan(10);
    expect(eventsSeen.poison, JSON.stringify(eventsSeen)).toBeGreaterThan(50);
  }, 20_000);

  it('an invalid job never reaches the provider, whatever wraps it', async () => {
    // Jobs guaranteed invalid for both channels: a phone that is no mainland mobile.
    const invalid = jobLike.map((j) => ({ ...j, phone: 'not-a-phone' }));
    const wrapped = fc.oneof(
      invalid.map((j) => ({ ...fixture('mns-topic-json'), Message: JSON.stringify(j), MessageId: 'x1' })),
      fc.array(invalid, { minLength: 1, maxLength: 4 }).map((jobs) => {
        const base = fixture<Record<string, any>>('mns-queue-cloudevent');
        return jobs.map((j, i) => ({ ...base, id: `inv-${i}`, data: { requestId: 'r', messageBody: JSON.stringify(j) } }));
      }),
      fc
        .array(invalid, { minLength: 1, maxLength: 4 })
        .map((jobs) => ({ triggerTime: new Date().toISOString(), triggerName: 'fuzz', payload: JSON.stringify({ jobs }) })),
    );
    await fc.assert(
      fc.asyncProperty(wrapped, fc.constantFrom('long-sms', 'voice-notify'), async (event, fn) => {
        const before = fake.requests.length;
        // A job for the other channel on a queue is misrouted: the invocation fails (dead-letter), nothing is sent.
        const out = await fns[fn].handler(Buffer.from(JSON.stringify(event)), fcContext()).catch((e: unknown) => {
          expect(e).toBeInstanceOf(BatchRetryError);
          return { ok: true };
        });
        expect(fake.requests.length).toBe(before);
        expect((out as { ok: boolean }).ok).toBe(true);
      }),
      { seed: SEED, numRuns: 100, endOnFailure: true },
    );
  }, 20_000);
});

describe('fuzz: template-validate over HTTP', () => {
  it('answers 2xx/4xx only and sends nothing', async () => {
    await fc.assert(
      fc.asyncProperty(templateBody, async (body) => {
        const fromLine = logs.lines.length;
        const before = fake.requests.length;
        const res = asHttpResult(
          await fns['template-validate'].handler(
            httpEvent({ path: '/templates/validate', body, headers: { authorization: `Bearer ${CALLER_KEY}` } }),
            fcContext(),
          ),
        );
        expect(res.statusCode).toBeLessThan(500);
        expect(fake.requests.length).toBe(before);
        expectClean(fromLine, [res.body]);
      }),
      { seed: SEED, numRuns: 150, endOnFailure: true },
    );
  }, 20_000);
});

import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHANNEL_NAMES, CHANNELS } from '#shared/channels/index';
import { loadConfig } from '#shared/config';
import { discoverFunctions, ROOT } from '../../scripts/build.ts';
import {
  allDeployProblems,
  eventBridgeProblems,
  eventsOverlap,
  infraProblems,
  logConfigProblems,
  namesCreated,
  ossOverlapProblems,
  prefixesOverlap,
  queueConsumerProblems,
  type RenderedDoc,
  suffixesOverlap,
} from '../support/deploy-rules.ts';

/**
 * Renders s.yaml with the real Serverless Devs CLI (`s preview`, offline) and checks what would be
 * deployed. The fc3 component's published schema leaves trigger configs unchecked, so the trigger
 * rules below are the project's own.
 */

const run = promisify(execFile);
const S_BIN = join(ROOT, 'node_modules', '.bin', 's');

// Fake, distinctive secrets: the tests prove they are resolved from the environment, and compare
// rendered values only through `redact` so a failing assertion never prints them.
const FAKE_APPCODE = `fake-appcode-${process.pid}-7f3a9c`;
const FAKE_API_KEYS = `ci:fake-caller-key-${process.pid}-0123456789`;
const FAKE_REDIS_URL = `redis://default:fake-redis-password-${process.pid}@r-fake.redis.rds.aliyuncs.com:6379/0`;
const FAKE_VERIFY_SECRET = `fake-verify-secret-${process.pid}-0123456789`;
const SECRETS: Record<string, string> = {
  [FAKE_APPCODE]: '<APPCODE>',
  [FAKE_API_KEYS]: '<API_KEYS>',
  [FAKE_REDIS_URL]: '<REDIS_URL>',
  [FAKE_VERIFY_SECRET]: '<VERIFY_SECRET>',
};

function redact<T>(value: T): T {
  return JSON.parse(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'string' && v in SECRETS ? SECRETS[v] : v))) as T;
}

function scrubText(text: string): string {
  let out = text;
  for (const [secret, placeholder] of Object.entries(SECRETS)) out = out.replaceAll(secret, placeholder);
  return out;
}

interface Trigger {
  triggerName?: unknown;
  triggerType?: unknown;
  sourceArn?: unknown;
  triggerConfig?: Record<string, unknown>;
}

interface Props {
  region: string;
  functionName: string;
  runtime: string;
  code: string;
  handler: string;
  memorySize: number;
  cpu: number;
  timeout: number;
  environmentVariables: Record<string, string>;
  triggers: Trigger[];
  role?: string;
  logConfig?: unknown;
  asyncInvokeConfig?: { maxAsyncRetryAttempts?: number; destinationConfig?: { onFailure?: { destination?: string } } };
}

interface Rendered {
  edition: string;
  name: string;
  access: string;
  actions?: Record<string, Array<{ run?: string; path?: string }>>;
  resources: Record<string, { component: string; props: Props }>;
}

let work: string;

/** `s preview` in a folder holding only a copy of s.yaml: no .env of the developer's, no real secrets. */
async function preview(env: Record<string, string>): Promise<{ ok: true; rendered: Rendered } | { ok: false; output: string }> {
  try {
    const { stdout } = await run(S_BIN, ['preview', '-t', join(work, 's.yaml'), '-o', 'raw', '--silent'], {
      cwd: work,
      env: { PATH: process.env.PATH ?? '', HOME: join(work, 'home'), NO_COLOR: '1', ...env },
      timeout: 60_000,
    });
    // `-o raw` prints the rendered document as one JSON line (a root-user warning may precede it).
    const line = stdout.split('\n').find((l) => l.startsWith('{'));
    if (!line) return { ok: false, output: scrubText(stdout) };
    return { ok: true, rendered: JSON.parse(line) as Rendered };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message?: string };
    return { ok: false, output: scrubText(`${e.stdout ?? ''}\n${e.stderr ?? ''}\n${e.message ?? ''}`) };
  }
}

const HTTP_METHODS = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT']);
const nonEmptyString = (v: unknown) => typeof v === 'string' && v.trim() !== '';

/**
 * The project's rules for trigger configs (fc3 accepts any object there). Covers the trigger types
 * the design uses, so event triggers added later are checked the same way.
 */
function triggerProblems(trigger: Trigger): string[] {
  const name = typeof trigger.triggerName === 'string' ? trigger.triggerName : '(unnamed)';
  const p: string[] = [];
  const c = trigger.triggerConfig;
  if (!nonEmptyString(trigger.triggerName)) p.push(`${name}: triggerName is required`);
  if (!c || typeof c !== 'object' || Array.isArray(c)) return [...p, `${name}: triggerConfig must be an object`];
  switch (trigger.triggerType) {
    case 'http': {
      if (c.authType !== 'anonymous' && c.authType !== 'function') p.push(`${name}: authType must be anonymous or function`);
      const methods = c.methods;
      if (!Array.isArray(methods) || methods.length === 0) p.push(`${name}: methods must be a non-empty list`);
      else {
        for (const m of methods) if (typeof m !== 'string' || !HTTP_METHODS.has(m)) p.push(`${name}: unknown HTTP method ${String(m)}`);
        if (new Set(methods).size !== methods.length) p.push(`${name}: methods has duplicates`);
      }
      break;
    }
    case 'timer':
      if (!nonEmptyString(c.cronExpression)) p.push(`${name}: cronExpression is required`);
      if (typeof c.enable !== 'boolean') p.push(`${name}: enable must be true or false`);
      if (c.payload !== undefined && typeof c.payload !== 'string') p.push(`${name}: payload must be a string`);
      break;
    case 'mns_topic':
      if (!nonEmptyString(trigger.sourceArn)) p.push(`${name}: sourceArn is required (fc3 has no topicName)`);
      if (c.notifyContentFormat !== 'JSON' && c.notifyContentFormat !== 'STREAM')
        p.push(`${name}: notifyContentFormat must be JSON or STREAM`);
      if (c.notifyStrategy !== 'BACKOFF_RETRY' && c.notifyStrategy !== 'EXPONENTIAL_DECAY_RETRY')
        p.push(`${name}: notifyStrategy is required`);
      break;
    case 'oss':
      if (!nonEmptyString(trigger.sourceArn)) p.push(`${name}: sourceArn is required (fc3 has no bucketName)`);
      if (!Array.isArray(c.events) || c.events.length === 0) p.push(`${name}: events must be a non-empty list`);
      if (!c.filter || typeof c.filter !== 'object') p.push(`${name}: filter.key.prefix/suffix is required`);
      break;
    case 'eventbridge':
      if (!c.eventSourceConfig || typeof c.eventSourceConfig !== 'object') p.push(`${name}: eventSourceConfig is required`);
      if (typeof c.triggerEnable !== 'boolean') p.push(`${name}: triggerEnable must be true or false`);
      break;
    default:
      p.push(`${name}: triggerType ${String(trigger.triggerType)} is not one this project uses`);
  }
  return p;
}

const SENDERS = ['long-sms', 'voice-notify'] as const;
const INFRA = join(ROOT, 'infra');
/** The one place resource names come from (infra/main.tf reads it; s.yaml must match it). */
const NAMES = JSON.parse(readFileSync(join(INFRA, 'names.json'), 'utf8')) as Record<string, string>;
const CREATED = namesCreated(readFileSync(join(INFRA, 'main.tf'), 'utf8'), NAMES);
let rendered: Rendered;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'fcn-s-yaml-'));
  copyFileSync(join(ROOT, 's.yaml'), join(work, 's.yaml'));
  const result = await preview({
    APPCODE: FAKE_APPCODE,
    API_KEYS: FAKE_API_KEYS,
    VERIFY_SECRET: FAKE_VERIFY_SECRET,
    REDIS_URL: FAKE_REDIS_URL,
    LOG_LEVEL: 'debug',
  });
  if (!result.ok) throw new Error(`s preview failed:\n${result.output}`);
  rendered = result.rendered;
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('s.yaml rendered by `s preview`', () => {
  it('is a Serverless Devs 3 project with one fc3 resource per function folder', () => {
    expect({ edition: rendered.edition, name: rendered.name, access: rendered.access }).toEqual({
      edition: '3.0.0',
      name: 'fc-notify',
      access: 'default',
    });
    const names = Object.keys(rendered.resources).sort();
    // One sending function per channel (its description's functionName), and template-validate.
    expect(names).toEqual([...CHANNEL_NAMES.map((c) => CHANNELS[c].functionName), 'template-validate'].sort());
    expect(names).toEqual(discoverFunctions(join(ROOT, 'functions')));
    for (const name of names) expect(rendered.resources[name]?.component).toBe('fc3');
  });

  it('points each function at its bundle folder with the nodejs20 runtime and index.handler', () => {
    for (const [name, { props }] of Object.entries(rendered.resources)) {
      expect({
        name,
        functionName: props.functionName,
        runtime: props.runtime,
        code: props.code,
        handler: props.handler,
        region: props.region,
      }).toEqual({
        name,
        functionName: name,
        runtime: 'nodejs20',
        code: `./dist/${name}`,
        handler: 'index.handler',
        region: 'cn-hangzhou',
      });
      // scripts/build.ts writes dist/<name>/index.js from this entry.
      expect(existsSync(join(ROOT, 'functions', name, 'index.ts'))).toBe(true);
    }
  });

  it('sizes memory, vCPU and timeout within FC3 limits and the retry budget', () => {
    for (const { props } of Object.values(rendered.resources)) {
      expect(props.memorySize % 64).toBe(0);
      // FC3: memory in GB per vCPU must be between 1 and 4.
      const ratio = props.memorySize / 1024 / props.cpu;
      expect(ratio).toBeGreaterThanOrEqual(1);
      expect(ratio).toBeLessThanOrEqual(4);
      // Three attempts of UPSTREAM_TIMEOUT_MS plus backoff must fit in one invocation.
      const upstream = Number(props.environmentVariables.UPSTREAM_TIMEOUT_MS ?? 0);
      const retries = Number(props.environmentVariables.UPSTREAM_RETRIES ?? 0);
      expect(props.timeout * 1000).toBeGreaterThan(upstream * (retries + 1) + 2000);
    }
  });

  it('resolves the environment from the deploying shell, secrets only where needed', () => {
    for (const name of SENDERS) {
      const env = rendered.resources[name]!.props.environmentVariables;
      expect(env.APPCODE === FAKE_APPCODE, `${name}: APPCODE resolved from the environment`).toBe(true);
      expect(env.API_KEYS === FAKE_API_KEYS, `${name}: API_KEYS resolved from the environment`).toBe(true);
      expect(redact(env)).toMatchObject({
        APPCODE: '<APPCODE>',
        API_KEYS: '<API_KEYS>',
        VERIFY_SECRET: '<VERIFY_SECRET>',
        UPSTREAM_TIMEOUT_MS: '5000',
        UPSTREAM_RETRIES: '2',
        MAX_BODY_BYTES: '65536',
        STORE: 'redis',
        REDIS_URL: '<REDIS_URL>',
        REDIS_CLUSTER: '0',
        RESULT_PREFIX: NAMES.resultPrefix,
        LOG_LEVEL: 'debug',
      });
    }
    // Defaults are the code's own defaults, so leaving a variable unset changes nothing.
    expect(rendered.resources['long-sms']!.props.environmentVariables.LONG_SMS_URL).toBe(CHANNELS.sms.defaultUrl);
    expect(rendered.resources['voice-notify']!.props.environmentVariables.VOICE_URL).toBe(CHANNELS.voice.defaultUrl);
    // long-sms reaches the voice API for the verification fallback.
    expect(rendered.resources['long-sms']!.props.environmentVariables.VOICE_URL).toBe(CHANNELS.voice.defaultUrl);
    const validate = rendered.resources['template-validate']!.props.environmentVariables;
    expect(Object.keys(validate)).not.toContain('APPCODE');
    // Issue 13: it reads the store for GET /usage and the job lookups (no credentials, no alerts: it sends nothing).
    expect(redact(validate)).toEqual({
      API_KEYS: '<API_KEYS>',
      MAX_BODY_BYTES: '65536',
      REDIS_URL: '<REDIS_URL>',
      REDIS_CLUSTER: '0',
      OPS_CALLERS: '',
      QUOTA_LONG_SMS: '',
      QUOTA_VOICE: '',
      LOG_LEVEL: 'debug',
    });
    // Never switched on from a developer's shell by accident: a sandbox or an open API in production.
    for (const { props } of Object.values(rendered.resources)) {
      expect(Object.keys(props.environmentVariables)).not.toContain('SANDBOX');
      expect(Object.keys(props.environmentVariables)).not.toContain('ALLOW_UNAUTHENTICATED');
    }
  });

  it('renders an environment the functions accept as their configuration', () => {
    for (const [name, { props }] of Object.entries(rendered.resources)) {
      let problem: string | undefined;
      try {
        // As deployed: FC sets FC_FUNCTION_NAME in every instance.
        const config = loadConfig(
          { ...props.environmentVariables, FC_FUNCTION_NAME: name },
          { requireCredentials: name !== 'template-validate' },
        );
        expect(config.apiKeys.map((k) => k.name)).toEqual(['ci']);
        expect(config.logLevel).toBe('debug');
      } catch (err) {
        problem = scrubText(err instanceof Error ? err.message : String(err));
      }
      expect(problem, `${name}: rendered environment refused by loadConfig`).toBeUndefined();
    }
  });

  it('refuses to render when a secret is missing (no defaults for APPCODE or API_KEYS)', async () => {
    const noAppCode = await preview({ API_KEYS: FAKE_API_KEYS });
    expect(noAppCode.ok).toBe(false);
    if (!noAppCode.ok) expect(noAppCode.output).toContain("env('APPCODE') not found");
    // An empty value counts as missing too.
    const emptyKeys = await preview({ APPCODE: FAKE_APPCODE, API_KEYS: '', VERIFY_SECRET: FAKE_VERIFY_SECRET });
    expect(emptyKeys.ok).toBe(false);
    if (!emptyKeys.ok) expect(emptyKeys.output).toContain("env('API_KEYS') not found");
    // Both sending functions serve the verification routes: no secret, no deploy.
    const noVerify = await preview({ APPCODE: FAKE_APPCODE, API_KEYS: FAKE_API_KEYS });
    expect(noVerify.ok).toBe(false);
    if (!noVerify.ok) expect(noVerify.output).toContain("env('VERIFY_SECRET') not found");
  });

  it('gives every function one anonymous HTTP trigger (callers are checked with API_KEYS) for POST, GET and DELETE', () => {
    for (const [name, { props }] of Object.entries(rendered.resources)) {
      const http = props.triggers.filter((t) => t.triggerType === 'http');
      expect(http, name).toHaveLength(1);
      expect(http[0]?.triggerConfig).toMatchObject({ authType: 'anonymous', methods: ['POST', 'GET', 'DELETE'] });
    }
  });

  it('passes the project trigger rules for every trigger, with unique names per function', () => {
    for (const [name, { props }] of Object.entries(rendered.resources)) {
      expect(props.triggers.flatMap(triggerProblems), name).toEqual([]);
      const names = props.triggers.map((t) => t.triggerName);
      expect(new Set(names).size, `${name}: trigger names unique`).toBe(names.length);
    }
  });

  it('subscribes each sending function to the topic (JSON format), its own queue (EventBridge), its own batch prefix and the scheduler timer, with bounded retries and a dead-letter queue', () => {
    const own = {
      'long-sms': { queue: NAMES.smsQueue!, prefix: NAMES.smsBatchPrefix!, notify: NAMES.smsNotifyPrefix! },
      'voice-notify': { queue: NAMES.voiceQueue!, prefix: NAMES.voiceBatchPrefix!, notify: NAMES.voiceNotifyPrefix! },
    };
    for (const name of SENDERS) {
      const props = rendered.resources[name]!.props;
      const byType = (t: string) => props.triggers.filter((x) => x.triggerType === t);
      expect(byType('mns_topic'), name).toHaveLength(1);
      expect(byType('mns_topic')[0]!.sourceArn).toMatch(new RegExp(`^acs:mns:${NAMES.region}:[^:]*:/topics/${NAMES.topic}$`));
      // JSON format: the MessageId is the idempotency key; STREAM has none.
      expect(byType('mns_topic')[0]!.triggerConfig).toMatchObject({ notifyContentFormat: 'JSON' });
      expect(byType('eventbridge')).toHaveLength(1);
      expect(byType('eventbridge')[0]!.triggerConfig).toMatchObject({
        triggerEnable: true,
        // Plain JSON bodies: EventBridge must not base64-decode them (the adapter decodes base64 bodies itself).
        eventSourceConfig: {
          eventSourceType: 'MNS',
          eventSourceParameters: { sourceMNSParameters: { QueueName: own[name].queue, IsBase64Decode: false } },
        },
        runOptions: { deadLetterQueue: { Arn: expect.stringMatching(new RegExp(`:/queues/${NAMES.deadLetterQueue}$`)) } },
      });
      const timer = byType('timer')[0]!.triggerConfig!;
      expect(String(timer.cronExpression)).toMatch(/^CRON_TZ=Asia\/Shanghai (\S+ ){5}\S+$/);
      expect(props.role).toMatch(new RegExp(`^acs:ram::[^:]*:role/${NAMES.roleName}$`));
      expect(props.asyncInvokeConfig?.maxAsyncRetryAttempts).toBeGreaterThanOrEqual(1);
      expect(props.asyncInvokeConfig?.maxAsyncRetryAttempts).toBeLessThanOrEqual(8);
      expect(props.asyncInvokeConfig?.destinationConfig?.onFailure?.destination).toMatch(
        new RegExp(`^acs:mns:${NAMES.region}:[^:]*:/queues/${NAMES.deadLetterQueue}/messages$`),
      );
      expect(props.environmentVariables.BATCH_CONCURRENCY).toBe('8');
      // Batch files: one OSS trigger per file type (FC takes one suffix per trigger), this channel's prefix.
      const oss = byType('oss').filter((t) => String(t.triggerName).startsWith('batch-'));
      expect(oss.map((t) => (t.triggerConfig as { filter: { key: { suffix: string } } }).filter.key.suffix).sort()).toEqual([
        '.csv',
        '.jsonl',
      ]);
      // Notify on upload: one more OSS trigger, any suffix, on this channel's notify prefix, which the function is told.
      const notify = byType('oss').filter((t) => t.triggerName === 'notify');
      expect(notify).toHaveLength(1);
      expect(byType('oss')).toHaveLength(3);
      expect(notify[0]!.triggerConfig).toMatchObject({ filter: { key: { prefix: own[name].notify, suffix: '' } } });
      expect(props.environmentVariables.NOTIFY_PREFIX).toBe(own[name].notify);
      expect(loadConfig({ ...props.environmentVariables, FC_FUNCTION_NAME: name }).notifyPrefix).toBe(own[name].notify);
      for (const p of [own[name].prefix, props.environmentVariables.RESULT_PREFIX!])
        expect(prefixesOverlap(own[name].notify, p), `${own[name].notify} vs ${p}`).toBe(false);
      for (const t of oss) {
        expect(t.sourceArn).toMatch(new RegExp(`^acs:oss:${NAMES.region}:[^:]*:${NAMES.bucket}$`));
        expect(t.triggerConfig).toMatchObject({ filter: { key: { prefix: own[name].prefix } } });
        expect((t.triggerConfig as { events: string[] }).events).toContain('oss:ObjectCreated:PutObject');
        // Result files are written outside every trigger prefix.
        expect(prefixesOverlap(props.environmentVariables.RESULT_PREFIX!, own[name].prefix)).toBe(false);
      }
    }
    expect(rendered.resources['template-validate']!.props.triggers.map((t) => t.triggerType)).toEqual(['http']);
  });

  it('builds once before deploying, from a clean install', () => {
    // The deploy check first: nothing is built or uploaded for an environment the functions would refuse.
    expect(rendered.actions?.['pre-deploy']).toEqual([{ run: 'npm ci && npm run deploy:check && npm run build', path: './' }]);
  });
});

describe('project trigger rules', () => {
  it('catch the mistakes fc3 lets through', () => {
    expect(triggerProblems({ triggerName: 'http', triggerType: 'http', triggerConfig: { authType: 'anonymous' } })).toEqual([
      'http: methods must be a non-empty list',
    ]);
    expect(triggerProblems({ triggerName: 'http', triggerType: 'http', triggerConfig: { methods: ['GET', 'FETCH', 'GET'] } })).toEqual([
      'http: authType must be anonymous or function',
      'http: unknown HTTP method FETCH',
      'http: methods has duplicates',
    ]);
    expect(triggerProblems({ triggerName: 'topic', triggerType: 'mns_topic', triggerConfig: { notifyContentFormat: 'JSON' } })).toEqual([
      'topic: sourceArn is required (fc3 has no topicName)',
      'topic: notifyStrategy is required',
    ]);
    expect(
      triggerProblems({ triggerName: 'daily', triggerType: 'timer', triggerConfig: { cronExpression: '0 0 9 * * *', enable: 'yes' } }),
    ).toEqual(['daily: enable must be true or false']);
    expect(triggerProblems({ triggerName: 'x', triggerType: 'http' })).toEqual(['x: triggerConfig must be an object']);
  });

  it('accept the documented shapes', () => {
    expect(
      triggerProblems({
        triggerName: 'upload',
        triggerType: 'oss',
        sourceArn: 'acs:oss:cn-hangzhou:123:bucket',
        triggerConfig: { events: ['oss:ObjectCreated:PutObject'], filter: { key: { prefix: 'batches/', suffix: '.jsonl' } } },
      }),
    ).toEqual([]);
    expect(
      triggerProblems({
        triggerName: 'queue',
        triggerType: 'eventbridge',
        triggerConfig: { triggerEnable: true, eventSourceConfig: { eventSourceType: 'MNS', eventSourceParameters: {} } },
      }),
    ).toEqual([]);
  });
});

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
const doc = (): RenderedDoc & Rendered => clone(rendered) as RenderedDoc & Rendered;
const triggerOf = (d: Rendered, fn: string, type: string) => d.resources[fn]!.props.triggers.find((t) => t.triggerType === type)!;

describe('platform rules across functions (rendered s.yaml and infra/)', () => {
  it('hold for s.yaml: one consumer per queue, no overlapping OSS triggers, EventBridge runOptions + dead-letter queue and listed last, logConfig everywhere, every name created by infra/', () => {
    expect(allDeployProblems(rendered as RenderedDoc, CREATED)).toEqual([]);
    // The rules see what they check (an empty rendering would pass vacuously).
    const types = Object.values(rendered.resources).flatMap((r) => r.props.triggers.map((t) => t.triggerType));
    expect(types.filter((t) => t === 'oss')).toHaveLength(6);
    expect(types.filter((t) => t === 'eventbridge')).toHaveLength(2);
  });

  it('s.yaml uses exactly the names in infra/names.json', () => {
    const props = (fn: string) => rendered.resources[fn]!.props;
    for (const { props: p } of Object.values(rendered.resources)) {
      expect(p.region).toBe(NAMES.region);
      expect(p.logConfig).toMatchObject({ project: NAMES.logProject, logstore: NAMES.logstore });
    }
    expect(queueOfTrigger(triggerOf(rendered, 'long-sms', 'eventbridge'))).toBe(NAMES.smsQueue);
    expect(queueOfTrigger(triggerOf(rendered, 'voice-notify', 'eventbridge'))).toBe(NAMES.voiceQueue);
    const prefixes = SENDERS.flatMap((fn) =>
      props(fn)
        .triggers.filter((t) => t.triggerType === 'oss')
        .map((t) => (t.triggerConfig as { filter: { key: { prefix: string } } }).filter.key.prefix),
    );
    expect([...new Set(prefixes)].sort()).toEqual(
      [NAMES.smsBatchPrefix, NAMES.voiceBatchPrefix, NAMES.smsNotifyPrefix, NAMES.voiceNotifyPrefix].sort(),
    );
    for (const fn of SENDERS) expect(props(fn).environmentVariables.RESULT_PREFIX).toBe(NAMES.resultPrefix);
    // Every resource name in names.json is created by main.tf.
    const created = Object.values(CREATED).flatMap((set) => [...set]);
    for (const key of ['topic', 'smsQueue', 'voiceQueue', 'deadLetterQueue', 'bucket', 'roleName', 'logProject', 'logstore'])
      expect(created, key).toContain(NAMES[key]);
  });

  it('each rule fails on a mutated copy of the rendered s.yaml', () => {
    // Both functions on one queue (the bug this issue starts from).
    const sameQueue = doc();
    (
      triggerOf(sameQueue, 'voice-notify', 'eventbridge').triggerConfig as any
    ).eventSourceConfig.eventSourceParameters.sourceMNSParameters.QueueName = NAMES.smsQueue;
    expect(queueConsumerProblems(sameQueue)).toEqual([expect.stringContaining(`MNS queue ${NAMES.smsQueue} is consumed by 2 triggers`)]);

    // Both functions on one batch prefix: OSS refuses the second notification rule.
    const samePrefix = doc();
    for (const t of samePrefix.resources['voice-notify']!.props.triggers.filter(
      (x) => x.triggerType === 'oss' && String(x.triggerName).startsWith('batch-'),
    ))
      (t.triggerConfig as any).filter.key.prefix = 'batches/';
    expect(ossOverlapProblems(samePrefix)).toHaveLength(2);
    expect(ossOverlapProblems(samePrefix)[0]).toContain('overlap on bucket');

    // A notify prefix inside the batch prefix: one upload would reach two rules.
    const notifyInBatch = doc();
    (notifyInBatch.resources['long-sms']!.props.triggers.find((t) => t.triggerName === 'notify')!.triggerConfig as any).filter.key.prefix =
      `${NAMES.smsBatchPrefix}notify/`;
    expect(ossOverlapProblems(notifyInBatch)).toEqual([
      expect.stringContaining('long-sms/batch-jsonl and long-sms/notify overlap'),
      expect.stringContaining('long-sms/batch-csv and long-sms/notify overlap'),
    ]);

    const noRun = doc();
    delete (triggerOf(noRun, 'long-sms', 'eventbridge').triggerConfig as any).runOptions;
    expect(eventBridgeProblems(noRun)).toEqual([expect.stringContaining('long-sms/queue: runOptions is missing')]);
    const noDlq = doc();
    delete (triggerOf(noDlq, 'long-sms', 'eventbridge').triggerConfig as any).runOptions.deadLetterQueue;
    expect(eventBridgeProblems(noDlq)).toEqual([expect.stringContaining('deadLetterQueue.Arn')]);
    const noRetry = doc();
    delete (triggerOf(noRetry, 'voice-notify', 'eventbridge').triggerConfig as any).runOptions.retryStrategy;
    expect(eventBridgeProblems(noRetry)).toEqual([expect.stringContaining('retryStrategy is missing')]);
    const blocking = doc();
    (triggerOf(blocking, 'voice-notify', 'eventbridge').triggerConfig as any).runOptions.errorsTolerance = 'NONE';
    expect(eventBridgeProblems(blocking)).toEqual([expect.stringContaining('errorsTolerance must be ALL')]);
    const ebFirst = doc();
    const ts = ebFirst.resources['long-sms']!.props.triggers;
    ts.unshift(
      ...ts.splice(
        ts.findIndex((t) => t.triggerType === 'eventbridge'),
        1,
      ),
    );
    expect(eventBridgeProblems(ebFirst)).toEqual([expect.stringContaining('must come after the other triggers')]);

    const noLogs = doc();
    delete noLogs.resources['template-validate']!.props.logConfig;
    expect(logConfigProblems(noLogs)).toEqual(['template-validate: logConfig with project and logstore (or auto) is required']);

    const renamed = doc();
    (triggerOf(renamed, 'long-sms', 'mns_topic') as { sourceArn: string }).sourceArn = 'acs:mns:cn-hangzhou::/topics/notify-2';
    renamed.resources['voice-notify']!.props.role = 'acs:ram:::role/someone-else';
    expect(infraProblems(renamed, CREATED)).toEqual([
      'topic notify-2 is used in s.yaml but infra/ does not create it',
      'role someone-else is used in s.yaml but infra/ does not create it',
    ]);
    // And the other way: a queue missing from main.tf.
    const mainTf = readFileSync(join(INFRA, 'main.tf'), 'utf8').replace('queue_name = local.names.voiceQueue', 'queue_name = "other"');
    expect(infraProblems(rendered as RenderedDoc, namesCreated(mainTf, NAMES))).toEqual([
      `queue ${NAMES.voiceQueue} is used in s.yaml but infra/ does not create it`,
    ]);
  });

  it('a deploy without REDIS_URL renders STORE=redis, which the deployed function refuses naming REDIS_URL; STORE=memory is rendered only when chosen', async () => {
    const plain = await preview({ APPCODE: FAKE_APPCODE, API_KEYS: FAKE_API_KEYS, VERIFY_SECRET: FAKE_VERIFY_SECRET });
    expect(plain.ok).toBe(true);
    if (!plain.ok) return;
    for (const fn of SENDERS) {
      const env = plain.rendered.resources[fn]!.props.environmentVariables;
      expect({ STORE: env.STORE, REDIS_URL: env.REDIS_URL }).toEqual({ STORE: 'redis', REDIS_URL: '' });
      let message = '';
      try {
        loadConfig({ ...env, FC_FUNCTION_NAME: fn });
      } catch (err) {
        message = scrubText((err as Error).message);
      }
      expect(message).toContain('REDIS_URL is required');
      expect(message).toContain('STORE=memory');
    }
    const memory = await preview({ APPCODE: FAKE_APPCODE, API_KEYS: FAKE_API_KEYS, VERIFY_SECRET: FAKE_VERIFY_SECRET, STORE: 'memory' });
    expect(memory.ok).toBe(true);
    if (!memory.ok) return;
    const env = memory.rendered.resources['long-sms']!.props.environmentVariables;
    expect(env.STORE).toBe('memory');
    expect(loadConfig({ ...env, FC_FUNCTION_NAME: 'long-sms' }).store).toBe('memory');
  });
});

function queueOfTrigger(t: Trigger): string {
  return String((t.triggerConfig as any)?.eventSourceConfig?.eventSourceParameters?.sourceMNSParameters?.QueueName);
}

describe('OSS notification overlap predicate', () => {
  it('prefixes overlap when one is a prefix of the other; the empty prefix matches all', () => {
    expect(prefixesOverlap('batches/', 'batches/sms/')).toBe(true);
    expect(prefixesOverlap('batches/sms/', 'batches/')).toBe(true);
    expect(prefixesOverlap('batches/sms/', 'batches/voice/')).toBe(false);
    expect(prefixesOverlap('batches/sms/', 'batches/sms/')).toBe(true);
    expect(prefixesOverlap('', 'anything/')).toBe(true);
    expect(prefixesOverlap('results/', 'batches/')).toBe(false);
    expect(prefixesOverlap('batch', 'batches/')).toBe(true);
  });

  it('suffixes overlap when one ends the other; the empty suffix matches all', () => {
    expect(suffixesOverlap('.jsonl', '.csv')).toBe(false);
    expect(suffixesOverlap('.jsonl', 'l')).toBe(true);
    expect(suffixesOverlap('.result.jsonl', '.jsonl')).toBe(true);
    expect(suffixesOverlap('', '.csv')).toBe(true);
    expect(suffixesOverlap('.csv', '.csv')).toBe(true);
  });

  it('events overlap when equal or covered by a wildcard', () => {
    expect(eventsOverlap('oss:ObjectCreated:PutObject', 'oss:ObjectCreated:PutObject')).toBe(true);
    expect(eventsOverlap('oss:ObjectCreated:*', 'oss:ObjectCreated:PostObject')).toBe(true);
    expect(eventsOverlap('oss:ObjectCreated:PutObject', 'oss:ObjectCreated:*')).toBe(true);
    expect(eventsOverlap('oss:ObjectCreated:PutObject', 'oss:ObjectRemoved:DeleteObject')).toBe(false);
  });

  it('two rules conflict only when event, prefix and suffix all overlap, on the same bucket', () => {
    const rule = (fn: string, bucket: string, events: string[], prefix: string, suffix: string) => ({
      triggerName: `${fn}-t`,
      triggerType: 'oss',
      sourceArn: `acs:oss:cn-hangzhou:1:${bucket}`,
      triggerConfig: { events, filter: { key: { prefix, suffix } } },
    });
    const d = (...triggers: Trigger[]): RenderedDoc => ({ resources: { f: { props: { triggers } } } });
    const put = ['oss:ObjectCreated:PutObject'];
    expect(ossOverlapProblems(d(rule('a', 'b', put, 'x/', '.csv'), rule('c', 'b', put, 'x/y/', '')))).toHaveLength(1);
    expect(ossOverlapProblems(d(rule('a', 'b', put, 'x/', '.csv'), rule('c', 'b', put, 'x/', '.jsonl')))).toEqual([]);
    expect(
      ossOverlapProblems(d(rule('a', 'b', put, 'x/', '.csv'), rule('c', 'b', ['oss:ObjectRemoved:DeleteObject'], 'x/', '.csv'))),
    ).toEqual([]);
    expect(ossOverlapProblems(d(rule('a', 'b', put, 'x/', '.csv'), rule('c', 'other', put, 'x/', '.csv')))).toEqual([]);
    expect(ossOverlapProblems(d(rule('a', 'b', ['oss:ObjectCreated:*'], '', ''), rule('c', 'b', put, 'z/', '.csv')))).toHaveLength(1);
  });
});

describe('infra/ (Terraform, provider aliyun/alicloud)', () => {
  const ACCOUNT = '1234567890123456';
  /** templatefile() as Terraform does it for this template (plain ${name} placeholders only). */
  function renderPolicy(): { Statement: Array<{ Effect: string; Action: string[]; Resource: string[] }> } {
    const tpl = readFileSync(join(INFRA, 'function-policy.json.tftpl'), 'utf8');
    const vars: Record<string, string> = { ...NAMES, account: ACCOUNT };
    const text = tpl.replace(/\$\{(\w+)\}/g, (_m, k: string) => {
      if (!(k in vars)) throw new Error(`template variable ${k} is not in names.json`);
      return vars[k]!;
    });
    return JSON.parse(text);
  }
  const allowed = (action: string) =>
    renderPolicy()
      .Statement.filter((s) => s.Effect === 'Allow' && s.Action.includes(action))
      .flatMap((s) => s.Resource);
  const covers = (resources: string[], arn: string) =>
    resources.some((r) => (r.endsWith('*') ? arn.startsWith(r.slice(0, -1)) : arn === r));

  it('grants the function role exactly the OSS actions the code uses, on exactly the prefixes s.yaml triggers on and writes to', () => {
    // The OSS requests the code makes (HTTP verbs in the OSS client and adapter) and the RAM action each needs.
    const VERB_ACTION: Record<string, string> = {
      GET: 'oss:GetObject',
      HEAD: 'oss:GetObject',
      PUT: 'oss:PutObject',
      POST: 'oss:PutObject',
      DELETE: 'oss:DeleteObject',
    };
    const sources = [
      ...readdirSync(join(ROOT, 'shared', 'oss')).map((f) => join(ROOT, 'shared', 'oss', f)),
      join(ROOT, 'shared', 'fc', 'adapters', 'oss.ts'),
      join(ROOT, 'shared', 'fc', 'adapters', 'oss-notify.ts'),
    ].filter((f) => f.endsWith('.ts'));
    const verbs = new Set(sources.flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/'(GET|HEAD|PUT|POST|DELETE)'/g)].map((m) => m[1]!)));
    expect(verbs.size).toBeGreaterThan(0);
    const needed = new Set([...verbs].map((v) => VERB_ACTION[v]!));
    const policy = renderPolicy();
    const actions = policy.Statement.flatMap((s) => s.Action);
    expect(new Set(actions.filter((a) => a.startsWith('oss:')))).toEqual(needed);
    expect(actions.filter((a) => !a.startsWith('oss:')).sort()).toEqual(['log:PostLogStoreLogs', 'mns:SendMessage']);
    expect(actions.some((a) => a.includes('*'))).toBe(false);

    const objectArn = (key: string) => `acs:oss:*:${ACCOUNT}:${NAMES.bucket}/${key}`;
    for (const fn of SENDERS) {
      const props = rendered.resources[fn]!.props;
      for (const t of props.triggers.filter((x) => x.triggerType === 'oss')) {
        const { prefix, suffix } = (t.triggerConfig as { filter: { key: { prefix: string; suffix: string } } }).filter.key;
        const batch = `${prefix}day-1${suffix}`;
        expect(covers(allowed('oss:GetObject'), objectArn(batch)), `${fn} reads ${batch}`).toBe(true);
        expect(
          covers(allowed('oss:PutObject'), objectArn(`${props.environmentVariables.RESULT_PREFIX}${batch}.result.jsonl`)),
          `${fn} writes its result`,
        ).toBe(true);
        // Never write where a trigger fires, never read results.
        expect(covers(allowed('oss:PutObject'), objectArn(batch))).toBe(false);
      }
      const dlq = props.asyncInvokeConfig!.destinationConfig!.onFailure!.destination!.replace(
        /^acs:mns:([^:]+):[^:]*:/,
        `acs:mns:$1:${ACCOUNT}:`,
      );
      expect(allowed('mns:SendMessage')).toEqual([dlq]);
      const log = props.logConfig as { project: string; logstore: string };
      expect(allowed('log:PostLogStoreLogs')).toEqual([
        `acs:log:${NAMES.region}:${ACCOUNT}:project/${log.project}/logstore/${log.logstore}`,
      ]);
    }
    // Reading anything else in the bucket is not allowed.
    expect(covers(allowed('oss:GetObject'), objectArn('results/x.result.jsonl'))).toBe(false);
  });

  const terraform = ['/usr/local/bin/terraform', '/usr/bin/terraform'].find((p) => existsSync(p));
  it.skipIf(!terraform)(
    'is valid HCL (terraform fmt -check) and renders the same policy with the real templatefile (when terraform is installed; no provider download)',
    async () => {
      await run(terraform!, ['fmt', '-check', '-diff', INFRA], { timeout: 60_000 });
      const dir = mkdtempSync(join(tmpdir(), 'fcn-tf-'));
      try {
        for (const f of ['names.json', 'function-policy.json.tftpl']) copyFileSync(join(INFRA, f), join(dir, f));
        writeFileSync(
          join(dir, 'main.tf'),
          `locals {\n  names = jsondecode(file("\${path.module}/names.json"))\n}\noutput "policy" {\n  value = jsonencode(jsondecode(templatefile("\${path.module}/function-policy.json.tftpl", merge(local.names, { account = "${ACCOUNT}" }))))\n}\n`,
        );
        const env = { PATH: process.env.PATH ?? '', HOME: dir, TF_IN_AUTOMATION: '1', CHECKPOINT_DISABLE: '1' };
        await run(terraform!, ['init', '-input=false', '-backend=false'], { cwd: dir, env, timeout: 60_000 });
        await run(terraform!, ['apply', '-auto-approve', '-input=false'], { cwd: dir, env, timeout: 60_000 });
        const { stdout } = await run(terraform!, ['output', '-raw', 'policy'], { cwd: dir, env, timeout: 60_000 });
        expect(JSON.parse(stdout)).toEqual(renderPolicy());
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

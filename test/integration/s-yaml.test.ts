import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_LONG_SMS_URL, DEFAULT_VOICE_URL, loadConfig } from '#shared/config';
import { discoverFunctions, ROOT } from '../../scripts/build.ts';

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
const SECRETS: Record<string, string> = { [FAKE_APPCODE]: '<APPCODE>', [FAKE_API_KEYS]: '<API_KEYS>' };

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
let rendered: Rendered;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'fcn-s-yaml-'));
  copyFileSync(join(ROOT, 's.yaml'), join(work, 's.yaml'));
  const result = await preview({ APPCODE: FAKE_APPCODE, API_KEYS: FAKE_API_KEYS, LOG_LEVEL: 'debug' });
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
    expect(names).toEqual(['long-sms', 'template-validate', 'voice-notify']);
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
        UPSTREAM_TIMEOUT_MS: '5000',
        UPSTREAM_RETRIES: '2',
        MAX_BODY_BYTES: '65536',
        REDIS_URL: '',
        REDIS_CLUSTER: '0',
        LOG_LEVEL: 'debug',
      });
    }
    // Defaults are the code's own defaults, so leaving a variable unset changes nothing.
    expect(rendered.resources['long-sms']!.props.environmentVariables.LONG_SMS_URL).toBe(DEFAULT_LONG_SMS_URL);
    expect(rendered.resources['voice-notify']!.props.environmentVariables.VOICE_URL).toBe(DEFAULT_VOICE_URL);
    const validate = rendered.resources['template-validate']!.props.environmentVariables;
    expect(Object.keys(validate)).not.toContain('APPCODE');
    expect(redact(validate)).toEqual({ API_KEYS: '<API_KEYS>', MAX_BODY_BYTES: '65536', LOG_LEVEL: 'debug' });
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
        const config = loadConfig(props.environmentVariables, { requireCredentials: name !== 'template-validate' });
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
    const emptyKeys = await preview({ APPCODE: FAKE_APPCODE, API_KEYS: '' });
    expect(emptyKeys.ok).toBe(false);
    if (!emptyKeys.ok) expect(emptyKeys.output).toContain("env('API_KEYS') not found");
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

  it('subscribes each sending function to the topic (JSON format), the queue (EventBridge) and the scheduler timer, with a bounded retry and a dead-letter queue', () => {
    for (const name of SENDERS) {
      const props = rendered.resources[name]!.props;
      const byType = (t: string) => props.triggers.filter((x) => x.triggerType === t);
      expect(byType('mns_topic'), name).toHaveLength(1);
      expect(byType('mns_topic')[0]!.sourceArn).toMatch(/^acs:mns:cn-hangzhou:[^:]*:\/topics\/notify$/);
      // JSON format: the MessageId is the idempotency key; STREAM has none.
      expect(byType('mns_topic')[0]!.triggerConfig).toMatchObject({ notifyContentFormat: 'JSON' });
      expect(byType('eventbridge')[0]!.triggerConfig).toMatchObject({
        triggerEnable: true,
        eventSourceConfig: { eventSourceType: 'MNS', eventSourceParameters: { sourceMNSParameters: { QueueName: 'notify' } } },
      });
      const timer = byType('timer')[0]!.triggerConfig!;
      expect(String(timer.cronExpression)).toMatch(/^CRON_TZ=Asia\/Shanghai (\S+ ){5}\S+$/);
      expect(props.role).toMatch(/^acs:ram::[^:]*:role\/.+/);
      expect(props.asyncInvokeConfig?.maxAsyncRetryAttempts).toBeGreaterThanOrEqual(1);
      expect(props.asyncInvokeConfig?.maxAsyncRetryAttempts).toBeLessThanOrEqual(8);
      expect(props.asyncInvokeConfig?.destinationConfig?.onFailure?.destination).toMatch(/^acs:mns:cn-hangzhou:[^:]*:\/queues\/notify-dlq\/messages$/);
      expect(props.environmentVariables.BATCH_CONCURRENCY).toBe('8');
      // Batch files: one OSS trigger per file type (FC takes one suffix per trigger), same prefix.
      const oss = byType('oss');
      expect(oss.map((t) => (t.triggerConfig as { filter: { key: { suffix: string } } }).filter.key.suffix).sort()).toEqual(['.csv', '.jsonl']);
      for (const t of oss) {
        expect(t.sourceArn).toMatch(/^acs:oss:cn-hangzhou:[^:]*:notify-batches$/);
        expect(t.triggerConfig).toMatchObject({ filter: { key: { prefix: 'batches/' } } });
        expect((t.triggerConfig as { events: string[] }).events).toContain('oss:ObjectCreated:PutObject');
      }
    }
    expect(rendered.resources['template-validate']!.props.triggers.map((t) => t.triggerType)).toEqual(['http']);
  });

  it('builds once before deploying, from a clean install', () => {
    expect(rendered.actions?.['pre-deploy']).toEqual([{ run: 'npm ci && npm run build', path: './' }]);
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

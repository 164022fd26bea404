/**
 * Platform rules that only show on a real Alibaba Cloud account, checked on the s.yaml that
 * `s preview` renders (test/integration/s-yaml.test.ts) and on the infra/ template. Each rule
 * returns readable problems; an empty list means the rule holds. Sources: docs/deploy.md.
 */

export interface Trigger {
  triggerName?: unknown;
  triggerType?: unknown;
  sourceArn?: unknown;
  triggerConfig?: Record<string, unknown>;
}

export interface DeployProps {
  functionName?: string;
  region?: string;
  role?: string;
  logConfig?: unknown;
  environmentVariables?: Record<string, string>;
  triggers?: Trigger[];
  asyncInvokeConfig?: { destinationConfig?: { onFailure?: { destination?: string } } };
}

export interface RenderedDoc {
  resources: Record<string, { props: DeployProps }>;
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const get = (v: unknown, ...path: string[]): unknown => path.reduce<unknown>((o, k) => (isRecord(o) ? o[k] : undefined), v);
const str = (v: unknown) => (typeof v === 'string' ? v : '');
const triggersOf = (doc: RenderedDoc) =>
  Object.entries(doc.resources).flatMap(([fn, { props }]) => (props.triggers ?? []).map((t, i) => ({ fn, t, i })));

// ---- OSS notification overlap (OSS refuses a second rule overlapping in event, prefix and suffix)

/** Two prefixes overlap when one is a prefix of the other ('' matches every key). */
export const prefixesOverlap = (a: string, b: string) => a.startsWith(b) || b.startsWith(a);
/** Two suffixes overlap when one ends the other ('' matches every key). */
export const suffixesOverlap = (a: string, b: string) => a.endsWith(b) || b.endsWith(a);
/** `oss:ObjectCreated:*` covers every `oss:ObjectCreated:…` event. */
export function eventsOverlap(a: string, b: string): boolean {
  const covers = (w: string, e: string) => w.endsWith('*') && e.startsWith(w.slice(0, -1));
  return a === b || covers(a, b) || covers(b, a);
}

interface OssRule {
  where: string;
  bucket: string;
  events: string[];
  prefix: string;
  suffix: string;
}

function ossRules(doc: RenderedDoc): OssRule[] {
  return triggersOf(doc)
    .filter(({ t }) => t.triggerType === 'oss')
    .map(({ fn, t }) => ({
      where: `${fn}/${str(t.triggerName)}`,
      bucket: str(t.sourceArn).split(':').pop() ?? '',
      events: (get(t.triggerConfig, 'events') as unknown[] | undefined)?.map(String) ?? [],
      prefix: str(get(t.triggerConfig, 'filter', 'key', 'prefix')),
      suffix: str(get(t.triggerConfig, 'filter', 'key', 'suffix')),
    }));
}

export function ossOverlapProblems(doc: RenderedDoc): string[] {
  const rules = ossRules(doc);
  const out: string[] = [];
  for (let i = 0; i < rules.length; i += 1) {
    for (let j = i + 1; j < rules.length; j += 1) {
      const a = rules[i]!;
      const b = rules[j]!;
      if (a.bucket !== b.bucket) continue;
      const event = a.events.find((e) => b.events.some((f) => eventsOverlap(e, f)));
      if (event && prefixesOverlap(a.prefix, b.prefix) && suffixesOverlap(a.suffix, b.suffix)) {
        out.push(
          `OSS triggers ${a.where} and ${b.where} overlap on bucket ${a.bucket} (${event}, prefixes "${a.prefix}"/"${b.prefix}", suffixes "${a.suffix}"/"${b.suffix}")`,
        );
      }
    }
  }
  return out;
}

// ---- MNS queues: one consumer each

export const queueOf = (t: Trigger) =>
  str(get(t.triggerConfig, 'eventSourceConfig', 'eventSourceParameters', 'sourceMNSParameters', 'QueueName'));

export function queueConsumerProblems(doc: RenderedDoc): string[] {
  const consumers = new Map<string, string[]>();
  for (const { fn, t } of triggersOf(doc)) {
    if (t.triggerType !== 'eventbridge' || get(t.triggerConfig, 'eventSourceConfig', 'eventSourceType') !== 'MNS') continue;
    const q = queueOf(t);
    consumers.set(q, [...(consumers.get(q) ?? []), `${fn}/${str(t.triggerName)}`]);
  }
  return [...consumers]
    .filter(([, c]) => c.length > 1)
    .map(([q, c]) => `MNS queue ${q} is consumed by ${c.length} triggers (${c.join(', ')}): a queue hands each message to one consumer`);
}

// ---- EventBridge triggers: explicit retries, a dead-letter queue, listed last

const RETRY_STRATEGIES = new Set(['BACKOFF_RETRY', 'EXPONENTIAL_DECAY_RETRY']);
const MNS_QUEUE_ARN = /^acs:mns:[^:]+:[^:]*:\/queues\/[^/]+$/;

export function eventBridgeProblems(doc: RenderedDoc): string[] {
  const out: string[] = [];
  for (const [fn, { props }] of Object.entries(doc.resources)) {
    const triggers = props.triggers ?? [];
    triggers.forEach((t, i) => {
      if (t.triggerType !== 'eventbridge') return;
      const where = `${fn}/${str(t.triggerName)}`;
      if (triggers.slice(i + 1).some((x) => x.triggerType !== 'eventbridge'))
        out.push(
          `${where}: EventBridge triggers must come after the other triggers (fc3 stops updating the triggers after an unchanged one)`,
        );
      const run = get(t.triggerConfig, 'runOptions');
      if (!isRecord(run)) {
        out.push(`${where}: runOptions is missing (without it a message is dropped after EventBridge's retries)`);
        return;
      }
      if (run.mode !== 'event-streaming')
        out.push(`${where}: runOptions.mode must be event-streaming (runOptions only apply to event streams)`);
      if (run.errorsTolerance !== 'ALL')
        out.push(`${where}: runOptions.errorsTolerance must be ALL (NONE blocks the stream instead of dead-lettering)`);
      const retry = run.retryStrategy;
      if (!isRecord(retry)) out.push(`${where}: runOptions.retryStrategy is missing`);
      else {
        if (!RETRY_STRATEGIES.has(str(retry.PushRetryStrategy)))
          out.push(`${where}: retryStrategy.PushRetryStrategy must be BACKOFF_RETRY or EXPONENTIAL_DECAY_RETRY`);
        if (!Number.isInteger(retry.MaximumRetryAttempts) || (retry.MaximumRetryAttempts as number) < 0)
          out.push(`${where}: retryStrategy.MaximumRetryAttempts must be a whole number`);
        if (!Number.isInteger(retry.MaximumEventAgeInSeconds) || (retry.MaximumEventAgeInSeconds as number) <= 0)
          out.push(`${where}: retryStrategy.MaximumEventAgeInSeconds must be a positive whole number`);
      }
      if (!MNS_QUEUE_ARN.test(str(get(run, 'deadLetterQueue', 'Arn'))))
        out.push(`${where}: runOptions.deadLetterQueue.Arn must be an MNS queue ARN`);
    });
  }
  return out;
}

// ---- logConfig everywhere (fc3 resets an omitted one to "no logs")

export function logConfigProblems(doc: RenderedDoc): string[] {
  return Object.entries(doc.resources).flatMap(([fn, { props }]) => {
    const c = props.logConfig;
    if (c === 'auto') return [];
    if (!isRecord(c) || str(c.project) === '' || str(c.logstore) === '')
      return [`${fn}: logConfig with project and logstore (or auto) is required`];
    return [];
  });
}

// ---- names s.yaml uses, and the names infra/ creates

export type NameKind = 'queue' | 'topic' | 'bucket' | 'role' | 'logProject' | 'logstore';

const noNames = (): Record<NameKind, Set<string>> => ({
  queue: new Set(),
  topic: new Set(),
  bucket: new Set(),
  role: new Set(),
  logProject: new Set(),
  logstore: new Set(),
});

export function namesUsed(doc: RenderedDoc): Record<NameKind, Set<string>> {
  const used = noNames();
  const queueFromArn = (arn: string) => /:\/queues\/([^/]+)/.exec(arn)?.[1];
  for (const { props } of Object.values(doc.resources)) {
    if (props.role) used.role.add(props.role.split('/').pop() ?? '');
    if (isRecord(props.logConfig)) {
      used.logProject.add(str(props.logConfig.project));
      used.logstore.add(str(props.logConfig.logstore));
    }
    const dlq = queueFromArn(str(props.asyncInvokeConfig?.destinationConfig?.onFailure?.destination));
    if (dlq) used.queue.add(dlq);
    for (const t of props.triggers ?? []) {
      if (t.triggerType === 'mns_topic') used.topic.add(/\/topics\/([^/]+)$/.exec(str(t.sourceArn))?.[1] ?? str(t.sourceArn));
      if (t.triggerType === 'oss') used.bucket.add(str(t.sourceArn).split(':').pop() ?? '');
      if (t.triggerType === 'eventbridge') {
        used.queue.add(queueOf(t));
        const q = queueFromArn(str(get(t.triggerConfig, 'runOptions', 'deadLetterQueue', 'Arn')));
        if (q) used.queue.add(q);
      }
    }
  }
  return used;
}

const INFRA_NAME_ATTRS: Record<string, [NameKind, string]> = {
  alicloud_message_service_queue: ['queue', 'queue_name'],
  alicloud_message_service_topic: ['topic', 'topic_name'],
  alicloud_oss_bucket: ['bucket', 'bucket'],
  alicloud_ram_role: ['role', 'role_name'],
  alicloud_log_project: ['logProject', 'project_name'],
  alicloud_log_store: ['logstore', 'logstore_name'],
};

/** The names infra/main.tf creates: each resource's name attribute, `local.names.<key>` resolved from names.json. */
export function namesCreated(mainTf: string, names: Record<string, string>): Record<NameKind, Set<string>> {
  const made = noNames();
  for (const m of mainTf.matchAll(/^resource "(\w+)" "\w+" \{\n([\s\S]*?)^\}/gm)) {
    const rule = INFRA_NAME_ATTRS[m[1]!];
    if (!rule) continue;
    const [kind, attr] = rule;
    const value = new RegExp(`^\\s*${attr}\\s*=\\s*(?:local\\.names\\.(\\w+)|"([^"$]*)")\\s*$`, 'm').exec(m[2]!);
    if (!value) continue;
    const name = value[1] !== undefined ? names[value[1]] : value[2];
    if (name) made[kind].add(name);
  }
  return made;
}

export function infraProblems(doc: RenderedDoc, created: Record<NameKind, Set<string>>): string[] {
  const used = namesUsed(doc);
  return (Object.keys(used) as NameKind[]).flatMap((kind) =>
    [...used[kind]].filter((n) => !created[kind].has(n)).map((n) => `${kind} ${n} is used in s.yaml but infra/ does not create it`),
  );
}

export function allDeployProblems(doc: RenderedDoc, created: Record<NameKind, Set<string>>): string[] {
  return [
    ...queueConsumerProblems(doc),
    ...ossOverlapProblems(doc),
    ...eventBridgeProblems(doc),
    ...logConfigProblems(doc),
    ...infraProblems(doc, created),
  ];
}

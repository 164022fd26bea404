import type { Channel, ChannelFunctionName } from '../channels/index.ts';
import { type Config, loadConfig } from '../config.ts';
import type { Sender, SenderDeps } from '../core/send.ts';
import { ConfigError } from '../errors.ts';
import type { TemplateKindOf } from '../guards/template-kind.ts';
import type { Limiter } from '../limiter/limiter.ts';
import { type Logger, registerSecret, rootLogger } from '../log.ts';
import { MemoryStore } from '../store/memory.ts';
import type { Store } from '../store/types.ts';
import { type Catalog, loadRuntimeCatalog } from '../templates/catalog.ts';

/**
 * Everything one FC instance builds once, at module load (warm invocations reuse it): config, logger,
 * store, provider client, sender. A broken environment does not crash the instance: it is
 * logged once, loudly, and every request that needs it is refused naming the variable.
 */

/** The sending functions come from the channel descriptions (their `functionName`). */
export type FunctionName = ChannelFunctionName | 'template-validate';

export interface FcContext {
  requestId?: string;
  function?: { name?: string; timeout?: number };
  credentials?: { accessKeyId?: string; accessKeySecret?: string; securityToken?: string };
  region?: string;
  accountId?: string;
  retryCount?: number;
}

export interface Runtime {
  name: FunctionName;
  channel: Channel | undefined;
  config: Config | undefined;
  configError: ConfigError | undefined;
  logger: Logger;
  store: Store;
  /** Rate-limit counters (sending functions only). */
  limiter: Limiter | undefined;
  sender: Sender | undefined;
  /** The template catalog (see shared/templates/catalog.ts), if any. */
  catalog: Catalog | undefined;
  /** The clock (epoch ms) for time rules: limits, quiet hours, marketing sending hours. */
  now: () => number;
}

export interface RuntimeOptions {
  env?: Record<string, string | undefined>;
  /** Overrides for tests and the local server (e.g. a shared store, a shorter retry delay). */
  store?: Store;
  retryDelayMs?: number;
  senderDeps?: Partial<SenderDeps>;
  /** A catalog instead of TEMPLATES_FILE / the embedded one; `null` = no catalog. */
  catalog?: Catalog | null;
  /** Rate-limit counters; default: Redis when REDIS_URL is set, else this instance's memory. */
  limiter?: Limiter;
  /** Clock (epoch ms) for limits, quiet hours and marketing sending hours; tests cross day boundaries with it. */
  now?: () => number;
  /** Template kind lookup; default: the catalog's kind for the job's skin. */
  templateKindOf?: TemplateKindOf;
}

/** What a sending function adds to its runtime (shared/fc/sending.ts); template-validate has none, so its bundle carries no provider client. */
export type MakeSender = (deps: {
  config: Config;
  catalog: Catalog | undefined;
  store: Store;
  now: () => number;
  options: RuntimeOptions;
}) => {
  sender: Sender;
  limiter: Limiter;
};

const blank = (v: string | undefined) => v === undefined || v.trim() === '';

/**
 * Builds the store from REDIS_URL. Sending functions pass shared/fc/sending.ts's (Redis when the URL
 * is set); a function without one keeps its state in memory and its bundle carries no Redis
 * client at all (template-validate: nothing to remember between calls).
 */
/** `cluster`: REDIS_CLUSTER=1, `redisUrl` names seed nodes of a cluster (docs/redis.md). */
export type MakeStore = (redisUrl: string | undefined, cluster?: boolean) => Store;

export function createRuntime(
  name: FunctionName,
  channel: Channel | undefined,
  options: RuntimeOptions = {},
  makeSender?: MakeSender,
  makeStore?: MakeStore,
): Runtime {
  const env = options.env ?? process.env;
  let config: Config | undefined;
  let configError: ConfigError | undefined;
  try {
    config = loadConfig(env, { requireCredentials: channel !== undefined });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    configError = err;
  }
  let catalog: Catalog | undefined;
  try {
    catalog = loadRuntimeCatalog(env, options.catalog);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    // A broken catalog fails closed like a broken environment: nothing is sent unchecked.
    configError ??= err;
    config = undefined;
  }
  const now = options.now ?? Date.now;
  const logger = rootLogger(config?.logLevel ?? 'info').child({ function: name });
  if (configError) {
    logger.error({ event: 'config', variables: configError.variables }, `configuration invalid, refusing to send: ${configError.message}`);
  }
  if (config) {
    const c = config.credentials;
    if (c.kind === 'appcode') registerSecret(c.appCode);
    if (c.kind === 'signature') registerSecret(c.appSecret);
    for (const k of config.apiKeys) registerSecret(k.key);
    if (config.verify.secretSource === 'env') registerSecret(config.verify.secret);
    if (channel && config.verify.secretSource === 'random-sandbox')
      logger.warn(
        { event: 'config' },
        'VERIFY_SECRET unset: sandbox mode uses a random secret for this process (verification codes do not survive a restart)',
      );
    if (channel && config.verify.problem)
      logger.error({ event: 'config', variables: ['VERIFY_SECRET'] }, `verification routes refused: ${config.verify.problem}`);
    if (c.kind === 'sandbox' && channel)
      logger.warn({ event: 'config' }, 'SANDBOX mode: the built-in sandbox provider answers; nothing is sent');
    if (config.allowUnauthenticated) {
      logger.warn(
        { event: 'config' },
        'ALLOW_UNAUTHENTICATED=1 and no API_KEYS: anyone who can reach the HTTP trigger can send at your expense',
      );
    }
  }
  const redisUrl = config?.redisUrl;
  // STORE=memory keeps the memory store even where a factory could build Redis (a STORE=memory
  // together with REDIS_URL is a configuration error, so this is only belt and braces).
  const store =
    options.store ??
    (makeStore ? makeStore(config?.store === 'memory' ? undefined : redisUrl, config?.redisCluster === true) : new MemoryStore());
  if (!options.store && config?.store === 'memory' && channel && !blank(env.FC_FUNCTION_NAME)) {
    // Chosen on purpose (STORE=memory), still worth a line in every instance's log.
    logger.warn(
      { event: 'config' },
      'STORE=memory: idempotency, limits and schedules are kept per instance; duplicates across instances are possible',
    );
  }
  let sender: Sender | undefined;
  let limiter: Limiter | undefined;
  if (config && channel && makeSender) {
    ({ sender, limiter } = makeSender({ config, catalog, store, now, options }));
  }
  if (catalog) logger.info({ event: 'config', catalog: catalog.source, templates: catalog.templates.length }, 'template catalog loaded');
  return { name, channel, config, configError, logger, store, limiter, sender, catalog, now };
}

import { type Config, loadConfig } from './config.ts';
import { ConfigError } from './errors.ts';
import { type Channel } from './jobs.ts';
import { type Logger, registerSecret, rootLogger } from './log.ts';
import { createProviderClient } from './provider/client.ts';
import { createSender, type Sender, type SenderDeps } from './core/send.ts';
import { quietHoursGuard } from './guards/quiet-hours.ts';
import { createQuota } from './guards/rate-limit.ts';
import { recipientGuard } from './guards/recipient.ts';
import { catalogKindOf, type TemplateKindOf } from './guards/template-kind.ts';
import type { Limiter } from './limits/limiter.ts';
import { MemoryLimiter } from './limits/memory.ts';
import { RedisLimiter } from './limits/redis.ts';
import { signatureAuthenticator } from './provider/signature.ts';
import { redisConnection } from './store/redis-connection.ts';
import { MemoryStore } from './store/memory.ts';
import { RedisStore } from './store/redis.ts';
import { type Catalog, loadRuntimeCatalog } from './templates/catalog.ts';
import { createCatalogResolver } from './templates/resolve.ts';
import type { Store } from './store/types.ts';

/**
 * Everything one FC instance builds once, at module load (style.md §8): config, logger,
 * store, provider client, sender. A broken environment does not crash the instance: it is
 * logged once, loudly, and every request that needs it is refused naming the variable.
 */

export type FunctionName = 'long-sms' | 'voice-notify' | 'template-validate';

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
  limiter: Limiter;
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

export function createRuntime(name: FunctionName, channel: Channel | undefined, options: RuntimeOptions = {}): Runtime {
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
    if (c.kind === 'sandbox' && channel) logger.warn({ event: 'config' }, 'SANDBOX mode: the built-in sandbox provider answers; nothing is sent');
    if (config.allowUnauthenticated) {
      logger.warn({ event: 'config' }, 'ALLOW_UNAUTHENTICATED=1 and no API_KEYS: anyone who can reach the HTTP trigger can send at your expense');
    }
  }
  const redisUrl = config?.redisUrl;
  const store = options.store ?? (redisUrl ? new RedisStore(() => redisConnection(redisUrl)) : new MemoryStore());
  const limiter = options.limiter ?? (redisUrl ? new RedisLimiter(() => redisConnection(redisUrl)) : new MemoryLimiter());
  let sender: Sender | undefined;
  if (config && channel) {
    const c = config.credentials;
    const client = createProviderClient({
      credentials: c,
      timeoutMs: config.upstreamTimeoutMs,
      retries: config.upstreamRetries,
      ...(options.retryDelayMs !== undefined ? { retryDelayMs: options.retryDelayMs } : {}),
      ...(c.kind === 'signature' ? { authenticate: signatureAuthenticator(c) } : {}),
    });
    const kindOf = options.templateKindOf ?? catalogKindOf(catalog);
    const guards = [recipientGuard(config.recipients)];
    if (config.quietHours) guards.push(quietHoursGuard(config.quietHours, now, kindOf));
    const quota = createQuota({ limiter, limits: config.limits, now, kindOf });
    sender = createSender({
      client,
      store,
      longSmsUrl: config.longSmsUrl,
      voiceUrl: config.voiceUrl,
      resolveSmsParams: createCatalogResolver(catalog),
      guards,
      quota,
      ...options.senderDeps,
    });
  }
  if (catalog) logger.info({ event: 'config', catalog: catalog.source, templates: catalog.templates.length }, 'template catalog loaded');
  return { name, channel, config, configError, logger, store, limiter, sender, catalog, now };
}

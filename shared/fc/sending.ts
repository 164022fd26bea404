import type { Sender } from '../core/send.ts';
import { createSender } from '../core/send.ts';
import { quietHoursGuard } from '../guards/quiet-hours.ts';
import { createQuota } from '../guards/rate-limit.ts';
import { recipientGuard } from '../guards/recipient.ts';
import { catalogKindOf } from '../guards/template-kind.ts';
import { MemoryLimiter } from '../limiter/memory.ts';
import { RedisLimiter } from '../limiter/redis.ts';
import { createProviderClient } from '../provider/client.ts';
import { signatureAuthenticator } from '../provider/signature.ts';
import { redisConnection } from '../store/redis-connection.ts';
import { createCatalogResolver } from '../templates/resolve.ts';
import { QuotaWatch } from '../usage/quota.ts';
import { createAlertSender, createUsageHooks } from '../usage/recorder.ts';
import { withVerificationKind } from '../verify/mark.ts';
import type { MakeSender } from './runtime.ts';

/**
 * The sending half of a runtime: provider client (AppCode or signature), guards (recipient policy,
 * quiet hours), limits and the catalog resolver, wired into one sender. Imported only by the
 * sending functions, so template-validate's bundle carries none of it.
 */
// Issue 13: moved to store/factory.ts, so template-validate (usage and job lookups) builds the same store.
export { makeStore } from '../store/factory.ts';

export const makeSender: MakeSender = ({ config, catalog, store, now, options }) => {
  const c = config.credentials;
  const redisUrl = config.redisUrl;
  const limiter =
    options.limiter ?? (redisUrl ? new RedisLimiter(() => redisConnection(redisUrl, config.redisCluster)) : new MemoryLimiter());
  const client = createProviderClient({
    credentials: c,
    timeoutMs: config.upstreamTimeoutMs,
    retries: config.upstreamRetries,
    ...(options.retryDelayMs !== undefined ? { retryDelayMs: options.retryDelayMs } : {}),
    ...(c.kind === 'signature' ? { authenticate: signatureAuthenticator(c) } : {}),
  });
  const kindOf = withVerificationKind(options.templateKindOf ?? catalogKindOf(catalog));
  const guards = [recipientGuard(config.recipients)];
  if (config.quietHours) guards.push(quietHoursGuard(config.quietHours, now, kindOf));
  const quota = createQuota({ limiter, limits: config.limits, now, kindOf });
  // Issue 13: usage counters, quota watch and alerts (shared/usage/).
  let sender: Sender | undefined;
  const alert = createAlertSender({ store, now, phones: config.usage.alertPhones, skin: config.usage.alertSkin, sender: () => sender });
  const watch = new QuotaWatch({ store, now, quotas: config.usage.quotas, alert });
  const usage = createUsageHooks({ store, now, quota: watch });
  sender = createSender({
    client,
    store,
    urls: config.urls,
    resolveSmsParams: createCatalogResolver(catalog),
    guards,
    quota,
    usage,
    ...options.senderDeps,
  });
  return { sender, limiter };
};

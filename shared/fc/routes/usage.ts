import { CHANNELS, type Channel } from '../../channels/index.ts';
import { InvalidRequestError, NotifyError, storeUnavailable } from '../../errors.ts';
import { FIELD_LIMITS } from '../../jobs.ts';
import { errorFields } from '../../log.ts';
import { type HttpResponse, json, type Route } from '../adapters/http.ts';
import type { Runtime } from '../runtime.ts';

/**
 * Issue 13 routes (docs/usage.md): GET /usage for OPS_CALLERS, GET /<channel>/<idempotencyKey> for a job's fate.
 * The report and the lookup are loaded with `await import()` on first use, not at cold start (issue 15).
 */

async function needOperator(rt: Runtime, caller: string): Promise<void> {
  const { isOperator } = await import('../jobs-lookup.ts');
  if (!isOperator(rt, caller)) throw new NotifyError('FORBIDDEN', 'only callers named in OPS_CALLERS may read usage');
}

/** `GET /usage?from=&to=[&format=csv]`: all three functions. */
export const usageRoute: Route = {
  method: 'GET',
  path: '/usage',
  async handler(req, { rt, log }): Promise<HttpResponse> {
    if (!rt.config) throw rt.configError ?? new NotifyError('INTERNAL', 'function is misconfigured');
    await needOperator(rt, String(log.caller ?? ''));
    const format = req.query.format ?? 'json';
    if (format !== 'json' && format !== 'csv') throw new InvalidRequestError('format must be json or csv', 'format');
    const { buildReport, channelPrices, reportCsv } = await import('../../usage/report.ts');
    let report: Awaited<ReturnType<typeof buildReport>>;
    try {
      report = await buildReport(rt.store, {
        from: req.query.from,
        to: req.query.to,
        now: rt.now(),
        pricing: channelPrices(rt.catalog),
        quotas: rt.config.usage.quotas,
      });
    } catch (err) {
      if (err instanceof NotifyError) throw err;
      Object.assign(log, { storeError: errorFields(err) });
      throw storeUnavailable(err, 'the usage could not be read; retry later');
    }
    Object.assign(log, { from: report.from, to: report.to, rows: report.breakdown.length });
    if (format === 'csv') {
      return {
        statusCode: 200,
        headers: {
          'content-type': 'text/csv; charset=utf-8',
          'content-disposition': `attachment; filename="usage-${report.from}-${report.to}.csv"`,
          'cache-control': 'no-store',
        },
        body: reportCsv(report),
        isBase64Encoded: false,
      };
    }
    return json(200, report);
  },
};

/** `GET /sms/<idempotencyKey>`, `GET /voice/<idempotencyKey>` (`?caller=` for operators). */
export function jobRoute(channel: Channel): Route {
  const base = `${CHANNELS[channel].path}/`;
  return {
    method: 'GET',
    path: `${base}*`,
    async handler(req, { rt, log }) {
      if (!rt.config) throw rt.configError ?? new NotifyError('INTERNAL', 'function is misconfigured');
      let key: string;
      try {
        key = decodeURIComponent(req.path.slice(base.length));
      } catch {
        throw new InvalidRequestError('idempotencyKey in the path is not valid percent-encoding', '(path)');
      }
      if (key.length === 0 || key.length > FIELD_LIMITS.idempotencyKeyLength) {
        throw new InvalidRequestError(`idempotencyKey must be 1-${FIELD_LIMITS.idempotencyKeyLength} characters`, '(path)');
      }
      const callerParam = req.query.caller === undefined || req.query.caller === '' ? undefined : req.query.caller;
      const { lookupJob } = await import('../jobs-lookup.ts');
      try {
        const fate = await lookupJob(rt, channel, key, String(log.caller ?? 'anonymous'), callerParam);
        Object.assign(log, { lookup: fate.status });
        return json(200, fate);
      } catch (err) {
        if (err instanceof NotifyError) throw err;
        Object.assign(log, { storeError: errorFields(err) });
        throw storeUnavailable(err, 'the job could not be looked up; retry later');
      }
    },
  };
}

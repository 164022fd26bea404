import { randomUUID } from 'node:crypto';
import { CHANNELS } from '../../channels/index.ts';
import { monotonicMs } from '../../clock.ts';
import { claimTtlMs } from '../../core/idempotency.ts';
import { dueTimeOf, scheduleJob } from '../../core/schedule.ts';
import type { Outcome } from '../../core/send.ts';
import { InvalidRequestError, NotifyError, scheduleUnsure, storeUnavailable } from '../../errors.ts';
import { type Channel, parseJob } from '../../jobs.ts';
import { errorFields } from '../../log.ts';
import { maskPhone } from '../../phone.ts';
import { scheduleDeps } from '../adapters/adapter.ts';
import { errorResponse, type HttpResponse, json, type Route, readJsonBody } from '../adapters/http.ts';

/** The HTTP answer for an outcome: 200 with the contract's shape when sent, the error otherwise. */
export function outcomeResponse(outcome: Outcome): HttpResponse {
  const headers: Record<string, string> = outcome.replayed ? { 'idempotent-replayed': 'true' } : {};
  if (outcome.status !== 'sent') {
    const err = outcome.error ?? new NotifyError('OUTCOME_UNKNOWN', 'the provider answer could not be read');
    return errorResponse(err, headers);
  }
  const provider: Record<string, string> = { code: outcome.provider?.code ?? 'OK', message: outcome.provider?.message ?? '' };
  if (outcome.provider?.requestId) provider.requestId = outcome.provider.requestId;
  return json(
    200,
    {
      status: 'sent',
      channel: outcome.channel,
      phone: outcome.phoneMasked,
      provider,
      idempotencyKey: outcome.idempotencyKey,
      replayed: outcome.replayed,
      // Only when the store could not record it (issue 11): sent all the same, and not sent again.
      ...(outcome.recorded === false ? { recorded: false } : {}),
    },
    headers,
  );
}

/** `POST /sms` and `POST /voice`: one job in the body. */
export function sendRoute(channel: Channel): Route {
  return {
    method: 'POST',
    path: CHANNELS[channel].path,
    async handler(req, { rt, fc, log }) {
      if (!rt.sender) throw rt.configError ?? new NotifyError('INTERNAL', 'function is misconfigured');
      const body = readJsonBody(req);
      const headerKey = req.headers['idempotency-key'];
      if (headerKey !== undefined && body.idempotencyKey === undefined) body.idempotencyKey = headerKey;
      else if (headerKey !== undefined && headerKey !== body.idempotencyKey) {
        throw new NotifyError('INVALID_REQUEST', 'Idempotency-Key header and idempotencyKey field disagree');
      }
      const job = parseJob(body, channel);
      const caller = String(log.caller ?? 'anonymous');
      const dueAt = dueTimeOf(job, rt.now());
      if (dueAt !== undefined) {
        // The same idempotencyKey schedules the same entry again (a retried POST stays one job).
        const key = job.idempotencyKey ?? randomUUID();
        // Horizon, per-caller limits and the pending cap: docs/limits.md.
        let entry: Awaited<ReturnType<typeof scheduleJob>>;
        try {
          entry = await scheduleJob(scheduleDeps(rt), { job: { ...job, idempotencyKey: key }, caller, key, dueAt, http: true });
        } catch (err) {
          if (err instanceof NotifyError) throw err;
          // The store failed (limits or the entry itself): nothing was sent, the entry may still land.
          Object.assign(log, { storeError: errorFields(err) });
          throw scheduleUnsure(err);
        }
        Object.assign(log, { outcome: 'scheduled', scheduledId: entry.id });
        return json(202, {
          status: 'scheduled',
          id: entry.id,
          channel,
          phone: maskPhone(job.phone),
          sendAt: job.sendAt,
          idempotencyKey: key,
        });
      }
      const timeoutS = fc.function?.timeout;
      const outcome = await rt.sender.send(job, {
        requestId: req.requestId,
        caller,
        // One line per request: the send's outcome, provider code and latency join the HTTP line,
        // which carries the requestId; no per-request child logger is needed.
        logger: rt.logger,
        logFields: log,
        source: 'http',
        ...(timeoutS ? { claimTtlMs: claimTtlMs(timeoutS) } : {}),
      });
      return outcomeResponse(outcome);
    },
  };
}

/** `DELETE /sms/<id>` and `DELETE /voice/<id>`: cancels a scheduled job of the same caller. */
export function cancelRoute(channel: Channel): Route {
  const base = `${CHANNELS[channel].path}/`;
  return {
    method: 'DELETE',
    path: `${base}*`,
    async handler(req, { rt, log }) {
      const id = decodeURIComponent(req.path.slice(base.length));
      if (!/^[\w-]{1,64}$/.test(id)) throw new InvalidRequestError('scheduled job id must be 1-64 letters, digits, - or _', '(path)');
      let cancelled: boolean;
      try {
        cancelled = await rt.store.cancel(channel, id, String(log.caller ?? 'anonymous'));
      } catch (err) {
        Object.assign(log, { storeError: errorFields(err) });
        throw storeUnavailable(
          err,
          'the job may or may not be cancelled (a slow store still runs the write); retry: a job already cancelled answers 404',
        );
      }
      Object.assign(log, { scheduledId: id, cancelled });
      if (!cancelled)
        throw new NotifyError(
          'NOT_FOUND',
          `no scheduled ${channel} job ${id} (already sent, cancelled, or never scheduled by this caller)`,
        );
      return json(200, { status: 'cancelled', id, channel });
    },
  };
}

/** How long `GET /healthz?deep=1` waits for the store's PING. */
export const HEALTH_STORE_TIMEOUT_MS = 1000;

/**
 * `GET /healthz`: `{"ok":true}` without touching anything (liveness; no secrets, no upstream call).
 * `GET /healthz?deep=1` (readiness) also PINGs the store, bounded: `503 {"ok":false,"store":"unreachable"}`
 * when it cannot be reached. The provider is never called.
 */
export const healthRoute: Route = {
  method: 'GET',
  path: '/healthz',
  public: true,
  async handler(req, { rt, log }) {
    if (rt.configError) return json(503, { ok: false, problem: rt.configError.message });
    const deep = req.query.deep;
    if (deep === undefined || deep === '' || deep === '0' || deep === 'false') return json(200, { ok: true });
    const started = monotonicMs();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        rt.store.ping(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${HEALTH_STORE_TIMEOUT_MS} ms`)), HEALTH_STORE_TIMEOUT_MS);
        }),
      ]);
    } catch (err) {
      Object.assign(log, { storeError: errorFields(err) });
      return json(503, { ok: false, store: 'unreachable' }, { 'retry-after': '2' });
    } finally {
      clearTimeout(timer);
    }
    return json(200, { ok: true, store: rt.store.kind, storeMs: Math.round(monotonicMs() - started) });
  },
};

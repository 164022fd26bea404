import { errorResponse, json, readJsonBody, type HttpResponse, type Route } from '../adapters/http.ts';
import type { Outcome } from '../core/send.ts';
import { randomUUID } from 'node:crypto';
import { scheduleJob } from '../core/schedule.ts';
import { InvalidRequestError, NotifyError } from '../errors.ts';
import { maskPhone } from '../phone.ts';
import { type Channel, parseJob } from '../jobs.ts';

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
    },
    headers,
  );
}

/** `POST /sms` and `POST /voice`: one job in the body. */
export function sendRoute(channel: Channel): Route {
  return {
    method: 'POST',
    path: channel === 'sms' ? '/sms' : '/voice',
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
      if (job.sendAt !== undefined && Date.parse(job.sendAt) > rt.now()) {
        // The same idempotencyKey schedules the same entry again (a retried POST stays one job).
        const key = job.idempotencyKey ?? randomUUID();
        // Horizon, per-caller limits and the pending cap: docs/limits.md.
        const entry = await scheduleJob(rt, { job: { ...job, idempotencyKey: key }, caller, key, dueAt: Date.parse(job.sendAt), http: true });
        Object.assign(log, { outcome: 'scheduled', scheduledId: entry.id });
        return json(202, { status: 'scheduled', id: entry.id, channel, phone: maskPhone(job.phone), sendAt: job.sendAt, idempotencyKey: key });
      }
      const timeoutS = fc.function?.timeout;
      const outcome = await rt.sender.send(job, {
        requestId: req.requestId,
        caller,
        // One line per request: the send's outcome, provider code and latency join the HTTP line,
        // which carries the requestId; no per-request child logger is needed.
        logger: rt.logger,
        logFields: log,
        ...(timeoutS ? { claimTtlMs: (timeoutS + 30) * 1000 } : {}),
      });
      return outcomeResponse(outcome);
    },
  };
}

/** `DELETE /sms/<id>` and `DELETE /voice/<id>`: cancels a scheduled job of the same caller. */
export function cancelRoute(channel: Channel): Route {
  const base = channel === 'sms' ? '/sms/' : '/voice/';
  return {
    method: 'DELETE',
    path: `${base}*`,
    async handler(req, { rt, log }) {
      const id = decodeURIComponent(req.path.slice(base.length));
      if (!/^[\w-]{1,64}$/.test(id)) throw new InvalidRequestError('scheduled job id must be 1-64 letters, digits, - or _', '(path)');
      const cancelled = await rt.store.cancel(channel, id, String(log.caller ?? 'anonymous'));
      Object.assign(log, { scheduledId: id, cancelled });
      if (!cancelled) throw new NotifyError('NOT_FOUND', `no scheduled ${channel} job ${id} (already sent, cancelled, or never scheduled by this caller)`);
      return json(200, { status: 'cancelled', id, channel });
    },
  };
}

export const healthRoute: Route = {
  method: 'GET',
  path: '/healthz',
  public: true,
  async handler(_req, { rt }) {
    if (rt.configError) return json(503, { ok: false, problem: rt.configError.message });
    return json(200, { ok: true });
  },
};

import { claimTtlMs } from '../../core/idempotency.ts';
import { NotifyError } from '../../errors.ts';
import type { VerifyChannel } from '../../verify/flow.ts';
import { errorResponse, json, type Route, readJsonBody } from '../adapters/http.ts';

// The verification flow (its zod schemas, code store, signing) is loaded with `await import()` on the
// first verification request: a cold start that sends does not evaluate it (issue 15).

/** `POST /sms/verify` (long-sms) and `POST /voice/verify` (voice-notify): send a code. */
export function verifyStartRoute(channel: VerifyChannel): Route {
  return {
    method: 'POST',
    path: channel === 'sms' ? '/sms/verify' : '/voice/verify',
    async handler(req, { rt, fc, log }) {
      const body = readJsonBody(req);
      const headerKey = req.headers['idempotency-key'];
      if (headerKey !== undefined && body.idempotencyKey === undefined) body.idempotencyKey = headerKey;
      else if (headerKey !== undefined && headerKey !== body.idempotencyKey) {
        throw new NotifyError('INVALID_REQUEST', 'Idempotency-Key header and idempotencyKey field disagree');
      }
      const timeoutS = fc.function?.timeout;
      const { startVerification } = await import('../../verify/flow.ts');
      const result = await startVerification(rt, channel, body, {
        requestId: req.requestId,
        caller: String(log.caller ?? 'anonymous'),
        log,
        ...(timeoutS ? { claimTtlMs: claimTtlMs(timeoutS) } : {}),
      });
      if (!result.ok) return errorResponse(result.error);
      return json(200, result.answer, result.replayed ? { 'idempotent-replayed': 'true' } : {});
    },
  };
}

/** `POST /verify/check` (long-sms and voice-notify: either checks a code sent by either). */
export const verifyCheckRoute: Route = {
  method: 'POST',
  path: '/verify/check',
  async handler(req, { rt, log }) {
    const body = readJsonBody(req);
    const { checkVerification } = await import('../../verify/flow.ts');
    const answer = await checkVerification(rt, body, { requestId: req.requestId, caller: String(log.caller ?? 'anonymous'), log });
    return json(200, answer);
  },
};

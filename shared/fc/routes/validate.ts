import { NotifyError } from '../../errors.ts';
import { validateBody } from '../../templates/validate.ts';
import { json, type Route, readJsonBody } from '../adapters/http.ts';

/** `POST /templates/validate`: `{"template":{…}}` → rule results; `{"job":{…}}` → a dry run. Never sends. */
export const validateRoute: Route = {
  method: 'POST',
  path: '/templates/validate',
  async handler(req, { rt, log }) {
    if (!rt.config) throw rt.configError ?? new NotifyError('INTERNAL', 'function is misconfigured');
    const body = readJsonBody(req);
    const answer = validateBody(body, {
      catalog: rt.catalog,
      urls: rt.config.urls,
      now: new Date(rt.now()),
    });
    // Rule ids only: the body may hold phone numbers and codes.
    Object.assign(log, { valid: answer.valid, rules: answer.errors.map((e) => e.rule).slice(0, 20) });
    return json(200, answer);
  },
};

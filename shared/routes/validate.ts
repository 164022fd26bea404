import type { Route } from '../adapters/http.ts';
import { NotifyError } from '../errors.ts';

/** `POST /templates/validate`: answered by the template catalog work; 501 until then. */
export const validateRoute: Route = {
  method: 'POST',
  path: '/templates/validate',
  async handler() {
    throw new NotifyError('NOT_IMPLEMENTED', 'template validation is not available in this version');
  },
};

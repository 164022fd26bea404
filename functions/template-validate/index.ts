import { createFunction } from '#shared/app';
import { openapiRoute } from '#shared/openapi/route';
import { healthRoute } from '#shared/routes/send';
import { jobRoute, usageRoute } from '#shared/routes/usage';
import { validateRoute } from '#shared/routes/validate';
import { makeStore } from '#shared/store/factory';

// Usage and job lookups (issue 13) read the same store as the sending functions (REDIS_URL), for the console page.
export const handler = createFunction({
  name: 'template-validate',
  makeStore,
  routes: [validateRoute, healthRoute, openapiRoute, usageRoute, jobRoute('sms'), jobRoute('voice')],
});

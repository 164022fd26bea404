import { consoleRoutes } from '#shared/console/route';
import type { FunctionSpec } from '#shared/fc/app';
import { healthRoute } from '#shared/fc/routes/send';
import { jobRoute, usageRoute } from '#shared/fc/routes/usage';
import { validateRoute } from '#shared/fc/routes/validate';
import { openapiRoute } from '#shared/openapi/route';
import { makeStore } from '#shared/store/factory';

// Usage and job lookups (issue 13) read the same store as the sending functions (REDIS_URL), for the console page (GET /console, shared/console/).
/** The function's wiring; `index.ts` hands it to createFunction, the tests use the same object. */
export const spec: FunctionSpec = {
  name: 'template-validate',
  makeStore,
  routes: [validateRoute, healthRoute, openapiRoute, usageRoute, jobRoute('sms'), jobRoute('voice'), ...consoleRoutes],
};

import { createFunction } from '#shared/app';
import { consoleRoutes } from '#shared/console/route';
import { openapiRoute } from '#shared/openapi/route';
import { healthRoute } from '#shared/routes/send';
import { validateRoute } from '#shared/routes/validate';

export const handler = createFunction({ name: 'template-validate', routes: [validateRoute, healthRoute, openapiRoute, ...consoleRoutes] });

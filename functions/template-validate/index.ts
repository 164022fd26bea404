import { consoleRoutes } from '#shared/console/route';
import { createFunction } from '#shared/fc/app';
import { healthRoute } from '#shared/fc/routes/send';
import { validateRoute } from '#shared/fc/routes/validate';
import { openapiRoute } from '#shared/openapi/route';

export const handler = createFunction({ name: 'template-validate', routes: [validateRoute, healthRoute, openapiRoute, ...consoleRoutes] });

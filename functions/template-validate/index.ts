import { createFunction } from '#shared/app';
import { healthRoute } from '#shared/routes/send';
import { validateRoute } from '#shared/routes/validate';
import { openapiRoute } from '#shared/openapi/route';

export const handler = createFunction({ name: 'template-validate', routes: [validateRoute, healthRoute, openapiRoute] });

import type { FunctionSpec } from '#shared/fc/app';
import { cancelRoute, healthRoute, sendRoute } from '#shared/fc/routes/send';
import { jobRoute, usageRoute } from '#shared/fc/routes/usage';
import { verifyCheckRoute, verifyStartRoute } from '#shared/fc/routes/verify';
import { makeSender, makeStore } from '#shared/fc/sending';
import { openapiRoute } from '#shared/openapi/route';

/** The function's wiring; `index.ts` hands it to createFunction, the tests use the same object. */
export const spec: FunctionSpec = {
  name: 'voice-notify',
  channel: 'voice',
  makeSender,
  makeStore,
  routes: [
    sendRoute('voice'),
    cancelRoute('voice'),
    verifyStartRoute('voice'),
    verifyCheckRoute,
    healthRoute,
    openapiRoute,
    jobRoute('voice'),
    usageRoute,
  ],
};

import type { FunctionSpec } from '#shared/fc/app';
import { cancelRoute, healthRoute, sendRoute } from '#shared/fc/routes/send';
import { jobRoute, usageRoute } from '#shared/fc/routes/usage';
import { verifyCheckRoute, verifyStartRoute } from '#shared/fc/routes/verify';
import { makeSender, makeStore } from '#shared/fc/sending';
import { openapiRoute } from '#shared/openapi/route';

/** The function's wiring; `index.ts` hands it to createFunction, the tests use the same object. */
export const spec: FunctionSpec = {
  name: 'long-sms',
  channel: 'sms',
  makeSender,
  makeStore,
  routes: [
    sendRoute('sms'),
    cancelRoute('sms'),
    verifyStartRoute('sms'),
    verifyCheckRoute,
    healthRoute,
    openapiRoute,
    jobRoute('sms'),
    usageRoute,
  ],
};

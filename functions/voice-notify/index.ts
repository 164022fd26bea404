import { createFunction } from '#shared/fc/app';
import { cancelRoute, healthRoute, sendRoute } from '#shared/fc/routes/send';
import { jobRoute, usageRoute } from '#shared/fc/routes/usage';
import { makeSender, makeStore } from '#shared/fc/sending';
import { openapiRoute } from '#shared/openapi/route';

export const handler = createFunction({
  name: 'voice-notify',
  channel: 'voice',
  makeSender,
  makeStore,
  routes: [sendRoute('voice'), cancelRoute('voice'), healthRoute, openapiRoute, jobRoute('voice'), usageRoute],
});

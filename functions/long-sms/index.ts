import { createFunction } from '#shared/fc/app';
import { cancelRoute, healthRoute, sendRoute } from '#shared/fc/routes/send';
import { jobRoute, usageRoute } from '#shared/fc/routes/usage';
import { makeSender, makeStore } from '#shared/fc/sending';
import { openapiRoute } from '#shared/openapi/route';

export const handler = createFunction({
  name: 'long-sms',
  channel: 'sms',
  makeSender,
  makeStore,
  routes: [sendRoute('sms'), cancelRoute('sms'), healthRoute, openapiRoute, jobRoute('sms'), usageRoute],
});

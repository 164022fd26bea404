import { createFunction } from '#shared/app';
import { makeSender, makeStore } from '#shared/sending';
import { cancelRoute, healthRoute, sendRoute } from '#shared/routes/send';
import { openapiRoute } from '#shared/openapi/route';
import { jobRoute, usageRoute } from '#shared/routes/usage';

export const handler = createFunction({
  name: 'long-sms',
  channel: 'sms',
  makeSender,
  makeStore,
  routes: [sendRoute('sms'), cancelRoute('sms'), healthRoute, openapiRoute, jobRoute('sms'), usageRoute],
});

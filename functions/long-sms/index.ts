import { createFunction } from '#shared/app';
import { openapiRoute } from '#shared/openapi/route';
import { cancelRoute, healthRoute, sendRoute } from '#shared/routes/send';
import { makeSender, makeStore } from '#shared/sending';

export const handler = createFunction({
  name: 'long-sms',
  channel: 'sms',
  makeSender,
  makeStore,
  routes: [sendRoute('sms'), cancelRoute('sms'), healthRoute, openapiRoute],
});

import { createFunction } from '#shared/app';
import { makeSender, makeStore } from '#shared/sending';
import { cancelRoute, healthRoute, sendRoute } from '#shared/routes/send';
import { openapiRoute } from '#shared/openapi/route';
import { verifyCheckRoute, verifyStartRoute } from '#shared/verify/routes';

export const handler = createFunction({
  name: 'long-sms',
  channel: 'sms',
  makeSender,
  makeStore,
  routes: [sendRoute('sms'), cancelRoute('sms'), verifyStartRoute('sms'), verifyCheckRoute, healthRoute, openapiRoute],
});

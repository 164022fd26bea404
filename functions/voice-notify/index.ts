import { createFunction } from '#shared/app';
import { openapiRoute } from '#shared/openapi/route';
import { cancelRoute, healthRoute, sendRoute } from '#shared/routes/send';
import { makeSender, makeStore } from '#shared/sending';

export const handler = createFunction({
  name: 'voice-notify',
  channel: 'voice',
  makeSender,
  makeStore,
  routes: [sendRoute('voice'), cancelRoute('voice'), healthRoute, openapiRoute],
});

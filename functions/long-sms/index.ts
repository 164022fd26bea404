import { createFunction } from '#shared/app';
import { cancelRoute, healthRoute, sendRoute } from '#shared/routes/send';

export const handler = createFunction({ name: 'long-sms', channel: 'sms', routes: [sendRoute('sms'), cancelRoute('sms'), healthRoute] });

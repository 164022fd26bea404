import { createFunction } from '#shared/app';
import { cancelRoute, healthRoute, sendRoute } from '#shared/routes/send';

export const handler = createFunction({ name: 'voice-notify', channel: 'voice', routes: [sendRoute('voice'), cancelRoute('voice'), healthRoute] });

/**
 * A function instance in a process that trusts the fake provider's self-signed CA through
 * NODE_EXTRA_CA_CERTS (the production code has no switch to trust anything else). It sends
 * through the long-sms and voice functions and prints one JSON line: the answers and its log lines.
 * Env: LONG_SMS_URL, VOICE_URL, APPCODE, CALLER_KEY.
 */
import { captureLogs } from './fc.ts';
import { invoker } from './functions.ts';

const logs = captureLogs();
const env = {
  APPCODE: process.env.APPCODE!,
  LONG_SMS_URL: process.env.LONG_SMS_URL!,
  VOICE_URL: process.env.VOICE_URL!,
  API_KEYS: `tls:${process.env.CALLER_KEY!}`,
  QUIET_HOURS: 'off',
  LIMIT_PHONE_INTERVAL_S: '0',
  LIMIT_PHONE_DAILY: '0',
};
const headers = { authorization: `Bearer ${process.env.CALLER_KEY!}` };
const sms = invoker('long-sms', { env, retryDelayMs: 5, catalog: null });
const voice = invoker('voice-notify', { env, retryDelayMs: 5, catalog: null });

const answers = [
  await sms({ path: '/sms', headers, body: { phone: '13800138000', skin: '1', params: ['12 34&#%+'] } }),
  await sms({ path: '/sms', headers, body: { phone: '13800138000', skin: '2', params: ['张三', '😀 #7', '3'] } }),
  await voice({ path: '/voice', headers, body: { phone: '13800138000', content: '您好\r\n再见' } }),
];
logs.stop();
process.stdout.write(
  `${JSON.stringify({ answers: answers.map(({ statusCode, headers: h, body }) => ({ statusCode, headers: h, body })), logs: logs.lines })}\n`,
);

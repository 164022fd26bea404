import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { WITH_DRY_RUN } from '#shared/channels/dry-run';
import { CHANNEL_NAMES, CHANNELS, type Channel, defaultUrls, type Job } from '#shared/channels/index';
import { defaultNotifyPrefix, loadConfig } from '#shared/config';
import type { FunctionSpec } from '#shared/fc/app';
import { buildJob, type NotifyRule, notifyFindings } from '#shared/notify/rules';
import type { TemplateKind } from '#shared/templates/rules';

/** The channel descriptions (shared/channels/) and their registry: what every other module reads. */

const root = (path: string) => new URL(`../../${path}`, import.meta.url);

describe('the registry (shared/channels/index.ts)', () => {
  it('lists sms and voice (and any channel added), each under its own channel name', () => {
    expect(CHANNEL_NAMES.slice(0, 2)).toEqual(['sms', 'voice']);
    for (const c of CHANNEL_NAMES) expect(CHANNELS[c].channel).toBe(c);
  });

  it("each channel's function folder exists and wires that channel: POST, DELETE and GET under the description's path", async () => {
    for (const c of CHANNEL_NAMES) {
      const d = CHANNELS[c];
      expect(existsSync(root(`functions/${d.functionName}/index.ts`)), d.functionName).toBe(true);
      const { spec } = (await import(`../../functions/${d.functionName}/spec.ts`)) as { spec: FunctionSpec };
      expect(spec.name).toBe(d.functionName);
      expect(spec.channel).toBe(c);
      const routes = spec.routes.map((r) => `${r.method} ${r.path}`);
      expect(routes).toEqual(expect.arrayContaining([`POST ${d.path}`, `DELETE ${d.path}/*`, `GET ${d.path}/*`]));
    }
  });

  it('the notify rule channels of schemas/templates.schema.json are exactly the registry (templates.json is checked by the schema first)', () => {
    const schema = JSON.parse(readFileSync(root('schemas/templates.schema.json'), 'utf8')) as {
      definitions: { notification: { properties: { channel: { enum: string[] } } } };
    };
    expect(schema.definitions.notification.properties.channel.enum).toEqual(CHANNEL_NAMES);
  });

  it('config reads each description’s URL variable (its default when blank), and the notify prefix defaults to notify/<channel>/', () => {
    expect(loadConfig({ APPCODE: 'abc123secret' }).urls).toEqual(defaultUrls());
    for (const c of CHANNEL_NAMES) {
      const d = CHANNELS[c];
      const urls = loadConfig({ APPCODE: 'abc123secret', [d.urlVariable]: ' https://provider.test/x ' }).urls as Record<Channel, string>;
      expect(urls[c]).toBe('https://provider.test/x');
      expect(loadConfig({ APPCODE: 'abc123secret', [d.urlVariable]: '  ' }).urls[c]).toBe(d.defaultUrl);
      expect(defaultNotifyPrefix(c)).toBe(`notify/${c}/`);
    }
    // A URL that is not https is named by the description's variable.
    expect(() => loadConfig({ APPCODE: 'abc123secret', VOICE_URL: 'ftp://x' })).toThrow(/VOICE_URL/);
  });

  it('from source every description carries its dry run (the sending bundles drop it: test/integration/bundle.test.ts)', () => {
    expect(WITH_DRY_RUN).toBe(true);
    for (const c of CHANNEL_NAMES) expect(CHANNELS[c].dryRun, c).toBeDefined();
  });
});

describe('the descriptions (shared/channels/sms.ts, voice.ts)', () => {
  const sms: Extract<Job, { channel: 'sms' }> = { channel: 'sms', phone: '13800138000', skin: '7', params: ['a', 'b'] };
  const voice: Extract<Job, { channel: 'voice' }> = { channel: 'voice', phone: '13800138000', content: '您好' };

  it('build the request in the vendor’s order; SMS through the catalog resolver (named params, the template’s sign)', () => {
    expect(CHANNELS.sms.request('https://s.test/largesms', sms, (j) => j.params as string[]).query).toEqual([
      ['param', 'a|b'],
      ['phone', '13800138000'],
      ['skin', '7'],
    ]);
    const resolved = CHANNELS.sms.request('https://s.test/largesms', { ...sms, params: { x: 'v' } }, () => ({ params: ['v'], sign: '9' }));
    expect(resolved).toEqual({
      channel: 'sms',
      endpoint: 'https://s.test/largesms',
      query: [
        ['param', 'v'],
        ['phone', '13800138000'],
        ['skin', '7'],
        ['sign', '9'],
      ],
    });
    expect(CHANNELS.voice.request('https://v.test/yytz', voice, () => []).query).toEqual([
      ['content', '您好'],
      ['mobile', '13800138000'],
    ]);
  });

  it('name the texts to scrub and what a fingerprint adds', () => {
    const req = CHANNELS.sms.request('https://s.test/largesms', sms, () => ['a', 'b']);
    expect(CHANNELS.sms.scrubTexts(sms, req)).toEqual(['a|b', '13800138000', '7']);
    expect(
      CHANNELS.voice.scrubTexts(
        voice,
        CHANNELS.voice.request('https://v.test/yytz', voice, () => []),
      ),
    ).toEqual(['您好']);
    expect(CHANNELS.sms.fingerprintExtra(sms)).toBe('["a","b"]');
    expect(CHANNELS.voice.fingerprintExtra(voice)).toBe('');
  });

  it('say which template kinds wait for the quiet hours: marketing SMS; every call but a code', () => {
    const kinds: Array<TemplateKind | undefined> = ['verification', 'notification', 'marketing', undefined];
    expect(kinds.map((k) => CHANNELS.sms.quietHours.applies(k))).toEqual([false, false, true, false]);
    expect(kinds.map((k) => CHANNELS.voice.quietHours.applies(k))).toEqual([false, true, true, true]);
  });

  it('check a notify rule of their channel and make its job', () => {
    const templates = [{ skin: '7', kind: 'notification' as const, text: '【测试】单号#order#' }];
    const smsRule: NotifyRule = { name: 's', channel: 'sms', key: '{phone}/{order}', phone: { part: 'phone' }, skin: '7', params: {} };
    expect(notifyFindings([smsRule], templates).map((f) => f.message)).toEqual([
      'rule "s": template 7 needs #order#; give each a source in params',
    ]);
    const voiceRule: NotifyRule = {
      name: 'v',
      channel: 'voice',
      key: '{phone}/{order}',
      phone: { part: 'phone' },
      content: '单号{order}',
      params: { order: { part: 'order' }, extra: { value: 'x' } },
    };
    expect(notifyFindings([voiceRule], templates).map((f) => f.message)).toEqual(['rule "v": content has no placeholder {extra}']);
    const parts = { phone: '13800138000', order: 'A1' };
    expect(buildJob({ rule: { ...voiceRule, params: { order: { part: 'order' } } }, index: 0, parts }, undefined)).toEqual({
      job: { channel: 'voice', phone: '13800138000', content: '单号A1' },
    });
    expect(buildJob({ rule: { ...smsRule, sign: '3', params: { order: { part: 'order' } } }, index: 0, parts }, undefined)).toEqual({
      job: { channel: 'sms', phone: '13800138000', skin: '7', params: { order: 'A1' }, sign: '3' },
    });
  });
});

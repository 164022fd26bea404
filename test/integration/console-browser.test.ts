import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_CSP } from '#shared/console/route';
import { createFunction } from '#shared/fc/app';
import { MemoryStore } from '#shared/store/memory';
import { type LocalServer, startLocalServer } from '../../scripts/local-server.ts';
import { providerTemplates, testCatalog } from '../support/catalog.ts';
import { type FakeProvider, startFakeProvider, TEST_APPCODE } from '../support/fake-provider.ts';
import { captureLogs } from '../support/fc.ts';
import { LIMITS_AND_QUIET_HOURS_OFF, SPECS } from '../support/functions.ts';

/**
 * The operators' console (issue 16) in a real headless Chromium (Debian's `chromium`, driven by
 * playwright-core), against the three real functions on the local server and the fake provider:
 * real sends first, then the page — key, template check, dry run, usage chart, CSV, job lookup,
 * hostile text, 401 handling. Screenshots go to test-output/ (gitignored).
 */

// page.evaluate callbacks run in the browser; the test is type-checked without the DOM library.
declare const sessionStorage: { length: number; getItem(k: string): string | null; setItem(k: string, v: string): void };
declare const localStorage: { length: number };
declare const document: { cookie: string; documentElement: { lang: string } };

const CHROMIUM = '/usr/bin/chromium';
const OPS_KEY = 'console-ops-key-0123456789abcdef';
const WRONG_KEY = 'console-wrong-key-00000000000000';
const BACKEND_KEY = 'console-backend-key-0123456789ab';
const OUT = join(process.cwd(), 'test-output');
const HOSTILE = '<img src=x onerror=alert(1)>';
const haveChromium = existsSync(CHROMIUM);
// CI installs the package (.ci/run); a developer machine without it skips with a reason.
if (!haveChromium && process.env.CI) throw new Error(`${CHROMIUM} is missing: .ci/run installs the Debian package chromium`);

let fake: FakeProvider;
let server: LocalServer;
let base: string;
let context: BrowserContext;
let page: Page;
let userDataDir: string;
const dialogs: string[] = [];
const requestUrls: string[] = [];
const logs = captureLogs();

async function post(path: string, body: unknown, key = OPS_KEY): Promise<{ status: number; json: any }> {
  const res = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

const beijingToday = () => new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 10);

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(OUT, `console-${name}.png`), fullPage: true });
}

const storageLength = () => page.evaluate(() => sessionStorage.length);

beforeAll(async () => {
  if (!haveChromium) return;
  mkdirSync(OUT, { recursive: true });
  fake = await startFakeProvider({ templates: providerTemplates() });
  const store = new MemoryStore();
  const env = {
    ...LIMITS_AND_QUIET_HOURS_OFF,
    APPCODE: TEST_APPCODE,
    LONG_SMS_URL: fake.longSmsUrl,
    VOICE_URL: fake.voiceUrl,
    API_KEYS: `ops:${OPS_KEY},backend:${BACKEND_KEY}`,
    OPS_CALLERS: 'ops',
    // 80 of 100 calls used before today: with today's 3 billable SMS (2 sent, 1 rejected) 17 % are left.
    QUOTA_LONG_SMS: `100@${beijingToday()}+80`,
    QUOTA_VOICE: `50@${beijingToday()}`,
  };
  const fn = (name: keyof typeof SPECS) => createFunction(SPECS[name], { env, store, catalog: testCatalog(), retryDelayMs: 5 });
  server = await startLocalServer(
    { 'long-sms': fn('long-sms'), 'voice-notify': fn('voice-notify'), 'template-validate': fn('template-validate') },
    { port: 0 },
  );
  base = server.url;

  // Real sends through the real functions (one shared store, as REDIS_URL gives the deployed three):
  // two sent (one by another caller), one rejected by the vendor, one voice call.
  expect(
    (await post('/sms', { phone: '13800138000', skin: '1', params: ['1234'], idempotencyKey: 'console-order-1' }, BACKEND_KEY)).status,
  ).toBe(200);
  expect((await post('/sms', { phone: '13800138001', skin: '1', params: ['5678'], idempotencyKey: 'console-order-2' })).status).toBe(200);
  fake.next({ kind: 'vendor', code: '105', message: '参数个数不匹配' });
  const rejected = await post('/sms', { phone: '13800138002', skin: '1', params: ['9012'], idempotencyKey: 'console-order-3' });
  expect(rejected.status).toBeGreaterThanOrEqual(400);
  expect((await post('/voice', { phone: '13800138003', content: '您好，您的快递已送达。', idempotencyKey: 'console-call-1' })).status).toBe(
    200,
  );

  userDataDir = mkdtempSync(join(tmpdir(), 'fcn-console-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    locale: 'en-US',
    viewport: { width: 1200, height: 900 },
    acceptDownloads: true,
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  page.on('request', (r) => requestUrls.push(r.url()));
}, 60_000);

afterAll(async () => {
  await context?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  await server?.close();
  await fake?.close();
  logs.stop();
});

describe.skipIf(!haveChromium)('GET /console in headless Chromium', () => {
  it('serves the page with the strict CSP, nosniff and no inline script or handler', async () => {
    const res = await fetch(`${server.url}/console`, { headers: { 'accept-encoding': 'br' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
    expect(CONSOLE_CSP).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    );
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await res.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)/i);
    expect(html).not.toMatch(/\son[a-z]+=/i);
    expect(html).not.toMatch(/https?:\/\//);
    const js = await fetch(`${server.url}/console/app.js`);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('without a key or with a wrong key shows the 401 and keeps nothing', async () => {
    await page.goto(`${base}/console`);
    await expect.poll(() => page.locator('#key-section').isVisible()).toBe(true);
    expect(await page.locator('#app').isVisible()).toBe(false);

    await page.click('#key-form button[type=submit]');
    await page.locator('#key-error').waitFor({ state: 'visible' });
    expect(await page.textContent('#key-error')).toMatch(/^401 UNAUTHORIZED/);
    expect(await storageLength()).toBe(0);

    await page.fill('#key', WRONG_KEY);
    await page.click('#key-form button[type=submit]');
    await expect.poll(() => page.textContent('#key-error')).toMatch(/^401 UNAUTHORIZED: missing or invalid key; nothing was kept/);
    expect(await storageLength()).toBe(0);
    expect(await page.locator('#app').isVisible()).toBe(false);
    expect(await page.inputValue('#key')).toBe('');
    await shot('401');
  });

  it('accepts the right key, keeping it in sessionStorage only, sent as a header never in a URL', async () => {
    await page.fill('#key', OPS_KEY);
    await page.click('#key-form button[type=submit]');
    await page.locator('#app').waitFor({ state: 'visible' });
    expect(await page.evaluate(() => sessionStorage.getItem('fcn-console-key'))).toBe(OPS_KEY);
    expect(await page.evaluate(() => localStorage.length)).toBe(0);
    expect(await page.evaluate(() => document.cookie)).toBe('');
    expect(requestUrls.some((u) => u.includes(OPS_KEY))).toBe(false);
  });

  it('checks a template: rule ids, length, segments, cost, preview; hostile text stays text', async () => {
    await page.selectOption('#t-kind', 'verification');
    await page.fill('#t-text', HOSTILE);
    await page.click('#template-form button[type=submit]');
    await page.locator('#template-result table.rules').waitFor();
    const rules = await page.locator('#template-result .rule-id').allTextContents();
    expect(rules).toEqual(expect.arrayContaining(['signature.missing', 'verification.keyword']));
    expect(await page.textContent('#template-result [data-fact=preview]')).toBe(HOSTILE);
    expect(await page.locator('#template-result img').count()).toBe(0);
    expect(await page.locator('img').count()).toBe(0);
    expect(dialogs).toEqual([]);
    expect(await page.getAttribute('#template-result [data-valid]', 'data-valid')).toBe('false');
    await shot('hostile');

    await page.fill('#t-text', '【测试】您的验证码是#code#，5分钟内有效。');
    await page.fill('#t-example', 'code=1234');
    await page.click('#template-form button[type=submit]');
    await expect.poll(() => page.getAttribute('#template-result [data-valid]', 'data-valid')).toBe('true');
    expect(await page.textContent('#template-result [data-fact=preview]')).toBe('【测试】您的验证码是1234，5分钟内有效。');
    expect(await page.textContent('#template-result [data-fact=length]')).toBe('22');
    expect(await page.textContent('#template-result [data-fact=segments]')).toBe('1');
    expect(await page.textContent('#template-result [data-fact=cost]')).toBe('¥0.135');
  });

  it('dry-runs a job: the exact provider request, never the AppCode, nothing sent', async () => {
    const before = fake.requests.length;
    await page.fill('#j-phone', '13800138000');
    await page.fill('#j-skin', '1');
    await page.fill('#j-params', '["4321"]');
    await page.click('#job-form button[type=submit]');
    await page.locator('#job-result [data-fact=request]').waitFor();
    const request = await page.textContent('#job-result [data-fact=request]');
    expect(request).toMatch(new RegExp(`^GET ${fake.longSmsUrl.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\?`));
    expect(request).toContain('4321');
    expect(await page.content()).not.toContain(TEST_APPCODE);
    expect(fake.requests.length).toBe(before);
  });

  it('draws the usage chart from the real sends, with totals, the quota bar and its 20 % line', async () => {
    await page.locator('#chart svg rect.bar').first().waitFor();
    const bars = await page.$$eval('#chart svg rect.bar', (rects) =>
      rects.map((r) => ({
        channel: r.getAttribute('data-channel'),
        status: r.getAttribute('data-status'),
        value: Number(r.getAttribute('data-value')),
        height: Number(r.getAttribute('height')),
      })),
    );
    const sum = (channel: string, status: string) =>
      bars.filter((b) => b.channel === channel && b.status === status).reduce((n, b) => n + b.value, 0);
    expect(sum('sms', 'sent')).toBe(2);
    expect(sum('sms', 'rejected')).toBe(1);
    expect(sum('voice', 'sent')).toBe(1);
    // Heights are proportional to the values (the tallest stack fills the plot).
    const smsSent = bars.find((b) => b.channel === 'sms' && b.status === 'sent');
    const smsRejected = bars.find((b) => b.channel === 'sms' && b.status === 'rejected');
    expect(smsSent?.height).toBeCloseTo(2 * (smsRejected?.height ?? 0), 5);
    expect(await page.textContent('#totals tr[data-channel=sms] [data-total=sent]')).toBe('2');
    expect(await page.textContent('#totals tr[data-channel=voice] [data-total=sent]')).toBe('1');
    expect(await page.textContent('#totals tr[data-channel=sms] [data-total=rejected]')).toBe('1');
    expect(await page.textContent('#totals tr[data-channel=sms] [data-total=billable]')).toBe('3');
    // Quota: 80 used before + 3 billable today of 100 → 17 % left, under the 20 % line (red).
    expect(Number(await page.getAttribute('#quota [data-channel=sms] rect[data-ratio]', 'data-ratio'))).toBe(0.17);
    expect(await page.getAttribute('#quota [data-channel=sms] rect[data-ratio]', 'class')).toBe('left low');
    expect(await page.textContent('#quota [data-channel=sms]')).toContain('83/100');
    expect(Number(await page.getAttribute('#quota [data-channel=voice] rect[data-ratio]', 'data-ratio'))).toBe(0.98);
    expect(await page.locator('#quota [data-channel=sms] line.mark').count()).toBe(1);
    await shot('usage');
  });

  it('downloads the CSV through fetch with the key as a header', async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#csv')]);
    expect(download.suggestedFilename()).toMatch(/^fc-notify-usage-\d{4}-\d\d-\d\d-\d{4}-\d\d-\d\d\.csv$/);
    const text = readFileSync(await download.path(), 'utf8');
    expect(text.split(/\r?\n/)[0]).toBe('date,channel,caller,template,sent,rejected,failed,unknown,refused,scheduled,billable,cost');
    const rows = text.trim().split(/\r?\n/).slice(1);
    expect(rows).toEqual(
      expect.arrayContaining([
        `${beijingToday()},sms,backend,1,1,0,0,0,0,0,1,0.135`,
        `${beijingToday()},sms,ops,1,1,1,0,0,0,0,2,0.27`,
        `${beijingToday()},voice,ops,-,1,0,0,0,0,0,1,0`,
      ]),
    );
    expect(requestUrls.some((u) => u.includes(OPS_KEY))).toBe(false);
  });

  it('looks up a job by its idempotency key', async () => {
    await page.selectOption('#l-channel', 'sms');
    await page.fill('#l-key', 'console-order-1');
    await page.click('#lookup-form button[type=submit]');
    await page.locator('#lookup-result table.job').waitFor({ timeout: 5000 });
    expect(await page.textContent('#lookup-result [data-field=status] td')).toBe('sent');
    expect(await page.textContent('#lookup-result [data-field=attempts] td')).toBe('1');
    expect(await page.textContent('#lookup-result [data-field=source] td')).toBe('http');
    expect(await page.textContent('#lookup-result [data-field=phone] td')).toBe('138****8000');
    // Sent by another caller: an operator sees every caller's jobs.
    expect(await page.textContent('#lookup-result [data-field=caller] td')).toBe('backend');
    expect(await page.textContent('#lookup-result [data-field=providerCode] td')).toMatch(/^OK/);

    await page.selectOption('#l-channel', 'voice');
    await page.fill('#l-key', 'console-call-1');
    await page.click('#lookup-form button[type=submit]');
    await expect.poll(() => page.textContent('#lookup-result [data-field=idemKey] td')).toBe('console-call-1');
    expect(await page.textContent('#lookup-result [data-field=status] td')).toBe('sent');
    await page.selectOption('#l-channel', 'sms');

    await page.fill('#l-key', 'no-such-job');
    await page.click('#lookup-form button[type=submit]');
    await expect.poll(() => page.textContent('#lookup-result')).toMatch(/^404 NOT_FOUND/);
    await page.fill('#l-key', 'console-order-1');
    await page.click('#lookup-form button[type=submit]');
    await page.locator('#lookup-result table.job').waitFor({ timeout: 5000 });
    await shot('page-en');
  });

  it('switches to Chinese and remembers it for the tab', async () => {
    await page.click('#lang');
    await expect.poll(() => page.textContent('h1')).toBe('fc-notify 运维控制台');
    expect(await page.evaluate(() => document.documentElement.lang)).toBe('zh-CN');
    expect(await page.textContent('#lookup-result [data-field=status] th')).toBe('状态');
    await page.reload();
    await page.locator('#app').waitFor({ state: 'visible' });
    expect(await page.textContent('h1')).toBe('fc-notify 运维控制台');
    await page.locator('#chart svg rect.bar').first().waitFor();
    await shot('page-zh');
  });

  it('a key refused later (rotated) is forgotten at the first 401', async () => {
    await page.evaluate((k) => sessionStorage.setItem('fcn-console-key', k), WRONG_KEY);
    await page.reload();
    await page.locator('#key-error').waitFor({ state: 'visible' });
    expect(await page.textContent('#key-error')).toMatch(/^401 UNAUTHORIZED/);
    expect(await page.evaluate(() => sessionStorage.getItem('fcn-console-key'))).toBeNull();
    expect(await page.locator('#app').isVisible()).toBe(false);
    expect(dialogs).toEqual([]);
  });
});

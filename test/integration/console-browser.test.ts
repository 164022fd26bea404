import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
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
const OUT = join(process.cwd(), 'test-output');
const HOSTILE = '<img src=x onerror=alert(1)>';
const haveChromium = existsSync(CHROMIUM);
// CI installs the package (.ci/run); a developer machine without it skips with a reason.
if (!haveChromium && process.env.CI) throw new Error(`${CHROMIUM} is missing: .ci/run installs the Debian package chromium`);

let fake: FakeProvider;
let server: LocalServer;
let front: http.Server | undefined;
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

/**
 * TEMPORARY until issue 13 lands on main: answers GET /usage with the contract's shape, counts
 * equal to the sends this test makes; everything else goes to the real local server.
 */
async function startUsageStub(target: string): Promise<string> {
  front = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/usage') {
      const key = req.headers['x-api-key'] ?? req.headers.authorization?.replace(/^Bearer /, '');
      if (key !== OPS_KEY) {
        res.writeHead(401, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify({ error: { code: 'UNAUTHORIZED', message: 'missing or invalid API key', retryable: false } }));
      }
      const d = beijingToday();
      const sms = { sent: 2, rejected: 1, failed: 0, unknown: 0, refused: 0, scheduled: 0, billable: 3, cost: 0.405 };
      const voice = { sent: 1, rejected: 0, failed: 0, unknown: 0, refused: 0, scheduled: 0, billable: 1, cost: 0 };
      if (url.searchParams.get('format') === 'csv') {
        res.writeHead(200, { 'content-type': 'text/csv; charset=utf-8' });
        return void res.end(
          `date,channel,caller,template,sent,rejected,failed,unknown,refused,scheduled,billable,cost\n${d},sms,ops,1,2,1,0,0,0,0,3,0.405\n`,
        );
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(
        JSON.stringify({
          from: url.searchParams.get('from') ?? d,
          to: url.searchParams.get('to') ?? d,
          timezone: 'Asia/Shanghai',
          currency: 'CNY',
          days: [
            { date: d, channel: 'sms', ...sms },
            { date: d, channel: 'voice', ...voice },
          ],
          breakdown: [],
          totals: { sms, voice },
          quota: { sms: { purchased: 100, used: 85, remaining: 15, remainingRatio: 0.15 }, voice: null },
        }),
      );
    }
    const proxied = http.request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    req.pipe(proxied);
  });
  await new Promise<void>((r) => front?.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
}

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
    API_KEYS: `ops:${OPS_KEY},backend:console-backend-key-0123456789`,
    OPS_CALLERS: 'ops',
    QUOTA_LONG_SMS: '100',
  };
  const fn = (name: keyof typeof SPECS) => createFunction(SPECS[name], { env, store, catalog: testCatalog(), retryDelayMs: 5 });
  server = await startLocalServer(
    { 'long-sms': fn('long-sms'), 'voice-notify': fn('voice-notify'), 'template-validate': fn('template-validate') },
    { port: 0 },
  );
  base = await startUsageStub(server.url);

  // Real sends through the real functions: two sent, one rejected by the vendor, one voice call.
  expect((await post('/sms', { phone: '13800138000', skin: '1', params: ['1234'], idempotencyKey: 'console-order-1' })).status).toBe(200);
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
  await new Promise<void>((r) => (front ? front.close(() => r()) : r()));
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
    const ratio = Number(await page.getAttribute('#quota [data-channel=sms] rect[data-ratio]', 'data-ratio'));
    expect(ratio).toBeGreaterThan(0);
    expect(ratio).toBeLessThanOrEqual(1);
    expect(await page.locator('#quota [data-channel=sms] line.mark').count()).toBe(1);
    await shot('usage');
  });

  it('downloads the CSV through fetch with the key as a header', async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#csv')]);
    expect(download.suggestedFilename()).toMatch(/^fc-notify-usage-\d{4}-\d\d-\d\d-\d{4}-\d\d-\d\d\.csv$/);
    const text = readFileSync(await download.path(), 'utf8');
    expect(text.split('\n')[0]).toBe('date,channel,caller,template,sent,rejected,failed,unknown,refused,scheduled,billable,cost');
    expect(text).toContain(',sms,');
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

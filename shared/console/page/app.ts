/**
 * The operators' console (GET /console), run in the browser. Bundled by esbuild into
 * /console/app.js (scripts/build.ts embeds it in template-validate only).
 *
 * Security rules this file keeps (see docs/console.md):
 * - every value from the server or the user reaches the page through textContent or an attribute
 *   set with setAttribute: never innerHTML, so template text like `<img src=x onerror=…>` is text;
 * - event handlers are attached here with addEventListener (the CSP forbids inline handlers);
 * - the caller key is kept in sessionStorage only after the function accepted it, sent only as an
 *   `X-Api-Key` header to this page's own origin, and forgotten at the first 401.
 */
import { LABELS, type Label, type Lang } from './i18n.ts';

const KEY_ITEM = 'fcn-console-key';
const LANG_ITEM = 'fcn-console-lang';
const STATUSES = ['sent', 'rejected', 'failed', 'unknown'] as const;
const CHANNELS = ['sms', 'voice'] as const;
type Channel = (typeof CHANNELS)[number];

interface Counters {
  sent: number;
  rejected: number;
  failed: number;
  unknown: number;
  refused?: number;
  scheduled?: number;
  billable?: number;
  cost?: number;
}
interface UsageDay extends Counters {
  date: string;
  channel: Channel;
}
interface Quota {
  purchased: number;
  used: number;
  remaining: number;
  remainingRatio: number;
}
interface UsageAnswer {
  from: string;
  to: string;
  currency?: string;
  days: UsageDay[];
  totals: Partial<Record<Channel, Counters>>;
  quota: Partial<Record<Channel, Quota | null>>;
}
interface Issue {
  path: string;
  rule: string;
  message: string;
}
interface ValidationAnswer {
  valid: boolean;
  errors: Issue[];
  warnings: Issue[];
  length: number | null;
  segments: number | null;
  preview: string | null;
  cost?: { calls: number; yuanPerCall: number; yuan: number } | null;
  request?: { method: string; url: string; query: Record<string, string>; rawQuery: string } | null;
}
interface ApiError {
  error?: { code?: string; message?: string };
}

// ---------- small DOM helpers (text only) ----------

function $(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el;
}
const input = (id: string) => $(id) as HTMLInputElement;

/** An element with text content (never parsed as HTML) and optional attributes. */
function h(tag: string, attrs: Record<string, string> = {}, ...children: Array<Node | string | number | null | undefined>): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) if (c !== null && c !== undefined) el.append(typeof c === 'object' ? c : String(c));
  return el;
}
const SVG_NS = 'http://www.w3.org/2000/svg';
function s(tag: string, attrs: Record<string, string | number> = {}, text?: string): SVGElement {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

// ---------- language ----------

function initialLang(): Lang {
  const saved = sessionStorage.getItem(LANG_ITEM);
  if (saved === 'zh' || saved === 'en') return saved;
  return (navigator.language || '').toLowerCase().startsWith('zh') ? 'zh' : 'en';
}
let lang: Lang = initialLang();
const t = (label: Label): string => LABELS[lang][label];
/** Re-renders the last results in the new language. */
const rerender: Array<() => void> = [];

function applyLang(): void {
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  document.title = t('title');
  for (const el of document.querySelectorAll<HTMLElement>('[data-i18n]')) {
    const label = el.dataset.i18n as Label;
    if (label in LABELS[lang]) el.textContent = t(label);
  }
  $('lang').textContent = lang === 'zh' ? 'English' : '中文';
  for (const f of rerender) f();
}

// ---------- the key and requests ----------

const storedKey = (): string | null => sessionStorage.getItem(KEY_ITEM);

class HttpFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Same-origin request with the key as a header; a 401 forgets the key and shows the key form. */
async function api(path: string, init: { method?: string; body?: unknown; key?: string; accept?: string } = {}): Promise<Response> {
  const key = init.key ?? storedKey();
  const headers: Record<string, string> = { accept: init.accept ?? 'application/json' };
  if (key) headers['x-api-key'] = key;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, {
    method: init.method ?? 'GET',
    headers,
    body: init.body === undefined ? null : JSON.stringify(init.body),
    credentials: 'omit',
    cache: 'no-store',
    redirect: 'error',
    referrerPolicy: 'no-referrer',
  });
  if (!res.ok) {
    let code = `HTTP_${res.status}`;
    let message = res.statusText;
    try {
      const body = (await res.json()) as ApiError;
      code = body.error?.code ?? code;
      message = body.error?.message ?? message;
    } catch {
      // Not JSON (a proxy's page): the status says enough.
    }
    if (res.status === 401 && init.key === undefined) signOut(`${res.status} ${code}: ${t('unauthorized')}`);
    throw new HttpFailure(res.status, code, message);
  }
  return res;
}

function failureText(err: unknown): string {
  if (err instanceof HttpFailure) {
    const hint = err.status === 401 ? t('unauthorized') : err.status === 403 ? t('forbidden') : err.status === 404 ? t('notFound') : '';
    return `${err.status} ${err.code}: ${err.message}${hint ? ` — ${hint}` : ''}`;
  }
  return `${t('networkError')}: ${err instanceof Error ? err.message : String(err)}`;
}

function showError(target: HTMLElement, err: unknown): void {
  target.replaceChildren(h('p', { class: 'error', role: 'alert' }, failureText(err)));
}

function signOut(message?: string): void {
  sessionStorage.removeItem(KEY_ITEM);
  $('app').hidden = true;
  $('signout').hidden = true;
  $('key-section').hidden = false;
  input('key').value = '';
  const box = $('key-error');
  box.hidden = !message;
  box.textContent = message ?? '';
  if (message) input('key').focus();
}

function signedIn(): void {
  $('key-section').hidden = true;
  $('key-error').hidden = true;
  $('app').hidden = false;
  $('signout').hidden = false;
  void loadUsage();
}

async function onKeySubmit(e: Event): Promise<void> {
  e.preventDefault();
  const key = input('key').value.trim();
  const box = $('key-error');
  box.hidden = true;
  // An empty key is tried too: the function's own 401 is the clearest answer.
  // One cheap authenticated read proves the key before anything is kept: 401 keeps nothing.
  // 403 means the key is valid but its caller is not an operator (usage and others' jobs are closed).
  try {
    await api(`/usage?from=${beijingDay(0)}&to=${beijingDay(0)}`, { key: key || '' });
  } catch (err) {
    if (!(err instanceof HttpFailure) || err.status !== 403) {
      input('key').value = '';
      box.hidden = false;
      box.textContent = err instanceof HttpFailure && err.status === 401 ? `401 ${err.code}: ${t('unauthorized')}` : failureText(err);
      return;
    }
  }
  sessionStorage.setItem(KEY_ITEM, key);
  input('key').value = '';
  signedIn();
}

// ---------- 1. template checker and dry run ----------

function parseExamples(text: string): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

function issueTable(answer: ValidationAnswer): HTMLElement {
  const rows = [...answer.errors.map((i) => ['error', i] as const), ...answer.warnings.map((i) => ['warning', i] as const)];
  if (rows.length === 0) return h('p', { class: 'hint' }, t('noFindings'));
  return h(
    'table',
    { class: 'rules' },
    h('thead', {}, h('tr', {}, h('th', {}, t('severity')), h('th', {}, t('ruleId')), h('th', {}, t('path')), h('th', {}, t('message')))),
    h(
      'tbody',
      {},
      ...rows.map(([sev, i]) =>
        h(
          'tr',
          { 'data-rule': i.rule },
          h('td', { class: `sev-${sev}` }, sev === 'error' ? t('sevError') : t('sevWarning')),
          h('td', {}, h('code', { class: 'rule-id' }, i.rule)),
          h('td', {}, h('code', {}, i.path)),
          h('td', {}, i.message),
        ),
      ),
    ),
  );
}

const yuan = (n: number) => `¥${n.toFixed(4).replace(/0{1,2}$/, '')}`;

function validationView(a: ValidationAnswer, previewLabel: Label): HTMLElement[] {
  const facts = h(
    'div',
    { class: 'facts' },
    h(
      'span',
      {},
      h('span', { class: `badge ${a.valid ? 'ok' : 'bad'}`, 'data-valid': String(a.valid) }, a.valid ? t('valid') : t('invalid')),
    ),
    h('span', {}, `${t('length')}: `, h('b', { 'data-fact': 'length' }, a.length ?? '—')),
    h('span', {}, `${t('segments')}: `, h('b', { 'data-fact': 'segments' }, a.segments ?? '—')),
    h('span', {}, `${t('costPerSend')}: `, h('b', { 'data-fact': 'cost' }, a.cost ? yuan(a.cost.yuan) : '—')),
  );
  const out = [facts, issueTable(a)];
  if (a.preview !== null) out.push(h('h4', {}, t(previewLabel)), h('div', { class: 'preview', 'data-fact': 'preview' }, a.preview));
  return out;
}

let lastTemplate: ValidationAnswer | undefined;
let lastJob: ValidationAnswer | undefined;

function renderTemplate(): void {
  if (lastTemplate) $('template-result').replaceChildren(...validationView(lastTemplate, 'preview'));
}
function renderJob(): void {
  const a = lastJob;
  if (!a) return;
  const parts = validationView(a, 'rendered');
  parts.push(h('h4', {}, t('providerRequest')));
  if (a.request) {
    // The provider request as the function would make it. Its Authorization header (the AppCode)
    // is added only at send time and is not part of this answer: nothing secret to show.
    parts.push(
      h('pre', { 'data-fact': 'request' }, `${a.request.method} ${a.request.url}`),
      h('p', { class: 'hint' }, t('appCodeHidden')),
      h(
        'table',
        { class: 'query' },
        h('tbody', {}, ...Object.entries(a.request.query).map(([k, v]) => h('tr', {}, h('td', {}, h('code', {}, k)), h('td', {}, v)))),
      ),
    );
  } else {
    parts.push(h('p', { class: 'hint' }, t('noRequest')));
  }
  $('job-result').replaceChildren(...parts);
}

async function onTemplateSubmit(e: Event): Promise<void> {
  e.preventDefault();
  const template: Record<string, unknown> = {
    skin: input('t-skin').value.trim(),
    kind: input('t-kind').value,
    text: input('t-text').value,
    provider: input('t-provider').value,
  };
  const sign = input('t-sign').value.trim();
  if (sign) template.sign = sign;
  const example = parseExamples(input('t-example').value);
  if (example) template.example = example;
  try {
    const res = await api('/templates/validate', { method: 'POST', body: { template } });
    lastTemplate = (await res.json()) as ValidationAnswer;
    renderTemplate();
  } catch (err) {
    lastTemplate = undefined;
    showError($('template-result'), err);
  }
}

function parseParams(text: string): unknown {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  if (trimmed.startsWith('[') || trimmed.startsWith('{')) {
    try {
      return JSON.parse(trimmed);
    } catch {
      // Not JSON after all: one value per line.
    }
  }
  return trimmed.split('\n').map((l) => l.trim());
}

async function onJobSubmit(e: Event): Promise<void> {
  e.preventDefault();
  const channel = input('j-channel').value;
  const job: Record<string, unknown> = { phone: input('j-phone').value.trim() };
  if (channel === 'voice') {
    job.channel = 'voice';
    job.content = input('j-content').value;
  } else {
    job.skin = input('j-skin').value.trim();
    const params = parseParams(input('j-params').value);
    if (params !== undefined) job.params = params;
  }
  try {
    const res = await api('/templates/validate', { method: 'POST', body: { job } });
    lastJob = (await res.json()) as ValidationAnswer;
    renderJob();
  } catch (err) {
    lastJob = undefined;
    showError($('job-result'), err);
  }
}

function onJobChannel(): void {
  const voice = input('j-channel').value === 'voice';
  for (const el of document.querySelectorAll<HTMLElement>('.sms-only')) el.hidden = voice;
  for (const el of document.querySelectorAll<HTMLElement>('.voice-only')) el.hidden = !voice;
}

// ---------- 2. usage ----------

/** A Beijing (UTC+8, no daylight saving) calendar day, `offset` days from today. */
function beijingDay(offset: number): string {
  return new Date(Date.now() + 8 * 3600_000 + offset * 86_400_000).toISOString().slice(0, 10);
}

function daysBetween(from: string, to: string): string[] {
  const out: string[] = [];
  const end = Date.parse(`${to}T00:00:00Z`);
  for (let d = Date.parse(`${from}T00:00:00Z`); d <= end && out.length < 400; d += 86_400_000) {
    out.push(new Date(d).toISOString().slice(0, 10));
  }
  return out;
}

let lastUsage: UsageAnswer | undefined;

/** Stacked bars: one group per day, one bar per channel, sent/rejected/failed/unknown stacked. */
function drawChart(u: UsageAnswer): SVGElement {
  const days = daysBetween(u.from, u.to);
  const byKey = new Map(u.days.map((d) => [`${d.date}|${d.channel}`, d]));
  const total = (d: Counters | undefined) => (d ? STATUSES.reduce((n, st) => n + (d[st] ?? 0), 0) : 0);
  const max = Math.max(1, ...u.days.map(total));
  const W = 960;
  const H = 260;
  const left = 40;
  const bottom = 40;
  const top = 10;
  const plotH = H - bottom - top;
  const group = (W - left - 10) / Math.max(1, days.length);
  const barW = Math.max(2, Math.min(28, (group - 6) / 2));
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': t('chartLabel'), 'data-max': max });
  svg.append(s('title', {}, t('chartLabel')));
  // Axis with a few round ticks.
  const step = Math.max(1, 10 ** Math.floor(Math.log10(max)) * (max / 10 ** Math.floor(Math.log10(max)) > 5 ? 2 : 1));
  for (let v = 0; v <= max; v += step) {
    const y = top + plotH - (v / max) * plotH;
    svg.append(
      s('line', { class: 'axis', x1: left, x2: W - 10, y1: y, y2: y }),
      s('text', { x: left - 4, y: y + 4, 'text-anchor': 'end' }, String(v)),
    );
  }
  const labelEvery = Math.ceil(days.length / 15);
  days.forEach((date, i) => {
    const gx = left + i * group + (group - 2 * barW - 2) / 2;
    CHANNELS.forEach((channel, ci) => {
      const row = byKey.get(`${date}|${channel}`);
      let y = top + plotH;
      for (const st of STATUSES) {
        const v = row?.[st] ?? 0;
        if (v <= 0) continue;
        const hgt = (v / max) * plotH;
        y -= hgt;
        const rect = s('rect', {
          class: `bar bar-${st}`,
          x: gx + ci * (barW + 2),
          y,
          width: barW,
          height: hgt,
          'data-date': date,
          'data-channel': channel,
          'data-status': st,
          'data-value': v,
        });
        rect.append(s('title', {}, `${date} ${t(channel)} ${t(st)}: ${v}`));
        svg.append(rect);
      }
    });
    if (i % labelEvery === 0) {
      svg.append(s('text', { x: gx + barW, y: H - bottom + 14, 'text-anchor': 'middle' }, date.slice(5)));
    }
  });
  svg.append(s('text', { x: left, y: H - 8 }, `${t('leftBar')} ${t('sms')} · ${t('rightBar')} ${t('voice')}`));
  return svg;
}

function totalsTable(u: UsageAnswer): HTMLElement {
  const cols = ['sent', 'rejected', 'failed', 'unknown', 'refused', 'scheduled', 'billable'] as const;
  const currency = u.currency ?? 'CNY';
  return h(
    'table',
    { class: 'totals' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', {}, t('channel')),
        ...cols.map((c) => h('th', { class: 'num' }, t(c))),
        h('th', { class: 'num' }, `${t('cost')} (${currency})`),
      ),
    ),
    h(
      'tbody',
      {},
      ...CHANNELS.map((ch) => {
        const row = u.totals[ch];
        return h(
          'tr',
          { 'data-channel': ch },
          h('td', {}, t(ch)),
          ...cols.map((c) => h('td', { class: 'num', 'data-total': c }, row?.[c] ?? 0)),
          h('td', { class: 'num', 'data-total': 'cost' }, (row?.cost ?? 0).toFixed(2)),
        );
      }),
    ),
  );
}

/** Remaining quota as a bar; the dashed line is the 20 % at which Alibaba warns (and we log quota-low). */
function quotaView(u: UsageAnswer): HTMLElement[] {
  return CHANNELS.map((ch) => {
    const q = u.quota?.[ch];
    if (!q) return h('div', { class: 'quota', 'data-channel': ch }, h('b', {}, `${t(ch)}: `), t('quotaUnset'));
    const ratio = Math.max(0, Math.min(1, q.remainingRatio));
    const W = 640;
    const svg = s('svg', { viewBox: `0 0 ${W} 28`, role: 'img', 'aria-label': `${t(ch)} ${t('quotaTitle')}` });
    svg.append(
      s('rect', { class: 'track', x: 0, y: 4, width: W, height: 14, rx: 3 }),
      s('rect', { class: `left${ratio < 0.2 ? ' low' : ''}`, x: 0, y: 4, width: W * ratio, height: 14, rx: 3, 'data-ratio': ratio }),
      s('line', { class: 'mark', x1: W * 0.2, x2: W * 0.2, y1: 0, y2: 22 }),
      s('text', { x: W * 0.2 + 3, y: 27 }, '20%'),
    );
    return h(
      'div',
      { class: 'quota', 'data-channel': ch },
      h(
        'div',
        {},
        h('b', {}, `${t(ch)}: `),
        `${t('usedOf')} ${q.used}/${q.purchased} · ${t('remaining')} ${q.remaining} (${(ratio * 100).toFixed(1)}%)`,
        ratio < 0.2 ? h('span', { class: 'sev-error' }, ` — ${t('quotaLow')}`) : null,
      ),
      svg,
    );
  });
}

function renderUsage(): void {
  const u = lastUsage;
  if (!u) return;
  const sum = (ch: Channel) => (u.totals[ch] ? STATUSES.reduce((n, st) => n + (u.totals[ch]?.[st] ?? 0), 0) : 0);
  $('usage-status').textContent = `${u.from} – ${u.to} (${t('beijing')}) · ${t('sms')} ${sum('sms')} · ${t('voice')} ${sum('voice')}`;
  $('chart').replaceChildren(drawChart(u));
  $('legend').replaceChildren(...STATUSES.map((st) => h('span', {}, h('i', { class: `sw-${st}` }), t(st))));
  $('totals').replaceChildren(totalsTable(u));
  $('quota').replaceChildren(...quotaView(u));
}

function usageRange(): { from: string; to: string } {
  if (!input('u-from').value) input('u-from').value = beijingDay(-6);
  if (!input('u-to').value) input('u-to').value = beijingDay(0);
  return { from: input('u-from').value, to: input('u-to').value };
}

async function loadUsage(e?: Event): Promise<void> {
  e?.preventDefault();
  const { from, to } = usageRange();
  $('usage-status').textContent = t('loading');
  try {
    const res = await api(`/usage?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);
    lastUsage = (await res.json()) as UsageAnswer;
    renderUsage();
  } catch (err) {
    lastUsage = undefined;
    for (const id of ['chart', 'legend', 'totals', 'quota']) $(id).replaceChildren();
    $('usage-status').replaceChildren(h('span', { class: 'error', role: 'alert' }, failureText(err)));
  }
}

/** The CSV comes through fetch (the key stays a header, never in a URL) and is saved from a Blob. */
async function downloadCsv(): Promise<void> {
  const { from, to } = usageRange();
  try {
    const res = await api(`/usage?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&format=csv`, { accept: 'text/csv' });
    const blob = new Blob([await res.arrayBuffer()], { type: 'text/csv;charset=utf-8' });
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: `fc-notify-usage-${from}-${to}.csv` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (err) {
    $('usage-status').replaceChildren(h('span', { class: 'error', role: 'alert' }, failureText(err)));
  }
}

// ---------- 3. job lookup ----------

let lastLookup: Record<string, unknown> | undefined;

function renderLookup(): void {
  const j = lastLookup;
  if (!j) return;
  const provider = j.provider as { code?: string; message?: string } | undefined;
  const error = j.error as { code?: string; message?: string; providerCode?: string } | undefined;
  const rows: Array<[Label, unknown]> = [
    ['idemKey', j.idempotencyKey],
    ['status', j.status],
    ['providerCode', provider ? `${provider.code ?? ''} ${provider.message ?? ''}`.trim() : (error?.providerCode ?? '—')],
    ['error', error ? `${error.code ?? ''}: ${error.message ?? ''}` : '—'],
    ['time', j.at],
    ['attempts', j.attempts],
    ['source', j.source],
    ['caller', j.caller],
    ['phone', j.phone],
    ['sendAt', j.sendAt],
  ];
  $('lookup-result').replaceChildren(
    h(
      'table',
      { class: 'job' },
      h(
        'tbody',
        {},
        ...rows
          .filter(([, v]) => v !== undefined && v !== null)
          .map(([label, v]) => h('tr', { 'data-field': label }, h('th', {}, t(label)), h('td', {}, String(v)))),
      ),
    ),
  );
}

async function onLookupSubmit(e: Event): Promise<void> {
  e.preventDefault();
  const channel = input('l-channel').value === 'voice' ? 'voice' : 'sms';
  const key = input('l-key').value.trim();
  const caller = input('l-caller').value.trim();
  try {
    const res = await api(`/${channel}/${encodeURIComponent(key)}${caller ? `?caller=${encodeURIComponent(caller)}` : ''}`);
    lastLookup = (await res.json()) as Record<string, unknown>;
    renderLookup();
  } catch (err) {
    lastLookup = undefined;
    showError($('lookup-result'), err);
  }
}

// ---------- start ----------

function on(id: string, type: string, fn: (e: Event) => unknown): void {
  $(id).addEventListener(type, (e) => void fn(e));
}

function start(): void {
  applyLang();
  rerender.push(renderTemplate, renderJob, renderUsage, renderLookup);
  on('lang', 'click', () => {
    lang = lang === 'zh' ? 'en' : 'zh';
    sessionStorage.setItem(LANG_ITEM, lang);
    applyLang();
  });
  on('signout', 'click', () => signOut());
  on('key-form', 'submit', onKeySubmit);
  on('template-form', 'submit', onTemplateSubmit);
  on('job-form', 'submit', onJobSubmit);
  on('j-channel', 'change', onJobChannel);
  on('usage-form', 'submit', loadUsage);
  on('csv', 'click', downloadCsv);
  on('lookup-form', 'submit', onLookupSubmit);
  usageRange();
  if (storedKey()) signedIn();
  else signOut();
}

start();

import { describe, expect, it } from 'vitest';
import { CHANNELS } from '#shared/channels/index';
import { loadConfig } from '#shared/config';
import { ConfigError } from '#shared/errors';

function problem(env: Record<string, string>, opts?: { requireCredentials?: boolean }): ConfigError {
  try {
    loadConfig(env, opts);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('says APPCODE "is required" when a sending function has no credentials', () => {
    const err = problem({});
    expect(err.message).toContain('APPCODE is required');
    expect(err.variables).toContain('APPCODE');
  });

  it('does not require credentials for template-validate', () => {
    expect(loadConfig({}, { requireCredentials: false }).credentials).toEqual({ kind: 'sandbox' });
  });

  it('reads AppCode mode with the documented defaults', () => {
    const c = loadConfig({ APPCODE: ' abc123secret ' });
    expect(c.credentials).toEqual({ kind: 'appcode', appCode: 'abc123secret' });
    expect(c.urls).toEqual({ sms: CHANNELS.sms.defaultUrl, voice: CHANNELS.voice.defaultUrl });
    expect(c.upstreamTimeoutMs).toBe(5000);
    expect(c.apiKeys).toEqual([]);
    expect(c.allowUnauthenticated).toBe(false);
    expect(c.redisUrl).toBeUndefined();
    expect(c.logLevel).toBe('info');
  });

  it('RESULT_PREFIX: results/ by default, a folder-like prefix otherwise, refused when malformed', () => {
    expect(loadConfig({ APPCODE: 'x' }).resultPrefix).toBe('results/');
    expect(loadConfig({ APPCODE: 'x', RESULT_PREFIX: '  ' }).resultPrefix).toBe('results/');
    expect(loadConfig({ APPCODE: 'x', RESULT_PREFIX: ' out/batch-results/ ' }).resultPrefix).toBe('out/batch-results/');
    for (const bad of ['results', '/results/', 'a//b/', 'tab\there/', `${'x'.repeat(201)}/`]) {
      const err = problem({ APPCODE: 'x', RESULT_PREFIX: bad });
      expect(err.message, bad).toContain('RESULT_PREFIX must be a folder');
      expect(err.variables).toEqual(['RESULT_PREFIX']);
    }
  });

  it('names the missing half of signature credentials, never the value', () => {
    const err = problem({ APP_KEY: 'key-1234567' });
    expect(err.message).toContain('APP_SECRET is required');
    const err2 = problem({ APP_SECRET: 'very-secret-value' });
    expect(err2.message).toContain('APP_KEY is required');
    expect(err2.message).not.toContain('very-secret-value');
  });

  it('names every malformed value at once, with the same texts as before (no value echoed)', () => {
    const err = problem({
      APPCODE: 'x',
      SANDBOX: 'yes-secret-ish',
      STORE: 'disk',
      UPSTREAM_RETRIES: 'two',
      LIMIT_PHONE_DAILY: '-1',
      LOG_LEVEL: 'loud',
    });
    expect(err.message).toBe(
      [
        'SANDBOX has an invalid value',
        'STORE must be redis or memory',
        'UPSTREAM_RETRIES must be a whole number of milliseconds or a count',
        'LOG_LEVEL has an invalid value',
        'LIMIT_PHONE_DAILY must be a whole number (0 turns the limit off)',
      ].join('; '),
    );
    expect(err.variables).toEqual(['SANDBOX', 'STORE', 'UPSTREAM_RETRIES', 'LOG_LEVEL', 'LIMIT_PHONE_DAILY']);
    expect(err.message).not.toContain('yes-secret-ish');
    // Not a string (a caller passing its own object): refused, named, not thrown as a TypeError.
    expect(problem({ APPCODE: 'x', REDIS_URL: 42 as unknown as string }).message).toBe('REDIS_URL has an invalid value');
    // Blank and the listed values pass this check.
    expect(loadConfig({ APPCODE: 'x', SANDBOX: '', STORE: 'memory', LIMIT_PHONE_DAILY: ' 0 ', LOG_LEVEL: 'warn' }).limits.phoneDaily).toBe(
      0,
    );
  });

  it('tells a malformed value from a missing one', () => {
    const err = problem({ APPCODE: 'x', UPSTREAM_TIMEOUT_MS: 'soon' });
    expect(err.message).toContain('UPSTREAM_TIMEOUT_MS must be a whole number');
    expect(problem({ APPCODE: 'x', LONG_SMS_URL: 'not a url' }).message).toContain('LONG_SMS_URL must be an absolute URL');
    expect(problem({ APPCODE: 'x', SANDBOX: 'yes' }).variables).toContain('SANDBOX');
  });

  it('parses API_KEYS and refuses weak or malformed entries without echoing keys', () => {
    const c = loadConfig({ APPCODE: 'x', API_KEYS: 'app:0123456789abcdef, ops:fedcba9876543210' });
    expect(c.apiKeys).toEqual([
      { name: 'app', key: '0123456789abcdef' },
      { name: 'ops', key: 'fedcba9876543210' },
    ]);
    const weak = problem({ APPCODE: 'x', API_KEYS: 'app:short' });
    expect(weak.message).toContain('at least 16 characters');
    expect(weak.message).not.toContain('short');
    expect(problem({ APPCODE: 'x', API_KEYS: 'nocolonhere' }).message).toContain('name:key');
  });

  it('allows anonymous callers only when asked explicitly and no keys are set', () => {
    expect(loadConfig({ APPCODE: 'x', ALLOW_UNAUTHENTICATED: '1' }).allowUnauthenticated).toBe(true);
    expect(loadConfig({ APPCODE: 'x' }).allowUnauthenticated).toBe(false);
    expect(loadConfig({ APPCODE: 'x', ALLOW_UNAUTHENTICATED: '1', API_KEYS: 'a:0123456789abcdef' }).allowUnauthenticated).toBe(false);
  });

  it('SANDBOX=1 needs no credentials', () => {
    expect(loadConfig({ SANDBOX: '1' }).credentials).toEqual({ kind: 'sandbox' });
  });
});

describe('limits, recipients and sending hours', () => {
  const base = { APPCODE: 'appcode-config-test-000' };

  it('has the documented defaults', () => {
    const c = loadConfig(base);
    expect(c.limits).toEqual({
      phoneIntervalS: 60,
      phoneDaily: 15,
      verificationIntervalS: 60,
      verificationHourly: 5,
      verificationDaily: 10,
      callerPerMinute: 60,
      callerDaily: 2000,
      globalDaily: 10000,
      action: 'defer',
    });
    expect(c.quietHours).toEqual({ startMinute: 540, endMinute: 1200, action: 'defer' });
    expect(c.recipients).toEqual({ allow: [], deny: [] });
  });

  it('reads every variable', () => {
    const c = loadConfig({
      ...base,
      LIMIT_PHONE_INTERVAL_S: '30',
      LIMIT_PHONE_DAILY: '0',
      LIMIT_CALLER_PER_MINUTE: '5',
      LIMIT_CALLER_DAILY: '50',
      LIMIT_GLOBAL_DAILY: '500',
      LIMIT_VERIFICATION_INTERVAL_S: '120',
      LIMIT_VERIFICATION_HOURLY: '3',
      LIMIT_VERIFICATION_DAILY: '6',
      LIMIT_ACTION: 'report',
      PHONE_ALLOWLIST: '138, 139',
      PHONE_DENYLIST: '170,171',
      QUIET_HOURS: '08:30-21:00',
      QUIET_HOURS_ACTION: 'refuse',
    });
    expect(c.limits).toMatchObject({
      phoneIntervalS: 30,
      phoneDaily: 0,
      callerPerMinute: 5,
      callerDaily: 50,
      globalDaily: 500,
      verificationIntervalS: 120,
      verificationHourly: 3,
      verificationDaily: 6,
      action: 'report',
    });
    expect(c.recipients).toEqual({ allow: ['138', '139'], deny: ['170', '171'] });
    expect(c.quietHours).toEqual({ startMinute: 510, endMinute: 1260, action: 'refuse' });
    expect(loadConfig({ ...base, QUIET_HOURS: 'off' }).quietHours).toBeUndefined();
  });

  it.each([
    [{ LIMIT_PHONE_DAILY: 'fifteen' }, 'LIMIT_PHONE_DAILY'],
    [{ LIMIT_CALLER_PER_MINUTE: '-1' }, 'LIMIT_CALLER_PER_MINUTE'],
    [{ LIMIT_ACTION: 'drop' }, 'LIMIT_ACTION'],
    [{ QUIET_HOURS: '9-20' }, 'QUIET_HOURS'],
    [{ QUIET_HOURS: '09:00-09:00' }, 'QUIET_HOURS'],
    [{ QUIET_HOURS_ACTION: 'later' }, 'QUIET_HOURS_ACTION'],
    [{ PHONE_ALLOWLIST: '138,+86139' }, 'PHONE_ALLOWLIST'],
    [{ PHONE_DENYLIST: 'abc' }, 'PHONE_DENYLIST'],
  ])('%o is refused naming %s', (env, variable) => {
    const err = problem({ ...base, ...(env as Record<string, string>) });
    expect(err.variables).toContain(variable);
    expect(err.message).toContain(variable);
  });
});

describe('usage report and quota settings', () => {
  it('OPS_CALLERS must name API_KEYS callers; bad QUOTA_* and ALERT_PHONES are refused', () => {
    const base = { SANDBOX: '1', API_KEYS: 'ops:ops-key-0123456789abcdef' };
    expect(loadConfig({ ...base, OPS_CALLERS: 'ops', QUOTA_VOICE: '500@2026-12-01', ALERT_PHONES: '+8613800138000' }).usage).toEqual({
      opsCallers: ['ops'],
      quotas: { voice: { purchased: 500, since: '2026-12-01', usedBefore: 0 } },
      alertPhones: ['13800138000'],
      alertSkin: undefined,
    });
    const err = problem({ ...base, OPS_CALLERS: 'opz', QUOTA_LONG_SMS: '500', ALERT_PHONES: '123' });
    expect(err.variables).toEqual(expect.arrayContaining(['OPS_CALLERS', 'QUOTA_LONG_SMS', 'ALERT_PHONES']));
  });
});

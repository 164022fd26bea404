import signUtils from 'ali-oss/lib/common/signUtils.js';
import { describe, expect, it } from 'vitest';
import {
  authorizationV4,
  canonicalRequest,
  objectUrl,
  ossDate,
  type SignInput,
  signedHeaders,
  signingRegion,
  UNSIGNED_PAYLOAD,
} from '#shared/oss/client';

/**
 * Oracle: the official ali-oss SDK's own V4 signer (a devDependency, never bundled) must produce
 * exactly our Authorization header for the same request.
 */

const AK = 'STS.NUxxxxTestKeyId';
const SK = 'oss-secret-do-not-log-42';
const TOKEN = 'CAIS+sts/token==with+slashes';

/** A request to sign: what SignInput holds but the credentials, and a name. */
type Case = Omit<SignInput, 'accessKeyId' | 'accessKeySecret'> & { name: string };

const base = (date: string, token?: string) => ({
  'x-oss-date': date,
  'x-oss-content-sha256': UNSIGNED_PAYLOAD,
  ...(token ? { 'x-oss-security-token': token } : {}),
});

const cases: Case[] = [
  {
    name: 'GET a plain key',
    method: 'GET',
    bucket: 'notify-bucket',
    key: 'batches/sms/a.jsonl',
    region: 'cn-hangzhou',
    headers: base('20261201T215734Z', TOKEN),
  },
  {
    name: 'GET a key with Chinese, spaces and reserved characters',
    method: 'GET',
    bucket: 'notify-bucket',
    key: "batches/sms/2026 五月/提醒 (v2)!*'~+&=.csv",
    region: 'cn-shanghai',
    headers: base('20260501T000001Z', TOKEN),
  },
  {
    name: 'PUT results with a content type',
    method: 'PUT',
    bucket: 'notify-bucket',
    key: 'results/batches/sms/a.jsonl.result.jsonl',
    region: 'cn-beijing',
    headers: { ...base('20261231T235959Z', TOKEN), 'Content-Type': 'application/x-ndjson; charset=utf-8' },
  },
  {
    name: 'HEAD without an STS token (a RAM user key)',
    method: 'HEAD',
    bucket: 'b-1',
    key: 'x/y/z.csv',
    region: 'ap-southeast-1',
    headers: base('20250301T120000Z'),
  },
  {
    name: 'query parameters (with and without a value) and extra x-oss headers with spaces',
    method: 'GET',
    bucket: 'notify-bucket',
    key: 'k 1.jsonl',
    region: 'cn-hangzhou',
    headers: { ...base('20260101T000000Z', TOKEN), 'x-oss-meta-owner': '  张三  ', 'Content-MD5': 'ICy5YqxZB1uWSwcVLSNLcA==' },
    query: { 'response-content-type': 'text/plain; charset=utf-8', acl: null, 'x-oss-process': 'image/resize,w_100' },
  },
];

describe('OSS V4 signature equals ali-oss authorizationV4 (oracle)', () => {
  it.each(cases)('$name', (c) => {
    const ours = authorizationV4({ ...c, accessKeyId: AK, accessKeySecret: SK });
    const theirs = signUtils.authorizationV4(AK, SK, c.region, c.method, { headers: c.headers, queries: c.query ?? {} }, c.bucket, c.key);
    expect(ours).toBe(theirs);
    expect(canonicalRequest(c)).toBe(
      signUtils.getCanonicalRequest(c.method, { headers: c.headers, queries: c.query ?? {} }, c.bucket, c.key),
    );
    expect(ours).toMatch(
      new RegExp(
        `^OSS4-HMAC-SHA256 Credential=${AK}/${c.headers['x-oss-date']!.slice(0, 8)}/${c.region}/oss/aliyun_v4_request,Signature=[0-9a-f]{64}$`,
      ),
    );
  });

  it('signedHeaders (what the client sends) carries x-oss-date, UNSIGNED-PAYLOAD and the STS token, and signs them as ali-oss does', () => {
    const now = new Date('2026-12-01T21:57:34.567Z');
    const o = {
      endpoint: 'https://oss-cn-hangzhou-internal.aliyuncs.com',
      region: 'oss-cn-hangzhou',
      bucket: 'notify-bucket',
      key: 'batches/sms/名单 1.csv',
    };
    const h = signedHeaders('GET', o, { accessKeyId: AK, accessKeySecret: SK, securityToken: TOKEN }, {}, now);
    expect(h['x-oss-date']).toBe('20261201T215734Z');
    expect(h['x-oss-content-sha256']).toBe('UNSIGNED-PAYLOAD');
    expect(h['x-oss-security-token']).toBe(TOKEN);
    // The V4 region is the bare region id even when given as the endpoint's label.
    const { Authorization, ...sent } = h;
    expect(Authorization).toBe(signUtils.authorizationV4(AK, SK, 'cn-hangzhou', 'GET', { headers: sent }, o.bucket, o.key));
    expect(Authorization).toContain('/cn-hangzhou/oss/');
    expect(Authorization).not.toContain(SK);
  });

  it('the HEAD the notify trigger sends (headObject) is signed as ali-oss signs it, for a key with Chinese and reserved characters', () => {
    const now = new Date('2026-12-01T22:10:00.000Z');
    const o = {
      endpoint: 'https://oss-cn-shanghai-internal.aliyuncs.com',
      region: 'cn-shanghai',
      bucket: 'notify-batches',
      key: "notify/voice/parcels/13900139000/SF 12(3)!'*.jpg",
    };
    const h = signedHeaders('HEAD', o, { accessKeyId: AK, accessKeySecret: SK, securityToken: TOKEN }, {}, now);
    const { Authorization, ...sent } = h;
    expect(Authorization).toBe(signUtils.authorizationV4(AK, SK, 'cn-shanghai', 'HEAD', { headers: sent }, o.bucket, o.key));
    // Not the GET signature: the verb is part of the canonical request.
    expect(Authorization).not.toBe(
      signedHeaders('GET', o, { accessKeyId: AK, accessKeySecret: SK, securityToken: TOKEN }, {}, now).Authorization,
    );
  });

  it('a different secret, region or date gives a different signature', () => {
    const c = cases[0]!;
    const sig = authorizationV4({ ...c, accessKeyId: AK, accessKeySecret: SK });
    expect(authorizationV4({ ...c, accessKeyId: AK, accessKeySecret: `${SK}x` })).not.toBe(sig);
    expect(authorizationV4({ ...c, region: 'cn-beijing', accessKeyId: AK, accessKeySecret: SK })).not.toBe(sig);
    expect(authorizationV4({ ...c, headers: base('20261201T215735Z', TOKEN), accessKeyId: AK, accessKeySecret: SK })).not.toBe(sig);
  });

  it('helpers: x-oss-date format, bare region, URL path encoding matches the canonical URI', () => {
    expect(ossDate(new Date('2025-03-01T00:00:00.000Z'))).toBe('20250301T000000Z');
    expect(signingRegion('oss-cn-shanghai')).toBe('cn-shanghai');
    expect(signingRegion('cn-shanghai')).toBe('cn-shanghai');
    const url = objectUrl({ endpoint: 'https://oss-cn-hangzhou.aliyuncs.com', bucket: 'b', key: 'a b/五(1)!.csv' });
    expect(url.host).toBe('b.oss-cn-hangzhou.aliyuncs.com');
    expect(url.pathname).toBe('/a%20b/%E4%BA%94%281%29%21.csv');
  });
});

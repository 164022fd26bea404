import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { requestUrl } from '#shared/provider/request';
import { canonicalResource, redactGatewayMessage, signedHeaders, stringToSign } from '#shared/provider/signature';

const creds = { appKey: '203999001', appSecret: 'sig-secret-Vx9qLm2Tz8Rw4Kp7' };
const fixed = { now: () => 1_767_225_600_000, nonce: () => '1f0e4c2a-3b5d-4e6f-8a9b-0c1d2e3f4a5b' };

/** The signature as an independent tool computes it (openssl), not our code. */
function opensslSignature(secret: string, text: string): string {
  const mac = execFileSync('openssl', ['dgst', '-sha256', '-hmac', secret, '-binary'], { input: Buffer.from(text, 'utf8') });
  return mac.toString('base64');
}

describe('API Gateway HmacSHA256 signing', () => {
  it('signs the documented string: method, Accept, empty MD5/Type/Date lines, sorted x-ca headers, path, sorted raw query', () => {
    const url = requestUrl({
      channel: 'sms',
      endpoint: 'https://largesms.market.alicloudapi.com/largesms',
      query: [
        ['param', '张三|12&a=b#%'],
        ['phone', '13800138000'],
        ['skin', '1'],
        ['sign', ''],
      ],
    });
    const expected =
      'GET\n' +
      'application/json\n' +
      '\n' +
      '\n' +
      '\n' +
      'x-ca-key:203999001\n' +
      'x-ca-nonce:1f0e4c2a-3b5d-4e6f-8a9b-0c1d2e3f4a5b\n' +
      'x-ca-signature-method:HmacSHA256\n' +
      'x-ca-timestamp:1767225600000\n' +
      '/largesms?param=张三|12&a=b#%&phone=13800138000&sign&skin=1';
    const h = signedHeaders(creds, 'GET', url, fixed);
    expect(
      stringToSign({
        method: 'GET',
        url,
        accept: 'application/json',
        signedHeaders: {
          'X-Ca-Timestamp': '1767225600000',
          'x-ca-key': '203999001',
          'X-Ca-Signature-Method': 'HmacSHA256',
          'x-ca-nonce': fixed.nonce(),
        },
      }),
    ).toBe(expected);
    expect(h['X-Ca-Signature']).toBe(opensslSignature(creds.appSecret, expected));
    expect(h).toMatchObject({
      Accept: 'application/json',
      'X-Ca-Key': '203999001',
      'X-Ca-Timestamp': '1767225600000',
      'X-Ca-Nonce': fixed.nonce(),
      'X-Ca-Signature-Method': 'HmacSHA256',
      'X-Ca-Signature-Headers': 'x-ca-key,x-ca-nonce,x-ca-signature-method,x-ca-timestamp',
    });
    expect(JSON.stringify(h)).not.toContain(creds.appSecret);
  });

  it('matches openssl for a voice request with CJK, CR/LF and a plus sign', () => {
    const url = requestUrl({
      channel: 'voice',
      endpoint: 'https://yytz.market.alicloudapi.com/chuangxin/yytz',
      query: [
        ['content', '您好,\r\n1+1=2'],
        ['mobile', '13900139000'],
      ],
    });
    const expected = `GET\napplication/json\n\n\n\nx-ca-key:203999001\nx-ca-nonce:${fixed.nonce()}\nx-ca-signature-method:HmacSHA256\nx-ca-timestamp:1767225600000\n/chuangxin/yytz?content=您好,\r\n1+1=2&mobile=13900139000`;
    expect(signedHeaders(creds, 'GET', url, fixed)['X-Ca-Signature']).toBe(opensslSignature(creds.appSecret, expected));
  });

  it('takes query parameters already in the endpoint into the sorted resource', () => {
    expect(canonicalResource('https://h.example/p/q?z=1&a=%E4%BD%A0&m')).toBe('/p/q?a=你&m&z=1');
    expect(canonicalResource('https://h.example/p')).toBe('/p');
  });

  it('gives a fresh nonce per call, so a retried request is not a replay', () => {
    const url = 'https://h.example/largesms?phone=13800138000';
    const a = signedHeaders(creds, 'GET', url);
    const b = signedHeaders(creds, 'GET', url);
    expect(a['X-Ca-Nonce']).not.toBe(b['X-Ca-Nonce']);
    expect(a['X-Ca-Nonce']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("drops query values (codes, phones) from the gateway's echoed string to sign", () => {
    const m = redactGatewayMessage(
      'Invalid Signature, Server StringToSign:`GET#application/json####/largesms?param=8642&phone=13800138000&skin=1`',
    );
    expect(m).toContain('Invalid Signature');
    expect(m).toContain('/largesms?param=…&phone=…&skin=…');
    expect(m).not.toContain('8642');
    expect(m).not.toContain('13800138000');
  });
});

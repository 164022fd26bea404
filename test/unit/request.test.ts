import { describe, expect, it } from 'vitest';
import { encodeComponent, encodeQuery, longSmsRequest, requestUrl, voiceRequest } from '#shared/provider/request';

/** Query encoding: every value must reach the gateway as bytes that decode back to exactly itself. */

const UNRESERVED_OR_ESCAPE = /^(?:[A-Za-z0-9\-_.~]|%[0-9A-F]{2})*$/;

describe('encodeComponent', () => {
  const table: Array<[string, string]> = [
    ['abcXYZ019-_.~', 'abcXYZ019-_.~'],
    [' ', '%20'],
    ['+', '%2B'],
    ['&', '%26'],
    ['=', '%3D'],
    ['#', '%23'],
    ['%', '%25'],
    ['?', '%3F'],
    ['|', '%7C'],
    ['/', '%2F'],
    [';', '%3B'],
    [',', '%2C'],
    ["!'()*", '%21%27%28%29%2A'],
    ['\r\n', '%0D%0A'],
    ['\t', '%09'],
    ['中', '%E4%B8%AD'],
    ['，', '%EF%BC%8C'],
    ['😀', '%F0%9F%98%80'],
    ['%20', '%2520'],
  ];
  it.each(table)('%j → %s', (input, expected) => {
    expect(encodeComponent(input)).toBe(expected);
  });

  const hostile = [
    '您好，您的快递已送达小区门口, 请前来签收。',
    '12 34&#%+=?',
    'a+b=c&d=e#frag?x=%zz%',
    'line1\r\nline2\nline3\r',
    '🎉👨‍👩‍👧 emoji ZWJ',
    'é (NFC) vs é (NFD)',
    '',
    "<script>alert('x')</script>",
    '%E4%B8%AD already-encoded looking',
  ];
  it.each(hostile)('%j is encoded with unreserved characters and escapes only, and decodes back to itself', (input) => {
    const encoded = encodeComponent(input);
    expect(encoded).toMatch(UNRESERVED_OR_ESCAPE);
    expect(decodeURIComponent(encoded)).toBe(input);
  });

  it('does not normalise Unicode: NFC and NFD forms stay different bytes', () => {
    expect(encodeComponent('\u00e9')).toBe('%C3%A9');
    expect(encodeComponent('e\u0301')).toBe('e%CC%81');
  });

  it('refuses a lone surrogate (job validation rejects it before any request is built)', () => {
    expect(() => encodeComponent('\ud800')).toThrow(URIError);
  });
});

describe('encodeQuery', () => {
  it('keeps the given order and encodes keys and values', () => {
    expect(
      encodeQuery([
        ['param', 'a|b'],
        ['phone', '13800138000'],
        ['k y', 'v&w=x'],
      ]),
    ).toBe('param=a%7Cb&phone=13800138000&k%20y=v%26w%3Dx');
  });

  it('writes an empty value as key=', () => {
    expect(
      encodeQuery([
        ['sign', ''],
        ['skin', '1'],
      ]),
    ).toBe('sign=&skin=1');
  });

  it('an empty list is an empty string', () => {
    expect(encodeQuery([])).toBe('');
  });

  it('a value can never add a parameter', () => {
    const q = encodeQuery([
      ['param', '1&phone=13900000000'],
      ['phone', '13800138000'],
    ]);
    expect(q.split('&')).toHaveLength(2);
    expect(q).toBe('param=1%26phone%3D13900000000&phone=13800138000');
  });
});

describe('requestUrl', () => {
  it('appends the query with ?', () => {
    expect(
      requestUrl({
        channel: 'voice',
        endpoint: 'https://h/chuangxin/yytz',
        query: [
          ['content', 'a b'],
          ['mobile', '1'],
        ],
      }),
    ).toBe('https://h/chuangxin/yytz?content=a%20b&mobile=1');
  });

  it('appends with & when the endpoint already has a query', () => {
    expect(requestUrl({ channel: 'sms', endpoint: 'https://h/largesms?x=1', query: [['phone', '2']] })).toBe(
      'https://h/largesms?x=1&phone=2',
    );
  });

  it('leaves the endpoint alone when there is no query', () => {
    expect(requestUrl({ channel: 'sms', endpoint: 'https://h/largesms', query: [] })).toBe('https://h/largesms');
  });
});

describe('provider requests', () => {
  it('long SMS: params joined by | in template order, then phone, skin and sign', () => {
    const req = longSmsRequest('https://h/largesms', { phone: '13800138000', skin: '2', sign: '7' }, ['张三', 'A-1 #2', '3']);
    expect(req).toEqual({
      channel: 'sms',
      endpoint: 'https://h/largesms',
      query: [
        ['param', '张三|A-1 #2|3'],
        ['phone', '13800138000'],
        ['skin', '2'],
        ['sign', '7'],
      ],
    });
    expect(requestUrl(req)).toBe('https://h/largesms?param=%E5%BC%A0%E4%B8%89%7CA-1%20%232%7C3&phone=13800138000&skin=2&sign=7');
  });

  it('long SMS: no sign parameter when the job has none', () => {
    const req = longSmsRequest('https://h/largesms', { phone: '13800138000', skin: '1' }, ['1234']);
    expect(req.query.map(([k]) => k)).toEqual(['param', 'phone', 'skin']);
  });

  it('long SMS: an empty params list sends an empty param', () => {
    expect(longSmsRequest('https://h/largesms', { phone: '1', skin: '1' }, []).query[0]).toEqual(['param', '']);
  });

  it('voice: content then mobile', () => {
    expect(voiceRequest('https://h/chuangxin/yytz', { phone: '13800138000', content: '您好\n再见' })).toEqual({
      channel: 'voice',
      endpoint: 'https://h/chuangxin/yytz',
      query: [
        ['content', '您好\n再见'],
        ['mobile', '13800138000'],
      ],
    });
  });
});

import { describe, expect, it } from 'vitest';
import { ChannelMismatchError, InvalidRequestError } from '#shared/errors';
import { parseJob } from '#shared/jobs';
import { maskPhone, normalizePhone } from '#shared/phone';

function refusal(fn: () => unknown): InvalidRequestError {
  try {
    fn();
  } catch (err) {
    if (err instanceof InvalidRequestError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('phone numbers', () => {
  it.each([
    ['13800138000', '13800138000'],
    ['+8613800138000', '13800138000'],
    ['008613800138000', '13800138000'],
    ['8613800138000', '13800138000'],
    ['+86 138-0013-8000', '13800138000'],
    ['19912345678', '19912345678'],
  ])('normalises %s', (raw, want) => {
    expect(normalizePhone(raw)).toBe(want);
  });

  it.each([
    ['12800138000', 'second digit 2'],
    ['1380013800', '10 digits'],
    ['138001380000', '12 digits'],
    ['１３８００１３８０００', 'full-width digits'],
    ['138\u200b00138000', 'zero-width space'],
    ['+1 4155550100', 'not mainland'],
    ['02512345678', 'landline'],
    ['', 'empty'],
  ])('refuses %s (%s) as INVALID_PHONE', (raw) => {
    const err = refusal(() => normalizePhone(raw));
    expect(err.code).toBe('INVALID_PHONE');
    expect(err.status).toBe(422);
  });

  it('masks as 138****8000', () => {
    expect(maskPhone('13800138000')).toBe('138****8000');
  });
});

describe('parseJob', () => {
  it('accepts the SMS job of the design and normalises the phone', () => {
    expect(
      parseJob({ channel: 'sms', phone: '+8613800138000', skin: '1', params: ['1234'], sign: '1', idempotencyKey: 'order-42' }, 'sms'),
    ).toEqual({
      channel: 'sms',
      phone: '13800138000',
      skin: '1',
      params: ['1234'],
      sign: '1',
      idempotencyKey: 'order-42',
    });
  });

  it('accepts the voice job with channel implied by the function', () => {
    expect(parseJob({ phone: '13800138000', content: '您好，您的快递已送达。' }, 'voice')).toEqual({
      channel: 'voice',
      phone: '13800138000',
      content: '您好，您的快递已送达。',
    });
  });

  it.each([
    [{ skin: '1', params: ['1'] }, 'phone is required'],
    [{ phone: '13800138000', params: ['1'] }, 'skin is required'],
    [{ phone: '13800138000', skin: '1' }, 'params is required'],
    [{ phone: 13800138000, skin: '1', params: ['1'] }, 'phone must be a string, got number'],
    [{ phone: '13800138000', skin: '1', params: [1234] }, 'params'],
    [{ phone: '13800138000', skin: '1', params: ['a|b'] }, 'params[0] must not contain "|"'],
    [{ phone: '13800138000', skin: '1', params: ['ok', 'x\u0000y'] }, 'params[1] must not contain control characters'],
    [{ phone: '13800138000', skin: '1', params: ['\ud800'] }, 'params[0] must be valid Unicode text'],
    [{ phone: '13800138000', skin: '1', params: ['x'.repeat(201)] }, 'params[0] must be at most 200 character(s)'],
    [{ phone: '13800138000', skin: '1', params: ['1'], parms: [] }, 'unknown field(s): parms'],
    [{ phone: '13800138000', skin: '1', params: ['1'], sendAt: 'tomorrow' }, 'sendAt must be an ISO-8601 time'],
  ])('refuses %j naming the problem', (raw, message) => {
    const err = refusal(() => parseJob(raw, 'sms'));
    expect(err.code).toBe('INVALID_REQUEST');
    expect(err.message).toContain(message);
  });

  it('refuses a __proto__ key as an unknown field instead of polluting anything', () => {
    const raw = JSON.parse('{"phone":"13800138000","skin":"1","params":["1"],"__proto__":{"admin":true}}');
    const err = refusal(() => parseJob(raw, 'sms'));
    expect(err.message).toContain('__proto__');
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });

  it('answers CONTENT_TOO_LONG for voice text over 500 characters, and accepts exactly 500', () => {
    expect(parseJob({ phone: '13800138000', content: '好'.repeat(500) }, 'voice').channel).toBe('voice');
    const err = refusal(() => parseJob({ phone: '13800138000', content: '好'.repeat(501) }, 'voice'));
    expect(err.code).toBe('CONTENT_TOO_LONG');
  });

  it('tells a job for the other channel apart (a shared topic feeds both functions)', () => {
    const err = refusal(() => parseJob({ channel: 'voice', phone: '13800138000', content: 'x' }, 'sms'));
    expect(err).toBeInstanceOf(ChannelMismatchError);
    expect(err.message).toContain('channel must be "sms"');
  });

  it('points error paths into a batch payload with a prefix', () => {
    const err = refusal(() => parseJob({ phone: '1', skin: '1', params: [] }, 'sms', 'jobs[3].'));
    expect(err.path).toBe('jobs[3].phone');
    expect(err.message).toMatch(/^jobs\[3\]\.phone /);
  });
});

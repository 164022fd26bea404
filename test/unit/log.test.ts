import { describe, expect, it } from 'vitest';
import { scrub, scrubValues } from '#shared/log';

/**
 * scrubValues keeps a job's values (and the verification codes inside them) out of the provider
 * text we keep; scrub masks phone numbers in a finished log line.
 */
describe('scrubValues', () => {
  it('removes a value echoed whole, and the digit runs of a value echoed apart', () => {
    expect(scrubValues('参数与模板不对应: 您的验证码 8412 已发送|张三丰', ['您的验证码 8412 已发送', '张三丰'])).toBe(
      '参数与模板不对应: [REDACTED]|张三丰',
    );
    expect(scrubValues('code=84127 rejected', ['您的验证码84127'])).toBe('code=[REDACTED] rejected');
  });

  it('replaces the longest value first, so no part of it is left beside the marker', () => {
    expect(scrubValues('sent 123456789 ok', ['123456789', '12345'])).toBe('sent [REDACTED] ok');
  });

  it('leaves values under 4 characters, and a text none of the values is in, as it was', () => {
    expect(scrubValues('发送成功', ['1234', '张三'])).toBe('发送成功');
    expect(scrubValues('code 123 refused', ['123'])).toBe('code 123 refused');
    expect(scrubValues('order 20251130 refused', ['2026-12-01'])).toBe('order 20251130 refused');
    // A digit run of a value is removed wherever it stands, even inside a longer number.
    expect(scrubValues('order 20261201 refused', ['2026-12-01'])).toBe('order [REDACTED]1201 refused');
  });
});

describe('scrub', () => {
  it('masks mainland mobile numbers, not longer digit runs', () => {
    expect(scrub('{"msg":"to 13800138000 and 19912345678"}')).toBe('{"msg":"to 138****8000 and 199****5678"}');
    expect(scrub('{"order":"213800138000"}')).toBe('{"order":"213800138000"}');
  });
});

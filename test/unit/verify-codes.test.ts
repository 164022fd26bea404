import { describe, expect, it } from 'vitest';
import {
  decoyMac,
  decryptCode,
  deriveKeys,
  encryptCode,
  generateCode,
  macCode,
  phoneIndex,
  sameMac,
  spacedDigits,
  voiceText,
} from '#shared/verify/codes';
import { loadVerifyConfig } from '#shared/verify/config';

const keys = deriveKeys('unit-test-secret-0123456789');

describe('verification code primitives', () => {
  it('generates 4-8 digits, every digit position uniform enough (no modulo bias, leading zeros kept)', () => {
    for (const n of [4, 6, 8]) expect(generateCode(n)).toMatch(new RegExp(`^\\d{${n}}$`));
    expect(() => generateCode(3)).toThrow(RangeError);
    expect(() => generateCode(9)).toThrow(RangeError);
    const counts = new Array(10).fill(0);
    for (let i = 0; i < 2000; i += 1) counts[Number(generateCode(4)[0])] += 1;
    // 2000 draws, 200 expected per digit; a fixed or biased generator falls far outside.
    for (const c of counts) expect(c).toBeGreaterThan(120);
  });

  it('binds the HMAC to phone, id and code; a decoy never matches a code', () => {
    const a = macCode(keys, '13800138000', 'id-1', '123456');
    expect(a).toHaveLength(32);
    expect(sameMac(a, macCode(keys, '13800138000', 'id-1', '123456'))).toBe(true);
    expect(sameMac(a, macCode(keys, '13800138001', 'id-1', '123456'))).toBe(false);
    expect(sameMac(a, macCode(keys, '13800138000', 'id-2', '123456'))).toBe(false);
    expect(sameMac(a, macCode(keys, '13800138000', 'id-1', '123457'))).toBe(false);
    expect(sameMac(a, macCode(deriveKeys('another-secret-0123456789'), '13800138000', 'id-1', '123456'))).toBe(false);
    expect(sameMac(decoyMac(keys, '13800138000', 'id-1'), a)).toBe(false);
    expect(sameMac(a, a.subarray(0, 16))).toBe(false);
  });

  it('seals the code for re-sending: only the same secret, phone and id open it', () => {
    const sealed = encryptCode(keys, '13800138000', 'id-1', '042137');
    expect(sealed).not.toContain('042137');
    expect(decryptCode(keys, '13800138000', 'id-1', sealed)).toBe('042137');
    expect(decryptCode(keys, '13800138001', 'id-1', sealed)).toBeUndefined();
    expect(decryptCode(keys, '13800138000', 'id-2', sealed)).toBeUndefined();
    expect(decryptCode(deriveKeys('another-secret-0123456789'), '13800138000', 'id-1', sealed)).toBeUndefined();
    expect(decryptCode(keys, '13800138000', 'id-1', 'garbage')).toBeUndefined();
  });

  it('keys records by an HMAC of the phone, not the phone', () => {
    const idx = phoneIndex(keys, '13800138000');
    expect(idx).not.toContain('138');
    expect(idx).toBe(phoneIndex(keys, '13800138000'));
    expect(idx).not.toBe(phoneIndex(keys, '13800138001'));
  });

  it('speaks the code digit by digit', () => {
    expect(spacedDigits('123456')).toBe('1 2 3 4 5 6');
    expect(voiceText('您的验证码是{code}，{minutes}分钟内有效。', '0123', 300)).toBe('您的验证码是0 1 2 3，5分钟内有效。');
    expect(voiceText('{code}', '9876', 61)).toBe('9 8 7 6');
  });

  it('reads VERIFY_* (fail closed when deployed without a secret)', () => {
    const problems: string[] = [];
    const deployed = loadVerifyConfig({}, { sandbox: false, deployed: true }, problems);
    expect(deployed.secret).toBeUndefined();
    expect(deployed.problem).toMatch(/^VERIFY_SECRET is required/);
    const local = loadVerifyConfig({}, { sandbox: true, deployed: false }, problems);
    expect(local.secretSource).toBe('random-sandbox');
    expect(local.secret).toHaveLength(43);
    expect(problems).toEqual([]);
    loadVerifyConfig({ VERIFY_VOICE_TEXT: '没有验证码' }, { sandbox: true, deployed: false }, problems);
    expect(problems).toEqual(['VERIFY_VOICE_TEXT must contain {code} (where the code is spoken)']);
  });
});

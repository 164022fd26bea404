import { describe, expect, it } from 'vitest';
import { countChars, segmentsFor } from '#shared/templates/count';

describe('countChars: one user-perceived character counts 1', () => {
  it.each([
    ['empty', '', 0],
    ['ASCII', 'abc123', 6],
    ['CJK', '验证码', 3],
    ['CJK punctuation and 【】', '【测试】，。！', 7],
    ['full-width letters and digits', 'ＡＢＣ１２３', 6],
    ['single emoji (2 UTF-16 units)', '😀', 1],
    ['emoji with skin tone', '👍🏽', 1],
    ['ZWJ family (8 UTF-16 units)', '👨‍👩‍👧', 1],
    ['flag (two regional indicators)', '🇨🇳', 1],
    ['combining accent', 'e\u0301', 1],
    ['mixed', '【测试】Hi😀１', 8],
  ])('%s', (_name, text, expected) => {
    expect(countChars(text)).toBe(expected);
  });
});

describe('segmentsFor: ≤70 is one segment, longer is 67 per segment', () => {
  it.each([
    [0, 0],
    [1, 1],
    [70, 1],
    [71, 2],
    [134, 2],
    [135, 3],
    [160, 3],
    [200, 3],
    [201, 3],
    [202, 4],
    [500, 8],
  ])('%i characters → %i segment(s)', (chars, segments) => {
    expect(segmentsFor(chars)).toBe(segments);
  });
});

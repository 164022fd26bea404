/**
 * Character and segment counting as the user sees the text.
 *
 * Every user-perceived character (grapheme cluster) counts 1: a CJK character, a full-width
 * letter, an ASCII letter, an emoji, and a composed emoji such as a family or a flag. The vendors
 * do not say how they count emoji; Alibaba's SMS rules count "every character as 1", and a user
 * counting on screen sees one emoji as one character, so that is what we count. Because a vendor
 * counting UTF-16 units would count more, the rules also warn (`length.utf16`) when the UTF-16
 * length is over a limit the grapheme count is under.
 */

// Made on first use: building a Segmenter loads ICU break data, a cost no cold start should pay
// before it counts anything.
let graphemes: Intl.Segmenter | undefined;

// Text where every UTF-16 unit is a character of its own: no surrogates (emoji, rare CJK), no
// combining marks, joiners or variation selectors, no CR (CRLF is one grapheme). Most SMS text.
const ONE_UNIT_PER_CHAR = /^[\t\n\x20-\x7e\xa0-\u02ff\u0370-\u0482\u048a-\u0590\u3000-\u3098\u309b-\u9fff\uff01-\uffef]*$/;

/** User-perceived characters (grapheme clusters). */
export function countChars(text: string): number {
  if (ONE_UNIT_PER_CHAR.test(text)) return text.length;
  graphemes ??= new Intl.Segmenter('zh', { granularity: 'grapheme' });
  let n = 0;
  for (const _ of graphemes.segment(text)) n += 1;
  return n;
}

export const SINGLE_SEGMENT_CHARS = 70;
export const MULTI_SEGMENT_CHARS = 67;

/** Carrier segments: up to 70 characters is one; longer texts are split 67 per segment. */
export function segmentsFor(chars: number): number {
  if (chars <= 0) return 0;
  if (chars <= SINGLE_SEGMENT_CHARS) return 1;
  return Math.ceil(chars / MULTI_SEGMENT_CHARS);
}

/**
 * Characters that must not hide in a name, and how to show a name that holds one. A name in a certificate is
 * read by people (certificate viewers, `openssl x509 -text`, our own `list`) and compared by programs; a control
 * character, an invisible one or a bidirectional override makes the two disagree: `pav\u200Bel` shows as
 * `pavel`, `\u202Elper.crt` as `trc.repl`, and `good.example\0.evil.example` is `good.example` to C code that
 * stops at the NUL (CVE-2009-2408).
 */

/** C0 and C1 controls and DEL (Unicode general category Cc), NUL included. */
const CONTROL = /\p{Cc}/u;
/** The explicit bidirectional formatting characters: U+061C, U+200E/F, U+202A–U+202E, U+2066–U+2069. */
const BIDI = /\p{Bidi_Control}/u;
/**
 * Characters with no glyph of their own: format characters (Cf: zero-width space and joiners, soft hyphen,
 * word joiner, BOM, tag characters, …), Unicode's Default_Ignorable_Code_Point set (which adds the Hangul
 * fillers, variation selectors and the combining grapheme joiner), and the braille blank U+2800, which fonts
 * draw as nothing.
 */
const INVISIBLE = /[\p{Cf}\p{Default_Ignorable_Code_Point}\u2800]/u;
/**
 * Code points whose rendering nobody agrees on: unassigned (their normalisation may change with the Unicode
 * version), private use, and lone surrogates (which UTF-8 cannot encode: the certificate would hold U+FFFD).
 */
const UNCERTAIN = /[\p{Cn}\p{Co}\p{Cs}]/u;

export type HiddenCharacterRule = 'control' | 'bidi' | 'invisible' | 'uncertain';

export interface HiddenCharacter {
  rule: HiddenCharacterRule;
  /** The character (one code point). */
  char: string;
  /** Its escaped form, as {@link quote} shows it: `\x00`, `\u202e`. */
  escaped: string;
  /** What the rule refuses, for a message: "a control character (\x00)". */
  cause: string;
}

const CAUSE: Record<HiddenCharacterRule, string> = {
  control: 'a control character',
  bidi: 'a bidirectional control character',
  invisible: 'an invisible character',
  uncertain: 'an unassigned, private-use or lone surrogate code point',
};

function ruleOf(c: string): HiddenCharacterRule | undefined {
  if (CONTROL.test(c)) return 'control';
  // Bidi controls are Cf too, so they are tested before the wider invisible class.
  if (BIDI.test(c)) return 'bidi';
  if (INVISIBLE.test(c)) return 'invisible';
  if (UNCERTAIN.test(c)) return 'uncertain';
  return undefined;
}

/**
 * The first control, bidirectional, invisible or uncertain character in `text`, or undefined when it has none.
 * @param text - any string, as decoded (a lone surrogate is found as such)
 */
export function findHiddenCharacter(text: string): HiddenCharacter | undefined {
  // Fast path: printable ASCII (what almost every name is) has none of them.
  if (/^[\x20-\x7e]*$/.test(text)) return undefined;
  for (const char of text) {
    const rule = ruleOf(char);
    if (rule) {
      const escaped = escapeChar(char);
      return { rule, char, escaped, cause: `${CAUSE[rule]} (${escaped})` };
    }
  }
  return undefined;
}

/** `\xNN` below U+0100, `\uNNNN` in the BMP, `\u{NNNNN}` above: what JavaScript and JSON readers recognise. */
function escapeChar(c: string): string {
  const cp = c.codePointAt(0)!;
  if (cp < 0x100) return `\\x${cp.toString(16).padStart(2, '0')}`;
  if (cp <= 0xffff) return `\\u${cp.toString(16).padStart(4, '0')}`;
  return `\\u{${cp.toString(16)}}`;
}

/**
 * The value in double quotes with `"` and `\` escaped and every character that would not show as itself
 * escaped, so that a terminal shows exactly what was asked: `"good.example\x00.evil.example"`, `"\u202etxt"`.
 * @param value - the name
 * @param ascii - escape everything outside printable ASCII too: for dNSName, rfc822Name and URI, which are
 *   IA5Strings (bytes) — `m\xfcller` then says plainly that the name is not ASCII
 */
export function quote(value: string, ascii = false): string {
  let out = '"';
  for (const c of value) {
    if (c === '"' || c === '\\') out += `\\${c}`;
    else if (c >= ' ' && c <= '~') out += c;
    else if (ascii || ruleOf(c) || /\s/u.test(c)) out += escapeChar(c);
    else out += c;
  }
  return `${out}"`;
}

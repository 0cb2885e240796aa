/** Distinguished names (RFC 5280 4.1.2.4) and the rules for names that become file names. */

import { findHiddenCharacter, quote } from './characters.js';
import * as der from './der.js';
import { InvalidNameError, MtlsCaError, type NameRule } from './errors.js';
import { OID } from './oids.js';

export interface DistinguishedName {
  commonName?: string;
  organization?: string;
  organizationalUnit?: string;
  /** Two-letter ISO 3166 code. */
  country?: string;
}

export interface NameAttribute {
  oid: string;
  value: string;
}

const SHORT: Record<string, string> = {
  [OID.commonName]: 'CN',
  [OID.countryName]: 'C',
  [OID.localityName]: 'L',
  [OID.stateOrProvinceName]: 'ST',
  [OID.organizationName]: 'O',
  [OID.organizationalUnitName]: 'OU',
  [OID.emailAddress]: 'emailAddress',
};

function rdn(type: string, value: Buffer): Buffer {
  return der.set(der.sequence(der.oid(type), value));
}

/** Encodes a name most-significant first (C, O, OU, CN), strings as UTF8String (RFC 5280 4.1.2.6). */
export function encodeName(dn: DistinguishedName): Buffer {
  const rdns: Buffer[] = [];
  if (dn.country) {
    if (!/^[A-Z]{2}$/.test(dn.country)) {
      throw new MtlsCaError(
        'INVALID_ARGUMENT',
        `use country ${JSON.stringify(dn.country)}: expected two capital letters`,
      );
    }
    rdns.push(rdn(OID.countryName, der.printableString(dn.country)));
  }
  if (dn.organization) rdns.push(rdn(OID.organizationName, der.utf8String(dn.organization)));
  if (dn.organizationalUnit)
    rdns.push(rdn(OID.organizationalUnitName, der.utf8String(dn.organizationalUnit)));
  if (dn.commonName) rdns.push(rdn(OID.commonName, der.utf8String(dn.commonName)));
  return der.sequence(...rdns);
}

/** The attributes of a Name, in encoded order. */
export function decodeName(node: der.Node): NameAttribute[] {
  der.expectTag(node, der.Tag.SEQUENCE, 'Name');
  const out: NameAttribute[] = [];
  for (const set of node.children) {
    for (const atv of set.children) {
      const [type, value] = atv.children;
      out.push({ oid: der.readOid(type!), value: der.readString(value!) });
    }
  }
  return out;
}

/** `CN=pavel, O=Example` — the order in which the name is encoded, as OpenSSL prints with `-nameopt`. */
export function formatName(attrs: NameAttribute[]): string {
  return attrs.map((a) => `${SHORT[a.oid] ?? a.oid}=${a.value}`).join(', ');
}

export function commonNameOf(attrs: NameAttribute[]): string | undefined {
  return attrs.findLast((a) => a.oid === OID.commonName)?.value;
}

const MAX_NAME_LENGTH = 64;

const NAME_HINT = 'use letters, digits, ".", "_", "-" or "@", not starting with "." or "-"';

/**
 * Windows opens these as devices, whatever the extension (`nul.crt` is NUL) and the case: a CA directory copied
 * to or shared with Windows could not hold their files. COM0, LPT0 and the superscript digits are reserved too.
 */
const WINDOWS_DEVICE = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)(?:\.|$)/i;

interface Refusal {
  rule: NameRule;
  reason: string;
  hint?: string;
}

/**
 * The rules for any name a person reads in a certificate (user names, common names): no control, invisible,
 * bidirectional or unassigned character, and composed Unicode (NFC) — the form keyboards produce, so that one
 * name is stored one way: `é` as U+00E9, not `e` + U+0301, which shows the same but is another CN and file name.
 */
function textRefusal(text: string): Refusal | undefined {
  const hidden = findHiddenCharacter(text);
  if (hidden) {
    return {
      rule: hidden.rule,
      reason: `it contains ${hidden.cause}`,
      hint: `remove the ${hidden.escaped}: a name must read as it is stored`,
    };
  }
  const nfc = text.normalize('NFC');
  if (nfc !== text) {
    return {
      rule: 'not-nfc',
      reason: 'it is not in Unicode normalisation form C (composed characters)',
      hint: `type it as ${quote(nfc)}`,
    };
  }
  return undefined;
}

/**
 * Checks a common name: not empty, and the rules every readable name follows (see {@link assertSafeName} for
 * what those are).
 * @param cn - the CN as it would be encoded
 * @param kind - what it is, for the message (`common name`, `CA name`)
 * @throws InvalidNameError `INVALID_NAME`
 */
export function assertCommonName(cn: string, kind = 'common name'): void {
  const refusal = cn === '' ? { rule: 'empty' as const, reason: 'it is empty' } : textRefusal(cn);
  if (refusal)
    throw new InvalidNameError(
      'INVALID_NAME',
      kind,
      cn,
      quote(cn),
      refusal.rule,
      refusal.reason,
      refusal.hint,
    );
}

/**
 * Checks a user or host name that will become part of a file name (`client_<name>.p12`) and a certificate's
 * CN: at most 64 characters; no control, invisible, bidirectional or unassigned character, and in NFC (see
 * {@link assertCommonName}); no path separator, `..`, leading dot or dash, trailing dot (Windows drops it, so
 * `pavel.` is `pavel` there), space or `: * ? " < > |`; not a reserved Windows device name (`con`, `nul.txt`,
 * `COM1`).
 * @param name - the name as given
 * @param kind - what the name is, for the message (`client name`, `server name`)
 * @throws InvalidNameError `INVALID_NAME`
 */
export function assertSafeName(name: string, kind = 'name'): void {
  const refusal = safeNameRefusal(name);
  if (refusal) {
    throw new InvalidNameError(
      'INVALID_NAME',
      kind,
      name,
      quote(name),
      refusal.rule,
      refusal.reason,
      refusal.hint ?? NAME_HINT,
    );
  }
}

function safeNameRefusal(name: string): Refusal | undefined {
  const fileName = (reason: string): Refusal => ({ rule: 'file-name', reason });
  if (name.length === 0) return { rule: 'empty', reason: 'it is empty' };
  if (name.length > MAX_NAME_LENGTH)
    return { rule: 'too-long', reason: `it is longer than ${MAX_NAME_LENGTH} characters` };
  const text = textRefusal(name);
  if (text) return text;
  if (/[/\\]/.test(name)) return fileName('it contains a path separator');
  if (name.includes('..')) return fileName('it contains ".."');
  if (/^[.-]/.test(name)) return fileName('it starts with a dot or a dash');
  if (name.endsWith('.')) return fileName('it ends with a dot');
  if (/[\s:*?"<>|]/.test(name)) return fileName('it contains a space or one of : * ? " < > |');
  const device = WINDOWS_DEVICE.exec(name);
  if (device) {
    return {
      rule: 'reserved',
      reason: `it is the reserved Windows device name ${quote(device[1]!)} (with or without an extension)`,
      hint: 'choose another name: Windows cannot open files named like this',
    };
  }
  return undefined;
}

/**
 * What two names share when a person would read them as one: compatibility forms folded (NFKC: `ｐａｖｅｌ`,
 * `ﬁ`, `²` become `pavel`, `fi`, `2`) and case folded (`Pavel`, `PAVEL`, and `ß` with `ss`). NFKC rather than NFC
 * because those forms look alike too; neither folds look-alike letters of other scripts (Cyrillic `а` stays
 * apart from Latin `a`). Case-insensitive file systems (macOS, Windows) would also put `Pavel.crt` and
 * `pavel.crt` in one file.
 * @param name - a name that passed {@link assertSafeName}
 */
export function nameKey(name: string): string {
  if (/^[\x20-\x7e]*$/.test(name)) return name.toLowerCase();
  // Upper then lower case is full case folding for all but a few letters (`ß` → `SS` → `ss`, final `ς` → `σ`).
  return name.normalize('NFKC').toUpperCase().toLowerCase().normalize('NFKC');
}

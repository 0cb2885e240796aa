/** Distinguished names (RFC 5280 4.1.2.4) and the rules for names that become file names. */
import * as der from './der.js';
import { MtlsCaError } from './errors.js';
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

export const MAX_NAME_LENGTH = 64;

/**
 * Checks a user or host name that will become part of a file name (`client_<name>.p12`): no path separators,
 * no `..`, no control characters, no leading dot or dash, at most 64 characters.
 * @param kind - what the name is, for the message (`client name`, `server name`)
 */
export function assertSafeName(name: string, kind = 'name'): void {
  const reject = (cause: string) => {
    throw new MtlsCaError(
      'INVALID_NAME',
      `use ${kind} ${JSON.stringify(name)}: ${cause}`,
      'use letters, digits, ".", "_", "-" or "@", not starting with "." or "-"',
    );
  };
  if (name.length === 0) reject('it is empty');
  if (name.length > MAX_NAME_LENGTH) reject(`it is longer than ${MAX_NAME_LENGTH} characters`);
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) reject('it contains a control character');
  if (/[/\\]/.test(name)) reject('it contains a path separator');
  if (name.includes('..')) reject('it contains ".."');
  if (/^[.-]/.test(name)) reject('it starts with a dot or a dash');
  if (/[\s:*?"<>|]/.test(name)) reject('it contains a space or one of : * ? " < > |');
}

/** X.509 v3 extensions (RFC 5280 4.2): encoders for the ones we issue, a decoder for all we show. */
import crypto, { type KeyObject } from 'node:crypto';
import * as der from './der.js';
import { MtlsCaError } from './errors.js';
import { subjectPublicKeyInfo } from './keys.js';
import { OID } from './oids.js';

export interface Extension {
  oid: string;
  critical: boolean;
  /** DER of the extension value (the content of extnValue). */
  value: Buffer;
}

export function encodeExtension(ext: Extension): Buffer {
  return der.sequence(
    der.oid(ext.oid),
    ...(ext.critical ? [der.boolean(true)] : []),
    der.octetString(ext.value),
  );
}

export function decodeExtensions(node: der.Node): Extension[] {
  return node.children.map((e) => {
    const [id, second, third] = e.children;
    const critical = second?.tag === der.Tag.BOOLEAN ? second.content[0] !== 0 : false;
    const value = der.octetsOf(second?.tag === der.Tag.BOOLEAN ? third! : second!);
    return { oid: der.readOid(id!), critical, value };
  });
}

export const KeyUsageBit = {
  digitalSignature: 0,
  nonRepudiation: 1,
  keyEncipherment: 2,
  dataEncipherment: 3,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
} as const;
export type KeyUsage = keyof typeof KeyUsageBit;

export function basicConstraints(ca: boolean, pathLength?: number): Extension {
  const items = ca ? [der.boolean(true), ...(pathLength !== undefined ? [der.integer(pathLength)] : [])] : [];
  return { oid: OID.basicConstraints, critical: true, value: der.sequence(...items) };
}

export function keyUsage(usages: KeyUsage[]): Extension {
  return { oid: OID.keyUsage, critical: true, value: der.namedBits(usages.map((u) => KeyUsageBit[u])) };
}

export function extendedKeyUsage(oids: string[]): Extension {
  return { oid: OID.extKeyUsage, critical: false, value: der.sequence(...oids.map(der.oid)) };
}

/** RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING value. */
export function keyIdentifier(key: KeyObject): Buffer {
  const spki = der.decode(subjectPublicKeyInfo(key));
  return crypto.createHash('sha1').update(der.bitsOf(spki.children[1]!)).digest();
}

export function subjectKeyIdentifier(keyId: Buffer): Extension {
  return { oid: OID.subjectKeyIdentifier, critical: false, value: der.octetString(keyId) };
}

export function authorityKeyIdentifier(keyId: Buffer): Extension {
  return { oid: OID.authorityKeyIdentifier, critical: false, value: der.sequence(der.tlv(0x80, keyId)) };
}

export interface SubjectAltNames {
  dns?: string[];
  ip?: string[];
  email?: string[];
  uri?: string[];
}

const IPV4_OCTET = /^(?:0|[1-9][0-9]{0,2})$/;
const IPV6_GROUP = /^[0-9a-f]{1,4}$/i;

function parseIpv4(text: string): Buffer | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out = Buffer.alloc(4);
  for (const [i, p] of parts.entries()) {
    if (!IPV4_OCTET.test(p) || Number(p) > 255) return undefined;
    out[i] = Number(p);
  }
  return out;
}

function parseIpv6(text: string): Buffer | undefined {
  let groupsText = text;
  let tail: number[] = [];
  // An embedded IPv4 tail (::ffff:192.0.2.1, RFC 4291 2.2 form 3) stands for the last two groups.
  const lastColon = text.lastIndexOf(':');
  if (lastColon >= 0 && text.includes('.', lastColon)) {
    const v4 = parseIpv4(text.slice(lastColon + 1));
    if (!v4) return undefined;
    tail = [(v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!];
    groupsText = text.endsWith('::', lastColon + 1) ? text.slice(0, lastColon + 1) : text.slice(0, lastColon);
  }
  const halves = groupsText.split('::');
  if (halves.length > 2) return undefined;
  const split = (h: string) => (h === '' ? [] : h.split(':'));
  const head = split(halves[0]!);
  const rest = halves.length === 2 ? split(halves[1]!) : [];
  if (![...head, ...rest].every((g) => IPV6_GROUP.test(g))) return undefined;
  const given = head.length + rest.length + tail.length;
  if (halves.length === 1 ? given !== 8 : given > 7) return undefined;
  const groups = [
    ...head.map((g) => Number.parseInt(g, 16)),
    ...Array<number>(8 - given).fill(0),
    ...rest.map((g) => Number.parseInt(g, 16)),
    ...tail,
  ];
  const out = Buffer.alloc(16);
  for (const [i, g] of groups.entries()) out.writeUInt16BE(g, i * 2);
  return out;
}

/**
 * 4 or 16 bytes for an IPv4 or IPv6 address in text, else undefined. Our own parser, not node:net's isIP:
 * compiling its IPv6 regular expression on first use was a fifth of `mtls-ca init` (docs/performance.md).
 */
export function parseIp(text: string): Buffer | undefined {
  return text.includes(':') ? parseIpv6(text) : parseIpv4(text);
}

/** An address with a zone (fe80::1%eth0) is an IP address, but not one a certificate can hold. */
export function isZonedIpv6(text: string): boolean {
  const at = text.indexOf('%');
  return at > 0 && at < text.length - 1 && parseIpv6(text.slice(0, at)) !== undefined;
}

function ipBytes(ip: string): Buffer {
  const bytes = parseIp(ip);
  if (bytes) return bytes;
  throw new MtlsCaError(
    'INVALID_ARGUMENT',
    `use IP address ${JSON.stringify(ip)}: not an IPv4 or IPv6 address (without a zone)`,
  );
}

function ipText(bytes: Buffer): string {
  if (bytes.length === 4) return [...bytes].join('.');
  if (bytes.length === 16) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
    // compress the longest run of zero groups, as RFC 5952 says
    let best = [-1, 0];
    for (let i = 0; i < 8; ) {
      let j = i;
      while (j < 8 && groups[j] === '0') j++;
      if (j - i > best[1]! && j - i > 1) best = [i, j - i];
      i = j === i ? i + 1 : j;
    }
    if (best[0]! < 0) return groups.join(':');
    const left = groups.slice(0, best[0]).join(':');
    const right = groups.slice(best[0]! + best[1]!).join(':');
    return `${left}::${right}`;
  }
  return bytes.toString('hex');
}

export function subjectAltName(names: SubjectAltNames, critical = false): Extension {
  const general: Buffer[] = [
    ...(names.email ?? []).map((e) => der.tlv(0x81, Buffer.from(e, 'latin1'))),
    ...(names.dns ?? []).map((d) => der.tlv(0x82, Buffer.from(d, 'latin1'))),
    ...(names.uri ?? []).map((u) => der.tlv(0x86, Buffer.from(u, 'latin1'))),
    ...(names.ip ?? []).map((i) => der.tlv(0x87, ipBytes(i))),
  ];
  return { oid: OID.subjectAltName, critical, value: der.sequence(...general) };
}

/** The GeneralName choices (RFC 5280 4.2.1.6) that {@link SubjectAltNames} has no list for, by tag. */
const OTHER_GENERAL_NAMES = new Map([
  [0xa0, 'otherName'],
  [0xa3, 'x400Address'],
  [0xa4, 'directoryName'],
  [0xa5, 'ediPartyName'],
  [0x88, 'registeredID'],
]);

/**
 * The entries of a subjectAltName value that {@link decodeSubjectAltNames} leaves out (otherName, directoryName,
 * …), by the name of their type, so that a caller can say what it does not take instead of dropping it unseen.
 */
export function otherAltNameTypes(value: Buffer): string[] {
  return der
    .decode(value, 'subjectAltName')
    .children.filter((g) => ![0x81, 0x82, 0x86, 0x87].includes(g.tag))
    .map((g) => OTHER_GENERAL_NAMES.get(g.tag) ?? `[${g.tag & 0x1f}]`);
}

export function decodeSubjectAltNames(value: Buffer): SubjectAltNames {
  const out: Required<SubjectAltNames> = { dns: [], ip: [], email: [], uri: [] };
  for (const g of der.decode(value, 'subjectAltName').children) {
    const text = g.content.toString('latin1');
    if (g.tag === 0x81) out.email.push(text);
    else if (g.tag === 0x82) out.dns.push(text);
    else if (g.tag === 0x86) out.uri.push(text);
    else if (g.tag === 0x87) out.ip.push(ipText(g.content));
  }
  return out;
}

/**
 * Where relying parties fetch a certificate's revocation status and its issuer (RFC 5280 4.2.1.13, 4.2.2.1).
 * Plain `http:` URLs: the data is signed, and a TLS check inside a TLS check can loop.
 */
export interface RevocationUrls {
  /** The CA's CRL, DER: the cRLDistributionPoints fullName. */
  crl: string;
  /** The OCSP responder (RFC 6960): the authorityInfoAccess id-ad-ocsp location. */
  ocsp: string;
  /** The CA certificate, DER (RFC 5280 4.2.2.1): the authorityInfoAccess id-ad-caIssuers location. */
  caIssuers: string;
}

/** A uniformResourceIdentifier GeneralName: [6] IMPLICIT IA5String. URLs are ASCII (checked by the caller). */
function uriName(url: string): Buffer {
  return der.tlv(0x86, Buffer.from(url, 'latin1'));
}

/**
 * One distribution point with the CRL's URL as its fullName, no reasons and no cRLIssuer: the CA's one full
 * CRL covers every reason. DistributionPointName is a CHOICE, so its [0] is explicit; fullName [0] is implicit.
 * @param url - where the CRL is served (DER)
 */
export function crlDistributionPoints(url: string): Extension {
  return {
    oid: OID.cRLDistributionPoints,
    critical: false,
    value: der.sequence(der.sequence(der.tlv(0xa0, der.tlv(0xa0, uriName(url))))),
  };
}

/**
 * authorityInfoAccess with the OCSP responder first (clients use the first one they support) and the CA
 * certificate. RFC 5280 4.2.2.1: non-critical.
 */
export function authorityInfoAccess(urls: Pick<RevocationUrls, 'ocsp' | 'caIssuers'>): Extension {
  return {
    oid: OID.authorityInfoAccess,
    critical: false,
    value: der.sequence(
      der.sequence(der.oid(OID.adOcsp), uriName(urls.ocsp)),
      der.sequence(der.oid(OID.adCaIssuers), uriName(urls.caIssuers)),
    ),
  };
}

/**
 * id-pkix-ocsp-nocheck (RFC 6960 4.2.2.2.1): a client trusts the responder's certificate for its lifetime
 * without checking its revocation — which would ask the same responder. Its value is NULL.
 */
export function ocspNoCheck(): Extension {
  return { oid: OID.ocspNoCheck, critical: false, value: der.nullValue() };
}

/** The URIs of every distribution point's fullName (other name forms are left out). */
export function decodeCrlDistributionPoints(value: Buffer): string[] {
  const out: string[] = [];
  for (const point of der.decode(value, 'cRLDistributionPoints').children) {
    const name = point.children.find((c) => c.tag === 0xa0);
    const fullName = name?.children.find((c) => c.tag === 0xa0);
    for (const g of fullName?.children ?? []) if (g.tag === 0x86) out.push(g.content.toString('latin1'));
  }
  return out;
}

/** The OCSP and caIssuers URIs of an authorityInfoAccess value, in order. */
export function decodeAuthorityInfoAccess(value: Buffer): { ocsp: string[]; caIssuers: string[] } {
  const out = { ocsp: [] as string[], caIssuers: [] as string[] };
  for (const access of der.decode(value, 'authorityInfoAccess').children) {
    const [method, location] = access.children;
    if (!method || location?.tag !== 0x86) continue;
    const oid = der.readOid(method);
    const uri = location.content.toString('latin1');
    if (oid === OID.adOcsp) out.ocsp.push(uri);
    else if (oid === OID.adCaIssuers) out.caIssuers.push(uri);
  }
  return out;
}

/** X.509 v3 extensions (RFC 5280 4.2): encoders for the ones we issue, a decoder for all we show. */
import crypto, { type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
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

function ipBytes(ip: string): Buffer {
  const v = isIP(ip);
  if (v === 4) return Buffer.from(ip.split('.').map(Number));
  if (v === 6 && !ip.includes('%')) {
    // An embedded IPv4 tail (::ffff:192.0.2.1, RFC 4291 2.2 form 3) stands for the last two groups.
    const embedded = ip.match(/^(.*:)(\d+)\.(\d+)\.(\d+)\.(\d+)$/);
    if (embedded) {
      const [a, b, c, d] = embedded.slice(2).map(Number) as [number, number, number, number];
      ip = `${embedded[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
    }
    const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
    const out = Buffer.alloc(16);
    for (const [i, g] of groups.entries()) out.writeUInt16BE(Number.parseInt(g, 16), i * 2);
    return out;
  }
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

/** Splits host arguments into DNS names and IP addresses. */
export function hostsToAltNames(hosts: string[]): SubjectAltNames {
  const dns: string[] = [];
  const ip: string[] = [];
  for (const h of hosts) {
    if (isIP(h)) ip.push(h);
    else if (/^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i.test(h)) {
      dns.push(h.toLowerCase());
    } else {
      throw new MtlsCaError(
        'INVALID_ARGUMENT',
        `use host ${JSON.stringify(h)}: not a DNS name or IP address`,
        'pass hosts like localhost, api.example.com, 127.0.0.1 or ::1',
      );
    }
  }
  return { dns, ip };
}

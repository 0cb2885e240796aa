/**
 * A small DER encoder and a strict BER/DER decoder over Buffers. This is all of ASN.1 that X.509, PKCS#10,
 * PKCS#12, CRLs and JKS need here; it keeps byte-level control in our hands (serial signs, time encodings,
 * SET ordering) where general libraries guess.
 */
import { MtlsCaError } from './errors.js';

export const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  T61_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

// ---------------------------------------------------------------- encoding

function encodeLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** One TLV: `tag` is the full identifier octet (class, constructed bit and number < 31). */
export function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), encodeLength(content.length), content]);
}

export function sequence(...items: Buffer[]): Buffer {
  return tlv(Tag.SEQUENCE, Buffer.concat(items));
}

/** DER SET OF: elements sorted by their encodings (X.690 11.6). */
export function set(...items: Buffer[]): Buffer {
  return tlv(Tag.SET, Buffer.concat([...items].sort(Buffer.compare)));
}

/** INTEGER from a bigint/number, or from an unsigned big-endian magnitude (a 0x00 is prepended if needed). */
export function integer(value: bigint | number | Buffer): Buffer {
  if (Buffer.isBuffer(value)) {
    let i = 0;
    while (i < value.length - 1 && value[i] === 0) i++;
    let mag = value.subarray(i);
    if (mag.length === 0) mag = Buffer.from([0]);
    if (mag[0]! & 0x80) mag = Buffer.concat([Buffer.from([0]), mag]);
    return tlv(Tag.INTEGER, mag);
  }
  let v = BigInt(value);
  if (v < 0n) throw new RangeError('negative INTEGER encoding is not needed here');
  const bytes: number[] = [];
  do {
    bytes.unshift(Number(v & 0xffn));
    v >>= 8n;
  } while (v > 0n);
  if (bytes[0]! & 0x80) bytes.unshift(0);
  return tlv(Tag.INTEGER, Buffer.from(bytes));
}

export function enumerated(value: number): Buffer {
  return Buffer.concat([Buffer.from([Tag.ENUMERATED]), integer(value).subarray(1)]);
}

export function boolean(value: boolean): Buffer {
  return tlv(Tag.BOOLEAN, Buffer.from([value ? 0xff : 0x00]));
}

export function nullValue(): Buffer {
  return Buffer.from([Tag.NULL, 0]);
}

export function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map((p) => {
    if (!/^\d+$/.test(p)) throw new RangeError(`bad OID ${dotted}`);
    return BigInt(p);
  });
  if (parts.length < 2) throw new RangeError(`bad OID ${dotted}`);
  const arcs = [parts[0]! * 40n + parts[1]!, ...parts.slice(2)];
  const out: number[] = [];
  for (const arc of arcs) {
    const chunk: number[] = [];
    let v = arc;
    do {
      chunk.unshift(Number(v & 0x7fn));
      v >>= 7n;
    } while (v > 0n);
    for (let i = 0; i < chunk.length - 1; i++) chunk[i]! |= 0x80;
    out.push(...chunk);
  }
  return tlv(Tag.OID, Buffer.from(out));
}

export function octetString(content: Buffer): Buffer {
  return tlv(Tag.OCTET_STRING, content);
}

export function bitString(content: Buffer, unusedBits = 0): Buffer {
  return tlv(Tag.BIT_STRING, Buffer.concat([Buffer.from([unusedBits]), content]));
}

/**
 * A named-bit BIT STRING (KeyUsage): bit 0 is the most significant bit of the first octet. DER drops trailing
 * zero bits (X.690 11.2.2).
 */
export function namedBits(bits: number[]): Buffer {
  if (bits.length === 0) return bitString(Buffer.alloc(0));
  const highest = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(highest / 8) + 1);
  for (const b of bits) bytes[b >> 3]! |= 0x80 >> (b & 7);
  return bitString(bytes, 7 - (highest & 7));
}

export function utf8String(s: string): Buffer {
  return tlv(Tag.UTF8_STRING, Buffer.from(s, 'utf8'));
}

export function printableString(s: string): Buffer {
  return tlv(Tag.PRINTABLE_STRING, Buffer.from(s, 'latin1'));
}

export function ia5String(s: string): Buffer {
  return tlv(Tag.IA5_STRING, Buffer.from(s, 'latin1'));
}

export function bmpString(s: string): Buffer {
  return tlv(Tag.BMP_STRING, Buffer.from(s, 'utf16le').swap16());
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

export function utcTime(d: Date): Buffer {
  const s = `${pad(d.getUTCFullYear() % 100)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}Z`;
  return tlv(Tag.UTC_TIME, Buffer.from(s, 'latin1'));
}

export function generalizedTime(d: Date): Buffer {
  const s = `${pad(d.getUTCFullYear(), 4)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}Z`;
  return tlv(Tag.GENERALIZED_TIME, Buffer.from(s, 'latin1'));
}

/** RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050 on. */
export function x509Time(d: Date): Buffer {
  const y = d.getUTCFullYear();
  return y >= 1950 && y < 2050 ? utcTime(d) : generalizedTime(d);
}

/** [n] EXPLICIT: wraps a complete encoding in a constructed context-specific tag. */
export function explicit(n: number, inner: Buffer): Buffer {
  return tlv(0xa0 | n, inner);
}

/** [n] IMPLICIT: replaces the tag of a complete encoding with a context-specific one. */
export function implicit(n: number, encoded: Buffer): Buffer {
  const constructed = (encoded[0]! & 0x20) !== 0;
  const out = Buffer.from(encoded);
  out[0] = (constructed ? 0xa0 : 0x80) | n;
  return out;
}

// ---------------------------------------------------------------- decoding

export interface Node {
  /** The identifier octet (class, constructed bit, number). */
  tag: number;
  constructed: boolean;
  /** The complete TLV as it appeared in the input (for signatures over exact bytes). */
  raw: Buffer;
  /** The value octets. */
  content: Buffer;
  children: Node[];
}

const MAX_DEPTH = 32;

function parseError(what: string): MtlsCaError {
  return new MtlsCaError('PARSE_FAILED', `decode ${what}: malformed ASN.1`);
}

/**
 * One TLV header at `at`: the tag, where the content starts, and its length (-1: BER indefinite, allowed
 * only on a constructed value). The content is not checked against the buffer's end.
 */
function readHeader(buf: Buffer, at: number, what: string): { tag: number; start: number; len: number } {
  let pos = at;
  if (pos + 2 > buf.length) throw parseError(what);
  const tag = buf[pos++]!;
  if ((tag & 0x1f) === 0x1f) throw parseError(what); // high tag numbers are not used by our formats
  let len = buf[pos++]!;
  if (len === 0x80) {
    if ((tag & 0x20) === 0) throw parseError(what);
    return { tag, start: pos, len: -1 };
  }
  if (len > 0x80) {
    const n = len & 0x7f;
    if (n > 4 || pos + n > buf.length) throw parseError(what);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[pos++]!;
  }
  return { tag, start: pos, len };
}

function decodeAt(buf: Buffer, start: number, depth: number, what: string): Node {
  if (depth > MAX_DEPTH) throw parseError(what);
  const h = readHeader(buf, start, what);
  const { tag } = h;
  const constructed = (tag & 0x20) !== 0;
  const pos = h.start;
  const indefinite = h.len === -1;
  const len = indefinite ? 0 : h.len;
  const children: Node[] = [];
  if (indefinite) {
    // BER indefinite length (some Windows and Java PKCS#12 writers): children until end-of-contents.
    let p = pos;
    for (;;) {
      if (p + 2 > buf.length) throw parseError(what);
      if (buf[p] === 0 && buf[p + 1] === 0) break;
      const child = decodeAt(buf, p, depth + 1, what);
      children.push(child);
      p += child.raw.length;
    }
    const content = Buffer.concat(children.map((c) => c.raw));
    return { tag, constructed, raw: buf.subarray(start, p + 2), content, children };
  }
  if (pos + len > buf.length) throw parseError(what);
  const content = buf.subarray(pos, pos + len);
  if (constructed) {
    let p = 0;
    while (p < content.length) {
      const child = decodeAt(content, p, depth + 1, what);
      children.push(child);
      p += child.raw.length;
    }
  }
  return { tag, constructed, raw: buf.subarray(start, pos + len), content, children };
}

/**
 * Decodes one complete ASN.1 value; trailing bytes are an error.
 * @param what - names the input in error messages (e.g. a file name)
 */
export function decode(buf: Buffer, what = 'input'): Node {
  const node = decodeAt(buf, 0, 0, what);
  if (node.raw.length !== buf.length) throw parseError(what);
  return node;
}

/**
 * The values directly inside one constructed DER value, found by their headers alone: nothing inside them
 * is decoded (cheap for a large value when only one child is wanted). Definite lengths only.
 * @param what - names the input in error messages
 */
export function shallowChildren(buf: Buffer, what = 'input'): { tag: number; raw: Buffer }[] {
  const header = (at: number): { tag: number; start: number; end: number } => {
    const h = readHeader(buf, at, what);
    if (h.len < 0 || h.start + h.len > buf.length) throw parseError(what);
    return { tag: h.tag, start: h.start, end: h.start + h.len };
  };
  const outer = header(0);
  if ((outer.tag & 0x20) === 0 || outer.end !== buf.length) throw parseError(what);
  const out: { tag: number; raw: Buffer }[] = [];
  for (let p = outer.start; p < outer.end; ) {
    const h = header(p);
    if (h.end > outer.end) throw parseError(what);
    out.push({ tag: h.tag, raw: buf.subarray(p, h.end) });
    p = h.end;
  }
  return out;
}

/** Returns the node, checking that it is present and has the expected tag. */
export function expectTag(node: Node | undefined, tag: number, what = 'input'): Node {
  if (!node || node.tag !== tag) throw parseError(what);
  return node;
}

export function readInteger(node: Node): bigint {
  if (node.tag !== Tag.INTEGER && node.tag !== Tag.ENUMERATED && (node.tag & 0xc0) !== 0x80) {
    throw parseError('INTEGER');
  }
  if (node.content.length === 0) throw parseError('INTEGER');
  let v = 0n;
  for (const b of node.content) v = (v << 8n) | BigInt(b);
  if (node.content[0]! & 0x80) v -= 1n << BigInt(node.content.length * 8);
  return v;
}

/** The INTEGER's content octets as lowercase hex, exactly as encoded (serials are shown this way). */
export function integerHex(node: Node): string {
  return node.content.toString('hex');
}

export function readOid(node: Node): string {
  if (node.tag !== Tag.OID || node.content.length === 0) throw parseError('OBJECT IDENTIFIER');
  const arcs: bigint[] = [];
  let v = 0n;
  for (const b of node.content) {
    v = (v << 7n) | BigInt(b & 0x7f);
    if ((b & 0x80) === 0) {
      arcs.push(v);
      v = 0n;
    }
  }
  const first = arcs.shift()!;
  const head = first < 80n ? [first / 40n, first % 40n] : [2n, first - 80n];
  return [...head, ...arcs].join('.');
}

export function readTime(node: Node): Date {
  const s = node.content.toString('latin1');
  const utc = node.tag === Tag.UTC_TIME ? s.match(/^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/) : null;
  if (utc) {
    const yy = Number(utc[1]);
    return new Date(
      Date.UTC(yy >= 50 ? 1900 + yy : 2000 + yy, +utc[2]! - 1, +utc[3]!, +utc[4]!, +utc[5]!, +utc[6]!),
    );
  }
  const gen =
    node.tag === Tag.GENERALIZED_TIME ? s.match(/^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\.\d+)?Z$/) : null;
  if (gen) {
    return new Date(Date.UTC(+gen[1]!, +gen[2]! - 1, +gen[3]!, +gen[4]!, +gen[5]!, +gen[6]!));
  }
  throw parseError('Time');
}

/** Text of any of the string types used in names and attributes. */
export function readString(node: Node): string {
  switch (node.tag) {
    case Tag.UTF8_STRING:
      return node.content.toString('utf8');
    case Tag.BMP_STRING:
      return Buffer.from(node.content).swap16().toString('utf16le');
    default:
      return node.content.toString('latin1');
  }
}

/** Value octets of an OCTET STRING, joining BER constructed segments if present. */
export function octetsOf(node: Node): Buffer {
  if ((node.tag & 0x1f) !== Tag.OCTET_STRING && (node.tag & 0xc0) !== 0x80) throw parseError('OCTET STRING');
  return node.constructed ? Buffer.concat(node.children.map(octetsOf)) : node.content;
}

/** Value bits of a BIT STRING without the unused-bits octet. */
export function bitsOf(node: Node): Buffer {
  if (node.tag !== Tag.BIT_STRING || node.content.length === 0) throw parseError('BIT STRING');
  return node.content.subarray(1);
}

/** Bit numbers set in a named-bit BIT STRING (KeyUsage). */
export function readNamedBits(node: Node): number[] {
  const bytes = bitsOf(node);
  const out: number[] = [];
  for (let i = 0; i < bytes.length * 8; i++) if (bytes[i >> 3]! & (0x80 >> (i & 7))) out.push(i);
  return out;
}

/**
 * Certificate revocation lists: v2 CRLs (RFC 5280 5) built as DER and signed with Node's native crypto, and
 * a parser for ours and other CAs' (`openssl ca -gencrl`). Built to stay linear for 100,000 entries.
 */
import type { Certificate } from './certificate.js';
import * as der from './der.js';
import { MtlsCaError } from './errors.js';
import {
  authorityKeyIdentifier,
  decodeExtensions,
  type Extension,
  encodeExtension,
  keyIdentifier,
} from './extensions.js';
import { sign, signatureAlgorithmFor, signatureAlgorithmName, verify } from './keys.js';
import { decodeName, formatName, type NameAttribute } from './names.js';
import { OID } from './oids.js';
import { isPem, pemBlocks, pemOrDer, toPem } from './pem.js';
import type { CertificateAuthority } from './profiles.js';

/** CRLReason names in code order (RFC 5280 5.3.1); code 7 is unused, so codes run 0..6 and 8..10. */
export const REVOCATION_REASONS = [
  'unspecified',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'removeFromCRL',
  'privilegeWithdrawn',
  'aACompromise',
] as const;
export type RevocationReason = (typeof REVOCATION_REASONS)[number];

/** The CRLReason ENUMERATED value of a reason name. */
export function reasonCode(reason: RevocationReason): number {
  const i = REVOCATION_REASONS.indexOf(reason);
  if (i < 0)
    throw new MtlsCaError('INVALID_ARGUMENT', `use revocation reason ${JSON.stringify(reason)}: unknown`);
  return i < 7 ? i : i + 1;
}

function reasonOf(code: bigint, what: string): RevocationReason {
  const n = Number(code);
  const reason = n >= 0 && n <= 10 && n !== 7 ? REVOCATION_REASONS[n < 7 ? n : n - 1] : undefined;
  if (!reason) throw new MtlsCaError('PARSE_FAILED', `read ${what}: unknown CRL reason code ${code}`);
  return reason;
}

export interface RevokedEntry {
  /** The certificate's serial: its INTEGER content octets as lowercase hex, like {@link Certificate.serialHex}. */
  serialHex: string;
  revokedAt: Date;
  /** Absent when unspecified: RFC 5280 5.3.1 asks CRL issuers not to write the `unspecified` code. */
  reason?: RevocationReason;
}

/** RFC 5280 5.2.3: a CRL number is a non-negative INTEGER of at most 20 octets. */
const MAX_CRL_NUMBER = (1n << 159n) - 1n;
/**
 * RFC 5280 4.1.2.2 allows 20 octets; we accept up to 64 for other CAs' certificates. It also keeps every entry
 * under 128 octets, so each entry's header is two bytes and the list is written in one pass.
 */
const MAX_SERIAL_OCTETS = 64;

function malformed(what: string, cause = 'not a valid X.509 CRL'): MtlsCaError {
  return new MtlsCaError('PARSE_FAILED', `read ${what}: ${cause}`);
}

/** The reasonCode entry extension (`Extensions` holding one non-critical cRLReason) for a reason code. */
function reasonExtensions(code: number): Buffer {
  return der.sequence(encodeExtension({ oid: OID.cRLReason, critical: false, value: der.enumerated(code) }));
}

/** Each reason's encoding, made once: a CRL of 100,000 entries reuses ten buffers. */
const REASON_EXTENSIONS = new Map<RevocationReason, Buffer>(
  REVOCATION_REASONS.map((r) => [r, reasonExtensions(reasonCode(r))]),
);

/** RFC 5280 5.1.2.4/5.1.2.6: UTCTime for 1950..2049, GeneralizedTime otherwise; text equal to der.x509Time. */
function x509TimeText(d: Date, field: string): { tag: number; text: string } {
  const year = d.getUTCFullYear();
  if (Number.isNaN(year) || year < 1950 || year > 9999) {
    throw new MtlsCaError('INVALID_ARGUMENT', `create CRL: ${field} is not a date between 1950 and 9999`);
  }
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const text = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return year < 2050
    ? { tag: der.Tag.UTC_TIME, text: text.slice(2) }
    : { tag: der.Tag.GENERALIZED_TIME, text };
}

/**
 * The revokedCertificates SEQUENCE OF, written straight into one buffer: at 100,000 entries, building a
 * Buffer per TLV spends most of its time in the garbage collector.
 */
function encodeRevokedList(revoked: RevokedEntry[]): Buffer {
  const serials: string[] = new Array(revoked.length);
  const times: { tag: number; text: string }[] = new Array(revoked.length);
  const extensions: (Buffer | undefined)[] = new Array(revoked.length);
  const seen = new Set<string>();
  let total = 0;
  for (const [i, entry] of revoked.entries()) {
    const serial = entry.serialHex.toLowerCase();
    if (!/^(?:[0-9a-f]{2})+$/.test(serial) || serial.length > MAX_SERIAL_OCTETS * 2) {
      throw new MtlsCaError(
        'INVALID_ARGUMENT',
        `create CRL: serial ${JSON.stringify(entry.serialHex)} is not 1 to ${MAX_SERIAL_OCTETS} octets of hex`,
      );
    }
    // DER INTEGERs are minimal (X.690 8.3.2): OpenSSL refuses a whole CRL with one padded serial in it.
    if (/^(?:00[0-7]|ff[89a-f])/.test(serial)) {
      throw new MtlsCaError(
        'INVALID_ARGUMENT',
        `create CRL: serial ${serial} is not minimally encoded (a padding octet)`,
      );
    }
    if (seen.has(serial)) {
      throw new MtlsCaError('INVALID_ARGUMENT', `create CRL: serial ${serial} is listed twice`);
    }
    seen.add(serial);
    if (entry.reason === 'removeFromCRL') {
      throw new MtlsCaError(
        'INVALID_ARGUMENT',
        `create CRL: serial ${serial} has reason removeFromCRL, which only delta CRLs may use (RFC 5280 5.3.1)`,
      );
    }
    if (entry.reason !== undefined && !REASON_EXTENSIONS.has(entry.reason)) {
      throw new MtlsCaError(
        'INVALID_ARGUMENT',
        `create CRL: unknown revocation reason ${JSON.stringify(entry.reason)}`,
      );
    }
    serials[i] = serial;
    times[i] = x509TimeText(entry.revokedAt, `the revocation date of serial ${serial}`);
    // RFC 5280 5.3.1: "the reason code CRL entry extension SHOULD be absent instead of using unspecified".
    extensions[i] =
      entry.reason && entry.reason !== 'unspecified' ? REASON_EXTENSIONS.get(entry.reason) : undefined;
    total += 2 + (2 + serial.length / 2) + (2 + times[i]!.text.length) + (extensions[i]?.length ?? 0);
  }
  const out = Buffer.allocUnsafe(total);
  let p = 0;
  for (let i = 0; i < revoked.length; i++) {
    const serialLength = serials[i]!.length / 2;
    const time = times[i]!;
    const ext = extensions[i];
    out[p++] = der.Tag.SEQUENCE;
    out[p++] = 2 + serialLength + 2 + time.text.length + (ext?.length ?? 0);
    // The serial's content octets are copied as given, so the entry matches the certificate byte for byte.
    out[p++] = der.Tag.INTEGER;
    out[p++] = serialLength;
    p += out.write(serials[i]!, p, 'hex');
    out[p++] = time.tag;
    out[p++] = time.text.length;
    p += out.write(time.text, p, 'latin1');
    if (ext) p += ext.copy(out, p);
  }
  return der.tlv(der.Tag.SEQUENCE, out);
}

/**
 * Builds a v2 CRL signed by the CA: cRLNumber and authorityKeyIdentifier extensions, and per entry a
 * reasonCode extension unless the reason is unspecified.
 * @param o.ca - the issuing CA (certificate and private key)
 * @param o.crlNumber - monotonically increasing sequence number (RFC 5280 5.2.3); the caller keeps the count
 * @param o.thisUpdate - issue time; default now. Times are encoded to the second.
 * @param o.nextUpdate - when the next CRL will be issued; must be after `thisUpdate`
 * @param o.revoked - the revoked certificates, written in the given order; empty is allowed. Serials must be
 *   distinct; `removeFromCRL` is refused (delta CRLs only).
 */
export function createCrl(o: {
  ca: CertificateAuthority;
  crlNumber: bigint;
  thisUpdate?: Date;
  nextUpdate: Date;
  revoked: RevokedEntry[];
}): Crl {
  const thisUpdate = o.thisUpdate ?? new Date();
  if (!(o.nextUpdate > thisUpdate)) {
    throw new MtlsCaError(
      'INVALID_ARGUMENT',
      `create CRL: nextUpdate ${o.nextUpdate.toISOString()} is not after thisUpdate ${thisUpdate.toISOString()}`,
    );
  }
  if (o.crlNumber < 0n || o.crlNumber > MAX_CRL_NUMBER) {
    throw new MtlsCaError('INVALID_ARGUMENT', `create CRL: CRL number ${o.crlNumber} is out of range`);
  }
  const algorithm = signatureAlgorithmFor(o.ca.privateKey);
  const caCert = o.ca.certificate;
  const caKeyId = caCert.subjectKeyIdentifier ?? keyIdentifier(caCert.publicKey);
  const tbs = der.sequence(
    der.integer(1), // v2: required because the CRL has extensions (RFC 5280 5.1.2.1)
    algorithm,
    caCert.subjectDer,
    der.x509Time(thisUpdate),
    der.x509Time(o.nextUpdate),
    // RFC 5280 5.1.2.6: with no revoked certificates the list MUST be absent, not empty.
    ...(o.revoked.length > 0 ? [encodeRevokedList(o.revoked)] : []),
    der.explicit(
      0,
      der.sequence(
        encodeExtension(authorityKeyIdentifier(caKeyId)),
        encodeExtension({ oid: OID.cRLNumber, critical: false, value: der.integer(o.crlNumber) }),
      ),
    ),
  );
  return new Crl(der.sequence(tbs, algorithm, der.bitString(sign(o.ca.privateKey, tbs))), 'new CRL');
}

/** Where one definite-length TLV sits in a buffer. */
interface Span {
  tag: number;
  start: number;
  body: number;
  end: number;
}

/**
 * Reads one TLV header without building a tree. A CRL is DER (it is signed), so indefinite lengths are
 * malformed here; the entries of a large CRL are walked with this instead of der.decode, which would create
 * several Buffer views per entry.
 */
function spanAt(buf: Buffer, pos: number, limit: number, what: string): Span {
  if (pos + 2 > limit) throw malformed(what);
  const tag = buf[pos]!;
  let len = buf[pos + 1]!;
  let body = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || body + n > limit) throw malformed(what);
    len = 0;
    for (let k = 0; k < n; k++) len = len * 256 + buf[body++]!;
  }
  if (body + len > limit) throw malformed(what);
  return { tag, start: pos, body, end: body + len };
}

function childSpans(buf: Buffer, parent: Span, tag: number, what: string): Span[] {
  if (parent.tag !== tag) throw malformed(what);
  const out: Span[] = [];
  for (let p = parent.body; p < parent.end; ) {
    const child = spanAt(buf, p, parent.end, what);
    out.push(child);
    p = child.end;
  }
  return out;
}

/** Reason codes as we and openssl encode them, for a byte comparison before a full decode. */
const KNOWN_REASON_EXTENSIONS = [...REASON_EXTENSIONS].map(([reason, bytes]) => ({ reason, bytes }));

/** A primitive node over a span, without a second decode (one view instead of three per entry). */
function primitiveNode(buf: Buffer, span: Span): der.Node {
  const content = buf.subarray(span.body, span.end);
  return { tag: span.tag, constructed: false, raw: content, content, children: [] };
}

function readEntry(buf: Buffer, span: Span, what: string): RevokedEntry {
  const [serial, date, extensions] = childSpans(buf, span, der.Tag.SEQUENCE, what);
  if (!serial || serial.tag !== der.Tag.INTEGER || serial.end === serial.body || !date) throw malformed(what);
  const entry: RevokedEntry = {
    serialHex: buf.toString('hex', serial.body, serial.end),
    revokedAt: der.readTime(primitiveNode(buf, date)),
  };
  if (extensions) {
    const known = KNOWN_REASON_EXTENSIONS.find(
      (k) => buf.compare(k.bytes, 0, k.bytes.length, extensions.start, extensions.end) === 0,
    );
    if (known) {
      entry.reason = known.reason;
    } else {
      const exts = decodeExtensions(der.decode(buf.subarray(extensions.start, extensions.end), what));
      const reason = exts.find((e) => e.oid === OID.cRLReason);
      if (reason) entry.reason = reasonOf(der.readInteger(der.decode(reason.value, what)), what);
    }
  }
  return entry;
}

/** A parsed CRL. Parsing does not check the signature: call {@link Crl.isSignedBy} with the expected CA. */
export class Crl {
  readonly der: Buffer;
  /** DER of the TBSCertList (the signed bytes). */
  readonly tbs: Buffer;
  readonly issuerDer: Buffer;
  readonly issuer: NameAttribute[];
  readonly thisUpdate: Date;
  /** Required here, as RFC 5280 5.1.2.5 requires conforming issuers to include it. */
  readonly nextUpdate: Date;
  /** The cRLNumber extension: required here, as RFC 5280 5.2.3 requires it in every CRL. */
  readonly crlNumber: bigint;
  /** The authorityKeyIdentifier keyIdentifier, when present. */
  readonly authorityKeyIdentifier?: Buffer;
  /** In CRL order. `reason` is absent when the entry has no reasonCode (ours omit `unspecified`). */
  readonly revoked: RevokedEntry[];
  readonly extensions: Extension[];
  /** OID of the signature algorithm (see {@link Crl.signatureAlgorithmName}). */
  readonly signatureAlgorithm: string;
  readonly signature: Buffer;

  /**
   * @param input - DER bytes
   * @param what - names the input in errors (a file path)
   * @throws MtlsCaError `PARSE_FAILED` when malformed or when nextUpdate or the CRL number is missing
   */
  constructor(input: Buffer, what = 'CRL') {
    try {
      const buf = Buffer.from(input);
      const root = spanAt(buf, 0, buf.length, what);
      if (root.end !== buf.length) throw malformed(what);
      const [tbsSpan, algSpan, sigSpan, extra] = childSpans(buf, root, der.Tag.SEQUENCE, what);
      if (!tbsSpan || !algSpan || !sigSpan || extra) throw malformed(what);
      const fields = childSpans(buf, tbsSpan, der.Tag.SEQUENCE, what);
      const node = (s: Span | undefined) => (s ? der.decode(buf.subarray(s.start, s.end), what) : undefined);
      let i = 0;
      if (fields[i]?.tag === der.Tag.INTEGER) {
        if (der.readInteger(node(fields[i++])!) !== 1n) throw malformed(what, 'unknown CRL version');
      }
      i++; // signature algorithm (repeated outside the signed part)
      const issuer = der.expectTag(node(fields[i++]), der.Tag.SEQUENCE, what);
      this.thisUpdate = der.readTime(node(fields[i++])!);
      if (fields[i]?.tag !== der.Tag.UTC_TIME && fields[i]?.tag !== der.Tag.GENERALIZED_TIME) {
        throw malformed(what, 'the CRL has no nextUpdate (RFC 5280 5.1.2.5)');
      }
      this.nextUpdate = der.readTime(node(fields[i++])!);
      this.revoked = [];
      if (fields[i]?.tag === der.Tag.SEQUENCE) {
        for (const entry of childSpans(buf, fields[i++]!, der.Tag.SEQUENCE, what)) {
          this.revoked.push(readEntry(buf, entry, what));
        }
      }
      const extWrapper = fields[i]?.tag === 0xa0 ? node(fields[i++]) : undefined;
      if (i !== fields.length) throw malformed(what);
      this.extensions = extWrapper
        ? decodeExtensions(der.expectTag(extWrapper.children[0], der.Tag.SEQUENCE, what))
        : [];
      const crlNumber = this.extensions.find((e) => e.oid === OID.cRLNumber);
      if (!crlNumber) throw malformed(what, 'the CRL has no CRL number (RFC 5280 5.2.3)');
      this.crlNumber = der.readInteger(der.decode(crlNumber.value, what));
      const aki = this.extensions.find((e) => e.oid === OID.authorityKeyIdentifier);
      if (aki) {
        this.authorityKeyIdentifier = der
          .decode(aki.value, what)
          .children.find((c) => c.tag === 0x80)?.content;
      }
      this.der = buf;
      this.tbs = buf.subarray(tbsSpan.start, tbsSpan.end);
      this.issuerDer = issuer.raw;
      this.issuer = decodeName(issuer);
      this.signatureAlgorithm = der.readOid(
        der.expectTag(node(algSpan), der.Tag.SEQUENCE, what).children[0]!,
      );
      this.signature = der.bitsOf(der.expectTag(node(sigSpan), der.Tag.BIT_STRING, what));
    } catch (e) {
      if (e instanceof MtlsCaError && e.message.startsWith(`read ${what}:`)) throw e;
      // Missing or misplaced fields surface as TypeErrors or decoder errors: all mean a malformed CRL.
      throw new MtlsCaError('PARSE_FAILED', `read ${what}: not a valid X.509 CRL`, undefined, e);
    }
  }

  /**
   * Reads PEM (`X509 CRL`) or DER.
   * @param what - names the input in errors (a file path)
   */
  static from(data: Buffer | string, what: string): Crl {
    return new Crl(pemOrDer(data, ['X509 CRL'], what), what);
  }

  /**
   * Every CRL of a file: each `X509 CRL` block of PEM text, in order (a bundle, as nginx's `ssl_crl` and
   * `openssl verify -CRLfile` read one), or the one CRL of DER input.
   * @param what - names the input in errors (a file path)
   * @throws MtlsCaError `PARSE_FAILED` when a block is not a CRL, or PEM text holds none
   */
  static allFrom(data: Buffer | string, what: string): Crl[] {
    if (!isPem(data)) return [Crl.from(data, what)];
    const text = typeof data === 'string' ? data : data.toString('latin1');
    const crls = pemBlocks(text)
      .filter((b) => b.label === 'X509 CRL')
      .map((b) => new Crl(b.der, what));
    if (crls.length === 0) throw new MtlsCaError('PARSE_FAILED', `read ${what}: no X509 CRL PEM block found`);
    return crls;
  }

  get issuerName(): string {
    return formatName(this.issuer);
  }

  get signatureAlgorithmName(): string {
    return signatureAlgorithmName(this.signatureAlgorithm);
  }

  /** True when the CRL names `ca` as its issuer and `ca`'s key signed it. */
  isSignedBy(ca: Certificate): boolean {
    return (
      this.issuerDer.equals(ca.subjectDer) &&
      verify(ca.publicKey, this.signatureAlgorithm, this.tbs, this.signature)
    );
  }

  toPem(): string {
    return toPem('X509 CRL', this.der);
  }
}

/** X.509 v3 certificates: assembled here as DER, signed with Node's native crypto, and parsed back. */
import crypto, { type KeyObject } from 'node:crypto';
import * as der from './der.js';
import { MtlsCaError } from './errors.js';
import {
  decodeAuthorityInfoAccess,
  decodeCrlDistributionPoints,
  decodeExtensions,
  decodeSubjectAltNames,
  type Extension,
  encodeExtension,
  KeyUsageBit,
  type SubjectAltNames,
} from './extensions.js';
import {
  type SigningKey,
  sign,
  signatureAlgorithmFor,
  signatureAlgorithmName,
  subjectPublicKeyInfo,
  verify,
} from './keys.js';
import { commonNameOf, decodeName, formatName, type NameAttribute } from './names.js';
import { OID } from './oids.js';
import { pemOrDer, toPem } from './pem.js';

export interface CertificateTemplate {
  /** Unsigned big-endian serial (see {@link randomSerial}). */
  serial: Buffer;
  /** DER Name of the issuer (the CA certificate's subject, byte for byte). */
  issuer: Buffer;
  /** DER Name of the subject. */
  subject: Buffer;
  notBefore: Date;
  notAfter: Date;
  publicKey: KeyObject;
  extensions: Extension[];
}

/**
 * 16 random bytes with the top bit clear and a non-zero first byte: always a positive INTEGER of exactly
 * 16 octets (RFC 5280 4.1.2.2: positive, at most 20 octets; CA/B BR 7.1: at least 64 random bits).
 */
export function randomSerial(): Buffer {
  const b = crypto.randomBytes(16);
  b[0] = b[0]! & 0x7f || 0x01;
  return b;
}

/**
 * A serial in one spelling whatever wrote it: lowercase hex without leading zeros (`0` for zero). OpenSSL's
 * index.txt and `openssl x509 -serial` write `E66A…`, while a certificate's DER INTEGER of the same value is `00e66a…` (a positive number
 * whose top bit is set takes a zero octet in front).
 * @param hex - hex digits, in any case, with or without leading zeros
 */
export function canonicalSerial(hex: string): string {
  return hex.toLowerCase().replace(/^0+(?=.)/, '');
}

/** Builds the TBSCertificate, signs it with `issuerKey` and returns the certificate. */
export function signCertificate(t: CertificateTemplate, issuerKey: SigningKey): Certificate {
  if (t.notAfter <= t.notBefore) {
    throw new MtlsCaError('INVALID_ARGUMENT', 'issue certificate: notAfter is not after notBefore');
  }
  const algorithm = signatureAlgorithmFor(issuerKey);
  const tbs = der.sequence(
    der.explicit(0, der.integer(2)), // v3
    der.integer(t.serial),
    algorithm,
    t.issuer,
    der.sequence(der.x509Time(t.notBefore), der.x509Time(t.notAfter)),
    t.subject,
    subjectPublicKeyInfo(t.publicKey),
    der.explicit(3, der.sequence(...t.extensions.map(encodeExtension))),
  );
  return assembleCertificate(tbs, issuerKey, sign(issuerKey, tbs));
}

/**
 * The certificate of a TBSCertificate and its signature, made elsewhere: by a key that signs where it lives,
 * reached from another thread.
 * @param tbs - the TBSCertificate DER that was signed
 * @param issuerKey - the issuer's key, or its public half: it names the signature algorithm
 * @param signature - the signature over `tbs`
 */
export function assembleCertificate(tbs: Buffer, issuerKey: SigningKey, signature: Buffer): Certificate {
  return new Certificate(der.sequence(tbs, signatureAlgorithmFor(issuerKey), der.bitString(signature)));
}

const EKU_NAMES = new Map<string, string>([
  [OID.serverAuth, 'serverAuth'],
  [OID.clientAuth, 'clientAuth'],
  [OID.ocspSigning, 'ocspSigning'],
]);

/** A parsed certificate. The constructor validates the DER; everything else is derived lazily. */
export class Certificate {
  readonly der: Buffer;
  readonly tbs: Buffer;
  readonly serialHex: string;
  readonly signatureAlgorithm: string;
  readonly issuerDer: Buffer;
  readonly subjectDer: Buffer;
  readonly issuer: NameAttribute[];
  readonly subject: NameAttribute[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly spki: Buffer;
  readonly extensions: Extension[];
  readonly signature: Buffer;
  #x509?: crypto.X509Certificate;
  #publicKey?: KeyObject;

  /**
   * @param input - DER bytes
   * @param what - names the input in errors (a file path)
   */
  constructor(input: Buffer, what = 'certificate') {
    try {
      const root = der.decode(input, what);
      const [tbsNode, alg, sig] = root.children;
      der.expectTag(tbsNode, der.Tag.SEQUENCE, what);
      const fields = tbsNode!.children;
      let i = fields[0]?.tag === 0xa0 ? 1 : 0;
      const serial = der.expectTag(fields[i++], der.Tag.INTEGER, what);
      i++; // signature algorithm (repeated outside)
      const issuer = fields[i++]!;
      const validity = fields[i++]!;
      const subject = fields[i++]!;
      const spki = der.expectTag(fields[i++], der.Tag.SEQUENCE, what);
      const extWrapper = fields.slice(i).find((f) => f.tag === 0xa3);
      this.der = Buffer.from(input);
      this.tbs = tbsNode!.raw;
      this.serialHex = der.integerHex(serial);
      this.signatureAlgorithm = der.readOid(alg!.children[0]!);
      this.issuerDer = issuer.raw;
      this.subjectDer = subject.raw;
      this.issuer = decodeName(issuer);
      this.subject = decodeName(subject);
      this.notBefore = der.readTime(validity.children[0]!);
      this.notAfter = der.readTime(validity.children[1]!);
      this.spki = spki.raw;
      this.extensions = extWrapper ? decodeExtensions(extWrapper.children[0]!) : [];
      this.signature = der.bitsOf(sig!);
    } catch (e) {
      // A well-formed DER value with missing fields fails above as a TypeError: malformed as well.
      if (e instanceof MtlsCaError && e.code !== 'PARSE_FAILED') throw e;
      throw new MtlsCaError('PARSE_FAILED', `read ${what}: not a valid X.509 certificate`, undefined, e);
    }
  }

  /** Reads PEM (`CERTIFICATE`) or DER. */
  static from(data: Buffer | string, what = 'certificate'): Certificate {
    return new Certificate(pemOrDer(data, ['CERTIFICATE'], what), what);
  }

  /** Every CERTIFICATE block of a PEM bundle, in order. */
  static allFromPem(text: string, what = 'certificate bundle'): Certificate[] {
    const out: Certificate[] = [];
    for (const m of text.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)) {
      out.push(Certificate.from(m[0], what));
    }
    return out;
  }

  toPem(): string {
    return toPem('CERTIFICATE', this.der);
  }

  get x509(): crypto.X509Certificate {
    this.#x509 ??= new crypto.X509Certificate(this.der);
    return this.#x509;
  }

  /** Parsed once: a CA's key checks every certificate of a list, a CRL and the audit log. */
  get publicKey(): KeyObject {
    this.#publicKey ??= crypto.createPublicKey({ key: this.spki, format: 'der', type: 'spki' });
    return this.#publicKey;
  }

  get subjectName(): string {
    return formatName(this.subject);
  }

  get issuerName(): string {
    return formatName(this.issuer);
  }

  get commonName(): string | undefined {
    return commonNameOf(this.subject);
  }

  /** SHA-256 of the DER, uppercase hex with colons (as openssl and keytool print it). */
  get fingerprint256(): string {
    return fingerprint(this.der);
  }

  extension(oid: string): Extension | undefined {
    return this.extensions.find((e) => e.oid === oid);
  }

  get isCa(): boolean {
    const bc = this.extension(OID.basicConstraints);
    if (!bc) return false;
    const first = der.decode(bc.value).children[0];
    return first?.tag === der.Tag.BOOLEAN && first.content[0] !== 0;
  }

  /** basicConstraints' pathLenConstraint: how many CAs may stand below this one; undefined when unlimited. */
  get pathLength(): number | undefined {
    const bc = this.extension(OID.basicConstraints);
    const limit = bc ? der.decode(bc.value).children.find((c) => c.tag === der.Tag.INTEGER) : undefined;
    return limit ? Number(der.readInteger(limit)) : undefined;
  }

  /** Whether the certificate names itself as its issuer (a root). */
  get isSelfIssued(): boolean {
    return this.issuerDer.equals(this.subjectDer);
  }

  get keyUsage(): string[] {
    const ku = this.extension(OID.keyUsage);
    if (!ku) return [];
    const bits = der.readNamedBits(der.decode(ku.value));
    return Object.entries(KeyUsageBit)
      .filter(([, bit]) => bits.includes(bit))
      .map(([name]) => name);
  }

  /** Extended key usages by name (`serverAuth`, `clientAuth`, `ocspSigning`) or OID. */
  get extendedKeyUsage(): string[] {
    const eku = this.extension(OID.extKeyUsage);
    if (!eku) return [];
    return der.decode(eku.value).children.map((n) => {
      const o = der.readOid(n);
      return EKU_NAMES.get(o) ?? o;
    });
  }

  /**
   * Where the certificate says its revocation status and its issuer are published: the URIs of its
   * cRLDistributionPoints and authorityInfoAccess extensions (empty lists without them).
   */
  get revocationUrls(): { crl: string[]; ocsp: string[]; caIssuers: string[] } {
    const dp = this.extension(OID.cRLDistributionPoints);
    const aia = this.extension(OID.authorityInfoAccess);
    return {
      crl: dp ? decodeCrlDistributionPoints(dp.value) : [],
      ...(aia ? decodeAuthorityInfoAccess(aia.value) : { ocsp: [], caIssuers: [] }),
    };
  }

  get subjectAltNames(): SubjectAltNames {
    const san = this.extension(OID.subjectAltName);
    return san ? decodeSubjectAltNames(san.value) : { dns: [], ip: [], email: [], uri: [] };
  }

  get subjectKeyIdentifier(): Buffer | undefined {
    const ski = this.extension(OID.subjectKeyIdentifier);
    return ski ? der.octetsOf(der.decode(ski.value)) : undefined;
  }

  get authorityKeyIdentifier(): Buffer | undefined {
    const aki = this.extension(OID.authorityKeyIdentifier);
    const id = aki ? der.decode(aki.value).children.find((c) => c.tag === 0x80) : undefined;
    return id?.content;
  }

  get signatureAlgorithmName(): string {
    return signatureAlgorithmName(this.signatureAlgorithm);
  }

  /** True when `issuer`'s key signed this certificate and the names chain. */
  isIssuedBy(issuer: Certificate): boolean {
    return (
      this.issuerDer.equals(issuer.subjectDer) &&
      verify(issuer.publicKey, this.signatureAlgorithm, this.tbs, this.signature)
    );
  }

  /** Validity at `at`: `valid`, `expired` or `not-yet-valid`. */
  validityAt(at: Date = new Date()): 'valid' | 'expired' | 'not-yet-valid' {
    if (at < this.notBefore) return 'not-yet-valid';
    if (at > this.notAfter) return 'expired';
    return 'valid';
  }
}

/** SHA-256 of DER bytes as `AB:CD:…`. */
export function fingerprint(derBytes: Buffer): string {
  return crypto
    .createHash('sha256')
    .update(derBytes)
    .digest('hex')
    .toUpperCase()
    .replace(/(..)(?!$)/g, '$1:');
}

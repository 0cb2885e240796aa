/**
 * PKCS#10 certificate signing requests (RFC 2986). The SAN travels in a PKCS#9 extensionRequest attribute
 * (RFC 2985 5.4.2), which is where `openssl req -addext`, keytool `-certreq -ext` and Go's x509 put it.
 */
import crypto, { type KeyObject } from 'node:crypto';
import * as der from './der.js';
import { MtlsCaError } from './errors.js';
import {
  decodeExtensions,
  decodeSubjectAltNames,
  type Extension,
  encodeExtension,
  otherAltNameTypes,
  type SubjectAltNames,
  subjectAltName,
} from './extensions.js';
import { sign, signatureAlgorithmFor, signatureAlgorithmName, subjectPublicKeyInfo, verify } from './keys.js';
import {
  commonNameOf,
  type DistinguishedName,
  decodeName,
  encodeName,
  formatName,
  type NameAttribute,
} from './names.js';
import { OID } from './oids.js';
import { pemOrDer, toPem } from './pem.js';

/** Both labels are in use: RFC 7468 7 names `CERTIFICATE REQUEST`; older Netscape/Microsoft tools write `NEW`. */
const CSR_LABELS = ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST'];

function hasAltNames(names: SubjectAltNames | undefined): names is SubjectAltNames {
  return !!names && Object.values(names).some((list) => list && list.length > 0);
}

/**
 * Builds and signs a PKCS#10 request.
 * @param o.privateKey - the key that signs the request; its public half goes in the request
 * @param o.subject - the requested subject name (may be empty when `altNames` is given)
 * @param o.altNames - requested SAN entries; when the subject has no CN the SAN is marked critical
 *   (RFC 5280 4.2.1.6), as in the certificates we issue
 */
export function createCsr(o: {
  privateKey: KeyObject;
  subject: DistinguishedName;
  altNames?: SubjectAltNames;
}): Csr {
  return new Csr(encodeCsr(o), 'new CSR');
}

/**
 * The DER of the request {@link createCsr} makes, without parsing it back and verifying it (OpenSSL 3 would
 * decode the key again; docs/performance.md) — for a caller that made the key itself and only writes it.
 */
export function encodeCsr(o: {
  privateKey: KeyObject;
  subject: DistinguishedName;
  altNames?: SubjectAltNames;
}): Buffer {
  if (o.privateKey.type !== 'private') {
    throw new MtlsCaError('INVALID_ARGUMENT', 'create CSR: the key given is not a private key');
  }
  const attributes: Buffer[] = [];
  if (hasAltNames(o.altNames)) {
    const extensions = der.sequence(encodeExtension(subjectAltName(o.altNames, !o.subject.commonName)));
    attributes.push(der.sequence(der.oid(OID.extensionRequest), der.set(extensions)));
  }
  const info = der.sequence(
    der.integer(0), // v1, the only version (RFC 2986 4.1)
    encodeName(o.subject),
    subjectPublicKeyInfo(o.privateKey),
    // attributes [0] IMPLICIT SET OF Attribute: always present, even when empty, as RFC 2986 requires.
    der.implicit(0, der.set(...attributes)),
  );
  const algorithm = signatureAlgorithmFor(o.privateKey);
  return der.sequence(info, algorithm, der.bitString(sign(o.privateKey, info)));
}

/**
 * A parsed PKCS#10 request whose self-signature has been verified: holding a `Csr` means the requester holds
 * the private key of {@link Csr.publicKey}.
 */
export class Csr {
  readonly der: Buffer;
  /** DER of the CertificationRequestInfo (the signed bytes). */
  readonly info: Buffer;
  /** DER of the subject Name, byte for byte. */
  readonly subjectDer: Buffer;
  readonly subject: NameAttribute[];
  readonly publicKey: KeyObject;
  /** Every extension in the extensionRequest attribute (empty when there is none). */
  readonly requestedExtensions: Extension[];
  /** The requested SAN entries; all four lists are present (empty when nothing was requested). */
  readonly altNames: SubjectAltNames;
  /** Requested SAN entries of other types (`otherName`, `directoryName`, …), which we never issue. */
  readonly otherAltNames: string[];
  /** OID of the signature algorithm (see {@link Csr.signatureAlgorithmName}). */
  readonly signatureAlgorithm: string;
  readonly signature: Buffer;

  /**
   * Parses DER and verifies the signature.
   * @param input - DER bytes
   * @param what - names the input in errors (a file path)
   * @throws MtlsCaError `PARSE_FAILED` when malformed, `BAD_SIGNATURE` when the signature does not verify,
   *   `UNSUPPORTED` for a signature algorithm we do not verify (RSA-PSS, …)
   */
  constructor(input: Buffer, what = 'CSR') {
    let sanCount = 0;
    try {
      const root = der.decode(input, what);
      const [infoNode, algNode, sigNode] = root.children;
      der.expectTag(root, der.Tag.SEQUENCE, what);
      if (root.children.length !== 3) throw new MtlsCaError('PARSE_FAILED', 'three fields expected');
      der.expectTag(infoNode, der.Tag.SEQUENCE, what);
      const [version, subject, spki, attributes] = infoNode!.children;
      if (der.readInteger(der.expectTag(version, der.Tag.INTEGER, what)) !== 0n) {
        throw new MtlsCaError('PARSE_FAILED', 'unknown version');
      }
      der.expectTag(spki, der.Tag.SEQUENCE, what);
      der.expectTag(attributes, 0xa0, what);
      this.der = Buffer.from(input);
      this.info = infoNode!.raw;
      this.subjectDer = subject!.raw;
      this.subject = decodeName(subject!);
      this.publicKey = crypto.createPublicKey({ key: spki!.raw, format: 'der', type: 'spki' });
      this.requestedExtensions = [];
      for (const attr of attributes!.children) {
        const [type, values] = der.expectTag(attr, der.Tag.SEQUENCE, what).children;
        if (der.readOid(type!) !== OID.extensionRequest) continue;
        const exts = der.expectTag(
          der.expectTag(values, der.Tag.SET, what).children[0],
          der.Tag.SEQUENCE,
          what,
        );
        this.requestedExtensions.push(...decodeExtensions(exts));
      }
      const sans = this.requestedExtensions.filter((e) => e.oid === OID.subjectAltName);
      sanCount = sans.length;
      const san = sans[0];
      this.altNames = san ? decodeSubjectAltNames(san.value) : { dns: [], ip: [], email: [], uri: [] };
      this.otherAltNames = san ? otherAltNameTypes(san.value) : [];
      this.signatureAlgorithm = der.readOid(der.expectTag(algNode, der.Tag.SEQUENCE, what).children[0]!);
      this.signature = der.bitsOf(der.expectTag(sigNode, der.Tag.BIT_STRING, what));
    } catch (e) {
      // Any failure to take the structure apart (missing fields, a key Node cannot load) is a malformed file.
      throw new MtlsCaError(
        'PARSE_FAILED',
        `read ${what}: not a valid PKCS#10 certificate request`,
        undefined,
        e,
      );
    }
    if (sanCount > 1) {
      // Which one counts would be up to each reader (RFC 5280 4.2: an extension appears at most once).
      throw new MtlsCaError(
        'PARSE_FAILED',
        `read ${what}: the request has ${sanCount} subjectAltName extensions`,
        'put every name in one subjectAltName extension',
      );
    }
    if (!verify(this.publicKey, this.signatureAlgorithm, this.info, this.signature)) {
      throw new MtlsCaError(
        'BAD_SIGNATURE',
        `verify ${what}: the request's signature does not match its public key`,
        'the request was altered or corrupted after it was signed; create it again',
      );
    }
  }

  get subjectName(): string {
    return formatName(this.subject);
  }

  get commonName(): string | undefined {
    return commonNameOf(this.subject);
  }

  get signatureAlgorithmName(): string {
    return signatureAlgorithmName(this.signatureAlgorithm);
  }

  toPem(): string {
    return toPem('CERTIFICATE REQUEST', this.der);
  }
}

/**
 * Reads a CSR from PEM (`CERTIFICATE REQUEST` or `NEW CERTIFICATE REQUEST`) or DER and verifies its signature.
 * @param data - the file contents
 * @param what - names the input in errors (a file path)
 * @throws MtlsCaError `PARSE_FAILED` (malformed), `BAD_SIGNATURE` (signature does not verify)
 */
export function parseCsr(data: Buffer | string, what: string): Csr {
  return new Csr(pemOrDer(data, CSR_LABELS, what), what);
}

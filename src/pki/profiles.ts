/**
 * The three certificate profiles of an mTLS deployment: root CA, server leaf and client leaf. Each returns
 * a signed {@link Certificate}; keys come from the caller so that a CSR's key can be used as well.
 */
import type { KeyObject } from 'node:crypto';
import { type Certificate, randomSerial, signCertificate } from './certificate.js';
import { MtlsCaError } from './errors.js';
import {
  authorityInfoAccess,
  authorityKeyIdentifier,
  basicConstraints,
  crlDistributionPoints,
  type Extension,
  extendedKeyUsage,
  type KeyUsage,
  keyIdentifier,
  keyUsage,
  ocspNoCheck,
  type RevocationUrls,
  type SubjectAltNames,
  subjectAltName,
  subjectKeyIdentifier,
} from './extensions.js';
import { assertAltNames } from './general-names.js';
import { isKeyPair, type SigningKey } from './keys.js';
import { assertCommonName, type DistinguishedName, encodeName } from './names.js';
import { OID } from './oids.js';

/** One day in milliseconds: validity periods, CRL lifetimes and warnings count in days. */
export const DAY_MS = 86_400_000;
/** Back-dating absorbs clock skew between the CA and the peers that check the certificate. */
export const BACKDATE_MS = 5 * 60_000;

export interface CertificateAuthority {
  certificate: Certificate;
  /** The CA's key: a private key in this process, or a `Signer` for one in a token. */
  privateKey: SigningKey;
}

export interface ValidityOptions {
  /** Days of validity from now. */
  days: number;
  /** The issuing time; default now. For tests and renewals. */
  now?: Date;
}

function validity({ days, now = new Date() }: ValidityOptions): { notBefore: Date; notAfter: Date } {
  if (!Number.isFinite(days) || days <= 0 || !Number.isInteger(days)) {
    throw new MtlsCaError(
      'INVALID_ARGUMENT',
      `use validity of ${days} days: expected a whole number above 0`,
    );
  }
  return {
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + days * DAY_MS),
  };
}

/** digitalSignature always; keyEncipherment only for RSA (RSA key transport in TLS 1.2, RFC 5246 7.4.2). */
function leafKeyUsage(key: KeyObject): KeyUsage[] {
  return key.asymmetricKeyType === 'rsa' ? ['digitalSignature', 'keyEncipherment'] : ['digitalSignature'];
}

/** The checks every new CA certificate passes: a valid name, and a key pair that belongs together. */
function assertCaRequest(subject: DistinguishedName, privateKey: SigningKey, publicKey: KeyObject): void {
  if (!subject.commonName) throw new MtlsCaError('INVALID_ARGUMENT', 'create CA: the CA name is empty');
  assertCommonName(subject.commonName, 'CA name');
  if (!isKeyPair(privateKey, publicKey)) {
    throw new MtlsCaError('INVALID_ARGUMENT', 'create CA: the public key does not match the private key');
  }
}

/**
 * A self-signed root: basicConstraints critical CA:TRUE, keyUsage critical keyCertSign+cRLSign, SKI.
 * @param subject - the CA's name; `commonName` is required
 * @param privateKey - the CA's key, or a `Signer` for one in a token; it must pair with `publicKey`
 * @param pathLength - how many CAs may stand below it (basicConstraints pathLenConstraint): 1 for a root that
 *   signs an issuing intermediate; default no limit, as for a root that issues leaves itself
 */
export function createRootCa(
  opts: {
    subject: DistinguishedName;
    privateKey: SigningKey;
    publicKey: KeyObject;
    pathLength?: number;
  } & ValidityOptions,
): Certificate {
  assertCaRequest(opts.subject, opts.privateKey, opts.publicKey);
  const name = encodeName(opts.subject);
  return signCertificate(
    {
      serial: randomSerial(),
      issuer: name,
      subject: name,
      ...validity(opts),
      publicKey: opts.publicKey,
      extensions: [
        basicConstraints(true, opts.pathLength),
        keyUsage(['keyCertSign', 'cRLSign']),
        subjectKeyIdentifier(keyIdentifier(opts.publicKey)),
      ],
    },
    opts.privateKey,
  );
}

/** Refuses to sign with a CA that has expired: what it signs would never verify. */
function assertNotExpired(caCert: Certificate, now: Date): void {
  if (caCert.notAfter <= now) {
    throw new MtlsCaError(
      'CA_EXPIRED',
      `use CA ${caCert.subjectName}: it expired on ${caCert.notAfter.toISOString()}`,
      { detail: { kind: 'ca-expired' } },
    );
  }
}

/**
 * An issuing intermediate CA signed by a root: basicConstraints critical CA:TRUE with pathLenConstraint 0 (it
 * signs leaves only), keyUsage critical keyCertSign+cRLSign, SKI, and AKI naming the root's key. It ends no
 * later than the root: a chain is only as long-lived as its shortest link.
 * @param root - the root that signs it
 * @param subject - its name; `commonName` is required and should differ from the root's, so that every
 *   tool tells the two apart by name
 * @param privateKey - its key; `publicKey` must be its public half
 */
export function createIntermediateCa(
  opts: {
    root: CertificateAuthority;
    subject: DistinguishedName;
    privateKey: SigningKey;
    publicKey: KeyObject;
  } & ValidityOptions,
): Certificate {
  assertCaRequest(opts.subject, opts.privateKey, opts.publicKey);
  const rootCert = opts.root.certificate;
  assertNotExpired(rootCert, opts.now ?? new Date());
  const v = validity(opts);
  if (v.notAfter > rootCert.notAfter) v.notAfter = rootCert.notAfter;
  return signCertificate(
    {
      serial: randomSerial(),
      issuer: rootCert.subjectDer,
      subject: encodeName(opts.subject),
      ...v,
      publicKey: opts.publicKey,
      extensions: [
        basicConstraints(true, 0),
        keyUsage(['keyCertSign', 'cRLSign']),
        subjectKeyIdentifier(keyIdentifier(opts.publicKey)),
        authorityKeyIdentifier(rootCert.subjectKeyIdentifier ?? keyIdentifier(rootCert.publicKey)),
      ],
    },
    opts.root.privateKey,
  );
}

interface LeafOptions extends ValidityOptions {
  ca: CertificateAuthority;
  publicKey: KeyObject;
  subject: DistinguishedName;
  altNames: SubjectAltNames;
  eku: string;
  /** Where its revocation status is published: adds cRLDistributionPoints and authorityInfoAccess. */
  revocation?: RevocationUrls;
  /** Key usages instead of the leaf default ({@link leafKeyUsage}). */
  usage?: KeyUsage[];
  /** Appended after the others. */
  extraExtensions?: Extension[];
}

/** The options every leaf profile shares: where the CA publishes revocation (undefined: nowhere). */
export interface PublishedLeafOptions {
  /**
   * The CA's revocation URLs: the certificate then carries a CRL distribution point and the OCSP responder
   * and CA certificate locations, which servers need to check it (Java's CRLDP and OCSP, nginx `ssl_ocsp`).
   */
  revocation?: RevocationUrls;
}

/**
 * Signs a leaf. Its names are checked here, below every caller, so that no path (a flag, a CSR, a renewal of a
 * certificate an older version made) can put a hostile name in a certificate.
 */
function issueLeaf(o: LeafOptions): Certificate {
  assertAltNames(o.altNames, o.eku === OID.serverAuth);
  if (o.subject.commonName !== undefined) assertCommonName(o.subject.commonName);
  const caCert = o.ca.certificate;
  assertNotExpired(caCert, o.now ?? new Date());
  const v = validity(o);
  // A leaf must not outlive its issuer: clients would reject the chain after the CA expires anyway.
  if (v.notAfter > caCert.notAfter) v.notAfter = caCert.notAfter;
  const caKeyId = caCert.subjectKeyIdentifier ?? keyIdentifier(caCert.publicKey);
  const hasSan = Object.values(o.altNames).some((list) => list && list.length > 0);
  return signCertificate(
    {
      serial: randomSerial(),
      issuer: caCert.subjectDer,
      subject: encodeName(o.subject),
      ...v,
      publicKey: o.publicKey,
      extensions: [
        basicConstraints(false),
        keyUsage(o.usage ?? leafKeyUsage(o.publicKey)),
        extendedKeyUsage([o.eku]),
        ...(hasSan ? [subjectAltName(o.altNames, !o.subject.commonName)] : []),
        subjectKeyIdentifier(keyIdentifier(o.publicKey)),
        authorityKeyIdentifier(caKeyId),
        ...(o.revocation ? [crlDistributionPoints(o.revocation.crl), authorityInfoAccess(o.revocation)] : []),
        ...(o.extraExtensions ?? []),
      ],
    },
    o.ca.privateKey,
  );
}

/**
 * A TLS server leaf: EKU serverAuth, SAN with DNS names and IP addresses (at least one), CN = first name.
 * @param altNames - `dns` and `ip` are used; at least one entry is required
 */
export function issueServerCertificate(
  opts: {
    ca: CertificateAuthority;
    publicKey: KeyObject;
    altNames: SubjectAltNames;
    commonName?: string;
  } & ValidityOptions &
    PublishedLeafOptions,
): Certificate {
  const names = [...(opts.altNames.dns ?? []), ...(opts.altNames.ip ?? [])];
  if (names.length === 0) {
    throw new MtlsCaError(
      'INVALID_ARGUMENT',
      'issue server certificate: no host name or IP address given',
      'pass at least one host',
    );
  }
  return issueLeaf({
    ...opts,
    subject: { commonName: opts.commonName ?? names[0] },
    altNames: { dns: opts.altNames.dns ?? [], ip: opts.altNames.ip ?? [] },
    eku: OID.serverAuth,
  });
}

/**
 * A TLS client leaf: EKU clientAuth only, subject CN = the user name, optional email and URI SANs.
 * @param commonName - the user name the server maps to a user (required)
 */
export function issueClientCertificate(
  opts: {
    ca: CertificateAuthority;
    publicKey: KeyObject;
    commonName: string;
    email?: string[];
    uri?: string[];
    organization?: string;
  } & ValidityOptions &
    PublishedLeafOptions,
): Certificate {
  if (!opts.commonName)
    throw new MtlsCaError('INVALID_ARGUMENT', 'issue client certificate: the common name is empty');
  return issueLeaf({
    ...opts,
    subject: { commonName: opts.commonName, organization: opts.organization },
    altNames: { email: opts.email ?? [], uri: opts.uri ?? [] },
    eku: OID.clientAuth,
  });
}

/** The subject of every OCSP responder certificate; the issuer says which CA it answers for. */
export const OCSP_RESPONDER_NAME = 'OCSP responder';

/**
 * A delegated OCSP responder (RFC 6960 4.2.2.2): the CA authorizes this key to sign OCSP responses about its
 * certificates, so that the CA key itself can stay offline. EKU id-kp-OCSPSigning only (a client refuses a
 * delegate without it), keyUsage digitalSignature, and id-pkix-ocsp-nocheck: clients do not check the
 * responder's own revocation (they would have to ask the responder), so it must be short-lived instead.
 * @param days - its lifetime; keep it short, and re-issue it well before it ends
 */
export function issueOcspResponderCertificate(
  opts: { ca: CertificateAuthority; publicKey: KeyObject } & ValidityOptions,
): Certificate {
  return issueLeaf({
    ...opts,
    subject: { commonName: OCSP_RESPONDER_NAME },
    altNames: {},
    eku: OID.ocspSigning,
    usage: ['digitalSignature'],
    extraExtensions: [ocspNoCheck()],
  });
}

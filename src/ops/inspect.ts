/**
 * `inspect`: what a file is and what it says — certificate, CSR, private key (never the secret), PKCS#12,
 * JKS or CRL. The password for a store is asked for through a hook, so the CLI decides where it comes from.
 */
import { Certificate, fingerprint } from '../pki/certificate.js';
import { Crl } from '../pki/crl.js';
import { parseCsr } from '../pki/csr.js';
import { MtlsCaError } from '../pki/errors.js';
import { isJks, parseJks } from '../pki/jks.js';
import { isEncryptedPrivateKey, keyTypeName, parsePrivateKey, subjectPublicKeyInfo } from '../pki/keys.js';
import { isPem, pemBlocks } from '../pki/pem.js';
import { parsePkcs12 } from '../pki/pkcs12-read.js';
import { DAY_MS } from '../pki/profiles.js';
import { type CertificateSummary, summarize } from './records.js';

export interface CertificateDetails extends CertificateSummary {
  isCa: boolean;
  keyUsage: string[];
  extendedKeyUsage: string[];
  signatureAlgorithm: string;
  status: 'valid' | 'expired' | 'not-yet-valid';
  daysLeft: number;
  /** Where it says its revocation status and issuer are published, when it says so (CRL DP, AIA). */
  revocationUrls?: { crl: string[]; ocsp: string[]; caIssuers: string[] };
}

export type InspectResult =
  | { type: 'certificate'; file: string; certificates: CertificateDetails[] }
  | {
      type: 'csr';
      file: string;
      subject: string;
      keyType: string;
      signatureAlgorithm: string;
      signatureValid: true;
      dns: string[];
      ip: string[];
      email: string[];
      uri: string[];
    }
  | { type: 'private-key'; file: string; keyType: string; encrypted: boolean; publicKeyFingerprint: string }
  | {
      type: 'pkcs12';
      file: string;
      macAlgorithm: string;
      keyEncryption?: string;
      certEncryption?: string;
      iterations: number;
      privateKey?: { keyType: string; matchesCertificate: boolean };
      certificates: (CertificateDetails & { friendlyName?: string; trusted: boolean })[];
    }
  | { type: 'jks'; file: string; entries: (CertificateDetails & { alias: string; date: string })[] }
  | ({
      type: 'crl';
      file: string;
      /** The other CRLs of the file, in order (ca/crl.pem holds one per CA in force: a root's, …). */
      others?: CrlDetails[];
    } & CrlDetails);

/** One CRL's fields, as inspect shows them. */
export interface CrlDetails {
  issuer: string;
  crlNumber: string;
  thisUpdate: string;
  nextUpdate: string;
  expired: boolean;
  signatureAlgorithm: string;
  revoked: { serial: string; revokedAt: string; reason?: string }[];
}

/** The files that need a password to be read. */
export type ProtectedKind = 'private-key' | 'pkcs12' | 'jks';

const PROTECTED: Record<ProtectedKind, string> = {
  'private-key': 'an encrypted private key',
  pkcs12: 'a PKCS#12 file',
  jks: 'a JKS key store',
};

/**
 * Supplies the password of a file that needs one; returns undefined when none is available.
 * @param file - the file, as named to {@link inspectData}
 * @param kind - what it is: an encrypted private key, a PKCS#12 file or a JKS key store
 */
export type PasswordHook = (file: string, kind: ProtectedKind) => Promise<string | undefined>;

function certificateDetails(cert: Certificate, now: Date = new Date()): CertificateDetails {
  const urls = cert.revocationUrls;
  return {
    // keyTypeName, not keyTypeOf: a certificate with a key mtls-ca does not make is shown, not refused.
    ...summarize(cert, keyTypeName(cert.publicKey)),
    isCa: cert.isCa,
    keyUsage: cert.keyUsage,
    extendedKeyUsage: cert.extendedKeyUsage,
    signatureAlgorithm: cert.signatureAlgorithmName,
    status: cert.validityAt(now),
    daysLeft: Math.floor((cert.notAfter.getTime() - now.getTime()) / DAY_MS),
    ...(Object.values(urls).some((list) => list.length > 0) ? { revocationUrls: urls } : {}),
  };
}

async function needPassword(hook: PasswordHook, file: string, kind: ProtectedKind): Promise<string> {
  const password = await hook(file, kind);
  if (password === undefined) {
    throw new MtlsCaError('PASSWORD_REQUIRED', `read ${file}: ${PROTECTED[kind]} needs its password`);
  }
  return password;
}

/**
 * @param file - shown in results and errors
 * @param data - the file's bytes
 * @param password - hook asked only for PKCS#12 and JKS files (and encrypted keys)
 */
export async function inspectData(
  file: string,
  data: Buffer,
  password: PasswordHook,
  now = new Date(),
): Promise<InspectResult> {
  if (data.length === 0) throw new MtlsCaError('PARSE_FAILED', `read ${file}: the file is empty`);
  if (isPem(data)) {
    const text = data.toString('latin1');
    const blocks = pemBlocks(text);
    const label = blocks[0]?.label;
    if (label === 'CERTIFICATE') {
      return {
        type: 'certificate',
        file,
        certificates: Certificate.allFromPem(text, file).map((c) => certificateDetails(c, now)),
      };
    }
    if (label === 'CERTIFICATE REQUEST' || label === 'NEW CERTIFICATE REQUEST') return csrResult(file, data);
    if (label === 'X509 CRL') return crlResult(file, Crl.allFrom(data, file), now);
    if (label && /PRIVATE KEY$/.test(label)) {
      const encrypted = isEncryptedPrivateKey(text);
      const key = parsePrivateKey(
        data,
        encrypted ? await needPassword(password, file, 'private-key') : undefined,
        file,
      );
      return {
        type: 'private-key',
        file,
        keyType: keyTypeName(key),
        encrypted,
        publicKeyFingerprint: fingerprint(subjectPublicKeyInfo(key)),
      };
    }
    throw new MtlsCaError(
      'PARSE_FAILED',
      `read ${file}: PEM block "${label ?? '?'}" is not a certificate, CSR, key or CRL`,
    );
  }
  if (isJks(data)) {
    const entries = parseJks(data, await needPassword(password, file, 'jks'), file);
    return {
      type: 'jks',
      file,
      entries: entries.map((e) => ({
        alias: e.alias,
        date: e.date.toISOString(),
        ...certificateDetails(e.certificate, now),
      })),
    };
  }
  // DER: try the structures in order of how often people have them.
  for (const attempt of [
    () => ({
      type: 'certificate' as const,
      file,
      certificates: [certificateDetails(new Certificate(data, file), now)],
    }),
    () => crlResult(file, [Crl.from(data, file)], now),
    () => csrResult(file, data),
  ]) {
    try {
      return attempt();
    } catch (e) {
      if (!(e instanceof MtlsCaError) || e.code !== 'PARSE_FAILED') throw e;
    }
  }
  if (looksLikePkcs12(data)) {
    const p12 = parsePkcs12(data, await needPassword(password, file, 'pkcs12'), file);
    const leafSpki = p12.certificates[0]?.certificate.spki;
    return {
      type: 'pkcs12',
      file,
      macAlgorithm: p12.macAlgorithm,
      ...(p12.keyEncryption ? { keyEncryption: p12.keyEncryption } : {}),
      ...(p12.certEncryption ? { certEncryption: p12.certEncryption } : {}),
      iterations: p12.iterations,
      ...(p12.privateKey
        ? {
            privateKey: {
              keyType: keyTypeName(p12.privateKey),
              matchesCertificate: !!leafSpki && subjectPublicKeyInfo(p12.privateKey).equals(leafSpki),
            },
          }
        : {}),
      certificates: p12.certificates.map((c) => ({
        ...certificateDetails(c.certificate, now),
        ...(c.friendlyName ? { friendlyName: c.friendlyName } : {}),
        trusted: c.trusted,
      })),
    };
  }
  throw new MtlsCaError(
    'PARSE_FAILED',
    `read ${file}: not a certificate, CSR, private key, PKCS#12, JKS or CRL`,
    'check the file; inspect reads PEM or DER',
  );
}

/** PFX ::= SEQUENCE { version INTEGER 3, authSafe ContentInfo, … } — a cheap sniff before asking a password. */
function looksLikePkcs12(data: Buffer): boolean {
  return data[0] === 0x30 && data.includes(Buffer.from([0x02, 0x01, 0x03, 0x30]));
}

function csrResult(file: string, data: Buffer): InspectResult {
  const csr = parseCsr(data, file);
  const san = csr.altNames;
  return {
    type: 'csr',
    file,
    subject: csr.subjectName,
    keyType: keyTypeName(csr.publicKey),
    signatureAlgorithm: csr.signatureAlgorithmName,
    signatureValid: true,
    dns: san.dns ?? [],
    ip: san.ip ?? [],
    email: san.email ?? [],
    uri: san.uri ?? [],
  };
}

function crlResult(file: string, crls: Crl[], now: Date): InspectResult {
  const [first, ...others] = crls.map((c) => crlDetails(c, now));
  return { type: 'crl', file, ...first!, ...(others.length ? { others } : {}) };
}

function crlDetails(crl: Crl, now: Date): CrlDetails {
  return {
    issuer: crl.issuerName,
    crlNumber: crl.crlNumber.toString(),
    thisUpdate: crl.thisUpdate.toISOString(),
    nextUpdate: crl.nextUpdate.toISOString(),
    expired: crl.nextUpdate < now,
    signatureAlgorithm: crl.signatureAlgorithmName,
    revoked: crl.revoked.map((r) => ({
      serial: r.serialHex,
      revokedAt: r.revokedAt.toISOString(),
      ...(r.reason ? { reason: r.reason } : {}),
    })),
  };
}

/**
 * What an operation records about a certificate it made: the summary the CLI shows (as text or `--json`), the
 * inventory line and the audit line. Plain data from pki objects, with nothing of the store but its types:
 * the worker threads of a batch build these too (client-build.ts), and they must not load the store.
 */
import type { Certificate } from '../pki/certificate.js';
import { keyTypeOf } from '../pki/keys.js';
import type { AuditOperation, AuditRecord } from '../store/audit.js';
import type { CertificateProfile, IssueEvent } from '../store/inventory.js';

export interface CertificateSummary {
  subject: string;
  issuer: string;
  serial: string;
  keyType: string;
  notBefore: string;
  notAfter: string;
  fingerprint: string;
  dns: string[];
  ip: string[];
  email: string[];
  uri: string[];
}

/**
 * @param keyType - the certificate's key type when the caller knows it (finding it decodes the key, see
 *   docs/performance.md); without it, a key type mtls-ca cannot sign with is `UNSUPPORTED`
 */
export function summarize(cert: Certificate, keyType?: string): CertificateSummary {
  const san = cert.subjectAltNames;
  return {
    subject: cert.subjectName,
    issuer: cert.issuerName,
    serial: cert.serialHex,
    keyType: keyType ?? keyTypeOf(cert.publicKey),
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    fingerprint: cert.fingerprint256,
    dns: san.dns ?? [],
    ip: san.ip ?? [],
    email: san.email ?? [],
    uri: san.uri ?? [],
  };
}

/**
 * The inventory line of an issued certificate.
 * @param cert - the certificate
 * @param name - the name it is listed and found by (`pavel`, `server`)
 * @param profile - what it is for
 * @param files - the files written for it, relative to the CA directory
 * @param now - when it was issued
 * @param summary - `summarize(cert)`, when the caller has it already (making it loads the public key again)
 */
export function issueEvent(
  cert: Certificate,
  name: string,
  profile: CertificateProfile,
  files: string[],
  now: Date,
  summary?: CertificateSummary,
): IssueEvent {
  const s = summary ?? summarize(cert);
  return {
    op: 'issue',
    serial: s.serial,
    name,
    profile,
    subject: s.subject,
    issuer: s.issuer,
    keyType: s.keyType,
    notBefore: s.notBefore,
    notAfter: s.notAfter,
    fingerprint: s.fingerprint,
    issuedAt: now.toISOString(),
    files,
  };
}

/**
 * The audit line of an operation on one certificate, naming the CA that issued it.
 * @param op - the operation
 * @param cert - the certificate it made or changed
 * @param now - when
 * @param detail - what else the line records (profile, reason, the serial it replaces)
 */
export function auditRecord(
  op: AuditOperation,
  cert: Certificate,
  now: Date,
  detail?: Record<string, string | number | boolean>,
): AuditRecord {
  return {
    time: now.toISOString(),
    op,
    subject: cert.subjectName,
    issuer: cert.issuerName,
    serial: cert.serialHex,
    fingerprint: cert.fingerprint256,
    result: 'ok',
    ...(detail ? { detail } : {}),
  };
}

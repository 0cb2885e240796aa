/**
 * The checks of one certificate that both halves of `doctor` make: the live diagnosis of a client
 * certificate a server refused, and the lint of a CA directory. Each problem is data (a kind and the dates,
 * names and usages that explain it); the CLI words it.
 */
import net from 'node:net';
import type { Certificate } from '../pki/certificate.js';
import type { Crl } from '../pki/crl.js';
import { DAY_MS } from '../pki/profiles.js';

/** How far ahead an expiry is worth a warning. */
export const EXPIRY_WARNING_DAYS = 30;

/** What a certificate is for, which decides the extended key usage it needs. */
export type CertificateUse = 'client' | 'server' | 'ca';

export type CertificateProblem =
  | { kind: 'expired'; notAfter: string }
  | { kind: 'not-yet-valid'; notBefore: string }
  | { kind: 'expiring'; notAfter: string; daysLeft: number }
  /** Not usable for `use`: an extended key usage without it, a key usage without signing, or a CA (client). */
  | { kind: 'wrong-purpose'; use: CertificateUse; extendedKeyUsage: string[]; isCa: boolean }
  | { kind: 'not-issued-by-ca'; issuer: string; ca: string }
  | { kind: 'revoked'; revokedAt: string; reason?: string };

export interface CheckContext {
  /** The CA the certificate should chain to (our CA); without it the issuer is not checked. */
  ca?: Certificate;
  /** The CA's CRL, checked against `ca` by the caller; without it revocation is not checked. */
  crl?: Crl;
  now: Date;
  /** Warn this many days before expiry (`expiring`); 0 for no warning. */
  warnDays?: number;
}

const EKU_FOR: Record<Exclude<CertificateUse, 'ca'>, string> = { client: 'clientAuth', server: 'serverAuth' };

/**
 * Whether `issuer` issued `cert`: names and signature, by OpenSSL, which knows every algorithm a server may
 * use (RSA-PSS too, which our own verifier does not sign with).
 */
export function issuedBy(cert: Certificate, issuer: Certificate): boolean {
  return cert.x509.checkIssued(issuer.x509) && cert.x509.verify(issuer.x509.publicKey);
}

/**
 * Whether the certificate's usages allow `use`, as OpenSSL's purpose check and Java's and Go's verifiers
 * read them: an extended key usage, when present, must list the use (or anyExtendedKeyUsage); a key usage,
 * when present, must allow signatures; a client certificate must not be a CA's.
 */
export function fitFor(cert: Certificate, use: CertificateUse): boolean {
  if (use === 'ca') return cert.isCa && cert.keyUsage.includes('keyCertSign');
  if (use === 'client' && cert.isCa) return false;
  const eku = cert.extendedKeyUsage;
  if (eku.length > 0 && !eku.includes(EKU_FOR[use]) && !eku.includes('2.5.29.37.0')) return false;
  const ku = cert.keyUsage;
  return ku.length === 0 || ku.includes('digitalSignature') || ku.includes('keyAgreement');
}

/**
 * Every problem of `cert` for `use`, in the order a verifier meets them: issuer, validity, purpose,
 * revocation.
 */
export function checkCertificate(
  cert: Certificate,
  use: CertificateUse,
  c: CheckContext,
): CertificateProblem[] {
  const out: CertificateProblem[] = [];
  const issuedByCa = c.ca ? issuedBy(cert, c.ca) : undefined;
  if (c.ca && !issuedByCa)
    out.push({ kind: 'not-issued-by-ca', issuer: cert.issuerName, ca: c.ca.subjectName });
  const validity = cert.validityAt(c.now);
  if (validity === 'expired') out.push({ kind: 'expired', notAfter: cert.notAfter.toISOString() });
  else if (validity === 'not-yet-valid')
    out.push({ kind: 'not-yet-valid', notBefore: cert.notBefore.toISOString() });
  else if (c.warnDays) {
    const daysLeft = Math.floor((cert.notAfter.getTime() - c.now.getTime()) / DAY_MS);
    if (daysLeft < c.warnDays)
      out.push({ kind: 'expiring', notAfter: cert.notAfter.toISOString(), daysLeft });
  }
  if (!fitFor(cert, use)) {
    out.push({ kind: 'wrong-purpose', use, extendedKeyUsage: cert.extendedKeyUsage, isCa: cert.isCa });
  }
  if (c.crl && issuedByCa) {
    const entry = c.crl.revoked.find((r) => r.serialHex === cert.serialHex);
    if (entry) {
      out.push({
        kind: 'revoked',
        revokedAt: entry.revokedAt.toISOString(),
        ...(entry.reason ? { reason: entry.reason } : {}),
      });
    }
  }
  return out;
}

/** The server's certificate chain as a client with `anchors` judges it. */
export interface ServerChainCheck {
  /** `trusted`; `untrusted` (no path to an anchor); `expired` or `not-yet-valid` (a certificate of the path). */
  trust: 'trusted' | 'untrusted' | 'expired' | 'not-yet-valid' | 'wrong-purpose';
  /** The anchor the chain ends at, when it does. */
  anchor?: string;
  /** Whether the leaf is for `name` (its DNS or IP SANs, as a browser matches them). */
  nameMatches: boolean;
}

/**
 * Judges a chain as sent: a path from the leaf through the certificates sent to one of `anchors` (by names
 * and signatures), every certificate of it valid at `now`, the leaf fit for a server and for `name`.
 * @param chain - the server's certificates as sent, leaf first
 * @param anchors - the CA certificates trusted for servers
 * @param name - the host name or IP address the client asked for
 */
export function checkServerChain(
  chain: Certificate[],
  anchors: Certificate[],
  name: string,
  now: Date,
): ServerChainCheck {
  const leaf = chain[0]!;
  // SANs only, as browsers, Go and Node match a name once a certificate has any: the CN is not looked at.
  const nameMatches =
    net.isIP(name) !== 0
      ? leaf.x509.checkIP(name) !== undefined
      : leaf.x509.checkHost(name, { subject: 'never' }) !== undefined;
  const path: Certificate[] = [leaf];
  let anchor: Certificate | undefined;
  for (let current = leaf; path.length <= 8; ) {
    anchor = anchors.find((a) => a.der.equals(current.der) || issuedBy(current, a));
    if (anchor) break;
    const next = chain.find((c) => !path.includes(c) && issuedBy(current, c));
    if (!next) break;
    path.push(next);
    current = next;
  }
  if (!anchor) return { trust: 'untrusted', nameMatches };
  for (const c of [...path, anchor]) {
    const v = c.validityAt(now);
    if (v !== 'valid') return { trust: v, anchor: anchor.subjectName, nameMatches };
  }
  if (!fitFor(leaf, 'server')) return { trust: 'wrong-purpose', anchor: anchor.subjectName, nameMatches };
  return { trust: 'trusted', anchor: anchor.subjectName, nameMatches };
}

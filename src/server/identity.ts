/**
 * From a TLS connection to a caller: did the client present a certificate our CA vouches for, and whose is
 * it? The user name is the subject's common name, as the tutorial's `subjectPrincipalRegex("CN=(.*?)(?:,|$)")`.
 */
import type { X509Certificate } from 'node:crypto';
import { Certificate } from '../pki/certificate.js';
import { OID } from '../pki/oids.js';

/** Why a connection has no usable client certificate; stable, sent to clients in 401 answers. */
export type UnauthorizedReason = 'NO_CERTIFICATE' | 'UNTRUSTED' | 'EXPIRED' | 'NOT_YET_VALID' | 'REVOKED';

/** What the server knows about a verified client certificate. */
export interface PeerCertificate {
  /** The subject's single common name; undefined when there is none or more than one. */
  user: string | undefined;
  /** `CN=pavel, O=Example` in encoded order. */
  subject: string;
  issuer: string;
  /** Lowercase hex, as `mtls-ca` lists serials. */
  serial: string;
  /** SHA-256 of the DER, `AB:CD:…` as openssl and keytool print it. */
  fingerprint256: string;
  notBefore: Date;
  notAfter: Date;
}

/** An authenticated caller: certificate plus roles from users.json. */
export interface Identity extends PeerCertificate {
  user: string;
  roles: readonly string[];
}

export type PeerCheck =
  | { ok: true; certificate: PeerCertificate }
  | {
      ok: false;
      reason: UnauthorizedReason;
      /** OpenSSL's verify code (`CERT_HAS_EXPIRED`, …), for the log only. */
      detail?: string;
      /** The presented (unverified) certificate, for the log only: anyone can write any name into one. */
      certificate?: PeerCertificate;
    };

/** The part of a `tls.TLSSocket` this module reads (a plain `net.Socket` has none of it). */
export interface TlsPeer {
  authorized?: boolean;
  authorizationError?: Error | string | null;
  getPeerX509Certificate?: () => X509Certificate | undefined;
}

/**
 * Maps Node's `socket.authorizationError` (an OpenSSL X509_V_ERR name such as `CERT_HAS_EXPIRED`; typed as
 * Error but a string at runtime) to our reason. Anything not recognised is UNTRUSTED: fail closed.
 * @param error - the socket's authorizationError
 * @param hasCertificate - whether the client sent a certificate at all (Node reports a missing one as
 *   `UNABLE_TO_GET_ISSUER_CERT`, which would otherwise read as UNTRUSTED)
 */
export function reasonFor(
  error: Error | string | null | undefined,
  hasCertificate: boolean,
): UnauthorizedReason {
  if (!hasCertificate) return 'NO_CERTIFICATE';
  const code = typeof error === 'string' ? error : ((error as { code?: string } | null)?.code ?? '');
  switch (code) {
    case 'CERT_HAS_EXPIRED':
      return 'EXPIRED';
    case 'CERT_NOT_YET_VALID':
      return 'NOT_YET_VALID';
    case 'CERT_REVOKED':
      return 'REVOKED';
    default:
      return 'UNTRUSTED';
  }
}

/** The fields we show and log, from a certificate Node parsed during the handshake. */
export function describePeerCertificate(x509: X509Certificate): PeerCertificate {
  const cert = new Certificate(x509.raw, 'client certificate');
  const names = cert.subject.filter((a) => a.oid === OID.commonName);
  return {
    // Two CNs would make the user ambiguous; such a certificate names nobody.
    user: names.length === 1 && names[0]!.value.length > 0 ? names[0]!.value : undefined,
    subject: cert.subjectName,
    issuer: cert.issuerName,
    serial: cert.serialHex,
    fingerprint256: cert.fingerprint256,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
  };
}

const checked = new WeakMap<object, PeerCheck>();

/**
 * Checks the client certificate of a connection. The result is cached per socket: the handshake's verdict
 * does not change, and the server disables renegotiation so the certificate cannot either.
 * @param socket - `req.socket`; anything that is not a TLS socket has NO_CERTIFICATE
 */
export function checkPeer(socket: TlsPeer): PeerCheck {
  const cached = checked.get(socket);
  if (cached) return cached;
  const x509 =
    typeof socket.getPeerX509Certificate === 'function' ? socket.getPeerX509Certificate() : undefined;
  let result: PeerCheck;
  if (!x509) {
    result = { ok: false, reason: 'NO_CERTIFICATE' };
  } else {
    let certificate: PeerCertificate | undefined;
    try {
      certificate = describePeerCertificate(x509);
    } catch {
      // OpenSSL accepted what our stricter DER reader refuses; without fields we cannot name a user.
    }
    if (!certificate) {
      result = { ok: false, reason: 'UNTRUSTED', detail: 'UNPARSABLE_CERTIFICATE' };
    } else if (socket.authorized === true) {
      result = { ok: true, certificate };
    } else {
      const e = socket.authorizationError;
      const detail =
        typeof e === 'string' ? e : ((e as { code?: string } | null | undefined)?.code ?? undefined);
      result = { ok: false, reason: reasonFor(e, true), detail, certificate };
    }
  }
  checked.set(socket, result);
  return result;
}

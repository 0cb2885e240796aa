/**
 * From a TLS connection to a caller: did the client present a certificate our CA vouches for, and whose is
 * it? The user name is the subject's common name, as the tutorial's `subjectPrincipalRegex("CN=(.*?)(?:,|$)")`.
 */
import { Certificate } from '../pki/certificate.js';
import * as der from '../pki/der.js';
import { OID } from '../pki/oids.js';

/** Why a connection has no usable client certificate; stable, sent to clients in 401 answers. */
export type UnauthorizedReason =
  | 'NO_CERTIFICATE'
  | 'UNTRUSTED'
  | 'EXPIRED'
  | 'NOT_YET_VALID'
  | 'REVOKED'
  /** Not a certificate for client authentication: another purpose (a server's), or a CA certificate. */
  | 'WRONG_PURPOSE'
  /** The server's CRL is out of date, so no certificate can be shown not to be revoked: fail closed. */
  | 'REVOCATION_UNAVAILABLE';

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
      /** OpenSSL's verify code (`CERT_HAS_EXPIRED`, …) or ours (`CA_CERTIFICATE`, `CERT_REVOKED`, …). */
      detail?: string;
      /** The presented (unverified) certificate, for the log only: anyone can write any name into one. */
      certificate?: PeerCertificate;
    };

/** What `getPeerCertificate(true)` answers, as far as this module reads it. */
export interface DetailedPeerCertificate {
  raw?: Buffer;
  /** The certificate that issued this one (itself for a root), as Node links the chain. */
  issuerCertificate?: DetailedPeerCertificate;
}

/** The part of a `tls.TLSSocket` this module reads (a plain `net.Socket` has none of it). */
export interface TlsPeer {
  authorized?: boolean;
  authorizationError?: Error | string | null;
  /** Node answers `{}` (no `raw`) when the client sent no certificate. */
  getPeerCertificate?: (detailed?: boolean) => DetailedPeerCertificate | null | undefined;
  getSession?: () => Buffer | undefined;
}

/** OpenSSL's SSL_SESSION ASN.1 (ssl/ssl_asn1.c) keeps the peer's certificate as `peer [3] EXPLICIT`. */
const SESSION_PEER_TAG = 0xa3;

/**
 * The DER of the certificate the client presented, or undefined when it sent none.
 *
 * Node's ways to get it build much more: getPeerCertificate() an object with three fingerprints and the
 * decoded public key, getPeerX509Certificate() an X509Certificate whose key OpenSSL 3.0 decodes again; both
 * cost more per handshake than cutting the certificate out of the serialized session (profiled with perf;
 * docs/performance.md). The session holds the same certificate (it is where OpenSSL's
 * SSL_get_peer_certificate reads it from) as encoded bytes. The session also holds
 * the session secret, so the buffer is zeroed once the certificate is copied out. Anything unexpected in it
 * falls back to getPeerCertificate().
 */
export function peerCertificateDer(socket: TlsPeer): Buffer | undefined {
  if (typeof socket.getSession === 'function') {
    const session = socket.getSession();
    if (session) {
      try {
        const peer = der.shallowChildren(session).find((c) => c.tag === SESSION_PEER_TAG);
        // EXPLICIT: the content is the Certificate; a sessionless or certificate-less answer falls through.
        if (peer) {
          const inner = der.shallowChildren(peer.raw);
          if (inner.length === 1 && inner[0]!.tag === der.Tag.SEQUENCE) return Buffer.from(inner[0]!.raw);
        }
      } catch {
        // Not the layout we know: ask Node.
      } finally {
        session.fill(0);
      }
    }
  }
  if (typeof socket.getPeerCertificate !== 'function') return undefined;
  return socket.getPeerCertificate(false)?.raw ?? undefined;
}

/**
 * A server's own verdict on a certificate OpenSSL verified (revocation): the reason to refuse it and the
 * code to log, or undefined to accept it.
 * @param certificate - the client's certificate
 * @param socket - its connection, for a policy that must look further up the chain ({@link peerChainAbove})
 */
export type PeerPolicy = (
  certificate: PeerCertificate,
  socket: TlsPeer,
) => { reason: UnauthorizedReason; detail: string } | undefined;

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
    // The certificate's extendedKeyUsage or keyUsage does not allow client authentication (a server's).
    case 'INVALID_PURPOSE':
      return 'WRONG_PURPOSE';
    default:
      return 'UNTRUSTED';
  }
}

/**
 * The fields we show and log, from the DER of the certificate the client presented.
 * @param der - the certificate (`socket.getPeerCertificate().raw`, `X509Certificate.raw`)
 * @throws MtlsCaError PARSE_FAILED when our DER reader refuses it
 */
export function describePeerCertificate(der: Buffer): PeerCertificate {
  return fieldsOf(new Certificate(der, 'client certificate'));
}

function fieldsOf(cert: Certificate): PeerCertificate {
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

/** A parsed certificate: the fields we show, and whether it is a CA's. */
interface Described {
  certificate: PeerCertificate;
  isCa: boolean;
}

/**
 * Parsed client certificates by DER. The same few certificates reconnect all day, and parsing one (DER walk,
 * names, SHA-256 fingerprint) costs more than the rest of accepting a connection. Bounded; the oldest entry
 * goes first. `null`: our reader refused it.
 */
const described = new Map<string, Described | null>();
const DESCRIBED_MAX = 1024;

function describeCached(der: Buffer): Described | undefined {
  const key = der.toString('latin1');
  let entry = described.get(key);
  if (entry === undefined) {
    try {
      const cert = new Certificate(der, 'client certificate');
      entry = { certificate: fieldsOf(cert), isCa: cert.isCa };
    } catch {
      // OpenSSL accepted what our stricter DER reader refuses; without fields we cannot name a user.
      entry = null;
    }
    if (described.size >= DESCRIBED_MAX) described.delete(described.keys().next().value!);
    described.set(key, entry);
  }
  return entry ?? undefined;
}

/**
 * The certificates above the client's own in its verified chain — intermediates, then the root from our
 * trust store — as Node links them by issuer. Costly (Node builds an object per certificate), so only a
 * policy that needs them asks: for a client certificate that our CA did not issue itself.
 * @param socket - the client's TLS socket
 */
export function peerChainAbove(socket: TlsPeer): PeerCertificate[] {
  const chain: PeerCertificate[] = [];
  let node = socket.getPeerCertificate?.(true) ?? undefined;
  // A root links to itself; the bound guards against a cycle Node would never build.
  for (let i = 0; node?.issuerCertificate && node.issuerCertificate !== node && i < 16; i++) {
    node = node.issuerCertificate;
    const entry = node.raw ? describeCached(node.raw) : undefined;
    if (entry) chain.push(entry.certificate);
  }
  return chain;
}

/**
 * The verdict on a connection's client certificate: OpenSSL's verification (which the server lets finish
 * without rejecting, see mtls-server.ts), then our own rules for a certificate OpenSSL verified: no CA
 * certificate is a client (OpenSSL lets a CA:TRUE certificate with the right key usage authenticate), and
 * the server's policy. It keeps nothing: the server keeps the verdict of each connection (connection.ts).
 * @param socket - the TLS socket; anything that is not one has NO_CERTIFICATE
 * @param policy - may refuse a certificate OpenSSL verified (revocation)
 */
export function examinePeer(socket: TlsPeer, policy?: PeerPolicy): PeerCheck {
  const certDer = peerCertificateDer(socket);
  if (!certDer) return { ok: false, reason: 'NO_CERTIFICATE' };
  const entry = describeCached(certDer);
  if (!entry) return { ok: false, reason: 'UNTRUSTED', detail: 'UNPARSABLE_CERTIFICATE' };
  const { certificate } = entry;
  if (socket.authorized === true) {
    if (entry.isCa) return { ok: false, reason: 'WRONG_PURPOSE', detail: 'CA_CERTIFICATE', certificate };
    const refusal = policy?.(certificate, socket);
    return refusal ? { ok: false, ...refusal, certificate } : { ok: true, certificate };
  }
  const e = socket.authorizationError;
  const detail = typeof e === 'string' ? e : ((e as { code?: string } | null | undefined)?.code ?? undefined);
  return { ok: false, reason: reasonFor(e, true), detail, certificate };
}

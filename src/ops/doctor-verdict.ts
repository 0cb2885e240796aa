/**
 * The verdict of a live diagnosis, from what was seen: the first thing that stops a client, in the order a
 * client meets it — reaching the server, agreeing on a version, trusting the server, being asked for a
 * certificate, the server's answer to ours — then the lint of our certificate, which says why when the
 * server only says "no" (Go and Java send `bad_certificate` whatever the cause, nginx a 400 page, a Node
 * server closes the connection). Pure: the evidence in, a code out; the CLI words it.
 */
import type { CertificateProblem } from './doctor-checks.js';

export const VERDICT_CODES = [
  'OK',
  'UNREACHABLE',
  'TLS_VERSION_MISMATCH',
  'TLS_HANDSHAKE_FAILED',
  'SERVER_CERT_UNTRUSTED',
  'SERVER_NAME_MISMATCH',
  'CLIENT_CERT_NOT_REQUESTED',
  'NO_CLIENT_CERT',
  'ISSUER_NOT_ADVERTISED',
  'CLIENT_CA_UNTRUSTED',
  'CLIENT_CERT_EXPIRED',
  'CLIENT_CERT_NOT_YET_VALID',
  'CLIENT_CERT_WRONG_PURPOSE',
  'CLIENT_CERT_REVOKED',
  'CLIENT_CERT_REFUSED',
  'SERVER_REVOCATION_UNAVAILABLE',
  'ACCESS_DENIED',
] as const;
export type VerdictCode = (typeof VERDICT_CODES)[number];

/** What the server did after the handshake began, as far as it concerns the client certificate. */
export type ServerReaction =
  /** A TLS alert: read from the wire, or, where the record could not be read, from Node's error. */
  | { kind: 'alert'; alert: string }
  /** The connection ended right after the handshake without an answer: a FIN or a reset. */
  | { kind: 'closed'; how: 'fin' | 'reset' }
  /** An HTTP answer; `reason` and `detail` from an mtls-ca serve 401, `page` for nginx's certificate pages. */
  | {
      kind: 'http';
      status: number;
      reason?: string;
      detail?: string;
      page?: 'certificate-error' | 'no-certificate';
    }
  /** Nothing within the time-out. */
  | { kind: 'silent' };

/** The facts a verdict is drawn from (each undefined where it could not be seen). */
export interface VerdictFacts {
  connected: boolean;
  /** The server answered with something that is no TLS. */
  notTls: boolean;
  /** A ServerHello was seen. */
  serverHello: boolean;
  /** A protocol_version alert either way, or Node refusing the version the server chose. */
  versionRefused: boolean;
  /** The client offered fewer versions than it could (`--tls-min`, `--tls-max`). */
  versionsLimited: boolean;
  serverTrust?: 'trusted' | 'untrusted' | 'expired' | 'not-yet-valid' | 'wrong-purpose';
  nameMatches?: boolean;
  /** Whether the server sent a CertificateRequest; undefined when its flight could not be read. */
  requested?: boolean;
  clientGiven: boolean;
  /** Whether our certificate's issuer is among the CA names the server sent (undefined: it sent none). */
  issuerAdvertised?: boolean;
  reaction?: ServerReaction;
  /** The lint of our certificate against our CA and CRL. */
  problems: CertificateProblem[];
}

/** serve's 401 reasons (src/server/identity.ts) and the verdicts they mean. */
const SERVE_REASONS: Record<string, VerdictCode> = {
  NO_CERTIFICATE: 'NO_CLIENT_CERT',
  UNTRUSTED: 'CLIENT_CA_UNTRUSTED',
  EXPIRED: 'CLIENT_CERT_EXPIRED',
  NOT_YET_VALID: 'CLIENT_CERT_NOT_YET_VALID',
  REVOKED: 'CLIENT_CERT_REVOKED',
  WRONG_PURPOSE: 'CLIENT_CERT_WRONG_PURPOSE',
  REVOCATION_UNAVAILABLE: 'SERVER_REVOCATION_UNAVAILABLE',
};

/**
 * Alerts that name their cause (OpenSSL maps its verify errors to them: ssl_verify_alarm_type). OpenSSL
 * sends certificate_expired for a certificate not yet valid too, so the lint tells the two apart.
 */
const ALERT_VERDICTS: Record<string, VerdictCode> = {
  unknown_ca: 'CLIENT_CA_UNTRUSTED',
  certificate_revoked: 'CLIENT_CERT_REVOKED',
  unsupported_certificate: 'CLIENT_CERT_WRONG_PURPOSE',
  certificate_required: 'NO_CLIENT_CERT',
};

/** The lint's verdict on a refused certificate, in the order a verifier checks: issuer, dates, use, CRL. */
function fromLint(f: VerdictFacts): VerdictCode | undefined {
  const has = (kind: CertificateProblem['kind']) => f.problems.some((p) => p.kind === kind);
  if (f.issuerAdvertised === false || has('not-issued-by-ca')) return 'CLIENT_CA_UNTRUSTED';
  if (has('expired')) return 'CLIENT_CERT_EXPIRED';
  if (has('not-yet-valid')) return 'CLIENT_CERT_NOT_YET_VALID';
  if (has('wrong-purpose')) return 'CLIENT_CERT_WRONG_PURPOSE';
  if (has('revoked')) return 'CLIENT_CERT_REVOKED';
  return undefined;
}

/** Whether the reaction refuses the client certificate. */
function refuses(r: ServerReaction | undefined): boolean {
  if (!r) return false;
  switch (r.kind) {
    case 'alert':
      return r.alert !== 'close_notify';
    case 'closed':
      return true;
    case 'http':
      // 495 and 496 are nginx's own codes for these pages, seen where error_page passes them on.
      return r.status === 401 || r.page !== undefined || r.status === 495 || r.status === 496;
    case 'silent':
      return false;
  }
}

export function decide(f: VerdictFacts): VerdictCode {
  if (!f.connected || f.notTls) return 'UNREACHABLE';
  if (f.versionRefused) return 'TLS_VERSION_MISMATCH';
  if (!f.serverHello) {
    if (f.reaction?.kind === 'silent') return 'UNREACHABLE';
    // A server that drops a ClientHello without an alert (a JSSE server resets the connection) gives no
    // reason; when the client held back versions, that is the likely one.
    return f.reaction?.kind === 'closed' && f.versionsLimited
      ? 'TLS_VERSION_MISMATCH'
      : 'TLS_HANDSHAKE_FAILED';
  }
  if (f.serverTrust !== undefined && f.serverTrust !== 'trusted') return 'SERVER_CERT_UNTRUSTED';
  if (f.nameMatches === false) return 'SERVER_NAME_MISMATCH';
  if (f.requested === false) return 'CLIENT_CERT_NOT_REQUESTED';
  if (!f.clientGiven) return 'NO_CLIENT_CERT';
  const r = f.reaction;
  if (refuses(r)) {
    if (r?.kind === 'http' && r.reason && SERVE_REASONS[r.reason]) return SERVE_REASONS[r.reason]!;
    if (r?.kind === 'http' && r.page === 'no-certificate') return 'NO_CLIENT_CERT';
    if (r?.kind === 'alert' && ALERT_VERDICTS[r.alert]) return ALERT_VERDICTS[r.alert]!;
    if (r?.kind === 'alert' && r.alert === 'certificate_expired') {
      return f.problems.some((p) => p.kind === 'not-yet-valid')
        ? 'CLIENT_CERT_NOT_YET_VALID'
        : 'CLIENT_CERT_EXPIRED';
    }
    return fromLint(f) ?? 'CLIENT_CERT_REFUSED';
  }
  if (r?.kind === 'silent') return 'UNREACHABLE';
  if (r?.kind === 'http' && r.status === 403) return 'ACCESS_DENIED';
  if (f.issuerAdvertised === false) return 'ISSUER_NOT_ADVERTISED';
  return 'OK';
}

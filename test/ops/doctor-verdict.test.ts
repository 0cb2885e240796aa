/**
 * The verdict's order of precedence, on facts alone: the first thing that stops a client wins, and the lint
 * names the cause only where the server's refusal does not. (The matrix test in test/interop shows the same
 * verdicts coming from real servers.)
 */
import { describe, expect, test } from 'vitest';
import type { CertificateProblem } from '../../src/ops/doctor-checks.js';
import { decide, type VerdictFacts } from '../../src/ops/doctor-verdict.js';

/** A connection that worked: our certificate asked for, from an advertised CA, and answered 200. */
const ok: VerdictFacts = {
  connected: true,
  notTls: false,
  serverHello: true,
  versionRefused: false,
  versionsLimited: false,
  serverTrust: 'trusted',
  nameMatches: true,
  requested: true,
  clientGiven: true,
  issuerAdvertised: true,
  reaction: { kind: 'http', status: 200 },
  problems: [],
};
const expired: CertificateProblem = { kind: 'expired', notAfter: '2020-02-01T00:00:00.000Z' };
const notYet: CertificateProblem = { kind: 'not-yet-valid', notBefore: '2099-01-01T00:00:00.000Z' };
const foreign: CertificateProblem = { kind: 'not-issued-by-ca', issuer: 'CN=Other', ca: 'CN=Ours' };
const revoked: CertificateProblem = { kind: 'revoked', revokedAt: '2026-01-01T00:00:00.000Z' };
const serverOnly: CertificateProblem = {
  kind: 'wrong-purpose',
  use: 'client',
  extendedKeyUsage: ['serverAuth'],
  isCa: false,
};
const closed = { kind: 'closed', how: 'fin' } as const;

describe('what stops a client first decides', () => {
  test.each<[string, Partial<VerdictFacts>, string]>([
    ['all is well', {}, 'OK'],
    ['nothing listens', { connected: false, serverHello: false, reaction: undefined }, 'UNREACHABLE'],
    ['a plain HTTP port', { notTls: true, serverHello: false }, 'UNREACHABLE'],
    ['a protocol_version alert', { versionRefused: true, serverHello: false }, 'TLS_VERSION_MISMATCH'],
    [
      'a reset after a ClientHello offering fewer versions',
      { serverHello: false, versionsLimited: true, reaction: closed },
      'TLS_VERSION_MISMATCH',
    ],
    ['a reset after a full ClientHello', { serverHello: false, reaction: closed }, 'TLS_HANDSHAKE_FAILED'],
    [
      'handshake_failure before a ServerHello',
      { serverHello: false, reaction: { kind: 'alert', alert: 'handshake_failure' } },
      'TLS_HANDSHAKE_FAILED',
    ],
    ['silence after the ClientHello', { serverHello: false, reaction: { kind: 'silent' } }, 'UNREACHABLE'],
    [
      'an untrusted server chain, whatever else',
      { serverTrust: 'untrusted', nameMatches: false },
      'SERVER_CERT_UNTRUSTED',
    ],
    ['an expired server certificate', { serverTrust: 'expired' }, 'SERVER_CERT_UNTRUSTED'],
    ['another name', { nameMatches: false, reaction: closed, problems: [expired] }, 'SERVER_NAME_MISMATCH'],
    ['no CertificateRequest', { requested: false, clientGiven: false }, 'CLIENT_CERT_NOT_REQUESTED'],
    ['no client certificate given', { clientGiven: false, reaction: closed }, 'NO_CLIENT_CERT'],
    ['silence after the handshake', { reaction: { kind: 'silent' } }, 'UNREACHABLE'],
    ['403 after the handshake', { reaction: { kind: 'http', status: 403 } }, 'ACCESS_DENIED'],
    ['accepted, but the issuer not among the names', { issuerAdvertised: false }, 'ISSUER_NOT_ADVERTISED'],
    ['accepted, no names sent at all', { issuerAdvertised: undefined }, 'OK'],
    [
      'accepted a certificate our lint finds revoked (a server without our CRL)',
      { problems: [revoked] },
      'OK',
    ],
  ])('%s: %s', (_what, change, verdict) => {
    expect(decide({ ...ok, ...change })).toBe(verdict);
  });
});

describe('a refusal: the server names the cause where it can, the lint where it cannot', () => {
  test.each<[string, Partial<VerdictFacts>, string]>([
    ['unknown_ca', { reaction: { kind: 'alert', alert: 'unknown_ca' } }, 'CLIENT_CA_UNTRUSTED'],
    [
      'certificate_revoked',
      { reaction: { kind: 'alert', alert: 'certificate_revoked' } },
      'CLIENT_CERT_REVOKED',
    ],
    [
      'unsupported_certificate',
      { reaction: { kind: 'alert', alert: 'unsupported_certificate' } },
      'CLIENT_CERT_WRONG_PURPOSE',
    ],
    [
      'certificate_expired',
      { reaction: { kind: 'alert', alert: 'certificate_expired' } },
      'CLIENT_CERT_EXPIRED',
    ],
    [
      "certificate_expired for a certificate not valid yet (OpenSSL's one alert for both)",
      { reaction: { kind: 'alert', alert: 'certificate_expired' }, problems: [notYet] },
      'CLIENT_CERT_NOT_YET_VALID',
    ],
    [
      'certificate_required although one was offered',
      { reaction: { kind: 'alert', alert: 'certificate_required' } },
      'NO_CLIENT_CERT',
    ],
    [
      'serve 401 EXPIRED',
      { reaction: { kind: 'http', status: 401, reason: 'EXPIRED' } },
      'CLIENT_CERT_EXPIRED',
    ],
    [
      'serve 401 REVOKED',
      { reaction: { kind: 'http', status: 401, reason: 'REVOKED' } },
      'CLIENT_CERT_REVOKED',
    ],
    [
      'serve 401 REVOCATION_UNAVAILABLE',
      { reaction: { kind: 'http', status: 401, reason: 'REVOCATION_UNAVAILABLE' } },
      'SERVER_REVOCATION_UNAVAILABLE',
    ],
    [
      "nginx's no-certificate page",
      { reaction: { kind: 'http', status: 400, page: 'no-certificate' } },
      'NO_CLIENT_CERT',
    ],
    [
      'bad_certificate (Go, whatever the cause) with an expired certificate',
      { reaction: { kind: 'alert', alert: 'bad_certificate' }, problems: [expired] },
      'CLIENT_CERT_EXPIRED',
    ],
    [
      'a close (JSSE, Node) with a serverAuth-only certificate',
      { reaction: closed, problems: [serverOnly] },
      'CLIENT_CERT_WRONG_PURPOSE',
    ],
    [
      "nginx's certificate error page with a revoked certificate",
      { reaction: { kind: 'http', status: 400, page: 'certificate-error' }, problems: [revoked] },
      'CLIENT_CERT_REVOKED',
    ],
    [
      'a refusal where the issuer is not advertised',
      { reaction: closed, issuerAdvertised: false },
      'CLIENT_CA_UNTRUSTED',
    ],
    [
      'the issuer before the dates: a foreign, expired certificate',
      { reaction: closed, problems: [expired, foreign] },
      'CLIENT_CA_UNTRUSTED',
    ],
    [
      'a 401 without a reason and nothing the lint sees',
      { reaction: { kind: 'http', status: 401 } },
      'CLIENT_CERT_REFUSED',
    ],
    ['a close and nothing the lint sees', { reaction: closed }, 'CLIENT_CERT_REFUSED'],
  ])('%s', (_what, change, verdict) => {
    expect(decide({ ...ok, ...change })).toBe(verdict);
  });

  test('close_notify is no refusal', () => {
    expect(decide({ ...ok, reaction: { kind: 'alert', alert: 'close_notify' } })).toBe('OK');
  });
});

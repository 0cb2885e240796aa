import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import { describe, expect, test } from 'vitest';
import { randomSerial, signCertificate } from '../../src/pki/certificate.js';
import * as der from '../../src/pki/der.js';
import { generateKeyPair } from '../../src/pki/keys.js';
import { issueClientCertificate } from '../../src/pki/profiles.js';
import { judgePeer, peerVerdict } from '../../src/server/connection.js';
import {
  describePeerCertificate,
  examinePeer,
  peerCertificateDer,
  reasonFor,
} from '../../src/server/identity.js';
import { layout } from '../../src/store/layout.js';
import { tempDir } from '../helpers/tools.js';
import { createCaDir, newCa } from './helpers.js';

describe('reasonFor: OpenSSL verify codes → our reasons', () => {
  test.each([
    ['CERT_HAS_EXPIRED', 'EXPIRED'],
    ['CERT_NOT_YET_VALID', 'NOT_YET_VALID'],
    ['CERT_REVOKED', 'REVOKED'],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNTRUSTED'],
    ['UNABLE_TO_GET_ISSUER_CERT', 'UNTRUSTED'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'UNTRUSTED'],
    ['SELF_SIGNED_CERT_IN_CHAIN', 'UNTRUSTED'],
    ['INVALID_PURPOSE', 'WRONG_PURPOSE'],
    ['CERT_SIGNATURE_FAILURE', 'UNTRUSTED'],
    ['SOMETHING_NEW_IN_OPENSSL_4', 'UNTRUSTED'],
  ])('%s → %s', (code, reason) => {
    expect(reasonFor(code, true)).toBe(reason);
    // Typed as Error in @types/node: an Error with that code maps the same.
    expect(reasonFor(Object.assign(new Error(code), { code }), true)).toBe(reason);
  });

  test('no certificate is NO_CERTIFICATE whatever Node reports (it says UNABLE_TO_GET_ISSUER_CERT)', () => {
    expect(reasonFor('UNABLE_TO_GET_ISSUER_CERT', false)).toBe('NO_CERTIFICATE');
    expect(reasonFor(null, false)).toBe('NO_CERTIFICATE');
  });
});

describe('examinePeer', () => {
  async function clientCert(commonName: string) {
    const ca = await newCa('Identity CA');
    const keys = await generateKeyPair();
    const cert = issueClientCertificate({ ca, publicKey: keys.publicKey, commonName, days: 10 });
    return { cert, x509: new X509Certificate(cert.der) };
  }

  test('a verified certificate: user = CN, serial, fingerprint, validity', async () => {
    const { cert, x509 } = await clientCert('pavel');
    const check = examinePeer({
      authorized: true,
      authorizationError: null,
      getPeerCertificate: () => ({ raw: x509.raw }),
    });
    expect(check).toEqual({
      ok: true,
      certificate: {
        user: 'pavel',
        subject: 'CN=pavel',
        issuer: 'CN=Identity CA',
        serial: cert.serialHex,
        fingerprint256: x509.fingerprint256,
        notBefore: cert.notBefore,
        notAfter: cert.notAfter,
      },
    });
  });

  test('an unverified certificate: the reason, the raw code, and the presented certificate', async () => {
    const { x509 } = await clientCert('pavel');
    const check = examinePeer({
      authorized: false,
      authorizationError: 'CERT_HAS_EXPIRED',
      getPeerCertificate: () => ({ raw: x509.raw }),
    });
    expect(check).toMatchObject({ ok: false, reason: 'EXPIRED', detail: 'CERT_HAS_EXPIRED' });
    expect(check.ok ? undefined : check.certificate?.user).toBe('pavel');
  });

  test('a plain TCP socket (no TLS) has no certificate', () => {
    expect(examinePeer({})).toEqual({ ok: false, reason: 'NO_CERTIFICATE' });
  });

  test('a TLS client without a certificate (Node answers {}) has none', () => {
    expect(examinePeer({ authorized: false, getPeerCertificate: () => ({}) })).toEqual({
      ok: false,
      reason: 'NO_CERTIFICATE',
    });
  });

  test("the server's policy refuses a verified certificate, and only a verified one", async () => {
    const { cert, x509 } = await clientCert('pavel');
    const seen: string[] = [];
    const policy = (c: { serial: string }) => {
      seen.push(c.serial);
      return { reason: 'REVOKED' as const, detail: 'CERT_REVOKED' };
    };
    const verified = examinePeer({ authorized: true, getPeerCertificate: () => ({ raw: x509.raw }) }, policy);
    expect(verified).toMatchObject({ ok: false, reason: 'REVOKED', detail: 'CERT_REVOKED' });
    expect(verified.ok ? undefined : verified.certificate?.serial).toBe(cert.serialHex);
    const unverified = examinePeer(
      {
        authorized: false,
        authorizationError: 'CERT_HAS_EXPIRED',
        getPeerCertificate: () => ({ raw: x509.raw }),
      },
      policy,
    );
    expect(unverified).toMatchObject({ ok: false, reason: 'EXPIRED' });
    expect(seen).toEqual([cert.serialHex]);
  });

  test('sockets presenting the same certificate share one parsed description', async () => {
    const { x509 } = await clientCert('pavel');
    const a = examinePeer({ authorized: true, getPeerCertificate: () => ({ raw: Buffer.from(x509.raw) }) });
    const b = examinePeer({ authorized: true, getPeerCertificate: () => ({ raw: Buffer.from(x509.raw) }) });
    expect(a).not.toBe(b);
    expect(a.ok && b.ok && a.certificate === b.certificate).toBe(true);
  });

  test('a certificate our DER reader refuses is UNTRUSTED / UNPARSABLE_CERTIFICATE, also the second time', () => {
    const raw = Buffer.from('3003020101', 'hex');
    for (let i = 0; i < 2; i++) {
      expect(examinePeer({ authorized: true, getPeerCertificate: () => ({ raw }) })).toEqual({
        ok: false,
        reason: 'UNTRUSTED',
        detail: 'UNPARSABLE_CERTIFICATE',
      });
    }
  });

  test('judgePeer keeps the verdict on the socket; peerVerdict reads it without looking again', async () => {
    const { x509 } = await clientCert('pavel');
    let calls = 0;
    const socket = {
      authorized: true,
      getPeerCertificate: () => {
        calls++;
        return { raw: x509.raw };
      },
    };
    const verdict = judgePeer(socket, undefined);
    expect(peerVerdict(socket)).toBe(verdict);
    expect(peerVerdict(socket)).toBe(verdict);
    expect(calls).toBe(1);
  });

  test('peerVerdict throws for a socket the server never judged, instead of judging it without the policy', async () => {
    // Regression: the verdict used to be computed by whoever asked first, so an app on another server
    // authenticated a certificate that the server's revocation policy would have refused.
    const { x509 } = await clientCert('pavel');
    const socket = { authorized: true, getPeerCertificate: () => ({ raw: x509.raw }) };
    expect(() => peerVerdict(socket)).toThrow(/never judged/);
    expect(() => peerVerdict({})).toThrow(/never judged/);
  });

  test.each([
    ['no CN', [['2.5.4.10', 'Example']], undefined, 'O=Example'],
    [
      'two CNs',
      [
        ['2.5.4.3', 'pavel'],
        ['2.5.4.3', 'admin'],
      ],
      undefined,
      'CN=pavel, CN=admin',
    ],
    [
      'one CN',
      [
        ['2.5.4.10', 'Example'],
        ['2.5.4.3', 'pavel'],
      ],
      'pavel',
      'O=Example, CN=pavel',
    ],
  ])('a subject with %s: user %s', async (_name, attributes, user, subject) => {
    const ca = await newCa('Identity CA');
    const keys = await generateKeyPair();
    const name = der.sequence(
      ...attributes.map(([type, value]) => der.set(der.sequence(der.oid(type!), der.utf8String(value!)))),
    );
    const cert = signCertificate(
      {
        serial: randomSerial(),
        issuer: ca.certificate.subjectDer,
        subject: name,
        notBefore: new Date(Date.now() - 60_000),
        notAfter: new Date(Date.now() + 86_400_000),
        publicKey: keys.publicKey,
        extensions: [],
      },
      ca.privateKey,
    );
    const described = describePeerCertificate(cert.der);
    expect([described.user, described.subject]).toEqual([user, subject]);
  });
});

describe('peerCertificateDer: the presented certificate from a real TLS connection', () => {
  /** One TLS connection to a server that requests a certificate; what the server's socket reports. */
  async function connect(
    maxVersion: 'TLSv1.2' | 'TLSv1.3',
    withClient: boolean,
  ): Promise<{ fromSession: Buffer | undefined; fromNode: Buffer | undefined; sessionBytes: number }> {
    const dir = await createCaDir(tempDir('mtls-ca-peer-'), {});
    const l = layout(dir.dir);
    const server = tls.createServer({
      cert: readFileSync(l.server().cert),
      key: readFileSync(l.server().key),
      ca: readFileSync(dir.caFile),
      requestCert: true,
      rejectUnauthorized: false,
      maxVersion,
    });
    const seen = new Promise<{
      fromSession: Buffer | undefined;
      fromNode: Buffer | undefined;
      sessionBytes: number;
    }>((resolve) => {
      server.once('secureConnection', (socket: TLSSocket) => {
        const fromNode = socket.getPeerCertificate(false)?.raw;
        const sessionBytes = socket.getSession()?.length ?? 0;
        resolve({ fromSession: peerCertificateDer(socket), fromNode, sessionBytes });
        socket.destroy();
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const files = withClient ? await dir.issueClient('pavel') : undefined;
    const socket = tls.connect({
      host: '127.0.0.1',
      port: (server.address() as AddressInfo).port,
      ca: readFileSync(dir.caFile),
      servername: 'localhost',
      ...(files ? { cert: readFileSync(files.cert), key: readFileSync(files.key) } : {}),
    });
    socket.on('error', () => {});
    try {
      return await seen;
    } finally {
      socket.destroy();
      server.close();
    }
  }

  test.each(['TLSv1.2', 'TLSv1.3'] as const)(
    '%s: the same bytes Node reports, read from the session',
    async (v) => {
      const r = await connect(v, true);
      expect(r.sessionBytes).toBeGreaterThan(0);
      expect(r.fromNode).toBeInstanceOf(Buffer);
      expect(r.fromSession?.equals(r.fromNode!)).toBe(true);
      expect(new X509Certificate(r.fromSession!).subject).toBe('CN=pavel');
    },
  );

  test('no client certificate: undefined', async () => {
    expect((await connect('TLSv1.3', false)).fromSession).toBeUndefined();
  });

  test("a session blob that is not OpenSSL's layout falls back to getPeerCertificate", async () => {
    const x509 = new X509Certificate((await newCa('Fallback CA')).certificate.der);
    const garbage = Buffer.from('300302010a', 'hex');
    expect(
      peerCertificateDer({ getSession: () => garbage, getPeerCertificate: () => ({ raw: x509.raw }) }),
    ).toEqual(x509.raw);
    expect(garbage.equals(Buffer.alloc(5))).toBe(true); // zeroed after use
  });
});

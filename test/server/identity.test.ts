import { X509Certificate } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { randomSerial, signCertificate } from '../../src/pki/certificate.js';
import * as der from '../../src/pki/der.js';
import { generateKeyPair } from '../../src/pki/keys.js';
import { issueClientCertificate } from '../../src/pki/profiles.js';
import { checkPeer, describePeerCertificate, reasonFor } from '../../src/server/identity.js';
import { newCa } from './helpers.js';

describe('reasonFor: OpenSSL verify codes → our reasons', () => {
  test.each([
    ['CERT_HAS_EXPIRED', 'EXPIRED'],
    ['CERT_NOT_YET_VALID', 'NOT_YET_VALID'],
    ['CERT_REVOKED', 'REVOKED'],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNTRUSTED'],
    ['UNABLE_TO_GET_ISSUER_CERT', 'UNTRUSTED'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'UNTRUSTED'],
    ['SELF_SIGNED_CERT_IN_CHAIN', 'UNTRUSTED'],
    ['INVALID_PURPOSE', 'UNTRUSTED'],
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

describe('checkPeer', () => {
  async function clientCert(commonName: string) {
    const ca = await newCa('Identity CA');
    const keys = await generateKeyPair();
    const cert = issueClientCertificate({ ca, publicKey: keys.publicKey, commonName, days: 10 });
    return { cert, x509: new X509Certificate(cert.der) };
  }

  test('a verified certificate: user = CN, serial, fingerprint, validity', async () => {
    const { cert, x509 } = await clientCert('pavel');
    const check = checkPeer({
      authorized: true,
      authorizationError: null,
      getPeerX509Certificate: () => x509,
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
    const check = checkPeer({
      authorized: false,
      authorizationError: 'CERT_HAS_EXPIRED',
      getPeerX509Certificate: () => x509,
    });
    expect(check).toMatchObject({ ok: false, reason: 'EXPIRED', detail: 'CERT_HAS_EXPIRED' });
    expect(check.ok ? undefined : check.certificate?.user).toBe('pavel');
  });

  test('a plain TCP socket (no TLS) has no certificate', () => {
    expect(checkPeer({})).toEqual({ ok: false, reason: 'NO_CERTIFICATE' });
  });

  test('the verdict is cached per socket', async () => {
    const { x509 } = await clientCert('pavel');
    let calls = 0;
    const socket = {
      authorized: true,
      getPeerX509Certificate: () => {
        calls++;
        return x509;
      },
    };
    expect(checkPeer(socket)).toBe(checkPeer(socket));
    expect(calls).toBe(1);
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
    const described = describePeerCertificate(new X509Certificate(cert.der));
    expect([described.user, described.subject]).toEqual([user, subject]);
  });
});

/** An intermediate CA under a root, and a file of several CRLs: the values they carry, exactly. */
import { describe, expect, test } from 'vitest';
import { Crl, createCrl } from '../../src/pki/crl.js';
import { createIntermediateCa, createRootCa, issueClientCertificate } from '../../src/pki/profiles.js';
import { errorOf } from '../helpers/errors.js';
import { fixtureKeys } from '../helpers/fixtures.js';

const now = new Date('2026-03-01T12:00:00Z');
const rootKeys = fixtureKeys('ecdsa-p256', 0);
const root = {
  certificate: createRootCa({
    subject: { commonName: 'Unit Root' },
    ...rootKeys,
    pathLength: 1,
    days: 100,
    now,
  }),
  privateKey: rootKeys.privateKey,
};
const intKeys = fixtureKeys('ecdsa-p384', 0);

describe('createIntermediateCa', () => {
  const cert = createIntermediateCa({
    root,
    subject: { commonName: 'Unit Int' },
    ...intKeys,
    days: 3650,
    now,
  });

  test('a CA with pathLen 0 under a root with pathLen 1, named by the root, its key identified by the root’s', () => {
    expect(root.certificate.pathLength).toBe(1);
    expect(root.certificate.isSelfIssued).toBe(true);
    expect([cert.isCa, cert.pathLength, cert.isSelfIssued]).toEqual([true, 0, false]);
    expect([cert.subjectName, cert.issuerName]).toEqual(['CN=Unit Int', 'CN=Unit Root']);
    expect(cert.keyUsage).toEqual(['keyCertSign', 'cRLSign']);
    expect(cert.authorityKeyIdentifier).toEqual(root.certificate.subjectKeyIdentifier);
    expect(cert.isIssuedBy(root.certificate)).toBe(true);
  });

  test('ends with its root, however many days were asked for; a leaf under it ends no later', () => {
    expect(cert.notAfter).toEqual(root.certificate.notAfter);
    const leaf = issueClientCertificate({
      ca: { certificate: cert, privateKey: intKeys.privateKey },
      publicKey: fixtureKeys('ecdsa-p256', 1).publicKey,
      commonName: 'pavel',
      days: 365,
      now,
    });
    expect([leaf.issuerName, leaf.notAfter]).toEqual(['CN=Unit Int', root.certificate.notAfter]);
  });

  test('an expired root signs no intermediate', () => {
    const later = new Date(now.getTime() + 101 * 86_400_000);
    const e = errorOf(() =>
      createIntermediateCa({ root, subject: { commonName: 'Late' }, ...intKeys, days: 10, now: later }),
    );
    expect([e.code, e.message]).toEqual([
      'CA_EXPIRED',
      `use CA CN=Unit Root: it expired on ${root.certificate.notAfter.toISOString()}`,
    ]);
  });
});

describe('Crl.allFrom', () => {
  const crl = (n: bigint) =>
    createCrl({
      ca: root,
      crlNumber: n,
      thisUpdate: now,
      nextUpdate: new Date(now.getTime() + 1000),
      revoked: [],
    });

  test('every X509 CRL block of PEM text, in order; DER is one CRL', () => {
    const both = Crl.allFrom(`${crl(1n).toPem()}${crl(2n).toPem()}`, 'crl.pem');
    expect(both.map((c) => c.crlNumber)).toEqual([1n, 2n]);
    expect(Crl.allFrom(crl(3n).der, 'crl.der').map((c) => c.crlNumber)).toEqual([3n]);
  });

  test('PEM text without a CRL block is PARSE_FAILED', () => {
    const e = errorOf(() => Crl.allFrom(root.certificate.toPem(), 'crl.pem'));
    expect([e.code, e.message]).toEqual(['PARSE_FAILED', 'read crl.pem: no X509 CRL PEM block found']);
  });
});

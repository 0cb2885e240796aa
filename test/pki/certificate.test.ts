/**
 * The three certificate profiles, checked field by field: exact extension sets and encodings, serials,
 * validity windows and signature algorithms for every key type. Node's X509Certificate (OpenSSL) checks
 * the signatures independently of our own verify().
 */
import crypto from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { Certificate, randomSerial } from '../../src/pki/certificate.js';
import * as der from '../../src/pki/der.js';
import { KEY_TYPES, type KeyPair, type KeyType, keyTypeName } from '../../src/pki/keys.js';
import { OID } from '../../src/pki/oids.js';
import {
  BACKDATE_MS,
  type CertificateAuthority,
  createRootCa,
  issueClientCertificate,
  issueServerCertificate,
} from '../../src/pki/profiles.js';
import { errorOf } from '../helpers/errors.js';
import { fixtureKeys } from '../helpers/fixtures.js';

const NOW = new Date('2026-03-01T12:00:00.000Z');
const DAY = 86_400_000;

/** [oid, critical, value hex] of every extension, in order. */
const extensionTable = (c: Certificate) =>
  c.extensions.map((e) => [e.oid, e.critical, e.value.toString('hex')] as const);

/** SHA-1 of the raw public key: for P-256 the last 65 octets of the SPKI are the point (RFC 5280 4.2.1.2). */
const sha1 = (b: Buffer) => crypto.createHash('sha1').update(b).digest();

const pairs = new Map<KeyType, KeyPair>(KEY_TYPES.map((kt) => [kt, fixtureKeys(kt)]));

function makeCa(kt: KeyType, days = 3650, now = NOW): CertificateAuthority {
  const keys = pairs.get(kt)!;
  const certificate = createRootCa({
    subject: { commonName: `Test CA ${kt}`, organization: 'mtls-ca tests' },
    ...keys,
    days,
    now,
  });
  return { certificate, privateKey: keys.privateKey };
}

describe('root CA', () => {
  test('has exactly basicConstraints (critical, CA:TRUE), keyUsage (critical, keyCertSign+cRLSign) and SKI', () => {
    const ca = makeCa('ecdsa-p256').certificate;
    const spki = ca.spki;
    expect(extensionTable(ca)).toEqual([
      [OID.basicConstraints, true, '30030101ff'],
      [OID.keyUsage, true, '03020106'],
      [OID.subjectKeyIdentifier, false, `0414${sha1(spki.subarray(spki.length - 65)).toString('hex')}`],
    ]);
    expect(ca.isCa).toBe(true);
    expect(ca.keyUsage).toEqual(['keyCertSign', 'cRLSign']);
    expect(ca.extendedKeyUsage).toEqual([]);
    expect(ca.authorityKeyIdentifier).toBeUndefined();
  });

  test('is self-issued and self-signed, named as asked, valid from now − 5 min for the given days', () => {
    const ca = makeCa('ecdsa-p256', 365).certificate;
    expect(ca.subjectName).toBe('O=mtls-ca tests, CN=Test CA ecdsa-p256');
    expect(ca.issuerDer.equals(ca.subjectDer)).toBe(true);
    expect(ca.isIssuedBy(ca)).toBe(true);
    expect(ca.x509.verify(ca.publicKey)).toBe(true);
    expect(ca.x509.ca).toBe(true);
    expect(ca.notBefore.toISOString()).toBe('2026-03-01T11:55:00.000Z');
    expect(ca.notAfter.toISOString()).toBe('2027-03-01T12:00:00.000Z');
    expect(BACKDATE_MS).toBe(5 * 60_000);
  });

  test('refuses an empty name, a mismatched public key and a non-positive validity', () => {
    const keys = pairs.get('ecdsa-p256')!;
    expect(errorOf(() => createRootCa({ subject: {}, ...keys, days: 1 }))).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'create CA: the CA name is empty',
    });
    expect(
      errorOf(() =>
        createRootCa({
          subject: { commonName: 'x' },
          privateKey: keys.privateKey,
          publicKey: pairs.get('ed25519')!.publicKey,
          days: 1,
        }),
      ),
    ).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'create CA: the public key does not match the private key',
    });
    expect(errorOf(() => createRootCa({ subject: { commonName: 'x' }, ...keys, days: 0 }))).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'use validity of 0 days: expected a whole number above 0',
    });
  });
});

describe('server leaf', () => {
  test.each(['ecdsa-p256', 'rsa-2048'] as const)(
    '%s: CA:FALSE, KU, EKU serverAuth only, SAN DNS+IP, SKI, AKI = CA SKI',
    (kt) => {
      const ca = makeCa('ecdsa-p384');
      const leafKeys = pairs.get(kt)!;
      const leaf = issueServerCertificate({
        ca,
        publicKey: leafKeys.publicKey,
        altNames: { dns: ['localhost'], ip: ['127.0.0.1', '::1'] },
        days: 30,
        now: NOW,
      });
      const [bc, ku, eku, san, ski, aki, ...rest] = extensionTable(leaf);
      expect(rest).toEqual([]);
      expect(bc).toEqual([OID.basicConstraints, true, '3000']);
      // digitalSignature for every key; keyEncipherment only for RSA (RSA key transport)
      expect(ku).toEqual([OID.keyUsage, true, kt === 'rsa-2048' ? '030205a0' : '03020780']);
      expect(eku).toEqual([OID.extKeyUsage, false, '300a06082b06010505070301']);
      expect(san).toEqual([
        OID.subjectAltName,
        false, // the subject has a CN, so the SAN need not be critical (RFC 5280 4.2.1.6)
        `3023${'82096c6f63616c686f7374'}${'87047f000001'}${'871000000000000000000000000000000001'}`,
      ]);
      expect(ski?.[0]).toBe(OID.subjectKeyIdentifier);
      expect(aki).toEqual([
        OID.authorityKeyIdentifier,
        false,
        `30168014${ca.certificate.subjectKeyIdentifier!.toString('hex')}`,
      ]);
      expect(leaf.authorityKeyIdentifier).toEqual(ca.certificate.subjectKeyIdentifier);
      expect(leaf.subjectKeyIdentifier).not.toEqual(ca.certificate.subjectKeyIdentifier);
      expect(leaf.isCa).toBe(false);
      expect(leaf.keyUsage).toEqual(
        kt === 'rsa-2048' ? ['digitalSignature', 'keyEncipherment'] : ['digitalSignature'],
      );
      expect(leaf.extendedKeyUsage).toEqual(['serverAuth']);
      expect(leaf.subjectAltNames).toEqual({
        dns: ['localhost'],
        ip: ['127.0.0.1', '::1'],
        email: [],
        uri: [],
      });
      expect(leaf.subjectName).toBe('CN=localhost');
      expect(leaf.issuerDer.equals(ca.certificate.subjectDer)).toBe(true);
      expect(leaf.isIssuedBy(ca.certificate)).toBe(true);
      expect(leaf.x509.checkIssued(ca.certificate.x509)).toBe(true);
      expect(leaf.x509.verify(ca.certificate.publicKey)).toBe(true);
      expect(leaf.x509.checkHost('localhost')).toBe('localhost');
      expect(leaf.x509.checkIP('::1')).toBe('::1');
    },
  );

  test('CN is the first name unless given; an IP-only server gets the IP as CN', () => {
    const ca = makeCa('ecdsa-p256');
    const publicKey = pairs.get('ecdsa-p256')!.publicKey;
    const ipOnly = issueServerCertificate({
      ca,
      publicKey,
      altNames: { ip: ['10.0.0.1'] },
      days: 1,
      now: NOW,
    });
    expect(ipOnly.commonName).toBe('10.0.0.1');
    expect(ipOnly.subjectAltNames).toEqual({ dns: [], ip: ['10.0.0.1'], email: [], uri: [] });
    const named = issueServerCertificate({
      ca,
      publicKey,
      altNames: { dns: ['a.example'] },
      commonName: 'api',
      days: 1,
      now: NOW,
    });
    expect(named.commonName).toBe('api');
  });

  test('regression: an IPv4-mapped IPv6 address (::ffff:192.0.2.1) was encoded as ::ffff:192', () => {
    const ca = makeCa('ecdsa-p256');
    const publicKey = pairs.get('ecdsa-p256')!.publicKey;
    const leaf = issueServerCertificate({
      ca,
      publicKey,
      altNames: { ip: ['::ffff:192.0.2.1', '1:2:3:4:5:6:7.8.9.10'] },
      days: 1,
      now: NOW,
    });
    expect(leaf.extension(OID.subjectAltName)!.value.toString('hex')).toBe(
      `3024${'871000000000000000000000ffffc0000201'}${'87100001000200030004000500060708090a'}`,
    );
    expect(leaf.subjectAltNames.ip).toEqual(['::ffff:c000:201', '1:2:3:4:5:6:708:90a']);
  });

  test('an IPv6 address with a zone (fe80::1%eth0) is refused, not silently cut', () => {
    const ca = makeCa('ecdsa-p256');
    const publicKey = pairs.get('ecdsa-p256')!.publicKey;
    expect(
      errorOf(() => issueServerCertificate({ ca, publicKey, altNames: { ip: ['fe80::1%eth0'] }, days: 1 })),
    ).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'use IP address "fe80::1%eth0": not an IPv4 or IPv6 address (without a zone)',
    });
  });

  test('with no hosts → INVALID_ARGUMENT with a hint', () => {
    const ca = makeCa('ecdsa-p256');
    const e = errorOf(() =>
      issueServerCertificate({
        ca,
        publicKey: pairs.get('ecdsa-p256')!.publicKey,
        altNames: { dns: [], ip: [] },
        days: 1,
      }),
    );
    expect(e).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'issue server certificate: no host name or IP address given',
      hint: 'pass at least one host',
    });
  });
});

describe('client leaf', () => {
  test('EKU clientAuth only, CN = the name, email and URI SANs, AKI = CA SKI', () => {
    const ca = makeCa('ecdsa-p256');
    const leaf = issueClientCertificate({
      ca,
      publicKey: pairs.get('ed25519')!.publicKey,
      commonName: 'pavel',
      email: ['pavel@example.com'],
      uri: ['spiffe://example.com/user/pavel'],
      days: 30,
      now: NOW,
    });
    expect(extensionTable(leaf).map(([oid, critical]) => [oid, critical])).toEqual([
      [OID.basicConstraints, true],
      [OID.keyUsage, true],
      [OID.extKeyUsage, false],
      [OID.subjectAltName, false],
      [OID.subjectKeyIdentifier, false],
      [OID.authorityKeyIdentifier, false],
    ]);
    expect(leaf.extension(OID.extKeyUsage)!.value.toString('hex')).toBe('300a06082b06010505070302');
    expect(leaf.extendedKeyUsage).toEqual(['clientAuth']);
    expect(leaf.keyUsage).toEqual(['digitalSignature']);
    expect(leaf.commonName).toBe('pavel');
    expect(leaf.subjectName).toBe('CN=pavel');
    expect(leaf.subjectAltNames).toEqual({
      dns: [],
      ip: [],
      email: ['pavel@example.com'],
      uri: ['spiffe://example.com/user/pavel'],
    });
    expect(leaf.authorityKeyIdentifier).toEqual(ca.certificate.subjectKeyIdentifier);
    expect(leaf.x509.verify(ca.certificate.publicKey)).toBe(true);
  });

  test('without email or URI there is no SAN extension; organization goes before CN', () => {
    const ca = makeCa('ecdsa-p256');
    const leaf = issueClientCertificate({
      ca,
      publicKey: pairs.get('ecdsa-p256')!.publicKey,
      commonName: 'alice',
      organization: 'Example',
      days: 30,
      now: NOW,
    });
    expect(leaf.extension(OID.subjectAltName)).toBeUndefined();
    expect(leaf.subjectName).toBe('O=Example, CN=alice');
  });

  test('an empty common name is refused', () => {
    const ca = makeCa('ecdsa-p256');
    expect(
      errorOf(() =>
        issueClientCertificate({
          ca,
          publicKey: pairs.get('ecdsa-p256')!.publicKey,
          commonName: '',
          days: 1,
        }),
      ),
    ).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'issue client certificate: the common name is empty',
    });
  });
});

describe('serials', () => {
  test('randomSerial: 10,000 draws, each 16 bytes with the first byte in 0x01..0x7f', () => {
    const firstBytes = new Set<number>();
    for (let i = 0; i < 10_000; i++) {
      const s = randomSerial();
      expect(s.length).toBe(16);
      expect(s[0]).toBeGreaterThanOrEqual(0x01);
      expect(s[0]).toBeLessThanOrEqual(0x7f);
      firstBytes.add(s[0]!);
    }
    // 10,000 draws over 127 values: all of them appear (a stuck or biased byte would show up here)
    expect(firstBytes.size).toBe(127);
  });

  test('a certificate serial is a positive 16-octet INTEGER and serialHex is its content octets', () => {
    const ca = makeCa('ecdsa-p256');
    const leaf = issueClientCertificate({
      ca,
      publicKey: pairs.get('ecdsa-p256')!.publicKey,
      commonName: 'bob',
      days: 1,
    });
    for (const cert of [ca.certificate, leaf]) {
      expect(cert.serialHex).toMatch(/^[0-7][0-9a-f]{31}$/);
      expect(cert.serialHex).not.toMatch(/^00/);
      // Node (OpenSSL) reads the same number
      expect(BigInt(`0x${cert.x509.serialNumber}`)).toBe(BigInt(`0x${cert.serialHex}`));
      expect(BigInt(`0x${cert.serialHex}`)).toBeGreaterThan(0n);
    }
    expect(leaf.serialHex).not.toBe(ca.certificate.serialHex);
  });
});

describe('validity', () => {
  test('notBefore = now − 5 min, notAfter = now + days', () => {
    const ca = makeCa('ecdsa-p256');
    const leaf = issueClientCertificate({
      ca,
      publicKey: pairs.get('ecdsa-p256')!.publicKey,
      commonName: 'c',
      days: 825,
      now: NOW,
    });
    expect(leaf.notBefore.getTime()).toBe(NOW.getTime() - 5 * 60_000);
    expect(leaf.notAfter.getTime()).toBe(NOW.getTime() + 825 * DAY);
    expect(leaf.validityAt(new Date(NOW.getTime() - 4 * 60_000))).toBe('valid');
    expect(leaf.validityAt(new Date(NOW.getTime() - 6 * 60_000))).toBe('not-yet-valid');
    expect(leaf.validityAt(new Date(NOW.getTime() + 826 * DAY))).toBe('expired');
  });

  test('a leaf is clipped to the CA notAfter', () => {
    const ca = makeCa('ecdsa-p256', 10);
    const leaf = issueClientCertificate({
      ca,
      publicKey: pairs.get('ecdsa-p256')!.publicKey,
      commonName: 'c',
      days: 365,
      now: NOW,
    });
    expect(leaf.notAfter.toISOString()).toBe(ca.certificate.notAfter.toISOString());
    expect(leaf.notAfter.toISOString()).toBe('2026-03-11T12:00:00.000Z');
  });

  test('an expired CA → CA_EXPIRED with the date and the fix', () => {
    const ca = makeCa('ecdsa-p256', 10);
    const later = new Date(NOW.getTime() + 11 * DAY);
    const e = errorOf(() =>
      issueClientCertificate({
        ca,
        publicKey: pairs.get('ecdsa-p256')!.publicKey,
        commonName: 'c',
        days: 1,
        now: later,
      }),
    );
    expect(e).toMatchObject({
      code: 'CA_EXPIRED',
      message: 'use CA O=mtls-ca tests, CN=Test CA ecdsa-p256: it expired on 2026-03-11T12:00:00.000Z',
      hint: undefined,
      detail: { kind: 'ca-expired' },
    });
  });

  test('dates from 2050 on are GeneralizedTime and read back exactly', () => {
    const ca = makeCa('ecdsa-p256', 365 * 30);
    expect(ca.certificate.notAfter.toISOString()).toBe('2056-02-22T12:00:00.000Z');
    expect(ca.certificate.x509.validTo).toBe('Feb 22 12:00:00 2056 GMT');
    const validity = der.decode(ca.certificate.tbs).children[4]!;
    expect(validity.children.map((t) => t.tag)).toEqual([der.Tag.UTC_TIME, der.Tag.GENERALIZED_TIME]);
  });
});

describe('signature algorithm per key type', () => {
  const expected: Record<KeyType, [string, string]> = {
    'ecdsa-p256': [OID.ecdsaWithSHA256, 'ecdsaWithSHA256'],
    'ecdsa-p384': [OID.ecdsaWithSHA384, 'ecdsaWithSHA384'],
    'rsa-2048': [OID.sha256WithRSAEncryption, 'sha256WithRSAEncryption'],
    'rsa-3072': [OID.sha256WithRSAEncryption, 'sha256WithRSAEncryption'],
    'rsa-4096': [OID.sha256WithRSAEncryption, 'sha256WithRSAEncryption'],
    ed25519: [OID.ed25519, 'ed25519'],
  };

  test.each(KEY_TYPES)('%s CA signs itself and its leaves with the expected algorithm', (kt) => {
    const ca = makeCa(kt);
    const leaf = issueServerCertificate({
      ca,
      publicKey: pairs.get('ecdsa-p256')!.publicKey,
      altNames: { dns: ['s'] },
      days: 1,
    });
    for (const cert of [ca.certificate, leaf]) {
      expect([cert.signatureAlgorithm, cert.signatureAlgorithmName]).toEqual(expected[kt]);
      // the algorithm inside the signed part equals the outer one (RFC 5280 4.1.1.2)
      const tbsAlgorithm = der.decode(cert.tbs).children[2]!;
      expect(der.readOid(tbsAlgorithm.children[0]!)).toBe(expected[kt][0]);
      expect(cert.x509.verify(ca.certificate.publicKey)).toBe(true);
    }
    expect(keyTypeName(ca.certificate.publicKey)).toBe(kt);
  });
});

describe('parsing', () => {
  test('PEM and DER round-trip; fingerprint matches Node', () => {
    const ca = makeCa('ecdsa-p384').certificate;
    const pem = ca.toPem();
    expect(pem).toBe(ca.x509.toString());
    const again = Certificate.from(pem, 'ca.crt');
    expect(again.der.equals(ca.der)).toBe(true);
    expect(Certificate.from(ca.der, 'ca.der').serialHex).toBe(ca.serialHex);
    expect(again.fingerprint256).toBe(ca.x509.fingerprint256);
    expect(Certificate.allFromPem(pem + pem)).toHaveLength(2);
  });

  test('a certificate signed by another CA is not issued by this one', () => {
    const a = makeCa('ecdsa-p256');
    const b = makeCa('ed25519');
    const leaf = issueClientCertificate({
      ca: a,
      publicKey: pairs.get('ecdsa-p256')!.publicKey,
      commonName: 'c',
      days: 1,
    });
    expect(leaf.isIssuedBy(b.certificate)).toBe(false);
  });

  test.each([
    ['garbage', () => Buffer.from('not a certificate')],
    ['truncated DER', (c: Certificate) => c.der.subarray(0, c.der.length - 10)],
    ['trailing bytes', (c: Certificate) => Buffer.concat([c.der, Buffer.from([0])])],
    // regression: a well-formed SEQUENCE missing its fields threw a TypeError (exit 70) instead of PARSE_FAILED
    ['a TBS with no fields after the serial', () => der.sequence(der.sequence(der.integer(1)))],
    [
      'a TBS without validity',
      () =>
        der.sequence(
          der.sequence(der.explicit(0, der.integer(2)), der.integer(1), der.sequence(), der.sequence()),
        ),
    ],
  ])('%s → PARSE_FAILED naming the file', (_name, make) => {
    const input = make(makeCa('ecdsa-p256').certificate);
    expect(errorOf(() => new Certificate(input, 'ssl/ca/ca.crt'))).toMatchObject({
      code: 'PARSE_FAILED',
      message: 'read ssl/ca/ca.crt: not a valid X.509 certificate',
    });
  });

  test('a PEM without a CERTIFICATE block → PARSE_FAILED', () => {
    expect(
      errorOf(() => Certificate.from('-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n', 'x.pem')),
    ).toMatchObject({
      code: 'PARSE_FAILED',
      message: 'read x.pem: no CERTIFICATE PEM block found',
    });
  });
});

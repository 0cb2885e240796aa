/** v2 CRLs: exact encodings (RFC 5280 5), reason codes, signatures for every key type, refusals, 100k entries. */
import { beforeAll, describe, expect, test } from 'vitest';
import { Crl, createCrl, REVOCATION_REASONS, type RevokedEntry, reasonCode } from '../../src/pki/crl.js';
import * as der from '../../src/pki/der.js';
import { encodeExtension } from '../../src/pki/extensions.js';
import {
  generateKeyPair,
  KEY_TYPES,
  type KeyPair,
  type KeyType,
  sign,
  signatureAlgorithmFor,
} from '../../src/pki/keys.js';
import { OID } from '../../src/pki/oids.js';
import { toPem } from '../../src/pki/pem.js';
import { type CertificateAuthority, createRootCa, issueClientCertificate } from '../../src/pki/profiles.js';
import { errorOf } from '../helpers/errors.js';
import { fixtureKeys } from '../helpers/fixtures.js';

const NOW = new Date('2026-03-01T12:00:00.000Z');
const NEXT = new Date('2026-03-08T12:00:00.000Z');
const SERIAL = '7f0102030405060708090a0b0c0d0e0f';

const pairs = new Map<KeyType, KeyPair>();
const cas = new Map<KeyType, CertificateAuthority>();
beforeAll(() => {
  for (const kt of KEY_TYPES) {
    const keys = fixtureKeys(kt);
    pairs.set(kt, keys);
    const certificate = createRootCa({
      subject: { commonName: `CRL CA ${kt}` },
      ...keys,
      days: 365,
      now: NOW,
    });
    cas.set(kt, { certificate, privateKey: keys.privateKey });
  }
});
const ca = (kt: KeyType = 'ecdsa-p256') => cas.get(kt)!;

/** Signs a hand-made TBSCertList with the P-256 CA, for inputs createCrl refuses to write. */
function signedCrl(fields: Buffer[]): Buffer {
  const { privateKey } = ca();
  const tbs = der.sequence(...fields);
  return der.sequence(tbs, signatureAlgorithmFor(privateKey), der.bitString(sign(privateKey, tbs)));
}

const crlNumberExtensions = (n: number) =>
  der.explicit(
    0,
    der.sequence(encodeExtension({ oid: OID.cRLNumber, critical: false, value: der.integer(n) })),
  );

describe('encoding', () => {
  test('TBSCertList: v2, algorithm, issuer = CA subject, times, entries, AKI + cRLNumber', () => {
    const crl = createCrl({
      ca: ca(),
      crlNumber: 42n,
      thisUpdate: NOW,
      nextUpdate: NEXT,
      revoked: [
        { serialHex: SERIAL, revokedAt: new Date('2026-03-01T10:00:00.999Z'), reason: 'keyCompromise' },
        { serialHex: '01', revokedAt: new Date('2026-02-01T00:00:00Z') },
      ],
    });
    const fields = der.decode(crl.tbs).children;
    expect(fields.map((f) => f.tag)).toEqual([0x02, 0x30, 0x30, 0x17, 0x17, 0x30, 0xa0]);
    expect(fields[0]!.raw.toString('hex')).toBe('020101');
    expect(fields[1]!.raw.equals(signatureAlgorithmFor(ca().privateKey))).toBe(true);
    expect(fields[2]!.raw.equals(ca().certificate.subjectDer)).toBe(true);
    expect(fields[3]!.raw.toString('latin1')).toBe('\x17\x0d260301120000Z');
    expect(fields[4]!.raw.toString('latin1')).toBe('\x17\x0d260308120000Z');
    const [first, second] = fields[5]!.children;
    expect(first!.raw.toString('hex')).toBe(
      // SEQUENCE { INTEGER serial, UTCTime, Extensions { Extension { cRLReason, OCTET STRING { ENUMERATED 1 } } } }
      `302f` +
        `0210${SERIAL}` +
        `170d${Buffer.from('260301100000Z').toString('hex')}` +
        '300c300a0603551d1504030a0101',
    );
    // unspecified: no entry extensions at all (RFC 5280 5.3.1)
    expect(second!.raw.toString('hex')).toBe(`3012020101170d${Buffer.from('260201000000Z').toString('hex')}`);
    const ski = ca().certificate.subjectKeyIdentifier!.toString('hex');
    expect(fields[6]!.raw.toString('hex')).toBe(
      `a02f302d301f0603551d23041830168014${ski}300a0603551d14040302012a`,
    );
  });

  test('no revoked certificates: the list is absent, not empty (RFC 5280 5.1.2.6)', () => {
    const crl = createCrl({ ca: ca(), crlNumber: 1n, thisUpdate: NOW, nextUpdate: NEXT, revoked: [] });
    expect(der.decode(crl.tbs).children.map((f) => f.tag)).toEqual([0x02, 0x30, 0x30, 0x17, 0x17, 0xa0]);
    expect(crl.revoked).toEqual([]);
  });

  test('times from 2050 on are GeneralizedTime in every position', () => {
    const crl = createCrl({
      ca: ca(),
      crlNumber: 1n,
      thisUpdate: new Date('2049-12-31T23:59:59Z'),
      nextUpdate: new Date('2050-01-07T00:00:00Z'),
      revoked: [{ serialHex: '02', revokedAt: new Date('2051-05-06T07:08:09Z') }],
    });
    const fields = der.decode(crl.tbs).children;
    expect(fields[3]!.raw.toString('latin1')).toBe('\x17\x0d491231235959Z');
    expect(fields[4]!.raw.toString('latin1')).toBe('\x18\x0f20500107000000Z');
    expect(fields[5]!.children[0]!.children[1]!.raw.toString('latin1')).toBe('\x18\x0f20510506070809Z');
    expect(crl.revoked[0]!.revokedAt.toISOString()).toBe('2051-05-06T07:08:09.000Z');
    expect(crl.nextUpdate.toISOString()).toBe('2050-01-07T00:00:00.000Z');
  });

  test('the revocation date of an entry uses exactly the encoding of der.x509Time', () => {
    const dates = [
      '1950-01-01T00:00:00Z',
      '1999-12-31T23:59:59Z',
      '2000-01-01T00:00:00Z',
      '2049-12-31T23:59:59Z',
      '2050-01-01T00:00:00Z',
      '9999-12-31T23:59:59Z',
    ];
    const crl = createCrl({
      ca: ca(),
      crlNumber: 1n,
      nextUpdate: new Date(Date.now() + 60_000),
      revoked: dates.map((d, i) => ({ serialHex: `0${i + 1}`, revokedAt: new Date(d) })),
    });
    const entries = der.decode(crl.tbs).children[5]!.children;
    expect(entries.map((e) => e.children[1]!.raw.toString('hex'))).toEqual(
      dates.map((d) => der.x509Time(new Date(d)).toString('hex')),
    );
    expect(crl.revoked.map((r) => r.revokedAt.toISOString())).toEqual(
      dates.map((d) => new Date(d).toISOString()),
    );
  });

  test('reason codes follow RFC 5280 5.3.1 (7 is unused)', () => {
    expect(REVOCATION_REASONS.map((r) => [r, reasonCode(r)])).toEqual([
      ['unspecified', 0],
      ['keyCompromise', 1],
      ['cACompromise', 2],
      ['affiliationChanged', 3],
      ['superseded', 4],
      ['cessationOfOperation', 5],
      ['certificateHold', 6],
      ['removeFromCRL', 8],
      ['privilegeWithdrawn', 9],
      ['aACompromise', 10],
    ]);
  });

  test('a large CRL number is a positive INTEGER', () => {
    const n = (1n << 159n) - 1n;
    const crl = createCrl({ ca: ca(), crlNumber: n, thisUpdate: NOW, nextUpdate: NEXT, revoked: [] });
    expect(crl.crlNumber).toBe(n);
    const zero = createCrl({ ca: ca(), crlNumber: 0n, thisUpdate: NOW, nextUpdate: NEXT, revoked: [] });
    expect(zero.crlNumber).toBe(0n);
  });
});

describe('round trip', () => {
  test('every reason except removeFromCRL reads back; unspecified reads back as absent', () => {
    const reasons = REVOCATION_REASONS.filter((r) => r !== 'removeFromCRL');
    const revoked: RevokedEntry[] = reasons.map((reason, i) => ({
      serialHex: (i + 1).toString(16).padStart(2, '0'),
      revokedAt: new Date(NOW.getTime() - i * 1000),
      reason,
    }));
    const crl = Crl.from(
      createCrl({ ca: ca(), crlNumber: 7n, thisUpdate: NOW, nextUpdate: NEXT, revoked }).toPem(),
      'crl.pem',
    );
    expect(crl.revoked).toEqual(
      revoked.map((r) =>
        r.reason === 'unspecified' ? { serialHex: r.serialHex, revokedAt: r.revokedAt } : r,
      ),
    );
    expect(crl.crlNumber).toBe(7n);
    expect(crl.thisUpdate.toISOString()).toBe(NOW.toISOString());
    expect(crl.nextUpdate.toISOString()).toBe(NEXT.toISOString());
    expect(crl.issuerName).toBe('CN=CRL CA ecdsa-p256');
    expect(crl.authorityKeyIdentifier).toEqual(ca().certificate.subjectKeyIdentifier);
  });

  test('serials match Certificate.serialHex byte for byte; upper-case input is normalised', () => {
    const leafKeys = pairs.get('ed25519')!;
    const leaf = issueClientCertificate({
      ca: ca(),
      publicKey: leafKeys.publicKey,
      commonName: 'mallory',
      days: 30,
      now: NOW,
    });
    const crl = createCrl({
      ca: ca(),
      crlNumber: 2n,
      thisUpdate: NOW,
      nextUpdate: NEXT,
      revoked: [{ serialHex: leaf.serialHex.toUpperCase(), revokedAt: NOW, reason: 'keyCompromise' }],
    });
    expect(crl.revoked[0]!.serialHex).toBe(leaf.serialHex);
    // Node (OpenSSL) sees the same number in the certificate
    expect(BigInt(`0x${crl.revoked[0]!.serialHex}`)).toBe(BigInt(`0x${leaf.x509.serialNumber}`));
  });

  test('PEM is labelled X509 CRL; DER reads as well', () => {
    const crl = createCrl({ ca: ca(), crlNumber: 3n, thisUpdate: NOW, nextUpdate: NEXT, revoked: [] });
    expect(crl.toPem().startsWith('-----BEGIN X509 CRL-----\n')).toBe(true);
    expect(Crl.from(crl.der, 'crl.der').der.equals(crl.der)).toBe(true);
  });

  test('thisUpdate defaults to now (to the second)', () => {
    const before = Math.floor(Date.now() / 1000) * 1000;
    const crl = createCrl({
      ca: ca(),
      crlNumber: 3n,
      nextUpdate: new Date(Date.now() + 3600_000),
      revoked: [],
    });
    const after = Date.now();
    expect(crl.thisUpdate.getTime()).toBeGreaterThanOrEqual(before);
    expect(crl.thisUpdate.getTime()).toBeLessThanOrEqual(after);
    expect(crl.thisUpdate.getMilliseconds()).toBe(0);
  });

  test('100,000 entries build and read back in order', () => {
    const revoked: RevokedEntry[] = Array.from({ length: 100_000 }, (_, i) => ({
      serialHex: (0x10000000 + i).toString(16).padStart(32, '7'),
      revokedAt: new Date(NOW.getTime() - i * 1000),
      reason: i % 3 === 0 ? 'keyCompromise' : i % 3 === 1 ? 'superseded' : undefined,
    }));
    const crl = createCrl({ ca: ca(), crlNumber: 100_000n, thisUpdate: NOW, nextUpdate: NEXT, revoked });
    expect(crl.isSignedBy(ca().certificate)).toBe(true);
    const parsed = Crl.from(crl.toPem(), 'big.pem');
    expect(parsed.revoked).toHaveLength(100_000);
    expect(parsed.revoked).toEqual(revoked); // toEqual treats `reason: undefined` as absent
    // the general decoder agrees with the fast entry walk
    expect(der.decode(crl.tbs).children[5]!.children).toHaveLength(100_000);
  });
});

describe('signatures', () => {
  test.each(KEY_TYPES)('%s CA: signed with its algorithm, verified by it, not by another CA', (kt) => {
    const crl = createCrl({
      ca: ca(kt),
      crlNumber: 1n,
      thisUpdate: NOW,
      nextUpdate: NEXT,
      revoked: [{ serialHex: SERIAL, revokedAt: NOW }],
    });
    const expected =
      { 'ecdsa-p256': OID.ecdsaWithSHA256, 'ecdsa-p384': OID.ecdsaWithSHA384, ed25519: OID.ed25519 }[
        kt as string
      ] ?? OID.sha256WithRSAEncryption;
    expect(crl.signatureAlgorithm).toBe(expected);
    expect(crl.isSignedBy(ca(kt).certificate)).toBe(true);
    const other = kt === 'ecdsa-p256' ? 'ed25519' : 'ecdsa-p256';
    expect(crl.isSignedBy(ca(other).certificate)).toBe(false);
  });

  test('a CA with the same name but another key does not verify it', () => {
    const keys = pairs.get('ecdsa-p384')!;
    const impostor = createRootCa({
      subject: { commonName: 'CRL CA ecdsa-p256' },
      ...keys,
      days: 1,
      now: NOW,
    });
    const crl = createCrl({ ca: ca(), crlNumber: 1n, thisUpdate: NOW, nextUpdate: NEXT, revoked: [] });
    expect(impostor.subjectDer.equals(ca().certificate.subjectDer)).toBe(true);
    expect(crl.isSignedBy(impostor)).toBe(false);
  });

  test('one changed byte in the signed part breaks the signature', () => {
    const crl = createCrl({
      ca: ca(),
      crlNumber: 1n,
      thisUpdate: NOW,
      nextUpdate: NEXT,
      revoked: [{ serialHex: SERIAL, revokedAt: NOW }],
    });
    const tampered = Buffer.from(crl.der);
    const at = tampered.indexOf(Buffer.from(SERIAL, 'hex'));
    tampered[at + 15]! ^= 0x01;
    const parsed = new Crl(tampered, 'tampered.crl');
    expect(parsed.revoked[0]!.serialHex).not.toBe(SERIAL);
    expect(parsed.isSignedBy(ca().certificate)).toBe(false);
  });
});

describe('refusals', () => {
  const base = () => ({ ca: ca(), crlNumber: 1n, thisUpdate: NOW, nextUpdate: NEXT });

  test.each([
    [
      { nextUpdate: NOW },
      'create CRL: nextUpdate 2026-03-01T12:00:00.000Z is not after thisUpdate 2026-03-01T12:00:00.000Z',
    ],
    [{ crlNumber: -1n }, 'create CRL: CRL number -1 is out of range'],
    [{ crlNumber: 1n << 159n }, `create CRL: CRL number ${1n << 159n} is out of range`],
    [
      { revoked: [{ serialHex: 'abc', revokedAt: NOW }] },
      'create CRL: serial "abc" is not 1 to 64 octets of hex',
    ],
    [{ revoked: [{ serialHex: '', revokedAt: NOW }] }, 'create CRL: serial "" is not 1 to 64 octets of hex'],
    [
      { revoked: [{ serialHex: '0g', revokedAt: NOW }] },
      'create CRL: serial "0g" is not 1 to 64 octets of hex',
    ],
    [
      { revoked: [{ serialHex: 'ab'.repeat(65), revokedAt: NOW }] },
      `create CRL: serial "${'ab'.repeat(65)}" is not 1 to 64 octets of hex`,
    ],
    [
      {
        revoked: [
          { serialHex: '0a', revokedAt: NOW },
          { serialHex: '0A', revokedAt: NOW },
        ],
      },
      'create CRL: serial 0a is listed twice',
    ],
    [
      { revoked: [{ serialHex: '0a', revokedAt: NOW, reason: 'removeFromCRL' as const }] },
      'create CRL: serial 0a has reason removeFromCRL, which only delta CRLs may use (RFC 5280 5.3.1)',
    ],
    [
      { revoked: [{ serialHex: '0a', revokedAt: NOW, reason: 'stolen' as 'superseded' }] },
      'create CRL: unknown revocation reason "stolen"',
    ],
    [
      { revoked: [{ serialHex: '0a', revokedAt: new Date(Number.NaN) }] },
      'create CRL: the revocation date of serial 0a is not a date between 1950 and 9999',
    ],
  ])('%o → INVALID_ARGUMENT', (override, message) => {
    expect(errorOf(() => createCrl({ ...base(), revoked: [], ...override }))).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message,
    });
  });
});

describe('parsing other CRLs', () => {
  const issuer = () => ca().certificate.subjectDer;
  const alg = () => signatureAlgorithmFor(ca().privateKey);
  const time = (iso: string) => der.x509Time(new Date(iso));
  const entry = (serial: string, ...ext: Buffer[]) =>
    der.sequence(
      der.integer(Buffer.from(serial, 'hex')),
      time('2026-01-01T00:00:00Z'),
      ...(ext.length ? [der.sequence(...ext)] : []),
    );
  const reasonExt = (code: number) =>
    encodeExtension({ oid: OID.cRLReason, critical: false, value: der.enumerated(code) });

  test('an explicit unspecified (0) reads as unspecified; other entry extensions are ignored', () => {
    const invalidityDate = encodeExtension({
      oid: '2.5.29.24',
      critical: false,
      value: der.generalizedTime(new Date('2025-12-31T00:00:00Z')),
    });
    const input = signedCrl([
      der.integer(1),
      alg(),
      issuer(),
      time('2026-03-01T00:00:00Z'),
      time('2026-03-02T00:00:00Z'),
      der.sequence(
        entry('05', reasonExt(0)),
        entry('06', invalidityDate, reasonExt(9)),
        entry('07', invalidityDate),
      ),
      crlNumberExtensions(9),
    ]);
    const crl = new Crl(input, 'other.crl');
    expect(crl.revoked.map((r) => [r.serialHex, r.reason])).toEqual([
      ['05', 'unspecified'],
      ['06', 'privilegeWithdrawn'],
      ['07', undefined],
    ]);
    expect(crl.crlNumber).toBe(9n);
    expect(crl.authorityKeyIdentifier).toBeUndefined();
    expect(crl.isSignedBy(ca().certificate)).toBe(true);
  });

  test('a v1 CRL (no version field) with a CRL number still parses', () => {
    const input = signedCrl([
      alg(),
      issuer(),
      time('2026-03-01T00:00:00Z'),
      time('2026-03-02T00:00:00Z'),
      crlNumberExtensions(1),
    ]);
    expect(new Crl(input, 'v1.crl').crlNumber).toBe(1n);
  });

  test.each([
    [
      'reason code 7',
      () =>
        signedCrl([
          der.integer(1),
          alg(),
          issuer(),
          time('2026-03-01T00:00:00Z'),
          time('2026-03-02T00:00:00Z'),
          der.sequence(entry('05', reasonExt(7))),
          crlNumberExtensions(1),
        ]),
      'read bad.crl: unknown CRL reason code 7',
    ],
    [
      'no nextUpdate',
      () =>
        signedCrl([der.integer(1), alg(), issuer(), time('2026-03-01T00:00:00Z'), crlNumberExtensions(1)]),
      'read bad.crl: the CRL has no nextUpdate (RFC 5280 5.1.2.5)',
    ],
    [
      'no CRL number',
      () =>
        signedCrl([
          der.integer(1),
          alg(),
          issuer(),
          time('2026-03-01T00:00:00Z'),
          time('2026-03-02T00:00:00Z'),
        ]),
      'read bad.crl: the CRL has no CRL number (RFC 5280 5.2.3)',
    ],
    [
      'version 3',
      () =>
        signedCrl([
          der.integer(2),
          alg(),
          issuer(),
          time('2026-03-01T00:00:00Z'),
          time('2026-03-02T00:00:00Z'),
          crlNumberExtensions(1),
        ]),
      'read bad.crl: unknown CRL version',
    ],
    ['an empty SEQUENCE', () => der.sequence(), 'read bad.crl: not a valid X.509 CRL'],
    ['garbage', () => Buffer.from('garbage!'), 'read bad.crl: not a valid X.509 CRL'],
    ['a certificate', () => ca().certificate.der, 'read bad.crl: not a valid X.509 CRL'],
    [
      'trailing bytes',
      () =>
        Buffer.concat([
          createCrl({ ca: ca(), crlNumber: 1n, thisUpdate: NOW, nextUpdate: NEXT, revoked: [] }).der,
          Buffer.from([0]),
        ]),
      'read bad.crl: not a valid X.509 CRL',
    ],
    [
      'truncated',
      () =>
        createCrl({ ca: ca(), crlNumber: 1n, thisUpdate: NOW, nextUpdate: NEXT, revoked: [] }).der.subarray(
          0,
          100,
        ),
      'read bad.crl: not a valid X.509 CRL',
    ],
    [
      'an entry without a date',
      () =>
        signedCrl([
          der.integer(1),
          alg(),
          issuer(),
          time('2026-03-01T00:00:00Z'),
          time('2026-03-02T00:00:00Z'),
          der.sequence(der.sequence(der.integer(5))),
          crlNumberExtensions(1),
        ]),
      'read bad.crl: not a valid X.509 CRL',
    ],
  ])('%s → PARSE_FAILED', (_name, make, message) => {
    expect(errorOf(() => new Crl(make(), 'bad.crl'))).toMatchObject({ code: 'PARSE_FAILED', message });
  });

  test('a PEM with another label → PARSE_FAILED', () => {
    expect(errorOf(() => Crl.from(toPem('CERTIFICATE', ca().certificate.der), 'x.pem'))).toMatchObject({
      code: 'PARSE_FAILED',
      message: 'read x.pem: no X509 CRL PEM block found',
    });
  });
});

test('regression: a serial with a padding octet is refused (OpenSSL would reject the whole CRL)', async () => {
  const keys = await generateKeyPair('ecdsa-p256');
  const ca = createRootCa({ subject: { commonName: 'Pad CA' }, ...keys, days: 30 });
  const make = (serialHex: string) => () =>
    createCrl({
      ca: { certificate: ca, privateKey: keys.privateKey },
      crlNumber: 1n,
      nextUpdate: new Date(Date.now() + 86_400_000),
      revoked: [{ serialHex, revokedAt: new Date() }],
    });
  expect(errorOf(make('0012')).message).toBe(
    'create CRL: serial 0012 is not minimally encoded (a padding octet)',
  );
  expect(errorOf(make('ff90')).code).toBe('INVALID_ARGUMENT');
  expect(make('0080')().revoked[0]!.serialHex).toBe('0080');
});

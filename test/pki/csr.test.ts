/** PKCS#10 requests: structure byte for byte, round trips for every key type, and every way a CSR is refused. */
import { beforeAll, describe, expect, test } from 'vitest';
import { type Csr, createCsr, parseCsr } from '../../src/pki/csr.js';
import * as der from '../../src/pki/der.js';
import { encodeExtension, subjectAltName } from '../../src/pki/extensions.js';
import {
  KEY_TYPES,
  type KeyPair,
  type KeyType,
  sign,
  signatureAlgorithmFor,
  subjectPublicKeyInfo,
} from '../../src/pki/keys.js';
import { encodeName } from '../../src/pki/names.js';
import { OID } from '../../src/pki/oids.js';
import { toPem } from '../../src/pki/pem.js';
import { errorOf } from '../helpers/errors.js';
import { fixtureKeys } from '../helpers/fixtures.js';

const SIGNATURE_OIDS: Record<KeyType, string> = {
  'ecdsa-p256': OID.ecdsaWithSHA256,
  'ecdsa-p384': OID.ecdsaWithSHA384,
  'rsa-2048': OID.sha256WithRSAEncryption,
  'rsa-3072': OID.sha256WithRSAEncryption,
  'rsa-4096': OID.sha256WithRSAEncryption,
  ed25519: OID.ed25519,
};

const pairs = new Map<KeyType, KeyPair>(KEY_TYPES.map((kt) => [kt, fixtureKeys(kt)]));

/** A CSR signed over an arbitrary CertificationRequestInfo, for the cases createCsr never produces. */
function signedRequest(info: Buffer, keys: KeyPair): Buffer {
  return der.sequence(
    info,
    signatureAlgorithmFor(keys.privateKey),
    der.bitString(sign(keys.privateKey, info)),
  );
}

describe.each(KEY_TYPES)('%s', (kt) => {
  test('round-trips through PEM with subject, SAN, key and algorithm', () => {
    const keys = pairs.get(kt)!;
    const csr = createCsr({
      privateKey: keys.privateKey,
      subject: { commonName: 'alice', organization: 'Example' },
      altNames: { dns: ['alice.example'], email: ['alice@example.com'] },
    });
    const pem = csr.toPem();
    expect(pem.startsWith('-----BEGIN CERTIFICATE REQUEST-----\n')).toBe(true);
    const parsed = parseCsr(pem, 'alice.csr');
    expect(parsed.der.equals(csr.der)).toBe(true);
    expect(parsed.subjectName).toBe('O=Example, CN=alice');
    expect(parsed.commonName).toBe('alice');
    expect(parsed.altNames).toEqual({
      dns: ['alice.example'],
      ip: [],
      email: ['alice@example.com'],
      uri: [],
    });
    expect(parsed.signatureAlgorithm).toBe(SIGNATURE_OIDS[kt]);
    expect(subjectPublicKeyInfo(parsed.publicKey).equals(subjectPublicKeyInfo(keys.publicKey))).toBe(true);
    expect(parsed.requestedExtensions).toEqual([
      {
        oid: OID.subjectAltName,
        critical: false,
        value: subjectAltName({ dns: ['alice.example'], email: ['alice@example.com'] }).value,
      },
    ]);
  });
});

describe('structure', () => {
  test('version 0, the subject, the SPKI and an extensionRequest attribute holding the SAN', () => {
    const keys = pairs.get('ecdsa-p256')!;
    const csr = createCsr({
      privateKey: keys.privateKey,
      subject: { commonName: 'bob' },
      altNames: { ip: ['127.0.0.1'] },
    });
    const [version, subject, spki, attributes] = der.decode(csr.info).children;
    expect(version!.raw.toString('hex')).toBe('020100');
    expect(subject!.raw.equals(encodeName({ commonName: 'bob' }))).toBe(true);
    expect(spki!.raw.equals(subjectPublicKeyInfo(keys.publicKey))).toBe(true);
    const san = encodeExtension(subjectAltName({ ip: ['127.0.0.1'] }));
    // [0] { SEQUENCE { extensionRequest, SET { SEQUENCE OF Extension } } }
    const expected = der.implicit(
      0,
      der.set(der.sequence(der.oid(OID.extensionRequest), der.set(der.sequence(san)))),
    );
    expect(attributes!.raw.toString('hex')).toBe(expected.toString('hex'));
    expect(attributes!.raw.subarray(0, 2).toString('hex')).toBe(`a0${(expected.length - 2).toString(16)}`);
    expect(csr.subjectDer.equals(subject!.raw)).toBe(true);
  });

  test('without SAN the attributes are present and empty (a0 00), as RFC 2986 requires', () => {
    const csr = createCsr({ privateKey: pairs.get('ed25519')!.privateKey, subject: { commonName: 'carol' } });
    const attributes = der.decode(csr.info).children[3]!;
    expect(attributes.raw.toString('hex')).toBe('a000');
    expect(csr.requestedExtensions).toEqual([]);
    expect(csr.altNames).toEqual({ dns: [], ip: [], email: [], uri: [] });
  });

  test('with no CN the SAN is critical (RFC 5280 4.2.1.6)', () => {
    const csr = createCsr({
      privateKey: pairs.get('ecdsa-p256')!.privateKey,
      subject: {},
      altNames: { dns: ['x.example'] },
    });
    expect(csr.subjectName).toBe('');
    expect(csr.commonName).toBeUndefined();
    expect(csr.requestedExtensions.map((e) => [e.oid, e.critical])).toEqual([[OID.subjectAltName, true]]);
  });

  test('empty altNames lists add no attribute', () => {
    const csr = createCsr({
      privateKey: pairs.get('ecdsa-p256')!.privateKey,
      subject: { commonName: 'd' },
      altNames: { dns: [], ip: [] },
    });
    expect(der.decode(csr.info).children[3]!.raw.toString('hex')).toBe('a000');
  });

  test('a public key is refused', () => {
    expect(
      errorOf(() =>
        createCsr({ privateKey: pairs.get('ecdsa-p256')!.publicKey, subject: { commonName: 'e' } }),
      ),
    ).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'create CSR: the key given is not a private key',
    });
  });
});

describe('parseCsr', () => {
  let csr: Csr;
  beforeAll(() => {
    csr = createCsr({
      privateKey: pairs.get('ecdsa-p256')!.privateKey,
      subject: { commonName: 'alice' },
      altNames: { dns: ['a.example'] },
    });
  });

  test('reads DER and the NEW CERTIFICATE REQUEST label', () => {
    expect(parseCsr(csr.der, 'a.der').commonName).toBe('alice');
    expect(parseCsr(toPem('NEW CERTIFICATE REQUEST', csr.der), 'a.pem').commonName).toBe('alice');
    expect(parseCsr(Buffer.from(csr.toPem()), 'a.pem').commonName).toBe('alice');
  });

  test('one flipped byte in the subject CN → BAD_SIGNATURE with a hint', () => {
    const tampered = Buffer.from(csr.der);
    const at = tampered.indexOf(Buffer.from('alice'));
    expect(at).toBeGreaterThan(0);
    tampered[at] = 'm'.charCodeAt(0); // "mlice": still a well-formed request
    expect(errorOf(() => parseCsr(tampered, 'alice.csr'))).toMatchObject({
      code: 'BAD_SIGNATURE',
      message: "verify alice.csr: the request's signature does not match its public key",
      hint: 'the request was altered or corrupted after it was signed; create it again',
    });
  });

  test('a flipped byte in the signature → BAD_SIGNATURE', () => {
    const tampered = Buffer.from(csr.der);
    tampered[tampered.length - 3]! ^= 0x01;
    expect(errorOf(() => parseCsr(tampered, 'alice.csr')).code).toBe('BAD_SIGNATURE');
  });

  test('a request signed by a different key than the one inside → BAD_SIGNATURE', () => {
    const info = der.decode(csr.info).raw;
    const other = pairs.get('ecdsa-p384')!;
    const forged = der.sequence(
      info,
      signatureAlgorithmFor(other.privateKey),
      der.bitString(sign(other.privateKey, info)),
    );
    expect(errorOf(() => parseCsr(forged, 'forged.csr')).code).toBe('BAD_SIGNATURE');
  });

  test.each([
    ['truncated', (b: Buffer) => b.subarray(0, b.length - 5)],
    ['trailing bytes', (b: Buffer) => Buffer.concat([b, Buffer.from([0])])],
    ['garbage', () => Buffer.from('definitely not a CSR')],
    [
      'a certificate-shaped SEQUENCE',
      () => der.sequence(der.sequence(der.integer(0)), der.sequence(), der.bitString(Buffer.alloc(1))),
    ],
    ['an empty SEQUENCE', () => der.sequence()],
  ])('%s → PARSE_FAILED naming the file', (_name, mangle) => {
    expect(errorOf(() => parseCsr(mangle(csr.der), 'ssl/client/alice.csr'))).toMatchObject({
      code: 'PARSE_FAILED',
      message: 'read ssl/client/alice.csr: not a valid PKCS#10 certificate request',
    });
  });

  test('version 1 (not defined by RFC 2986) → PARSE_FAILED', () => {
    const keys = pairs.get('ecdsa-p256')!;
    const info = der.sequence(
      der.integer(1),
      encodeName({ commonName: 'v' }),
      subjectPublicKeyInfo(keys.publicKey),
      der.implicit(0, der.set()),
    );
    expect(errorOf(() => parseCsr(signedRequest(info, keys), 'v.csr')).code).toBe('PARSE_FAILED');
  });

  test('a PEM with another label → PARSE_FAILED listing the labels', () => {
    expect(errorOf(() => parseCsr(toPem('CERTIFICATE', csr.der), 'x.pem'))).toMatchObject({
      code: 'PARSE_FAILED',
      message: 'read x.pem: no CERTIFICATE REQUEST or NEW CERTIFICATE REQUEST PEM block found',
    });
  });

  test('an RSA-PSS signed request is UNSUPPORTED, not a bad signature', () => {
    const keys = pairs.get('rsa-2048')!;
    const info = der.decode(
      createCsr({ privateKey: keys.privateKey, subject: { commonName: 'p' } }).info,
    ).raw;
    const pss = der.sequence(
      info,
      der.sequence(der.oid('1.2.840.113549.1.1.10')),
      der.bitString(Buffer.alloc(256)),
    );
    expect(errorOf(() => parseCsr(pss, 'pss.csr')).code).toBe('UNSUPPORTED');
  });

  test('other attributes (challengePassword) are ignored, the extensionRequest is still read', () => {
    const keys = pairs.get('ed25519')!;
    const challenge = der.sequence(der.oid('1.2.840.113549.1.9.7'), der.set(der.utf8String('secret')));
    const extReq = der.sequence(
      der.oid(OID.extensionRequest),
      der.set(der.sequence(encodeExtension(subjectAltName({ dns: ['c.example'] })))),
    );
    const info = der.sequence(
      der.integer(0),
      encodeName({ commonName: 'c' }),
      subjectPublicKeyInfo(keys.publicKey),
      der.implicit(0, der.set(challenge, extReq)),
    );
    const parsed = parseCsr(signedRequest(info, keys), 'c.csr');
    expect(parsed.altNames.dns).toEqual(['c.example']);
    expect(parsed.requestedExtensions).toHaveLength(1);
  });
});

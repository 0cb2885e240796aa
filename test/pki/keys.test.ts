/**
 * Native keys: generation for every key type, names, PKCS#8 encryption parameters (checked with
 * `openssl asn1parse`), password errors, and PEMs written by openssl in the legacy formats.
 */
import crypto, { type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import * as der from '../../src/pki/der.js';
import {
  ecdsaSignatureDer,
  exportPrivateKeyDer,
  exportPrivateKeyPem,
  generateKeyPair,
  isEncryptedPrivateKey,
  isKeyPair,
  isKeyType,
  KEY_TYPES,
  type KeyPair,
  type KeyType,
  keyTypeName,
  keyTypeOf,
  parsePrivateKey,
  type Signer,
  sign,
  signatureAlgorithmFor,
  signatureDigest,
  subjectPublicKeyInfo,
  verify,
} from '../../src/pki/keys.js';
import { errorOf } from '../helpers/errors.js';
import { describeWithTools, run, runOk, tempDir } from '../helpers/tools.js';

const ALGORITHM_IDENTIFIERS: Record<KeyType, string> = {
  'ecdsa-p256': '300a06082a8648ce3d040302', // ecdsa-with-SHA256, parameters absent (RFC 5758 3.2)
  'ecdsa-p384': '300a06082a8648ce3d040303', // ecdsa-with-SHA384
  'rsa-2048': '300d06092a864886f70d01010b0500', // sha256WithRSAEncryption, NULL (RFC 8017 A.2.4)
  'rsa-3072': '300d06092a864886f70d01010b0500',
  'rsa-4096': '300d06092a864886f70d01010b0500',
  ed25519: '300506032b6570', // id-Ed25519, parameters absent (RFC 8410 3)
};

// Every key type once (RSA-4096 takes seconds): the tests below share them.
const pairs = new Map<KeyType, KeyPair>();
beforeAll(async () => {
  await Promise.all(KEY_TYPES.map(async (kt) => pairs.set(kt, await generateKeyPair(kt))));
});
const pair = (kt: KeyType) => pairs.get(kt)!;

describe.each(KEY_TYPES)('%s', (kt) => {
  test('generates a pair of the requested type and describes it', () => {
    const { privateKey, publicKey } = pair(kt);
    expect(privateKey.type).toBe('private');
    expect(publicKey.type).toBe('public');
    expect(keyTypeOf(privateKey)).toBe(kt);
    expect(keyTypeOf(publicKey)).toBe(kt);
    expect(keyTypeName(privateKey)).toBe(kt);
    expect(isKeyPair(privateKey, publicKey)).toBe(true);
  });

  test('signs with the expected algorithm and verifies; a changed message does not verify', () => {
    const { privateKey, publicKey } = pair(kt);
    const algorithm = signatureAlgorithmFor(privateKey);
    expect(algorithm.toString('hex')).toBe(ALGORITHM_IDENTIFIERS[kt]);
    const oid = der.readOid(der.decode(algorithm).children[0]!);
    const message = Buffer.from('to be signed');
    const signature = sign(privateKey, message);
    expect(verify(publicKey, oid, message, signature)).toBe(true);
    expect(verify(publicKey, oid, Buffer.from('to be signeD'), signature)).toBe(false);
  });

  test('encrypted PKCS#8 round-trips; unencrypted PEM and DER too', () => {
    const { privateKey, publicKey } = pair(kt);
    const pem = exportPrivateKeyPem(privateKey, 'correct horse');
    expect(pem.startsWith('-----BEGIN ENCRYPTED PRIVATE KEY-----\n')).toBe(true);
    expect(isEncryptedPrivateKey(pem)).toBe(true);
    expect(isKeyPair(parsePrivateKey(pem, 'correct horse', 'k.pem'), publicKey)).toBe(true);
    expect(isKeyPair(parsePrivateKey(Buffer.from(pem), 'correct horse', 'k.pem'), publicKey)).toBe(true);
    const plain = exportPrivateKeyPem(privateKey);
    expect(plain.startsWith('-----BEGIN PRIVATE KEY-----\n')).toBe(true);
    expect(isEncryptedPrivateKey(plain)).toBe(false);
    expect(isKeyPair(parsePrivateKey(plain, undefined, 'k.pem'), publicKey)).toBe(true);
    expect(isKeyPair(parsePrivateKey(exportPrivateKeyDer(privateKey), undefined, 'k.der'), publicKey)).toBe(
      true,
    );
  });
});

describe('signers: keys held elsewhere (a PKCS#11 token)', () => {
  /**
   * A raw r ‖ s signature — what PKCS#11's CKM_ECDSA returns — as DER. r and s are unsigned halves of the
   * curve's size: one with a high first bit needs a 0x00 in DER, one with leading zero bytes loses them.
   */
  test.each([
    ['ecdsa-p256', 'P-256', 32],
    ['ecdsa-p384', 'P-384', 48],
  ] as const)('ecdsaSignatureDer turns %s r ‖ s into a signature node:crypto verifies', (kt, curve, size) => {
    const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: curve });
    const hash = signatureDigest(publicKey);
    expect(hash).toBe(kt === 'ecdsa-p256' ? 'sha256' : 'sha384');
    const seen = { highBit: 0, lowBit: 0 };
    for (let i = 0; i < 300; i++) {
      const data = Buffer.from(`message ${i}`);
      const raw = crypto.sign(hash, data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
      expect(raw).toHaveLength(2 * size);
      if (raw[0]! >= 0x80) seen.highBit++;
      else seen.lowBit++;
      // OpenSSL 3 re-encodes a DER signature and refuses one that differs: only canonical DER verifies.
      expect(crypto.verify(hash, data, publicKey, ecdsaSignatureDer(raw))).toBe(true);
    }
    // 300 signatures hold both cases of r's first bit (each missing with a chance of 2^-300); a short r
    // (a zero first byte, 1 in 256) is likely among them, and certain in the hand-made case below.
    expect(seen.highBit).toBeGreaterThan(0);
    expect(seen.lowBit).toBeGreaterThan(0);
  });

  test('ecdsaSignatureDer of a hand-made short r and s', () => {
    const r = Buffer.alloc(32);
    r[31] = 1; // r = 1: 31 leading zero bytes
    const s = Buffer.alloc(32, 0xff); // high bit set: DER needs a leading 0x00
    expect(ecdsaSignatureDer(Buffer.concat([r, s])).toString('hex')).toBe(
      `3026020101022100${'ff'.repeat(32)}`,
    );
    expect(errorOf(() => ecdsaSignatureDer(Buffer.alloc(63))).message).toBe(
      'read ECDSA signature: 63 bytes is not r and s of one length',
    );
  });

  test('sign() hands the data to a Signer, and certificates carry its algorithm', () => {
    const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const seen: Buffer[] = [];
    const signer: Signer = {
      publicKey,
      sign(data) {
        seen.push(data);
        return crypto.sign('sha384', data, privateKey);
      },
    };
    const data = Buffer.from('tbs');
    const signature = sign(signer, data);
    expect(seen).toEqual([data]);
    expect(signatureAlgorithmFor(signer).equals(signatureAlgorithmFor(privateKey))).toBe(true);
    expect(verify(publicKey, '1.2.840.10045.4.3.3', data, signature)).toBe(true);
    expect(isKeyPair(signer, publicKey)).toBe(true);
    expect(errorOf(() => signatureDigest(crypto.generateKeyPairSync('ed25519').publicKey)).code).toBe(
      'UNSUPPORTED',
    );
  });
});

describe('key type names', () => {
  test('isKeyType accepts exactly KEY_TYPES', () => {
    expect(KEY_TYPES).toEqual(['ecdsa-p256', 'ecdsa-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096', 'ed25519']);
    for (const kt of KEY_TYPES) expect(isKeyType(kt)).toBe(true);
    expect(isKeyType('rsa-1024')).toBe(false);
    expect(isKeyType('RSA-2048')).toBe(false);
  });

  test('keys we cannot issue with are UNSUPPORTED, naming what they are', () => {
    const rsa1024 = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    const k256 = crypto.generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey;
    const x25519 = crypto.generateKeyPairSync('x25519').privateKey;
    const supported =
      'the supported key types are ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096, ed25519';
    expect(errorOf(() => keyTypeOf(rsa1024))).toMatchObject({
      code: 'UNSUPPORTED',
      message: `use key type rsa-1024: ${supported}`,
    });
    expect(errorOf(() => keyTypeOf(k256))).toMatchObject({
      code: 'UNSUPPORTED',
      message: `use key type ec-secp256k1: ${supported}`,
    });
    expect(errorOf(() => keyTypeOf(x25519))).toMatchObject({
      code: 'UNSUPPORTED',
      message: `use key type x25519: ${supported}`,
    });
  });

  test('a key is not a pair with another key of the same type', () => {
    expect(isKeyPair(pair('ecdsa-p256').privateKey, pair('ecdsa-p384').publicKey)).toBe(false);
    const other = crypto.generateKeyPairSync('ed25519');
    expect(isKeyPair(pair('ed25519').privateKey, other.publicKey)).toBe(false);
  });

  test('verifying with an algorithm we do not implement (RSA-PSS) is UNSUPPORTED', () => {
    const { publicKey } = pair('rsa-2048');
    expect(
      errorOf(() => verify(publicKey, '1.2.840.113549.1.1.10', Buffer.alloc(1), Buffer.alloc(1))),
    ).toMatchObject({
      code: 'UNSUPPORTED',
      message: 'verify signature: algorithm 1.2.840.113549.1.1.10 is not supported',
    });
  });

  test('subjectPublicKeyInfo is the same from the private and the public half', () => {
    const { privateKey, publicKey } = pair('ecdsa-p256');
    expect(subjectPublicKeyInfo(privateKey).equals(subjectPublicKeyInfo(publicKey))).toBe(true);
    // SEQUENCE { SEQUENCE { ecPublicKey, prime256v1 }, BIT STRING (65-octet uncompressed point, 0x04) }
    expect(subjectPublicKeyInfo(publicKey).subarray(0, 27).toString('hex')).toBe(
      '3059301306072a8648ce3d020106082a8648ce3d03010703420004',
    );
  });
});

describe('password errors', () => {
  let encrypted: string;
  beforeAll(() => {
    encrypted = exportPrivateKeyPem(pair('ecdsa-p256').privateKey, 'right');
  });

  test('wrong password → BAD_PASSWORD naming the file', () => {
    expect(errorOf(() => parsePrivateKey(encrypted, 'wrong', 'ssl/ca/ca.key'))).toMatchObject({
      code: 'BAD_PASSWORD',
      message: 'read ssl/ca/ca.key: wrong password',
    });
  });

  test('no password for an encrypted key → PASSWORD_REQUIRED', () => {
    expect(errorOf(() => parsePrivateKey(encrypted, undefined, 'ssl/ca/ca.key'))).toMatchObject({
      code: 'PASSWORD_REQUIRED',
      message: 'read ssl/ca/ca.key: the key is encrypted and no password was given',
    });
  });

  test('an empty password is refused when encrypting', () => {
    expect(errorOf(() => exportPrivateKeyPem(pair('ecdsa-p256').privateKey, ''))).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'encrypt key: the password is empty',
    });
  });

  test('garbage, a truncated PEM and random DER → PARSE_FAILED', () => {
    const truncated = `${encrypted.split('\n').slice(0, 3).join('\n')}\n-----END ENCRYPTED PRIVATE KEY-----\n`;
    for (const [input, password] of [
      ['hello', undefined],
      ['-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n', undefined],
      [truncated, 'right'],
      [truncated, 'wrong'],
      [crypto.randomBytes(64), undefined],
    ] as const) {
      expect(errorOf(() => parsePrivateKey(input, password, 'x.key'))).toMatchObject({
        code: 'PARSE_FAILED',
        message: 'read x.key: not a valid private key',
      });
    }
  });

  test('regression: a wrong password that passes the CBC padding check is BAD_PASSWORD, not PARSE_FAILED', () => {
    // About 1 in 256 wrong passwords decrypt to well-padded garbage; OpenSSL then reports a decoder error.
    let lucky: string | undefined;
    for (let i = 0; i < 5000 && lucky === undefined; i++) {
      try {
        crypto.createPrivateKey({ key: encrypted, format: 'pem', passphrase: `guess-${i}` });
      } catch (e) {
        if ((e as { code?: string }).code !== 'ERR_OSSL_BAD_DECRYPT') lucky = `guess-${i}`;
      }
    }
    expect(lucky).toBeDefined();
    expect(errorOf(() => parsePrivateKey(encrypted, lucky, 'ca.key')).code).toBe('BAD_PASSWORD');
  });
});

describeWithTools(['openssl'], 'keys and openssl', () => {
  const dir = tempDir();
  const file = (name: string) => path.join(dir, name);

  test('our encrypted PKCS#8 is PBES2 / PBKDF2 / hmacWithSHA256 / aes-256-cbc, and openssl decrypts it', () => {
    const { privateKey, publicKey } = pair('ecdsa-p384');
    writeFileSync(file('enc.pem'), exportPrivateKeyPem(privateKey, 'pw-1234'));
    const lines = runOk('openssl', ['asn1parse', '-in', file('enc.pem')])
      .stdout.split('\n')
      .filter((l) => l.includes('OBJECT'))
      .map((l) => l.split(':').at(-1)!.trim());
    expect(lines).toEqual(['PBES2', 'PBKDF2', 'hmacWithSHA256', 'aes-256-cbc']);
    expect(opensslPublicPem(file('enc.pem'), 'pw-1234')).toBe(
      publicKey.export({ type: 'spki', format: 'pem' }),
    );
    const wrong = run('openssl', ['pkey', '-in', file('enc.pem'), '-passin', 'pass:nope', '-noout']);
    expect(wrong.status).not.toBe(0);
  });

  /** The public key openssl derives from a key file, as SPKI PEM. */
  function opensslPublicPem(keyFile: string, password?: string): string {
    const args = ['pkey', '-in', keyFile, '-pubout'];
    if (password) args.push('-passin', `pass:${password}`);
    return runOk('openssl', args).stdout;
  }

  const expectSameKey = (key: KeyObject, keyFile: string, password?: string) =>
    expect(crypto.createPublicKey(key).export({ type: 'spki', format: 'pem' })).toBe(
      opensslPublicPem(keyFile, password),
    );

  test('reads a PKCS#1 RSA key from `openssl genrsa -traditional`', () => {
    runOk('openssl', ['genrsa', '-traditional', '-out', file('rsa1.pem'), '2048']);
    const text = readFileSync(file('rsa1.pem'), 'utf8');
    expect(text.startsWith('-----BEGIN RSA PRIVATE KEY-----\n')).toBe(true);
    const key = parsePrivateKey(text, undefined, 'rsa1.pem');
    expect(keyTypeOf(key)).toBe('rsa-2048');
    expectSameKey(key, file('rsa1.pem'));
  });

  test('reads a legacy encrypted PKCS#1 key (Proc-Type: 4,ENCRYPTED) with its password, and not without', () => {
    runOk('openssl', [
      'genrsa',
      '-traditional',
      '-aes256',
      '-passout',
      'pass:legacy',
      '-out',
      file('rsa-enc.pem'),
      '2048',
    ]);
    const text = readFileSync(file('rsa-enc.pem'), 'utf8');
    expect(text).toContain('Proc-Type: 4,ENCRYPTED');
    expect(isEncryptedPrivateKey(text)).toBe(true);
    expectSameKey(parsePrivateKey(text, 'legacy', 'rsa-enc.pem'), file('rsa-enc.pem'), 'legacy');
    expect(errorOf(() => parsePrivateKey(text, undefined, 'rsa-enc.pem')).code).toBe('PASSWORD_REQUIRED');
    expect(errorOf(() => parsePrivateKey(text, 'wrong', 'rsa-enc.pem')).code).toBe('BAD_PASSWORD');
  });

  test.each([
    ['prime256v1', 'ecdsa-p256'],
    ['secp384r1', 'ecdsa-p384'],
  ] as const)(
    'reads a SEC1 key from `openssl ecparam -genkey -name %s` (with and without the EC PARAMETERS block)',
    (curve, kt) => {
      runOk('openssl', ['ecparam', '-genkey', '-name', curve, '-noout', '-out', file(`${curve}.pem`)]);
      runOk('openssl', ['ecparam', '-genkey', '-name', curve, '-out', file(`${curve}-params.pem`)]);
      const bare = readFileSync(file(`${curve}.pem`), 'utf8');
      const withParams = readFileSync(file(`${curve}-params.pem`), 'utf8');
      expect(bare.startsWith('-----BEGIN EC PRIVATE KEY-----\n')).toBe(true);
      expect(withParams.startsWith('-----BEGIN EC PARAMETERS-----\n')).toBe(true);
      const key = parsePrivateKey(bare, undefined, `${curve}.pem`);
      expect(keyTypeOf(key)).toBe(kt);
      expectSameKey(key, file(`${curve}.pem`));
      const key2 = parsePrivateKey(withParams, undefined, `${curve}-params.pem`);
      expect(keyTypeOf(key2)).toBe(kt);
      expectSameKey(key2, file(`${curve}-params.pem`));
    },
  );

  test('reads an Ed25519 PKCS#8 key from `openssl genpkey`', () => {
    runOk('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', file('ed.pem')]);
    const key = parsePrivateKey(readFileSync(file('ed.pem')), undefined, 'ed.pem');
    expect(keyTypeOf(key)).toBe('ed25519');
    expectSameKey(key, file('ed.pem'));
  });

  test('openssl verifies our signatures (dgst -verify) for every key type', () => {
    const message = Buffer.from('signed by mtls-ca');
    writeFileSync(file('msg.bin'), message);
    for (const kt of KEY_TYPES) {
      const { privateKey, publicKey } = pair(kt);
      writeFileSync(file(`${kt}.pub.pem`), publicKey.export({ type: 'spki', format: 'pem' }));
      writeFileSync(file(`${kt}.sig`), sign(privateKey, message));
      const args =
        kt === 'ed25519'
          ? [
              'pkeyutl',
              '-verify',
              '-pubin',
              '-inkey',
              file(`${kt}.pub.pem`),
              '-rawin',
              '-in',
              file('msg.bin'),
              '-sigfile',
              file(`${kt}.sig`),
            ]
          : [
              'dgst',
              kt === 'ecdsa-p384' ? '-sha384' : '-sha256',
              '-verify',
              file(`${kt}.pub.pem`),
              '-signature',
              file(`${kt}.sig`),
              file('msg.bin'),
            ];
      const out = runOk('openssl', args).stdout;
      expect(out, kt).toMatch(/Verified OK|Signature Verified Successfully/);
    }
  });
});

import crypto from 'node:crypto';
import { beforeAll, describe, expect, test } from 'vitest';
import * as der from '../../src/pki/der.js';
import { rc2CbcDecryptRaw } from '../../src/pki/forge.js';
import { KEY_TYPES, type KeyType, subjectPublicKeyInfo } from '../../src/pki/keys.js';
import { OID } from '../../src/pki/oids.js';
import {
  createPkcs12,
  createTrustStorePkcs12,
  PKCS12_PROFILES,
  type Pkcs12Profile,
} from '../../src/pki/pkcs12.js';
import { derivePkcs12Key, pkcs12PasswordBytes } from '../../src/pki/pkcs12-kdf.js';
import { parsePkcs12 } from '../../src/pki/pkcs12-read.js';
import { errorOf } from '../helpers/errors.js';
import { type Identity, makeIdentity } from '../helpers/pki.js';

const PASSWORD = 'correct horse';

/** Every key type in both profiles. */
const CASES: [KeyType, Pkcs12Profile][] = KEY_TYPES.flatMap((kt) =>
  PKCS12_PROFILES.map((p): [KeyType, Pkcs12Profile] => [kt, p]),
);

const identities = new Map<KeyType, Identity>();
beforeAll(async () => {
  for (const kt of KEY_TYPES) identities.set(kt, makeIdentity(kt));
});
const id = (kt: KeyType): Identity => identities.get(kt)!;

function bundle(kt: KeyType, profile: Pkcs12Profile, extra: { iterations?: number } = {}): Buffer {
  const { ca, leaf, key } = id(kt);
  return createPkcs12({
    privateKey: key,
    certificate: leaf,
    chain: [ca],
    password: PASSWORD,
    profile,
    ...extra,
  });
}

const oidOf = (n: der.Node | undefined): string => der.readOid(n!);
const hex = (b: Buffer): string => b.toString('hex');

/** The algorithm identifier of one PFX encryption, with the variable parts (salt, IV) reduced to lengths. */
function describeAlgorithm(alg: der.Node): Record<string, unknown> {
  const algOid = oidOf(alg.children[0]);
  const params = alg.children[1]!;
  if (algOid === OID.pbes2) {
    const [kdf, scheme] = params.children;
    const [salt, iter, prf] = kdf!.children[1]!.children;
    return {
      oid: algOid,
      kdf: oidOf(kdf!.children[0]),
      saltLength: salt!.content.length,
      iterations: Number(der.readInteger(iter!)),
      prf: hex(prf!.raw),
      prfOid: oidOf(prf!.children[0]),
      kdfFields: kdf!.children[1]!.children.length,
      cipher: oidOf(scheme!.children[0]),
      ivLength: scheme!.children[1]!.content.length,
    };
  }
  const [salt, iter] = params.children;
  return {
    oid: algOid,
    saltLength: salt!.content.length,
    iterations: Number(der.readInteger(iter!)),
    paramFields: params.children.length,
  };
}

function attributesOf(bag: der.Node): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of bag.children[2]?.children ?? []) out[oidOf(a.children[0])] = hex(a.children[1]!.raw);
  return out;
}

/** Walks the PFX by hand, independently of parsePkcs12. */
function walk(p12: Buffer) {
  const pfx = der.decode(p12);
  const [version, authSafeInfo, macData] = pfx.children;
  const authSafe = der.decode(der.octetsOf(authSafeInfo!.children[1]!.children[0]!));
  const [certInfo, keyInfo] = authSafe.children;
  const encryptedData = certInfo!.children[1]!.children[0]!;
  const eci = encryptedData.children[1]!;
  const keySafe = der.decode(der.octetsOf(keyInfo!.children[1]!.children[0]!));
  const keyBag = keySafe.children[0]!;
  const [digestInfo, macSalt, macIter] = macData!.children;
  return {
    version: Number(der.readInteger(version!)),
    authSafeType: oidOf(authSafeInfo!.children[0]),
    contentTypes: authSafe.children.map((c) => oidOf(c.children[0])),
    encryptedDataVersion: Number(der.readInteger(encryptedData.children[0]!)),
    encryptedContentType: oidOf(eci.children[0]),
    encryptedContentTag: eci.children[2]!.tag,
    certEncryption: describeAlgorithm(eci.children[1]!),
    keyBagCount: keySafe.children.length,
    keyBagType: oidOf(keyBag.children[0]),
    keyEncryption: describeAlgorithm(keyBag.children[1]!.children[0]!.children[0]!),
    keyBagAttributes: attributesOf(keyBag),
    mac: {
      digestAlgorithm: hex(digestInfo!.children[0]!.raw),
      length: digestInfo!.children[1]!.content.length,
      saltLength: macSalt!.content.length,
      iterations: Number(der.readInteger(macIter!)),
    },
  };
}

const COMPAT_PBE = {
  oid: '1.2.840.113549.1.12.1.3',
  saltLength: 8,
  iterations: 2048,
  paramFields: 2,
};
const MODERN_PBES2 = {
  oid: '1.2.840.113549.1.5.13',
  kdf: '1.2.840.113549.1.5.12',
  saltLength: 16,
  iterations: 10000,
  // AlgorithmIdentifier { hmacWithSHA256, NULL }, as OpenSSL 3 writes it; no keyLength field.
  prf: '300c06082a864886f70d02090500',
  prfOid: '1.2.840.113549.2.9',
  kdfFields: 3,
  cipher: '2.16.840.1.101.3.4.1.42',
  ivLength: 16,
};

describe('PKCS#12 KDF (RFC 7292 appendix B)', () => {
  // BouncyCastle's PKCS12 KDF test vectors (PKCS12Test), also checked against forge.pkcs12.generateKey.
  test.each([
    ['smeg', '0a58cf64530d823f', 1, 1, 24, '8aaae6297b6cb04642ab5b077851284eb7128f1a2a7fbca3'],
    ['smeg', '0a58cf64530d823f', 2, 1, 8, '79993dfe048d3b76'],
    ['queeg', '05dec959acff72f7', 1, 1000, 24, 'ed2034e36328830ff09df1e1a07dd357185dac0d4f9eb3d4'],
    ['queeg', '05dec959acff72f7', 3, 1000, 20, '8e6f200e446345e726b49ef9c7899edd9c498401'],
  ])('SHA-1 password %s salt %s id %i iterations %i', (pw, salt, idByte, iterations, length, expected) => {
    expect(
      hex(
        derivePkcs12Key(
          'sha1',
          pkcs12PasswordBytes(pw),
          Buffer.from(salt, 'hex'),
          idByte,
          iterations,
          length,
        ),
      ),
    ).toBe(expected);
  });

  test('SHA-256 output longer than one hash block chains the blocks (value from forge.pkcs12.generateKey)', () => {
    expect(
      hex(derivePkcs12Key('sha256', pkcs12PasswordBytes('p'), Buffer.from('0102', 'hex'), 1, 3, 100)),
    ).toBe(
      '8b6bb9d8203b437525f7607c9c015820705eb6051a4ae1d19404b1f819fe40d9bc1dfd4d022c03345be980e7eb2ee707d786cec1e5' +
        '73673c815af994df4f9b8c17c761150e7e4c7ef667b35a29dcee733706682cdce71ded70e4aaae552f1879a77ecc44',
    );
  });

  test('the password is BMPString with a NUL terminator', () => {
    expect(hex(pkcs12PasswordBytes('aé'))).toBe('006100e90000');
  });
});

describe('forge RC2 adapter', () => {
  // RFC 2268 section 5 vector: key 88bca90e90875a7f0f79c384627bafb2, 128 effective bits; one block with a zero
  // IV, so CBC decryption equals ECB decryption.
  test('decrypts the RFC 2268 test vector', () => {
    const out = rc2CbcDecryptRaw(
      Buffer.from('88bca90e90875a7f0f79c384627bafb2', 'hex'),
      128,
      Buffer.alloc(8),
      Buffer.from('2269552ab0f85ca6', 'hex'),
    );
    expect(hex(out!)).toBe('0000000000000000');
  });

  test('refuses input that is not a whole number of blocks', () => {
    expect(rc2CbcDecryptRaw(Buffer.alloc(5), 40, Buffer.alloc(8), Buffer.alloc(7))).toBeUndefined();
  });
});

describe('createPkcs12 / parsePkcs12', () => {
  test.each(CASES)('%s %s round-trips key, chain, friendlyName and localKeyId', (kt, profile) => {
    const { ca, leaf, key } = id(kt);
    const p12 = bundle(kt, profile);
    const parsed = parsePkcs12(p12, PASSWORD, 'bundle.p12');
    expect(subjectPublicKeyInfo(parsed.privateKey!)).toEqual(subjectPublicKeyInfo(key));
    expect(parsed.privateKey!.asymmetricKeyType).toBe(key.asymmetricKeyType);
    expect(parsed.certificates.map((c) => c.certificate.der)).toEqual([leaf.der, ca.der]);
    const localKeyId = crypto.createHash('sha1').update(leaf.der).digest();
    expect(parsed.certificates.map(({ certificate, ...rest }) => rest)).toEqual([
      { friendlyName: `alice-${kt}`, localKeyId, trusted: false },
      { trusted: false },
    ]);
    const expected =
      profile === 'compat'
        ? {
            macAlgorithm: 'HMAC-SHA1',
            keyEncryption: 'pbeWithSHAAnd3-KeyTripleDES-CBC',
            certEncryption: 'pbeWithSHAAnd3-KeyTripleDES-CBC',
            iterations: 2048,
          }
        : {
            macAlgorithm: 'HMAC-SHA256',
            keyEncryption: 'PBES2 PBKDF2-HMAC-SHA256 AES-256-CBC',
            certEncryption: 'PBES2 PBKDF2-HMAC-SHA256 AES-256-CBC',
            iterations: 10000,
          };
    expect({
      macAlgorithm: parsed.macAlgorithm,
      keyEncryption: parsed.keyEncryption,
      certEncryption: parsed.certEncryption,
      iterations: parsed.iterations,
    }).toEqual(expected);
  });

  test.each(CASES)('%s %s has the exact structure and algorithm OIDs of its profile', (kt, profile) => {
    const w = walk(bundle(kt, profile));
    const localKeyId = crypto.createHash('sha1').update(id(kt).leaf.der).digest();
    const encryption = profile === 'compat' ? COMPAT_PBE : MODERN_PBES2;
    expect(w).toEqual({
      version: 3,
      authSafeType: OID.data,
      contentTypes: [OID.encryptedData, OID.data],
      encryptedDataVersion: 0,
      encryptedContentType: OID.data,
      encryptedContentTag: 0x80,
      certEncryption: encryption,
      keyBagCount: 1,
      keyBagType: '1.2.840.113549.1.12.10.1.2',
      keyEncryption: encryption,
      keyBagAttributes: {
        [OID.friendlyName]: hex(der.set(der.bmpString(`alice-${kt}`))),
        [OID.localKeyId]: hex(der.set(der.octetString(localKeyId))),
      },
      mac:
        profile === 'compat'
          ? { digestAlgorithm: '300906052b0e03021a0500', length: 20, saltLength: 8, iterations: 2048 }
          : {
              digestAlgorithm: '300d06096086480165030402010500',
              length: 32,
              saltLength: 16,
              iterations: 10000,
            },
    });
  });

  test('the leaf certificate bag carries the same friendlyName and localKeyId as the key bag; CA bags none', () => {
    const p12 = bundle('ecdsa-p256', 'compat');
    const certInfo = der.decode(der.octetsOf(der.decode(p12).children[1]!.children[1]!.children[0]!))
      .children[0]!;
    const eci = certInfo.children[1]!.children[0]!.children[1]!;
    const salt = eci.children[1]!.children[1]!.children[0]!.content;
    const pw = pkcs12PasswordBytes(PASSWORD);
    const decipher = crypto.createDecipheriv(
      'des-ede3-cbc',
      derivePkcs12Key('sha1', pw, salt, 1, 2048, 24),
      derivePkcs12Key('sha1', pw, salt, 2, 2048, 8),
    );
    const safe = der.decode(Buffer.concat([decipher.update(eci.children[2]!.content), decipher.final()]));
    expect(safe.children.map((bag) => oidOf(bag.children[0]))).toEqual([OID.certBag, OID.certBag]);
    expect(attributesOf(safe.children[0]!)).toEqual(walk(p12).keyBagAttributes);
    expect(safe.children[1]!.children).toHaveLength(2);
    expect(oidOf(safe.children[0]!.children[1]!.children[0]!.children[0])).toBe(OID.x509Certificate);
  });

  test('custom iteration count and friendlyName', () => {
    const { leaf, key } = id('ed25519');
    const p12 = createPkcs12({
      privateKey: key,
      certificate: leaf,
      password: PASSWORD,
      profile: 'modern',
      iterations: 4096,
      friendlyName: 'Alice’s laptop',
    });
    const w = walk(p12);
    expect([w.mac.iterations, w.keyEncryption['iterations'], w.certEncryption['iterations']]).toEqual([
      4096, 4096, 4096,
    ]);
    const parsed = parsePkcs12(p12, PASSWORD, 'a.p12');
    expect(parsed.certificates.map((c) => c.friendlyName)).toEqual(['Alice’s laptop']);
    expect(parsed.iterations).toBe(4096);
  });

  test('the default profile is compat', () => {
    const { leaf, key } = id('ecdsa-p256');
    const p12 = createPkcs12({ privateKey: key, certificate: leaf, password: PASSWORD });
    expect(walk(p12).keyEncryption).toEqual(COMPAT_PBE);
  });

  test.each(PKCS12_PROFILES)('%s: a wrong password is BAD_PASSWORD', (profile) => {
    const e = errorOf(() => parsePkcs12(bundle('ecdsa-p256', profile), 'wrong', 'ssl/clients/alice.p12'));
    expect([e.code, e.message]).toEqual([
      'BAD_PASSWORD',
      'read ssl/clients/alice.p12: wrong password (the integrity check failed; if the password is right, the file was altered)',
    ]);
  });

  test.each(PKCS12_PROFILES)(
    '%s: any flipped byte inside the MAC-protected content is BAD_PASSWORD',
    (profile) => {
      const p12 = bundle('ecdsa-p256', profile);
      const octets = der.decode(p12).children[1]!.children[1]!.children[0]!;
      const start = octets.raw.byteOffset - p12.byteOffset + (octets.raw.length - octets.content.length);
      const codes = new Set<string>();
      for (let i = start; i < start + octets.content.length; i += 37) {
        const copy = Buffer.from(p12);
        copy[i]! ^= 0x01;
        codes.add(errorOf(() => parsePkcs12(copy, PASSWORD, 'a.p12')).code);
      }
      expect([...codes]).toEqual(['BAD_PASSWORD']);
    },
  );

  test('a flipped byte in the outer structure is PARSE_FAILED', () => {
    const p12 = bundle('ecdsa-p256', 'compat');
    const copy = Buffer.from(p12);
    copy[1]! ^= 0x01; // the PFX length
    const e = errorOf(() => parsePkcs12(copy, PASSWORD, 'a.p12'));
    expect([e.code, e.message]).toEqual([
      'PARSE_FAILED',
      'read a.p12: not a valid PKCS#12 file (malformed ASN.1)',
    ]);
  });

  test('truncated and non-PKCS#12 input is PARSE_FAILED', () => {
    const p12 = bundle('ecdsa-p256', 'modern');
    expect(errorOf(() => parsePkcs12(p12.subarray(0, p12.length - 1), PASSWORD, 'a.p12')).code).toBe(
      'PARSE_FAILED',
    );
    const e = errorOf(() => parsePkcs12(id('ecdsa-p256').leaf.der, PASSWORD, 'leaf.der'));
    expect([e.code, e.message]).toEqual([
      'PARSE_FAILED',
      'read leaf.der: not a valid PKCS#12 file (no PFX version 3)',
    ]);
    expect(errorOf(() => parsePkcs12(Buffer.from('hello'), PASSWORD, 'x')).code).toBe('PARSE_FAILED');
  });

  test('an empty password is refused', () => {
    const { leaf, key } = id('ecdsa-p256');
    const e = errorOf(() => createPkcs12({ privateKey: key, certificate: leaf, password: '' }));
    expect([e.code, e.message, e.hint]).toEqual([
      'INVALID_ARGUMENT',
      'create PKCS#12 bundle: the password is empty',
      'choose a password: macOS Keychain and iOS refuse PKCS#12 files without one',
    ]);
  });

  test('too few iterations and an unknown profile are refused', () => {
    const { leaf, key } = id('ecdsa-p256');
    const base = { privateKey: key, certificate: leaf, password: PASSWORD };
    expect(errorOf(() => createPkcs12({ ...base, iterations: 1000 })).message).toBe(
      'create PKCS#12 bundle: iteration count 1000 is outside 2048..5000000',
    );
    expect(errorOf(() => createPkcs12({ ...base, profile: 'legacy' as Pkcs12Profile })).message).toBe(
      'create PKCS#12 bundle: unknown profile "legacy"',
    );
  });

  test('a key that does not match the certificate is refused', () => {
    const e = errorOf(() =>
      createPkcs12({
        privateKey: id('ecdsa-p384').key,
        certificate: id('ecdsa-p256').leaf,
        password: PASSWORD,
      }),
    );
    expect([e.code, e.message]).toEqual([
      'INVALID_ARGUMENT',
      'create PKCS#12 bundle for CN=alice-ecdsa-p256: the private key does not belong to the certificate',
    ]);
  });
});

describe('createTrustStorePkcs12', () => {
  test.each(CASES)(
    '%s %s: certificate bags with alias and Oracle trusted-key-usage, no key',
    (kt, profile) => {
      const { ca } = id(kt);
      const other = id(kt === 'ed25519' ? 'ecdsa-p256' : 'ed25519').ca;
      const p12 = createTrustStorePkcs12({
        entries: [
          { alias: 'mtls-ca', certificate: ca },
          { alias: 'Other CA', certificate: other },
        ],
        password: PASSWORD,
        profile,
      });
      const parsed = parsePkcs12(p12, PASSWORD, 'trustStore.p12');
      expect(parsed.privateKey).toBeUndefined();
      expect(parsed.keyEncryption).toBeUndefined();
      expect(parsed.certificates).toEqual([
        { certificate: expect.anything(), friendlyName: 'mtls-ca', trusted: true },
        { certificate: expect.anything(), friendlyName: 'Other CA', trusted: true },
      ]);
      expect(parsed.certificates.map((c) => c.certificate.der)).toEqual([ca.der, other.der]);
      expect(parsed.macAlgorithm).toBe(profile === 'compat' ? 'HMAC-SHA1' : 'HMAC-SHA256');
      expect(parsed.certEncryption).toBe(
        profile === 'compat' ? 'pbeWithSHAAnd3-KeyTripleDES-CBC' : 'PBES2 PBKDF2-HMAC-SHA256 AES-256-CBC',
      );
    },
  );

  test('the trusted attribute is exactly SET { anyExtendedKeyUsage } under Oracle OID 2.16.840.1.113894.746875.1.1', () => {
    const p12 = createTrustStorePkcs12({
      entries: [{ alias: 'ca', certificate: id('ecdsa-p256').ca }],
      password: PASSWORD,
      profile: 'compat',
    });
    const authSafe = der.decode(der.octetsOf(der.decode(p12).children[1]!.children[1]!.children[0]!));
    expect(authSafe.children.map((c) => oidOf(c.children[0]))).toEqual([OID.encryptedData]);
    const eci = authSafe.children[0]!.children[1]!.children[0]!.children[1]!;
    expect(describeAlgorithm(eci.children[1]!)).toEqual(COMPAT_PBE);
    const salt = eci.children[1]!.children[1]!.children[0]!.content;
    const pw = pkcs12PasswordBytes(PASSWORD);
    const decipher = crypto.createDecipheriv(
      'des-ede3-cbc',
      derivePkcs12Key('sha1', pw, salt, 1, 2048, 24),
      derivePkcs12Key('sha1', pw, salt, 2, 2048, 8),
    );
    const bag = der.decode(Buffer.concat([decipher.update(eci.children[2]!.content), decipher.final()]))
      .children[0]!;
    expect(attributesOf(bag)).toEqual({
      [OID.friendlyName]: '3106 1e04 00630061'.replace(/ /g, ''),
      // SET { OBJECT IDENTIFIER 2.5.29.37.0 }
      '2.16.840.1.113894.746875.1.1': '3106 0604 551d2500'.replace(/ /g, ''),
    });
  });

  test('an empty password, no entries and duplicate aliases are refused', () => {
    const ca = id('ecdsa-p256').ca;
    expect(
      errorOf(() => createTrustStorePkcs12({ entries: [{ alias: 'ca', certificate: ca }], password: '' }))
        .message,
    ).toBe('create PKCS#12 trust store: the password is empty');
    expect(errorOf(() => createTrustStorePkcs12({ entries: [], password: PASSWORD })).message).toBe(
      'create PKCS#12 trust store: no certificates given',
    );
    const e = errorOf(() =>
      createTrustStorePkcs12({
        entries: [
          { alias: 'CA', certificate: ca },
          { alias: 'ca', certificate: id('ed25519').ca },
        ],
        password: PASSWORD,
      }),
    );
    expect([e.code, e.message]).toEqual([
      'INVALID_ARGUMENT',
      'create PKCS#12 trust store: alias "ca" is used twice (Java ignores case)',
    ]);
  });
});

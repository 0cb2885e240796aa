/**
 * Adding a CA to a Java trust store and taking it out again, in the format the store has: a JKS store keeps
 * every other entry byte for byte (so add then remove is the original file, version 1 stores included); a
 * PKCS#12 store keeps its entries, profile and iteration count; keytool reads both results.
 */
import crypto from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import type { Certificate } from '../../src/pki/certificate.js';
import { createJks, parseJks } from '../../src/pki/jks.js';
import { generateKeyPair } from '../../src/pki/keys.js';
import { createTrustStorePkcs12 } from '../../src/pki/pkcs12.js';
import { parsePkcs12 } from '../../src/pki/pkcs12-read.js';
import { createRootCa } from '../../src/pki/profiles.js';
import {
  addTrustedCertificate,
  removeTrustedCertificate,
  trustedCertificates,
  trustStoreFormat,
} from '../../src/pki/trust-store.js';
import { errorOf } from '../helpers/errors.js';
import { describeWithTools, runOk, tempDir } from '../helpers/tools.js';

const PASSWORD = 'changeit';
let a: Certificate;
let b: Certificate;
let c: Certificate;

beforeAll(async () => {
  const make = async (name: string) =>
    createRootCa({ subject: { commonName: name }, ...(await generateKeyPair('ecdsa-p256')), days: 30 });
  [a, b, c] = [await make('CA a'), await make('CA b'), await make('CA c')];
});

/** A JKS version 1 store (no certificate type strings), as the JDK wrote before 1.2, built by hand. */
function jksVersion1(entries: { alias: string; certificate: Certificate }[]): Buffer {
  const parts: Buffer[] = [];
  const u32 = (n: number) => {
    const x = Buffer.alloc(4);
    x.writeUInt32BE(n);
    return x;
  };
  parts.push(u32(0xfeedfeed), u32(1), u32(entries.length));
  for (const e of entries) {
    const alias = Buffer.from(e.alias, 'utf8');
    const len = Buffer.alloc(2);
    len.writeUInt16BE(alias.length);
    const date = Buffer.alloc(8);
    date.writeBigUInt64BE(1_700_000_000_000n);
    parts.push(u32(2), len, alias, date, u32(e.certificate.der.length), e.certificate.der);
  }
  const body = Buffer.concat(parts);
  const pw = Buffer.from(PASSWORD, 'utf16le').swap16();
  return Buffer.concat([
    body,
    crypto.createHash('sha1').update(pw).update('Mighty Aphrodite').update(body).digest(),
  ]);
}

describe('JKS', () => {
  test('adding puts the entry last and keeps the others byte for byte; removing gives back the file', () => {
    const original = createJks(
      [
        { alias: 'a', certificate: a },
        { alias: 'b', certificate: b },
      ],
      PASSWORD,
      new Date('2024-01-02T03:04:05Z'),
    );
    const added = addTrustedCertificate(original, PASSWORD, 'Mtls-CA-1', c, 'cacerts');
    expect(added.subarray(12, original.length - 20).equals(original.subarray(12, original.length - 20))).toBe(
      true,
    );
    expect(parseJks(added, PASSWORD, 'x').map((e) => [e.alias, e.certificate.fingerprint256])).toEqual([
      ['a', a.fingerprint256],
      ['b', b.fingerprint256],
      ['mtls-ca-1', c.fingerprint256],
    ]);
    expect(removeTrustedCertificate(added, PASSWORD, 'MTLS-ca-1', 'cacerts')!.equals(original)).toBe(true);
    expect(removeTrustedCertificate(original, PASSWORD, 'mtls-ca-1', 'cacerts')).toBeUndefined();
  });

  test('a version 1 store gets a version 1 entry, and comes back the same', () => {
    const original = jksVersion1([{ alias: 'a', certificate: a }]);
    const added = addTrustedCertificate(original, PASSWORD, 'c', c, 'old.jks');
    expect(added.readUInt32BE(4)).toBe(1);
    expect(trustedCertificates(added, PASSWORD, 'x').map((e) => e.alias)).toEqual(['a', 'c']);
    expect(removeTrustedCertificate(added, PASSWORD, 'c', 'old.jks')!.equals(original)).toBe(true);
  });

  test('an alias in use, or a wrong password, changes nothing and says so', () => {
    const original = createJks([{ alias: 'a', certificate: a }], PASSWORD);
    expect(errorOf(() => addTrustedCertificate(original, PASSWORD, 'A', c, 'cacerts')).message).toBe(
      'add "a" to cacerts: the alias is in use',
    );
    expect(errorOf(() => addTrustedCertificate(original, 'wrong', 'c', c, 'cacerts')).code).toBe(
      'BAD_PASSWORD',
    );
  });
});

describe('PKCS#12', () => {
  test('adding keeps the entries, the profile and the iterations; removing takes out only that alias', () => {
    const original = createTrustStorePkcs12({
      entries: [{ alias: 'a', certificate: a }],
      password: PASSWORD,
      profile: 'modern',
      iterations: 4096,
    });
    expect(trustStoreFormat(original)).toBe('PKCS12');
    const added = addTrustedCertificate(original, PASSWORD, 'mtls-ca-1', c, 'store.p12');
    const read = parsePkcs12(added, PASSWORD, 'x');
    expect([read.iterations, read.certEncryption]).toEqual([4096, 'PBES2 PBKDF2-HMAC-SHA256 AES-256-CBC']);
    expect(read.certificates.map((e) => [e.friendlyName, e.trusted])).toEqual([
      ['a', true],
      ['mtls-ca-1', true],
    ]);
    const removed = removeTrustedCertificate(added, PASSWORD, 'mtls-ca-1', 'store.p12')!;
    expect(
      trustedCertificates(removed, PASSWORD, 'x').map((e) => [e.alias, e.certificate.fingerprint256]),
    ).toEqual([['a', a.fingerprint256]]);
  });

  test('a key store (a private key inside) is refused: it is not a trust store', async () => {
    const { createPkcs12 } = await import('../../src/pki/pkcs12.js');
    const { issueClientCertificate } = await import('../../src/pki/profiles.js');
    const caKeys = await generateKeyPair('ecdsa-p256');
    const ca = createRootCa({ subject: { commonName: 'K' }, ...caKeys, days: 1 });
    const keys = await generateKeyPair('ecdsa-p256');
    const leaf = issueClientCertificate({
      ca: { certificate: ca, privateKey: caKeys.privateKey },
      publicKey: keys.publicKey,
      commonName: 'k',
      days: 1,
    });
    const p12 = createPkcs12({ privateKey: keys.privateKey, certificate: leaf, password: PASSWORD });
    const e = errorOf(() => addTrustedCertificate(p12, PASSWORD, 'x', c, 'keyStore.p12'));
    expect([e.code, e.message]).toEqual([
      'UNSUPPORTED',
      'change keyStore.p12: it holds private keys or certificates not marked trusted, so it is a key store, not a trust store',
    ]);
  });
});

describeWithTools(['keytool'], 'keytool reads the changed stores', () => {
  const dir = tempDir('mtls-ca-trust-store-');

  test.each(['JKS', 'PKCS12'] as const)('%s: the added entry is a trustedCertEntry', (format) => {
    const original =
      format === 'JKS'
        ? createJks([{ alias: 'a', certificate: a }], PASSWORD)
        : createTrustStorePkcs12({ entries: [{ alias: 'a', certificate: a }], password: PASSWORD });
    const file = path.join(dir, `store-${format}`);
    writeFileSync(file, addTrustedCertificate(original, PASSWORD, 'mtls-ca-1', c, file));
    const r = runOk('keytool', ['-list', '-keystore', file, '-storetype', format, '-storepass', PASSWORD]);
    expect(r.stdout).toMatch(/Your keystore contains 2 entries/);
    expect(r.stdout).toMatch(/^mtls-ca-1, .*, trustedCertEntry,\s*$/m);
  });
});

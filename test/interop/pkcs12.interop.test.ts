/**
 * Our PKCS#12 bundles against the real readers: OpenSSL 3 (without -legacy), keytool (Java 17) and NSS
 * pk12util; and the other way round, files written by `openssl pkcs12 -export` and keytool read by us.
 */
import crypto from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, expect, test } from 'vitest';
import { Certificate } from '../../src/pki/certificate.js';
import { exportPrivateKeyPem, KEY_TYPES, type KeyType, subjectPublicKeyInfo } from '../../src/pki/keys.js';
import { pemBlocks } from '../../src/pki/pem.js';
import { createPkcs12, PKCS12_PROFILES, type Pkcs12Profile } from '../../src/pki/pkcs12.js';
import { parsePkcs12 } from '../../src/pki/pkcs12-read.js';
import { keytoolArgs, keytoolBatch } from '../helpers/java.js';
import { opensslArgs } from '../helpers/openssl.js';
import { type Identity, makeIdentity } from '../helpers/pki.js';
import { describeWithTools, type RunResult, run, runOk, succeeded, tempDir } from '../helpers/tools.js';

const PASSWORD = 'Interop-p12-secret';

/** Every key type in both profiles. */
const CASES: [KeyType, Pkcs12Profile][] = KEY_TYPES.flatMap((kt) =>
  PKCS12_PROFILES.map((p): [KeyType, Pkcs12Profile] => [kt, p]),
);

const dir = tempDir('mtls-ca-p12-interop-');
const pwFile = path.join(dir, 'password.txt');
const identities = new Map<KeyType, Identity>();
const id = (kt: KeyType): Identity => identities.get(kt)!;
const p12File = (kt: KeyType, profile: Pkcs12Profile): string => path.join(dir, `${kt}-${profile}.p12`);

beforeAll(async () => {
  writeFileSync(pwFile, `${PASSWORD}\n`, { mode: 0o600 });
  for (const kt of KEY_TYPES) identities.set(kt, makeIdentity(kt));
  for (const [kt, profile] of CASES) {
    const { ca, leaf, key } = id(kt);
    writeFileSync(
      p12File(kt, profile),
      createPkcs12({ privateKey: key, certificate: leaf, chain: [ca], password: PASSWORD, profile }),
    );
  }
});

const sha1 = (b: Buffer): Buffer => crypto.createHash('sha1').update(b).digest();

/** Lines of a tool's output, trimmed, so that exact lines can be asserted. */
const lines = (s: string): string[] => s.split('\n').map((l) => l.trim());

describeWithTools(['openssl'], 'OpenSSL 3 reads our PKCS#12 without -legacy', () => {
  /**
   * One `openssl pkcs12 -nodes -info` per bundle, for both tests of it: `-info` adds its report on stderr and
   * leaves stdout exactly what `-nodes` alone writes.
   */
  const readings = new Map<string, RunResult>();
  const readByOpenssl = (kt: KeyType, profile: Pkcs12Profile): RunResult => {
    const file = p12File(kt, profile);
    if (!readings.has(file))
      readings.set(file, runOk('openssl', [...opensslArgs.pkcs12Nodes(file, pwFile), '-info']));
    return readings.get(file)!;
  };

  test.each(CASES)('%s %s: `openssl pkcs12 -nodes` yields our key and the chain in order', (kt, profile) => {
    const { ca, leaf, key } = id(kt);
    const out = readByOpenssl(kt, profile).stdout;
    const keyBlocks = pemBlocks(out).filter((b) => b.label === 'PRIVATE KEY');
    expect(keyBlocks).toHaveLength(1);
    // openssl's own view of the public half of the key it decrypted.
    const pub = runOk('openssl', ['pkey', '-pubout'], {
      input: out.slice(out.indexOf('-----BEGIN PRIVATE KEY-----')),
    }).stdout;
    expect(pemBlocks(pub)[0]!.der).toEqual(subjectPublicKeyInfo(key));
    expect(Certificate.allFromPem(out).map((c) => c.der)).toEqual([leaf.der, ca.der]);
    expect(lines(out)).toContain(`friendlyName: alice-${kt}`);
  });

  test.each(CASES)(
    '%s %s: `openssl pkcs12 -info` reports the MAC and encryption of the profile',
    (kt, profile) => {
      const r = readByOpenssl(kt, profile);
      const report = lines(`${r.stderr}\n${r.stdout}`).filter((l) =>
        /^(MAC|PKCS7|Shrouded|Certificate bag)/.test(l),
      );
      expect(report).toEqual(
        profile === 'compat'
          ? [
              'MAC: sha1, Iteration 2048',
              'MAC length: 20, salt length: 8',
              'PKCS7 Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048',
              'Certificate bag',
              'Certificate bag',
              'PKCS7 Data',
              'Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048',
            ]
          : [
              'MAC: sha256, Iteration 10000',
              'MAC length: 32, salt length: 16',
              'PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration 10000, PRF hmacWithSHA256',
              'Certificate bag',
              'Certificate bag',
              'PKCS7 Data',
              'Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 10000, PRF hmacWithSHA256',
            ],
      );
    },
  );

  test.each(PKCS12_PROFILES)('%s: openssl refuses a wrong password', (profile) => {
    const wrong = path.join(dir, 'wrong.txt');
    writeFileSync(wrong, 'not-the-password\n');
    const r = run('openssl', opensslArgs.pkcs12Nodes(p12File('ecdsa-p256', profile), wrong));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('Mac verify error: invalid password?');
  });
});

describeWithTools(['openssl'], 'we read what `openssl pkcs12 -export` writes', () => {
  const EXPORTS: [KeyType, 'default' | 'legacy'][] = KEY_TYPES.flatMap((kt) =>
    (['default', 'legacy'] as const).map((m): [KeyType, 'default' | 'legacy'] => [kt, m]),
  );

  test.each(EXPORTS)('%s, openssl %s', (kt, mode) => {
    const { ca, leaf, key } = id(kt);
    const base = path.join(dir, `openssl-${kt}-${mode}`);
    writeFileSync(`${base}.key`, exportPrivateKeyPem(key), { mode: 0o600 });
    writeFileSync(`${base}.crt`, leaf.toPem());
    writeFileSync(`${base}-ca.crt`, ca.toPem());
    runOk(
      'openssl',
      opensslArgs.pkcs12Export({
        key: `${base}.key`,
        cert: `${base}.crt`,
        chain: `${base}-ca.crt`,
        name: 'alice',
        passFile: pwFile,
        out: `${base}.p12`,
        legacy: mode === 'legacy',
      }),
    );
    const data = readFileSync(`${base}.p12`);
    const parsed = parsePkcs12(data, PASSWORD, `${base}.p12`);
    expect(subjectPublicKeyInfo(parsed.privateKey!)).toEqual(subjectPublicKeyInfo(key));
    expect(parsed.certificates.map((c) => c.certificate.der)).toEqual([leaf.der, ca.der]);
    expect(parsed.certificates.map(({ certificate, ...rest }) => rest)).toEqual([
      { friendlyName: 'alice', localKeyId: sha1(leaf.der), trusted: false },
      { trusted: false },
    ]);
    const { macAlgorithm, keyEncryption, certEncryption, iterations } = parsed;
    expect({ macAlgorithm, keyEncryption, certEncryption, iterations }).toEqual(
      mode === 'default'
        ? {
            macAlgorithm: 'HMAC-SHA256',
            keyEncryption: 'PBES2 PBKDF2-HMAC-SHA256 AES-256-CBC',
            certEncryption: 'PBES2 PBKDF2-HMAC-SHA256 AES-256-CBC',
            iterations: 2048,
          }
        : {
            macAlgorithm: 'HMAC-SHA1',
            keyEncryption: 'pbeWithSHAAnd3-KeyTripleDES-CBC',
            // RC2 is not in OpenSSL 3's default provider, so this went through forge.
            certEncryption: 'pbeWithSHAAnd40BitRC2-CBC',
            iterations: 2048,
          },
    );
    expect(() => parsePkcs12(data, 'wrong', 'x.p12')).toThrow(
      expect.objectContaining({ code: 'BAD_PASSWORD' }),
    );
  });
});

describeWithTools(['keytool', 'javac'], 'keytool (Java 17) reads our PKCS#12 and we read its', () => {
  const imported = (kt: KeyType, profile: Pkcs12Profile) => path.join(dir, `keytool-${kt}-${profile}.p12`);
  const GENERATED: [string, string[]][] = [
    ['EC', ['-keyalg', 'EC', '-groupname', 'secp384r1']],
    ['RSA', ['-keyalg', 'RSA', '-keysize', '2048']],
    ['Ed25519', ['-keyalg', 'Ed25519']],
  ];
  const generated = (name: string) => path.join(dir, `genkeypair-${name}.p12`);
  let keytool: Record<string, RunResult>;
  const ran = (name: string) => succeeded(keytool[name]!, `keytool ${name}`);

  // Every keytool command of these tests in one JVM; the tests then read the results.
  beforeAll(() => {
    const wrong = path.join(dir, 'keytool-wrong.txt');
    writeFileSync(wrong, 'not-the-password\n');
    keytool = keytoolBatch({
      ...Object.fromEntries(
        CASES.flatMap(([kt, profile]) => [
          [
            `import ${kt} ${profile}`,
            keytoolArgs.importKeystore(p12File(kt, profile), pwFile, imported(kt, profile), pwFile),
          ],
          [`list ${kt} ${profile}`, keytoolArgs.list(imported(kt, profile), pwFile, { verbose: true })],
        ]),
      ),
      ...Object.fromEntries(
        GENERATED.map(([name, keyArgs]) => [
          `genkeypair ${name}`,
          [
            '-genkeypair',
            '-alias',
            'bob',
            ...keyArgs,
            '-dname',
            'CN=bob',
            '-validity',
            '2',
            '-storetype',
            'PKCS12',
            '-keystore',
            generated(name),
            '-storepass:file',
            pwFile,
          ],
        ]),
      ),
      // Expected to fail, so last (see keytoolBatch).
      ...Object.fromEntries(
        PKCS12_PROFILES.map((profile) => [
          `wrong ${profile}`,
          keytoolArgs.list(p12File('ecdsa-p256', profile), wrong, { type: 'PKCS12' }),
        ]),
      ),
    });
  });

  test.each(CASES)(
    '%s %s: `keytool -importkeystore` decrypts the key into a new PKCS12 store',
    (kt, profile) => {
      const { ca, leaf, key } = id(kt);
      const dest = imported(kt, profile);
      ran(`import ${kt} ${profile}`);
      const summary = lines(ran(`list ${kt} ${profile}`).stdout).filter((l) =>
        /^(Your keystore|Alias name|Entry type|Certificate chain length)/.test(l),
      );
      expect(summary).toEqual([
        'Your keystore contains 1 entry',
        `Alias name: alice-${kt}`,
        'Entry type: PrivateKeyEntry',
        'Certificate chain length: 2',
      ]);
      // keytool re-encrypted the key it decrypted: reading its file gives our key back.
      const parsed = parsePkcs12(readFileSync(dest), PASSWORD, dest);
      expect(subjectPublicKeyInfo(parsed.privateKey!)).toEqual(subjectPublicKeyInfo(key));
      expect(parsed.certificates.map((c) => c.certificate.der)).toEqual([leaf.der, ca.der]);
      expect(parsed.certificates[0]!.friendlyName).toBe(`alice-${kt}`);
      const { macAlgorithm, keyEncryption, certEncryption, iterations } = parsed;
      // Java 17's PKCS12 defaults (JDK-8153005).
      expect({ macAlgorithm, keyEncryption, certEncryption, iterations }).toEqual({
        macAlgorithm: 'HMAC-SHA256',
        keyEncryption: 'PBES2 PBKDF2-HMAC-SHA256 AES-256-CBC',
        certEncryption: 'PBES2 PBKDF2-HMAC-SHA256 AES-256-CBC',
        iterations: 10000,
      });
    },
  );

  test.each(PKCS12_PROFILES)('%s: keytool refuses a wrong password', (profile) => {
    const r = keytool[`wrong ${profile}`]!;
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toContain('keystore password was incorrect');
  });

  test.each(GENERATED)('a %s key pair made by `keytool -genkeypair`', (name) => {
    ran(`genkeypair ${name}`);
    const file = generated(name);
    const parsed = parsePkcs12(readFileSync(file), PASSWORD, file);
    expect(parsed.certificates).toHaveLength(1);
    const { certificate, friendlyName, localKeyId, trusted } = parsed.certificates[0]!;
    expect([certificate.commonName, friendlyName, trusted]).toEqual(['bob', 'bob', false]);
    expect(localKeyId).toBeInstanceOf(Buffer);
    expect(subjectPublicKeyInfo(parsed.privateKey!)).toEqual(certificate.spki);
  });
});

describeWithTools(['pk12util', 'certutil', 'openssl'], 'NSS pk12util imports our PKCS#12', () => {
  function freshDb(name: string): string {
    const db = path.join(dir, `nss-${name}`);
    mkdirSync(db);
    runOk('certutil', ['-N', '--empty-password', '-d', `sql:${db}`]);
    return db;
  }

  // NSS 3.87 (Debian 12) has no Ed25519 private keys; those are checked separately below.
  const IMPORTABLE = CASES.filter(([kt]) => kt !== 'ed25519');
  // One database per profile takes the bundles of every key type, each under names of its own (alice-<kt>,
  // Test CA <kt>): each import is still its own pk12util run, and the listings show what each one added, as
  // a database per bundle did with four more processes a bundle.
  const imported = new Map<string, RunResult>();
  const listed = new Map<Pkcs12Profile, { certs: string[][]; keys: string }>();

  beforeAll(() => {
    for (const profile of PKCS12_PROFILES) {
      const db = `sql:${freshDb(profile)}`;
      for (const [kt] of IMPORTABLE.filter(([, p]) => p === profile))
        imported.set(
          `${kt} ${profile}`,
          run('pk12util', ['-i', p12File(kt, profile), '-d', db, '-w', pwFile]),
        );
      listed.set(profile, {
        certs: lines(runOk('certutil', ['-L', '-d', db]).stdout).map((l) => l.split(/\s{2,}/)),
        keys: runOk('certutil', ['-K', '-d', db]).stdout,
      });
    }
  });

  test.each(IMPORTABLE)('%s %s: `pk12util -i` imports key and chain; certutil lists them', (kt, profile) => {
    const r = succeeded(imported.get(`${kt} ${profile}`)!, `pk12util -i ${kt} ${profile}`);
    expect(r.stdout + r.stderr).toContain('PKCS12 IMPORT SUCCESSFUL');
    const { certs, keys } = listed.get(profile)!;
    expect(certs).toContainEqual([`alice-${kt}`, 'u,u,u']);
    expect(certs).toContainEqual([`Test CA ${kt}`, ',,']);
    expect(keys).toMatch(new RegExp(`^<\\s*\\d+> (rsa|ec)\\s+[0-9a-f]{40}\\s+alice-${kt}$`, 'm'));
  });

  /** pk12util's import of openssl's own Ed25519 bundle (the same for both profiles: made once). */
  let opensslEd25519: RunResult | undefined;
  const opensslEd25519Imported = (): RunResult => {
    if (opensslEd25519) return opensslEd25519;
    const { leaf, key } = id('ed25519');
    const base = path.join(dir, 'nss-openssl-ed25519');
    writeFileSync(`${base}.key`, exportPrivateKeyPem(key), { mode: 0o600 });
    writeFileSync(`${base}.crt`, leaf.toPem());
    runOk(
      'openssl',
      opensslArgs.pkcs12Export({
        key: `${base}.key`,
        cert: `${base}.crt`,
        passFile: pwFile,
        out: `${base}.p12`,
      }),
    );
    opensslEd25519 = run('pk12util', [
      '-i',
      `${base}.p12`,
      '-d',
      `sql:${freshDb('ed-openssl')}`,
      '-w',
      pwFile,
    ]);
    return opensslEd25519;
  };

  test.each(PKCS12_PROFILES)(
    'ed25519 %s: pk12util verifies and decrypts it, and imports it exactly when it imports openssl’s',
    (profile) => {
      const listing = runOk('pk12util', ['-l', p12File('ed25519', profile), '-w', pwFile]).stdout;
      expect(listing).toContain('Key(shrouded):');
      expect(listing).toContain('Certificate(has private key):');
      expect(lines(listing)).toContain('Friendly Name: alice-ed25519');

      const theirs = opensslEd25519Imported();
      const ours = run('pk12util', [
        '-i',
        p12File('ed25519', profile),
        '-d',
        `sql:${freshDb(`ed-ours-${profile}`)}`,
        '-w',
        pwFile,
      ]);
      expect(ours.status).toBe(theirs.status);
      if (theirs.status !== 0) expect(ours.stderr).toContain('SEC_ERROR_PKCS12_UNABLE_TO_IMPORT_KEY');
    },
  );

  test('pk12util refuses a wrong password', () => {
    const wrong = path.join(dir, 'nss-wrong.txt');
    writeFileSync(wrong, 'not-the-password\n');
    const r = run('pk12util', [
      '-i',
      p12File('ecdsa-p256', 'compat'),
      '-d',
      `sql:${freshDb('wrong')}`,
      '-w',
      wrong,
    ]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('SEC_ERROR_BAD_PASSWORD');
  });
});

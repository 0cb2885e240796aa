/**
 * Java trust stores (JKS and PKCS#12) against keytool (Java 17): it must list exactly our CA as a
 * trustedCertEntry, refuse a wrong store password, and we must read the stores keytool writes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, expect, test } from 'vitest';
import type { Certificate } from '../../src/pki/certificate.js';
import { createJks, parseJks } from '../../src/pki/jks.js';
import { generateKeyPair, KEY_TYPES, type KeyType } from '../../src/pki/keys.js';
import { createTrustStorePkcs12, PKCS12_PROFILES } from '../../src/pki/pkcs12.js';
import { parsePkcs12 } from '../../src/pki/pkcs12-read.js';
import { createRootCa } from '../../src/pki/profiles.js';
import { describeWithTools, run, runOk, tempDir } from '../helpers/tools.js';

const PASSWORD = 'Trust-store-secret';
const dir = tempDir('mtls-ca-truststore-interop-');
const pwFile = path.join(dir, 'password.txt');
const cas = new Map<KeyType, Certificate>();

type StoreKind = 'jks' | 'p12-compat' | 'p12-modern';
/** JKS and both PKCS#12 profiles for every key type, except RSA-4096, which runs once (JKS). */
const CASES: [KeyType, StoreKind][] = KEY_TYPES.flatMap((kt) =>
  (['jks', 'p12-compat', 'p12-modern'] as const)
    .filter((k) => kt !== 'rsa-4096' || k === 'jks')
    .map((k): [KeyType, StoreKind] => [kt, k]),
);
const storeFile = (kt: KeyType, kind: StoreKind): string =>
  path.join(dir, `trustStore-${kt}.${kind === 'jks' ? 'jks' : `${kind}.p12`}`);

beforeAll(async () => {
  writeFileSync(pwFile, `${PASSWORD}\n`, { mode: 0o600 });
  for (const kt of KEY_TYPES) {
    const keys = await generateKeyPair(kt);
    cas.set(kt, createRootCa({ subject: { commonName: `Test CA ${kt}` }, ...keys, days: 30 }));
  }
  for (const [kt, kind] of CASES) {
    const entries = [{ alias: 'mtls-ca', certificate: cas.get(kt)! }];
    writeFileSync(
      storeFile(kt, kind),
      kind === 'jks'
        ? createJks(entries, PASSWORD)
        : createTrustStorePkcs12({
            entries,
            password: PASSWORD,
            profile: kind === 'p12-compat' ? 'compat' : 'modern',
          }),
    );
  }
});

const lines = (s: string): string[] => s.split('\n').map((l) => l.trim());

describeWithTools(['keytool'], 'keytool lists our trust stores', () => {
  test.each(CASES)('%s %s: exactly one trustedCertEntry with the CA fingerprint', (kt, kind) => {
    const out = runOk('keytool', [
      '-list',
      '-keystore',
      storeFile(kt, kind),
      '-storepass:file',
      pwFile,
    ]).stdout;
    const l = lines(out);
    expect(l).toContain(`Keystore type: ${kind === 'jks' ? 'JKS' : 'PKCS12'}`);
    expect(l).toContain('Your keystore contains 1 entry');
    const entries = l.filter((x) => x.startsWith('mtls-ca, '));
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatch(/^mtls-ca, [A-Z][a-z]{2} \d{1,2}, \d{4}, trustedCertEntry,$/);
    expect(l.filter((x) => x.startsWith('Certificate fingerprint'))).toEqual([
      `Certificate fingerprint (SHA-256): ${cas.get(kt)!.fingerprint256}`,
    ]);
  });

  test.each(['jks', 'p12-compat', 'p12-modern'] as const)(
    '%s: keytool refuses a wrong store password',
    (kind) => {
      const r = run('keytool', [
        '-list',
        '-keystore',
        storeFile('ecdsa-p256', kind),
        '-storepass',
        'wrong-password',
      ]);
      expect(r.status).not.toBe(0);
      expect(r.stdout + r.stderr).toMatch(
        kind === 'jks'
          ? /Keystore was tampered with, or password was incorrect/
          : /keystore password was incorrect/,
      );
    },
  );
});

describeWithTools(['keytool'], 'we read the trust stores keytool writes', () => {
  test.each(KEY_TYPES.filter((kt) => kt !== 'rsa-4096'))('%s: `keytool -importcert -storetype JKS`', (kt) => {
    const ca = cas.get(kt)!;
    const pem = path.join(dir, `ca-${kt}.pem`);
    const file = path.join(dir, `keytool-${kt}.jks`);
    writeFileSync(pem, ca.toPem());
    const before = Date.now();
    runOk('keytool', [
      '-importcert',
      '-noprompt',
      '-alias',
      'Corp-Root',
      '-file',
      pem,
      '-storetype',
      'JKS',
      '-keystore',
      file,
      '-storepass:file',
      pwFile,
    ]);
    const entries = parseJks(readFileSync(file), PASSWORD, file);
    expect(entries.map((e) => [e.alias, e.certificate.fingerprint256])).toEqual([
      ['corp-root', ca.fingerprint256],
    ]);
    // keytool stamps the entry when it writes it.
    expect(entries[0]!.date.getTime()).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 - 1000);
    expect(entries[0]!.date.getTime()).toBeLessThanOrEqual(Date.now());
    expect(() => parseJks(readFileSync(file), 'wrong-password', file)).toThrow(
      expect.objectContaining({ code: 'BAD_PASSWORD' }),
    );
  });

  test('`keytool -importcert -storetype PKCS12` gives a trusted certificate bag', () => {
    const ca = cas.get('ecdsa-p384')!;
    const pem = path.join(dir, 'ca-p12.pem');
    const file = path.join(dir, 'keytool-trust.p12');
    writeFileSync(pem, ca.toPem());
    runOk('keytool', [
      '-importcert',
      '-noprompt',
      '-alias',
      'corp-root',
      '-file',
      pem,
      '-storetype',
      'PKCS12',
      '-keystore',
      file,
      '-storepass:file',
      pwFile,
    ]);
    const parsed = parsePkcs12(readFileSync(file), PASSWORD, file);
    expect(parsed.privateKey).toBeUndefined();
    expect(parsed.certificates.map((c) => [c.friendlyName, c.trusted, c.certificate.fingerprint256])).toEqual(
      [['corp-root', true, ca.fingerprint256]],
    );
  });

  test.each(PKCS12_PROFILES)('%s: keytool re-exports our PKCS#12 trust store entry unchanged', (profile) => {
    const dest = path.join(dir, `reexport-${profile}.p12`);
    runOk('keytool', [
      '-importkeystore',
      '-noprompt',
      '-srckeystore',
      storeFile('ed25519', profile === 'compat' ? 'p12-compat' : 'p12-modern'),
      '-srcstoretype',
      'PKCS12',
      '-srcstorepass:file',
      pwFile,
      '-destkeystore',
      dest,
      '-deststoretype',
      'PKCS12',
      '-deststorepass:file',
      pwFile,
    ]);
    const parsed = parsePkcs12(readFileSync(dest), PASSWORD, dest);
    expect(parsed.certificates.map((c) => [c.friendlyName, c.trusted, c.certificate.der])).toEqual([
      ['mtls-ca', true, cas.get('ed25519')!.der],
    ]);
  });
});

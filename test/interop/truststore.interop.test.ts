/**
 * Java trust stores (JKS and PKCS#12) against keytool (Java 17): it must list exactly our CA as a
 * trustedCertEntry, refuse a wrong store password, and we must read the stores keytool writes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, expect, test } from 'vitest';
import type { Certificate } from '../../src/pki/certificate.js';
import { createJks, parseJks } from '../../src/pki/jks.js';
import { KEY_TYPES, type KeyType } from '../../src/pki/keys.js';
import { createTrustStorePkcs12, PKCS12_PROFILES } from '../../src/pki/pkcs12.js';
import { parsePkcs12 } from '../../src/pki/pkcs12-read.js';
import { createRootCa } from '../../src/pki/profiles.js';
import { fixtureKeys } from '../helpers/fixtures.js';
import { keytoolArgs, keytoolBatch } from '../helpers/java.js';
import { describeWithTools, type RunResult, succeeded, tempDir } from '../helpers/tools.js';

const PASSWORD = 'Trust-store-secret';
const dir = tempDir('mtls-ca-truststore-interop-');
const pwFile = path.join(dir, 'password.txt');
const cas = new Map<KeyType, Certificate>();

type StoreKind = 'jks' | 'p12-compat' | 'p12-modern';
const KINDS = ['jks', 'p12-compat', 'p12-modern'] as const;
/** JKS and both PKCS#12 profiles for every key type. */
const CASES: [KeyType, StoreKind][] = KEY_TYPES.flatMap((kt) =>
  KINDS.map((k): [KeyType, StoreKind] => [kt, k]),
);
const storeFile = (kt: KeyType, kind: StoreKind): string =>
  path.join(dir, `trustStore-${kt}.${kind === 'jks' ? 'jks' : `${kind}.p12`}`);
/** The CA of a key type as PEM, for keytool -importcert. */
const caPem = (kt: KeyType): string => path.join(dir, `ca-${kt}.pem`);

beforeAll(() => {
  writeFileSync(pwFile, `${PASSWORD}\n`, { mode: 0o600 });
  for (const kt of KEY_TYPES) {
    cas.set(kt, createRootCa({ subject: { commonName: `Test CA ${kt}` }, ...fixtureKeys(kt), days: 30 }));
    writeFileSync(caPem(kt), cas.get(kt)!.toPem());
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

describeWithTools(['keytool', 'javac'], 'keytool and our trust stores, both ways', () => {
  const imported = (kt: KeyType) => path.join(dir, `keytool-${kt}.jks`);
  const importedP12 = path.join(dir, 'keytool-trust.p12');
  const reexported = (profile: string) => path.join(dir, `reexport-${profile}.p12`);
  let keytool: Record<string, RunResult>;
  let startedAt: number;
  const ran = (name: string) => succeeded(keytool[name]!, `keytool ${name}`);

  // Every keytool command of these tests in one JVM; the tests then read the results.
  beforeAll(() => {
    const wrong = path.join(dir, 'wrong.txt');
    writeFileSync(wrong, 'wrong-password\n');
    startedAt = Date.now();
    keytool = keytoolBatch({
      ...Object.fromEntries(
        CASES.map(([kt, kind]) => [`list ${kt} ${kind}`, keytoolArgs.list(storeFile(kt, kind), pwFile)]),
      ),
      ...Object.fromEntries(
        KEY_TYPES.map((kt) => [
          `importcert ${kt}`,
          keytoolArgs.importCert('Corp-Root', caPem(kt), imported(kt), 'JKS', pwFile),
        ]),
      ),
      'importcert p12': keytoolArgs.importCert(
        'corp-root',
        caPem('ecdsa-p384'),
        importedP12,
        'PKCS12',
        pwFile,
      ),
      ...Object.fromEntries(
        PKCS12_PROFILES.map((profile) => [
          `reexport ${profile}`,
          keytoolArgs.importKeystore(
            storeFile('ed25519', profile === 'compat' ? 'p12-compat' : 'p12-modern'),
            pwFile,
            reexported(profile),
            pwFile,
          ),
        ]),
      ),
      // Expected to fail, so last (see keytoolBatch).
      ...Object.fromEntries(
        KINDS.map((kind) => [`wrong ${kind}`, keytoolArgs.list(storeFile('ecdsa-p256', kind), wrong)]),
      ),
    });
  });

  test.each(CASES)(
    '%s %s: keytool lists exactly one trustedCertEntry with the CA fingerprint',
    (kt, kind) => {
      const l = lines(ran(`list ${kt} ${kind}`).stdout);
      expect(l).toContain(`Keystore type: ${kind === 'jks' ? 'JKS' : 'PKCS12'}`);
      expect(l).toContain('Your keystore contains 1 entry');
      const entries = l.filter((x) => x.startsWith('mtls-ca, '));
      expect(entries).toHaveLength(1);
      expect(entries[0]).toMatch(/^mtls-ca, [A-Z][a-z]{2} \d{1,2}, \d{4}, trustedCertEntry,$/);
      expect(l.filter((x) => x.startsWith('Certificate fingerprint'))).toEqual([
        `Certificate fingerprint (SHA-256): ${cas.get(kt)!.fingerprint256}`,
      ]);
    },
  );

  test.each(KINDS)('%s: keytool refuses a wrong store password', (kind) => {
    const r = keytool[`wrong ${kind}`]!;
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(
      kind === 'jks'
        ? /Keystore was tampered with, or password was incorrect/
        : /keystore password was incorrect/,
    );
  });

  test.each(KEY_TYPES)('%s: we read what `keytool -importcert -storetype JKS` writes', (kt) => {
    const ca = cas.get(kt)!;
    const file = imported(kt);
    ran(`importcert ${kt}`);
    const entries = parseJks(readFileSync(file), PASSWORD, file);
    expect(entries.map((e) => [e.alias, e.certificate.fingerprint256])).toEqual([
      ['corp-root', ca.fingerprint256],
    ]);
    // keytool stamps the entry when it writes it.
    expect(entries[0]!.date.getTime()).toBeGreaterThanOrEqual(Math.floor(startedAt / 1000) * 1000 - 1000);
    expect(entries[0]!.date.getTime()).toBeLessThanOrEqual(Date.now());
    expect(() => parseJks(readFileSync(file), 'wrong-password', file)).toThrow(
      expect.objectContaining({ code: 'BAD_PASSWORD' }),
    );
  });

  test('we read what `keytool -importcert -storetype PKCS12` writes: a trusted certificate bag', () => {
    const ca = cas.get('ecdsa-p384')!;
    ran('importcert p12');
    const parsed = parsePkcs12(readFileSync(importedP12), PASSWORD, importedP12);
    expect(parsed.privateKey).toBeUndefined();
    expect(parsed.certificates.map((c) => [c.friendlyName, c.trusted, c.certificate.fingerprint256])).toEqual(
      [['corp-root', true, ca.fingerprint256]],
    );
  });

  test.each(PKCS12_PROFILES)('%s: keytool re-exports our PKCS#12 trust store entry unchanged', (profile) => {
    ran(`reexport ${profile}`);
    const dest = reexported(profile);
    const parsed = parsePkcs12(readFileSync(dest), PASSWORD, dest);
    expect(parsed.certificates.map((c) => [c.friendlyName, c.trusted, c.certificate.der])).toEqual([
      ['mtls-ca', true, cas.get('ed25519')!.der],
    ]);
  });
});

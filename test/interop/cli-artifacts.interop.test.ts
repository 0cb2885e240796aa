/**
 * Every file `init` and `issue-client` write, checked by the tools people use them with: OpenSSL 3, keytool,
 * and a Java 17 JSSE server + client loading them the way Spring Boot does — for both `.p12` profiles.
 */
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { cli } from '../helpers/cli.js';
import { javaProgram, keytoolArgs, keytoolBatch } from '../helpers/java.js';
import { opensslArgs } from '../helpers/openssl.js';
import { describeWithTools, type RunResult, runOk, succeeded, tempDir } from '../helpers/tools.js';

const PROFILES = ['compat', 'modern'] as const;
type Profile = (typeof PROFILES)[number];

describeWithTools(['openssl', 'keytool', 'javac'], 'files from init + issue-client', () => {
  const root = tempDir();
  const dirOf = (profile: Profile) => path.join(root, profile, 'ssl');
  const STORES = ['server/keyStore.p12', 'client/client_pavel.p12'];
  const TRUST_STORES = [
    ['server/trustStore.jks', 'JKS'],
    ['server/trustStore.p12', 'PKCS12'],
  ] as const;
  const copyOf = (profile: Profile, store: string) =>
    path.join(root, `${path.basename(store)}.${profile}.copy.p12`);
  let keytool: Record<string, RunResult>;
  let jsse: Record<Profile, string>;

  beforeAll(async () => {
    for (const profile of PROFILES) {
      const dir = dirOf(profile);
      // no store password given: generated ones land in .pass files, as on a fresh demo machine
      const init = await cli(['init', '--dir', dir, '--p12-profile', profile, '--key-type', 'rsa-2048'], {
        MTLS_CA_PASSWORD: 'ca-password',
      });
      expect(init.code, init.stderr).toBe(0);
      const client = await cli(
        ['issue-client', 'pavel', '--role', 'user', '--dir', dir, '--p12-profile', profile],
        {
          MTLS_CA_PASSWORD: 'ca-password',
        },
      );
      expect(client.code, client.stderr).toBe(0);
    }
    fs.writeFileSync(path.join(root, 'changeit.txt'), 'changeit\n');

    // Every keytool command in one JVM, and both JSSE exchanges in another; the tests read the results.
    keytool = keytoolBatch(
      Object.fromEntries(
        PROFILES.flatMap((profile) => {
          const p = (f: string) => path.join(dirOf(profile), f);
          return [
            ...TRUST_STORES.map(([f, type]) => [
              `list ${profile} ${f}`,
              keytoolArgs.list(p(f), p(`${f}.pass`), { type, verbose: true }),
            ]),
            ...STORES.map((f) => [
              `import ${profile} ${f}`,
              keytoolArgs.importKeystore(
                p(f),
                p(`${f}.pass`),
                copyOf(profile, f),
                path.join(root, 'changeit.txt'),
              ),
            ]),
          ];
        }),
      ),
    );
    const exchanges = runOk(
      'java',
      javaProgram(
        'MtlsHandshake',
        PROFILES.flatMap((profile) => {
          const p = (f: string) => path.join(dirOf(profile), f);
          return [
            p('server/keyStore.p12'),
            p('server/keyStore.p12.pass'),
            p('server/trustStore.jks'),
            'JKS',
            p('server/trustStore.jks.pass'),
            p('client/client_pavel.p12'),
            p('client/client_pavel.p12.pass'),
          ];
        }),
      ),
      { timeout: 120_000 },
    ).stdout.split('\n');
    jsse = { compat: exchanges[0]!, modern: exchanges[1]! };
  });

  describe.each(PROFILES)('%s .p12', (profile) => {
    const p = (f: string) => path.join(dirOf(profile), f);

    test('openssl verify accepts the server and client certificates for their purposes', () => {
      expect(
        runOk('openssl', opensslArgs.verify(p('ca/ca.crt'), p('server/server.crt'), { purpose: 'sslserver' }))
          .stdout,
      ).toBe(`${p('server/server.crt')}: OK\n`);
      expect(
        runOk('openssl', opensslArgs.verify(p('ca/ca.crt'), p('client/pavel.crt'), { purpose: 'sslclient' }))
          .stdout,
      ).toBe(`${p('client/pavel.crt')}: OK\n`);
    });

    test('openssl reads the encrypted CA key with the password and the CSR verifies', () => {
      fs.writeFileSync(path.join(root, 'ca.pass'), 'ca-password\n');
      runOk('openssl', [
        'pkey',
        '-in',
        p('ca/ca.key'),
        '-passin',
        `file:${path.join(root, 'ca.pass')}`,
        '-noout',
      ]);
      expect(runOk('openssl', opensslArgs.reqVerify(p('client/pavel.csr'))).stderr).toContain('verify OK');
    });

    test.each(STORES)('openssl pkcs12 -nodes (no -legacy) decrypts %s', (f) => {
      const out = runOk('openssl', opensslArgs.pkcs12Nodes(p(f), p(`${f}.pass`))).stdout;
      expect(out.match(/-----BEGIN PRIVATE KEY-----/g)).toHaveLength(1);
      expect(out.match(/-----BEGIN CERTIFICATE-----/g)).toHaveLength(2);
    });

    test.each(TRUST_STORES)('keytool -list shows the CA as the one trustedCertEntry of %s', (f) => {
      const out = succeeded(keytool[`list ${profile} ${f}`]!, `keytool -list ${f}`).stdout;
      expect(out).toContain('Your keystore contains 1 entry');
      expect(out).toContain('Entry type: trustedCertEntry');
      expect(out).toContain(`SHA256: ${new X509Certificate(fs.readFileSync(p('ca/ca.crt'))).fingerprint256}`);
    });

    test('keytool -importkeystore reads the key out of keyStore.p12 and client_pavel.p12', () => {
      for (const f of STORES) {
        const out = succeeded(keytool[`import ${profile} ${f}`]!, `keytool -importkeystore ${f}`);
        expect(out.stderr + out.stdout).toContain('1 entries successfully imported');
      }
    });

    test('a Java JSSE server (keyStore.p12 + trustStore.jks, need) and client (client_pavel.p12) complete mTLS', () => {
      expect(jsse[profile]).toMatch(
        /^OK server-saw=CN=pavel client-saw=CN=localhost reply=pong protocol=TLSv1\.[23]$/,
      );
    });
  });
});

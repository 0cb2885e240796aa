/**
 * Every file `init` and `issue-client` write, checked by the tools people use them with: OpenSSL 3, keytool,
 * and a Java 17 JSSE server + client loading them the way Spring Boot does.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, expect, test } from 'vitest';
import { cli } from '../helpers/cli.js';
import { describeWithTools, runOk, tempDir } from '../helpers/tools.js';

const JAVA_PROGRAM = path.resolve(import.meta.dirname, 'java/MtlsHandshake.java');

for (const profile of ['compat', 'modern'] as const) {
  describeWithTools(
    ['openssl', 'keytool', 'java'],
    `files from init + issue-client (${profile} .p12)`,
    () => {
      const root = tempDir();
      const dir = path.join(root, 'ssl');
      const p = (f: string) => path.join(dir, f);

      beforeAll(async () => {
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
      });

      test('openssl verify accepts the server and client certificates for their purposes', () => {
        expect(
          runOk('openssl', [
            'verify',
            '-CAfile',
            p('ca/ca.crt'),
            '-purpose',
            'sslserver',
            p('server/server.crt'),
          ]).stdout,
        ).toBe(`${p('server/server.crt')}: OK\n`);
        expect(
          runOk('openssl', [
            'verify',
            '-CAfile',
            p('ca/ca.crt'),
            '-purpose',
            'sslclient',
            p('client/pavel.crt'),
          ]).stdout,
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
        expect(runOk('openssl', ['req', '-in', p('client/pavel.csr'), '-verify', '-noout']).stderr).toContain(
          'verify OK',
        );
      });

      test.each(['server/keyStore.p12', 'client/client_pavel.p12'])(
        'openssl pkcs12 -nodes (no -legacy) decrypts %s',
        (f) => {
          const out = runOk('openssl', [
            'pkcs12',
            '-in',
            p(f),
            '-nodes',
            '-passin',
            `file:${p(`${f}.pass`)}`,
          ]).stdout;
          expect(out.match(/-----BEGIN PRIVATE KEY-----/g)).toHaveLength(1);
          expect(out.match(/-----BEGIN CERTIFICATE-----/g)).toHaveLength(2);
        },
      );

      test.each([
        ['server/trustStore.jks', 'JKS'],
        ['server/trustStore.p12', 'PKCS12'],
      ])('keytool -list shows the CA as the one trustedCertEntry of %s', (f, type) => {
        const pass = fs.readFileSync(p(`${f}.pass`), 'utf8').trim();
        const out = runOk('keytool', [
          '-list',
          '-v',
          '-keystore',
          p(f),
          '-storetype',
          type,
          '-storepass',
          pass,
        ]).stdout;
        expect(out).toContain('Your keystore contains 1 entry');
        expect(out).toContain('Entry type: trustedCertEntry');
        const fp = runOk('openssl', ['x509', '-in', p('ca/ca.crt'), '-noout', '-fingerprint', '-sha256'])
          .stdout.split('=')[1]!
          .trim();
        expect(out).toContain(`SHA256: ${fp}`);
      });

      test('keytool -importkeystore reads the key out of keyStore.p12 and client_pavel.p12', () => {
        for (const f of ['server/keyStore.p12', 'client/client_pavel.p12']) {
          const pass = fs.readFileSync(p(`${f}.pass`), 'utf8').trim();
          const dest = path.join(root, `${path.basename(f)}.${profile}.copy.p12`);
          const out = runOk('keytool', [
            '-importkeystore',
            '-noprompt',
            '-srckeystore',
            p(f),
            '-srcstoretype',
            'PKCS12',
            '-srcstorepass',
            pass,
            '-destkeystore',
            dest,
            '-deststoretype',
            'PKCS12',
            '-deststorepass',
            'changeit',
          ]);
          expect(out.stderr + out.stdout).toContain('1 entries successfully imported');
        }
      });

      test('a Java JSSE server (keyStore.p12 + trustStore.jks, need) and client (client_pavel.p12) complete mTLS', () => {
        const out = runOk(
          'java',
          [
            JAVA_PROGRAM,
            p('server/keyStore.p12'),
            p('server/keyStore.p12.pass'),
            p('server/trustStore.jks'),
            'JKS',
            p('server/trustStore.jks.pass'),
            p('client/client_pavel.p12'),
            p('client/client_pavel.p12.pass'),
          ],
          { timeout: 120_000 },
        );
        expect(out.stdout).toMatch(
          /^OK server-saw=CN=pavel client-saw=CN=localhost reply=pong protocol=TLSv1\.[23]\n$/,
        );
      });
    },
  );
}

/**
 * A CA in PostgreSQL whose key is in a PKCS#11 token (SoftHSM 2): `init --database-url --ca-key` keeps only
 * the key's URI in the database, `init --join` on a second host opens the same token, every command that
 * signs does so in the token on either host, `ca move-key` moves a database CA's encrypted key into a token,
 * `db import` takes a file CA whose key is in a token, and `publish --database-url` answers OCSP and /crl
 * from the database's state — a revocation on the other host included. OpenSSL checks what was signed.
 * Commands run in this process (test/helpers/softhsm.ts), which logs in and out of the token at each as a
 * process of its own does; the real binary runs where its process is the point: the batch that signs from
 * worker threads, and publish, a server the clients reach over the network. Bad input:
 * test/cli/pkcs11-database-errors.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { layout } from '../../src/store/layout.js';
import { verifyWithCrl } from '../helpers/ca-files.js';
import { opensslArgs, x509Print } from '../helpers/openssl.js';
import { within } from '../helpers/poll.js';
import { freePort } from '../helpers/ports.js';
import { describeWithPostgres, freshDatabase, query } from '../helpers/postgres.js';
import { type PublishProcess, startPublish } from '../helpers/publish.js';
import { PIN, SOFTHSM_TOOLS, softHsm, tokenCli } from '../helpers/softhsm.js';
import { describeWithTools, run, runOk, tempDir } from '../helpers/tools.js';

const CA_PASSWORD = 'database-ca-password';

const hsm = softHsm();
const { ok, okBinary } = tokenCli(hsm);
const root = tempDir('mtls-ca-pkcs11-db-');

/**
 * The pause between two probes of publish's answers: each probe starts openssl (and curl), and publish promises
 * a commit within 1 s, so ten probes a second see it soon enough, where the default fifty would spend the CPU.
 */
const PROBE_EVERY_MS = 100;

/** `openssl ocsp` for `cert` of the CA whose certificate is `caCert`, against the responder at `url`. */
function ocsp(caCert: string, cert: string, url: string) {
  return run('openssl', opensslArgs.ocsp(caCert, url, ['-cert', cert]));
}

/** Whether `openssl ocsp` says `status` for `cert` and verified the responder's signature. */
function answers(caCert: string, cert: string, url: string, status: 'good' | 'revoked'): boolean {
  const r = ocsp(caCert, cert, url);
  return r.stdout.includes(`${cert}: ${status}`) && r.stderr.includes('Response verify OK');
}

describeWithTools([...SOFTHSM_TOOLS, 'openssl'], 'a CA in PostgreSQL with its key in a token', () => {
  describeWithPostgres('init --database-url --ca-key, and the commands that sign', () => {
    describe('two hosts on one database, the key in the token', () => {
      let url: string;
      const hostA = path.join(root, 'host-a');
      const hostB = path.join(root, 'host-b');
      const [a, b] = [layout(hostA), layout(hostB)];
      const env = () => ({ MTLS_CA_DATABASE_URL: url });
      let publishUrl: string;
      let port: number;
      let initOut: string;

      beforeAll(async () => {
        url = await freshDatabase();
        port = await freePort();
        publishUrl = `http://127.0.0.1:${port}`;
        initOut = (
          await ok(
            hostA,
            [
              'init',
              '--ca-name',
              'Token DB CA',
              '--ca-key',
              'pkcs11:token=shared;object=db-ca',
              '--publish-url',
              publishUrl,
            ],
            env(),
          )
        ).stdout;
        await ok(hostB, ['init', '--join', '--host', 'b.example.com'], env());
        await ok(hostA, ['issue-client', 'alice', '--role', 'user'], env());
        await ok(hostA, ['issue-client', 'bob', '--role', 'user'], env());
        // big enough for worker threads, which ask the main thread to sign in the token
        const list = path.join(root, 'users.txt');
        fs.writeFileSync(list, Array.from({ length: 200 }, (_, i) => `user${i} user`).join('\n'));
        await okBinary(hostB, ['issue-client', '--from', list], {
          ...env(),
          MTLS_CA_STORE_PASSWORD: 'store-pass',
        });
        const key = path.join(root, 'dave.key');
        const csr = path.join(root, 'dave.csr');
        runOk(
          'openssl',
          ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'].concat([
            '-keyout',
            key,
            '-out',
            csr,
            '-subj',
            '/CN=dave',
          ]),
        );
        await ok(hostB, ['sign-csr', csr], env());
        await ok(hostB, ['revoke', 'bob'], env());
        await ok(hostA, ['renew', 'alice'], env());
        await ok(hostA, ['crl'], env());
      });

      test('the database holds the key URI — no PEM, no PIN — and neither host a key or URI file', async () => {
        const [row] = await query(url, 'SELECT key_pem, key_uri FROM mtls_ca.ca');
        expect(row?.key_pem).toBeNull();
        expect(row?.key_uri).toMatch(/^pkcs11:token=shared;object=db-ca;id=(%[0-9a-f]{2}){8};type=private$/);
        expect(String(row?.key_uri)).not.toContain(PIN);
        for (const l of [a, b]) {
          expect(fs.existsSync(l.caKey)).toBe(false);
          expect(fs.existsSync(l.caKeyUri)).toBe(false);
        }
        expect(initOut).toContain(`Its key was generated in the token and cannot leave it: ${row?.key_uri}`);
        expect(initOut).toMatch(/postgres:\/\/\S+ +- +where the CA key is: a PKCS#11 token/);
        const status = await ok(hostA, ['db', 'status', '--json'], env());
        expect(status.json()).toMatchObject({
          ca: { subject: 'CN=Token DB CA', key: 'reference', keyUri: row?.key_uri },
        });
      });

      test('OpenSSL verifies what the token signed on either host, and finds bob revoked in the CRL', () => {
        const certs = [
          a.client('alice').cert,
          a.server().cert,
          b.server().cert,
          b.client('user0').cert,
          b.client('user199').cert,
          b.client('dave').cert,
        ];
        const r = runOk('openssl', ['verify', '-CAfile', a.caCert, ...certs]);
        expect(r.stdout.match(/: OK$/gm)).toHaveLength(certs.length);
        const bob = verifyWithCrl(hostA, a.client('bob').cert);
        expect(bob.stdout + bob.stderr).toContain('certificate revoked');
        const alice = verifyWithCrl(hostA, a.client('alice').cert);
        expect(alice.stdout).toContain(': OK');
      });

      test('the audit chain holds on both hosts, every line signed in the token', async () => {
        for (const dir of [hostA, hostB]) {
          const r = await ok(dir, ['audit', 'verify'], env());
          expect(r.stdout).toMatch(/: \d+ lines, chain and signatures intact/);
        }
        const ops = (await query(url, 'SELECT line FROM mtls_ca.audit ORDER BY seq')).map(
          (r) => (JSON.parse(String(r.line)) as { op: string }).op,
        );
        expect(ops.filter((op) => op === 'revoke')).toHaveLength(1);
        expect(ops.filter((op) => op === 'issue').length).toBeGreaterThan(200);
      });

      test('publish --database-url: OCSP and /crl follow revocations made on the other host', async () => {
        let publish: PublishProcess | undefined;
        try {
          publish = await startPublish(hostA, port, [], { ...hsm.env, ...env() });
          expect(answers(a.caCert, a.client('alice').cert, publishUrl, 'good')).toBe(true);
          expect(answers(a.caCert, a.client('bob').cert, publishUrl, 'revoked')).toBe(true);
          // user7 was issued on host B: its status comes from the database, not from host A's files
          const user7 = b.client('user7').cert;
          expect(answers(a.caCert, user7, publishUrl, 'good')).toBe(true);
          await ok(hostB, ['revoke', 'user7'], env());
          await within(
            5_000,
            'user7 revoked in the OCSP answers',
            () => answers(a.caCert, user7, publishUrl, 'revoked'),
            PROBE_EVERY_MS,
          );
          const serial = x509Print(['x509', '-in', user7, '-noout', '-serial']).trim().split('=')[1]!;
          const crlFile = path.join(root, 'published.crl');
          await within(
            5_000,
            'user7 in the CRL at /crl',
            () => {
              runOk('curl', ['-s', '-o', crlFile, `${publishUrl}/crl`]);
              const text = runOk('openssl', opensslArgs.crlText(crlFile, undefined, 'DER')).stdout;
              return text.includes(`Serial Number: ${serial.toUpperCase()}`);
            },
            PROBE_EVERY_MS,
          );
          runOk('openssl', ['crl', '-inform', 'DER', '-in', crlFile, '-CAfile', a.caCert, '-noout']);
        } finally {
          await publish?.stop();
        }
      });
    });

    test('publish --database-url for a CA whose key is encrypted in the database', async () => {
      const url = await freshDatabase();
      const dir = path.join(root, 'encrypted-host');
      const l = layout(dir);
      const port = await freePort();
      const publishUrl = `http://127.0.0.1:${port}`;
      const env = { MTLS_CA_DATABASE_URL: url, MTLS_CA_PASSWORD: CA_PASSWORD };
      await ok(dir, ['init', '--ca-name', 'Encrypted DB CA', '--publish-url', publishUrl], env);
      await ok(dir, ['issue-client', 'alice'], env);
      await ok(dir, ['issue-client', 'bob'], env);
      const publish = await startPublish(dir, port, [], { MTLS_CA_DATABASE_URL: url });
      try {
        expect(answers(l.caCert, l.client('alice').cert, publishUrl, 'good')).toBe(true);
        expect(answers(l.caCert, l.client('bob').cert, publishUrl, 'good')).toBe(true);
        await ok(dir, ['revoke', 'bob'], env);
        await within(
          5_000,
          'bob revoked in the OCSP answers',
          () => answers(l.caCert, l.client('bob').cert, publishUrl, 'revoked'),
          PROBE_EVERY_MS,
        );
      } finally {
        await publish.stop();
      }
    });

    test('ca move-key moves a database CA key into the token: the row holds the URI, the token signs', async () => {
      const url = await freshDatabase();
      const dir = path.join(root, 'moved-host');
      const l = layout(dir);
      const env = { MTLS_CA_DATABASE_URL: url };
      await ok(dir, ['init', '--ca-name', 'Moved DB CA'], { ...env, MTLS_CA_PASSWORD: CA_PASSWORD });
      await ok(dir, ['issue-client', 'alice'], { ...env, MTLS_CA_PASSWORD: CA_PASSWORD });
      const moved = await ok(dir, ['ca', 'move-key', '--to', 'pkcs11:token=moved;object=ca-key'], {
        ...env,
        MTLS_CA_PASSWORD: CA_PASSWORD,
      });
      expect(moved.stdout).toContain(
        'Moved the CA key (ecdsa-p256) into the token: pkcs11:token=moved;object=ca-key',
      );
      const [row] = await query(url, 'SELECT key_pem, key_uri FROM mtls_ca.ca');
      expect(row?.key_pem).toBeNull();
      expect(row?.key_uri).toMatch(/^pkcs11:token=moved;object=ca-key;id=/);
      expect(hsm.objects('moved', 'privkey')).toContain('label:      ca-key');
      expect(fs.existsSync(l.caKeyUri)).toBe(false);
      // no CA password from now on: the token signs
      await ok(dir, ['issue-client', 'carol'], env);
      await ok(dir, ['revoke', 'alice'], env);
      expect(runOk('openssl', ['verify', '-CAfile', l.caCert, l.client('carol').cert]).stdout).toContain(
        ': OK',
      );
      const revoked = verifyWithCrl(dir, l.client('alice').cert);
      expect(revoked.stdout + revoked.stderr).toContain('certificate revoked');
      const audit = await ok(dir, ['audit', 'verify'], env);
      expect(audit.stdout).toMatch(/chain and signatures intact/);
      const ops = (await query(url, 'SELECT line FROM mtls_ca.audit ORDER BY seq')).map(
        (r) => (JSON.parse(String(r.line)) as { op: string }).op,
      );
      expect(ops.slice(-4)).toEqual(['move-key', 'issue', 'revoke', 'crl']);
    });

    test('db import of a file CA whose key is in a token: the database holds its URI, a joined host signs', async () => {
      const fileDir = path.join(root, 'file-token-ca');
      await ok(fileDir, [
        'init',
        '--ca-name',
        'Imported Token CA',
        '--ca-key',
        'pkcs11:token=imported;object=ca-key',
      ]);
      await ok(fileDir, ['issue-client', 'alice']);
      const uri = fs.readFileSync(layout(fileDir).caKeyUri, 'utf8').trim();
      const url = await freshDatabase();
      const env = { MTLS_CA_DATABASE_URL: url };
      const imported = await ok(fileDir, ['db', 'import', '--json'], env);
      expect(imported.json()).toMatchObject({ ca: 'CN=Imported Token CA', certificates: 3 });
      const [row] = await query(url, 'SELECT key_pem, key_uri FROM mtls_ca.ca');
      expect(row).toEqual({ key_pem: null, key_uri: uri });
      const joined = path.join(root, 'imported-host');
      await ok(joined, ['init', '--join'], env);
      await ok(joined, ['issue-client', 'bob'], env);
      const l = layout(joined);
      expect(
        runOk('openssl', ['verify', '-CAfile', l.caCert, l.client('bob').cert, l.server().cert]).stdout,
      ).toMatch(/: OK\n.*: OK\n$/);
      expect((await ok(joined, ['audit', 'verify'], env)).stdout).toMatch(/chain and signatures intact/);
    });
  });
});

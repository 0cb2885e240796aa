/**
 * The CA key in a PKCS#11 token (SoftHSM 2): `init --ca-key pkcs11:…` makes it in the token, `ca move-key`
 * moves a file CA's key there, and every signature — certificates, CRLs, audit lines — comes from the token.
 * OpenSSL, Java and Go verify what it signed; pkcs11-tool shows the key as the token keeps it. Commands run
 * in this process (test/helpers/softhsm.ts), which logs in and out of the token at each as a process of its
 * own does; the real binary runs where its process is the point: the batch that signs from worker threads.
 * The five CAs are made first, so that one JVM checks what all of them signed (a JVM start costs more than
 * its checks). Bad input: test/cli/pkcs11-errors.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { layout } from '../../src/store/layout.js';
import { opensslVerifyCaCrl, readAuditRecords, verifyWithCrl } from '../helpers/ca-files.js';
import { goProgram } from '../helpers/go.js';
import { javaProgram } from '../helpers/java.js';
import { opensslArgs, x509Print } from '../helpers/openssl.js';
import { freePort } from '../helpers/ports.js';
import { startPublish } from '../helpers/publish.js';
import { PIN, SOFTHSM_TOOLS, softHsm, tokenCli } from '../helpers/softhsm.js';
import { describeWithTools, run, runOk, tempDir } from '../helpers/tools.js';

const CA_PASSWORD = 'file-ca-password';

const hsm = softHsm();
const root = tempDir('mtls-ca-pkcs11-');
let n = 0;
const freshDir = () => path.join(root, `${n++}`, 'ssl');

const { ok, okBinary, run: runInDir } = tokenCli(hsm);

/** A CA of this file and the files of it that Java verifies with its certificate (the CA certificate first). */
const javaChecks: string[][] = [];
/** How each CA of the describe blocks below is made: all of them before the first test (see the file comment). */
const setups: (() => Promise<void>)[] = [];
let javaOut: string | undefined;

/**
 * The lines Java printed for the files in `dir`, from one JVM for every CA in {@link javaChecks}:
 * `verified <file> <algorithm>` for each, in order (runOk throws at the first that does not verify).
 */
function javaLinesOf(dir: string): string[] {
  javaOut ??= runOk(
    'java',
    javaProgram(
      'VerifySigned',
      javaChecks.flatMap((g, i) => (i ? ['--', ...g] : g)),
    ),
  ).stdout;
  return javaOut.split('\n').filter((line) => line.startsWith(`verified ${dir}/`));
}

describeWithTools(
  [...SOFTHSM_TOOLS, 'openssl', 'java', 'go'],
  'a CA key in a PKCS#11 token (SoftHSM)',
  () => {
    beforeAll(async () => {
      for (const setup of setups) await setup();
    });

    describe.each([
      ['ecdsa-p256', 'p256', 'ecdsa-with-SHA256'],
      ['ecdsa-p384', 'p384', 'ecdsa-with-SHA384'],
      ['rsa-2048', 'rsa', 'sha256WithRSAEncryption'],
    ] as const)('init --ca-key --key-type %s', (keyType, token, opensslAlgorithm) => {
      const dir = freshDir();
      const l = layout(dir);
      let initOut: string;
      javaChecks.push([
        l.caCert,
        l.caCert,
        l.server().cert,
        l.client('alice').cert,
        l.client('bob').cert,
        l.crl,
      ]);
      setups.push(async () => {
        const init = await ok(dir, [
          'init',
          '--ca-name',
          `Token CA ${keyType}`,
          '--key-type',
          keyType,
          '--ca-key',
          `pkcs11:token=${token};object=ca-key`,
        ]);
        initOut = init.stdout;
        await ok(dir, ['issue-client', 'alice', '--role', 'user']);
        await ok(dir, ['issue-client', 'bob', '--role', 'user']);
        await ok(dir, ['revoke', 'bob']);
      });

      test('the directory keeps the key URI (no PIN), no key file; init says where the key is', () => {
        expect(fs.existsSync(l.caKey)).toBe(false);
        const uri = fs.readFileSync(l.caKeyUri, 'utf8');
        expect(uri).toMatch(
          new RegExp(`^pkcs11:token=${token};object=ca-key;id=(%[0-9a-f]{2}){8};type=private\\n$`),
        );
        expect(uri).not.toContain(PIN);
        expect(fs.statSync(l.caKeyUri).mode & 0o777).toBe(0o644);
        expect(initOut).toContain(`Its key was generated in the token and cannot leave it: ${uri.trim()}`);
      });

      test('doctor finds no error and says where the CA key is', async () => {
        // bob's revocation left a user without a certificate: a warning, exit 1, not the key's doing
        const r = await runInDir(dir, ['doctor']);
        expect(r.stdout).toMatch(/^0 errors, 1 warning in /m);
        const uri = fs.readFileSync(l.caKeyUri, 'utf8').trim();
        expect(r.stdout + r.stderr).toContain(
          `ca/ca-key.uri: the CA key is in a PKCS#11 token (${uri}); every command that signs checks it, doctor does not open the token`,
        );
      });

      test('the token keeps the private key sensitive and never extractable', () => {
        const listing = hsm.objects(token, 'privkey');
        expect(listing).toContain('label:      ca-key');
        expect(listing).toMatch(/Usage:\s+sign\n/);
        expect(listing).toMatch(/Access:\s+sensitive, always sensitive, never extractable, local/);
      });

      test('OpenSSL verifies the certificates and the CRL, and finds bob revoked', () => {
        const alice = l.client('alice').cert;
        expect(runOk('openssl', ['verify', '-CAfile', l.caCert, alice, l.server().cert]).stdout).toContain(
          `${alice}: OK`,
        );
        expect(x509Print(['x509', '-in', alice, '-noout', '-text'])).toContain(
          `Signature Algorithm: ${opensslAlgorithm}`,
        );
        opensslVerifyCaCrl(dir);
        const bob = verifyWithCrl(dir, l.client('bob').cert);
        expect(bob.status).not.toBe(0);
        expect(bob.stdout + bob.stderr).toContain('certificate revoked');
      });

      test('Java verifies the CA certificate, the leaves and the CRL', () => {
        const files = [l.caCert, l.server().cert, l.client('alice').cert, l.client('bob').cert, l.crl];
        expect(javaLinesOf(dir).map((line) => line.split(' ')[1])).toEqual(files);
      });

      test('Go verifies the CA certificate, the leaves and the CRL', () => {
        const files = [l.caCert, l.server().cert, l.client('alice').cert, l.crl];
        const r = runOk(goProgram('verify-signed'), [l.caCert, ...files]);
        expect(r.stdout.trim().split('\n')).toHaveLength(files.length);
        for (const f of files) expect(r.stdout).toContain(`verified ${f}`);
      });

      test('every audit line is signed by the token key, and audit verify holds', async () => {
        // OpenSSL checks the last line's signature over the line without it, with the CA certificate's key
        const line = fs.readFileSync(l.auditLog, 'utf8').trimEnd().split('\n').at(-1)!;
        const sig = /,"sig":"([A-Za-z0-9_-]+)"}$/.exec(line)!;
        const work = path.join(path.dirname(dir), 'audit-check');
        fs.mkdirSync(work, { recursive: true });
        const [body, signature, pub] = ['body', 'sig', 'pub.pem'].map((f) => path.join(work, f)) as [
          string,
          string,
          string,
        ];
        fs.writeFileSync(body, `${line.slice(0, sig.index)}}`);
        fs.writeFileSync(signature, Buffer.from(sig[1]!, 'base64url'));
        fs.writeFileSync(pub, x509Print(['x509', '-in', l.caCert, '-pubkey', '-noout']));
        const hash = keyType === 'ecdsa-p384' ? '-sha384' : '-sha256';
        expect(runOk('openssl', ['dgst', hash, '-verify', pub, '-signature', signature, body]).stdout).toBe(
          'Verified OK\n',
        );
        const ops = readAuditRecords(dir).map((r) => r.op);
        expect(ops).toEqual(['init', 'issue', 'crl', 'issue', 'issue', 'revoke', 'crl']);
        const r = await ok(dir, ['audit', 'verify']);
        expect(r.stdout).toContain('7 lines, chain and signatures intact');
      });
    });

    test('a batch big enough for worker threads: they ask the main thread to sign in the token, and build the rest', async () => {
      const dir = freshDir();
      const l = layout(dir);
      await ok(dir, ['init', '--ca-name', 'Batch CA', '--ca-key', 'pkcs11:token=p256;object=batch-key']);
      const list = path.join(path.dirname(dir), 'users.txt');
      fs.writeFileSync(list, Array.from({ length: 200 }, (_, i) => `user${i} user`).join('\n'));
      const r = await okBinary(dir, ['issue-client', '--from', list, '--json'], {
        MTLS_CA_STORE_PASSWORD: 'store-pass',
      });
      expect(r.json<{ clients: unknown[] }>().clients).toHaveLength(200);
      const certs = [0, 99, 199].map((i) => l.client(`user${i}`).cert);
      expect(runOk('openssl', ['verify', '-CAfile', l.caCert, ...certs]).stdout.match(/: OK/g)).toHaveLength(
        3,
      );
      await ok(dir, ['audit', 'verify']);
    });

    test('OCSP: publish --auto-renew answers for a token CA, and openssl verifies the responder the token certified', async () => {
      const dir = freshDir();
      const l = layout(dir);
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      await ok(dir, [
        'init',
        '--ca-name',
        'OCSP CA',
        '--ca-key',
        'pkcs11:token=p256;object=ocsp-ca',
        '--publish-url',
        url,
      ]);
      await ok(dir, ['issue-client', 'alice']);
      await ok(dir, ['issue-client', 'bob']);
      await ok(dir, ['revoke', 'bob']);
      // A script's --ca-password-file, stale or missing: a token CA needs no password, so it is never read.
      const noPassword = ['--ca-password-file', path.join(dir, 'no-such.pass')];
      const publish = await startPublish(dir, port, ['--auto-renew', ...noPassword], hsm.env);
      try {
        const ocsp = (name: string) =>
          run('openssl', opensslArgs.ocsp(l.caCert, url, ['-cert', l.client(name).cert]));
        const alice = ocsp('alice');
        expect(alice.stdout).toContain(`${l.client('alice').cert}: good`);
        // the delegated responder's signature, and its certificate's chain to the CA — signed in the token
        expect(alice.stderr).toContain('Response verify OK');
        const bob = ocsp('bob');
        expect(bob.stdout).toContain(`${l.client('bob').cert}: revoked`);
        expect(bob.stderr).toContain('Response verify OK');
      } finally {
        await publish.stop();
      }
    });

    describe.each([
      ['ecdsa-p256', 'move-ec'],
      ['rsa-2048', 'move-rsa'],
    ] as const)('ca move-key of a %s file CA', (keyType, token) => {
      const dir = freshDir();
      const l = layout(dir);
      const env = { MTLS_CA_PASSWORD: CA_PASSWORD };
      let moveOut: string;
      javaChecks.push([l.caCert, l.client('alice').cert, l.client('carol').cert, l.crl]);
      setups.push(async () => {
        await ok(dir, ['init', '--ca-name', `Moved CA ${keyType}`, '--key-type', keyType], env);
        await ok(dir, ['issue-client', 'alice'], env);
        moveOut = (await ok(dir, ['ca', 'move-key', '--to', `pkcs11:token=${token};object=moved`], env))
          .stdout;
        await ok(dir, ['issue-client', 'carol']); // no CA password now: the token signs
        await ok(dir, ['revoke', 'alice']);
      });

      test('the key file is gone, the URI is in its place, and the move is in the audit log', () => {
        expect(fs.existsSync(l.caKey)).toBe(false);
        expect(fs.readFileSync(l.caKeyUri, 'utf8')).toMatch(
          new RegExp(`^pkcs11:token=${token};object=moved;id=`),
        );
        expect(moveOut).toContain(
          `Moved the CA key (${keyType}) into the token: pkcs11:token=${token};object=moved`,
        );
        expect(readAuditRecords(dir).map((r) => r.op)).toEqual([
          'init',
          'issue',
          'crl',
          'issue',
          'move-key',
          'issue',
          'revoke',
          'crl',
        ]);
      });

      test('the token keeps the moved key sensitive and not extractable', () => {
        const listing = hsm.objects(token, 'privkey');
        expect(listing).toContain('label:      moved');
        expect(listing).toMatch(/Usage:\s+sign\n/);
        // made outside the token: sensitive and not extractable now, but not "always sensitive"
        expect(listing).toMatch(/Access:\s+sensitive\n/);
      });

      test('certificates from before and after the move verify with the same CA certificate', async () => {
        const [alice, carol] = [l.client('alice').cert, l.client('carol').cert];
        expect(runOk('openssl', ['verify', '-CAfile', l.caCert, carol]).stdout).toContain(`${carol}: OK`);
        const revoked = verifyWithCrl(dir, alice);
        expect(revoked.stdout + revoked.stderr).toContain('certificate revoked');
        expect(javaLinesOf(dir).map((line) => line.split(' ')[1])).toEqual([alice, carol, l.crl]);
        await ok(dir, ['audit', 'verify']);
      });
    });
  },
);

/**
 * `mtls-ca publish` (the real binary) read by the real consumers: `openssl ocsp` (good, revoked with reason,
 * unknown; the responder's signature and the nonce verified; SHA-1 and SHA-256 CertIDs), `openssl crl` on
 * /crl, curl's conditional GET (the way a cron job polls for a new CRL), and nginx with `ssl_ocsp on`
 * refusing a revoked client certificate by asking the responder the certificate names.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { cli } from '../helpers/cli.js';
import { opensslArgs, x509Print } from '../helpers/openssl.js';
import { within } from '../helpers/poll.js';
import { freePort, waitForPort } from '../helpers/ports.js';
import { curlAs, type PublishProcess, startPublish } from '../helpers/publish.js';
import { describeWithTools, run, runOk, tempDir } from '../helpers/tools.js';

const env = { MTLS_CA_PASSWORD: 'ca-password', MTLS_CA_STORE_PASSWORD: 'store-pw' };

describeWithTools(['openssl', 'curl', 'nginx'], 'mtls-ca publish with openssl, curl and nginx', () => {
  const root = tempDir('mtls-ca-publish-interop-');
  const dir = path.join(root, 'ssl');
  const p = (f: string) => path.join(dir, f);
  let port: number;
  let url: string;
  let publish: PublishProcess;

  /** `openssl ocsp` against the responder the certificate names, verifying with the CA only. */
  const ocsp = (args: string[]) => run('openssl', opensslArgs.ocsp(p('ca/ca.crt'), url, args));

  beforeAll(async () => {
    port = await freePort();
    url = `http://127.0.0.1:${port}`;
    expect((await cli(['init', '--dir', dir, '--publish-url', url], env)).code).toBe(0);
    for (const n of ['alice', 'bob', 'carol'])
      expect((await cli(['issue-client', n, '--role', 'user', '--dir', dir], env)).code).toBe(0);
    expect((await cli(['revoke', 'alice', '--reason', 'keyCompromise', '--dir', dir], env)).code).toBe(0);
    publish = await startPublish(dir, port);
  });

  afterAll(async () => {
    await publish?.stop();
  });

  test('openssl ocsp: bob good, alice revoked (keyCompromise), a serial never issued unknown — verified, nonce checked', () => {
    const bob = ocsp(['-cert', p('client/bob.crt')]);
    expect(bob.stdout).toMatch(/client\/bob\.crt: good\n\tThis Update: .*\n\tNext Update: /);
    // "Response verify OK": the signature of the delegated responder, its OCSPSigning EKU, its chain to the CA.
    expect(bob.stderr).toContain('Response verify OK');
    // openssl sends a nonce by default and says so when the response does not echo it.
    expect(bob.stderr).not.toMatch(/nonce/i);
    const alice = ocsp(['-cert', p('client/alice.crt')]);
    expect(alice.stdout).toMatch(
      /client\/alice\.crt: revoked\n.*\n.*\n\tReason: keyCompromise\n\tRevocation Time: /,
    );
    expect(alice.stderr).toContain('Response verify OK');
    const unknown = ocsp(['-serial', '0x0123456789abcdef']);
    expect(unknown.stdout).toMatch(/^0x0123456789abcdef: unknown\n/);
    expect(unknown.stderr).toContain('Response verify OK');
  });

  test('openssl ocsp -resp_text: byKey responder ID, the nonce echoed, the responder certificate included', () => {
    const r = ocsp(['-cert', p('client/bob.crt'), '-resp_text']);
    expect(r.stdout).toMatch(/Responder Id: [0-9A-F]{40}\n/);
    expect(r.stdout).toContain('OCSP Nonce:');
    expect(r.stdout).toContain('Subject: CN=OCSP responder');
    expect(r.stdout).toContain('OCSP Signing');
    expect(r.stdout).toContain('OCSP No Check');
  });

  test('a SHA-256 CertID and a request without nonce are answered as well', () => {
    const r = ocsp(['-sha256', '-no_nonce', '-cert', p('client/alice.crt')]);
    expect(r.stdout).toContain('client/alice.crt: revoked');
    expect(r.stderr).toContain('Response verify OK');
  });

  test('a revocation reaches openssl ocsp while publish runs', async () => {
    expect(ocsp(['-cert', p('client/carol.crt')]).stdout).toContain(': good');
    expect((await cli(['revoke', 'carol', '--dir', dir], env)).code).toBe(0);
    await within(1_000, 'openssl ocsp reads carol revoked', () =>
      ocsp(['-cert', p('client/carol.crt')]).stdout.includes('client/carol.crt: revoked'),
    );
  });

  test('openssl crl -inform DER reads /crl, verified by the CA, listing the revoked serials', () => {
    const der = path.join(root, 'crl.der');
    runOk('curl', ['-sf', '-o', der, `${url}/crl`]);
    const text = runOk('openssl', opensslArgs.crlText(der, p('ca/ca.crt'), 'DER'));
    expect(text.stderr).toContain('verify OK');
    const alice = x509Print(['x509', '-in', p('client/alice.crt'), '-noout', '-serial']).trim();
    expect(text.stdout).toContain(`Serial Number: ${alice.replace('serial=', '')}`);
  });

  test('curl polling /crl: 304 with -z (If-Modified-Since) and --etag-compare until a new CRL appears', async () => {
    const file = path.join(root, 'poll.der');
    const etag = path.join(root, 'etag');
    const get = (...args: string[]) =>
      runOk('curl', ['-s', '-o', file, '-w', '%{http_code}', ...args, `${url}/crl`]).stdout;
    expect(get('-R', '--etag-save', etag)).toBe('200');
    expect(get('-z', file)).toBe('304');
    expect(get('--etag-compare', etag)).toBe('304');
    expect((await cli(['crl', '--dir', dir], env)).code).toBe(0);
    await within(1_000, 'a new CRL at /crl', () => get('--etag-compare', etag) === '200');
  });

  test('GET /ca.crt is the CA certificate, DER', () => {
    const der = path.join(root, 'ca.der');
    runOk('curl', ['-sf', '-o', der, `${url}/ca.crt`]);
    const fromPublish = x509Print([
      'x509',
      '-inform',
      'DER',
      '-in',
      der,
      '-noout',
      '-fingerprint',
      '-sha256',
    ]);
    const onDisk = x509Print(['x509', '-in', p('ca/ca.crt'), '-noout', '-fingerprint', '-sha256']);
    expect(fromPublish).toBe(onDisk);
  });

  test('nginx ssl_ocsp on: bob → 200, the revoked alice → refused (400) by the responder her certificate names; publish down → bob refused too', async () => {
    const nginxPort = await freePort();
    const prefix = path.join(root, 'nginx');
    fs.mkdirSync(prefix);
    const conf = path.join(prefix, 'nginx.conf');
    fs.writeFileSync(
      conf,
      `daemon off;
master_process off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log info;
events { worker_connections 64; }
http {
  access_log ${prefix}/access.log;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  server {
    listen 127.0.0.1:${nginxPort} ssl;
    ssl_certificate ${p('server/server.crt')};
    ssl_certificate_key ${p('server/server.key')};
    ssl_client_certificate ${p('ca/ca.crt')};
    ssl_verify_client on;
    # OCSP for client certificates (nginx >= 1.19): the responder from each certificate's AIA.
    ssl_ocsp on;
    location / { return 200 "hello $ssl_client_s_dn\\n"; }
  }
}
`,
    );
    const nginx: ChildProcess = spawn(
      'nginx',
      ['-p', prefix, '-c', conf, '-e', path.join(prefix, 'error.log')],
      {
        stdio: 'ignore',
      },
    );
    try {
      await waitForPort(nginxPort);
      const get = (name: string) =>
        curlAs(dir, name, `https://localhost:${nginxPort}/`, ['-w', '\n%{http_code}']).stdout;
      expect(get('bob')).toBe('hello CN=bob\n\n200');
      expect(get('alice')).toMatch(/400 The SSL certificate error.*\n400$/s);
      const log = fs.readFileSync(path.join(prefix, 'error.log'), 'utf8');
      expect(log).toContain('client SSL certificate verify error: certificate revoked');
      // and the responder saw nginx's requests (RFC 5019 GET); access lines are written in batches
      await within(5_000, "nginx's OCSP request in publish's log", () =>
        publish.output().includes('GET /ocsp/<request> 200'),
      );
      // Publish down: nginx cannot learn the status, and refuses (hard fail). SIGTERM: a graceful exit 0.
      expect(await publish.stop()).toBe(0);
      expect(get('bob')).toMatch(/400 The SSL certificate error.*\n400$/s);
      expect(fs.readFileSync(path.join(prefix, 'error.log'), 'utf8')).toContain(
        'while requesting certificate status, responder: 127.0.0.1',
      );
    } finally {
      nginx.kill('SIGTERM');
      await new Promise((r) => nginx.once('exit', r));
    }
  });
});

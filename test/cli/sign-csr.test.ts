/** sign-csr with requests made by openssl, issue-server, and the malformed/forged/expired inputs around them. */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, expect, test } from 'vitest';
import { cli } from '../helpers/cli.js';
import { opensslArgs, x509Print } from '../helpers/openssl.js';
import { describeWithTools, run, runOk, tempDir } from '../helpers/tools.js';
import { snapshot } from './snapshot.js';

const env = { MTLS_CA_PASSWORD: 'ca-password', MTLS_CA_STORE_PASSWORD: 'store-pw' };

describeWithTools(['openssl'], 'sign-csr and issue-server', () => {
  const root = tempDir();
  const dir = path.join(root, 'ssl');
  const ca = path.join(dir, 'ca/ca.crt');

  function opensslCsr(name: string, subj: string, extra: string[] = []): string {
    const csr = path.join(root, `${name}.csr`);
    runOk('openssl', [
      'req',
      '-new',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      path.join(root, `${name}.key`),
      '-subj',
      subj,
      '-out',
      csr,
      ...extra,
    ]);
    return csr;
  }

  beforeAll(async () => {
    expect((await cli(['init', '--dir', dir], env)).code).toBe(0);
  });

  test('a client CSR from openssl req is signed: CN kept, clientAuth only, DNS SANs left out with a warning', async () => {
    const csr = opensslCsr('bob', '/CN=bob/O=Outside', [
      '-addext',
      'subjectAltName=DNS:bob.example,email:bob@example.com',
    ]);
    const r = await cli(['sign-csr', csr, '--role', 'user', '--dir', dir, '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('warning: left out of the client certificate: DNS:bob.example\n');
    const j = r.json<{
      name: string;
      roles: string[];
      certificate: { subject: string; email: string[]; dns: string[] };
    }>();
    expect(j).toMatchObject({ name: 'bob', profile: 'client', roles: ['user'] });
    expect(j.certificate.subject).toBe('CN=bob');
    expect(j.certificate.email).toEqual(['bob@example.com']);
    expect(j.certificate.dns).toEqual([]);
    const crt = path.join(dir, 'client/bob.crt');
    runOk('openssl', opensslArgs.verify(ca, crt, { purpose: 'sslclient' }));
    // the certificate carries the CSR's key
    const fromKey = runOk('openssl', ['pkey', '-in', path.join(root, 'bob.key'), '-pubout']).stdout;
    // One reading of the certificate: the public key, then the extension (x509 prints in the options' order).
    const printed = x509Print(['x509', '-in', crt, '-noout', '-pubkey', '-ext', 'extendedKeyUsage']);
    const keyEnd = printed.indexOf('-----END PUBLIC KEY-----\n') + '-----END PUBLIC KEY-----\n'.length;
    const fromCert = printed.slice(0, keyEnd);
    expect(fromCert).toBe(fromKey);
    expect(printed.slice(keyEnd)).toMatch(
      /^X509v3 Extended Key Usage: \n\s+TLS Web Client Authentication\n$/,
    );
    const list = (await cli(['list', '--dir', dir, '--json'])).json<{ certificates: { name: string }[] }>();
    expect(list.certificates.map((c) => c.name)).toContain('bob');
  });

  test('a server CSR is signed under the server profile with its SANs', async () => {
    const csr = opensslCsr('web', '/CN=web.example', [
      '-addext',
      'subjectAltName=DNS:web.example,IP:10.0.0.7',
    ]);
    const out = path.join(root, 'web.crt');
    const r = await cli(['sign-csr', csr, '--profile', 'server', '--out', out, '--dir', dir, '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({
      profile: 'server',
      certificate: { dns: ['web.example'], ip: ['10.0.0.7'] },
    });
    runOk('openssl', opensslArgs.verify(ca, out, { purpose: 'sslserver' }));
    expect(run('openssl', opensslArgs.verify(ca, out, { purpose: 'sslclient' })).status).not.toBe(0);
  });

  test('profile rules: a client CSR without CN and a server CSR without SAN are refused', async () => {
    const before = snapshot(dir);
    const noCn = opensslCsr('nocn', '/O=Nobody');
    const a = await cli(['sign-csr', noCn, '--dir', dir], env);
    expect(a.code).toBe(1);
    expect(a.stderr.split('\n')[0]).toBe(
      `error: sign ${noCn}: the request has no subject CN, which names the client user (INVALID_ARGUMENT)`,
    );
    const noSan = opensslCsr('nosan', '/CN=host.example');
    const b = await cli(['sign-csr', noSan, '--profile', 'server', '--dir', dir], env);
    expect(b.code).toBe(1);
    expect(b.stderr).toContain(
      'the request has no DNS or IP subjectAltName, which a server certificate needs',
    );
    expect(snapshot(dir)).toEqual(before);
  });

  test('forged, truncated and garbage CSRs are clear errors that change nothing', async () => {
    const good = fs.readFileSync(opensslCsr('eve', '/CN=eve'), 'utf8');
    const before = snapshot(dir);
    // forge: change the CN inside the signed request (base64 of the DER, re-armoured)
    const b64 = good.replace(/-----[^-]+-----/g, '').replace(/\s/g, '');
    const derBytes = Buffer.from(b64, 'base64');
    const at = derBytes.indexOf(Buffer.from('eve'));
    derBytes[at] = 'a'.charCodeAt(0); // CN=ave, signature no longer matches
    const forged = path.join(root, 'forged.csr');
    fs.writeFileSync(
      forged,
      `-----BEGIN CERTIFICATE REQUEST-----\n${derBytes.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`,
    );
    const f = await cli(['sign-csr', forged, '--dir', dir], env);
    expect(f.code).toBe(1);
    expect(f.stderr).toMatch(
      new RegExp(`^error: .*${forged.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*\\(BAD_SIGNATURE\\)\\n`),
    );

    const truncated = path.join(root, 'truncated.csr');
    fs.writeFileSync(
      truncated,
      `-----BEGIN CERTIFICATE REQUEST-----\n${b64.slice(0, 200)}\n-----END CERTIFICATE REQUEST-----\n`,
    );
    const t = await cli(['sign-csr', truncated, '--dir', dir], env);
    expect(t.code).toBe(1);
    expect(t.stderr).toContain('(PARSE_FAILED)');

    const missing = await cli(['sign-csr', path.join(root, 'nope.csr'), '--dir', dir], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr.split('\n')[0]).toBe(
      `error: read ${path.join(root, 'nope.csr')}: no such file (NOT_FOUND)`,
    );
    expect(snapshot(dir)).toEqual(before);
  });

  test('issue-server writes another leaf with its key store; an existing name needs --force', async () => {
    const r = await cli(['issue-server', 'api.example.com', '10.0.0.5', '--dir', dir, '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({
      name: 'api.example.com',
      certificate: { dns: ['api.example.com'], ip: ['10.0.0.5'] },
    });
    const crt = path.join(dir, 'server/api.example.com.crt');
    runOk('openssl', opensslArgs.verify(ca, crt, { purpose: 'sslserver' }));
    const p12 = path.join(dir, 'server/api.example.com.p12');
    const storePassFile = path.join(root, 'store-password');
    fs.writeFileSync(storePassFile, `${env.MTLS_CA_STORE_PASSWORD}\n`);
    const out = runOk('openssl', opensslArgs.pkcs12Nodes(p12, storePassFile)).stdout;
    expect(out).toContain('subject=CN = api.example.com');
    expect((fs.statSync(path.join(dir, 'server/api.example.com.key')).mode & 0o777).toString(8)).toBe('600');

    const again = await cli(['issue-server', 'api.example.com', '--dir', dir], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(
      '(ALREADY_EXISTS)\nhint: pass --name to choose another name, or --force to replace it',
    );
    const badHost = await cli(['issue-server', 'not a host', '--name', 'x', '--dir', dir], env);
    expect(badHost.code).toBe(1);
    expect(badHost.stderr.split('\n')[0]).toBe(
      'error: use host "not a host": not an IP address, nor a DNS name: its label "not a host" has a character other than a-z, 0-9 and "-" (INVALID_ARGUMENT)',
    );
  });

  test('an expired CA refuses to issue (CA_EXPIRED) and says how to start over', async () => {
    const old = path.join(root, 'old-ca');
    expect((await cli(['init', '--dir', old, '--ca-days', '1'], env)).code).toBe(0);
    // Replace the CA certificate with one for the same key that ended two days ago.
    const { parsePrivateKey } = await import('../../src/pki/keys.js');
    const { createRootCa } = await import('../../src/pki/profiles.js');
    const { createPublicKey } = await import('node:crypto');
    const key = parsePrivateKey(fs.readFileSync(path.join(old, 'ca/ca.key')), 'ca-password', 'ca.key');
    const expired = createRootCa({
      subject: { commonName: 'Expired CA' },
      privateKey: key,
      publicKey: createPublicKey(key),
      days: 1,
      now: new Date(Date.now() - 3 * 86_400_000),
    });
    fs.writeFileSync(path.join(old, 'ca/ca.crt'), expired.toPem());
    const before = snapshot(old);
    const r = await cli(['issue-client', 'late', '--dir', old], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^error: use CA CN=Expired CA: it expired on \d{4}-\d\d-\d\dT[\d:.]+Z \(CA_EXPIRED\)\nhint: create a new CA with `mtls-ca init --force`/,
    );
    expect(snapshot(old)).toEqual(before);
  });
});

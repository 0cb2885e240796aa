/**
 * `init --intermediate` through the CLI: a root and the intermediate it signs, the files that carry the chain,
 * both levels of revocation, and the root's key taken offline and brought back — each artifact checked with
 * OpenSSL (`verify -untrusted`, `-crl_check_all` with ca/crl.pem, which needs the CRLs of both levels).
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { cli } from '../helpers/cli.js';
import { opensslArgs, x509Print } from '../helpers/openssl.js';
import { describeWithTools, run, runOk, tempDir } from '../helpers/tools.js';
import { snapshot } from './snapshot.js';

const env = { MTLS_CA_PASSWORD: 'ca-password', MTLS_CA_STORE_PASSWORD: 'store-pw' };

/** `openssl verify` of `cert` trusting `root` alone, the intermediates in `untrusted`, with every CRL checked. */
function verifyChain(dir: string, cert: string, o: { untrusted?: string; crls?: boolean } = {}) {
  return run('openssl', [
    'verify',
    '-CAfile',
    path.join(dir, 'ca/root.crt'),
    ...(o.untrusted === undefined ? [] : ['-untrusted', o.untrusted]),
    ...(o.crls ? ['-crl_check_all', '-CRLfile', path.join(dir, 'ca/crl.pem')] : []),
    cert,
  ]);
}

/** `subject=` lines of OpenSSL's output as `CN=…` (OpenSSL 3 writes `CN = …`). */
function subjectLines(text: string): string[] {
  return [...text.matchAll(/^subject=\/?(.*)$/gm)].map((m) => m[1]!.replace(/ = /g, '='));
}

/** The subjects of the certificates of a PEM file, in order, as OpenSSL reads them. */
function subjectsOf(file: string): string[] {
  return subjectLines(
    runOk('sh', [
      '-c',
      'openssl crl2pkcs7 -nocrl -certfile "$1" | openssl pkcs7 -print_certs -noout',
      'sh',
      file,
    ]).stdout,
  );
}

async function serialOf(file: string): Promise<string> {
  const r = await cli(['inspect', file, '--json']);
  return r.json<{ certificates: { serial: string }[] }>().certificates[0]!.serial;
}

describeWithTools(['openssl'], 'init --intermediate', () => {
  const root = tempDir('mtls-ca-intermediate-');
  const dir = path.join(root, 'ssl');
  const p = (f: string) => path.join(dir, f);
  const offline = path.join(root, 'usb', 'root.key');

  beforeAll(async () => {
    const r = await cli(['init', '--intermediate', '--ca-name', 'Acme Root', '--dir', dir], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      'Created root CA "Acme Root" and below it the intermediate "Acme Root Intermediate 1" that issues',
    );
    const pavel = await cli(['issue-client', 'pavel', '--role', 'user', '--dir', dir], env);
    expect(pavel.code, pavel.stderr).toBe(0);
    fs.mkdirSync(path.dirname(offline));
  });

  test('the root has pathlen 1, the intermediate pathlen 0 and the root as its authority; the keys are encrypted', () => {
    const rootText = x509Print(opensslArgs.x509Text(p('ca/root.crt')));
    const intText = x509Print(opensslArgs.x509Text(p('ca/ca.crt')));
    expect(rootText).toMatch(/Basic Constraints: critical\n\s+CA:TRUE, pathlen:1\n/);
    expect(rootText).toContain('Subject: CN = Acme Root\n');
    expect(intText).toMatch(/Basic Constraints: critical\n\s+CA:TRUE, pathlen:0\n/);
    expect(intText).toContain('Issuer: CN = Acme Root\n');
    expect(intText).toContain('Subject: CN = Acme Root Intermediate 1\n');
    const rootSki = rootText.match(/Subject Key Identifier: \n\s+(\S+)\n/)![1];
    expect(intText).toMatch(new RegExp(`Authority Key Identifier: \\n\\s+(keyid:)?${rootSki}\\n`));
    for (const key of ['ca/root.key', 'ca/ca.key']) {
      expect(fs.statSync(p(key)).mode & 0o777).toBe(0o600);
      expect(fs.readFileSync(p(key), 'utf8')).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
    }
  });

  test('chain.pem, the server fullchain, keyStore.p12 and the client .p12 carry the intermediate; the trust stores the root', () => {
    const int = 'CN=Acme Root Intermediate 1';
    expect(subjectsOf(p('ca/chain.pem'))).toEqual([int, 'CN=Acme Root']);
    expect(subjectsOf(p('ca/ca-bundle.pem'))).toEqual([int, 'CN=Acme Root']);
    expect(subjectsOf(p('server/server.fullchain.pem'))).toEqual(['CN=localhost', int]);
    const pass = path.join(root, 'store.pass');
    fs.writeFileSync(pass, 'store-pw\n');
    for (const [p12, leaf] of [
      ['client/client_pavel.p12', 'CN=pavel'],
      ['server/keyStore.p12', 'CN=localhost'],
    ] as const) {
      const pem = runOk('openssl', opensslArgs.pkcs12Nodes(p(p12), pass)).stdout;
      expect(subjectLines(pem)).toEqual([leaf, int]);
    }
    const trust = runOk('openssl', opensslArgs.pkcs12Nodes(p('server/trustStore.p12'), pass)).stdout;
    expect(subjectLines(trust)).toEqual(['CN=Acme Root']);
  });

  test('openssl verify: the root alone does not vouch for a leaf; with -untrusted the intermediate it does, CRLs of both levels included', () => {
    const alone = verifyChain(dir, p('client/pavel.crt'));
    expect(alone.status).not.toBe(0);
    expect(alone.stdout + alone.stderr).toContain('unable to get local issuer certificate');
    for (const leaf of ['client/pavel.crt', 'server/server.crt']) {
      const r = verifyChain(dir, p(leaf), { untrusted: p('ca/ca.crt'), crls: true });
      expect(r.stdout + r.stderr).toBe(`${p(leaf)}: OK\n`);
    }
    const viaChain = verifyChain(dir, p('server/server.crt'), { untrusted: p('ca/chain.pem') });
    expect(viaChain.status).toBe(0);
  });

  test('list, inspect and the audit log name the issuer', async () => {
    const listed = (await cli(['list', '--dir', dir, '--json'])).json<{
      certificates: { name: string; issuer: string }[];
    }>();
    expect(Object.fromEntries(listed.certificates.map((c) => [c.name, c.issuer]))).toEqual({
      pavel: 'CN=Acme Root Intermediate 1',
      server: 'CN=Acme Root Intermediate 1',
      'Acme Root Intermediate 1': 'CN=Acme Root',
      'Acme Root': 'CN=Acme Root',
    });
    const table = (await cli(['list', '--dir', dir])).stdout;
    expect(table.split('\n')[0]).toMatch(/ STATUS +ISSUER$/);
    expect(table).toMatch(/\npavel +client .* valid +Acme Root Intermediate 1\n/);
    const inspected = await cli(['inspect', p('client/pavel.crt')]);
    expect(inspected.stdout).toContain('CN=Acme Root Intermediate 1');
    const crls = (await cli(['inspect', p('ca/crl.pem'), '--json'])).json<{
      issuer: string;
      others?: { issuer: string }[];
    }>();
    expect([crls.issuer, ...(crls.others ?? []).map((c) => c.issuer)]).toEqual([
      'CN=Acme Root Intermediate 1',
      'CN=Acme Root',
    ]);
    expect((await cli(['inspect', p('ca/crl.pem')])).stdout).toContain(
      `\nCRL ${p('ca/crl.pem')} (2 of 2)\n  Issuer:       CN=Acme Root\n`,
    );
    const issues = fs
      .readFileSync(p('ca/audit.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { op: string; subject?: string; issuer?: string });
    expect(issues.filter((l) => l.op === 'issue').map((l) => [l.subject, l.issuer])).toEqual([
      ['CN=Acme Root Intermediate 1', 'CN=Acme Root'],
      ['CN=localhost', 'CN=Acme Root Intermediate 1'],
      ['CN=pavel', 'CN=Acme Root Intermediate 1'],
    ]);
    const verified = await cli(['audit', 'verify', '--dir', dir]);
    expect(verified.code, verified.stderr).toBe(0);
  });

  test('snippet: servers trust the bundle and send the fullchain; trust installs the root', async () => {
    const nginx = await cli(['snippet', 'nginx', '--dir', dir]);
    expect(nginx.code, nginx.stderr).toBe(0);
    expect(nginx.stdout).toMatch(
      new RegExp(`\\n\\s+ssl_certificate\\s+${p('server/server.fullchain.pem')};\\n`),
    );
    expect(nginx.stdout).toMatch(new RegExp(`\\n\\s+ssl_client_certificate\\s+${p('ca/ca-bundle.pem')};\\n`));
    const trust = await cli(['trust', 'install', '--nss', '--dry-run', '--dir', dir], { HOME: root });
    expect(trust.stdout).toMatch(
      new RegExp(`certutil -A .* -n 'Acme Root \\[mtls-ca [0-9a-f]+\\]' -t C,, -i ${p('ca/root.crt')}\\n`),
    );
  });

  test('doctor: a directory with an intermediate is clean (the CA verifies with the root, the stores hold the root)', async () => {
    const r = await cli(['doctor', '--dir', dir], env);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^clean: /);
  });

  test('revoking the intermediate that issues, or the root, is refused and changes nothing', async () => {
    const before = snapshot(dir);
    const int = await cli(['revoke', await serialOf(p('ca/ca.crt')), '--dir', dir], env);
    expect(int.code).toBe(1);
    expect(int.stderr).toMatch(
      /^error: revoke [0-9a-f]+: that is the intermediate CA that issues \(CN=Acme Root Intermediate 1\) \(INVALID_ARGUMENT\)\nhint: issue from a new intermediate first \(`mtls-ca ca rotate`\), then revoke this one by its serial\n$/,
    );
    const rootCa = await cli(['revoke', await serialOf(p('ca/root.crt')), '--dir', dir], env);
    expect(rootCa.code).toBe(1);
    expect(rootCa.stderr).toContain('that is the CA certificate (INVALID_ARGUMENT)');
    expect(snapshot(dir)).toEqual(before);
  });

  test('root export: the key leaves in one step; issuing and revoking leaves go on; root work says the key is needed', async () => {
    const inside = await cli(['root', 'export', '--out', p('root-copy.key'), '--dir', dir], env);
    expect(inside.code).toBe(1);
    expect(inside.stderr).toContain(
      'that is inside the CA directory, which is what the key leaves (INVALID_ARGUMENT)',
    );

    const key = fs.readFileSync(p('ca/root.key'));
    const r = await cli(['root', 'export', '--out', offline, '--dir', dir], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Wrote the key of root CA "Acme Root" to ${offline} and removed`);
    expect(fs.existsSync(p('ca/root.key'))).toBe(false);
    expect(fs.readFileSync(offline)).toEqual(key);
    expect(fs.statSync(offline).mode & 0o777).toBe(0o600);

    const again = await cli(['root', 'export', '--out', `${offline}.2`, '--dir', dir], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('(offline already) (NOT_FOUND)');

    expect((await cli(['issue-client', 'alice', '--role', 'user', '--dir', dir], env)).code).toBe(0);
    const revoked = await cli(['revoke', 'alice', '--dir', dir, '--json'], env);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.json()).toMatchObject({ crl: { issuer: 'CN=Acme Root Intermediate 1', revoked: 1 } });
    const bad = verifyChain(dir, p('client/alice.crt'), { untrusted: p('ca/ca.crt'), crls: true });
    expect(bad.stdout + bad.stderr).toContain('certificate revoked');

    const crl = await cli(['crl', '--dir', dir], env);
    expect(crl.code, crl.stderr).toBe(0);
    expect(crl.stdout).toMatch(
      /Kept the CRL of the root "Acme Root" \(next update \d{4}-\d\d-\d\d\): its key is offline; re-sign it before then, after `mtls-ca root import FILE`\./,
    );

    const before = snapshot(dir);
    const rotate = await cli(['ca', 'rotate', '--dir', dir], env);
    expect(rotate.code).toBe(1);
    expect(rotate.stderr).toMatch(
      /^error: rotate the CA: the root's key .*root\.key signs the new intermediate, and it is offline \(NOT_FOUND\)\nhint: bring the root key back with `mtls-ca root import FILE`/,
    );
    expect(snapshot(dir)).toEqual(before);
  });

  test('root import: a key that is not the root’s is refused; the root’s comes back encrypted', async () => {
    const before = snapshot(dir);
    const wrong = await cli(['root', 'import', p('client/pavel.key'), '--dir', dir], env);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(
      /: it is not the key of CN=Acme Root \(.*root\.crt\) \(INVALID_ARGUMENT\)\n/,
    );
    expect(snapshot(dir)).toEqual(before);
    const r = await cli(['root', 'import', offline, '--dir', dir], env);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readFileSync(p('ca/root.key'), 'utf8')).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
    expect(fs.statSync(p('ca/root.key')).mode & 0o777).toBe(0o600);
    const twice = await cli(['root', 'import', offline, '--dir', dir], env);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toMatch(
      /^error: import the root key: .*root\.key is in .* already \(ALREADY_EXISTS\)\nhint: nothing to bring back; `mtls-ca root export --out FILE` takes it offline\n$/,
    );
    const audit = await cli(['audit', 'verify', '--dir', dir]);
    expect(audit.code, audit.stderr).toBe(0);
  });

  describe('rotation under the root, then the old intermediate revoked', () => {
    let oldSerial: string;

    test('ca rotate: a new intermediate issues; the old one moves to ca/previous and stays trusted', async () => {
      oldSerial = await serialOf(p('ca/ca.crt'));
      // carol stays with the old intermediate (for doctor, once it is revoked).
      expect((await cli(['issue-client', 'carol', '--role', 'user', '--dir', dir], env)).code).toBe(0);
      const trustBefore = fs.readFileSync(p('server/trustStore.jks'));
      const r = await cli(['ca', 'rotate', '--dir', dir], env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(
        'Created the intermediate "Acme Root Intermediate 2" under the root "Acme Root"',
      );
      expect(fs.existsSync(p(`ca/previous/${oldSerial}/ca.crt`))).toBe(true);
      expect(fs.statSync(p(`ca/previous/${oldSerial}/ca.key`)).mode & 0o777).toBe(0o600);
      // The trust stores hold the root, which did not change.
      expect(fs.readFileSync(p('server/trustStore.jks'))).toEqual(trustBefore);
      expect(subjectsOf(p('ca/ca-bundle.pem'))).toEqual([
        'CN=Acme Root Intermediate 2',
        'CN=Acme Root',
        'CN=Acme Root Intermediate 1',
      ]);
      expect((await cli(['issue-client', 'bob', '--role', 'user', '--dir', dir], env)).code).toBe(0);
      for (const [leaf, untrusted] of [
        ['client/bob.crt', 'ca/ca.crt'],
        ['client/pavel.crt', `ca/previous/${oldSerial}/ca.crt`],
      ]) {
        const v = verifyChain(dir, p(leaf!), { untrusted: p(untrusted!), crls: true });
        expect(v.stdout + v.stderr).toBe(`${p(leaf!)}: OK\n`);
      }
      const listed = (await cli(['list', '--dir', dir])).stdout;
      expect(listed).toContain(
        `Previous CA "Acme Root Intermediate 1" (serial ${oldSerial}) still vouches for 3 certificates in use`,
      );
    });

    test('renew moves a certificate to the new intermediate', async () => {
      const r = await cli(['renew', 'pavel', '--dir', dir, '--json'], env);
      expect(r.code, r.stderr).toBe(0);
      const pem = x509Print(opensslArgs.x509Text(p('client/pavel.crt')));
      expect(pem).toContain('Issuer: CN = Acme Root Intermediate 2\n');
    });

    test('revoking the old intermediate by its serial puts it in the root’s CRL: every leaf under it fails openssl verify, and doctor flags those in use', async () => {
      const r = await cli(['revoke', oldSerial, '--dir', dir, '--json'], env);
      expect(r.code, r.stderr).toBe(0);
      // the day the revocation was recorded, not read from the clock again (a run across midnight UTC)
      const revokedOn = (await cli(['list', '--dir', dir, '--json']))
        .json<{ certificates: { serial: string; revokedAt?: string }[] }>()
        .certificates.find((c) => c.serial === oldSerial)!
        .revokedAt!.slice(0, 10);
      expect(r.json()).toMatchObject({
        revoked: [{ profile: 'ca', serial: oldSerial }],
        crl: { issuer: 'CN=Acme Root', role: 'root', revoked: 1 },
      });
      const chain = p('chain-old.pem');
      fs.writeFileSync(chain, fs.readFileSync(p(`ca/previous/${oldSerial}/ca.crt`)));
      const server = verifyChain(dir, p('server/server.crt'), { untrusted: chain, crls: true });
      expect(server.stdout + server.stderr).toContain('certificate revoked');
      const bob = verifyChain(dir, p('client/bob.crt'), { untrusted: p('ca/ca.crt'), crls: true });
      expect(bob.stdout + bob.stderr).toBe(`${p('client/bob.crt')}: OK\n`);
      expect((await cli(['audit', 'verify', '--dir', dir])).code).toBe(0);
      // Certificates of the previous intermediate are judged against it, the new one's against the new one;
      // those it issued that are still in use are refused by servers checking the chain's CRLs.
      const doctor = await cli(['doctor', '--dir', dir], env);
      expect(doctor.stdout.split('\n').filter((l) => /^(error|warning) /.test(l))).toEqual([
        `error    client/carol.crt   CERT_ISSUER_REVOKED: issued by CN=Acme Root Intermediate 1, which the root revoked on ${revokedOn} — servers that check the CRL of each link of the chain (nginx ssl_crl, mtls-ca serve) refuse it: renew it, with the CA that issues now: mtls-ca renew carol --dir ${dir}`,
        `error    server/server.crt  CERT_ISSUER_REVOKED: issued by CN=Acme Root Intermediate 1, which the root revoked on ${revokedOn} — servers that check the CRL of each link of the chain (nginx ssl_crl, mtls-ca serve) refuse it: renew it, with the CA that issues now: mtls-ca renew server --dir ${dir}`,
        // alice's one certificate is revoked
        `warning  users.json         USER_WITHOUT_CERTIFICATE: user alice has no certificate in use: nobody can log in as alice — issue one (mtls-ca issue-client alice --dir ${dir}) or remove the user`,
      ]);
    });
  });
});

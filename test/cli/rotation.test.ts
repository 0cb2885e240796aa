/**
 * `ca rotate` and `ca retire` of a CA that is its own root, through the CLI: the old and the new root are
 * trusted side by side (ca-bundle.pem, both trust stores, a CRL each in ca/crl.pem) until nothing the old one
 * issued is in use; `list` says what it still vouches for; `renew` moves a certificate over; revoking an old
 * certificate goes into the old CA's CRL. Checked with OpenSSL and keytool.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, expect, test } from 'vitest';
import { cli } from '../helpers/cli.js';
import { keytool } from '../helpers/java.js';
import { opensslArgs, x509Print } from '../helpers/openssl.js';
import { describeWithTools, run, tempDir } from '../helpers/tools.js';
import { snapshot } from './snapshot.js';

const env = { MTLS_CA_PASSWORD: 'ca-password', MTLS_CA_STORE_PASSWORD: 'store-pw' };

interface Listing {
  certificates: { name: string; issuer: string; status: string }[];
  previous?: { subject: string; serial: string; inUse: number; lastNotAfter?: string }[];
}

describeWithTools(['openssl', 'keytool'], 'ca rotate and ca retire of a CA that is its own root', () => {
  const root = tempDir('mtls-ca-rotation-');
  const dir = path.join(root, 'ssl');
  const p = (f: string) => path.join(dir, f);
  let oldSerial: string;
  const list = async () => (await cli(['list', '--dir', dir, '--json'])).json<Listing>();
  /** openssl verify of `cert` against every CA in force, with every CRL of ca/crl.pem. */
  const verify = (cert: string) =>
    run('openssl', [
      ...opensslArgs.verify(p('ca/ca-bundle.pem'), cert, { crlFile: p('ca/crl.pem') }),
      '-crl_check_all',
    ]);

  beforeAll(async () => {
    expect((await cli(['init', '--ca-name', 'Rot CA', '--dir', dir], env)).code).toBe(0);
    for (const n of ['pavel', 'alice'])
      expect((await cli(['issue-client', n, '--role', 'user', '--dir', dir], env)).code).toBe(0);
    oldSerial = (await cli(['inspect', p('ca/ca.crt'), '--json'])).json<{
      certificates: { serial: string }[];
    }>().certificates[0]!.serial;
  });

  test('rotate: a new root issues, the old one stays in both trust stores, the bundle and the CRLs', async () => {
    const r = await cli(['ca', 'rotate', '--dir', dir], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /^Created CA "Rot CA 2" \(ecdsa-p256\), valid until \d{4}-\d\d-\d\d: it issues from now on\.\n/,
    );
    expect(r.stdout).toMatch(
      new RegExp(`\\nThe previous CA "Rot CA" moved to \\S*ca/previous/${oldSerial} and stays trusted: `),
    );
    expect(r.stdout).toMatch(/3 certificates it issued are in use, the last until \d{4}-\d\d-\d\d\./);

    const jks = keytool(['-list', '-keystore', p('server/trustStore.jks'), '-storepass', 'store-pw']);
    expect(jks.stdout).toContain('Your keystore contains 2 entries');
    expect(jks.stdout).toMatch(/\nca, .*trustedCertEntry/);
    expect(jks.stdout).toMatch(new RegExp(`\\nca-${oldSerial}, .*trustedCertEntry`));

    expect((await cli(['issue-client', 'bob', '--role', 'user', '--dir', dir], env)).code).toBe(0);
    for (const leaf of ['client/pavel.crt', 'client/bob.crt', 'server/server.crt']) {
      expect(verify(p(leaf)).stdout).toBe(`${p(leaf)}: OK\n`);
    }
    const issuers = Object.fromEntries((await list()).certificates.map((c) => [c.name, c.issuer]));
    expect(issuers).toMatchObject({ pavel: 'CN=Rot CA', bob: 'CN=Rot CA 2', 'Rot CA 2': 'CN=Rot CA 2' });
  });

  test('list says what the previous CA still vouches for and how to retire it; retire refuses while it is in use', async () => {
    const listing = await list();
    expect(listing.previous).toEqual([
      expect.objectContaining({ subject: 'CN=Rot CA', serial: oldSerial, inUse: 3 }),
    ]);
    const text = (await cli(['list', '--dir', dir])).stdout;
    expect(text).toMatch(
      new RegExp(
        `\\nPrevious CA "Rot CA" \\(serial ${oldSerial}\\) still vouches for 3 certificates in use, the last until \\d{4}-\\d\\d-\\d\\d: renew them \\(\`mtls-ca renew <name>\` moves one to the new CA\\) or let them expire, then retire it: \`mtls-ca ca retire ${oldSerial}\`\\.\\n$`,
      ),
    );
    const before = snapshot(dir);
    const r = await cli(['ca', 'retire', '--dir', dir], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `^error: retire CA ${oldSerial} \\(CN=Rot CA\\): 3 certificates it issued are still in use, the last until \\d{4}-\\d\\d-\\d\\d \\(INVALID_ARGUMENT\\)\\nhint: renew them \\(\`mtls-ca renew <name>\` issues from the new CA\\) or wait until they expire; --force retires it now and cuts them off\\n$`,
      ),
    );
    expect(snapshot(dir)).toEqual(before);
  });

  test('renew moves pavel to the new CA; his old certificate and alice’s go into the old CA’s CRL', async () => {
    const renewed = await cli(['renew', 'pavel', '--revoke-old', '--dir', dir, '--json'], env);
    expect(renewed.code, renewed.stderr).toBe(0);
    expect(renewed.json()).toMatchObject({ crl: { issuer: 'CN=Rot CA', role: 'previous', revoked: 1 } });
    expect(x509Print(opensslArgs.x509Text(p('client/pavel.crt')))).toContain('Issuer: CN = Rot CA 2\n');

    const alice = fs.readFileSync(p('client/alice.crt'));
    const revoked = await cli(['revoke', 'alice', '--dir', dir], env);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toMatch(
      /Wrote the CRL of previous CA "Rot CA" to .*crl\.pem \(CRL number 3, 2 revoked,/,
    );
    const aliceFile = path.join(root, 'alice-old.crt');
    fs.writeFileSync(aliceFile, alice);
    expect(verify(aliceFile).stdout + verify(aliceFile).stderr).toContain('certificate revoked');
  });

  test('once nothing it issued is in use, retire takes the old CA out of every trust file and keeps its key', async () => {
    expect((await cli(['renew', 'server', '--revoke-old', '--dir', dir], env)).code).toBe(0);
    expect((await list()).previous).toEqual([expect.objectContaining({ serial: oldSerial, inUse: 0 })]);
    const r = await cli(['ca', 'retire', oldSerial, '--dir', dir], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Retired CA "Rot CA" (serial ${oldSerial}): moved to`);
    expect(fs.existsSync(p(`ca/retired/${oldSerial}/ca.key`))).toBe(true);
    expect(fs.existsSync(p(`ca/previous/${oldSerial}`))).toBe(false);
    const jks = keytool(['-list', '-keystore', p('server/trustStore.jks'), '-storepass', 'store-pw']);
    expect(jks.stdout).toContain('Your keystore contains 1 entry');
    expect(fs.readFileSync(p('ca/ca-bundle.pem'), 'utf8')).toBe(fs.readFileSync(p('ca/ca.crt'), 'utf8'));
    expect(fs.readFileSync(p('ca/crl.pem'), 'utf8').match(/BEGIN X509 CRL/g)).toHaveLength(1);
    expect((await list()).previous).toBeUndefined();
    expect((await cli(['audit', 'verify', '--dir', dir])).code).toBe(0);

    const again = await cli(['ca', 'retire', '--dir', dir], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/: no CA of .* was replaced \(NOT_FOUND\)\nhint: /);
  });
});

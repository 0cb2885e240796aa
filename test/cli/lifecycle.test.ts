/**
 * revoke, crl, renew, list --status, and the audit log — through the CLI, checked with openssl. Revoke and
 * issue-client processes racing each other are in concurrency.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, expect, test } from 'vitest';
import { cli } from '../helpers/cli.js';
import { opensslArgs } from '../helpers/openssl.js';
import { describeWithTools, run, runOk, tempDir } from '../helpers/tools.js';
import { snapshot } from './snapshot.js';

const env = { MTLS_CA_PASSWORD: 'ca-password', MTLS_CA_STORE_PASSWORD: 'store-pw' };

describeWithTools(['openssl'], 'revocation, renewal and audit', () => {
  const root = tempDir();
  const dir = path.join(root, 'ssl');
  const p = (f: string) => path.join(dir, f);
  const serialOf = async (file: string) =>
    (await cli(['inspect', file, '--json'])).json<{ certificates: { serial: string }[] }>().certificates[0]!
      .serial;

  beforeAll(async () => {
    expect((await cli(['init', '--dir', dir], env)).code).toBe(0);
    for (const n of ['pavel', 'alice'])
      expect((await cli(['issue-client', n, '--role', 'user', '--dir', dir], env)).code).toBe(0);
  });

  test('init publishes an empty CRL number 1 that openssl verifies', () => {
    const text = runOk('openssl', opensslArgs.crlText(p('ca/crl.pem'), p('ca/ca.crt')));
    expect(text.stderr).toContain('verify OK');
    expect(text.stdout).toMatch(/X509v3 CRL Number: \n\s+1\n/);
    expect(text.stdout).toContain('No Revoked Certificates.');
  });

  test('revoke pavel: inventory, CRL and openssl verify -crl_check agree; alice is unaffected', async () => {
    const serial = await serialOf(p('client/pavel.crt'));
    const r = await cli(['revoke', 'pavel', '--reason', 'keyCompromise', '--dir', dir, '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({
      revoked: [{ name: 'pavel', serial }],
      reason: 'keyCompromise',
      crl: { crlNumber: '2', revoked: 1 },
    });

    const crl = runOk('openssl', opensslArgs.crlText(p('ca/crl.pem'), p('ca/ca.crt')));
    expect(crl.stderr).toContain('verify OK');
    expect(crl.stdout).toContain(`Serial Number: ${serial.toUpperCase()}`);
    expect(crl.stdout).toContain('Key Compromise');

    const bad = run(
      'openssl',
      opensslArgs.verify(p('ca/ca.crt'), p('client/pavel.crt'), { crlFile: p('ca/crl.pem') }),
    );
    expect(bad.status).not.toBe(0);
    expect(bad.stdout + bad.stderr).toContain('certificate revoked');
    const good = runOk(
      'openssl',
      opensslArgs.verify(p('ca/ca.crt'), p('client/alice.crt'), { crlFile: p('ca/crl.pem') }),
    );
    expect(good.stdout).toBe(`${p('client/alice.crt')}: OK\n`);

    const listed = (await cli(['list', '--dir', dir, '--status', 'revoked', '--json'])).json<{
      certificates: { name: string }[];
    }>();
    expect(listed.certificates.map((c) => c.name)).toEqual(['pavel']);
  });

  test('revoking again → ALREADY_REVOKED; an unknown name → NOT_FOUND; the CA → refused; nothing changes', async () => {
    const before = snapshot(dir);
    const again = await cli(['revoke', 'pavel', '--dir', dir], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(
      /^error: revoke pavel: already revoked on \d{4}-\d\d-\d\d \(serial [0-9a-f]{32}\) \(ALREADY_REVOKED\)\n$/,
    );
    const unknown = await cli(['revoke', 'nobody', '--dir', dir], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.split('\n')[0]).toBe(
      'error: revoke nobody: no certificate with that name or serial (NOT_FOUND)',
    );
    const caSerial = await serialOf(p('ca/ca.crt'));
    const ca = await cli(['revoke', caSerial, '--dir', dir], env);
    expect(ca.code).toBe(1);
    expect(ca.stderr).toContain('that is the CA certificate (INVALID_ARGUMENT)');
    expect(snapshot(dir)).toEqual(before);
  });

  test('crl --days 30 re-signs with the next number and a later nextUpdate', async () => {
    const r = await cli(['crl', '--days', '30', '--dir', dir, '--json'], env);
    expect(r.code).toBe(0);
    const j = r.json<{ crlNumber: string; revoked: number; nextUpdate: string }>();
    expect(j.crlNumber).toBe('3');
    expect(j.revoked).toBe(1);
    const days = (new Date(j.nextUpdate).getTime() - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThanOrEqual(30);
  });

  test('renew alice keeps the key, supersedes the old certificate; with --rekey --revoke-old the old one is revoked', async () => {
    const oldSerial = await serialOf(p('client/alice.crt'));
    const oldKey = fs.readFileSync(p('client/alice.key'));
    const r = await cli(['renew', 'alice', '--dir', dir, '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({
      name: 'alice',
      profile: 'client',
      old: { serial: oldSerial, status: 'superseded' },
      rekeyed: false,
    });
    expect(fs.readFileSync(p('client/alice.key'))).toEqual(oldKey);
    runOk('openssl', opensslArgs.verify(p('ca/ca.crt'), p('client/alice.crt'), { purpose: 'sslclient' }));
    const storePassFile = path.join(root, 'store-password');
    fs.writeFileSync(storePassFile, `${env.MTLS_CA_STORE_PASSWORD}\n`);
    const out = runOk('openssl', opensslArgs.pkcs12Nodes(p('client/client_alice.p12'), storePassFile)).stdout;
    expect(out).toContain('subject=CN = alice');

    const mid = await serialOf(p('client/alice.crt'));
    const r2 = await cli(['renew', 'alice', '--rekey', '--revoke-old', '--dir', dir, '--json'], env);
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.json()).toMatchObject({
      old: { serial: mid, status: 'revoked' },
      rekeyed: true,
      crl: { crlNumber: '4', revoked: 2 },
    });
    expect(fs.readFileSync(p('client/alice.key'))).not.toEqual(oldKey);
    const rows = (await cli(['list', '--dir', dir, '--profile', 'client', '--json'])).json<{
      certificates: { name: string; serial: string; status: string }[];
    }>().certificates;
    const alice = Object.fromEntries(rows.filter((x) => x.name === 'alice').map((x) => [x.serial, x.status]));
    expect(alice[oldSerial]).toBe('superseded');
    expect(alice[mid]).toBe('revoked');
    expect(Object.values(alice).filter((s) => s === 'valid')).toHaveLength(1);
  });

  test('audit verify passes, then names the line of a one-byte change in a sentence', async () => {
    const ok = await cli(['audit', 'verify', '--dir', dir, '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    const lines = fs.readFileSync(p('ca/audit.log'), 'utf8').trimEnd().split('\n');
    const ops = lines.map((l) => JSON.parse(l).op);
    expect(ops.slice(0, 3)).toEqual(['init', 'issue', 'crl']);
    expect(ops).toContain('revoke');
    expect(ops).toContain('renew');
    expect(ok.json()).toEqual({ ok: true, lines: lines.length });

    const original = fs.readFileSync(p('ca/audit.log'));
    for (const lineNo of [4, lines.length]) {
      // flip one digit of the serial in that line
      const start = lines.slice(0, lineNo - 1).reduce((n, l) => n + l.length + 1, 0);
      const at = start + lines[lineNo - 1]!.indexOf('"serial":"') + 12;
      const tampered = Buffer.from(original);
      tampered[at] = tampered[at] === 0x30 ? 0x31 : 0x30;
      fs.writeFileSync(p('ca/audit.log'), tampered);
      const bad = await cli(['audit', 'verify', '--dir', dir]);
      expect(bad.code).toBe(1);
      expect(bad.stderr.split('\n')[0]).toBe(
        `error: verify ${p('ca/audit.log')}: line ${lineNo} carries no valid CA signature (edited) (TAMPERED)`,
      );
    }
    // a removed line breaks the chain at the line after it
    fs.writeFileSync(p('ca/audit.log'), `${[...lines.slice(0, 2), ...lines.slice(3)].join('\n')}\n`);
    const gap = await cli(['audit', 'verify', '--dir', dir]);
    expect(gap.stderr.split('\n')[0]).toContain('line 3 does not match the hash of the line before');
    fs.writeFileSync(p('ca/audit.log'), original);
  });

  test('audit verify finds the last lines removed, and still does after later operations', async () => {
    const original = fs.readFileSync(p('ca/audit.log'));
    const head = fs.readFileSync(p('ca/audit.head'));
    const lines = original.toString().trimEnd().split('\n');
    const n = lines.length;
    fs.writeFileSync(p('ca/audit.log'), `${lines.slice(0, -2).join('\n')}\n`);
    const cut = await cli(['audit', 'verify', '--dir', dir]);
    expect(cut.code).toBe(1);
    expect(cut.stderr).toBe(
      `error: verify ${p('ca/audit.log')}: line ${n - 1} is missing: audit.head counts ${n} lines, the log ends after ${n - 2} (lines removed from its end) (TAMPERED)\n` +
        'hint: restore the log from a backup and find out who changed it\n',
    );
    expect((await cli(['crl', '--dir', dir], env)).code).toBe(0); // one more line, chained to what is left
    const later = await cli(['audit', 'verify', '--dir', dir]);
    expect(later.stderr.split('\n')[0]).toContain(
      `line ${n} is missing: audit.head counts ${n + 1} lines, the log ends after ${n - 1}`,
    );

    fs.rmSync(p('ca/audit.head'));
    const headless = await cli(['audit', 'verify', '--dir', dir]);
    expect(headless.code).toBe(1);
    expect(headless.stderr).toBe(
      `error: verify ${p('ca/audit.log')}: has no head (audit.head): lines removed from its end could not be told (TAMPERED)\n` +
        'hint: a CA made before audit heads existed gets one with its next operation; otherwise restore ca/audit.log and ca/audit.head from a backup\n',
    );
    fs.writeFileSync(p('ca/audit.log'), original);
    fs.writeFileSync(p('ca/audit.head'), head);
    expect((await cli(['audit', 'verify', '--dir', dir])).code).toBe(0);
  });
});

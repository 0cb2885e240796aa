/**
 * The CA's CRL lifetime and its renewal: `crl --days N` is remembered by every later CRL (revoke, renew
 * --revoke-old, a plain `crl`, the automatic renewal), and `renewCrlIfDue` re-signs exactly when a server
 * would otherwise refuse clients or soon will — once, however many processes are due at the same moment.
 * Through the CLI (`main()` in this process) and the ops functions with an injected `now`; the CRLs are
 * checked with openssl.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { crlRenewalReason, renewCrlIfDue, resignCrl } from '../../src/ops/crl.js';
import { retireCa } from '../../src/ops/retire.js';
import type { Crl } from '../../src/pki/crl.js';
import { crlRenewalTime } from '../../src/pki/crl-lifetime.js';
import { verifyAuditLog } from '../../src/store/audit.js';
import { CaStore } from '../../src/store/ca-store.js';
import {
  readAuditRecords as auditLines,
  opensslVerifyCaCrl,
  readCaCrl as readCrl,
} from '../helpers/ca-files.js';
import { cli, exitedZero } from '../helpers/cli.js';
import { describeWithTools, tempDir } from '../helpers/tools.js';

const PASSWORD = 'crl-renewal-ca-password';
const env = { MTLS_CA_PASSWORD: PASSWORD };
const DAY = 86_400_000;

async function mtlsCa(args: string[]): Promise<void> {
  exitedZero(`mtls-ca ${args.join(' ')}`, await cli(args, env));
}

function lifetimeDays(crl: Crl): number {
  return (crl.nextUpdate.getTime() - crl.thisUpdate.getTime()) / DAY;
}

describeWithTools(['openssl'], 'the CA’s CRL lifetime and its renewal', () => {
  const root = tempDir('mtls-ca-crl-renewal-');

  test('crl --days 30 is remembered: revoke, renew --revoke-old, a plain crl and init --force after it (they wrote 7 days again)', async () => {
    const dir = path.join(root, 'lifetime');
    await mtlsCa(['init', '--dir', dir]);
    for (const name of ['pavel', 'alice']) await mtlsCa(['issue-client', name, '--dir', dir]);
    expect(lifetimeDays(readCrl(dir))).toBe(7);

    await mtlsCa(['crl', '--days', '30', '--dir', dir]);
    expect(lifetimeDays(readCrl(dir))).toBe(30);
    await mtlsCa(['revoke', 'pavel', '--dir', dir]);
    expect([readCrl(dir).crlNumber, lifetimeDays(readCrl(dir))]).toEqual([3n, 30]);
    await mtlsCa(['renew', 'alice', '--revoke-old', '--dir', dir]);
    expect([readCrl(dir).crlNumber, lifetimeDays(readCrl(dir))]).toEqual([4n, 30]);
    await mtlsCa(['crl', '--dir', dir]);
    expect([readCrl(dir).crlNumber, lifetimeDays(readCrl(dir))]).toEqual([5n, 30]);
    const [last, next] = opensslVerifyCaCrl(dir, ['-lastupdate', '-nextupdate'])
      .trim()
      .split('\n')
      .map((l) => Date.parse(`${l.split('=')[1]}`));
    expect((next! - last!) / DAY).toBe(30);

    await mtlsCa(['crl', '--days', '2', '--dir', dir]);
    expect(lifetimeDays(readCrl(dir))).toBe(2);
    // A new CA starts with the default, whatever its predecessor's CRLs said.
    await mtlsCa(['init', '--force', '--dir', dir]);
    expect(lifetimeDays(readCrl(dir))).toBe(7);
  });

  describe('renewCrlIfDue', () => {
    const dir = path.join(root, 'due');
    const crlFile = path.join(dir, 'ca', 'crl.pem');
    const store = new CaStore(dir);

    beforeAll(async () => {
      await mtlsCa(['init', '--dir', dir]);
      await mtlsCa(['crl', '--days', '10', '--dir', dir]);
    });

    test('leaves a CRL alone until half its lifetime has passed, then re-signs it with the same lifetime and an audit line', async () => {
      const crl = readCrl(dir);
      const half = crlRenewalTime(crl);
      expect(half.getTime() - crl.thisUpdate.getTime()).toBe(5 * DAY);
      const before = fs.readFileSync(crlFile);
      expect(await renewCrlIfDue(store, { caPassword: PASSWORD, now: new Date(half.getTime() - 1) })).toBe(
        undefined,
      );
      expect(fs.readFileSync(crlFile)).toEqual(before);

      const r = await renewCrlIfDue(store, { caPassword: PASSWORD, now: half });
      expect(r).toMatchObject({ reason: 'half-life', crl: { crlNumber: String(crl.crlNumber + 1n) } });
      const renewed = readCrl(dir);
      expect([renewed.thisUpdate, lifetimeDays(renewed)]).toEqual([half, 10]);
      expect(auditLines(dir).at(-1)).toMatchObject({
        op: 'crl',
        detail: { crlNumber: String(renewed.crlNumber), revoked: 0, renewal: 'half-life' },
      });
      const audit = verifyAuditLog(store.paths.auditLog, store.paths.auditHead, store.readCaCertificate());
      expect(audit.ok).toBe(true);
    });

    test.each([
      ['no CRL', 'missing', () => fs.rmSync(crlFile)],
      ['a file that is not a CRL', 'unreadable', () => fs.writeFileSync(crlFile, 'not a CRL\n')],
      [
        'another CA’s CRL',
        'unreadable',
        () => fs.copyFileSync(path.join(root, 'other', 'ca', 'crl.pem'), crlFile),
      ],
    ] as const)('%s in its place is re-signed at once (%s)', async (_, reason, spoil) => {
      if (!fs.existsSync(path.join(root, 'other'))) await mtlsCa(['init', '--dir', path.join(root, 'other')]);
      spoil();
      const now = new Date();
      expect(crlRenewalReason(store, now)).toBe(reason);
      expect(await renewCrlIfDue(store, { caPassword: PASSWORD, now })).toMatchObject({ reason });
      expect(readCrl(dir).isSignedBy(store.readCaCertificate())).toBe(true);
      expect(crlRenewalReason(store, now)).toBe(undefined);
    });

    test('an expired CRL, and one dated in the future (clocks disagree), are re-signed', async () => {
      const crl = readCrl(dir);
      expect(crlRenewalReason(store, crl.nextUpdate)).toBe('expired');
      expect(crlRenewalReason(store, new Date(crl.thisUpdate.getTime() - 1000))).toBe('not-yet-valid');
      const r = await renewCrlIfDue(store, { caPassword: PASSWORD, now: crl.nextUpdate });
      expect(r?.reason).toBe('expired');
    });

    test('of processes due at the same moment, one re-signs and the others find the fresh CRL under the lock', async () => {
      const crl = readCrl(dir);
      const lines = auditLines(dir).length;
      const now = crlRenewalTime(crl);
      const results = await Promise.all(
        [1, 2, 3, 4].map(() => renewCrlIfDue(new CaStore(dir), { caPassword: PASSWORD, now })),
      );
      expect(results.filter((r) => r !== undefined)).toHaveLength(1);
      expect(readCrl(dir).crlNumber).toBe(crl.crlNumber + 1n);
      expect(auditLines(dir)).toHaveLength(lines + 1);
    });

    test('a wrong password changes nothing', async () => {
      const crl = readCrl(dir);
      const before = fs.readFileSync(crlFile);
      await expect(
        renewCrlIfDue(store, { caPassword: 'wrong-password', now: crl.nextUpdate }),
      ).rejects.toMatchObject({ code: 'BAD_PASSWORD' });
      expect(fs.readFileSync(crlFile)).toEqual(before);
    });
  });

  test('crl re-signing that read the CAs before a retirement took the lock leaves the retired CA out', async () => {
    const dir = path.join(root, 'retired-meanwhile');
    await mtlsCa(['init', '--dir', dir]);
    await mtlsCa(['ca', 'rotate', '--dir', dir]);
    const store = new CaStore(dir);
    expect(store.casInForce().map((c) => c.role)).toEqual(['issuing', 'previous']);
    // The retirement holds the lock from its start; the re-signing reads the CAs, then waits for it.
    // (force: the server certificate init issued is still in use.)
    const retiring = retireCa(new CaStore(dir), {
      force: true,
      caPassword: PASSWORD,
      store: {},
      p12Profile: 'compat',
    });
    const resigning = resignCrl(store, { caPassword: PASSWORD });
    await retiring;
    expect(await resigning).not.toHaveProperty('others');
    const crls = new CaStore(dir).readCrls();
    expect(typeof crls !== 'string' && crls.map((c) => c.issuerName)).toEqual([
      store.readCaCertificate().subjectName,
    ]);
  });
});

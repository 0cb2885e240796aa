/**
 * A server that outlives its CRL, end to end: the real `mtls-ca serve` started days after `init` (under
 * faketime, which moves the clock of the process and its workers) warns before the CRL expires, and with
 * `--crl-auto-renew` re-signs it itself — a CRL openssl verifies, with an audit line — so its users are
 * never locked out; with `--workers 2` the primary alone renews, for every worker. A server that cannot
 * renew (no password, a wrong one) refuses to start.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { createCrl } from '../../src/pki/crl.js';
import { CaStore } from '../../src/store/ca-store.js';
import { snapshot } from '../cli/snapshot.js';
import { opensslVerifyCaCrl, readAuditRecords, readCaCrl } from '../helpers/ca-files.js';
import { CA_PASSWORD, makeCa, mtlsCa } from '../helpers/ca-setup.js';
import { cli, cliProcess } from '../helpers/cli.js';
import { within } from '../helpers/poll.js';
import { describeWithTools, tempDir } from '../helpers/tools.js';
import { CUSTOMER_1, eventLines, runPrinted, serverPool } from './helpers.js';

const DAY = 86_400_000;

describeWithTools(['curl', 'faketime', 'openssl'], 'a server that outlives its CRL', () => {
  const root = tempDir('mtls-ca-e2e-crl-renewal-');
  const ssl = path.join(root, 'ssl');
  const crlFile = path.join(ssl, 'ca', 'crl.pem');
  const servers = serverPool();
  const serve = (...args: string[]) => [
    'serve',
    '--dir',
    ssl,
    '--listen',
    '127.0.0.1',
    '--port',
    '0',
    ...args,
  ];
  const readCrl = () => readCaCrl(ssl);
  const auditCrlLines = () => readAuditRecords(ssl).filter((r) => r.op === 'crl');

  beforeAll(async () => {
    await makeCa(ssl, { pavel: ['--role', 'user'] });
  });

  test('serve 5½ days after the CRL was signed warns that it expires, naming the commands that prevent it', async () => {
    const s = await servers.start(serve(), { cwd: root, faketime: '+132h' });
    const crl = readCrl();
    expect(eventLines(s.stdout(), 'crl-expiring')).toEqual([
      expect.stringMatching(
        new RegExp(
          ` warn crl-expiring: CRL expires at ${crl.nextUpdate.toISOString()}, in 3[56] h: from then on every client certificate is refused \\(CRL_HAS_EXPIRED\\) until a fresh CRL is published .* hoursLeft=3[56] hint="run \`mtls-ca crl\` now and daily from cron, or serve with --crl-auto-renew"$`,
        ),
      ),
    ]);
    expect(readCrl().der).toEqual(crl.der);
    await s.stop();
  });

  describe('serve --crl-auto-renew', () => {
    test('refuses to start without the CA password, or with a wrong one, and changes nothing', async () => {
      const before = snapshot(ssl);
      const none = await cliProcess(serve('--crl-auto-renew'), {}, root);
      expect(none).toMatchObject({
        code: 1,
        stdout: '',
        stderr:
          'error: read ssl/ca/ca.key: the CA key is encrypted and serve --crl-auto-renew was given no password (PASSWORD_REQUIRED)\n' +
          'hint: set MTLS_CA_PASSWORD or pass --ca-password-file F (serve --crl-auto-renew never prompts)\n',
      });
      const wrong = await cliProcess(
        serve('--crl-auto-renew'),
        { MTLS_CA_PASSWORD: 'not-the-password' },
        root,
      );
      expect(wrong).toMatchObject({
        code: 1,
        stdout: '',
        stderr:
          'error: read ssl/ca/ca.key: wrong password (BAD_PASSWORD)\n' +
          'hint: pass the CA password with --ca-password-file F or MTLS_CA_PASSWORD\n',
      });
      const passwordFile = path.join(root, 'ca-password');
      writeFileSync(passwordFile, `${CA_PASSWORD}\n`, { mode: 0o600 });
      const usage = await cliProcess(serve('--ca-password-file', passwordFile), {}, root);
      expect(usage).toMatchObject({
        code: 2,
        stdout: '',
        stderr:
          'error: use --ca-password-file with --crl-auto-renew: serve reads the CA key only to renew the CRL (USAGE)\n' +
          'hint: add --crl-auto-renew, or leave --ca-password-file out\n',
      });
      expect(snapshot(ssl)).toEqual(before);
    });

    test('4 days after the CRL was signed (past half its 7 days) it re-signs it at start: openssl verifies it, the audit log has its line, pavel is served', async () => {
      const old = readCrl();
      const crlLines = auditCrlLines().length;
      const s = await servers.start(serve('--crl-auto-renew'), { cwd: root, faketime: '+4d' });
      const crl = readCrl();
      expect(crl.crlNumber).toBe(old.crlNumber + 1n);
      expect(crl.thisUpdate.getTime() - old.thisUpdate.getTime()).toBeGreaterThanOrEqual(4 * DAY);
      expect(crl.nextUpdate.getTime() - crl.thisUpdate.getTime()).toBe(7 * DAY);
      expect(eventLines(s.stdout(), 'crl-renewed')).toEqual([
        expect.stringContaining(
          `info crl-renewed: CRL number ${crl.crlNumber} published: the one before was half through its lifetime`,
        ),
      ]);
      expect(s.stdout()).toContain(`crl-loaded: CRL number ${crl.crlNumber} loaded`);

      opensslVerifyCaCrl(ssl);
      expect(auditCrlLines().slice(crlLines)).toEqual([
        expect.objectContaining({
          detail: { crlNumber: crl.crlNumber.toString(), revoked: 0, renewal: 'half-life' },
        }),
      ]);
      expect(await mtlsCa(['audit', 'verify', '--dir', ssl])).toMatch(/intact/);
      expect(await runPrinted(s.curlLine, root)).toMatchObject({ exit: 0, stdout: CUSTOMER_1 });
      await s.stop();
    });

    test('--workers 2: a CRL falling due in the workers is renewed once, by the primary, and both apply it; the workers hold no CA password', async () => {
      // A fresh CRL on the real clock (the test before signed one 4 days ahead).
      await mtlsCa(['crl', '--dir', ssl]);
      const s = await servers.start(serve('--crl-auto-renew', '--workers', '2'), { cwd: root });
      /** The `key=value` fields of each text line of one event. */
      const named = (event: string) =>
        eventLines(s.stdout(), event).map((l) =>
          Object.fromEntries([...l.matchAll(/ (\w+)=(\S+)/g)].map((m) => [m[1], m[2]])),
        );
      await within(5_000, 'two workers', () => named('worker-started').length === 2);
      for (const { pid } of named('worker-started')) {
        const environ = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
        expect(environ.filter((v) => v.startsWith('MTLS_CA_PASSWORD='))).toEqual([]);
      }

      // A CRL past half its lifetime, as if these workers had been serving for 4 days (no CLI option
      // back-dates a CRL: made with the pki functions and the CA's key).
      const now = Date.now();
      const aged = createCrl({
        ca: new CaStore(ssl).loadCa(CA_PASSWORD),
        crlNumber: readCrl().crlNumber + 1n,
        thisUpdate: new Date(now - 4 * DAY),
        nextUpdate: new Date(now + 3 * DAY),
        revoked: [],
      });
      const crlLines = auditCrlLines().length;
      writeFileSync(crlFile, aged.toPem());
      const renewedNumber = (aged.crlNumber + 1n).toString();
      // Three processes write these lines: the workers may see the new file before the primary has said so.
      await within(
        5_000,
        'the primary renews and both workers apply the renewed CRL',
        () =>
          named('crl-loaded').filter((e) => e.crlNumber === renewedNumber).length === 2 &&
          named('crl-renewed').length > 0,
      );
      expect(named('crl-renewed')).toEqual([
        expect.objectContaining({ crlNumber: renewedNumber, reason: 'half-life' }),
      ]);
      expect(auditCrlLines().slice(crlLines)).toHaveLength(1);
      expect(readCrl().crlNumber.toString()).toBe(renewedNumber);
      expect(await runPrinted(s.curlLine, root)).toMatchObject({ exit: 0, stdout: CUSTOMER_1 });
      await s.stop();
    });
  });
});

test('serve --help says how to avoid the lock-out; crl --help that --days is remembered', async () => {
  const serveHelp = (await cli(['serve', '--help'])).stdout;
  const revocation = serveHelp.slice(serveHelp.indexOf('Revocation:'), serveHelp.indexOf('Examples:'));
  expect(revocation.replace(/\s+/g, ' ')).toContain(
    'To avoid the lock-out, either run `mtls-ca crl` daily from cron, or serve with --crl-auto-renew: the server then re-signs the CRL itself (log: crl-renewed) once half its lifetime has passed',
  );
  expect(serveHelp).toContain('MTLS_CA_PASSWORD=… mtls-ca serve --crl-auto-renew');
  const crlHelp = (await cli(['crl', '--help'])).stdout.replace(/\s+/g, ' ');
  expect(crlHelp).toContain(
    "--days sets the CA's CRL lifetime: later CRLs (crl, revoke, renew --revoke-old, serve --crl-auto-renew) keep the lifetime of the CRL they replace.",
  );
});

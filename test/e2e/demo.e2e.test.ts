/**
 * `npm start` end to end: the real binary's `demo` command — exactly the `start` script, plus a temp
 * directory and a free port — creates the demo CA and client "pavel" once, tells the user how to call it,
 * answers the printed curl command, and on the next start reuses what it made; a demo directory made days
 * ago (under faketime) still serves pavel, because the demo re-signs a CRL that has expired meanwhile.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { expect, test } from 'vitest';
import { opensslVerifyCaCrl, readCaCrl } from '../helpers/ca-files.js';
import { mtlsCa } from '../helpers/ca-setup.js';
import { describeWithTools, tempDir } from '../helpers/tools.js';
import {
  CUSTOMER_1,
  type ExecResult,
  eventLines,
  runPrinted,
  type ServeProcess,
  serverPool,
} from './helpers.js';

const REPO = path.resolve(import.meta.dirname, '../..');

describeWithTools(['curl'], 'npm start: mtls-ca demo', () => {
  const root = tempDir('mtls-ca-e2e-demo-');
  const ssl = path.join(root, 'ssl');
  const servers = serverPool();
  // What `npm start` runs from the repository (./ssl, port 8443), pointed at a temp directory and any port.
  const demo = ['demo', '--dir', ssl, '--listen', '127.0.0.1', '--port', '0'];
  // `npm start` gives no password: the demo CA key is unencrypted by design.
  const env = {};

  const files = () => ({
    caCert: readFileSync(path.join(ssl, 'ca', 'ca.crt')),
    caKey: readFileSync(path.join(ssl, 'ca', 'ca.key')),
    pavelCert: readFileSync(path.join(ssl, 'client', 'pavel.crt')),
    pavelP12: readFileSync(path.join(ssl, 'client', 'client_pavel.p12')),
    inventory: readFileSync(path.join(ssl, 'ca', 'inventory.jsonl'), 'utf8'),
    users: readFileSync(path.join(ssl, 'users.json'), 'utf8'),
    // A CRL far from its renewal is left alone: the demo re-signs only what is due.
    crl: readFileSync(path.join(ssl, 'ca', 'crl.pem')),
    audit: readFileSync(path.join(ssl, 'ca', 'audit.log'), 'utf8'),
  });

  /**
   * The first start on an empty directory — what it printed, what its printed curl command answered, the files it
   * made — run once, by whichever test needs it first, so that the tests do not depend on their order.
   */
  let firstStart:
    | Promise<{
        s: ServeProcess;
        stdout: string;
        stderr: string;
        curl: ExecResult;
        files: ReturnType<typeof files>;
        stopped: Awaited<ReturnType<ServeProcess['stop']>>;
      }>
    | undefined;
  const first = () => {
    firstStart ??= (async () => {
      const s = await servers.start(demo, { cwd: root, env });
      const curl = await runPrinted(s.curlLine, root);
      const made = files();
      const stopped = await s.stop();
      return { s, stdout: s.stdout(), stderr: s.stderr(), curl, files: made, stopped };
    })();
    return firstStart;
  };

  test('the start script is the demo command, after a build', () => {
    const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8'));
    expect(pkg.scripts.start).toBe('node bin/mtls-ca.js demo');
    expect(pkg.scripts.prestart).toBe('npm run build');
  });

  test('first start: creates the CA and pavel, says how to call it, and the printed curl command answers', async () => {
    const { s, stdout, stderr, curl, files: made, stopped } = await first();
    expect(stdout).toContain(
      'Created a demo CA in ssl (server certificate for localhost, 127.0.0.1, ::1).\n' +
        'Issued client "pavel" (role user): ssl/client/client_pavel.p12, password in ssl/client/client_pavel.p12.pass.\n',
    );
    expect(stdout).toContain(
      `mtls-ca serve: ${s.url} (client certificates: need, users: ssl/users.json)\nTry it:\n`,
    );
    expect(s.curlLine).toBe(
      'curl --cacert ssl/ca/ca.crt --cert-type P12 --cert "ssl/client/client_pavel.p12:$(cat ssl/client/client_pavel.p12.pass)" ' +
        `${s.url}/customer/1`,
    );
    expect(stderr).toContain(
      'warning: creating a demo CA whose key is NOT encrypted; use `mtls-ca init` for a real one',
    );
    expect(curl).toMatchObject({ exit: 0, stdout: CUSTOMER_1 });
    expect(made.caKey.toString('latin1')).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(statSync(path.join(ssl, 'ca', 'ca.key')).mode & 0o777).toBe(0o600);
    expect(JSON.parse(made.users)).toEqual({ users: { pavel: { roles: ['user'] } } });
    expect(stopped).toEqual({ code: 0, signal: null });
  });

  test('second start: reuses the CA and pavel byte for byte, and serves again', async () => {
    const made = (await first()).files;
    const s = await servers.start(demo, { cwd: root, env });
    expect(s.stdout()).not.toContain('Created a demo CA');
    expect(s.stdout()).not.toContain('Issued client');
    expect(s.stderr()).not.toContain('warning: creating a demo CA');
    expect(files()).toEqual(made);

    const r = await runPrinted(s.curlLine, root);
    expect(r).toMatchObject({ exit: 0, stdout: CUSTOMER_1 });
    expect(await s.stop()).toEqual({ code: 0, signal: null });
  });
});

describeWithTools(['curl', 'faketime', 'openssl'], 'npm start on a demo directory made 8 days ago', () => {
  const root = tempDir('mtls-ca-e2e-old-demo-');
  const ssl = path.join(root, 'ssl');
  const servers = serverPool();
  const demo = ['demo', '--dir', ssl, '--listen', '127.0.0.1', '--port', '0'];

  test('the expired CRL is re-signed at start and pavel is served (he was refused with curl 56)', async () => {
    const then = await servers.start(demo, { cwd: root, env: {}, faketime: '-8d' });
    expect(then.stdout()).toContain('Created a demo CA in ssl');
    await then.stop();
    const old = readCaCrl(ssl);
    expect(old.nextUpdate.getTime()).toBeLessThan(Date.now());

    const s = await servers.start(demo, { cwd: root, env: {} });
    const renewed = readCaCrl(ssl);
    expect(eventLines(s.stdout(), 'crl-renewed')).toEqual([
      expect.stringContaining(
        ` info crl-renewed: CRL number 2 published: the one before had expired file=ssl/ca/crl.pem crlNumber=2 revoked=0 nextUpdate=${renewed.nextUpdate.toISOString()} reason=expired`,
      ),
    ]);
    expect(eventLines(s.stdout(), 'crl-expired')).toEqual([]);
    expect(Math.abs(renewed.thisUpdate.getTime() - Date.now())).toBeLessThan(60_000);
    expect(renewed.nextUpdate.getTime() - renewed.thisUpdate.getTime()).toBe(7 * 86_400_000);

    const r = await runPrinted(s.curlLine, root);
    expect(r).toMatchObject({ exit: 0, stdout: CUSTOMER_1 });
    opensslVerifyCaCrl(ssl);
    expect(await mtlsCa(['audit', 'verify', '--dir', ssl])).toMatch(/intact/);
    expect(await s.stop()).toEqual({ code: 0, signal: null });
  });
});

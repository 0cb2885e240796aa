/**
 * `mtls-ca trust` against the real stores, installed, uninstalled and read back by `trust status` through
 * main() in this process: the stores are changed by the programs it runs (certutil, pk12util,
 * update-ca-certificates with Debian's Java hook) and by its own writers, which the binary would run alike; a
 * Node start each would add nothing but CPU. The binary runs where its process is the point: as another user.
 * The stores: the NSS database of a fresh HOME, which headless Chromium then uses on its own — no
 * certificate-ignoring flag, no Playwright client certificate, only a policy that picks the client
 * certificate without a dialog; a copy of the JDK's cacerts, which Java's default SSLContext then trusts; the
 * Debian system store (as root), which curl then uses without --cacert. Status before and after each,
 * uninstall restoring each store (byte for byte where the format allows; from the system store it removes only
 * its own links, without `update-ca-certificates --fresh`), a store that needs root refused as another user
 * with nothing changed, and a failure half-way undoing the store already changed.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseJks } from '../../src/pki/jks.js';
import { layout } from '../../src/store/layout.js';
import { CUSTOMER_1, curl, type ServeProcess, serverPool } from '../e2e/helpers.js';
import { makeCa } from '../helpers/ca-setup.js';
import { localhostAddress, openPage, useChromium } from '../helpers/chromium.js';
import { cli, cliProcess, exitedZero } from '../helpers/cli.js';
import { javaProgram } from '../helpers/java.js';
import { x509Print } from '../helpers/openssl.js';
import { describeWithTools, inCi, runOk, tempDir } from '../helpers/tools.js';

const POLICIES = '/etc/chromium/policies/managed';
const isRoot = process.geteuid?.() === 0;

/** `mtls-ca trust …` in this process with HOME = `home`. */
function trust(args: string[], home: string, dir: string, extraEnv: Record<string, string> = {}) {
  return cli(['trust', ...args, '--dir', dir], { HOME: home, ...extraEnv });
}

async function trustOk(args: string[], home: string, dir: string, extraEnv: Record<string, string> = {}) {
  return exitedZero(`trust ${args.join(' ')}`, await trust(args, home, dir, extraEnv));
}

/** The states `trust status --json` (in-process) reports, as `store location → state`. */
async function states(args: string[], home: string, dir: string): Promise<Record<string, string>> {
  const r = exitedZero(
    `trust status ${args.join(' ')}`,
    await cli(['trust', 'status', ...args, '--json', '--dir', dir], { HOME: home }),
  );
  const stores = r.json<{ stores: { store: string; location: string; state: string }[] }>().stores;
  return Object.fromEntries(stores.map((s) => [`${s.store} ${s.location}`, s.state]));
}

describeWithTools(['certutil', 'pk12util', 'curl', 'java'], 'mtls-ca trust against the real stores', () => {
  const root = tempDir('mtls-ca-trust-');
  const D = path.join(root, 'ssl');
  const servers = serverPool();
  let serve: ServeProcess;
  let url: string;

  beforeAll(async () => {
    await makeCa(D, { pavel: ['--role', 'user'] });
    serve = await servers.start(['serve', '--dir', D, '--listen', await localhostAddress(), '--port', '0'], {
      cwd: root,
    });
    url = `https://localhost:${serve.port}/customer/1`;
  });

  describeWithTools(['chromium'], 'NSS: Chromium trusts the CA and presents pavel’s certificate', () => {
    const home = path.join(root, 'home-nss');
    mkdirSync(home);
    const policy = path.join(POLICIES, `mtls-ca-trust-test-${process.pid}.json`);
    let createdPolicies = false;

    // Chromium reads its policies when it starts: the policy goes in before the browser does.
    beforeAll(() => {
      if (!isRoot) return;
      // Pick pavel's certificate (issued by our CA) for this origin without asking: the only help Chromium gets.
      createdPolicies = !existsSync(POLICIES);
      mkdirSync(POLICIES, { recursive: true });
      const caName = x509Print([
        'x509',
        '-in',
        layout(D).caCert,
        '-noout',
        '-subject',
        '-nameopt',
        'multiline',
      ])
        .match(/commonName\s*=\s*(.*)/)![1]!
        .trim();
      writeFileSync(
        policy,
        JSON.stringify({
          AutoSelectCertificateForUrls: [
            JSON.stringify({
              pattern: `https://localhost:${serve.port}`,
              filter: { ISSUER: { CN: caName } },
            }),
          ],
        }),
      );
    });
    const browser = useChromium({ env: { ...process.env, HOME: home } });

    afterAll(() => {
      rmSync(policy, { force: true });
      if (createdPolicies) spawnSync('rmdir', ['-p', '--ignore-fail-on-non-empty', POLICIES]);
    });

    test('in a fresh HOME: install --nss --client pavel, Chromium gets the JSON; uninstall takes both away', async () => {
      if (!isRoot) {
        // The auto-select policy is machine-wide (/etc/chromium): only root may write it.
        if (inCi) throw new Error('the Chromium trust test needs root for its policy file');
        console.warn('[skip] Chromium trust test: not root (the policy file is in /etc/chromium)');
        return;
      }
      const nssdb = path.join(home, '.pki/nssdb');
      const ca = `nss ${nssdb}`;
      const client = `client ${nssdb}`;
      expect(await states(['--nss', '--client', 'pavel'], home, D)).toEqual({
        [ca]: 'absent',
        [client]: 'absent',
      });

      const install = await trustOk(['install', '--nss', '--client', 'pavel'], home, D);
      expect(install.stdout).toContain(
        `✓ Added the CA to NSS ${nssdb}\n✓ Imported the client certificate into NSS ${nssdb}\n`,
      );
      expect(await states(['--nss', '--client', 'pavel'], home, D)).toEqual({
        [ca]: 'trusted',
        [client]: 'present',
      });

      // No clientCertificates (Playwright's own proxy), no ignored certificate errors: NSS alone.
      const page = await openPage(browser(), url, {
        screenshot: path.join(root, 'nss.png'),
        browserTrust: true,
      });
      expect([page.status, page.text]).toEqual([200, CUSTOMER_1]);
      expect(serve.stdout()).toMatch(/ pavel GET \/customer\/1 200 /);

      await trustOk(['uninstall', '--nss', '--client', 'pavel'], home, D);
      expect(await states(['--nss', '--client', 'pavel'], home, D)).toEqual({
        [ca]: 'absent',
        [client]: 'absent',
      });
      const listing = runOk('certutil', ['-L', '-d', `sql:${nssdb}`]).stdout;
      expect(listing.trim().split('\n')).toHaveLength(2); // the header lines only
    });
  });

  describe('Java: a copy of the JDK’s cacerts', () => {
    test('install --java --keystore: HttpClient’s default SSLContext trusts the server; uninstall gives back the same bytes', async () => {
      const cacerts = spawnSync(
        'sh',
        ['-c', 'readlink -f "$(dirname "$(readlink -f "$(command -v java)")")/../lib/security/cacerts"'],
        {
          encoding: 'utf8',
        },
      ).stdout.trim();
      const copy = path.join(root, 'cacerts');
      copyFileSync(cacerts, copy);
      const original = readFileSync(copy);
      const home = path.join(root, 'home-java');
      mkdirSync(home);
      const p12 = layout(D).client('pavel').p12;
      const java = () =>
        spawnSync(
          'java',
          javaProgram('DefaultContextClient', [url], {
            'javax.net.ssl.trustStore': copy,
            'javax.net.ssl.trustStorePassword': 'changeit',
            'javax.net.ssl.keyStore': p12,
            'javax.net.ssl.keyStorePassword': readFileSync(`${p12}.pass`, 'utf8').trim(),
            'javax.net.ssl.keyStoreType': 'PKCS12',
          }),
          { encoding: 'utf8', timeout: 60_000 },
        );
      const key = `java ${copy}`;
      expect(await states(['--java', '--keystore', copy], home, D)).toEqual({ [key]: 'absent' });
      await trustOk(['install', '--java', '--keystore', copy], home, D);
      expect(await states(['--java', '--keystore', copy], home, D)).toEqual({ [key]: 'trusted' });
      const r = java();
      expect(r.stdout.trim(), r.stderr).toBe(CUSTOMER_1);
      await trustOk(['uninstall', '--java', '--keystore', copy], home, D);
      expect(readFileSync(copy).equals(original)).toBe(true);
      expect(await states(['--java', '--keystore', copy], home, D)).toEqual({ [key]: 'absent' });
    });

    test('the real cacerts as another user: refused as needing root, unchanged', async () => {
      if (!isRoot) return; // setpriv needs root; as a user the same refusal is what every run gets
      chmodSync(root, 0o755);
      const cacerts = '/etc/ssl/certs/java/cacerts';
      const before = readFileSync(cacerts);
      const r = await cliProcess(['trust', 'install', '--java', '--dir', D], { HOME: root }, undefined, {
        asUser: { uid: 65534, gid: 65534 },
      });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        /^error: install into the java store \/etc\/ssl\/certs\/java\/cacerts: \/etc\/ssl\/certs\/java\/cacerts can be changed by root only; nothing was changed \(PERMISSION_DENIED\)\nhint: run it as root \(sudo\), or pass --keystore F/,
      );
      expect(readFileSync(cacerts).equals(before)).toBe(true);
    });
  });

  describeWithTools(['update-ca-certificates'], 'the Debian system store', () => {
    const bundle = '/etc/ssl/certs/ca-certificates.crt';
    let anchor = '';
    /** A link of someone else's to a certificate that is gone: uninstall leaves it, as it found it. */
    const dangling = `/etc/ssl/certs/mtls-ca-trust-test-${process.pid}-dangling.pem`;

    afterAll(() => {
      rmSync(dangling, { force: true });
      // Whatever happened: the system store as it was (Debian's documented way to drop a local CA, and the
      // entry its Java hook made, which no Debian command removes).
      if (anchor && existsSync(anchor)) {
        rmSync(anchor);
        spawnSync('update-ca-certificates', ['--fresh'], { stdio: 'ignore' });
      }
      // keytool starts a JVM: only when the entry is still there (a test that failed half-way).
      if (anchor && hookAliases().includes(hookAlias())) {
        spawnSync(
          'keytool',
          ['-delete', '-keystore', JAVA_HOOK_STORE, '-storepass', 'changeit', '-alias', hookAlias()],
          {
            stdio: 'ignore',
          },
        );
      }
    });
    const hookAlias = () => `debian:${path.basename(anchor, '.crt')}.pem`;
    /** The JDK trust store Debian's ca-certificates-java keeps in step with the system store. */
    const JAVA_HOOK_STORE = '/etc/ssl/certs/java/cacerts';
    const hookAliases = () =>
      existsSync(JAVA_HOOK_STORE)
        ? parseJks(readFileSync(JAVA_HOOK_STORE), 'changeit', JAVA_HOOK_STORE).map((e) => e.alias)
        : [];
    const links = () =>
      spawnSync(
        'find',
        ['/etc/ssl/certs', '-maxdepth', '1', '-lname', `*${path.basename(anchor, '.crt')}*`],
        { encoding: 'utf8' },
      ).stdout.trim();

    test('as another user: needs root, says why, changes nothing', async () => {
      if (!isRoot) return;
      chmodSync(root, 0o755);
      const before = readFileSync(bundle);
      const r = await cliProcess(['trust', 'install', '--system', '--dir', D], { HOME: root }, undefined, {
        asUser: { uid: 65534, gid: 65534 },
      });
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(
        'error: install into the system store /usr/local/share/ca-certificates: /usr/local/share/ca-certificates can be changed by root only; nothing was changed (PERMISSION_DENIED)\nhint: run it as root (sudo), or leave out --system\n',
      );
      expect(readFileSync(bundle).equals(before)).toBe(true);
    });

    test('install --system: curl trusts the server without --cacert; uninstall restores the bundle byte for byte', async () => {
      if (!isRoot) {
        if (inCi) throw new Error('the system store test needs root');
        console.warn('[skip] system store: not root');
        return;
      }
      const home = path.join(root, 'home-system');
      mkdirSync(home, { recursive: true });
      const before = readFileSync(bundle);
      const pem = ['--cert', layout(D).client('pavel').cert, '--key', layout(D).client('pavel').key];
      const key = `system ${bundle}`;
      expect(await states(['--system'], home, D)).toEqual({ [key]: 'absent' });
      expect((await curl(url, pem)).exit).toBe(60); // the server's certificate: unknown issuer

      const fingerprint = x509Print(['x509', '-in', layout(D).caCert, '-noout', '-fingerprint', '-sha256'])
        .split('=')[1]!
        .replaceAll(':', '')
        .slice(0, 16)
        .toLowerCase();
      anchor = `/usr/local/share/ca-certificates/mtls-ca-${fingerprint}.crt`;
      await trustOk(['install', '--system'], home, D);
      expect(statSync(anchor).mode & 0o777).toBe(0o644);
      expect(await states(['--system'], home, D)).toEqual({ [key]: 'trusted' });
      const answer = await curl(url, pem);
      expect(answer.body, answer.stderr).toBe(CUSTOMER_1);

      const hooked = hookAliases().includes(hookAlias());
      // Debian's ca-certificates-java adds every local CA to the JDK's cacerts.
      if (existsSync('/etc/ca-certificates/update.d/jks-keystore')) expect(hooked).toBe(true);
      // Uninstall removes the anchor and the two links update-ca-certificates made to it (by name, by subject
      // hash), then refreshes: not --fresh, which re-links and rehashes every certificate of the system,
      // feeds them all to the Java hook, and deletes every dangling link, ours or not.
      const ours = links().split('\n').sort();
      expect(ours.map((l) => path.basename(l))).toEqual([
        `${x509Print(['x509', '-in', layout(D).caCert, '-noout', '-subject_hash']).trim()}.0`,
        `mtls-ca-${fingerprint}.pem`,
      ]);
      const dryRun = await cli(['trust', 'uninstall', '--system', '--dry-run', '--json', '--dir', D], {
        HOME: home,
      });
      expect(dryRun.json<{ stores: { commands: string[] }[] }>().stores[0]!.commands).toEqual([
        `rm -f ${anchor} ${ours.join(' ')}`,
        'update-ca-certificates',
        // and what mtls-ca does itself: the hook's entry out of the JDK's cacerts
        ...(hooked
          ? [
              `keytool -delete -keystore ${JAVA_HOOK_STORE} -storetype JKS -storepass changeit -alias ${hookAlias()}`,
            ]
          : []),
      ]);
      symlinkSync('/usr/local/share/ca-certificates/gone.crt', dangling);
      await trustOk(['uninstall', '--system'], home, D);
      expect(existsSync(anchor)).toBe(false);
      expect(lstatSync(dangling).isSymbolicLink()).toBe(true);
      rmSync(dangling);
      expect(readFileSync(bundle).equals(before)).toBe(true);
      // Nothing of ours left: no link in /etc/ssl/certs, no entry in the Java store the hook filled.
      expect(links()).toBe('');
      if (hooked) expect(hookAliases()).not.toContain(hookAlias());
      expect(await states(['--system'], home, D)).toEqual({ [key]: 'absent' });
    }, 120_000);
  });

  test('a store failing half-way: the stores changed before it are undone', async () => {
    // A CA whose client .p12 password was chosen, given wrong: the CA goes into NSS, pk12util then fails.
    const C = path.join(root, 'chosen');
    await makeCa(C, { anna: ['--role', 'user'] }, [], { MTLS_CA_STORE_PASSWORD: 'right-password-1' });
    const home = path.join(root, 'home-undo');
    mkdirSync(home);
    const r = await trust(['install', '--nss', '--client', 'anna'], home, C, {
      MTLS_CA_STORE_PASSWORD: 'wrong-password',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^error: install the client certificate in the client store .*: pk12util exited \d+: .*; the stores changed before were restored \(IO_FAILED\)\n$/,
    );
    const nssdb = path.join(home, '.pki/nssdb');
    expect(await states(['--nss', '--client', 'anna'], home, C)).toEqual({
      [`nss ${nssdb}`]: 'absent',
      [`client ${nssdb}`]: 'absent',
    });
  });
});

/**
 * `mtls-ca trust` through main(): the exact commands `--dry-run` prints for each system — the only test the
 * macOS and Windows stores can have here, so each command is compared whole with the documented syntax of
 * its tool — and every refusal: one line, its code and hint, the exit code, and no store or CA file changed.
 * The stores changed for real are test/interop/trust.interop.test.ts.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { Certificate } from '../../src/pki/certificate.js';
import { createJks } from '../../src/pki/jks.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tools.js';
import { snapshot } from './snapshot.js';

const CA_PASSWORD = 'trust-test-ca-password';

describe('mtls-ca trust', () => {
  const root = tempDir('mtls-ca-trust-cli-');
  const D = path.join(root, 'ssl');
  const home = path.join(root, 'home');
  let ca: Certificate;
  let fp: string;

  beforeAll(async () => {
    mkdirSync(home);
    for (const args of [['init'], ['issue-client', 'pavel', '--role', 'user']]) {
      const r = await cli([...args, '--dir', D], { MTLS_CA_PASSWORD: CA_PASSWORD });
      expect(r.code, r.stderr).toBe(0);
    }
    ca = Certificate.from(readFileSync(path.join(D, 'ca/ca.crt')));
    fp = ca.fingerprint256.replaceAll(':', '').slice(0, 16).toLowerCase();
  });

  const run = (args: string[]) => cli(['trust', ...args, '--dir', D], { HOME: home });

  test('macOS: the System keychain with security add-trusted-cert; the .p12 into the login keychain', async () => {
    const caFile = path.join(D, 'ca/ca.crt');
    const p12 = path.join(D, 'client/client_pavel.p12');
    const install = await run([
      'install',
      '--system',
      '--platform',
      'macos',
      '--client',
      'pavel',
      '--dry-run',
    ]);
    expect(install.code, install.stderr).toBe(0);
    // security(1): add-trusted-cert [-d] [-r resultType] [-k keychain] certFile; import inputfile [-f format]
    expect(install.stdout).toBe(
      [
        '# system: /Library/Keychains/System.keychain',
        '# run on macOS, as an administrator',
        `security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain ${caFile}`,
        '# client certificate: login keychain',
        '# run on macOS',
        `security import ${p12} -f pkcs12`,
        '# the .p12 must use the compat profile (3DES, the default) for macOS Keychain and older Windows',
        '',
      ].join('\n'),
    );
    const sha1 = createHash('sha1').update(ca.der).digest('hex').toUpperCase();
    const uninstall = await run(['uninstall', '--system', '--platform', 'macos', '--dry-run']);
    expect(uninstall.stdout).toBe(
      [
        '# system: /Library/Keychains/System.keychain',
        '# run on macOS, as an administrator',
        `security remove-trusted-cert -d ${caFile}`,
        `security delete-certificate -Z ${sha1} /Library/Keychains/System.keychain`,
        '',
      ].join('\n'),
    );
  });

  test('Windows: certutil -addstore Root, -delstore by serial, -user -importPFX', async () => {
    const install = await run([
      'install',
      '--system',
      '--platform',
      'windows',
      '--client',
      'pavel',
      '--dry-run',
      '--json',
    ]);
    const doc = install.json<{ stores: { store: string; location: string; commands: string[] }[] }>();
    expect(doc.stores.map((s) => [s.store, s.location, s.commands])).toEqual([
      ['system', 'Root', [`certutil -addstore -f Root ${path.join(D, 'ca/ca.crt')}`]],
      [
        'client',
        'Cert:\\CurrentUser\\My',
        [`certutil -user -importPFX ${path.join(D, 'client/client_pavel.p12')}`],
      ],
    ]);
    const uninstall = await run(['uninstall', '--system', '--platform', 'windows', '--dry-run', '--json']);
    expect(uninstall.json<{ stores: { commands: string[] }[] }>().stores[0]!.commands).toEqual([
      `certutil -delstore Root ${ca.serialHex}`,
    ]);
  });

  test.each([
    ['debian', `/usr/local/share/ca-certificates/mtls-ca-FP.crt`, 'update-ca-certificates'],
    ['rhel', `/etc/pki/ca-trust/source/anchors/mtls-ca-FP.pem`, 'update-ca-trust extract'],
  ])('%s: the anchor file, then the refresh', async (platform, anchorPattern, refresh) => {
    const anchor = anchorPattern.replace('FP', fp);
    const r = await run(['install', '--system', '--platform', platform, '--dry-run', '--json']);
    const store = r.json<{ stores: { commands: string[] }[] }>().stores[0]!;
    // The CA is in neither store (on a Debian machine, this is its own store, where it is not installed).
    expect(store.commands).toEqual([`install -m 0644 ${path.join(D, 'ca/ca.crt')} ${anchor}`, refresh]);
    if (platform === 'rhel') {
      const u = await run(['uninstall', '--system', '--platform', platform, '--dry-run', '--json']);
      expect(u.json<{ stores: { commands: string[] }[] }>().stores[0]!.commands).toEqual([
        `rm -f ${anchor}`,
        refresh,
      ]);
    }
  });

  test('NSS dry run: creates Chromium’s database, adds the CA, imports the .p12 with its .pass file', async () => {
    const r = await run(['install', '--nss', '--client', 'pavel', '--dry-run']);
    const db = path.join(home, '.pki/nssdb');
    expect(r.stdout).toBe(
      [
        `# NSS: ${db}`,
        `mkdir -p -m 0700 ${db}`,
        `certutil -N -d sql:${db} -f /dev/null`,
        `certutil -A -d sql:${db} -n '${ca.commonName} [mtls-ca ${fp}]' -t C,, -i ${path.join(D, 'ca/ca.crt')}`,
        `# client certificate: ${db}`,
        `pk12util -i ${path.join(D, 'client/client_pavel.p12')} -d sql:${db} -k /dev/null -w ${path.join(D, 'client/client_pavel.p12.pass')}`,
        '',
      ].join('\n'),
    );
  });

  test('Java dry run: the keytool equivalent of what mtls-ca does itself; nothing when the CA is there', async () => {
    const other = path.join(root, 'other.jks');
    const server = Certificate.from(readFileSync(path.join(D, 'server/server.crt')));
    writeFileSync(other, createJks([{ alias: 'other', certificate: server }], 'changeit'));
    const r = await run(['install', '--java', '--keystore', other, '--dry-run']);
    expect(r.stdout).toBe(
      [
        `# Java: ${other}`,
        '# done by mtls-ca itself, without keytool; the keytool equivalent:',
        `keytool -importcert -noprompt -keystore ${other} -storetype JKS -storepass changeit -alias mtls-ca-${fp} -file ${path.join(D, 'ca/ca.crt')}`,
        '',
      ].join('\n'),
    );
    const passFile = path.join(D, 'server/trustStore.jks.pass');
    const ours = path.join(D, 'server/trustStore.jks');
    const already = await run([
      'install',
      '--java',
      '--keystore',
      ours,
      '--storepass-file',
      passFile,
      '--dry-run',
    ]);
    expect(already.stdout).toBe(`# Java: ${ours}\n# nothing to do: already trusted as "ca"\n`);
  });

  describe('refusals: one line, a code, a hint, the exit code, nothing changed', () => {
    test.each([
      {
        why: 'no store named',
        args: ['install'],
        code: 2,
        error:
          'error: trust install: which stores? none was named (USAGE)\nhint: name one or more: mtls-ca trust install --nss --java --system, or --client NAME\n',
      },
      {
        why: '--keystore without --java',
        args: ['install', '--nss', '--keystore', 'x.jks'],
        code: 2,
        error:
          'error: trust install: --keystore and --storepass-file go with --java (USAGE)\nhint: add --java\n',
      },
      {
        why: 'another system’s store, not as a dry run',
        args: ['install', '--system', '--platform', 'windows'],
        code: 1,
        error:
          'error: install into the system store Root: that is the windows store, changed on windows only; nothing was changed (UNSUPPORTED)\nhint: add --dry-run to print the commands, and run them on windows\n',
      },
      {
        why: 'an unknown client',
        args: ['install', '--nss', '--client', 'ghost', '--dry-run'],
        code: 1,
        error:
          /^error: read .*client_ghost\.p12: no such client \(NOT_FOUND\)\nhint: issue one with `mtls-ca issue-client ghost --role user`\n$/,
      },
      {
        why: 'a wrong Java store password',
        args: ['status', '--java', '--keystore', 'KEYSTORE', '--storepass-file', 'WRONG'],
        code: 1,
        error:
          /^error: read .*store\.jks: wrong password, or the file was altered .*\(BAD_PASSWORD\)\nhint: the password came from --storepass-file .*wrong\.pass; check its first line\n$/,
      },
      {
        why: 'an unknown platform',
        args: ['install', '--system', '--platform', 'beos'],
        code: 2,
        error: /argument 'beos' is invalid/,
      },
    ])('$why → exit $code', async ({ args, code, error }) => {
      const keystore = path.join(root, 'store.jks');
      copyFileSync(path.join(D, 'server/trustStore.jks'), keystore);
      const wrong = path.join(root, 'wrong.pass');
      copyFileSync(path.join(D, 'client/client_pavel.p12.pass'), wrong);
      const before = [snapshot(D), snapshot(home), readFileSync(keystore)];
      const r = await run(args.map((a) => (a === 'KEYSTORE' ? keystore : a === 'WRONG' ? wrong : a)));
      expect(r.code).toBe(code);
      if (typeof error === 'string') expect(r.stderr).toBe(error);
      else expect(r.stderr).toMatch(error);
      expect(r.stdout).toBe('');
      expect([snapshot(D), snapshot(home), readFileSync(keystore)]).toEqual(before);
    });
  });
});

/**
 * `mtls-ca import` at the command line: what it says and writes for CAs made with OpenSSL (the real tool,
 * test/helpers/source-cas.ts), its passwords, and every kind of bad input — one error line, a hint, the exit
 * code, and nothing written. The other tools' CAs, and the proof that what is issued after an import chains to
 * the original root, are in test/interop/import.interop.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { mkcertCaRoot } from '../../src/cli/commands/import.js';
import { caProblems } from '../helpers/ca-invariants.js';
import { cli } from '../helpers/cli.js';
import { x509Print } from '../helpers/openssl.js';
import { runOnPty } from '../helpers/pty.js';
import {
  makeOpensslCa,
  makeOpensslCaFolder,
  type OpensslCaFolder,
  type Pair,
} from '../helpers/source-cas.js';
import { describeWithTools, runOk, tempDir } from '../helpers/tools.js';
import { snapshot } from './snapshot.js';

const CA_PASSWORD = 'team-ca-password';
const OLD_PASSWORD = 'old-source-password';
const env = { MTLS_CA_PASSWORD: CA_PASSWORD, MTLS_CA_STORE_PASSWORD: 'store-password' };

describe('mkcert’s folder when none is named: what `mkcert -CAROOT` prints', () => {
  test.each([
    [{ CAROOT: '/ca', HOME: '/home/u' }, 'linux', '/ca'],
    [{ XDG_DATA_HOME: '/data', HOME: '/home/u' }, 'linux', '/data/mkcert'],
    [{ HOME: '/home/u' }, 'linux', '/home/u/.local/share/mkcert'],
    [{ HOME: '/Users/u' }, 'darwin', '/Users/u/Library/Application Support/mkcert'],
    [{}, 'linux', undefined],
  ] as const)('%j on %s → %s', (given, platform, expected) => {
    expect(mkcertCaRoot(given, platform)).toBe(expected);
  });
});

describeWithTools(['openssl'], 'import --from openssl', () => {
  const root = tempDir();
  const sources = {} as Record<
    'plain' | 'other' | 'pkcs8' | 'dekInfo' | 'leaf' | 'noCertSign' | 'p521',
    Pair
  >;
  let folder: OpensslCaFolder;
  const oldPass = path.join(root, 'old.pass');
  let n = 0;
  const fresh = () => path.join(root, `ssl-${n++}`);

  beforeAll(async () => {
    const made = await Promise.all([
      makeOpensslCa(path.join(root, 'plain'), {
        cn: 'Plain CA',
        addext: ['keyUsage=critical,keyCertSign,cRLSign'],
      }),
      makeOpensslCa(path.join(root, 'other'), { cn: 'Other CA' }),
      makeOpensslCa(path.join(root, 'pkcs8'), { cn: 'PKCS8 CA', password: OLD_PASSWORD }),
      makeOpensslCa(path.join(root, 'dek'), {
        cn: 'DEK-Info CA',
        newkey: ['rsa:2048'],
        password: CA_PASSWORD,
        traditional: true,
      }),
      makeOpensslCa(path.join(root, 'leaf'), {
        cn: 'Not a CA',
        addext: ['basicConstraints=critical,CA:FALSE'],
      }),
      makeOpensslCa(path.join(root, 'no-cert-sign'), {
        cn: 'Signs no certificates',
        addext: ['keyUsage=critical,digitalSignature'],
      }),
      makeOpensslCa(path.join(root, 'p521'), {
        cn: 'P-521 CA',
        newkey: ['ec', '-pkeyopt', 'ec_paramgen_curve:P-521'],
      }),
      makeOpensslCaFolder(path.join(root, 'openssl-ca'), OLD_PASSWORD),
    ]);
    [sources.plain, sources.other, sources.pkcs8, sources.dekInfo, sources.leaf] = made as Pair[];
    sources.noCertSign = made[5] as Pair;
    sources.p521 = made[6] as Pair;
    folder = made[7] as OpensslCaFolder;
    fs.writeFileSync(oldPass, `${OLD_PASSWORD}\n`);
  });

  const files = (p: Pair) => ['--cert', p.cert, '--key', p.key];

  test('says what it created and what to do next; the CA key is stored encrypted with the CA password', async () => {
    const dir = fresh();
    const r = await cli(['import', '--from', 'openssl', ...files(sources.plain), '--dir', dir], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    const until = x509Print(['x509', '-in', sources.plain.cert, '-noout', '-enddate']);
    const day = new Date(until.replace(/^notAfter=/, '').trim()).toISOString().slice(0, 10);
    expect(lines[0]).toBe(
      `Imported CA "Plain CA" (ecdsa-p256) from openssl ${path.dirname(sources.plain.cert)} into ${dir}, valid until ${day}.`,
    );
    expect(lines[1]).toMatch(
      /^Server certificate for localhost, 127\.0\.0\.1, ::1, valid until \d{4}-\d\d-\d\d\.$/,
    );
    expect(
      lines.filter((l) => /^ {2}\S+ +0[0-7]{3} {2}/.test(l)).map((l) => l.trim().split(/ {2,}/)),
    ).toEqual([
      [`${dir}/ca/ca.crt`, '0644', 'CA certificate'],
      [`${dir}/ca/ca.key`, '0600', 'CA key (encrypted)'],
      [`${dir}/ca/ca-bundle.pem`, '0644', 'every CA in force, for servers to trust'],
      [`${dir}/server/server.crt`, '0644', 'server certificate'],
      [`${dir}/server/server.key`, '0600', 'server key'],
      [`${dir}/server/keyStore.p12`, '0600', 'server key store (server.ssl.key-store)'],
      [`${dir}/server/trustStore.jks`, '0644', 'trust store, JKS (server.ssl.trust-store)'],
      [`${dir}/server/trustStore.p12`, '0644', 'trust store, PKCS#12'],
      [`${dir}/users.json`, '0644', 'users and roles'],
      [`${dir}/ca/crl.pem`, '0644', 'certificate revocation list'],
    ]);
    expect(lines.slice(-3)).toEqual([
      `Clients that trust ${sources.plain.cert} trust what mtls-ca issues now: nothing new to install.`,
      `Next: mtls-ca issue-client pavel --role user --dir ${dir}`,
      '',
    ]);
    expect(fs.readFileSync(path.join(dir, 'ca', 'ca.crt'), 'utf8')).toBe(
      fs.readFileSync(sources.plain.cert, 'utf8'),
    );
    expect(fs.statSync(path.join(dir, 'ca', 'ca.key')).mode & 0o777).toBe(0o600);
    const key = path.join(dir, 'ca', 'ca.key');
    expect(fs.readFileSync(key, 'utf8')).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
    const opened = runOk('openssl', ['pkey', '-in', key, '-pubout', '-passin', 'env:P'], {
      env: { ...process.env, P: CA_PASSWORD },
    }).stdout;
    expect(opened).toBe(x509Print(['x509', '-in', sources.plain.cert, '-noout', '-pubkey']));
    expect(caProblems(dir)).toEqual([]);
  });

  test('--json: one document with the CA, the server certificate, what was imported and the files', async () => {
    const dir = fresh();
    const r = await cli(
      ['import', '--from', 'openssl', ...files(sources.plain), '--dir', dir, '--json'],
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json<Record<string, unknown>>();
    expect(doc).toMatchObject({
      dir,
      from: 'openssl',
      source: path.dirname(sources.plain.cert),
      ca: { subject: 'CN=Plain CA', keyType: 'ecdsa-p256', keyEncrypted: true, signsCrls: true },
      server: { subject: 'CN=localhost', dns: ['localhost'], ip: ['127.0.0.1', '::1'] },
      imported: [],
      users: [],
      passwordFiles: [],
    });
    expect(Object.keys(doc).sort()).toEqual(
      ['ca', 'dir', 'files', 'from', 'imported', 'passwordFiles', 'server', 'source', 'users'].sort(),
    );
  });

  test('an encrypted PKCS#8 key with --source-password-file: opened with its own password, stored with the CA’s', async () => {
    const dir = fresh();
    const r = await cli(
      [
        'import',
        '--from',
        'openssl',
        ...files(sources.pkcs8),
        '--source-password-file',
        oldPass,
        '--dir',
        dir,
      ],
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    const key = path.join(dir, 'ca', 'ca.key');
    const open = (password: string) =>
      runOk('openssl', ['pkey', '-in', key, '-noout', '-passin', 'env:P'], {
        env: { ...process.env, P: password },
      });
    expect(() => open(CA_PASSWORD)).not.toThrow();
    expect(() => open(OLD_PASSWORD)).toThrow(/bad decrypt|unable to load/i);
  });

  test('a traditional PEM key with DEK-Info, opened with the CA password (its own), stored as encrypted PKCS#8', async () => {
    const dir = fresh();
    expect(fs.readFileSync(sources.dekInfo.key, 'utf8')).toMatch(
      /Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,/,
    );
    const r = await cli(['import', '--from', 'openssl', ...files(sources.dekInfo), '--dir', dir], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n')[0]).toContain('"DEK-Info CA" (rsa-2048)');
    expect(fs.readFileSync(path.join(dir, 'ca', 'ca.key'), 'utf8')).toMatch(
      /^-----BEGIN ENCRYPTED PRIVATE KEY-----/,
    );
    const issued = await cli(['issue-client', 'pavel', '--dir', dir], env);
    expect(issued.code, issued.stderr).toBe(0);
    expect(
      runOk('openssl', ['verify', '-CAfile', sources.dekInfo.cert, path.join(dir, 'client', 'pavel.crt')])
        .stdout,
    ).toMatch(/: OK\n$/);
  });

  test('a folder in openssl ca’s layout: its index and newcerts/ come in; again is CA_EXISTS; --force moves the old CA, client/ included, aside', async () => {
    const dir = fresh();
    const args = [
      'import',
      '--from',
      'openssl',
      folder.folder,
      '--source-password-file',
      oldPass,
      '--dir',
      dir,
    ];
    const first = await cli(args, env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout.split('\n')[1]).toBe(
      `The 2 certificates it issued before are in the inventory (1 revoked, in the CRL); see \`mtls-ca list --dir ${dir}\`.`,
    );
    expect(first.stdout).toContain(
      `Imported clients (carol) have no roles in ${dir}/users.json yet: serve answers them 403\n` +
        'until you add them there, e.g. "carol": {"roles": ["user"]} (or import with --role user).\n',
    );
    const before = snapshot(dir);
    const again = await cli(args, env);
    expect([again.code, again.stdout, again.stderr]).toEqual([
      1,
      '',
      `error: import CA into ${dir}: a CA already exists (${dir}/ca/ca.crt) (CA_EXISTS)\n` +
        'hint: keep using it, or pass --force to move it to a backup folder and start over\n',
    ]);
    expect(snapshot(dir)).toEqual(before);
    const forced = await cli([...args, '--force'], env);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toMatch(new RegExp(`^Moved the previous CA to ${dir}/backups/\\S+\n`));
    // client/ is refilled, not moved whole: the old CA's copy of carol goes to the backup, the new one lands
    const [backup] = fs.readdirSync(path.join(dir, 'backups'));
    expect(fs.existsSync(path.join(dir, 'backups', backup!, 'client', 'carol.crt'))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'client', 'carol.crt'))).toBe(true);
    expect(caProblems(dir)).toEqual([]);
  });

  test('a password typed at the prompt opens the encrypted key; a wrong one is asked again', () => {
    const dir = fresh();
    const session = runOnPty(
      ['import', '--from', 'openssl', ...files(sources.pkcs8), '--dir', dir],
      [
        { waitFor: 'Password of' },
        { send: 'not-the-password\r' },
        { waitFor: 'Wrong password; try again (2 tries left).' },
        { waitFor: 'Password of' },
        { send: `${OLD_PASSWORD}\r` },
        { waitFor: 'Password for the key store' },
        { send: '\r' },
      ],
    );
    expect(session.status, session.screen).toBe(0);
    // The terminal is 80 columns wide: the question wraps, at the space before "(it" or inside the path,
    // depending on the temp folder's length, and a wrap at a space drops it. Compared without whitespace.
    const squeezed = (text: string) => text.replace(/\s+/g, '');
    expect(squeezed(session.screen)).toContain(
      squeezed(`Password of ${sources.pkcs8.key} (it becomes the CA key password)`),
    );
    expect(session.screen).toContain('Imported CA "PKCS8 CA"');
    const key = path.join(dir, 'ca', 'ca.key');
    runOk('openssl', ['pkey', '-in', key, '-noout', '-passin', 'env:P'], {
      env: { ...process.env, P: OLD_PASSWORD },
    });
  });

  describe('bad input: one error line, a hint, exit 1, nothing written', () => {
    const weak = { ...env, MTLS_CA_PASSWORD: 'short' };
    const none = { MTLS_CA_STORE_PASSWORD: 'store-password' };
    const cases: [string, () => string[], Record<string, string>, () => string][] = [
      [
        'a key that does not match the certificate',
        () => ['--cert', sources.plain.cert, '--key', sources.other.key],
        env,
        () =>
          `import ${sources.other.key}: the key does not match the CA certificate ${sources.plain.cert} (INVALID_ARGUMENT)`,
      ],
      [
        'a certificate that is not a CA',
        () => files(sources.leaf),
        env,
        () =>
          `import ${sources.leaf.cert}: CN=Not a CA is not a CA certificate (its basicConstraints do not say CA:TRUE) (INVALID_ARGUMENT)`,
      ],
      [
        'a CA certificate that may not sign certificates',
        () => files(sources.noCertSign),
        env,
        () =>
          `import ${sources.noCertSign.cert}: CN=Signs no certificates may not sign certificates (its keyUsage lacks keyCertSign) (INVALID_ARGUMENT)`,
      ],
      [
        'a key file that holds no key (the certificate named twice)',
        () => ['--cert', sources.plain.cert, '--key', sources.plain.cert],
        env,
        () => `import ${sources.plain.cert}: not a private key mtls-ca can read (PARSE_FAILED)`,
      ],
      [
        'a CA key of a type mtls-ca cannot sign with (P-521)',
        () => files(sources.p521),
        env,
        () =>
          `import ${sources.p521.cert}: the CA key is ecdsa-p521, which mtls-ca cannot sign with (UNSUPPORTED)`,
      ],
      [
        'a wrong --source-password-file',
        () => [...files(sources.pkcs8), '--source-password-file', path.join(root, 'wrong.pass')],
        env,
        () => `read ${sources.pkcs8.key}: wrong password (BAD_PASSWORD)`,
      ],
      [
        'a CA password that does not open the encrypted key',
        () => files(sources.pkcs8),
        env,
        () => `read ${sources.pkcs8.key}: wrong password (BAD_PASSWORD)`,
      ],
      [
        'no password for an encrypted key, and no terminal',
        () => files(sources.pkcs8),
        none,
        () => `read ${sources.pkcs8.key}: it is encrypted and no password was given (PASSWORD_REQUIRED)`,
      ],
      [
        'a CA password too short for a new CA key',
        () => files(sources.plain),
        weak,
        () => 'use MTLS_CA_PASSWORD for a new CA key: 5 characters are too few (at least 8) (WEAK_PASSWORD)',
      ],
      [
        '--source-password-file for a key that is not encrypted',
        () => [...files(sources.plain), '--source-password-file', oldPass],
        env,
        () =>
          `use --source-password-file ${oldPass}: ${sources.plain.key} is not encrypted (INVALID_ARGUMENT)`,
      ],
      [
        'a missing key file',
        () => ['--cert', sources.plain.cert, '--key', path.join(root, 'nowhere.key')],
        env,
        () => `import from openssl: ${path.join(root, 'nowhere.key')} is missing (NOT_FOUND)`,
      ],
      [
        'an index.txt row of an unknown kind',
        () => {
          const index = path.join(root, 'bad-index.txt');
          fs.copyFileSync(path.join(folder.folder, 'index.txt'), index);
          fs.appendFileSync(index, 'V\t290309182147Z\tnot-empty\t1003\tunknown\t/CN=erin\n');
          return [
            '--cert',
            folder.root,
            '--key',
            path.join(folder.folder, 'private', 'cakey.pem'),
            '--index',
            index,
            '--certs',
            path.join(folder.folder, 'newcerts'),
            '--source-password-file',
            oldPass,
          ];
        },
        env,
        () =>
          `read ${path.join(root, 'bad-index.txt')}: line 4 is valid but has a revocation time ("not-empty") (PARSE_FAILED)`,
      ],
    ];
    beforeAll(() => fs.writeFileSync(path.join(root, 'wrong.pass'), 'not-it\n'));

    test.each(cases)('%s', async (_what, args, given, line) => {
      const dir = fresh();
      const before = snapshot(root);
      const r = await cli(['import', '--from', 'openssl', ...args(), '--dir', dir], given);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stdout).toBe('');
      const [first, hint, ...rest] = r.stderr.split('\n');
      expect(first).toBe(`error: ${line()}`);
      expect(hint).toMatch(/^hint: \S/);
      expect(rest).toEqual(['']);
      const after = snapshot(root);
      for (const f of Object.keys(after)) if (f.startsWith('bad-index')) delete after[f];
      expect(after).toEqual(before);
      expect(fs.existsSync(dir)).toBe(false);
    });
  });

  test('the directory it would write into is the source folder → refused', async () => {
    const r = await cli(['import', '--from', 'openssl', folder.folder, '--dir', folder.folder], env);
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n')[0]).toBe(
      `error: import CA into ${folder.folder}: it is the folder the CA comes from (INVALID_ARGUMENT)`,
    );
  });
});

describe('import: usage errors exit 2 before anything is read', () => {
  const dir = path.join(tempDir(), 'ssl');
  test.each([
    [['--from', 'easy-rsa'], 'import --from easy-rsa: name the folder the CA is in'],
    [
      ['--from', 'mkcert', '--cert', 'ca.crt'],
      'import --from mkcert: --cert is for --from openssl; name the mkcert folder',
    ],
    [
      ['--from', 'openssl', 'demoCA', '--cert', 'ca.crt'],
      'import --from openssl: give a folder or --cert and --key, not both',
    ],
    [
      ['--from', 'openssl', '--cert', 'ca.crt'],
      'import --from openssl: give a folder, or the CA files with --cert F --key F',
    ],
    [
      ['--from', 'openssl', '--cert', 'c', '--key', 'k', '--certs', 'd'],
      'import --from openssl: --certs goes with --index',
    ],
  ])('%j', async (args, message) => {
    const r = await cli(['import', ...args, '--dir', dir], env);
    expect([r.code, r.stderr]).toEqual([
      2,
      `error: ${message} (USAGE)\nhint: see \`mtls-ca import --help\`\n`,
    ]);
    expect(fs.existsSync(dir)).toBe(false);
  });

  test('a folder that is not there → exit 1, and the hint says where the tool keeps its CA', async () => {
    const nowhere = path.join(path.dirname(dir), 'nowhere');
    const r = await cli(['import', '--from', 'cfssl', nowhere, '--dir', dir], env);
    expect([r.code, r.stderr]).toEqual([
      1,
      `error: import from cfssl ${nowhere}: no such folder (NOT_FOUND)\n` +
        'hint: name the folder holding ca.pem and ca-key.pem (`cfssljson -bare ca`), or the -bare name\n',
    ]);
    expect(fs.existsSync(dir)).toBe(false);
  });

  test.each([
    [[], "required option '--from <tool>' not specified"],
    [['--from', 'step'], "option '--from <tool>' argument 'step' is invalid"],
  ])('%j → commander’s usage error', async (args, message) => {
    const r = await cli(['import', ...args, '--dir', dir], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
  });
});

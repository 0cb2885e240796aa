import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tools.js';
import { snapshot } from './snapshot.js';

const CA_PASS = 'ca-secret-1';
const STORE_PASS = 'store-secret-1';
const env = { MTLS_CA_PASSWORD: CA_PASS, MTLS_CA_STORE_PASSWORD: STORE_PASS };

function mode(file: string): string {
  return (fs.statSync(file).mode & 0o777).toString(8);
}

describe('init, issue-client, list, inspect (non-interactive, --json)', () => {
  const root = tempDir();
  const dir = path.join(root, 'ssl');

  beforeAll(async () => {
    const r = await cli(['init', '--dir', dir, '--json', '--host', 'api.example.com'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  test('init writes every artifact with the intended modes', () => {
    expect(mode(path.join(dir, 'ca/ca.crt'))).toBe('644');
    expect(mode(path.join(dir, 'ca/ca.key'))).toBe('600');
    expect(mode(path.join(dir, 'server/server.key'))).toBe('600');
    expect(mode(path.join(dir, 'server/keyStore.p12'))).toBe('600');
    expect(mode(path.join(dir, 'server/trustStore.jks'))).toBe('644');
    expect(mode(path.join(dir, 'server/trustStore.p12'))).toBe('644');
    expect(fs.readFileSync(path.join(dir, 'ca/ca.key'), 'utf8')).toMatch(
      /^-----BEGIN ENCRYPTED PRIVATE KEY-----/,
    );
    expect(fs.readFileSync(path.join(dir, 'server/server.key'), 'utf8')).toMatch(
      /^-----BEGIN PRIVATE KEY-----/,
    );
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'users.json'), 'utf8'))).toEqual({ users: {} });
    // the given store password is used, so no .pass files are written
    expect(fs.existsSync(path.join(dir, 'server/keyStore.p12.pass'))).toBe(false);
  });

  test('issue-client pavel --role user --json', async () => {
    const r = await cli(['issue-client', 'pavel', '--role', 'user', '--dir', dir, '--json'], env);
    expect(r.code).toBe(0);
    const j = r.json<{
      name: string;
      roles: string[];
      certificate: { subject: string; serial: string };
      p12: string;
    }>();
    expect(j.name).toBe('pavel');
    expect(j.roles).toEqual(['user']);
    expect(j.certificate.subject).toBe('CN=pavel');
    expect(j.certificate.serial).toMatch(/^[0-7][0-9a-f]{31}$/);
    for (const f of ['pavel.key', 'pavel.csr', 'pavel.crt', 'client_pavel.p12']) {
      expect(fs.existsSync(path.join(dir, 'client', f))).toBe(true);
    }
    expect(mode(path.join(dir, 'client/pavel.key'))).toBe('600');
    expect(mode(path.join(dir, 'client/client_pavel.p12'))).toBe('600');
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'users.json'), 'utf8'))).toEqual({
      users: { pavel: { roles: ['user'] } },
    });
  });

  test('list --json shows the CA, the server and pavel as valid', async () => {
    const r = await cli(['list', '--dir', dir, '--json']);
    expect(r.code).toBe(0);
    const rows = r.json<{ certificates: { name: string; profile: string; status: string }[] }>().certificates;
    expect(rows.map((x) => [x.profile, x.status]).sort()).toEqual([
      ['ca', 'valid'],
      ['client', 'valid'],
      ['server', 'valid'],
    ]);
    expect(rows.find((x) => x.profile === 'client')!.name).toBe('pavel');
  });

  test('inspect client/pavel.crt --json', async () => {
    const r = await cli(['inspect', path.join(dir, 'client/pavel.crt'), '--json']);
    expect(r.code).toBe(0);
    const j = r.json<{ type: string; certificates: Record<string, unknown>[] }>();
    expect(j.type).toBe('certificate');
    expect(j.certificates[0]).toMatchObject({
      subject: 'CN=pavel',
      isCa: false,
      keyType: 'ecdsa-p256',
      extendedKeyUsage: ['clientAuth'],
      keyUsage: ['digitalSignature'],
      status: 'valid',
      daysLeft: 364,
    });
  });

  test('inspect reads the .p12 with the store password and never prints key material', async () => {
    const r = await cli(['inspect', path.join(dir, 'client/client_pavel.p12')], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Subject:      CN=pavel');
    expect(r.stdout).toContain('matches the first certificate');
    const k = await cli(['inspect', path.join(dir, 'client/pavel.key')]);
    expect(k.code).toBe(0);
    expect(k.stdout).toContain('Key:          ecdsa-p256');
    const keyBody = fs.readFileSync(path.join(dir, 'client/pavel.key'), 'utf8').split('\n')[1]!;
    expect(k.stdout).not.toContain(keyBody.slice(0, 20));
    expect(k.stdout).not.toContain('PRIVATE KEY-----');
  });

  test('inspect reads the JKS trust store and the CSR', async () => {
    const j = await cli(['inspect', path.join(dir, 'server/trustStore.jks'), '--json'], env);
    expect(j.code).toBe(0);
    expect(j.json<{ type: string; entries: { alias: string; isCa: boolean }[] }>()).toMatchObject({
      type: 'jks',
      entries: [{ alias: 'ca', isCa: true }],
    });
    const c = await cli(['inspect', path.join(dir, 'client/pavel.csr'), '--json']);
    expect(c.json()).toMatchObject({ type: 'csr', subject: 'CN=pavel', signatureValid: true });
  });

  test('inspect of the encrypted CA key takes MTLS_CA_PASSWORD; without it the hint names that, not a ca.key.pass', async () => {
    const key = path.join(dir, 'ca/ca.key');
    const ok = await cli(['inspect', key, '--json'], { MTLS_CA_PASSWORD: CA_PASS });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.json()).toMatchObject({ type: 'private-key', keyType: 'ecdsa-p256', encrypted: true });
    const none = await cli(['inspect', key], { MTLS_CA_STORE_PASSWORD: STORE_PASS });
    expect([none.code, none.stderr]).toEqual([
      1,
      `error: read ${key}: an encrypted private key needs its password (PASSWORD_REQUIRED)\n` +
        'hint: pass --password-file F or set MTLS_CA_PASSWORD\n',
    ]);
  });

  test("inspect names a CSR's signature algorithm, and every key type as --key-type spells it", async () => {
    const csr = await cli(['inspect', path.join(dir, 'client/pavel.csr'), '--json']);
    expect(csr.json()).toMatchObject({ keyType: 'ecdsa-p256', signatureAlgorithm: 'ecdsaWithSHA256' });
    const text = await Promise.all(
      ['client/pavel.crt', 'client/pavel.csr', 'client/pavel.key', 'client/client_pavel.p12'].map((f) =>
        cli(['inspect', path.join(dir, f)], env),
      ),
    );
    for (const r of text) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^ {2,4}Key: {10}ecdsa-p256\b/m);
      expect(r.stdout).not.toMatch(/ECDSA|P-256|1\.2\.840/);
    }
    expect(text[1]!.stdout).toContain('  Signature:    ecdsaWithSHA256\n');
  });

  test('issue-client for a name with a valid certificate fails and changes nothing; --force supersedes', async () => {
    const before = snapshot(dir);
    const r = await cli(['issue-client', 'pavel', '--dir', dir], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^error: issue client pavel: a valid certificate exists until \d{4}-\d\d-\d\d \(.*client\/pavel\.crt\) \(ALREADY_EXISTS\)\nhint: pass --force/,
    );
    expect(snapshot(dir)).toEqual(before);

    const old = (await cli(['inspect', path.join(dir, 'client/pavel.crt'), '--json'])).json<{
      certificates: { serial: string }[];
    }>().certificates[0]!.serial;
    const f = await cli(['issue-client', 'pavel', '--force', '--dir', dir, '--json'], env);
    expect(f.code).toBe(0);
    expect(f.json<{ superseded: string }>().superseded).toBe(old);
    const list = (await cli(['list', '--dir', dir, '--json', '--profile', 'client'])).json<{
      certificates: { serial: string; status: string }[];
    }>();
    expect(list.certificates.find((c) => c.serial === old)!.status).toBe('superseded');
  });

  test('list --expiring exits 3 when something expires within the period, 0 otherwise', async () => {
    expect((await cli(['list', '--dir', dir, '--expiring', '400d'])).code).toBe(3);
    const none = await cli(['list', '--dir', dir, '--expiring', '30d']);
    expect(none.code).toBe(0);
    expect(none.stdout).toBe('No certificates match.\n');
  });
});

describe('errors: one line, a code, a hint, exit 1, nothing changed', () => {
  const root = tempDir();
  const dir = path.join(root, 'ssl');

  beforeAll(async () => {
    expect((await cli(['init', '--dir', dir], env)).code).toBe(0);
  });

  test('init on an existing CA → CA_EXISTS', async () => {
    const before = snapshot(dir);
    const r = await cli(['init', '--dir', dir], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `error: create CA in ${dir}: a CA already exists (${dir}/ca/ca.crt) (CA_EXISTS)\n` +
        'hint: keep using it, or pass --force to move it to a backup folder and start over\n',
    );
    expect(snapshot(dir)).toEqual(before);
  });

  test('wrong CA password → BAD_PASSWORD', async () => {
    const before = snapshot(dir);
    const r = await cli(['issue-client', 'alice', '--dir', dir], { ...env, MTLS_CA_PASSWORD: 'wrong' });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `error: read ${dir}/ca/ca.key: wrong password (BAD_PASSWORD)\n` +
        'hint: pass the CA password with --ca-password-file F or MTLS_CA_PASSWORD\n',
    );
    expect(snapshot(dir)).toEqual(before);
  });

  test('no CA password and no terminal → PASSWORD_REQUIRED naming the flag', async () => {
    const r = await cli(['issue-client', 'alice', '--dir', dir], { MTLS_CA_STORE_PASSWORD: STORE_PASS });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      '(PASSWORD_REQUIRED)\nhint: pass --ca-password-file F or set MTLS_CA_PASSWORD\n',
    );
  });

  test.each([
    ['a..b', 'it contains ".."'],
    ['../evil', 'it contains a path separator'],
    ['a/b', 'it contains a path separator'],
    ['.hidden', 'it starts with a dot or a dash'],
    ['-rf', 'it starts with a dot or a dash'],
    ['x'.repeat(65), 'it is longer than 64 characters'],
    ['pavel.', 'it ends with a dot'],
  ])('client name %j → INVALID_NAME', async (name, cause) => {
    const before = snapshot(dir);
    const r = await cli(['issue-client', '--dir', dir, '--', name], env);
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n')[0]).toBe(
      `error: use client name ${JSON.stringify(name)}: ${cause} (INVALID_NAME)`,
    );
    expect(snapshot(dir)).toEqual(before);
  });

  test('a missing CA → CA_NOT_INITIALIZED with the init command as hint', async () => {
    const empty = path.join(root, 'none');
    const r = await cli(['issue-client', 'bob', '--dir', empty], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `error: read ${empty}/ca/ca.crt: no CA in ${empty} (CA_NOT_INITIALIZED)\nhint: create one with \`mtls-ca init --dir ${empty}\`\n`,
    );
    expect(fs.existsSync(empty)).toBe(false);
  });

  test('init without any CA password and no terminal refuses to write an unencrypted key', async () => {
    const d = path.join(root, 'nopass');
    const r = await cli(['init', '--dir', d], { MTLS_CA_STORE_PASSWORD: STORE_PASS });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      '(PASSWORD_REQUIRED)\nhint: pass --ca-password-file F, set MTLS_CA_PASSWORD, or --no-ca-password',
    );
    expect(fs.existsSync(d)).toBe(false);
  });

  test('--json errors are one JSON document on stdout', async () => {
    const r = await cli(['init', '--dir', dir, '--json'], env);
    expect(r.code).toBe(1);
    expect(r.json()).toEqual({
      error: {
        code: 'CA_EXISTS',
        message: `create CA in ${dir}: a CA already exists (${dir}/ca/ca.crt)`,
        hint: 'keep using it, or pass --force to move it to a backup folder and start over',
      },
    });
  });

  test('a missing password file → NOT_FOUND naming the file', async () => {
    const r = await cli(
      ['issue-client', 'carol', '--dir', dir, '--ca-password-file', path.join(root, 'nope.txt')],
      env,
    );
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n')[0]).toBe(
      `error: read --ca-password-file ${root}/nope.txt: no such file (NOT_FOUND)`,
    );
  });

  test('inspect of a non-PKI file → PARSE_FAILED', async () => {
    const f = path.join(root, 'junk.bin');
    fs.writeFileSync(f, 'hello, this is not a certificate');
    const r = await cli(['inspect', f]);
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n')[0]).toBe(
      `error: read ${f}: not a certificate, CSR, private key, PKCS#12, JKS or CRL (PARSE_FAILED)`,
    );
  });

  test('a .p12 with the wrong password → BAD_PASSWORD, and a hint naming where the password came from', async () => {
    const r = await cli(['inspect', path.join(dir, 'server/keyStore.p12')], {
      MTLS_CA_STORE_PASSWORD: 'wrong',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^error: read .*keyStore\.p12: wrong password .*\(BAD_PASSWORD\)\nhint: the password came from MTLS_CA_STORE_PASSWORD; pass the right one with --password-file F\n$/,
    );
  });

  test.each([
    [['init', '--key-type', 'dsa-1024'], /argument 'dsa-1024' is invalid/],
    [['issue-client', 'x', '--days', 'soon'], /--days takes a whole number of days/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['list', '--bogus'], /unknown option '--bogus'/],
  ])('usage error %j → exit 2', async (args, message) => {
    const r = await cli([...args, '--dir', dir], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  test('--force moves the old CA to a backup and keeps its key byte for byte', async () => {
    const oldKey = fs.readFileSync(path.join(dir, 'ca/ca.key'));
    const r = await cli(['init', '--dir', dir, '--force', '--json'], env);
    expect(r.code).toBe(0);
    const backup = r.json<{ backup: string }>().backup;
    expect(fs.readFileSync(path.join(backup, 'ca/ca.key'))).toEqual(oldKey);
    expect(fs.readFileSync(path.join(dir, 'ca/ca.key'))).not.toEqual(oldKey);
  });

  test('after init --force, audit verify passes: the new log starts its own chain, not the old one', async () => {
    const r = await cli(['audit', 'verify', '--dir', dir, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toEqual({ ok: true, lines: 3 }); // init, issue (server), crl
  });
});

describe('generated passwords and an unencrypted demo CA', () => {
  const root = tempDir();
  const dir = path.join(root, 'ssl');

  test('--no-ca-password warns and writes a 0600 plain key; store passwords are generated as .pass files', async () => {
    const r = await cli(['init', '--dir', dir, '--no-ca-password', '--json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(
      'warning: the CA key is stored UNENCRYPTED (--no-ca-password); anyone who can read it can issue certificates\n',
    );
    expect(fs.readFileSync(path.join(dir, 'ca/ca.key'), 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(mode(path.join(dir, 'ca/ca.key'))).toBe('600');
    const passFiles = r.json<{ passwordFiles: string[] }>().passwordFiles;
    expect(passFiles.map((p) => path.basename(p)).sort()).toEqual([
      'keyStore.p12.pass',
      'trustStore.jks.pass',
      'trustStore.p12.pass',
    ]);
    for (const p of passFiles) {
      expect(mode(p)).toBe('600');
      expect(fs.readFileSync(p, 'utf8')).toMatch(/^[A-Za-z0-9_-]{24}\n$/);
    }
    const c = await cli(['issue-client', 'pavel', '--role', 'user', '--dir', dir, '--json']);
    expect(c.code).toBe(0);
    expect(c.json<{ passwordFile: string }>().passwordFile).toBe(
      path.join(dir, 'client/client_pavel.p12.pass'),
    );
    // inspect finds the .pass file beside the store
    const i = await cli(['inspect', path.join(dir, 'client/client_pavel.p12'), '--json']);
    expect(i.code).toBe(0);
    expect(i.json()).toMatchObject({
      type: 'pkcs12',
      privateKey: { keyType: 'ecdsa-p256', matchesCertificate: true },
    });
  });
});

describe('help', () => {
  test.each(['init', 'import', 'issue-client', 'issue-server', 'sign-csr', 'inspect', 'list'])(
    '%s --help has examples and exit codes',
    async (cmd) => {
      const r = await cli([cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('Examples:\n  $ ');
      expect(r.stdout).toContain('Exit codes:\n  0   success');
    },
  );

  test.each(
    [
      [],
      ['init'],
      ['import'],
      ['issue-client'],
      ['issue-server'],
      ['sign-csr'],
      ['inspect'],
      ['list'],
      ['revoke'],
      ['crl'],
      ['renew'],
      ['audit'],
      ['audit', 'verify'],
      ['serve'],
      ['publish-url'],
      ['publish'],
      ['demo'],
      ['snippet'],
      ['trust'],
      ['trust', 'install'],
      ['trust', 'uninstall'],
      ['trust', 'status'],
      ['db'],
      ['db', 'migrate'],
      ['db', 'status'],
      ['db', 'import'],
    ].map((cmd) => ({ cmd })),
  )('$cmd --help: a description, wrapped evenly, and every line within 80 columns', async ({ cmd }) => {
    const r = await cli([...cmd, '--help']);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines.filter((l) => l.length > 80)).toEqual([]);
    // The description: from the line after "Usage:"'s blank line to the next blank line.
    const start = lines.findIndex((l) => l.startsWith('Usage:')) + 2;
    const end = lines.indexOf('', start);
    const paragraph = lines.slice(start, end);
    // Every command says what it does, in sentences, before its options.
    expect(paragraph[0]).toMatch(/^[A-Z][\w-]* /);
    for (let i = 0; i + 1 < paragraph.length; i++) {
      const nextWord = paragraph[i + 1]!.split(' ')[0]!;
      // A break where the next word would still have fitted is a hard newline in the source.
      expect([paragraph[i], paragraph[i]!.length + 1 + nextWord.length > 80]).toEqual([paragraph[i], true]);
    }
  });

  test('top-level help lists the commands and the environment', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    for (const word of [
      'init',
      'import',
      'issue-client',
      'sign-csr',
      'inspect',
      'list',
      'MTLS_CA_PASSWORD',
      'MTLS_CA_STORE_PASSWORD',
    ]) {
      expect(r.stdout).toContain(word);
    }
  });
});

describe('issue-client --from FILE (batch)', () => {
  const root = tempDir();
  const dir = path.join(root, 'ssl');

  test('issues every listed user with their roles in one go, all or nothing', async () => {
    expect((await cli(['init', '--dir', dir], env)).code).toBe(0);
    const list = path.join(root, 'team.txt');
    fs.writeFileSync(list, '# team\nbob user,admin\n\ncarol user\ndave\n');
    const r = await cli(['issue-client', '--from', list, '--dir', dir, '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const clients = r.json<{
      clients: { name: string; roles: string[]; certificate: { serial: string } }[];
    }>().clients;
    expect(clients.map((c) => [c.name, c.roles])).toEqual([
      ['bob', ['user', 'admin']],
      ['carol', ['user']],
      ['dave', []],
    ]);
    expect(new Set(clients.map((c) => c.certificate.serial)).size).toBe(3);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'users.json'), 'utf8')).users).toEqual({
      bob: { roles: ['user', 'admin'] },
      carol: { roles: ['user'] },
      dave: { roles: [] },
    });

    // one bad line: nothing is issued, the line is named
    const before = snapshot(dir);
    fs.writeFileSync(list, 'erin user\n../frank user\n');
    const bad = await cli(['issue-client', '--from', list, '--dir', dir], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr.split('\n')[0]).toBe(
      `error: read ${list} line 2: use client name "../frank": it contains a path separator (INVALID_NAME)`,
    );
    // an existing valid certificate in the batch: refused as a whole
    fs.writeFileSync(list, 'erin user\nbob user\n');
    const dup = await cli(['issue-client', '--from', list, '--dir', dir], env);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain('issue client bob: a valid certificate exists');
    expect(snapshot(dir)).toEqual(before);
  });

  test('a name and --from together is a usage error (exit 2)', async () => {
    const r = await cli(['issue-client', 'x', '--from', 'y', '--dir', dir], env);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe('error: issue-client: give either a <name> or --from FILE (USAGE)');
  });
});

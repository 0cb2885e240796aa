/**
 * Rules every command keeps: cheap checks before any secret is asked for, the CA password checked as soon as it
 * is typed, a minimum length for a new CA password, `revoke` of an ambiguous name, what `renew` leaves behind,
 * and the key type of new certificates. Prompts run on a real pseudo-terminal.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { checkClientRequests, issueClients } from '../../src/ops/issue-client.js';
import { checkRevocation, revoke } from '../../src/ops/revoke.js';
import { CaStore } from '../../src/store/ca-store.js';
import { cli } from '../helpers/cli.js';
import { runOnPty } from '../helpers/pty.js';
import { describeWithTools, run, runOk, tempDir } from '../helpers/tools.js';
import { snapshot } from './snapshot.js';

const CA_PASSWORD = 'rules-ca-password';
const env = { MTLS_CA_PASSWORD: CA_PASSWORD, MTLS_CA_STORE_PASSWORD: 'rules-store-password' };

interface Listed {
  name: string;
  serial: string;
  status: string;
  notAfter: string;
}

async function listed(dir: string, name: string): Promise<Listed[]> {
  const r = await cli(['list', '--dir', dir, '--json']);
  return r.json<{ certificates: Listed[] }>().certificates.filter((c) => c.name === name);
}

describe('revoke of a name with more than one certificate in use', () => {
  const dir = path.join(tempDir(), 'ssl');
  const serials: Record<string, string[]> = {};

  beforeAll(async () => {
    expect((await cli(['init', '--dir', dir], env)).code).toBe(0);
    for (const name of ['alice', 'bob']) {
      expect((await cli(['issue-client', name, '--dir', dir], env)).code).toBe(0);
      expect((await cli(['renew', name, '--dir', dir], env)).code).toBe(0);
      serials[name] = (await listed(dir, name)).map((c) => c.serial);
    }
  });

  test('lists them (serial, profile, status, notAfter), revokes nothing, and asks for a serial or --all', async () => {
    const before = snapshot(dir);
    const rows = await listed(dir, 'alice');
    expect(rows.map((c) => c.status).sort()).toEqual(['superseded', 'valid']);
    const j = await cli(['revoke', 'alice', '--dir', dir, '--json']);
    expect(j.code).toBe(1);
    const { error } = j.json<{ error: { matches: Record<string, string>[] } }>();
    expect(error).toEqual({
      code: 'AMBIGUOUS',
      message: 'revoke alice: 2 certificates have that name and are not revoked',
      hint: 'revoke one by its serial (`mtls-ca revoke <serial>`), or all 2 with `mtls-ca revoke alice --all`',
      matches: expect.any(Array),
    });
    expect(new Set(error.matches)).toEqual(
      new Set(
        rows.map((c) => ({ serial: c.serial, profile: 'client', status: c.status, notAfter: c.notAfter })),
      ),
    );
    const r = await cli(['revoke', 'alice', '--dir', dir]);
    expect(r.code).toBe(1);
    const width = error.matches[0]!.serial!.length;
    expect(r.stderr).toBe(
      'error: revoke alice: 2 certificates have that name and are not revoked (AMBIGUOUS)\n' +
        `  ${'serial'.padEnd(width)}  profile  status      notAfter\n` +
        error.matches
          .map((c) => `  ${c.serial}  client   ${c.status!.padEnd(10)}  ${c.notAfter}\n`)
          .join('') +
        'hint: revoke one by its serial (`mtls-ca revoke <serial>`), or all 2 with `mtls-ca revoke alice --all`\n',
    );
    expect(snapshot(dir)).toEqual(before);
  });

  test('a serial revokes that one; then the name matches one certificate and revokes it as before', async () => {
    const superseded = (await listed(dir, 'alice')).find((c) => c.status === 'superseded')!;
    const one = await cli(['revoke', superseded.serial, '--dir', dir, '--json'], env);
    expect(one.code, one.stderr).toBe(0);
    expect(one.json<{ revoked: { serial: string }[] }>().revoked.map((c) => c.serial)).toEqual([
      superseded.serial,
    ]);
    const rest = await cli(['revoke', 'alice', '--dir', dir, '--json'], env);
    expect(rest.code, rest.stderr).toBe(0);
    expect((await listed(dir, 'alice')).map((c) => c.status)).toEqual(['revoked', 'revoked']);
  });

  test('--all revokes every certificate of the name in one CRL', async () => {
    const r = await cli(['revoke', 'bob', '--all', '--dir', dir, '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const j = r.json<{ revoked: { serial: string }[]; crl: { revoked: number } }>();
    expect(j.revoked.map((c) => c.serial).sort()).toEqual([...serials.bob!].sort());
    expect(j.crl.revoked).toBe(4);
  });
});

describeWithTools(['openssl'], 'renew', () => {
  const dir = path.join(tempDir(), 'ssl');
  const p = (f: string) => path.join(dir, f);
  const publicKeyOf = (args: string[]) => runOk('openssl', args).stdout;

  beforeAll(async () => {
    expect((await cli(['init', '--dir', dir], env)).code).toBe(0);
    expect(
      (await cli(['issue-client', 'carol', '--email', 'carol@example.com', '--dir', dir], env)).code,
    ).toBe(0);
  });

  test('--rekey rewrites <name>.csr: signed by the new key, same subject and email', async () => {
    const oldCsr = fs.readFileSync(p('client/carol.csr'));
    const r = await cli(['renew', 'carol', '--rekey', '--dir', dir, '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json<{ files: { path: string; what: string }[] }>().files).toContainEqual({
      path: p('client/carol.csr'),
      mode: '0644',
      what: 'certificate request (new key)',
    });
    expect(fs.readFileSync(p('client/carol.csr'))).not.toEqual(oldCsr);
    const csr = runOk('openssl', [
      'req',
      '-in',
      p('client/carol.csr'),
      '-verify',
      '-noout',
      '-subject',
      '-text',
    ]);
    expect(csr.stdout + csr.stderr).toMatch(/verify OK/i);
    expect(csr.stdout).toContain('subject=CN = carol');
    expect(csr.stdout).toContain('email:carol@example.com');
    const fromKey = publicKeyOf(['pkey', '-in', p('client/carol.key'), '-pubout']);
    expect(publicKeyOf(['req', '-in', p('client/carol.csr'), '-noout', '-pubkey'])).toBe(fromKey);
    expect(publicKeyOf(['x509', '-in', p('client/carol.crt'), '-noout', '-pubkey'])).toBe(fromKey);
  });

  test('without --rekey the key and its request stay as they are', async () => {
    const before = [fs.readFileSync(p('client/carol.key')), fs.readFileSync(p('client/carol.csr'))];
    expect((await cli(['renew', 'carol', '--dir', dir], env)).code).toBe(0);
    expect([fs.readFileSync(p('client/carol.key')), fs.readFileSync(p('client/carol.csr'))]).toEqual(before);
  });

  test('says the superseded certificate still authenticates until it expires, and how to revoke it', async () => {
    const [old] = (await listed(dir, 'carol')).filter((c) => c.status === 'valid');
    const r = await cli(['renew', 'carol', '--dir', dir], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n')[1]).toBe(
      `The old certificate ${old!.serial} is superseded but still authenticates until ${old!.notAfter.slice(0, 10)}: ` +
        `revoke it with \`mtls-ca revoke ${old!.serial}\` (renew --revoke-old does both at once).`,
    );
    const [mid] = (await listed(dir, 'carol')).filter((c) => c.status === 'valid');
    const j = await cli(['renew', 'carol', '--dir', dir, '--json'], env);
    expect(j.json<{ old: unknown }>().old).toEqual({
      serial: mid!.serial,
      status: 'superseded',
      notAfter: mid!.notAfter,
      stillAuthenticates: true,
    });
    const revoked = await cli(['renew', 'carol', '--revoke-old', '--dir', dir, '--json'], env);
    expect(revoked.json<{ old: { status: string; stillAuthenticates: boolean } }>().old).toMatchObject({
      status: 'revoked',
      stillAuthenticates: false,
    });
  });
});

describe('cheap checks come before any password', () => {
  const root = tempDir();
  const dir = path.join(root, 'ssl');
  const noPasswords = {}; // no MTLS_CA_PASSWORD, no terminal: asking would fail with PASSWORD_REQUIRED

  beforeAll(async () => {
    expect((await cli(['init', '--dir', dir], env)).code).toBe(0);
    expect((await cli(['issue-client', 'pavel', '--dir', dir], env)).code).toBe(0);
    expect((await cli(['renew', 'pavel', '--dir', dir], env)).code).toBe(0);
    expect((await cli(['issue-client', 'dora', '--dir', dir], env)).code).toBe(0);
    expect((await cli(['issue-server', 'api.example.com', '--dir', dir], env)).code).toBe(0);
  });

  test.each([
    [['revoke', 'nobody'], 'revoke nobody: no certificate with that name or serial (NOT_FOUND)'],
    [['revoke', 'pavel'], 'revoke pavel: 2 certificates have that name and are not revoked (AMBIGUOUS)'],
    [['issue-client', 'dora'], 'issue client dora: a valid certificate exists until'],
    [['issue-client', 'Dora'], 'issue client Dora: the name "dora" exists'],
    [['sign-csr', path.join(dir, 'client/dora.csr')], 'for client dora: a valid certificate exists until'],
    [['renew', 'nobody'], 'renew nobody: no certificate with that name (NOT_FOUND)'],
    [['issue-server', 'api.example.com'], 'issue server api.example.com: '],
    [['init'], 'a CA already exists'],
  ])('%j fails on its own grounds, not for want of a password', async (args, message) => {
    const before = snapshot(dir);
    const r = await cli([...args, '--dir', dir], noPasswords);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(message);
    expect(r.stderr).not.toContain('PASSWORD_REQUIRED');
    expect(snapshot(dir)).toEqual(before);
  });

  test('on a terminal, `revoke nobody` says NOT_FOUND and never asks for the CA password', () => {
    const session = runOnPty(['revoke', 'nobody', '--dir', dir], []);
    expect(session.status).toBe(1);
    expect(session.screen).toContain('revoke nobody: no certificate with that name or serial (NOT_FOUND)');
    expect(session.screen).not.toContain('password');
  });

  test('a wrong CA password from the environment fails at once, before the store password is asked for', () => {
    const before = snapshot(dir);
    const session = runOnPty(['issue-client', 'erin', '--dir', dir], [], {
      MTLS_CA_PASSWORD: 'not-the-password',
    });
    expect(session.status).toBe(1);
    expect(session.screen).toContain(`error: read ${dir}/ca/ca.key: wrong password (BAD_PASSWORD)`);
    expect(session.screen).not.toContain('Password for the key store');
    expect(snapshot(dir)).toEqual(before);
  });
});

describe('what was checked before the password is checked again under the lock when the CA changed since', () => {
  const dir = path.join(tempDir(), 'ssl');
  const store = new CaStore(dir);
  const settings = {
    days: 30,
    keyType: 'ecdsa-p256',
    p12Profile: 'compat',
    force: false,
    caPassword: CA_PASSWORD,
    store: {},
  } as const;

  beforeAll(async () => {
    expect((await cli(['init', '--dir', dir], env)).code).toBe(0);
    expect((await cli(['issue-client', 'rita', '--dir', dir], env)).code).toBe(0);
  });

  test('issue-client: a look-alike issued meanwhile is refused', async () => {
    const request = { name: 'Quinn', roles: [], email: [] };
    const namesCheckedAt = checkClientRequests(store, [request], { force: false });
    expect((await cli(['issue-client', 'quinn', '--dir', dir], env)).code).toBe(0);
    const before = snapshot(dir);
    await expect(issueClients(store, [request], { ...settings, namesCheckedAt })).rejects.toMatchObject({
      code: 'ALREADY_EXISTS',
      message:
        'issue client Quinn: the name "quinn" exists, and "Quinn" reads the same (it differs only in case or Unicode form)',
    });
    expect(snapshot(dir)).toEqual(before);
  });

  test('revoke: a name renewed meanwhile has become ambiguous', async () => {
    expect(checkRevocation(store, { target: 'rita' })).toHaveLength(1);
    expect((await cli(['renew', 'rita', '--dir', dir], env)).code).toBe(0);
    const before = snapshot(dir);
    await expect(
      revoke(store, { target: 'rita', reason: 'unspecified', caPassword: CA_PASSWORD }),
    ).rejects.toMatchObject({ code: 'AMBIGUOUS' });
    expect(snapshot(dir)).toEqual(before);
  });
});

describe('the CA password typed at the prompt is checked at once', () => {
  const dir = path.join(tempDir(), 'ssl');

  beforeAll(async () => {
    expect((await cli(['init', '--dir', dir], env)).code).toBe(0);
  });

  test('a wrong one is asked again before any other question; the right one goes on', () => {
    const session = runOnPty(
      ['issue-client', 'fred', '--dir', dir],
      [
        { waitFor: 'CA key password' },
        { send: 'not-the-password\r' },
        { waitFor: 'Wrong password; try again (2 tries left).' },
        { waitFor: 'CA key password' },
        { send: `${CA_PASSWORD}\r` },
        { waitFor: 'Password for the key store' },
        { send: '\r' }, // empty: generate one
      ],
    );
    expect(session.status, session.screen).toBe(0);
    expect(session.screen).toContain('Issued a client certificate for "fred"');
    expect(session.screen.indexOf('Wrong password')).toBeLessThan(
      session.screen.indexOf('Password for the key'),
    );
  });

  test('three wrong ones end the command with BAD_PASSWORD, no other question asked, nothing written', () => {
    const before = snapshot(dir);
    // Each wait names what only the next question follows: the prompt's own text is drawn again at each key.
    const session = runOnPty(
      ['issue-client', 'gina', '--dir', dir],
      [
        { waitFor: 'CA key password' },
        { send: 'wrong-1\r' },
        { waitFor: 'Wrong password; try again (2 tries left).' },
        { waitFor: 'CA key password' },
        { send: 'wrong-2\r' },
        { waitFor: 'Wrong password; try again (1 try left).' },
        { waitFor: 'CA key password' },
        { send: 'wrong-3\r' },
      ],
    );
    expect(session.status).toBe(1);
    expect(session.screen).toContain(
      `error: read ${dir}/ca/ca.key: wrong password, 3 times (BAD_PASSWORD)\r\n`,
    );
    expect(session.screen).toContain(
      'hint: run the command again, or pass the password with --ca-password-file F or MTLS_CA_PASSWORD',
    );
    expect(session.screen).not.toContain('Password for the key store');
    expect(snapshot(dir)).toEqual(before);
  });
});

describe('a new CA password needs at least 8 characters', () => {
  const root = tempDir();

  const shortFile = path.join(root, 'short.pass');

  test.each([
    {
      from: 'MTLS_CA_PASSWORD',
      env: { MTLS_CA_PASSWORD: '1234567' },
      flags: [],
      says: 'use MTLS_CA_PASSWORD',
    },
    { from: 'one character', env: { MTLS_CA_PASSWORD: 'x' }, flags: [], says: '1 character is too few' },
    {
      from: 'a file',
      env: {},
      flags: ['--ca-password-file', shortFile],
      says: `use --ca-password-file ${shortFile} for a new CA key: 7 characters are too few`,
    },
  ])('from $from: refused (WEAK_PASSWORD), nothing written', async ({ from, env: given, flags, says }) => {
    fs.writeFileSync(shortFile, 'seven77\n');
    const dir = path.join(root, from.replace(/ /g, '-'));
    const r = await cli(['init', '--dir', dir, ...flags], given);
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n')[0]).toMatch(/too few \(at least 8\) \(WEAK_PASSWORD\)$/);
    expect(r.stderr).toContain(says);
    expect(r.stderr).toContain(
      'hint: choose a longer password; 12 or more characters, a few words, are better\n',
    );
    expect(fs.existsSync(dir)).toBe(false);
  });

  test('8 characters are accepted, without a warning when no person is at a terminal', async () => {
    const dir = path.join(root, 'eight');
    const r = await cli(['init', '--dir', dir], {
      MTLS_CA_PASSWORD: '12345678',
      MTLS_CA_STORE_PASSWORD: 'x',
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
  });

  test('at the prompt a short one is asked again; under 12 characters a warning follows', async () => {
    const dir = path.join(root, 'prompted');
    const session = runOnPty(
      ['init', '--dir', dir],
      [
        { waitFor: 'CA name' },
        { send: '\r' },
        { waitFor: 'Server names' },
        { send: '\r' },
        { waitFor: 'Password for the new CA key' },
        { send: 'short\r' },
        { waitFor: 'It needs at least 8 characters; try again.' },
        { waitFor: 'Password for the new CA key' },
        { send: 'ten-chars!\r' },
        { waitFor: 'Repeat it' },
        { send: 'ten-chars!\r' },
        { waitFor: 'warning: the CA key password has fewer than 12 characters' },
        { waitFor: 'Password for the key store' },
        { send: '\r' },
      ],
    );
    expect(session.status, session.screen).toBe(0);
    // the short one was refused before it was confirmed
    expect(session.screen.indexOf('Repeat it')).toBeGreaterThan(
      session.screen.indexOf('It needs at least 8'),
    );
    const key = await cli(['inspect', path.join(dir, 'ca/ca.key'), '--json'], {
      MTLS_CA_PASSWORD: 'ten-chars!',
    });
    expect(key.json()).toMatchObject({ type: 'private-key', encrypted: true });
  });
});

describe("without --key-type, new certificates get the CA's key type", () => {
  const root = tempDir();
  const dir = path.join(root, 'ssl');
  const keyTypeOf = async (file: string) =>
    (await cli(['inspect', path.join(dir, file), '--json'])).json<{ certificates: { keyType: string }[] }>()
      .certificates[0]!.keyType;

  beforeAll(async () => {
    expect((await cli(['init', '--key-type', 'rsa-2048', '--dir', dir], env)).code).toBe(0);
  });

  test('issue-client, issue-client --from and issue-server follow an rsa-2048 CA', async () => {
    expect((await cli(['issue-client', 'hank', '--dir', dir], env)).code).toBe(0);
    fs.writeFileSync(path.join(root, 'team.txt'), 'ivy user\njack\n');
    const batch = await cli(['issue-client', '--from', path.join(root, 'team.txt'), '--dir', dir], env);
    expect(batch.stdout.split('\n')[0]).toMatch(/^Issued 2 client certificates \(rsa-2048\)/);
    expect((await cli(['issue-server', 'web.example.com', '--dir', dir], env)).code).toBe(0);
    for (const file of ['client/hank.crt', 'client/ivy.crt', 'client/jack.crt', 'server/web.example.com.crt'])
      expect([file, await keyTypeOf(file)]).toEqual([file, 'rsa-2048']);
  });

  test('--key-type still chooses; --help says what the default is', async () => {
    expect((await cli(['issue-client', 'kate', '--key-type', 'ecdsa-p384', '--dir', dir], env)).code).toBe(0);
    expect(await keyTypeOf('client/kate.crt')).toBe('ecdsa-p384');
    for (const command of ['issue-client', 'issue-server']) {
      const help = (await cli([command, '--help'])).stdout.replace(/\s+/g, ' ');
      expect(help).toContain("--key-type <type> key algorithm (default: the CA's key type) (choices:");
    }
  });
});

describe('Ed25519 keys, which browsers cannot use, draw a warning', () => {
  const root = tempDir();
  const dir = path.join(root, 'ssl');
  const warning = (what: string) =>
    `warning: ${what}, which browsers cannot use: Chromium offers no Ed25519 in TLS, and NSS (Firefox; Chromium on Linux) cannot import one; OpenSSL-based clients such as curl can use one — for browsers use --key-type ecdsa-p256\n`;

  test('issue-client --key-type ed25519 warns; another key type does not', async () => {
    expect((await cli(['init', '--dir', dir], env)).code).toBe(0);
    const ed = await cli(
      ['issue-client', 'lena', '--role', 'user', '--key-type', 'ed25519', '--dir', dir],
      env,
    );
    expect(ed.code, ed.stderr).toBe(0);
    expect(ed.stderr).toBe(warning('client lena gets an Ed25519 key'));
    const ec = await cli(['issue-client', 'mia', '--role', 'user', '--dir', dir], env);
    expect(ec.stderr).toBe('');
  });

  test('an Ed25519 CA warns at init, and at each client that inherits its key type', async () => {
    const edDir = path.join(root, 'ed-ssl');
    const init = await cli(['init', '--key-type', 'ed25519', '--dir', edDir], env);
    expect(init.code, init.stderr).toBe(0);
    expect(init.stderr).toBe(
      warning('the CA, its server certificate and (by default) every client get Ed25519 keys'),
    );
    const client = await cli(['issue-client', 'nina', '--role', 'user', '--dir', edDir, '--json'], env);
    expect(client.stderr).toBe(warning("client nina gets an Ed25519 key (the CA's key type)"));
    expect(client.json<{ certificate: { keyType: string } }>().certificate.keyType).toBe('ed25519');
  });

  describeWithTools(['pk12util', 'certutil'], 'as the README says', () => {
    test("NSS 3.87's pk12util cannot import the Ed25519 client .p12 (it imports the ECDSA one)", () => {
      const password = path.join(root, 'store.pass');
      fs.writeFileSync(password, `${env.MTLS_CA_STORE_PASSWORD}\n`);
      const imported = (p12: string) => {
        const db = fs.mkdtempSync(path.join(root, 'nss-'));
        runOk('certutil', ['-N', '--empty-password', '-d', `sql:${db}`]);
        return run('pk12util', ['-i', path.join(dir, 'client', p12), '-d', `sql:${db}`, '-w', password]);
      };
      // If this starts to pass, NSS learned Ed25519: the README's Ed25519 paragraph and the warning must change.
      const ed = imported('client_lena.p12');
      expect(ed.status).not.toBe(0);
      expect(ed.stderr).toContain('SEC_ERROR_PKCS12_UNABLE_TO_IMPORT_KEY');
      const ec = imported('client_mia.p12');
      expect(ec.stdout + ec.stderr).toContain('PKCS12 IMPORT SUCCESSFUL');
    });
  });
});

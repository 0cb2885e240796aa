/**
 * `mtls-ca import` of CAs made by the tools teams use — mkcert, easy-rsa 3, cfssl, `openssl ca` — each made by
 * the tool itself (test/helpers/source-cas.ts, which keeps them between runs): certificates issued after the
 * import chain to the root file the tool made, as OpenSSL, Java (keytool, JSSE), NSS and curl against
 * `mtls-ca serve` see them; what easy-rsa and openssl ca had issued and revoked is in the inventory and the first
 * CRL, and serve refuses the revoked certificate.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { snapshot } from '../cli/snapshot.js';
import { CUSTOMER_1, curl, eventLines, serverPool } from '../e2e/helpers.js';
import { readAuditRecords } from '../helpers/ca-files.js';
import { caProblems } from '../helpers/ca-invariants.js';
import { cli } from '../helpers/cli.js';
import { javaProgram, keytoolArgs, keytoolBatch } from '../helpers/java.js';
import { x509Print } from '../helpers/openssl.js';
import { within } from '../helpers/poll.js';
import {
  EASYRSA,
  type EasyRsaPki,
  makeCfsslCa,
  makeEasyRsaPki,
  makeMkcertCa,
  makeOpensslCaFolder,
  type OpensslCaFolder,
} from '../helpers/source-cas.js';
import { describeWithTools, run, runOk, tempDir } from '../helpers/tools.js';

const CA_PASSWORD = 'team-ca-password';
const STORE_PASSWORD = 'store-password';
const env = { MTLS_CA_PASSWORD: CA_PASSWORD, MTLS_CA_STORE_PASSWORD: STORE_PASSWORD };
const TOOLS = ['mkcert', EASYRSA, 'cfssl', 'cfssljson', 'openssl', 'java', 'certutil', 'curl'];

/** A CA directory made by `import`, with the client `pavel` issued after it. */
interface Imported {
  source: string;
  dir: string;
  /** The root file the other tool made. */
  root: string;
}

interface Listed {
  name: string;
  profile: string;
  serial: string;
  status: string;
  revokedAt?: string;
  revocationReason?: string;
}

describeWithTools(TOOLS, 'import: CAs made by mkcert, easy-rsa, cfssl and openssl ca', () => {
  const root = tempDir();
  const servers = serverPool();
  const imported: Imported[] = [];
  let easy: EasyRsaPki;
  let ossl: OpensslCaFolder;
  const at = (source: string) => imported.find((i) => i.source === source)!;

  beforeAll(async () => {
    const oldPassword = path.join(root, 'old.pass');
    fs.writeFileSync(oldPassword, 'old-openssl-password\n');
    /** `import` of what a tool made, then pavel issued by the imported CA. */
    const importFrom = async (
      source: string,
      file: string,
      args: string[],
      extra: Record<string, string>,
    ) => {
      const dir = path.join(root, `ssl-${source}`);
      const r = await cli(['import', '--from', source, ...args, '--dir', dir], { ...env, ...extra });
      expect(r.code, r.stderr).toBe(0);
      const issued = await cli(['issue-client', 'pavel', '--role', 'user', '--dir', dir], env);
      expect(issued.code, issued.stderr).toBe(0);
      imported.push({ source, dir, root: file });
    };
    // Each tool's CA is imported as soon as the tool has made it: easy-rsa, a shell script that runs openssl
    // dozens of times, takes longest, and the other imports run meanwhile.
    await Promise.all([
      // mkcert's folder from CAROOT, as `mkcert -CAROOT` finds it
      makeMkcertCa(path.join(root, 'mkcert')).then((m) =>
        importFrom('mkcert', m.root, [], { CAROOT: m.caroot }),
      ),
      // the folder easy-rsa ran in, which holds pki/; the team's CA password opens easy-rsa's key: the CA
      // keeps its password
      makeEasyRsaPki(path.join(root, 'easy-rsa'), CA_PASSWORD).then((e) => {
        easy = e;
        return importFrom('easy-rsa', e.root, [path.join(root, 'easy-rsa'), '--role', 'user'], {});
      }),
      makeCfsslCa(path.join(root, 'cfssl')).then((c) => importFrom('cfssl', c.root, [c.folder], {})),
      makeOpensslCaFolder(path.join(root, 'openssl'), 'old-openssl-password').then((o) => {
        ossl = o;
        return importFrom(
          'openssl',
          o.root,
          [o.folder, '--source-password-file', oldPassword, '--role', 'user'],
          {},
        );
      }),
    ]);
  });

  test('the CA directories are sound: inventory, CRL, audit log and files agree', () => {
    for (const i of imported) expect(caProblems(i.dir), i.source).toEqual([]);
  });

  test('openssl verify: the server and client certificates issued after the import chain to the original root file', () => {
    for (const i of imported) {
      const server = path.join(i.dir, 'server', 'server.crt');
      const client = path.join(i.dir, 'client', 'pavel.crt');
      const r = runOk('openssl', ['verify', '-CAfile', i.root, server, client]);
      expect(r.stdout, i.source).toBe(`${server}: OK\n${client}: OK\n`);
      expect(fs.readFileSync(path.join(i.dir, 'ca', 'ca.crt'), 'utf8'), i.source).toContain(
        x509Print(['x509', '-in', i.root]).trim(),
      );
    }
  });

  test('Java: keytool finds the original root as the JKS trust store’s one entry; JSSE trusting only that root (a store keytool made of it) completes the mutual handshake', () => {
    const passFile = path.join(root, 'store.pass');
    fs.writeFileSync(passFile, `${STORE_PASSWORD}\n`);
    const rootStore = (i: Imported) => path.join(root, `original-root-${i.source}.p12`);
    const keytool = keytoolBatch(
      Object.fromEntries(
        imported.flatMap((i) => [
          [
            `import ${i.source}`,
            keytoolArgs.importCert('original-root', i.root, rootStore(i), 'PKCS12', passFile),
          ],
          [
            `list ${i.source}`,
            [
              '-list',
              '-rfc',
              ...keytoolArgs
                .list(path.join(i.dir, 'server', 'trustStore.jks'), passFile, { type: 'JKS' })
                .slice(1),
            ],
          ],
        ]),
      ),
    );
    for (const i of imported) {
      expect(keytool[`import ${i.source}`]!.status, keytool[`import ${i.source}`]!.stderr).toBe(0);
      const listed = keytool[`list ${i.source}`]!;
      expect(listed.stdout, i.source).toContain('Your keystore contains 1 entry');
      const pem = (text: string) =>
        /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(text)?.[0].replace(/\s/g, '');
      expect(pem(listed.stdout), i.source).toBe(pem(x509Print(['x509', '-in', i.root])));
    }
    // The client and the server both trust only the original root: each side's certificate chains to it.
    const exchanges = runOk(
      'java',
      javaProgram(
        'MtlsHandshake',
        imported.flatMap((i) => [
          path.join(i.dir, 'server', 'keyStore.p12'),
          passFile,
          rootStore(i),
          'PKCS12',
          passFile,
          path.join(i.dir, 'client', 'client_pavel.p12'),
          passFile,
        ]),
      ),
      { timeout: 120_000 },
    )
      .stdout.trim()
      .split('\n');
    expect(exchanges).toHaveLength(imported.length);
    for (const line of exchanges)
      expect(line).toMatch(/^OK server-saw=CN=pavel client-saw=CN=localhost reply=pong/);
  });

  test('NSS: certutil -V finds each client (SSL client) and server (SSL server) certificate valid under its original root', () => {
    const db = path.join(root, 'nssdb');
    fs.mkdirSync(db);
    runOk('certutil', ['-N', '--empty-password', '-d', `sql:${db}`]);
    const leaves = imported.flatMap((i) =>
      ['client/pavel.crt', 'server/server.crt'].map((leaf) => ({
        nick: `${i.source}-${path.basename(leaf)}`,
        file: path.join(i.dir, leaf),
        usage: leaf.startsWith('client') ? 'C' : 'V',
      })),
    );
    // The roots (trusted) and the leaves (no trust of their own) go in by one certutil run (-B: a command a
    // line); each check is a run of its own, so that its answer is its own.
    const batch = path.join(root, 'nss-add.txt');
    fs.writeFileSync(
      batch,
      imported
        .map((i) => `-A -n root-${i.source} -t CT,, -i ${i.root}\n`)
        .concat(leaves.map((l) => `-A -n ${l.nick} -t ,, -i ${l.file}\n`))
        .join(''),
    );
    runOk('certutil', ['-B', '-i', batch, '-d', `sql:${db}`]);
    for (const { nick, usage } of leaves) {
      const r = run('certutil', ['-V', '-d', `sql:${db}`, '-n', nick, '-u', usage]);
      expect(`${r.stdout}${r.stderr}`, nick).toContain('certificate is valid');
    }
  });

  test('curl against mtls-ca serve: the new client, trusting the original root; easy-rsa’s own client works, its revoked one is refused', async () => {
    const running = await Promise.all(
      imported.map(async (i) => ({
        i,
        server: await servers.start(['serve', '--dir', i.dir, '--listen', '127.0.0.1', '--port', '0'], {
          cwd: root,
          env,
        }),
      })),
    );
    for (const { i, server } of running) {
      const url = `${server.url.replace('localhost', '127.0.0.1')}/customer/1`;
      const p12 = path.join(i.dir, 'client', 'client_pavel.p12');
      const r = await curl(url, [
        '--cacert',
        i.root,
        '--cert-type',
        'P12',
        '--cert',
        `${p12}:${STORE_PASSWORD}`,
      ]);
      expect([i.source, r.status, r.body], r.stderr).toEqual([i.source, 200, CUSTOMER_1]);
    }
    const { server } = running.find((r) => r.i.source === 'easy-rsa')!;
    const url = `${server.url.replace('localhost', '127.0.0.1')}/customer/1`;
    const alice = await curl(url, [
      '--cacert',
      easy.root,
      '--cert',
      easy.alice.cert,
      '--key',
      easy.alice.key,
    ]);
    expect([alice.status, alice.body], alice.stderr).toEqual([200, CUSTOMER_1]);
    const bob = await curl(url, ['--cacert', easy.root, '--cert', easy.bob.cert, '--key', easy.bob.key]);
    expect(bob.status).toBe(0); // refused in the handshake: no HTTP answer
    await within(
      10_000,
      'the refusal in the log',
      () => eventLines(server.stdout(), 'tls-refused').length > 0,
    );
    expect(eventLines(server.stdout(), 'tls-refused')[0]).toMatch(/reason=REVOKED .*subject="CN=bob"/);
  });

  test('the first CRL lists what easy-rsa and openssl ca revoked, with time and reason; openssl -crl_check refuses them', () => {
    const crl = (i: Imported) => path.join(i.dir, 'ca', 'crl.pem');
    const text = runOk('openssl', [
      'crl',
      '-in',
      crl(at('easy-rsa')),
      '-CAfile',
      easy.root,
      '-noout',
      '-text',
    ]);
    expect(text.stderr).toContain('verify OK');
    expect(text.stdout).toContain(`Serial Number: ${easy.bob.serial}`);
    expect(text.stdout).toMatch(
      /Revocation Date: .*\n\s+CRL entry extensions:\n\s+X509v3 CRL Reason Code: \n\s+Key Compromise/,
    );
    const verify = (i: Imported, cert: string) =>
      run('openssl', ['verify', '-crl_check', '-CAfile', i.root, '-CRLfile', crl(i), cert]);
    expect(
      verify(at('easy-rsa'), easy.bob.cert).stdout + verify(at('easy-rsa'), easy.bob.cert).stderr,
    ).toContain('certificate revoked');
    expect(verify(at('easy-rsa'), easy.alice.cert).stdout).toBe(`${easy.alice.cert}: OK\n`);
    expect(
      run('openssl', [
        'verify',
        '-crl_check',
        '-CAfile',
        ossl.root,
        '-CRLfile',
        crl(at('openssl')),
        ossl.dave.cert,
      ]).stderr,
    ).toContain('certificate revoked');
    expect(runOk('openssl', ['crl', '-in', crl(at('openssl')), '-noout', '-text']).stdout).toMatch(
      /Serial Number: 1002\n.*\n.*\n.*\n\s+Superseded/,
    );
  });

  test('the inventory keeps the serials, statuses, revocation times and reasons of the index; a client in use is copied with its roles', async () => {
    const list = async (i: Imported) =>
      (await cli(['list', '--json', '--dir', i.dir])).json<{ certificates: Listed[] }>().certificates;
    const index = fs.readFileSync(path.join(easy.pki, 'index.txt'), 'utf8');
    const bobRow = index
      .split('\n')
      .find((l) => l.includes('/CN=bob'))!
      .split('\t');
    const revokedAt = bobRow[2]!
      .split(',')[0]!
      .replace(/^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/, '20$1-$2-$3T$4:$5:$6.000Z');

    const easyList = await list(at('easy-rsa'));
    const byName = (l: Listed[], name: string) => l.find((c) => c.name === name);
    const same = (serial: string) => (c: Listed) =>
      c.serial.replace(/^0+/, '') === serial.toLowerCase().replace(/^0+/, '');
    expect(easyList.find(same(serialOfFile(easy.alice.cert)))).toMatchObject({
      name: 'alice',
      profile: 'client',
      status: 'valid',
    });
    expect(easyList.find(same(easy.bob.serial))).toMatchObject({
      name: 'bob',
      profile: 'client',
      status: 'revoked',
      revokedAt,
      revocationReason: 'keyCompromise',
    });
    expect(easyList.find(same(serialOfFile(easy.web.cert)))).toMatchObject({
      name: 'web',
      profile: 'server',
      status: 'valid',
    });
    expect(byName(easyList, 'Team Easy-RSA CA')).toMatchObject({ profile: 'ca', serial: expect.any(String) });
    expect(fs.readFileSync(path.join(at('easy-rsa').dir, 'client', 'alice.crt'), 'utf8')).toContain(
      x509Print(['x509', '-in', easy.alice.cert]).trim(),
    );
    const users = JSON.parse(fs.readFileSync(path.join(at('easy-rsa').dir, 'users.json'), 'utf8'));
    expect(users.users).toEqual({ alice: { roles: ['user'] }, pavel: { roles: ['user'] } });

    // openssl ca's sequential serials; "Dave Smith" is no file name, so it is listed under its serial
    const osslList = await list(at('openssl'));
    expect(byName(osslList, 'carol')).toMatchObject({ serial: '1001', status: 'valid' });
    expect(byName(osslList, '1002')).toMatchObject({ status: 'revoked', revocationReason: 'superseded' });
    // the CA's own row (openssl ca -selfsign) is the CA record, not a certificate it issued
    expect(osslList.filter((c) => c.serial === '1000').map((c) => c.profile)).toEqual(['ca']);
    // pavel's serial, new, is none of them
    expect(osslList.filter((c) => c.name === 'pavel')[0]!.serial).toMatch(/^[0-7][0-9a-f]{31}$/);
  });

  test('after the import: an imported client name needs --force, renew --rekey replaces it, revoke finds openssl’s short serial', async () => {
    const dir = path.join(root, 'after');
    fs.cpSync(at('easy-rsa').dir, dir, { recursive: true });
    const again = await cli(['issue-client', 'alice', '--dir', dir], env);
    expect(again.code).toBe(1);
    expect(again.stderr.split('\n')[0]).toMatch(
      /^error: issue client alice: a valid certificate exists until \d{4}-\d\d-\d\d \(\S*client\/alice\.crt\) \(ALREADY_EXISTS\)$/,
    );
    const renewed = await cli(['renew', 'alice', '--rekey', '--revoke-old', '--dir', dir], env);
    expect(renewed.code, renewed.stderr).toBe(0);
    expect(
      runOk('openssl', ['verify', '-CAfile', easy.root, path.join(dir, 'client', 'alice.crt')]).stdout,
    ).toMatch(/: OK\n$/);
    const crl = runOk('openssl', ['crl', '-in', path.join(dir, 'ca', 'crl.pem'), '-noout', '-text']).stdout;
    expect(crl).toContain(`Serial Number: ${serialOfFile(easy.alice.cert)}`);
    expect(crl).toContain(`Serial Number: ${easy.bob.serial}`);
    expect(caProblems(dir)).toEqual([]);

    const osslDir = path.join(root, 'after-openssl');
    fs.cpSync(at('openssl').dir, osslDir, { recursive: true });
    const revoked = await cli(['revoke', '1001', '--json', '--dir', osslDir], env);
    expect(revoked.json<{ revoked: { name: string }[] }>().revoked, revoked.stderr).toEqual([
      expect.objectContaining({ name: 'carol', serial: '1001' }),
    ]);
  });

  test('audit: the import is recorded, one line per certificate it brought in, signed by the imported key', async () => {
    const i = at('easy-rsa');
    const verify = await cli(['audit', 'verify', '--dir', i.dir]);
    expect(verify.code, verify.stderr).toBe(0);
    const lines = readAuditRecords(i.dir);
    expect(lines.map((l) => `${l.op} ${l.subject ?? ''}`.trim())).toEqual([
      'import CN=Team Easy-RSA CA',
      'import CN=alice',
      'import CN=bob',
      'revoke CN=bob',
      'import CN=web',
      'issue CN=localhost',
      'crl',
      'issue CN=pavel',
    ]);
    expect(lines[0]!.detail).toEqual({
      profile: 'ca',
      keyType: 'rsa-2048',
      from: 'easy-rsa',
      certificates: 3,
    });
  });

  describe('bad input from a real easy-rsa PKI: one error line, a hint, nothing written', () => {
    const cases: [string, (pki: string) => void, Record<string, string>, () => string][] = [
      [
        'an index.txt row of an unknown kind',
        (pki) => {
          fs.appendFileSync(path.join(pki, 'index.txt'), 'S\t290309182147Z\t\t0A\tunknown\t/CN=mallory\n');
        },
        env,
        () => 'error: read PKI/index.txt: line 4 has the status "S", not V, R or E (PARSE_FAILED)',
      ],
      [
        'a row whose certificate is gone',
        (pki) => {
          fs.rmSync(path.join(pki, 'issued', 'web.crt'));
          for (const f of fs.readdirSync(path.join(pki, 'certs_by_serial')))
            if (f.startsWith(serialOfFile(easy.web.cert))) fs.rmSync(path.join(pki, 'certs_by_serial', f));
        },
        env,
        () =>
          `error: import PKI/index.txt: line 3: no certificate with serial ${serialOfFile(easy.web.cert)} in PKI/issued, PKI/certs_by_serial, PKI/revoked/certs_by_serial (NOT_FOUND)`,
      ],
      [
        'a CA password that does not open private/ca.key',
        () => {},
        { ...env, MTLS_CA_PASSWORD: 'not-the-easy-rsa-password' },
        () => 'error: read PKI/private/ca.key: wrong password (BAD_PASSWORD)',
      ],
    ];
    test.each(cases)('%s', async (_what, spoil, given, line) => {
      const copy = fs.mkdtempSync(path.join(root, 'bad-'));
      const pki = path.join(copy, 'pki');
      fs.cpSync(easy.pki, pki, { recursive: true });
      spoil(pki);
      const dir = path.join(copy, 'ssl');
      const before = snapshot(copy);
      const r = await cli(['import', '--from', 'easy-rsa', pki, '--dir', dir], given);
      expect(r.code).toBe(1);
      const [first, hint, ...rest] = r.stderr.split('\n');
      expect(first).toBe(line().replaceAll('PKI', pki));
      expect(hint).toMatch(/^hint: \S/);
      expect(rest).toEqual(['']);
      expect(snapshot(copy)).toEqual(before);
      expect(fs.existsSync(dir)).toBe(false);
    });
  });
});

/**
 * A certificate file's serial as OpenSSL prints it (`x509 -serial`, `crl -text`) and writes it in index.txt:
 * uppercase hex in whole octets, so with a leading 0 when the first digit would be alone (`02BA…`).
 */
function serialOfFile(cert: string): string {
  return x509Print(['x509', '-in', cert, '-noout', '-serial'])
    .trim()
    .replace(/^serial=/, '');
}

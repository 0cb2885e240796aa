/**
 * The CA in PostgreSQL through the command line (main() in this process): `init --database-url` on host A,
 * `init --join` on host B, commands on either seeing one CA; `db migrate`, `db status`, `db import`; and the
 * refusals — one error line, its code, a hint, the exit code, nothing changed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, expect, test } from 'vitest';
import { cli } from '../helpers/cli.js';
import { describeWithPostgres, freshDatabase, query } from '../helpers/postgres.js';
import { run, tempDir } from '../helpers/tools.js';

const root = tempDir();
const CA_PASS = 'database-ca-pass';

describeWithPostgres('the CA in PostgreSQL, from the command line', () => {
  let url: string;
  const hostA = path.join(root, 'host-a');
  const hostB = path.join(root, 'host-b');
  const env = () => ({ MTLS_CA_PASSWORD: CA_PASS, MTLS_CA_DATABASE_URL: url });

  beforeAll(async () => {
    url = await freshDatabase();
    const init = await cli(['init', '--dir', hostA, '--ca-name', 'Shared CA'], env());
    expect(init.code, init.stderr).toBe(0);
    const join = await cli(['init', '--join', '--dir', hostB, '--host', 'b.example.com'], env());
    expect(join.code, join.stderr).toBe(0);
  });

  test('init keeps the CA key in the database, encrypted, and the host its own files', async () => {
    expect(fs.existsSync(path.join(hostA, 'ca', 'ca.key'))).toBe(false);
    expect(fs.existsSync(path.join(hostA, 'ca', 'inventory.jsonl'))).toBe(false);
    for (const f of ['ca/ca.crt', 'ca/crl.pem', 'server/server.crt', 'server/keyStore.p12', 'users.json'])
      expect(fs.existsSync(path.join(hostA, f)), f).toBe(true);
    const [ca] = await query(url, 'SELECT key_pem FROM mtls_ca.ca');
    expect(ca?.key_pem).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    expect(fs.readFileSync(path.join(hostB, 'ca', 'ca.crt'), 'utf8')).toBe(
      fs.readFileSync(path.join(hostA, 'ca', 'ca.crt'), 'utf8'),
    );
  });

  test('a client issued on one host is listed, revoked and audited on the other', async () => {
    const issued = await cli(['issue-client', 'alice', '--role', 'user', '--dir', hostA, '--json'], env());
    expect(issued.code, issued.stderr).toBe(0);
    const serial = issued.json<{ certificate: { serial: string } }>().certificate.serial;
    const revoked = await cli(['revoke', 'alice', '--dir', hostB, '--json'], env());
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.json<{ revoked: { serial: string }[] }>().revoked[0]?.serial).toBe(serial);
    const listed = await cli(['list', '--dir', hostA, '--json'], env());
    const rows = listed.json<{ certificates: { name: string; status: string }[] }>().certificates;
    expect(rows.find((r) => r.name === 'alice')?.status).toBe('revoked');
    expect(rows.filter((r) => r.name === 'server')).toHaveLength(2); // one per host
    const audit = await cli(['audit', 'verify', '--dir', hostB], env());
    expect(audit.code, audit.stderr).toBe(0);
    expect(audit.stdout).toMatch(
      /^the audit chain in postgres:\/\/postgres@127\.0\.0\.1:\d+\/t_\w+: \d+ lines/,
    );
    const status = await cli(['db', 'status', '--json'], env());
    expect(status.json()).toMatchObject({
      schema: { version: 2, expected: 2 },
      ca: { subject: 'CN=Shared CA', key: 'encrypted' },
      certificates: { revoked: 1 },
    });
  });

  test('db import moves a CA directory, line for line, and refuses a second CA', async () => {
    const dir = path.join(root, 'file-ca');
    const fileEnv = { MTLS_CA_PASSWORD: CA_PASS };
    expect((await cli(['init', '--dir', dir, '--ca-name', 'File CA'], fileEnv)).code).toBe(0);
    expect((await cli(['issue-client', 'bob', '--role', 'user', '--dir', dir], fileEnv)).code).toBe(0);
    expect((await cli(['revoke', 'bob', '--dir', dir], fileEnv)).code).toBe(0);
    const target = await freshDatabase();
    const moved = await cli(['db', 'import', '--dir', dir, '--json'], { MTLS_CA_DATABASE_URL: target });
    expect(moved.code, moved.stderr).toBe(0);
    expect(moved.json()).toMatchObject({ ca: 'CN=File CA', certificates: 3, revoked: 1, crlNumber: '2' });
    const lines = fs
      .readFileSync(path.join(dir, 'ca', 'audit.log'), 'utf8')
      .split('\n')
      .slice(0, -1);
    const rows = await query(target, 'SELECT line FROM mtls_ca.audit ORDER BY seq');
    expect(rows.map((r) => r.line)).toEqual(lines);
    const listed = await cli(['list', '--dir', dir, '--json'], { MTLS_CA_DATABASE_URL: target });
    expect(listed.json<{ certificates: unknown[] }>().certificates).toHaveLength(3);
    const again = await cli(['db', 'import', '--dir', dir], { MTLS_CA_DATABASE_URL: target });
    expect([again.code, again.stderr]).toEqual([
      1,
      expect.stringMatching(
        /^error: create CA in postgres:\S+: the database holds a CA already \(CA_EXISTS\)\nhint: set up this host from it with `mtls-ca init --join`/,
      ),
    ]);
  });

  test('init --intermediate keeps the chain in the database; ca rotate on another host; a host joined after trusts it all', async () => {
    const chainEnv = {
      ...env(),
      MTLS_CA_DATABASE_URL: await freshDatabase(),
      MTLS_CA_STORE_PASSWORD: 'chain-store',
    };
    const [a, b, c] = ['chain-a', 'chain-b', 'chain-c'].map((h) => path.join(root, h)) as [
      string,
      string,
      string,
    ];
    const init = await cli(['init', '--intermediate', '--dir', a, '--ca-name', 'Chain Root'], chainEnv);
    expect(init.code, init.stderr).toBe(0);
    expect(fs.existsSync(path.join(a, 'ca', 'root.key'))).toBe(false);
    const [rootRow] = await query(
      chainEnv.MTLS_CA_DATABASE_URL,
      'SELECT role, key_pem FROM mtls_ca.other_ca',
    );
    expect(rootRow).toEqual({
      role: 'root',
      key_pem: expect.stringMatching(/^-----BEGIN ENCRYPTED PRIVATE KEY/),
    });
    expect((await cli(['init', '--join', '--dir', b], chainEnv)).code).toBe(0);
    for (const f of ['ca/root.crt', 'ca/chain.pem', 'ca/ca-bundle.pem', 'ca/crl.pem'])
      expect(fs.readFileSync(path.join(b, f), 'utf8'), f).toBe(fs.readFileSync(path.join(a, f), 'utf8'));
    expect(fs.existsSync(path.join(b, 'server', 'server.fullchain.pem'))).toBe(true);
    const oldClient = await cli(['issue-client', 'olga', '--role', 'user', '--dir', a], chainEnv);
    expect(oldClient.code, oldClient.stderr).toBe(0);

    const rotate = await cli(['ca', 'rotate', '--dir', b, '--json'], chainEnv);
    expect(rotate.code, rotate.stderr).toBe(0);
    expect(rotate.json()).toMatchObject({
      ca: { subject: 'CN=Chain Root Intermediate 2' },
      previous: { subject: 'CN=Chain Root Intermediate 1', inUse: 3 },
    });
    const newClient = await cli(['issue-client', 'nina', '--role', 'user', '--dir', a, '--json'], chainEnv);
    expect(newClient.code, newClient.stderr).toBe(0);
    expect(newClient.json()).toMatchObject({ certificate: { issuer: 'CN=Chain Root Intermediate 2' } });
    expect(
      await query(
        chainEnv.MTLS_CA_DATABASE_URL,
        'SELECT position, crl_number FROM mtls_ca.crl ORDER BY position',
      ),
    ).toEqual([
      { position: 0, crl_number: '1' },
      { position: 1, crl_number: '1' },
      { position: 2, crl_number: '1' },
    ]);
    const status = await cli(['db', 'status'], chainEnv);
    expect(status.stdout).toContain(
      'Root: CN=Chain Root, key in the database.\nStill in force after a rotation: CN=Chain Root Intermediate 1 (mtls-ca ca retire takes it out).\n',
    );
    const revoked = await cli(['revoke', 'olga', '--dir', b], chainEnv);
    expect(revoked.code, revoked.stderr).toBe(0);

    // Host C joins after the rotation: it trusts the root, both intermediates, and enforces every CRL.
    expect((await cli(['init', '--join', '--dir', c], chainEnv)).code).toBe(0);
    const bundle = fs.readFileSync(path.join(c, 'ca', 'ca-bundle.pem'), 'utf8');
    expect(bundle.match(/BEGIN CERTIFICATE/g)).toHaveLength(3);
    expect(fs.readFileSync(path.join(c, 'ca', 'crl.pem'), 'utf8').match(/BEGIN X509 CRL/g)).toHaveLength(3);
    const caFile = (f: string) => path.join(c, 'ca', f);
    const verify = (cert: string) =>
      run('openssl', [
        'verify',
        '-crl_check_all',
        '-CRLfile',
        caFile('crl.pem'),
        '-untrusted',
        caFile('ca-bundle.pem'),
        '-CAfile',
        caFile('root.crt'),
        cert,
      ]);
    expect(verify(path.join(a, 'client', 'nina.crt')).stdout).toMatch(/: OK\n$/);
    expect(verify(path.join(c, 'server', 'server.crt')).stdout).toMatch(/: OK\n$/);
    expect(verify(path.join(a, 'client', 'olga.crt')).stderr).toMatch(/certificate revoked/);
    const audit = await cli(['audit', 'verify', '--dir', c], chainEnv);
    expect(audit.code, audit.stderr).toBe(0);
  });

  test('db import moves a CA with an intermediate and a rotation; retire needs the root key, which stays offline', async () => {
    const dir = path.join(root, 'rotated-ca');
    const fileEnv = { MTLS_CA_PASSWORD: CA_PASS, MTLS_CA_STORE_PASSWORD: 'rotated-store' };
    const steps = [
      ['init', '--intermediate', '--dir', dir, '--ca-name', 'Moved Root'],
      ['issue-client', 'carol', '--role', 'user', '--dir', dir],
      ['ca', 'rotate', '--dir', dir],
      ['issue-client', 'dave', '--role', 'user', '--dir', dir],
      ['revoke', 'carol', '--dir', dir],
      ['root', 'export', '--out', path.join(root, 'offline-root.key'), '--dir', dir],
    ];
    for (const args of steps) {
      const r = await cli(args, fileEnv);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    }
    const target = await freshDatabase();
    const dbEnv = { ...fileEnv, MTLS_CA_DATABASE_URL: target };
    const moved = await cli(['db', 'import', '--dir', dir, '--json'], dbEnv);
    expect(moved.code, moved.stderr).toBe(0);
    expect(moved.json()).toMatchObject({ ca: 'CN=Moved Root Intermediate 2', cas: 3, revoked: 1 });
    const others = await query(
      target,
      'SELECT role, key_pem IS NOT NULL AS key FROM mtls_ca.other_ca ORDER BY role',
    );
    expect(others).toEqual([
      { role: 'previous', key: true },
      { role: 'root', key: false },
    ]);
    const crls = await query(target, 'SELECT der FROM mtls_ca.crl ORDER BY position');
    const pem = fs.readFileSync(path.join(dir, 'ca', 'crl.pem'), 'utf8');
    expect(crls.map((r) => (r.der as Buffer).toString('base64'))).toEqual(
      [...pem.matchAll(/-----BEGIN X509 CRL-----\n([^-]+)-----END/g)].map((m) => m[1]!.replace(/\n/g, '')),
    );
    const host = path.join(root, 'rotated-host');
    expect((await cli(['init', '--join', '--dir', host], dbEnv)).code).toBe(0);
    const audit = await cli(['audit', 'verify', '--dir', host], dbEnv);
    expect(audit.code, audit.stderr).toBe(0);

    // Retiring the old intermediate revokes it by the root, whose key is offline: one line, nothing changed.
    const refused = await cli(['ca', 'retire', '--force', '--dir', host], dbEnv);
    expect([refused.code, refused.stderr]).toEqual([
      1,
      expect.stringMatching(
        /^error: retire CA: the root's key in postgres:\S+ revokes the intermediate, and it is offline \(NOT_FOUND\)\nhint: bring the root key back with `mtls-ca root import FILE`/,
      ),
    ]);
    expect(refused.stderr.trimEnd().split('\n')).toHaveLength(2);
    const back = await cli(['root', 'import', path.join(root, 'offline-root.key'), '--dir', host], dbEnv);
    expect(back.code, back.stderr).toBe(0);
    const retired = await cli(['ca', 'retire', '--force', '--dir', host, '--json'], dbEnv);
    expect(retired.code, retired.stderr).toBe(0);
    expect(retired.json()).toMatchObject({
      revoked: true,
      retired: { subject: 'CN=Moved Root Intermediate 1' },
    });
    expect(await query(target, 'SELECT role FROM mtls_ca.other_ca ORDER BY role')).toEqual([
      { role: 'retired' },
      { role: 'root' },
    ]);
    const status = await cli(['db', 'status', '--json'], dbEnv);
    expect(status.json()).toMatchObject({
      schema: { version: 2, expected: 2 },
      ca: { subject: 'CN=Moved Root Intermediate 2' },
      chain: { root: { subject: 'CN=Moved Root', key: 'held' }, previous: [], retired: 1 },
    });
  });

  test('db import refuses a tampered audit log and leaves the database empty', async () => {
    const dir = path.join(root, 'tampered-ca');
    expect((await cli(['init', '--dir', dir], { MTLS_CA_PASSWORD: CA_PASS })).code).toBe(0);
    const log = path.join(dir, 'ca', 'audit.log');
    fs.writeFileSync(log, fs.readFileSync(log, 'utf8').replace('"result":"ok"', '"result":"OK"'));
    const target = await freshDatabase();
    const r = await cli(['db', 'import', '--dir', dir], { MTLS_CA_DATABASE_URL: target });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^error: import .*audit\.log: line 1 carries no valid CA signature \(edited\) \(TAMPERED\)\n/,
    );
    const status = await cli(['db', 'status', '--json'], { MTLS_CA_DATABASE_URL: target });
    expect(status.json()).toEqual({ database: expect.any(String), schema: { version: 0, expected: 2 } });
  });

  test('bad database input: one error line, a hint, the documented exit code', async () => {
    const cases: [string[], Record<string, string>, number, RegExp][] = [
      [
        ['list', '--database-url', 'postgres://ca:s3cret@127.0.0.1/ca'],
        {},
        2,
        /^error: use --database-url: it holds a password, which would show in ps and shell history \(USAGE\)\nhint: set the URL in MTLS_CA_DATABASE_URL/,
      ],
      [
        ['db', 'migrate'],
        {},
        2,
        /^error: migrate the database: no database named \(USAGE\)\nhint: pass --database-url URL/,
      ],
      [
        ['list'],
        { MTLS_CA_DATABASE_URL: 'postgres://ca:s3cret@127.0.0.1:1/ca' },
        1,
        /^error: connect to postgres:\/\/ca@127\.0\.0\.1:1\/ca: .*(ECONNREFUSED|refused).* \(DATABASE_UNAVAILABLE\)\nhint: check that the database is running/,
      ],
      [
        ['init', '--force', '--dir', path.join(root, 'never')],
        { MTLS_CA_DATABASE_URL: 'postgres://ca@127.0.0.1:1/ca' },
        2,
        /^error: use --force with --database-url: a CA in a database is never replaced \(USAGE\)/,
      ],
      [
        ['init', '--join', '--dir', path.join(root, 'never')],
        {},
        2,
        /^error: use --join with a database: it sets up this host from the CA kept there \(USAGE\)/,
      ],
      [
        ['list', '--dir', path.join(root, 'never')],
        { MTLS_CA_DATABASE_URL: 'mysql://ca@127.0.0.1/ca' },
        1,
        /^error: use database mysql:\/\/ca@127\.0\.0\.1\/ca: not a postgres:\/\/ URL \(INVALID_ARGUMENT\)/,
      ],
    ];
    for (const [args, extra, code, stderr] of cases) {
      const r = await cli(args, extra);
      expect({ args, code: r.code, stderr: r.stderr }).toEqual({
        args,
        code,
        stderr: expect.stringMatching(stderr),
      });
      expect(r.stderr).not.toContain('s3cret');
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(2);
    }
    expect(fs.existsSync(path.join(root, 'never'))).toBe(false);
  });

  test('a database without the tables of mtls-ca: CA_NOT_INITIALIZED, and db migrate makes them once', async () => {
    const empty = await freshDatabase();
    const r = await cli(['list', '--dir', hostA], { MTLS_CA_DATABASE_URL: empty });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^error: read postgres:\S+: no CA in the database \(CA_NOT_INITIALIZED\)\nhint: create it with `mtls-ca init --database-url URL`/,
    );
    const first = await cli(['db', 'migrate', '--json'], { MTLS_CA_DATABASE_URL: empty });
    expect(first.json()).toMatchObject({ from: 0, to: 2 });
    const second = await cli(['db', 'migrate'], { MTLS_CA_DATABASE_URL: empty });
    expect(second.stdout).toMatch(/schema version 2, up to date\.\n$/);
    await query(empty, 'INSERT INTO mtls_ca.schema (version) VALUES (3)');
    const newer = await cli(['list', '--dir', hostA], { MTLS_CA_DATABASE_URL: empty });
    expect(newer.stderr).toMatch(
      /^error: read postgres:\S+: its tables are of schema version 3, this mtls-ca uses 2 \(UNSUPPORTED\)\nhint: this mtls-ca is older than the database/,
    );
  });
});

/**
 * Real processes racing on one CA directory: four issue-client and three revoke processes at once get
 * distinct serials, lose no CRL number, inventory line or audit line, put every user in users.json and leave
 * no temp file or lock behind. One race proves both mixes (issuers among themselves, issuers and revokers):
 * every one of them takes the same store lock. The directory's init is the binary's too (with --json).
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, expect, test } from 'vitest';
import { type CliResult, cli, cliProcess } from '../helpers/cli.js';
import { tempDir } from '../helpers/tools.js';

const env = { MTLS_CA_PASSWORD: 'pw-ca-password', MTLS_CA_STORE_PASSWORD: 'pw-store' };
const root = tempDir();
const dir = path.join(root, 'ssl');
/** Issued in-process before the race, revoked in it. */
const revoked = ['u1', 'u2', 'u3'];
let init: CliResult;

beforeAll(async () => {
  init = await cliProcess(['init', '--dir', dir, '--json'], env);
  expect(init.code, init.stderr).toBe(0);
  for (const n of revoked)
    expect((await cli(['issue-client', n, '--role', 'user', '--dir', dir], env)).code).toBe(0);
});

test('concurrent issue-client and revoke processes: distinct serials, a consistent inventory, CRL and audit log', async () => {
  const names = ['alice', 'bob', 'carol', 'dave'];
  const runs = await Promise.all([
    ...names.map((n) => cliProcess(['issue-client', n, '--role', 'user', '--dir', dir, '--json'], env)),
    ...revoked.map((n) => cliProcess(['revoke', n, '--dir', dir], env)),
  ]);
  for (const r of runs) expect(r.code, r.stderr).toBe(0);
  const serials = runs
    .slice(0, names.length)
    .map((r) => r.json<{ certificate: { serial: string } }>().certificate.serial);
  expect(new Set(serials).size).toBe(names.length);

  const lines = fs.readFileSync(path.join(dir, 'ca/inventory.jsonl'), 'utf8').trimEnd().split('\n');
  const records = lines.map((l) => JSON.parse(l) as { op: string; serial: string; name?: string });
  // CA, server and the clients issued before the race; then one line per racer, none lost.
  const [before, raced] = [records.slice(0, 2 + revoked.length), records.slice(2 + revoked.length)];
  const issued = raced.filter((r) => r.op === 'issue');
  expect(issued.map((r) => r.name).sort()).toEqual(names);
  expect(issued.map((r) => r.serial).sort()).toEqual([...serials].sort());
  expect(
    raced
      .filter((r) => r.op === 'revoke')
      .map((r) => r.serial)
      .sort(),
  ).toEqual(
    before
      .filter((r) => revoked.includes(r.name!))
      .map((r) => r.serial)
      .sort(),
  );
  expect(raced).toHaveLength(names.length + revoked.length);

  const users = JSON.parse(fs.readFileSync(path.join(dir, 'users.json'), 'utf8'));
  expect(Object.keys(users.users).sort()).toEqual([...names, ...revoked].sort());

  const list = (await cli(['list', '--dir', dir, '--profile', 'client', '--json'])).json<{
    certificates: { name: string; status: string; serial: string }[];
  }>().certificates;
  expect(Object.fromEntries(list.map((c) => [c.name, c.status]))).toEqual({
    u1: 'revoked',
    u2: 'revoked',
    u3: 'revoked',
    alice: 'valid',
    bob: 'valid',
    carol: 'valid',
    dave: 'valid',
  });
  const crl = (await cli(['inspect', path.join(dir, 'ca/crl.pem'), '--json'])).json<{
    crlNumber: string;
    revoked: { serial: string }[];
  }>();
  expect(crl.crlNumber).toBe('4'); // 1 from init + three revocations, none lost
  expect(crl.revoked.map((r) => r.serial).sort()).toEqual(
    list
      .filter((c) => c.status === 'revoked')
      .map((c) => c.serial)
      .sort(),
  );
  expect((await cli(['audit', 'verify', '--dir', dir])).code).toBe(0);

  const leftovers = [
    ...fs.readdirSync(dir),
    ...fs.readdirSync(path.join(dir, 'client')),
    ...fs.readdirSync(path.join(dir, 'ca')),
  ];
  expect(leftovers.filter((f) => f.endsWith('.tmp') || f.includes('lock'))).toEqual([]);
});

test('the real binary prints its version and runs init --json', async () => {
  const pkg = JSON.parse(fs.readFileSync(path.resolve(import.meta.dirname, '../../package.json'), 'utf8'));
  const v = await cliProcess(['--version']);
  expect(v).toMatchObject({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
  expect(init.json<{ ca: { keyEncrypted: boolean } }>().ca.keyEncrypted).toBe(true);
});

/** Two real processes issuing at once: distinct serials, a sound inventory, both users in users.json. */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, expect, test } from 'vitest';
import { cli, cliProcess } from '../helpers/cli.js';
import { tempDir } from '../helpers/tools.js';

const env = { MTLS_CA_PASSWORD: 'pw-ca-password', MTLS_CA_STORE_PASSWORD: 'pw-store' };
const root = tempDir();
const dir = path.join(root, 'ssl');

beforeAll(async () => {
  expect((await cli(['init', '--dir', dir], env)).code).toBe(0);
});

test('concurrent issue-client processes get distinct serials and a consistent inventory', async () => {
  const names = ['alice', 'bob', 'carol', 'dave'];
  const results = await Promise.all(
    names.map((n) => cliProcess(['issue-client', n, '--role', 'user', '--dir', dir, '--json'], env)),
  );
  for (const r of results) expect(r.code, r.stderr).toBe(0);
  const serials = results.map((r) => r.json<{ certificate: { serial: string } }>().certificate.serial);
  expect(new Set(serials).size).toBe(names.length);

  const lines = fs.readFileSync(path.join(dir, 'ca/inventory.jsonl'), 'utf8').trimEnd().split('\n');
  const records = lines.map((l) => JSON.parse(l) as { serial: string; name: string });
  expect(records).toHaveLength(2 + names.length); // CA + server + clients
  expect(
    records
      .slice(2)
      .map((r) => r.name)
      .sort(),
  ).toEqual(names);
  expect(
    records
      .slice(2)
      .map((r) => r.serial)
      .sort(),
  ).toEqual([...serials].sort());

  const users = JSON.parse(fs.readFileSync(path.join(dir, 'users.json'), 'utf8'));
  expect(Object.keys(users.users).sort()).toEqual(names);
  // no temp files or lock left behind
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
  const d = path.join(root, 'bin-init');
  const r = await cliProcess(['init', '--dir', d, '--json'], env);
  expect(r.code, r.stderr).toBe(0);
  expect(r.json<{ ca: { keyEncrypted: boolean } }>().ca.keyEncrypted).toBe(true);
});

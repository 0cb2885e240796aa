/**
 * `list` through ca/inventory.idx prints exactly what it printed before the index, and what it prints from the
 * JSON log when the index is missing, stale or damaged; writes keep the index in step or rebuild it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { CaStore } from '../../src/store/ca-store.js';
import { type InventoryEntry, readInventory } from '../../src/store/inventory.js';
import { inventoryIndexState } from '../../src/store/inventory-index.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tools.js';

const env = { MTLS_CA_PASSWORD: 'ca-password', MTLS_CA_STORE_PASSWORD: 'store-pw' };
const DAY_MS = 86_400_000;

// ---------------------------------------------------------------------------------------------------------
// The reference: `list` as it was before the index (src/ops/list.ts and src/cli/commands/list.ts at 4d6b61e),
// with the issuer each row has named since (a directory of one CA shows no ISSUER column).

function oldRows(entries: InventoryEntry[], now: Date, profile?: string) {
  const status = (e: InventoryEntry) =>
    e.revokedAt
      ? 'revoked'
      : e.supersededAt
        ? 'superseded'
        : new Date(e.notAfter) < now
          ? 'expired'
          : 'valid';
  return entries
    .map((e) => ({
      name: e.name,
      profile: e.profile,
      serial: e.serial,
      subject: e.subject,
      issuer: e.issuer ?? e.subject,
      keyType: e.keyType,
      notBefore: e.notBefore,
      notAfter: e.notAfter,
      daysLeft: Math.floor((new Date(e.notAfter).getTime() - now.getTime()) / DAY_MS),
      status: status(e),
      fingerprint: e.fingerprint,
      ...(e.revokedAt ? { revokedAt: e.revokedAt, revocationReason: e.revocationReason } : {}),
    }))
    .filter((c) => !profile || c.profile === profile)
    .sort((a, b) => b.notBefore.localeCompare(a.notBefore));
}

function oldOutputs(dir: string, now: Date, profile?: string): { json: string; text: string } {
  const rows = oldRows(readInventory(path.join(dir, 'ca/inventory.jsonl')), now, profile);
  const header = ['NAME', 'PROFILE', 'SERIAL', 'EXPIRES', 'DAYS', 'STATUS'];
  const table = rows.map((r) => [
    r.name,
    r.profile,
    r.serial,
    r.notAfter.slice(0, 10),
    String(r.daysLeft),
    r.status,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
  const fmt = (row: string[]) =>
    row
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const lines = rows.length === 0 ? ['No certificates match.'] : [fmt(header), ...table.map(fmt)];
  return { json: `${JSON.stringify({ certificates: rows }, null, 2)}\n`, text: `${lines.join('\n')}\n` };
}

/** `list` (text and --json) now, checked against the reference for the same moment. */
async function listBoth(dir: string, extra: string[] = []): Promise<{ json: string; text: string }> {
  const before = new Date();
  const json = await cli(['list', '--json', '--dir', dir, ...extra]);
  const text = await cli(['list', '--dir', dir, ...extra]);
  const after = new Date();
  expect(json.code, json.stderr).toBe(0);
  expect(text.code, text.stderr).toBe(0);
  const profile = extra[extra.indexOf('--profile') + 1];
  const expected = [oldOutputs(dir, before, profile), oldOutputs(dir, after, profile)];
  // daysLeft can tick between the two reads of the clock; one of the two moments must match exactly
  expect(
    expected.some((e) => e.json === json.stdout && e.text === text.stdout),
    json.stdout + text.stdout,
  ).toBe(true);
  return { json: json.stdout, text: text.stdout };
}

const store = (dir: string) => new CaStore(dir);
const indexFile = (dir: string) => path.join(dir, 'ca/inventory.idx');
const usesIndex = (dir: string) => {
  const records = store(dir).readInventoryIndex();
  records?.close();
  return records !== undefined;
};

describe('list from the index after real issuance, revocation and renewal', () => {
  const root = tempDir();
  const dir = path.join(root, 'ssl');

  beforeAll(async () => {
    expect((await cli(['init', '--dir', dir], env)).code).toBe(0);
    for (const n of ['alice', 'bob', 'carol'])
      expect((await cli(['issue-client', n, '--role', 'user', '--dir', dir], env)).code).toBe(0);
    expect((await cli(['revoke', 'bob', '--reason', 'keyCompromise', '--dir', dir], env)).code).toBe(0);
    expect((await cli(['issue-client', 'alice', '--force', '--dir', dir], env)).code).toBe(0);
    expect((await cli(['renew', 'carol', '--dir', dir], env)).code).toBe(0);
  });

  test('every write kept the index in step, and list reads it', () => {
    const s = store(dir);
    expect(inventoryIndexState(s.paths.inventoryIndex, s.paths.inventory).inStep).toBe(true);
    expect(usesIndex(dir)).toBe(true);
  });

  test('statuses: the replaced alice and carol superseded, bob revoked with its reason, the rest valid', async () => {
    const rows = JSON.parse((await listBoth(dir)).json).certificates as {
      name: string;
      status: string;
      revocationReason?: string;
    }[];
    expect(rows.map((r) => `${r.name}:${r.status}`).sort()).toEqual([
      'alice:superseded',
      'alice:valid',
      'bob:revoked',
      'carol:superseded',
      'carol:valid',
      expect.stringMatching(/^mtls-ca CA .*:valid$/),
      'server:valid',
    ]);
    expect(rows.find((r) => r.name === 'bob')!.revocationReason).toBe('keyCompromise');
  });

  test('the same bytes from the index and from the log (index moved away), filters included', async () => {
    for (const extra of [[], ['--profile', 'client'], ['--status', 'superseded'], ['--expiring', '30d']]) {
      const fromIndex = await cli(['list', '--json', '--dir', dir, ...extra]);
      fs.renameSync(indexFile(dir), `${indexFile(dir)}.away`);
      try {
        expect(usesIndex(dir)).toBe(false);
        const fromLog = await cli(['list', '--json', '--dir', dir, ...extra]);
        expect(fromIndex).toMatchObject({
          code: fromLog.code,
          stdout: fromLog.stdout,
          stderr: fromLog.stderr,
        });
      } finally {
        fs.renameSync(`${indexFile(dir)}.away`, indexFile(dir));
      }
    }
    await listBoth(dir, ['--profile', 'client']);
  });
});

describe('fallback and rebuild', () => {
  const root = tempDir();
  const dir = path.join(root, 'ssl');
  const log = () => path.join(dir, 'ca/inventory.jsonl');

  beforeAll(async () => {
    expect((await cli(['init', '--dir', dir], env)).code).toBe(0);
    for (const n of ['alice', 'bob'])
      expect((await cli(['issue-client', n, '--role', 'user', '--dir', dir], env)).code).toBe(0);
  });

  test('a line appended to the log alone (a crash, an older version): list reads the log; the next write rebuilds', async () => {
    const alice = readInventory(log()).find((e) => e.name === 'alice')!;
    fs.appendFileSync(
      log(),
      `${JSON.stringify({ op: 'revoke', serial: alice.serial, at: new Date().toISOString(), reason: 'unspecified' })}\n`,
    );
    expect(usesIndex(dir)).toBe(false);
    const stale = await listBoth(dir);
    expect(stale.text).toMatch(/\nalice .* revoked\n/);

    expect((await cli(['issue-client', 'carol', '--role', 'user', '--dir', dir], env)).code).toBe(0);
    expect(usesIndex(dir)).toBe(true);
    expect((await listBoth(dir)).text).toMatch(/\nalice .* revoked\n/);
  });

  test('a missing index: list reads the log and writes nothing; the next write recreates it', async () => {
    fs.rmSync(indexFile(dir));
    await listBoth(dir);
    expect(fs.existsSync(indexFile(dir))).toBe(false);
    expect((await cli(['revoke', 'bob', '--dir', dir], env)).code).toBe(0);
    expect(usesIndex(dir)).toBe(true);
    await listBoth(dir);
  });

  test('a damaged index: list reads the log', async () => {
    const good = fs.readFileSync(indexFile(dir));
    fs.writeFileSync(indexFile(dir), good.toString('latin1').replace('\tclient\t', '\tclient\\x\t'));
    try {
      expect(usesIndex(dir)).toBe(false);
      await listBoth(dir);
    } finally {
      fs.writeFileSync(indexFile(dir), good);
    }
  });
});

describe('odd logs (hand-edited) print as before', () => {
  const root = tempDir();

  /** A CA whose log gets `records` by hand, then one real write, which rebuilds the index from the log. */
  async function caWith(name: string, records: object[]): Promise<string> {
    const dir = path.join(root, name);
    expect((await cli(['init', '--dir', dir], env)).code).toBe(0);
    fs.appendFileSync(
      path.join(dir, 'ca/inventory.jsonl'),
      records.map((r) => `${JSON.stringify(r)}\n`).join(''),
    );
    expect((await cli(['issue-client', 'zed', '--role', 'user', '--dir', dir], env)).code).toBe(0);
    return dir;
  }
  const entry = (serial: string, name: string, extra: object = {}) => ({
    op: 'issue',
    serial,
    name,
    profile: 'client',
    subject: `CN=${name}`,
    keyType: 'rsa-2048',
    notBefore: '2030-01-01T00:00:00.000Z',
    notAfter: '2031-06-01T12:00:00.000Z',
    fingerprint: 'AA:BB',
    issuedAt: '2030-01-01T00:00:00.000Z',
    files: [],
    ...extra,
  });

  test('tabs, newlines, quotes and non-ASCII in names and subjects, through the index', async () => {
    const dir = await caWith('escapes', [
      entry('0a', 'zoë\ttab', { subject: 'CN=zoë,O="Quote\\Back"\nL=😀' }),
      entry('0b', 'x', { notBefore: '2029-12-31T23:59:59.999Z', notAfter: '2020-01-01T00:00:00.000Z' }),
      { op: 'revoke', serial: '0a', at: '2030-02-01T00:00:00.000Z', reason: 'keyCompromise' },
    ]);
    expect(usesIndex(dir)).toBe(true);
    const { json } = await listBoth(dir);
    expect(JSON.parse(json).certificates[0]).toMatchObject({
      name: 'zoë\ttab',
      subject: 'CN=zoë,O="Quote\\Back"\nL=😀',
      status: 'revoked',
    });
  });

  test('values that are not strings, dates not in ISO form, a revoke without a reason: from the log', async () => {
    const dir = await caWith('odd', [
      entry('0c', 'numbers', { subject: 42, keyType: null }),
      entry('0d', 'shortdate', { notBefore: '2030-01-01', notAfter: 'soon' }),
      { op: 'revoke', serial: '0d', at: '2030-02-01T00:00:00.000Z' },
    ]);
    expect(fs.readFileSync(indexFile(dir), 'latin1').split('\n')).toContain('!');
    expect(usesIndex(dir)).toBe(false);
    await listBoth(dir);
  });
});

/**
 * What the PostgreSQL store promises beyond the shared contract: the database's own constraints hold even
 * for a writer that bypasses mtls-ca (a serial recorded twice, a plaintext CA key), a refused commit writes
 * no file, a database that is down is a user-facing error naming it without its password, a writer
 * killed while holding the lock does not block the next one, and a database of schema version 1 comes up to
 * the current version with everything it held.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { expect, test } from 'vitest';
import { resignCrl } from '../../src/ops/crl.js';
import { databaseStatus } from '../../src/ops/database.js';
import { auditRecord, issueEvent } from '../../src/ops/records.js';
import { rotateCa } from '../../src/ops/rotate.js';
import { exportPrivateKeyPem } from '../../src/pki/keys.js';
import { createRootCa } from '../../src/pki/profiles.js';
import { CaStore } from '../../src/store/ca-store.js';
import { connect } from '../../src/store/postgres/driver.js';
import { migrate, SCHEMA_VERSION, WRITER_LOCK } from '../../src/store/postgres/schema.js';
import { PostgresState } from '../../src/store/postgres/state.js';
import { errorOf } from '../helpers/errors.js';
import { fixtureKeys } from '../helpers/fixtures.js';
import { describeWithPostgres, freshDatabase, query } from '../helpers/postgres.js';
import { tempDir } from '../helpers/tools.js';
import { initialize } from './contract.js';

const root = tempDir();
const PASSWORD = 'postgres-store-password';
const NOW = new Date('2026-06-01T12:00:00.000Z');
let n = 0;

/** A store on a fresh database holding a CA, and its URL. */
async function withCa(): Promise<{ store: CaStore; url: string }> {
  const url = await freshDatabase();
  const store = new CaStore(path.join(root, `host-${n++}`), {
    state: await PostgresState.open(url, { create: true }),
  });
  await initialize(store, { commonName: 'PG CA', password: PASSWORD, days: 365 });
  return { store, url };
}

/** The tables of schema version 1 that hold a CA, and the columns copied into each (`crl.id` is its default). */
const VERSION_1_TABLES: [string, string][] = [
  ['ca', 'id, certificate, key_pem, key_uri, created_at'],
  ['certificate', '*'],
  ['crl', 'crl_number, der'],
  ['settings', '*'],
  ['app_user', '*'],
  ['audit', '*'],
  ['audit_head', '*'],
];

/**
 * A database of schema version 1 holding the CA of `from`: the tables made by migration 1 alone, as the
 * mtls-ca of that version made them, and the rows its writer wrote for a CA with one CRL — copied row for
 * row from `from` (a CA of one level and one CRL is written alike by both versions).
 */
async function versionOneCopy(from: string): Promise<string> {
  const url = await freshDatabase();
  const client = await connect(url);
  try {
    expect(await migrate(client, url, 1)).toEqual({ from: 0, to: 1 });
  } finally {
    await client.end();
  }
  for (const [table, columns] of VERSION_1_TABLES) {
    const [copied] = await query(
      from,
      `SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]') AS rows FROM mtls_ca.${table} t`,
    );
    await query(
      url,
      `INSERT INTO mtls_ca.${table} ${columns === '*' ? '' : `(${columns})`}
       SELECT ${columns} FROM jsonb_populate_recordset(null::mtls_ca.${table}, $1::jsonb)`,
      [JSON.stringify(copied!.rows)],
    );
  }
  // Rows copied with their seq leave the sequence behind: a writer of version 1 had moved it on.
  await query(
    url,
    `SELECT setval(pg_get_serial_sequence('mtls_ca.certificate', 'seq'), (SELECT max(seq) FROM mtls_ca.certificate))`,
  );
  return url;
}

describeWithPostgres('the PostgreSQL store', () => {
  test('db migrate takes a version-1 database to version 2: its CA, inventory, CRL number and audit chain kept', async () => {
    const { store, url } = await withCa();
    for (let i = 0; i < 2; i++) await resignCrl(store, { caPassword: PASSWORD, now: NOW });
    const before = { inventory: store.readInventory(), crl: store.readCrl() };
    await store.close();
    const old = await versionOneCopy(url);
    expect((await databaseStatus(old)).schema).toEqual({ version: 1, expected: SCHEMA_VERSION });
    const refused = await errorOf(() => PostgresState.open(old));
    expect([refused.code, refused.message]).toEqual([
      'UNSUPPORTED',
      `read ${old}: its tables are of schema version 1, this mtls-ca uses ${SCHEMA_VERSION}`,
    ]);

    const client = await connect(old);
    try {
      expect(await migrate(client, old)).toEqual({ from: 1, to: SCHEMA_VERSION });
    } finally {
      await client.end();
    }
    const upgraded = new CaStore(path.join(root, `host-${n++}`), { state: await PostgresState.open(old) });
    expect(upgraded.readInventory()).toEqual(before.inventory);
    expect(upgraded.readCrls()).toEqual([before.crl]);
    expect(upgraded.casInForce().map((c) => c.role)).toEqual(['issuing']);
    expect(await upgraded.verifyAudit()).toEqual({ ok: true, lines: 3 });
    // The CRL numbers go on from the one version 1 held, and the chain can grow now.
    expect((await resignCrl(upgraded, { caPassword: PASSWORD, now: NOW })).crlNumber).toBe('3');
    await rotateCa(upgraded, {
      caDays: 365,
      p12Profile: 'compat',
      caPassword: PASSWORD,
      store: { given: 'store-password' },
      now: NOW,
    });
    const rotated = upgraded.readCrls();
    expect(typeof rotated !== 'string' && rotated.map((c) => [c.issuerName, c.crlNumber])).toEqual([
      ['CN=PG CA 2', 1n],
      ['CN=PG CA', 3n],
    ]);
    expect(await upgraded.verifyAudit()).toEqual({ ok: true, lines: 6 });
    await upgraded.close();
  });

  test('a serial the inventory holds is refused at commit, and the transaction writes no file', async () => {
    const { store } = await withCa();
    const ca = store.loadCa(PASSWORD);
    const file = path.join(store.root, 'client', 'twin.crt');
    const e = await errorOf(() =>
      store.lock(async () => {
        const tx = store.newTransaction();
        tx.write(file, ca.certificate.toPem());
        store.appendInventory(tx, [issueEvent(ca.certificate, 'twin', 'client', [], NOW)]);
        store.appendAudit(tx, [auditRecord('issue', ca.certificate, NOW)], ca.privateKey);
        await tx.commitAsync();
      }),
    );
    expect([e.code, e.message]).toEqual([
      'ALREADY_EXISTS',
      `record certificate ${ca.certificate.serialHex} in ${store.location}: that serial is in the inventory already`,
    ]);
    expect(fs.existsSync(file)).toBe(false);
    expect(fs.readdirSync(store.root).filter((f) => f.startsWith('.mtls-ca'))).toEqual([]);
    expect(store.readInventory()).toHaveLength(1);
    expect(await store.verifyAudit()).toEqual({ ok: true, lines: 1 });
    await store.close();
  });

  test('the CA key is never stored in plaintext: refused by the store, and by the table itself', async () => {
    const url = await freshDatabase();
    const store = new CaStore(path.join(root, `host-${n++}`), {
      state: await PostgresState.open(url, { create: true }),
    });
    const keys = fixtureKeys('ecdsa-p256', 1);
    const certificate = createRootCa({ subject: { commonName: 'Plain CA' }, ...keys, days: 365, now: NOW });
    const e = await errorOf(() =>
      store.lock(() =>
        store.stageCa(store.newTransaction(), certificate, {
          kind: 'pem',
          pem: exportPrivateKeyPem(keys.privateKey),
        }),
      ),
    );
    expect([e.code, e.message]).toEqual([
      'INVALID_ARGUMENT',
      `store the CA key in ${store.location}: it is not encrypted`,
    ]);
    await expect(
      query(url, 'INSERT INTO mtls_ca.ca (certificate, key_pem) VALUES ($1, $2)', [
        certificate.der,
        exportPrivateKeyPem(keys.privateKey),
      ]),
    ).rejects.toThrow(/violates check constraint/);
    expect(store.isInitialized()).toBe(false);
    await store.close();
  });

  test('a database that is down: DATABASE_UNAVAILABLE, naming it without its password', async () => {
    const e = await errorOf(() => PostgresState.open('postgres://ca:s3cret@127.0.0.1:1/ca'));
    expect(e.code).toBe('DATABASE_UNAVAILABLE');
    expect(e.message).toMatch(/^connect to postgres:\/\/ca@127\.0\.0\.1:1\/ca: /);
    expect(`${e.message} ${e.hint}`).not.toContain('s3cret');
  });

  test('a writer killed while it holds the lock does not keep the next one waiting', async () => {
    const { store, url } = await withCa();
    // Another process takes the writer's lock and is killed holding it.
    const holder = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import pg from 'pg'; const c = new pg.Client({ connectionString: process.argv[1] }); await c.connect();
         await c.query("SELECT pg_advisory_lock(${WRITER_LOCK})"); console.log('locked'); setInterval(() => {}, 1000);`,
        url,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'], cwd: process.cwd() },
    );
    await new Promise<void>((resolve) => holder.stdout!.once('data', () => resolve()));
    holder.kill('SIGKILL');
    const ca = store.loadCa(PASSWORD);
    await store.lock(async () => {
      const tx = store.newTransaction();
      store.appendAudit(tx, [auditRecord('crl', ca.certificate, NOW)], ca.privateKey);
      await tx.commitAsync();
    });
    expect(await store.verifyAudit()).toEqual({ ok: true, lines: 2 });
    await store.close();
  });
});

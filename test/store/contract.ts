/**
 * The store contract (src/store/ca-state.ts) as behaviours: one suite that every store passes — the CA
 * directory's files and the PostgreSQL database — run by file-store.contract.test.ts and
 * postgres-store.contract.test.ts. The operations drive it as the commands do (issueClient, revoke,
 * resignCrl), so the same sequence must give the same inventory, CRL, users and audit chain on both.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { resignCrl } from '../../src/ops/crl.js';
import { initCa } from '../../src/ops/init.js';
import { issueClient } from '../../src/ops/issue-client.js';
import { auditRecord, issueEvent } from '../../src/ops/records.js';
import { retireCa } from '../../src/ops/retire.js';
import { revoke } from '../../src/ops/revoke.js';
import { exportRootKey, importRootKey } from '../../src/ops/root-key.js';
import { rotateCa } from '../../src/ops/rotate.js';
import { exportPrivateKeyPem, publicKeyOf } from '../../src/pki/keys.js';
import { createRootCa } from '../../src/pki/profiles.js';
import type { CaStore } from '../../src/store/ca-store.js';
import { errorOf } from '../helpers/errors.js';
import { fixtureKeys } from '../helpers/fixtures.js';
import { tempDir } from '../helpers/tools.js';

export const CA_PASSWORD = 'contract-ca-password';

/** How an audit chain is tampered with: a line's text edited, a line deleted, two lines swapped, the last cut. */
export type Tampering = 'edit' | 'delete' | 'reorder' | 'truncate';

export interface ContractBackend {
  /** A store holding no CA yet: a fresh directory (and, for a database store, a fresh database). */
  fresh(): Promise<CaStore>;
  /** Another store on the same state, as another process (or host) opens it; closed by the suite. */
  reopen(store: CaStore): Promise<CaStore>;
  /**
   * Tampers with the audit chain behind the store's back, at line `line` (1-based).
   * @returns what puts the chain back as it was
   */
  tamper(store: CaStore, how: Tampering, line: number): Promise<() => Promise<void>>;
}

const NOW = new Date('2026-06-01T12:00:00.000Z');

/**
 * Puts a CA in the store the way init's commit does: certificate, key (encrypted), inventory, audit.
 * @param opts.commonName - the CA's name (default `Contract CA`)
 * @param opts.password - what its key is encrypted with (default {@link CA_PASSWORD})
 * @param opts.days - the certificate's lifetime (default 3650)
 */
export async function initialize(
  store: CaStore,
  { commonName = 'Contract CA', password = CA_PASSWORD, days = 3650 } = {},
): Promise<void> {
  const keys = fixtureKeys('ecdsa-p256', 0);
  const certificate = createRootCa({ subject: { commonName }, ...keys, days, now: NOW });
  await store.lock(async () => {
    const tx = store.newTransaction();
    store.stageCa(tx, certificate, { kind: 'pem', pem: exportPrivateKeyPem(keys.privateKey, password) });
    store.appendInventory(tx, [issueEvent(certificate, commonName, 'ca', [], NOW)]);
    store.appendAudit(tx, [auditRecord('init', certificate, NOW, { profile: 'ca' })], keys.privateKey);
    await tx.commitAsync();
  });
}

const clientSettings = {
  days: 30,
  keyType: 'ecdsa-p256' as const,
  p12Profile: 'compat' as const,
  force: false,
  caPassword: CA_PASSWORD,
  store: { given: 'store-password' },
  now: NOW,
};

function issue(store: CaStore, name: string, roles: string[], force = false) {
  return issueClient(store, { name, roles, email: [], ...clientSettings, force });
}

const caChanges = {
  caPassword: CA_PASSWORD,
  store: { given: 'store-password' },
  p12Profile: 'compat' as const,
  now: NOW,
};

/** Each CRL of `store` as [its issuer, its number, the serials it lists], in their order. */
function crlsOf(store: CaStore): [string, string, string[]][] {
  const crls = store.readCrls();
  if (typeof crls === 'string') throw new Error(`CRLs ${crls}`);
  return crls.map((c) => [c.issuerName, c.crlNumber.toString(), c.revoked.map((r) => r.serialHex)]);
}

/** The CAs in force of `store` as [role, subject]. */
const casOf = (store: CaStore) => store.casInForce().map((c) => [c.role, c.certificate.subjectName]);

/**
 * Registers the contract's tests for one backend.
 * @param backend - how to make, reopen and tamper with a store of that kind
 */
export function storeContract(backend: ContractBackend): void {
  const opened: CaStore[] = [];
  const open = async (make: () => Promise<CaStore>) => {
    const store = await make();
    opened.push(store);
    return store;
  };
  const fresh = () => open(() => backend.fresh());
  const reopen = (store: CaStore) => open(() => backend.reopen(store));
  afterAll(() => Promise.all(opened.map((s) => s.close())));

  test('a new store holds no CA: CA_NOT_INITIALIZED', async () => {
    const store = await fresh();
    expect(store.isInitialized()).toBe(false);
    expect(errorOf(() => store.assertInitialized()).code).toBe('CA_NOT_INITIALIZED');
    expect(errorOf(() => store.readCaCertificate()).code).toBe('CA_NOT_INITIALIZED');
  });

  test('the CA comes back as stored: its certificate, its key only encrypted, opened by the CA password', async () => {
    const store = await fresh();
    await initialize(store);
    const other = await reopen(store);
    const ca = other.readCaCertificate();
    expect(ca.subjectName).toBe('CN=Contract CA');
    expect(other.isCaKeyEncrypted()).toBe(true);
    const key = other.readCaKey();
    expect(key.kind === 'pem' && key.pem).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    const loaded = other.loadCa(CA_PASSWORD);
    expect(publicKeyOf(loaded.privateKey).export({ format: 'der', type: 'spki' })).toEqual(
      ca.publicKey.export({ format: 'der', type: 'spki' }),
    );
    const wrong = errorOf(() => other.loadCa('not-the-password'));
    expect([wrong.code, wrong.detail]).toEqual(['BAD_PASSWORD', { kind: 'ca-password' }]);
    expect(errorOf(() => other.loadCa(undefined)).code).toBe('PASSWORD_REQUIRED');
  });

  test('a CA key moved into a token: the store keeps its URI in place of the encrypted key, for every reader', async () => {
    const store = await fresh();
    await initialize(store);
    const uri = 'pkcs11:token=CA;object=ca-key;id=%01%02;type=private';
    await store.lock(async () => {
      const tx = store.newTransaction();
      store.stageCaKey(tx, { kind: 'uri', uri });
      await tx.commitAsync();
    });
    const other = await reopen(store);
    expect(other.readCaKey()).toEqual({ kind: 'uri', uri });
    expect(other.tokenKeyUri()).toBe(uri);
    expect(other.isCaKeyEncrypted()).toBe(false);
    // no key to open with a password any more: the command must hand the store the token's signer first
    expect(() => other.loadCa(CA_PASSWORD)).toThrow('before useTokenKey()');
  });

  test('issue, renew with force and revoke fold into the same inventory; its version moves with each change', async () => {
    const store = await fresh();
    await initialize(store);
    const v0 = store.inventoryVersion();
    const alice = await issue(store, 'alice', ['user']);
    const v1 = store.inventoryVersion();
    expect(v1).not.toBe(v0);
    const bob = await issue(store, 'bob', ['user']);
    const alice2 = await issue(store, 'alice', ['admin'], true);
    await revoke(store, { target: 'bob', reason: 'keyCompromise', caPassword: CA_PASSWORD, now: NOW });

    const entries = (await reopen(store)).readInventory();
    expect(entries.map((e) => [e.name, e.profile])).toEqual([
      ['Contract CA', 'ca'],
      ['alice', 'client'],
      ['bob', 'client'],
      ['alice', 'client'],
    ]);
    const bySerial = new Map(entries.map((e) => [e.serial, e]));
    expect(bySerial.get(alice.certificate.serial)).toMatchObject({
      supersededAt: NOW.toISOString(),
      supersededBy: alice2.certificate.serial,
    });
    expect(bySerial.get(bob.certificate.serial)).toMatchObject({
      revokedAt: NOW.toISOString(),
      revocationReason: 'keyCompromise',
    });
    expect(bySerial.get(alice2.certificate.serial)).toMatchObject({
      subject: 'CN=alice',
      keyType: 'ecdsa-p256',
      notBefore: alice2.certificate.notBefore,
      notAfter: alice2.certificate.notAfter,
      fingerprint: alice2.certificate.fingerprint,
      issuedAt: NOW.toISOString(),
    });
    expect(bySerial.get(alice2.certificate.serial)?.revokedAt).toBeUndefined();
    expect(new Set(entries.map((e) => e.serial)).size).toBe(entries.length);
    expect(store.findNamesLike('client', new Set(['alice']))).toEqual(['alice', 'alice']);
    expect(store.findNamesLike('server', new Set(['alice']))).toEqual([]);
  });

  test('each CRL is numbered one above the last and lists every revocation; users keep merged roles', async () => {
    const store = await fresh();
    await initialize(store);
    expect(store.readCrl()).toBe('missing');
    const carol = await issue(store, 'carol', ['user']);
    await issue(store, 'carol', ['admin', 'user'], true);
    await issue(store, 'dave', ['user']);
    const first = await revoke(store, {
      target: carol.certificate.serial,
      reason: 'superseded',
      caPassword: CA_PASSWORD,
      now: NOW,
    });
    expect(first.crl.crlNumber).toBe('1');
    const second = await resignCrl(store, { caPassword: CA_PASSWORD, now: NOW });
    expect(second.crlNumber).toBe('2');
    const other = await reopen(store);
    const crl = other.readCrl();
    if (typeof crl === 'string') throw new Error(`CRL ${crl}`);
    expect(crl.crlNumber).toBe(2n);
    expect(crl.isSignedBy(other.readCaCertificate())).toBe(true);
    expect(crl.revoked.map((e) => e.serialHex)).toEqual([carol.certificate.serial]);
    expect(other.readUsers()).toEqual({
      users: { carol: { roles: ['user', 'admin'] }, dave: { roles: ['user'] } },
    });
  });

  test("a CA with an intermediate: the chain and each CA's CRL as stored; the root's key offline and back", async () => {
    const store = await fresh();
    await initCa(store, {
      caName: 'Chain Root',
      keyType: 'ecdsa-p256',
      caDays: 3650,
      hosts: [],
      serverDays: 30,
      force: false,
      intermediate: true,
      ...caChanges,
    });
    const other = await reopen(store);
    expect(casOf(other)).toEqual([
      ['issuing', 'CN=Chain Root Intermediate 1'],
      ['root', 'CN=Chain Root'],
    ]);
    const [issuing, root] = other.casInForce();
    expect(issuing!.certificate.isIssuedBy(root!.certificate)).toBe(true);
    expect(crlsOf(other)).toEqual([
      ['CN=Chain Root Intermediate 1', '1', []],
      ['CN=Chain Root', '1', []],
    ]);
    expect(other.loadCaKey(root!, CA_PASSWORD).certificate.subjectName).toBe('CN=Chain Root');
    const rootKey = other.readCaKey(root!);
    expect(rootKey.kind === 'pem' && rootKey.pem).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----/);

    const out = path.join(tempDir(), 'root.key');
    await exportRootKey(store, { out, force: false, caPassword: CA_PASSWORD, now: NOW });
    expect(fs.readFileSync(out, 'latin1')).toBe(rootKey.kind === 'pem' && rootKey.pem);
    const offline = await reopen(store);
    expect(offline.hasCaKey(root!)).toBe(false);
    expect(errorOf(() => offline.loadCaKey(root!, CA_PASSWORD)).detail).toEqual({ kind: 'root-key-offline' });
    // Issuing goes on without the root: its CRL is re-signed, the root's kept as it was.
    await resignCrl(offline, { caPassword: CA_PASSWORD, now: NOW });
    expect(crlsOf(await reopen(store)).map(([, n]) => n)).toEqual(['2', '1']);

    await importRootKey(store, { file: out, data: fs.readFileSync(out), caPassword: CA_PASSWORD, now: NOW });
    const back = await reopen(store);
    expect(back.hasCaKey(root!)).toBe(true);
    await resignCrl(back, { caPassword: CA_PASSWORD, now: NOW });
    expect(crlsOf(await reopen(store)).map(([, n]) => n)).toEqual(['3', '2']);
    expect(await back.verifyAudit()).toMatchObject({ ok: true });
  });

  test('a rotation keeps the old CA in force, key and CRL, until it is retired; the audit chain spans both', async () => {
    const store = await fresh();
    await initialize(store);
    const alice = await issue(store, 'alice', ['user']);
    await resignCrl(store, { caPassword: CA_PASSWORD, now: NOW });
    await rotateCa(store, { caDays: 3650, ...caChanges });
    const bob = await issue(store, 'bob', ['user']);
    const other = await reopen(store);
    expect(casOf(other)).toEqual([
      ['issuing', 'CN=Contract CA 2'],
      ['previous', 'CN=Contract CA'],
    ]);
    const previous = other.casInForce()[1]!;
    expect(other.hasCaKey(previous)).toBe(true);
    expect(other.loadCaKey(previous, CA_PASSWORD).certificate.subjectName).toBe('CN=Contract CA');
    const issuers = new Map(other.readInventory().map((e) => [e.name, e.issuer]));
    expect([issuers.get('alice'), issuers.get('bob')]).toEqual(['CN=Contract CA', 'CN=Contract CA 2']);
    expect(crlsOf(other)).toEqual([
      ['CN=Contract CA 2', '1', []],
      ['CN=Contract CA', '1', []],
    ]);

    // A client of the old CA is revoked on its CRL, which the old CA's key signs.
    await revoke(other, { target: 'alice', reason: 'keyCompromise', caPassword: CA_PASSWORD, now: NOW });
    const after = await reopen(store);
    expect(crlsOf(after)).toEqual([
      ['CN=Contract CA 2', '1', []],
      ['CN=Contract CA', '2', [alice.certificate.serial]],
    ]);
    const oldCrl = (after.readCrls() as Exclude<ReturnType<CaStore['readCrls']>, string>)[1]!;
    expect(oldCrl.isSignedBy(previous.certificate)).toBe(true);

    await retireCa(after, { force: false, ...caChanges });
    const retired = await reopen(store);
    expect(casOf(retired)).toEqual([['issuing', 'CN=Contract CA 2']]);
    expect(retired.retiredCas().map((c) => c.subjectName)).toEqual(['CN=Contract CA']);
    expect(crlsOf(retired)).toEqual([['CN=Contract CA 2', '1', []]]);
    expect(retired.readInventory().find((e) => e.name === 'bob')?.serial).toBe(bob.certificate.serial);
    // Lines signed by the old CA (before the rotation, and the rotation itself) and by the new one.
    expect(await retired.verifyAudit()).toEqual({ ok: true, lines: 9 });
  });

  test('a command that loaded the CA before another rotated it is refused under the lock, nothing signed', async () => {
    const store = await fresh();
    await initialize(store);
    const other = await reopen(store);
    store.loadCa(CA_PASSWORD);
    await rotateCa(other, { caDays: 3650, ...caChanges });
    const e = await errorOf(() => store.lock(() => 'signed'));
    expect([e.code, e.message]).toEqual([
      'INVALID_ARGUMENT',
      `use the CA of ${store.location}: it was replaced while this command ran`,
    ]);
  });

  test("the CA's settings: none at first; staged ones seen in their transaction, then by every store", async () => {
    const store = await fresh();
    await initialize(store);
    expect(store.readSettings()).toEqual({});
    await store.lock(async () => {
      const tx = store.newTransaction();
      store.stageSettings(tx, { publishUrl: 'http://ca.example.com:8080' });
      expect(store.settingsAfter(tx)).toEqual({ publishUrl: 'http://ca.example.com:8080' });
      expect(store.readSettings()).toEqual({});
      await tx.commitAsync();
    });
    expect((await reopen(store)).readSettings()).toEqual({ publishUrl: 'http://ca.example.com:8080' });
  });

  test('every operation leaves a signed, chained audit line, and the chain verifies from another store', async () => {
    const store = await fresh();
    await initialize(store);
    await issue(store, 'erin', ['user']);
    await resignCrl(store, { caPassword: CA_PASSWORD, now: NOW });
    expect(await (await reopen(store)).verifyAudit()).toEqual({ ok: true, lines: 3 });
  });

  test('a commit that fails before its commit point changes nothing in the state', async () => {
    const store = await fresh();
    await initialize(store);
    const ca = store.loadCa(CA_PASSWORD);
    const blocked = path.join(store.root, 'blocked');
    fs.writeFileSync(blocked, 'a file where a folder must be');
    const failure = await errorOf(() =>
      store.lock(async () => {
        const tx = store.newTransaction();
        store.appendInventory(tx, [issueEvent(ca.certificate, 'ghost', 'client', [], NOW)]);
        store.appendAudit(tx, [auditRecord('issue', ca.certificate, NOW)], ca.privateKey);
        tx.write(path.join(blocked, 'ghost.crt'), 'never');
        await tx.commitAsync();
      }),
    );
    expect(failure.code).toBe('IO_FAILED');
    const other = await reopen(store);
    expect(other.readInventory().map((e) => e.name)).toEqual(['Contract CA']);
    expect(await other.verifyAudit()).toEqual({ ok: true, lines: 1 });
  });

  test('two writers at once take turns: every certificate recorded once, the chain whole', async () => {
    const store = await fresh();
    await initialize(store);
    const other = await reopen(store);
    const run = async (s: CaStore, prefix: string) => {
      for (let i = 0; i < 3; i++) await issue(s, `${prefix}${i}`, ['user']);
    };
    await Promise.all([run(store, 'a'), run(other, 'b')]);
    const entries = (await reopen(store)).readInventory();
    expect(
      entries
        .filter((e) => e.profile === 'client')
        .map((e) => e.name)
        .sort(),
    ).toEqual(['a0', 'a1', 'a2', 'b0', 'b1', 'b2']);
    expect(new Set(entries.map((e) => e.serial)).size).toBe(entries.length);
    expect(await store.verifyAudit()).toEqual({ ok: true, lines: 7 });
  });

  test('the audit check finds an edited, a deleted and a swapped line, and a line cut off the end', async () => {
    const expected: Record<Tampering, { line: number; firstBadLine: number; reason: RegExp }> = {
      edit: { line: 2, firstBadLine: 2, reason: /no valid CA signature/ },
      delete: { line: 2, firstBadLine: 2, reason: /does not match the hash of the line before/ },
      reorder: { line: 2, firstBadLine: 2, reason: /does not match the hash of the line before/ },
      truncate: { line: 4, firstBadLine: 4, reason: /lines removed from its end/ },
    };
    const store = await fresh();
    await initialize(store);
    for (let i = 0; i < 3; i++) await resignCrl(store, { caPassword: CA_PASSWORD, now: NOW });
    const other = await reopen(store);
    for (const how of Object.keys(expected) as Tampering[]) {
      expect(await other.verifyAudit()).toEqual({ ok: true, lines: 4 });
      const restore = await backend.tamper(store, how, expected[how].line);
      const result = await other.verifyAudit();
      expect({ how, ok: result.ok, firstBadLine: result.firstBadLine }).toEqual({
        how,
        ok: false,
        firstBadLine: expected[how].firstBadLine,
      });
      expect(result.reason).toMatch(expected[how].reason);
      await restore();
    }
  });
}

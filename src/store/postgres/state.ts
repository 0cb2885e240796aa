/**
 * The store contract ({@link CaState}) kept in a PostgreSQL database (tables: schema.ts), so that several
 * hosts issue from one CA and every server hears of a revocation at once.
 *
 * Reads answer from a snapshot of the whole state, read in one REPEATABLE READ transaction: when the store is
 * opened, again inside {@link PostgresState.lock} when another writer has committed since, and after each commit. A writer holds a session advisory
 * lock ({@link WRITER_LOCK}) for the whole of its command — read, compute, commit — as the CA directory's
 * writer holds its lock file; the database releases it when the session ends, a killed process included.
 * The serial's UNIQUE constraint and the audit line's PRIMARY KEY hold even for a writer that skipped the lock.
 *
 * A transaction's changes to the state are applied by one database transaction run before the commit point
 * of the directory's files ({@link Transaction.beforeCommit}): a change the database refused writes no file;
 * a change it recorded is the record, and a process killed before its files land leaves a certificate that is
 * listed and revocable, its files missing on that host. The commit bumps `state.version` and NOTIFYs it.
 */
import type { KeyObject } from 'node:crypto';
import { Certificate } from '../../pki/certificate.js';
import { Crl } from '../../pki/crl.js';
import { MtlsCaError } from '../../pki/errors.js';
import { isEncryptedPrivateKey } from '../../pki/keys.js';
import type { CertificateAuthority } from '../../pki/profiles.js';
import type { Transaction } from '../atomic.js';
import {
  type AuditRecord,
  type AuditTail,
  type AuditVerification,
  auditTailOf,
  encodeAudit,
  verifyAuditLines,
} from '../audit.js';
import { openCaKey } from '../ca-key.js';
import type {
  CaKeyReference,
  CaState,
  StateCa,
  StateWatch,
  StateWatchHandlers,
  UsersFile,
} from '../ca-state.js';
import {
  type CertificateProfile,
  fillIssuers,
  type InventoryEntry,
  type InventoryEvent,
  type IssueEvent,
  namesLike,
} from '../inventory.js';
import { type CaSettings, parseSettings } from '../settings.js';
import { connect, databaseFailure, type PgClient, type Row, redactUrl } from './driver.js';
import { assertSchema, migrate, NOTIFY_CHANNEL, SCHEMA, WRITER_LOCK } from './schema.js';
import { watchState } from './watch.js';

/** How long a writer waits for another one's lock before LOCKED, as for the CA directory's lock. */
const LOCK_TIMEOUT = '60s';

/** The name the audit chain's head goes by in {@link AuditVerification} reasons. */
const HEAD_NAME = 'audit_head';

/** A CA of `other_ca`: the root, a previous or a retired CA, its key (none: a root taken offline). */
export interface OtherCa {
  role: 'root' | 'previous' | 'retired';
  certificate: Certificate;
  key: CaKeyReference | undefined;
}

interface Snapshot {
  version: string;
  ca?: { certificate: Certificate; key: CaKeyReference };
  /** The other CAs, newest first. */
  others: OtherCa[];
  entries: InventoryEntry[];
  crls: Crl[] | 'missing' | 'unreadable';
  users: UsersFile;
  settings: CaSettings;
  audit: { last?: string; head?: string; count: number };
}

/** What one directory transaction changes in the database, applied by {@link PostgresState.#commit}. */
interface Pending {
  ca?: { certificate: Certificate; key: CaKeyReference };
  root?: { certificate: Certificate; key: CaKeyReference };
  /** The CA that issues from now on, the one it replaces becoming a previous CA. */
  rotation?: { replaces: Certificate; certificate: Certificate; key: CaKeyReference };
  /** The serials of previous CAs retired. */
  retire: string[];
  /** The root's key coming back, or (`key` undefined) leaving. */
  rootKey?: { key: CaKeyReference | undefined };
  /** The CA key's new home (moved into a token), replacing the one in the CA's row. */
  caKey?: CaKeyReference;
  events: InventoryEvent[];
  crls?: Crl[];
  settings?: CaSettings;
  users: Map<string, string[]>;
  audit: string[];
  head?: string;
  /** The audit chain's tail after the staged lines. */
  tail?: AuditTail;
}

/** A {@link Pending} that changes nothing yet. */
const noChanges = (): Pending => ({ retire: [], events: [], users: new Map(), audit: [] });

const iso = (v: unknown): string | undefined =>
  v === null || v === undefined ? undefined : new Date(v as string).toISOString();

function entryOf(r: Row): InventoryEntry {
  const e: InventoryEntry = {
    serial: r.serial as string,
    name: r.name as string,
    profile: r.profile as CertificateProfile,
    subject: r.subject as string,
    ...(r.issuer !== null ? { issuer: r.issuer as string } : {}),
    keyType: r.key_type as string,
    notBefore: iso(r.not_before)!,
    notAfter: iso(r.not_after)!,
    fingerprint: r.fingerprint as string,
    issuedAt: iso(r.issued_at)!,
    files: r.files as string[],
  };
  if (r.revoked_at !== null) {
    e.revokedAt = iso(r.revoked_at);
    e.revocationReason = r.revocation_reason as string;
  }
  if (r.superseded_at !== null) {
    e.supersededAt = iso(r.superseded_at);
    e.supersededBy = r.superseded_by as string;
  }
  return e;
}

/** A query on the store's connection. */
type Query = (text: string, values?: unknown[]) => Promise<{ rows: Row[]; rowCount?: number | null }>;

/** The audit chain's lines in order, and its head's text. */
async function readChain(q: Query): Promise<{ lines: string[]; head: string | undefined }> {
  const lines = (await q(`SELECT line FROM ${SCHEMA}.audit ORDER BY seq`)).rows.map((r) => r.line as string);
  const head = (await q(`SELECT head FROM ${SCHEMA}.audit_head`)).rows[0]?.head as string | undefined;
  return { lines, head };
}

/** A key as its two columns hold it: an encrypted PEM, or a reference. */
const keyColumns = (key: CaKeyReference | undefined): [string | null, string | null] => [
  key?.kind === 'pem' ? key.pem : null,
  key?.kind === 'uri' ? key.uri : null,
];

/** The key of a row of `ca` or `other_ca`, or undefined for none. */
const keyOf = (r: Row): CaKeyReference | undefined =>
  r.key_uri !== null
    ? { kind: 'uri', uri: r.key_uri as string }
    : r.key_pem !== null
      ? { kind: 'pem', pem: r.key_pem as string }
      : undefined;

/** The CA's row: its certificate, and its key's PEM or reference. */
async function insertCa(q: Query, certificate: Certificate, key: CaKeyReference): Promise<void> {
  await q(`INSERT INTO ${SCHEMA}.ca (certificate, key_pem, key_uri) VALUES ($1, $2, $3)`, [
    certificate.der,
    ...keyColumns(key),
  ]);
}

/** A row of `other_ca`. */
async function insertOtherCa(q: Query, ca: OtherCa): Promise<void> {
  await q(
    `INSERT INTO ${SCHEMA}.other_ca (serial, role, certificate, key_pem, key_uri) VALUES ($1, $2, $3, $4, $5)`,
    [ca.certificate.serialHex, ca.role, ca.certificate.der, ...keyColumns(ca.key)],
  );
}

/** The current CRLs in their order, replacing those there. */
async function replaceCrls(q: Query, crls: readonly Crl[]): Promise<void> {
  await q(`DELETE FROM ${SCHEMA}.crl`);
  await q(
    `INSERT INTO ${SCHEMA}.crl (position, crl_number, der)
     SELECT * FROM unnest($1::integer[], $2::numeric[], $3::bytea[])`,
    [crls.map((_, i) => i), crls.map((c) => c.crlNumber.toString()), crls.map((c) => c.der)],
  );
}

/**
 * Rows of `certificate`, in their order: issues (their revocation and supersession columns empty) or whole
 * entries of an imported inventory.
 */
async function insertCertificates(q: Query, rows: readonly (IssueEvent | InventoryEntry)[]): Promise<void> {
  await q(
    `INSERT INTO ${SCHEMA}.certificate
       (serial, name, profile, subject, issuer, key_type, not_before, not_after, fingerprint, issued_at,
        files, revoked_at, revocation_reason, superseded_at, superseded_by)
     SELECT serial, name, profile, subject, issuer, "keyType", "notBefore", "notAfter", fingerprint, "issuedAt",
            coalesce(files, '[]'), "revokedAt", "revocationReason", "supersededAt", "supersededBy"
     FROM jsonb_to_recordset($1::jsonb) AS c(serial text, name text, profile text, subject text,
       issuer text, "keyType" text, "notBefore" timestamptz, "notAfter" timestamptz, fingerprint text,
       "issuedAt" timestamptz, files jsonb, "revokedAt" timestamptz, "revocationReason" text,
       "supersededAt" timestamptz, "supersededBy" text)`,
    [JSON.stringify(rows)],
  );
}

/** Inventory events in their order: runs of issues as one INSERT, revocations and supersessions as UPDATEs. */
async function applyEvents(q: Query, events: InventoryEvent[]): Promise<void> {
  for (let i = 0; i < events.length; ) {
    const e = events[i]!;
    if (e.op !== 'issue') {
      if (e.op === 'revoke') {
        await q(
          `UPDATE ${SCHEMA}.certificate SET revoked_at = $2, revocation_reason = $3 WHERE serial = $1`,
          [e.serial, e.at, e.reason],
        );
      } else if (e.op === 'supersede') {
        await q(`UPDATE ${SCHEMA}.certificate SET superseded_at = $2, superseded_by = $3 WHERE serial = $1`, [
          e.serial,
          e.at,
          e.by,
        ]);
      }
      i++;
      continue;
    }
    const run: IssueEvent[] = [];
    for (; i < events.length && events[i]!.op === 'issue'; i++) run.push(events[i] as IssueEvent);
    await insertCertificates(q, run);
  }
}

/**
 * The CAs an audit chain's lines may be signed by: each line by the issuing CA of its day, the current one
 * (`issuing`), a previous or a retired one — never the root.
 */
const auditSigners = (issuing: Certificate, others: readonly OtherCa[]): Certificate[] => [
  issuing,
  ...others.filter((c) => c.role !== 'root').map((c) => c.certificate),
];

/** Newest first, as a CA directory lists its previous and retired CAs. */
const newestFirst = (a: { certificate: Certificate }, b: { certificate: Certificate }) =>
  b.certificate.notBefore.getTime() - a.certificate.notBefore.getTime();

/** Entries with their issuer, filled in as the file store fills lines written before it was recorded. */
function withIssuers(entries: InventoryEntry[]): InventoryEntry[] {
  fillIssuers(entries);
  return entries;
}

export class PostgresState implements CaState {
  readonly location: string;
  readonly #url: string;
  #client: PgClient;
  #snapshot: Snapshot | undefined;
  #locked = false;
  readonly #pending = new WeakMap<Transaction, Pending>();

  private constructor(client: PgClient, url: string) {
    this.#client = client;
    this.#url = url;
    this.location = redactUrl(url);
  }

  /**
   * Connects to the database of a CA and reads its state.
   * @param url - the database URL (`postgres://user@host:5432/db`)
   * @param o.create - migrate the schema first (a new CA: `init`, `db import`), so a database without
   *   mtls-ca's tables is fine; otherwise the schema must be this mtls-ca's
   * @throws MtlsCaError DATABASE_UNAVAILABLE, CA_NOT_INITIALIZED (no tables), UNSUPPORTED (another schema)
   */
  static async open(url: string, o: { create?: boolean } = {}): Promise<PostgresState> {
    const location = redactUrl(url);
    const client = await connect(url);
    try {
      if (o.create) await migrate(client, location);
      else {
        try {
          await assertSchema(client, location);
        } catch (e) {
          throw databaseFailure('read', location, e);
        }
      }
      return await PostgresState.over(client, url);
    } catch (e) {
      await client.end().catch(() => {});
      throw e;
    }
  }

  /**
   * The state read over a connection made already, to a database whose schema the caller has found to be
   * this mtls-ca's; the state then holds the connection (its {@link close} ends it). On failure the
   * connection stays the caller's to end.
   * @param client - connected to the database at `url`
   * @param url - the database URL
   */
  static async over(client: PgClient, url: string): Promise<PostgresState> {
    const state = new PostgresState(client, url);
    await state.load();
    return state;
  }

  /** Reads the whole state afresh (see the module comment). */
  async load(): Promise<void> {
    try {
      await this.#transaction('read', async (q) => {
        const [version, ca, others, certs, crl, users, settings, last, head, count] = [
          await q(`SELECT version FROM ${SCHEMA}.state`),
          await q(`SELECT certificate, key_pem, key_uri FROM ${SCHEMA}.ca`),
          await q(`SELECT role, certificate, key_pem, key_uri FROM ${SCHEMA}.other_ca`),
          await q(`SELECT * FROM ${SCHEMA}.certificate ORDER BY seq`),
          await q(`SELECT der FROM ${SCHEMA}.crl ORDER BY position`),
          await q(`SELECT name, roles FROM ${SCHEMA}.app_user ORDER BY name`),
          await q(`SELECT data FROM ${SCHEMA}.settings`),
          await q(`SELECT line FROM ${SCHEMA}.audit ORDER BY seq DESC LIMIT 1`),
          await q(`SELECT head FROM ${SCHEMA}.audit_head`),
          await q(`SELECT count(*) AS n FROM ${SCHEMA}.audit`),
        ];
        const caRow = ca.rows[0];
        let current: Snapshot['crls'] = 'missing';
        if (crl.rows.length > 0) {
          try {
            current = crl.rows.map((r) => Crl.from(r.der as Buffer, `the CRLs in ${this.location}`));
          } catch {
            current = 'unreadable';
          }
        }
        this.#snapshot = {
          version: String(version.rows[0]?.version ?? '0'),
          ...(caRow
            ? {
                ca: {
                  certificate: Certificate.from(
                    caRow.certificate as Buffer,
                    `the CA certificate in ${this.location}`,
                  ),
                  key: keyOf(caRow)!,
                },
              }
            : {}),
          others: others.rows
            .map((r) => ({
              role: r.role as OtherCa['role'],
              certificate: Certificate.from(r.certificate as Buffer, `a CA certificate in ${this.location}`),
              key: keyOf(r),
            }))
            .sort(newestFirst),
          entries: withIssuers(certs.rows.map(entryOf)),
          crls: current,
          users: {
            users: Object.fromEntries(
              users.rows.map((r) => [r.name as string, { roles: r.roles as string[] }]),
            ),
          },
          settings: parseSettings(
            JSON.stringify(settings.rows[0]?.data ?? {}),
            `the settings in ${this.location}`,
          ),
          audit: {
            last: last.rows[0]?.line as string | undefined,
            head: head.rows[0]?.head as string | undefined,
            count: Number(count.rows[0]?.n ?? 0),
          },
        };
      });
    } catch (e) {
      throw databaseFailure('read', this.location, e);
    }
  }

  /**
   * {@link load}, on a new connection when the one held was lost (a long-running reader: `serve`).
   * @throws MtlsCaError DATABASE_UNAVAILABLE while the database is away; the last state read stays
   */
  async refresh(): Promise<void> {
    try {
      await this.load();
      return;
    } catch (e) {
      if (!(e instanceof MtlsCaError) || e.code !== 'DATABASE_UNAVAILABLE' || this.#locked) throw e;
    }
    const client = await connect(this.#url);
    const old = this.#client;
    this.#client = client;
    await old.end().catch(() => {});
    await this.load();
  }

  watch(handlers: StateWatchHandlers): StateWatch {
    return watchState(this.#url, handlers);
  }

  get #state(): Snapshot {
    if (!this.#snapshot) throw new Error('PostgresState read before load()');
    return this.#snapshot;
  }

  isInitialized(): boolean {
    return this.#state.ca !== undefined;
  }

  assertInitialized(): void {
    if (this.isInitialized()) return;
    throw new MtlsCaError('CA_NOT_INITIALIZED', `read ${this.location}: no CA in the database`, {
      detail: { kind: 'no-ca-in-database', location: this.location },
    });
  }

  #ca(): NonNullable<Snapshot['ca']> {
    this.assertInitialized();
    return this.#state.ca!;
  }

  readCaCertificate(): Certificate {
    return this.#ca().certificate;
  }

  readCaKey(ca?: StateCa): CaKeyReference {
    if (!ca || ca.role === 'issuing') return this.#ca().key;
    const key = this.#other(ca).key;
    if (!key) throw this.#keyNotHeld(ca);
    return key;
  }

  casInForce(): StateCa[] {
    const { others } = this.#state;
    return [
      { role: 'issuing', certificate: this.#ca().certificate },
      ...others.filter((c) => c.role === 'root'),
      ...others.filter((c) => c.role === 'previous'),
    ].map(({ role, certificate }) => ({ role: role as StateCa['role'], certificate }));
  }

  retiredCas(): Certificate[] {
    return this.#state.others.filter((c) => c.role === 'retired').map((c) => c.certificate);
  }

  hasCaKey(ca: StateCa): boolean {
    return ca.role === 'issuing' || this.#other(ca).key !== undefined;
  }

  loadCaKey(ca: StateCa, password: string | undefined): CertificateAuthority {
    if (ca.role === 'issuing') return this.loadCa(password);
    const key = this.readCaKey(ca);
    return {
      certificate: ca.certificate,
      privateKey: openCaKey(key, password, `the key of ${ca.certificate.subjectName} in ${this.location}`),
    };
  }

  /** The row of `other_ca` of a CA in force. */
  #other(ca: StateCa): OtherCa {
    const found = this.#state.others.find((c) => c.certificate.der.equals(ca.certificate.der));
    if (!found) throw new Error(`PostgresState: ${ca.certificate.subjectName} is not a CA of the state`);
    return found;
  }

  #keyNotHeld(ca: StateCa): MtlsCaError {
    return new MtlsCaError(
      'NOT_FOUND',
      `read the key of ${ca.certificate.subjectName}: it is not in ${this.location}`,
      { detail: ca.role === 'root' ? { kind: 'root-key-offline' } : { kind: 'ca-key-missing' } },
    );
  }

  isCaKeyEncrypted(): boolean {
    const { key } = this.#ca();
    return key.kind === 'pem' && isEncryptedPrivateKey(key.pem);
  }

  loadCa(password: string | undefined): CertificateAuthority {
    const { certificate, key } = this.#ca();
    const privateKey = openCaKey(key, password, `the CA key in ${this.location}`);
    this.#loadedCa = certificate;
    return { certificate, privateKey };
  }

  /** The CA certificate {@link loadCa} returned, which commands sign with after taking the lock. */
  #loadedCa: Certificate | undefined;

  /**
   * Refuses to go on when the CA loaded before the lock no longer issues: another host rotated it meanwhile,
   * and what this command signed would be the old CA's (as the CA directory refuses it).
   */
  #assertSameCa(): void {
    if (!this.#loadedCa || this.#state.ca?.certificate.der.equals(this.#loadedCa.der)) return;
    throw new MtlsCaError(
      'INVALID_ARGUMENT',
      `use the CA of ${this.location}: it was replaced while this command ran`,
      'run the command again',
    );
  }

  inventoryVersion(): string {
    return this.#state.version;
  }

  readInventory(): InventoryEntry[] {
    return this.#state.entries.map((e) => ({ ...e }));
  }

  findNamesLike(profile: CertificateProfile, keys: ReadonlySet<string>): string[] {
    return namesLike(this.#state.entries, profile, keys);
  }

  readCrl(): Crl | 'missing' | 'unreadable' {
    const crls = this.#state.crls;
    return typeof crls === 'string' ? crls : crls[0]!;
  }

  readCrls(): Crl[] | 'missing' | 'unreadable' {
    const crls = this.#state.crls;
    return typeof crls === 'string' ? crls : [...crls];
  }

  readUsers(): UsersFile {
    return structuredClone(this.#state.users);
  }

  readSettings(): CaSettings {
    return { ...this.#state.settings };
  }

  stageSettings(tx: Transaction, settings: CaSettings): void {
    this.#staged(tx).settings = { ...settings };
  }

  settingsAfter(tx: Transaction): CaSettings {
    return { ...(this.#pending.get(tx)?.settings ?? this.#state.settings) };
  }

  async verifyAudit(): Promise<AuditVerification> {
    const signers = auditSigners(this.readCaCertificate(), this.#state.others);
    let chain: { lines: string[]; head: string | undefined };
    try {
      chain = await this.#transaction('read', readChain);
    } catch (e) {
      throw databaseFailure('read the audit chain of', this.location, e);
    }
    return verifyAuditLines(chain.lines, chain.head, HEAD_NAME, signers);
  }

  async lock<T>(fn: () => Promise<T> | T): Promise<T> {
    if (this.#locked) throw new Error('PostgresState.lock() while holding it');
    try {
      await this.#client.query(`SET lock_timeout = '${LOCK_TIMEOUT}'`);
      await this.#client.query('SELECT pg_advisory_lock($1)', [WRITER_LOCK.toString()]);
    } catch (e) {
      if ((e as { code?: string }).code === '55P03') {
        throw new MtlsCaError(
          'LOCKED',
          `lock ${this.location}: another mtls-ca command has been changing the CA for ${LOCK_TIMEOUT}`,
          'wait for it to finish, then run the command again',
        );
      }
      throw databaseFailure('lock', this.location, e);
    }
    this.#locked = true;
    try {
      await this.#loadIfChanged();
      this.#assertSameCa();
      return await fn();
    } finally {
      this.#locked = false;
      await this.#client.query('SELECT pg_advisory_unlock($1)', [WRITER_LOCK.toString()]).catch(() => {
        // the session is gone, and its lock with it
      });
    }
  }

  /**
   * {@link load}, unless the state's version is the snapshot's: every commit bumps it (#transaction), so an
   * unchanged version is an unchanged state, and a writer that has just opened the store (every write command)
   * does not read all of it a second time.
   */
  async #loadIfChanged(): Promise<void> {
    let version: string;
    try {
      const { rows } = await this.#client.query(`SELECT version FROM ${SCHEMA}.state`);
      version = String(rows[0]?.version ?? '0');
    } catch (e) {
      throw databaseFailure('read', this.location, e);
    }
    if (this.#snapshot?.version !== version) await this.load();
  }

  /** The changes staged in `tx`, registering their commit with it the first time. */
  #staged(tx: Transaction): Pending {
    let p = this.#pending.get(tx);
    if (!p) {
      // Staged outside the lock, the snapshot (the audit tail, the CRL number) could be another writer's past.
      if (!this.#locked) throw new Error('PostgresState: changes staged outside lock()');
      const pending = noChanges();
      this.#pending.set(tx, pending);
      tx.beforeCommit(() => this.#commit(pending));
      p = pending;
    }
    return p;
  }

  stageCa(tx: Transaction, certificate: Certificate, key: CaKeyReference): void {
    this.#refuseCa(key);
    this.#staged(tx).ca = { certificate, key };
  }

  stageRoot(tx: Transaction, certificate: Certificate, key: CaKeyReference): void {
    this.#refuseKey(key);
    this.#staged(tx).root = { certificate, key };
  }

  stageRotation(tx: Transaction, certificate: Certificate, key: CaKeyReference): void {
    this.#refuseKey(key);
    this.#staged(tx).rotation = { replaces: this.#ca().certificate, certificate, key };
  }

  stageRetirement(tx: Transaction, ca: StateCa): void {
    if (ca.role !== 'previous' || this.#other(ca).role !== 'previous')
      throw new Error('PostgresState: only a previous CA is retired');
    this.#staged(tx).retire.push(ca.certificate.serialHex);
  }

  stageRootKey(tx: Transaction, key: CaKeyReference | undefined): void {
    if (key) this.#refuseKey(key);
    this.#staged(tx).rootKey = { key };
  }

  stageCaKey(tx: Transaction, key: CaKeyReference): void {
    this.#ca();
    this.#refuseKey(key);
    this.#staged(tx).caKey = key;
  }

  /** Refuses a CA where the database holds one, and a CA key that is not encrypted. */
  #refuseCa(key: CaKeyReference): void {
    if (this.#state.ca) throw this.#caExists();
    this.#refuseKey(key);
  }

  /** CA_EXISTS: seen in the snapshot, or (`cause`) the `ca` row's key refusing a second CA at commit. */
  #caExists(cause?: unknown): MtlsCaError {
    return new MtlsCaError('CA_EXISTS', `create CA in ${this.location}: the database holds a CA already`, {
      detail: { kind: 'ca-exists-in-database' },
      cause,
    });
  }

  /** Refuses a CA key that is not encrypted. */
  #refuseKey(key: CaKeyReference): void {
    if (key.kind === 'pem' && !isEncryptedPrivateKey(key.pem)) {
      throw new MtlsCaError(
        'INVALID_ARGUMENT',
        `store the CA key in ${this.location}: it is not encrypted`,
        'a database holds the CA key only encrypted with the CA password',
      );
    }
  }

  appendInventory(tx: Transaction, events: InventoryEvent[]): void {
    this.#staged(tx).events.push(...events);
  }

  appendAudit(tx: Transaction, records: AuditRecord[], caKey: KeyObject): void {
    const p = this.#staged(tx);
    const a = this.#state.audit;
    const tail = p.tail ?? auditTailOf(a.last, a.head, () => a.count, caKey);
    const { lines, head, tail: next } = encodeAudit(tail, records, caKey);
    p.audit.push(...lines.split('\n').slice(0, -1));
    p.head = head.trimEnd();
    p.tail = next;
  }

  writeCrls(tx: Transaction, crls: readonly Crl[]): void {
    this.#staged(tx).crls = [...crls];
  }

  mergeUsersRoles(
    tx: Transaction,
    additions: Map<string, string[]>,
    base?: UsersFile,
  ): Map<string, string[]> {
    const p = this.#staged(tx);
    const users = base ?? this.#state.users;
    const result = new Map<string, string[]>();
    for (const [name, roles] of additions) {
      const merged = [...new Set([...(p.users.get(name) ?? users.users[name]?.roles ?? []), ...roles])];
      p.users.set(name, merged);
      result.set(name, merged);
    }
    return result;
  }

  /** Applies one transaction's changes in one database transaction (see the module comment). */
  async #commit(p: Pending): Promise<void> {
    try {
      await this.#transaction('write', async (q) => {
        if (p.ca) await insertCa(q, p.ca.certificate, p.ca.key);
        await this.#applyChain(q, p);
        if (p.caKey) {
          await q(`UPDATE ${SCHEMA}.ca SET key_pem = $1, key_uri = $2`, keyColumns(p.caKey));
        }
        await applyEvents(q, p.events);
        if (p.crls) await replaceCrls(q, p.crls);
        if (p.settings) {
          await q(
            `INSERT INTO ${SCHEMA}.settings (data) VALUES ($1::jsonb)
             ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data`,
            [JSON.stringify(p.settings)],
          );
        }
        if (p.users.size > 0) {
          await q(
            `INSERT INTO ${SCHEMA}.app_user (name, roles)
             SELECT name, roles FROM jsonb_to_recordset($1::jsonb) AS u(name text, roles jsonb)
             ON CONFLICT (name) DO UPDATE SET roles = EXCLUDED.roles`,
            [JSON.stringify([...p.users].map(([name, roles]) => ({ name, roles })))],
          );
        }
        if (p.audit.length > 0) {
          const first = p.tail!.lines - p.audit.length + 1;
          await q(`INSERT INTO ${SCHEMA}.audit (seq, line) SELECT * FROM unnest($1::bigint[], $2::text[])`, [
            p.audit.map((_, i) => String(first + i)),
            p.audit,
          ]);
          await q(
            `INSERT INTO ${SCHEMA}.audit_head (head) VALUES ($1)
             ON CONFLICT (id) DO UPDATE SET head = EXCLUDED.head`,
            [p.head],
          );
        }
      });
    } catch (e) {
      throw this.#commitFailure(e, p);
    }
    try {
      await this.load();
    } catch {
      // Committed: the command has done its work. Its later reads answer from the state read before.
    }
  }

  /** The staged changes of the CA's chain: its root, a rotation, retirements, the root's key. */
  async #applyChain(q: Query, p: Pending): Promise<void> {
    if (p.root) await insertOtherCa(q, { role: 'root', ...p.root });
    if (p.rotation) {
      const r = p.rotation;
      await q(
        `INSERT INTO ${SCHEMA}.other_ca (serial, role, certificate, key_pem, key_uri)
         SELECT $1, 'previous', certificate, key_pem, key_uri FROM ${SCHEMA}.ca WHERE certificate = $2`,
        [r.replaces.serialHex, r.replaces.der],
      );
      const { rowCount } = await q(
        `UPDATE ${SCHEMA}.ca SET certificate = $2, key_pem = $3, key_uri = $4, created_at = now()
         WHERE certificate = $1`,
        [r.replaces.der, r.certificate.der, ...keyColumns(r.key)],
      );
      // Only a writer that skipped the lock could have replaced it meanwhile; the lines staged were its.
      if (rowCount !== 1) throw new Error(`the CA ${r.replaces.subjectName} was replaced meanwhile`);
    }
    for (const serial of p.retire) {
      await q(
        `UPDATE ${SCHEMA}.other_ca SET role = 'retired', changed_at = now() WHERE serial = $1 AND role = 'previous'`,
        [serial],
      );
    }
    if (p.rootKey) {
      await q(
        `UPDATE ${SCHEMA}.other_ca SET key_pem = $1, key_uri = $2, changed_at = now() WHERE role = 'root'`,
        keyColumns(p.rootKey.key),
      );
    }
  }

  /** A failed commit in the user's terms: a serial or CA already there, or the database's unavailability. */
  #commitFailure(e: unknown, p: Pending): unknown {
    const err = e as { code?: string; constraint?: string; detail?: string };
    if (err.code === '23505' && err.constraint === 'certificate_serial_key') {
      const serial = /\(serial\)=\(([^)]*)\)/.exec(err.detail ?? '')?.[1] ?? 'a serial';
      return new MtlsCaError(
        'ALREADY_EXISTS',
        `record certificate ${serial} in ${this.location}: that serial is in the inventory already`,
        {
          hint: 'nothing was written; run the command again (a new certificate gets a new serial)',
          cause: e,
        },
      );
    }
    if (err.code === '23505' && err.constraint === 'ca_pkey') return this.#caExists(e);
    const failure = databaseFailure('commit to', this.location, e);
    if (failure instanceof MtlsCaError && failure.code === 'DATABASE_UNAVAILABLE' && p.events.length > 0) {
      // The connection may have dropped after the database committed: the command cannot tell.
      return new MtlsCaError(failure.code, failure.message, {
        hint: 'the change may or may not have been recorded: once the database is back, look in the inventory, then run the command again',
        cause: e,
      });
    }
    return failure;
  }

  /**
   * Moves a whole CA into this empty database in one transaction: its CA (key encrypted) and the other CAs
   * of its chain (root, previous, retired), inventory, CRLs, users and audit chain, the lines exactly as
   * signed. Before committing, the chain is read back and verified and the inventory counted; anything short
   * of the source is rolled back.
   * @param d - the CA as its store holds it; `others` its other CAs with the keys held; `crls` one per CA in
   *   force, in their order; `audit` its lines in order and its head's text
   * @throws MtlsCaError CA_EXISTS when the database holds a CA; TAMPERED when the chain does not verify
   */
  async importCa(d: {
    certificate: Certificate;
    key: CaKeyReference;
    others: OtherCa[];
    entries: InventoryEntry[];
    crls: readonly Crl[];
    users: UsersFile;
    settings: CaSettings;
    audit: { lines: string[]; head: string | undefined };
  }): Promise<void> {
    await this.lock(async () => {
      this.#refuseCa(d.key);
      for (const other of d.others) if (other.key) this.#refuseKey(other.key);
      try {
        await this.#transaction('write', async (q) => {
          await insertCa(q, d.certificate, d.key);
          for (const other of d.others) await insertOtherCa(q, other);
          await insertCertificates(q, d.entries);
          await replaceCrls(q, d.crls);
          await q(
            `INSERT INTO ${SCHEMA}.app_user (name, roles)
             SELECT name, roles FROM jsonb_to_recordset($1::jsonb) AS u(name text, roles jsonb)`,
            [
              JSON.stringify(
                Object.entries(d.users.users).map(([name, u]) => ({ name, roles: u.roles ?? [] })),
              ),
            ],
          );
          await q(`INSERT INTO ${SCHEMA}.settings (data) VALUES ($1::jsonb)`, [JSON.stringify(d.settings)]);
          await q(`INSERT INTO ${SCHEMA}.audit (seq, line) SELECT * FROM unnest($1::bigint[], $2::text[])`, [
            d.audit.lines.map((_, i) => String(i + 1)),
            d.audit.lines,
          ]);
          if (d.audit.head !== undefined)
            await q(`INSERT INTO ${SCHEMA}.audit_head (head) VALUES ($1)`, [d.audit.head.trimEnd()]);
          // Read back what the database now holds, inside the transaction: the chain and the inventory.
          const { lines, head } = await readChain(q);
          const chain = verifyAuditLines(lines, head, HEAD_NAME, auditSigners(d.certificate, d.others));
          const count = Number((await q(`SELECT count(*) AS n FROM ${SCHEMA}.certificate`)).rows[0]!.n);
          if (!chain.ok || lines.length !== d.audit.lines.length || count !== d.entries.length) {
            throw new MtlsCaError(
              'TAMPERED',
              `import into ${this.location}: what the database holds does not match the source (${chain.reason ?? `${count} of ${d.entries.length} certificates`})`,
              'nothing was imported',
            );
          }
        });
      } catch (e) {
        throw e instanceof MtlsCaError ? e : this.#commitFailure(e, noChanges());
      }
      await this.load();
    });
  }

  /**
   * Runs `fn` in one database transaction, rolled back when it throws: a consistent read of several
   * tables (`read`), or a change, which ends by bumping the state's version and NOTIFYing it (`write`).
   */
  async #transaction<T>(kind: 'read' | 'write', fn: (q: Query) => Promise<T>): Promise<T> {
    const q: Query = (text, values) => this.#client.query(text, values);
    await q(kind === 'read' ? 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY' : 'BEGIN');
    try {
      const result = await fn(q);
      if (kind === 'write') {
        const { rows } = await q(`UPDATE ${SCHEMA}.state SET version = version + 1 RETURNING version`);
        await q('SELECT pg_notify($1, $2)', [NOTIFY_CHANNEL, String(rows[0]!.version)]);
      }
      await q('COMMIT');
      return result;
    } catch (e) {
      await q('ROLLBACK').catch(() => {});
      throw e;
    }
  }

  async close(): Promise<void> {
    await this.#client.end().catch(() => {});
  }
}

/**
 * The database that holds a CA's state: its schema (`db migrate`, `db status`), and moving a CA directory
 * into it (`db import`). What the database keeps and promises is written in src/store/postgres/schema.ts.
 */
import { MtlsCaError } from '../pki/errors.js';
import { isEncryptedPrivateKey } from '../pki/keys.js';
import type { CaKeyReference } from '../store/ca-state.js';
import type { CaStore } from '../store/ca-store.js';
import { connect, databaseFailure, redactUrl } from '../store/postgres/driver.js';
import { migrate, SCHEMA, SCHEMA_VERSION, schemaVersion } from '../store/postgres/schema.js';
import { type OtherCa, PostgresState } from '../store/postgres/state.js';

export interface MigrateResult {
  database: string;
  from: number;
  to: number;
}

/**
 * Brings the database's tables to this mtls-ca's schema version (creating them in an empty database).
 * @param url - the database URL
 */
export async function migrateDatabase(url: string): Promise<MigrateResult> {
  const database = redactUrl(url);
  const client = await connect(url);
  try {
    return { database, ...(await migrate(client, database)) };
  } finally {
    await client.end().catch(() => {});
  }
}

export interface DatabaseStatus {
  database: string;
  /** The schema version found (0: no tables of mtls-ca), and the one this mtls-ca uses. */
  schema: { version: number; expected: number };
  /** The CA in the database, when there is one; `keyUri` where its key is, when a token holds it (no PIN). */
  ca?: { subject: string; notAfter: string; key: 'encrypted' | 'reference'; keyUri?: string };
  /** The rest of the CA's chain: the root of an intermediate (its key held or offline), CAs a rotation replaced. */
  chain?: { root?: { subject: string; key: 'held' | 'offline' }; previous: string[]; retired: number };
  certificates?: { total: number; revoked: number };
  auditLines?: number;
  /** Grows with every change; what servers are told on each commit. */
  stateVersion?: string;
}

/**
 * What the database holds: its schema version, and, when it is this mtls-ca's, the CA and counts.
 * @param url - the database URL
 */
export async function databaseStatus(url: string): Promise<DatabaseStatus> {
  const database = redactUrl(url);
  const client = await connect(url);
  try {
    const version = await schemaVersion(client);
    const status: DatabaseStatus = { database, schema: { version, expected: SCHEMA_VERSION } };
    if (version !== SCHEMA_VERSION) return status;
    const counts = (
      await client.query(
        `SELECT (SELECT count(*) FROM ${SCHEMA}.certificate) AS total,
                (SELECT count(*) FROM ${SCHEMA}.certificate WHERE revoked_at IS NOT NULL) AS revoked,
                (SELECT count(*) FROM ${SCHEMA}.audit) AS audit,
                (SELECT version FROM ${SCHEMA}.state) AS state`,
      )
    ).rows[0]!;
    status.certificates = { total: Number(counts.total), revoked: Number(counts.revoked) };
    status.auditLines = Number(counts.audit);
    status.stateVersion = String(counts.state);
    // The CA is read over the same connection: a second one is another login, which a remote database
    // (TLS, a password hash) makes the slowest step of this command.
    const state = await PostgresState.over(client, url);
    if (state.isInitialized()) {
      const ca = state.readCaCertificate();
      const key = state.readCaKey();
      status.ca = {
        subject: ca.subjectName,
        notAfter: ca.notAfter.toISOString(),
        ...(key.kind === 'pem' ? { key: 'encrypted' } : { key: 'reference', keyUri: key.uri }),
      };
      const cas = state.casInForce();
      const root = cas.find((c) => c.role === 'root');
      status.chain = {
        ...(root
          ? {
              root: {
                subject: root.certificate.subjectName,
                key: state.hasCaKey(root) ? 'held' : 'offline',
              },
            }
          : {}),
        previous: cas.filter((c) => c.role === 'previous').map((c) => c.certificate.subjectName),
        retired: state.retiredCas().length,
      };
    }
    return status;
  } catch (e) {
    throw databaseFailure('read', database, e);
  } finally {
    await client.end().catch(() => {});
  }
}

export interface DatabaseImportResult {
  database: string;
  ca: string;
  /** The CAs moved: the issuing CA, its root, previous and retired CAs. */
  cas: number;
  certificates: number;
  revoked: number;
  users: number;
  auditLines: number;
  crlNumber?: string;
}

/**
 * The CAs of a directory besides the issuing one — its root, those a rotation replaced, the retired ones —
 * with the keys it holds (a root's may be offline, and stays so).
 */
function otherCasOf(source: CaStore): OtherCa[] {
  const inForce = source.casInForce().slice(1);
  const retired = source.retiredCas().map((certificate) => {
    const pem = source.readArtifact(source.paths.retired(certificate.serialHex).key)?.toString('latin1');
    return { role: 'retired' as const, certificate, key: pem === undefined ? undefined : keyPem(pem) };
  });
  return [
    ...inForce.map((ca) => ({
      role: ca.role as OtherCa['role'],
      certificate: ca.certificate,
      key: source.hasCaKey(ca) ? source.readCaKey(ca) : undefined,
    })),
    ...retired,
  ];
}

const keyPem = (pem: string): CaKeyReference => ({ kind: 'pem', pem });

/**
 * Moves the CA of a directory into an empty database — the issuing CA (its key as encrypted in the
 * directory, or the URI of its key in a token) and the rest of its chain (root, CAs a rotation replaced, retired ones, with the keys the
 * directory holds), inventory, revocations, the CRLs and their numbers, users, settings, audit chain —
 * verified and all or nothing. The directory is only read. Refused: an audit log that does not verify, a CA
 * key that is not encrypted, a database that holds a CA.
 * @param source - the CA directory
 * @param url - the database URL
 */
export async function importIntoDatabase(source: CaStore, url: string): Promise<DatabaseImportResult> {
  source.assertInitialized();
  const key = source.readCaKey();
  const others = otherCasOf(source);
  for (const [ca, k] of [
    [source.readCaCertificate(), key] as const,
    ...others.map((o) => [o.certificate, o.key] as const),
  ]) {
    if (k?.kind === 'pem' && !isEncryptedPrivateKey(k.pem)) {
      throw new MtlsCaError(
        'INVALID_ARGUMENT',
        `import ${source.display(source.root)}: the key of ${ca.subjectName} is not encrypted, and a database holds CA keys only encrypted`,
        'encrypt it with a CA password first (openssl pkcs8 -topk8 -v2 aes-256-cbc)',
      );
    }
  }
  const verification = await source.verifyAudit();
  if (!verification.ok) {
    throw new MtlsCaError(
      'TAMPERED',
      `import ${source.display(source.paths.auditLog)}: ${verification.firstBadLine ? `line ${verification.firstBadLine} ` : ''}${verification.reason}`,
      'nothing was imported: a chain that does not verify would be moved as verified',
    );
  }
  return source.lock(async () => {
    const certificate = source.readCaCertificate();
    const entries = source.readInventory();
    const read = source.readCrls();
    const crls = typeof read === 'string' ? [] : read;
    const users = source.readUsers();
    const audit = await source.readAuditChain();
    const state = await PostgresState.open(url, { create: true });
    try {
      await state.importCa({
        certificate,
        key,
        others: otherCasOf(source),
        entries,
        crls,
        users,
        settings: source.readSettings(),
        audit,
      });
    } finally {
      await state.close();
    }
    return {
      database: redactUrl(url),
      ca: certificate.subjectName,
      cas: 1 + others.length,
      certificates: entries.length,
      revoked: entries.filter((e) => e.revokedAt).length,
      users: Object.keys(users.users).length,
      auditLines: audit.lines.length,
      ...(crls[0] ? { crlNumber: crls[0].crlNumber.toString() } : {}),
    };
  });
}

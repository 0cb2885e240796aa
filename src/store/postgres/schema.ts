/**
 * The tables mtls-ca keeps in a PostgreSQL database, in their own schema `mtls_ca`, and their versions.
 * Each entry of {@link MIGRATIONS} takes the schema one version up, in one transaction; `mtls_ca.schema`
 * records the version reached. `mtls-ca db migrate` (and `init --database-url`, on an empty database) applies
 * what is missing; every other command checks the version first and refuses an older schema (to migrate)
 * and a newer one (written by a newer mtls-ca).
 *
 * What the tables promise, enforced by the database itself so that no writer — another host, an older
 * mtls-ca, a hand-written query — can break it:
 *
 * - `ca`: the CA that issues, at most one row; its key is either an encrypted PKCS#8 PEM or a reference (a
 *   `pkcs11:` URI), never a plaintext key (CHECK).
 * - `other_ca` (version 2): the CA's other CAs, by serial, as a CA directory keeps them in `ca/`: the `root`
 *   that signed the issuing intermediate (at most one: a partial UNIQUE index), the CAs a rotation replaced
 *   (`previous`: in force, trusted until retired) and the `retired` ones (out of every trust file, kept because
 *   they signed audit lines of their day). A key as in `ca`, or none: a root taken offline (`root export`)
 *   leaves no key here.
 * - `certificate`: the inventory, one row per certificate; the serial is UNIQUE — serials are random 127-bit
 *   numbers chosen by the issuer, and the constraint, not a counter, is what keeps two hosts from ever
 *   recording the same one.
 * - `audit`: one signed, hash-chained line per operation, at its position `seq` (1, 2, …: the PRIMARY KEY, so
 *   two writers cannot take one place); `audit_head` the signed count and last hash (see audit.ts).
 * - `crl`: the current CRLs, one per CA in force at its `position` (0: the issuing CA's, then the root's, then
 *   the previous CAs', newest first, as `ca/crl.pem` holds them), each with its CRL number.
 * - `settings`: the CA's settings (settings.ts); `app_user`: users and their roles; `state`: a version that
 *   grows with every commit, announced with NOTIFY on {@link NOTIFY_CHANNEL} so servers hear of a revocation at once.
 */
import { MtlsCaError } from '../../pki/errors.js';
import { databaseFailure, type PgClient } from './driver.js';

export const SCHEMA = 'mtls_ca';

/** The channel every commit NOTIFYs, with the new state version as payload. */
export const NOTIFY_CHANNEL = 'mtls_ca_state';

/** Advisory lock key of migrations (writers use {@link WRITER_LOCK}): "mtls" and "mig" in ASCII. */
const MIGRATION_LOCK = 0x6d746c73_6d6967n;

/** Advisory lock key held by the one writer of the CA's state at a time: "mtls" and "ca" in ASCII. */
export const WRITER_LOCK = 0x6d746c73_6361n;

const MIGRATIONS: readonly string[] = [
  // 1: the CA, its inventory, CRL, users, audit chain and state version.
  `
  CREATE TABLE ${SCHEMA}.ca (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    certificate bytea NOT NULL,
    key_pem text CHECK (key_pem LIKE '-----BEGIN ENCRYPTED PRIVATE KEY-----%'),
    key_uri text,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((key_pem IS NULL) <> (key_uri IS NULL))
  );
  CREATE TABLE ${SCHEMA}.certificate (
    seq bigserial PRIMARY KEY,
    serial text NOT NULL UNIQUE,
    name text NOT NULL,
    profile text NOT NULL CHECK (profile IN ('ca', 'server', 'client', 'ocsp')),
    subject text NOT NULL,
    issuer text,
    key_type text NOT NULL,
    not_before timestamptz NOT NULL,
    not_after timestamptz NOT NULL,
    fingerprint text NOT NULL,
    issued_at timestamptz NOT NULL,
    files jsonb NOT NULL,
    revoked_at timestamptz,
    revocation_reason text,
    superseded_at timestamptz,
    superseded_by text
  );
  CREATE INDEX certificate_name ON ${SCHEMA}.certificate (name);
  CREATE TABLE ${SCHEMA}.crl (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    crl_number numeric NOT NULL,
    der bytea NOT NULL
  );
  CREATE TABLE ${SCHEMA}.settings (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    data jsonb NOT NULL CHECK (jsonb_typeof(data) = 'object')
  );
  CREATE TABLE ${SCHEMA}.app_user (
    name text PRIMARY KEY,
    roles jsonb NOT NULL
  );
  CREATE TABLE ${SCHEMA}.audit (
    seq bigint PRIMARY KEY CHECK (seq > 0),
    line text NOT NULL
  );
  CREATE TABLE ${SCHEMA}.audit_head (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    head text NOT NULL
  );
  CREATE TABLE ${SCHEMA}.state (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    version bigint NOT NULL DEFAULT 0
  );
  INSERT INTO ${SCHEMA}.state DEFAULT VALUES;
  `,
  // 2: the CA's chain — its root, the CAs a rotation replaced, retired ones — and one CRL per CA in force;
  // the CRL a version-1 database holds is its one CA's, at position 0.
  `
  CREATE TABLE ${SCHEMA}.other_ca (
    serial text PRIMARY KEY,
    role text NOT NULL CHECK (role IN ('root', 'previous', 'retired')),
    certificate bytea NOT NULL,
    key_pem text CHECK (key_pem LIKE '-----BEGIN ENCRYPTED PRIVATE KEY-----%'),
    key_uri text,
    changed_at timestamptz NOT NULL DEFAULT now(),
    CHECK (key_pem IS NULL OR key_uri IS NULL)
  );
  CREATE UNIQUE INDEX other_ca_one_root ON ${SCHEMA}.other_ca (role) WHERE role = 'root';
  ALTER TABLE ${SCHEMA}.crl ADD COLUMN position integer NOT NULL DEFAULT 0 CHECK (position >= 0);
  ALTER TABLE ${SCHEMA}.crl DROP COLUMN id;
  ALTER TABLE ${SCHEMA}.crl ALTER COLUMN position DROP DEFAULT;
  ALTER TABLE ${SCHEMA}.crl ADD PRIMARY KEY (position);
  `,
];

/** The schema version this mtls-ca reads and writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** The schema version of the database: 0 when mtls-ca's tables are not there. */
export async function schemaVersion(client: PgClient): Promise<number> {
  const found = await client.query(`SELECT to_regclass('${SCHEMA}.schema') IS NOT NULL AS present`);
  if (!found.rows[0]?.present) return 0;
  const { rows } = await client.query(`SELECT max(version) AS version FROM ${SCHEMA}.schema`);
  return Number(rows[0]?.version ?? 0);
}

/**
 * Refuses a database whose schema is not {@link SCHEMA_VERSION}: none (no CA there), older or newer.
 * @param location - the database, for messages
 */
export async function assertSchema(client: PgClient, location: string): Promise<void> {
  const found = await schemaVersion(client);
  if (found === SCHEMA_VERSION) return;
  if (found === 0) {
    throw new MtlsCaError('CA_NOT_INITIALIZED', `read ${location}: no CA in the database`, {
      detail: { kind: 'no-ca-in-database', location },
    });
  }
  throw new MtlsCaError(
    'UNSUPPORTED',
    `read ${location}: its tables are of schema version ${found}, this mtls-ca uses ${SCHEMA_VERSION}`,
    { detail: { kind: 'database-schema', found, expected: SCHEMA_VERSION } },
  );
}

export interface MigrationResult {
  from: number;
  to: number;
}

/**
 * Brings the schema to {@link SCHEMA_VERSION}, one transaction per version, holding an advisory lock so that
 * two hosts migrating at once apply each version once. A newer schema is left alone and refused.
 * @param location - the database, for messages
 * @param target - the version to stop at (default {@link SCHEMA_VERSION}): an older one makes the database an
 *   older mtls-ca made, to test the upgrade from it
 */
export async function migrate(
  client: PgClient,
  location: string,
  target = SCHEMA_VERSION,
): Promise<MigrationResult> {
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK.toString()]);
    try {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${SCHEMA}`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${SCHEMA}.schema (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
      );
      const from = await schemaVersion(client);
      if (from > SCHEMA_VERSION) await assertSchema(client, location);
      for (let v = from + 1; v <= target; v++) {
        await client.query('BEGIN');
        try {
          await client.query(MIGRATIONS[v - 1]!);
          await client.query(`INSERT INTO ${SCHEMA}.schema (version) VALUES ($1)`, [v]);
          await client.query('COMMIT');
        } catch (e) {
          await client.query('ROLLBACK').catch(() => {});
          throw e;
        }
      }
      return { from, to: Math.max(from, target) };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK.toString()]).catch(() => {});
    }
  } catch (e) {
    throw databaseFailure('migrate', location, e);
  }
}

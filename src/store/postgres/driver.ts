/**
 * The one adapter to node-postgres (`pg`): loaded with a dynamic import the first time a database URL is
 * used, so that a command on a CA directory never loads it. Every failure of the database that a user can
 * act on — it cannot be reached, refused the login, went away mid-command, ran out of space — becomes one
 * DATABASE_UNAVAILABLE error naming the database without its password; anything else is a bug and stays
 * an internal error.
 */
import type pg from 'pg';
import { MtlsCaError } from '../../pki/errors.js';

/** A row as node-postgres returns it: int8 and numeric as strings, bytea as Buffer, jsonb parsed. */
export type Row = Record<string, unknown>;

/** A node-postgres client (the types only: the module itself is loaded by {@link connect}). */
export type PgClient = pg.Client;

/** How long a connection attempt may take before the database counts as unreachable. */
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * The database URL as messages show it: without its password (one in the URL is better kept in
 * PGPASSWORD or ~/.pgpass, which node-postgres reads, but may be there).
 * @param url - a `postgres://` or `postgresql://` URL
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '';
    u.search = '';
    return u.toString().replace(/:@/, '@');
  } catch {
    return 'the database';
  }
}

/**
 * Refuses what is not a PostgreSQL URL, before anything is loaded.
 * @throws MtlsCaError INVALID_ARGUMENT
 */
export function assertDatabaseUrl(url: string): void {
  let u: URL | undefined;
  try {
    u = new URL(url);
  } catch {
    u = undefined;
  }
  if (!u || !['postgres:', 'postgresql:'].includes(u.protocol)) {
    throw new MtlsCaError(
      'INVALID_ARGUMENT',
      `use database ${redactUrl(url) === 'the database' ? 'URL' : redactUrl(url)}: not a postgres:// URL`,
      'it looks like postgres://user@host:5432/database',
    );
  }
}

/** SQLSTATE classes of failures a user resolves outside mtls-ca: connection, resources, operator, system. */
const UNAVAILABLE_CLASSES = ['08', '28', '3D', '53', '57', '58'];
const UNAVAILABLE_ERRNOS = [
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
];

/** Whether `e` is the database's unavailability (see the module comment), not a bug. */
export function isUnavailable(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  if (typeof code === 'string') {
    if (UNAVAILABLE_ERRNOS.includes(code)) return true;
    if (/^[0-9A-Z]{5}$/.test(code)) return UNAVAILABLE_CLASSES.includes(code.slice(0, 2));
  }
  // node-postgres words a dropped connection without a code.
  const message = (e as Error)?.message ?? '';
  return /Connection terminated|connection timeout|Client has encountered a connection error|not queryable/i.test(
    message,
  );
}

/**
 * `e` as DATABASE_UNAVAILABLE when it is the database's unavailability, else `e` itself.
 * @param action - what was being done: `connect to`, `commit to`
 * @param location - the database as {@link redactUrl} shows it
 */
export function databaseFailure(action: string, location: string, e: unknown): unknown {
  if (e instanceof MtlsCaError || !isUnavailable(e)) return e;
  const code = (e as { code?: string }).code;
  const cause = ((e as Error).message || code || 'failed').replace(/\s+/g, ' ');
  return new MtlsCaError('DATABASE_UNAVAILABLE', `${action} ${location}: ${cause}`, {
    hint: 'check that the database is running and the URL, user and password are right, then run the command again',
    cause: e,
  });
}

let loaded: Promise<typeof pg> | undefined;

/** node-postgres, imported once; a clear error when it is not installed. */
function loadPg(): Promise<typeof pg> {
  loaded ??= import('pg').then(
    (m) => m.default,
    (e: unknown) => {
      loaded = undefined;
      throw new MtlsCaError('UNSUPPORTED', 'load the PostgreSQL driver: the package pg is not installed', {
        hint: 'install it beside mtls-ca: npm install pg',
        cause: e,
      });
    },
  );
  return loaded;
}

/**
 * A connected client. Its `error` events (the server going away while it idles) are passed to `onError`
 * rather than crashing the process; the next query then fails with DATABASE_UNAVAILABLE.
 * @param url - the database URL
 * @param onError - told of a connection lost while idle (default: ignored until the next query)
 */
export async function connect(url: string, onError: (e: Error) => void = () => {}): Promise<PgClient> {
  assertDatabaseUrl(url);
  const pg = await loadPg();
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    application_name: 'mtls-ca',
    // A server that vanished without closing the connection (a network gone) is noticed, not waited on.
    keepAlive: true,
  });
  client.on('error', onError);
  try {
    await client.connect();
  } catch (e) {
    await client.end().catch(() => {});
    throw databaseFailure('connect to', redactUrl(url), e);
  }
  return client;
}

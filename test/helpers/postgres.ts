/**
 * The suite's PostgreSQL server (postgres-server.ts, started by the global setup) for test files: a fresh
 * database per caller, SQL as the superuser, and a describe block that needs the server.
 *
 * The SQL of a test file goes over one connection per database, kept until the file's describe block ends:
 * each new connection costs the server a backend process of its own (tens of milliseconds of CPU), and a
 * file that tampers with a database or checks its rows between commands made dozens of them.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, describe, inject, test } from 'vitest';
import type { PostgresServer } from './postgres-server.js';
import { inCi } from './tools.js';

export * from './postgres-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The suite's server, or undefined when PostgreSQL is not installed (outside CI). */
    postgres: PostgresServer | undefined;
  }
}

/**
 * A new, empty database on `server` (default: the suite's), for one test file or test; its URL.
 *
 * On a server without fsync (the suite's), the database is made by copying template1's files
 * (`STRATEGY = FILE_COPY`) rather than by PostgreSQL 15's default, which writes every page of the template
 * through shared buffers and into the WAL: several times the CPU per database. FILE_COPY checkpoints before
 * and after the copy, which costs flushes to disk only with fsync on, where it is the slower of the two.
 * @param server - default the server of the global setup
 */
export async function freshDatabase(server = inject('postgres')): Promise<string> {
  if (!server) throw new Error('no PostgreSQL server: see the global setup');
  const name = `t_${randomBytes(6).toString('hex')}`;
  // STRATEGY is PostgreSQL 15's; before it, every CREATE DATABASE copied files (bin is …/postgresql/<major>/bin)
  const major = Number(path.basename(path.dirname(server.bin)));
  const strategy = server.fast && major >= 15 ? ' STRATEGY = FILE_COPY' : '';
  await query(server.url, `CREATE DATABASE ${name}${strategy}`);
  return server.url.replace(/\/postgres$/, `/${name}`);
}

/** The connection of each database URL this file has queried (see the module comment). */
const connections = new Map<string, Promise<pg.Client>>();

/** The kept connection to `url`, opened on first use; one the server closed is forgotten, and opened anew. */
function connection(url: string): Promise<pg.Client> {
  let kept = connections.get(url);
  if (!kept) {
    kept = (async () => {
      const { default: pg } = await import('pg');
      const client = new pg.Client({ connectionString: url });
      // The server going away (a test that stops it) ends the connection: the next query opens another.
      const forget = () => {
        if (connections.get(url) === kept) connections.delete(url);
      };
      client.on('error', forget);
      client.on('end', forget);
      await client.connect();
      return client;
    })();
    kept.catch(() => connections.delete(url));
    connections.set(url, kept);
  }
  return kept;
}

/** Closes the kept connections. */
async function closeConnections(): Promise<void> {
  const open = [...connections.values()];
  connections.clear();
  await Promise.all(open.map((c) => c.then((client) => client.end()).catch(() => {})));
}

/** Runs SQL on a database (tampering with what mtls-ca wrote), as the superuser. */
export async function query(
  url: string,
  sql: string,
  values: unknown[] = [],
): Promise<Record<string, unknown>[]> {
  return (await (await connection(url)).query(sql, values)).rows as Record<string, unknown>[];
}

/**
 * A describe block that needs the suite's PostgreSQL server: without one (not installed), skipped with a
 * reason locally, a failing test under CI=true.
 */
export function describeWithPostgres(name: string, fn: () => void): void {
  if (inject('postgres')) {
    describe(name, () => {
      fn();
      // Registered last, so run before the block's other afterAll hooks (vitest runs them as a stack): the
      // connections end before a test's own server stops.
      afterAll(closeConnections);
    });
  } else if (inCi) {
    describe(name, () => {
      test('PostgreSQL is installed', () => {
        throw new Error('no PostgreSQL server under CI: .ci/run must install postgresql-15');
      });
    });
  } else {
    console.warn(`[skip] ${name}: PostgreSQL is not installed (Debian package postgresql-15)`);
    describe.skip(name, fn);
  }
}

/**
 * The suite's PostgreSQL server (postgres-server.ts, started by the global setup) for test files: a fresh
 * database per caller, SQL as the superuser, and a describe block that needs the server.
 */
import { randomBytes } from 'node:crypto';
import { describe, inject, test } from 'vitest';
import { type PostgresServer, superuserQuery } from './postgres-server.js';
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
 * @param server - default the server of the global setup
 */
export async function freshDatabase(server = inject('postgres')): Promise<string> {
  if (!server) throw new Error('no PostgreSQL server: see the global setup');
  const name = `t_${randomBytes(6).toString('hex')}`;
  await superuserQuery(server, `CREATE DATABASE ${name}`);
  return server.url.replace(/\/postgres$/, `/${name}`);
}

/** Runs SQL on a database (tampering with what mtls-ca wrote), as the superuser. */
export async function query(
  url: string,
  sql: string,
  values: unknown[] = [],
): Promise<Record<string, unknown>[]> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql, values)).rows as Record<string, unknown>[];
  } finally {
    await client.end();
  }
}

/**
 * A describe block that needs the suite's PostgreSQL server: without one (not installed), skipped with a
 * reason locally, a failing test under CI=true.
 */
export function describeWithPostgres(name: string, fn: () => void): void {
  if (inject('postgres')) {
    describe(name, fn);
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

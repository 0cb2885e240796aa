/**
 * Real PostgreSQL for the tests: a temporary server (Debian's postgresql-15 binaries, a data folder under the
 * OS temp dir, loopback only, a free port, a socket in the same folder), never the system's service. The
 * suite's global setup starts one for every file (postgres.ts gives each caller its own database in it); a
 * test that restarts or kills the server starts its own with {@link startPostgres}. No vitest here: the
 * global setup loads this file.
 *
 * PostgreSQL refuses to run as root: as root (CI), initdb and pg_ctl run as the `postgres` user through
 * runuser, and the temp folder is given to it.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { CACHE, cached, hash } from './cache.js';
import { freePort } from './ports.js';

const exec = promisify(execFile);

export interface PostgresServer {
  /** A superuser URL of the server's `postgres` database. */
  url: string;
  /** The folder of pg_ctl and initdb. */
  bin: string;
  dataDir: string;
  port: number;
  /** Durability traded for speed (see {@link startPostgres}). */
  fast: boolean;
}

/** The newest installed PostgreSQL's binaries, or undefined. */
export function findPostgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  let versions: string[];
  try {
    versions = fs.readdirSync(root).sort((a, b) => Number(b) - Number(a));
  } catch {
    return undefined;
  }
  for (const v of versions) {
    const bin = path.join(root, v, 'bin');
    if (fs.existsSync(path.join(bin, 'pg_ctl'))) return bin;
  }
  return undefined;
}

const asRoot = process.getuid?.() === 0;

/** Runs a PostgreSQL program, as the `postgres` user when this process is root. */
function pgRun(bin: string, program: string, args: string[]) {
  const file = path.join(bin, program);
  return asRoot ? exec('runuser', ['-u', 'postgres', '--', file, ...args]) : exec(file, args);
}

const INITDB_ARGS = ['-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'];

/**
 * A new cluster in `dataDir`: a copy (`cp -a`, owner and modes kept) of one initdb made once per PostgreSQL
 * version and kept between runs (test/helpers/cache.ts). initdb bootstraps the catalogs in a server of its
 * own, seconds on a busy machine; a copy of its 40 MB takes a fraction of one. Removing the `pg-*` folder of
 * the cache makes it anew; calling initdb here again undoes it.
 */
async function newCluster(bin: string, dataDir: string): Promise<void> {
  const { stdout: version } = await exec(path.join(bin, 'postgres'), ['--version']);
  const template = path.join(CACHE, `pg-${hash(bin, version, ...INITDB_ARGS, String(asRoot))}`);
  if (fs.existsSync(template)) {
    await exec('cp', ['-a', path.join(template, 'data'), dataDir]);
    return;
  }
  await pgRun(bin, 'initdb', ['-D', dataDir, ...INITDB_ARGS]);
  // Best effort: a cache that cannot be written costs the next cluster its initdb, nothing more.
  await cached(template, async (tmp) => {
    await exec('cp', ['-a', dataDir, path.join(tmp, 'data')]);
  }).catch(() => {});
}

/**
 * Creates and starts a temporary server; undefined when PostgreSQL is not installed.
 * @param o.fast - no fsync, no full-page writes, asynchronous commits: what the suite's server runs with,
 *   where no test crashes it and each file's CREATE DATABASE would otherwise wait for the disk (seconds on
 *   a busy machine). A test that crashes the server wants the real thing and leaves it out.
 * @returns the server, or undefined
 */
export async function startPostgres(o: { fast?: boolean } = {}): Promise<PostgresServer | undefined> {
  const bin = findPostgresBin();
  if (!bin) return undefined;
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'mtls-ca-pg-'));
  fs.chmodSync(base, 0o755);
  const dataDir = path.join(base, 'data');
  if (asRoot) await exec('chown', ['postgres:postgres', base]);
  await newCluster(bin, dataDir);
  const port = await freePort();
  const server = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    bin,
    dataDir,
    port,
    fast: o.fast ?? false,
  };
  await startServer(server);
  return server;
}

/**
 * No autovacuum on any test server: none lives longer than a run, their tables hold a few rows, and the
 * launcher would start a worker process in each database that has seen changes, round and round (a second
 * of CPU a minute with thirty databases, where the suite's server has more).
 */
function serverOptions(s: PostgresServer): string {
  const fast = s.fast ? ' -c fsync=off -c full_page_writes=off -c synchronous_commit=off' : '';
  return `-k ${path.dirname(s.dataDir)} -p ${s.port} -c listen_addresses=127.0.0.1 -c autovacuum=off${fast}`;
}

async function startServer(s: PostgresServer): Promise<void> {
  const log = path.join(path.dirname(s.dataDir), 'server.log');
  await pgRun(s.bin, 'pg_ctl', ['-D', s.dataDir, '-o', serverOptions(s), '-l', log, '-w', 'start']);
}

/**
 * `pg_ctl stop -m immediate`: the server stops as in a crash (no shutdown checkpoint; its sessions are cut);
 * {@link startAgain} brings it back, recovering from its WAL.
 */
export async function crashPostgres(s: PostgresServer): Promise<void> {
  await pgRun(s.bin, 'pg_ctl', ['-D', s.dataDir, '-m', 'immediate', '-w', 'stop']);
}

/** Starts a server stopped by {@link crashPostgres} again, on the same port; resolves once it accepts connections. */
export async function startAgain(s: PostgresServer): Promise<void> {
  await startServer(s);
}

/** Stops the server and removes its folder. */
export async function stopPostgres(s: PostgresServer): Promise<void> {
  await pgRun(s.bin, 'pg_ctl', ['-D', s.dataDir, '-m', 'fast', '-w', 'stop']).catch(() => {});
  fs.rmSync(path.dirname(s.dataDir), { recursive: true, force: true });
}

/** Runs SQL on the server's `postgres` database as the superuser. */
export async function superuserQuery(server: PostgresServer, sql: string): Promise<void> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: server.url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

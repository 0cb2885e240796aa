/**
 * The database store under faults, bounded and on loopback: two host directories on one database, four
 * issuing processes at once (`issue-client --from` batches, two per host), some killed with SIGKILL at a
 * random moment, and the database itself stopped as in a crash (`pg_ctl restart -m immediate`) mid-run.
 * Afterwards: no serial twice, every certificate on a host is in the database, every certificate in the
 * database has its audit line, the audit chain verifies; every command that failed said why in one line
 * (DATABASE_UNAVAILABLE), and running it again completes. The server is this file's own: the suite's is
 * shared, and this one is restarted.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { BIN, baseEnv, cli } from '../helpers/cli.js';
import {
  describeWithPostgres,
  type PostgresServer,
  query,
  restartImmediately,
  startPostgres,
  stopPostgres,
  superuserQuery,
} from '../helpers/postgres.js';
import { tempDir } from '../helpers/tools.js';
import { CA_PASSWORD } from './helpers.js';

const root = tempDir();
const ISSUERS = 4;
const BATCHES = 3;
const PER_BATCH = 6;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** The real binary; `killAfterMs` sends it SIGKILL then (if still running). */
function runBin(args: string[], env: Record<string, string>, killAfterMs?: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, [BIN, ...args], {
      env: baseEnv(env),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer =
      killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr });
    });
  });
}

describeWithPostgres('issuers on two hosts under kill -9 and a database crash', () => {
  let server: PostgresServer | undefined;
  let url: string;
  let env: Record<string, string>;
  const hosts = [path.join(root, 'host-a'), path.join(root, 'host-b')];

  beforeAll(async () => {
    server = await startPostgres();
    if (!server) throw new Error('PostgreSQL is installed but could not be started');
    await superuserQuery(server, 'CREATE DATABASE faults');
    url = server.url.replace(/\/postgres$/, '/faults');
    env = { MTLS_CA_PASSWORD: CA_PASSWORD, MTLS_CA_DATABASE_URL: url, MTLS_CA_STORE_PASSWORD: 'store-pass' };
    expect((await cli(['init', '--dir', hosts[0]!, '--ca-name', 'Faults CA'], env)).code).toBe(0);
    expect((await cli(['init', '--join', '--dir', hosts[1]!], env)).code).toBe(0);
  });
  afterAll(async () => {
    if (server) await stopPostgres(server);
  });

  test('no duplicate serial, nothing unrecorded, the chain whole; failures say why and a rerun completes', async () => {
    const batch = (issuer: number, b: number) => {
      const file = path.join(root, `batch-${issuer}-${b}.txt`);
      const names = Array.from({ length: PER_BATCH }, (_, k) => `i${issuer}b${b}n${k}`);
      fs.writeFileSync(file, names.map((n) => `${n} user\n`).join(''));
      return { file, names, dir: hosts[issuer % 2]! };
    };
    const batches = Array.from({ length: ISSUERS }, (_, i) =>
      Array.from({ length: BATCHES }, (_, b) => batch(i, b)),
    );
    // A fixed pattern of kills (every third batch, at staggered moments), so a failure can be replayed.
    const killAt = (i: number, b: number) =>
      (i + b) % 3 === 0 ? 150 + 90 * ((i * BATCHES + b) % 5) : undefined;
    const failed: (typeof batches)[number] = [];
    const outcomes: Run[] = [];
    // The database stops as in a crash once three batches have ended — the issuers are at work on the rest
    // — and comes back.
    let crashed: Promise<void> | undefined;
    const issuers = batches.map(async (mine, i) => {
      for (const [b, job] of mine.entries()) {
        const r = await runBin(['issue-client', '--from', job.file, '--dir', job.dir], env, killAt(i, b));
        outcomes.push(r);
        if (r.code !== 0) failed.push(job);
        if (outcomes.length === 3) crashed = restartImmediately(server!);
      }
    });
    await Promise.all(issuers);
    await crashed;

    expect(outcomes.some((r) => r.signal === 'SIGKILL')).toBe(true);
    expect(outcomes.some((r) => r.stderr.includes('(DATABASE_UNAVAILABLE)'))).toBe(true);
    for (const r of outcomes.filter((o) => o.code !== null && o.code !== 0)) {
      // one error line and a hint, naming the cause
      expect(r.stderr).toMatch(/^error: .* \((DATABASE_UNAVAILABLE|LOCKED)\)\nhint: .+\n$/);
    }
    // Run again what failed or was killed; --force replaces a name the database recorded before the kill.
    for (const job of failed) {
      const again = await runBin(['issue-client', '--from', job.file, '--dir', job.dir, '--force'], env);
      expect(again.stderr).toBe('');
      expect(again.code).toBe(0);
    }

    const rows = await query(url, 'SELECT serial, name, revoked_at, superseded_at FROM mtls_ca.certificate');
    const serials = rows.map((r) => r.serial as string);
    expect(new Set(serials).size).toBe(serials.length);
    const validNames = new Set(rows.filter((r) => !r.revoked_at && !r.superseded_at).map((r) => r.name));
    for (const job of batches.flat())
      for (const name of job.names) expect(validNames.has(name), name).toBe(true);
    // Every certificate file on a host is recorded.
    const recorded = new Set(serials);
    for (const dir of hosts) {
      for (const f of fs.readdirSync(path.join(dir, 'client')).filter((f) => f.endsWith('.crt'))) {
        const out = await cli(['inspect', path.join(dir, 'client', f), '--json']);
        const serial = out.json<{ certificates: { serial: string }[] }>().certificates[0]!.serial;
        expect(recorded.has(serial), `${dir}/client/${f}`).toBe(true);
      }
    }
    // Every certificate recorded has its audit line.
    const audited = new Set(
      (await query(url, 'SELECT line FROM mtls_ca.audit')).map(
        (r) => JSON.parse(r.line as string).serial as string,
      ),
    );
    for (const s of serials) expect(audited.has(s), s).toBe(true);
    const verified = await cli(['audit', 'verify', '--dir', hosts[0]!], env);
    expect(verified.code, verified.stderr).toBe(0);
  });
});

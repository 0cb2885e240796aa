/**
 * The database store under faults, bounded and on loopback: two host directories on one database, four
 * issuing processes at once (`issue-client --from` batches, two per host), some killed with SIGKILL mid-run,
 * and the database itself stopped as in a crash (`pg_ctl stop -m immediate`) while issuers are at work.
 * Afterwards: no serial twice, every certificate on a host is in the database, every certificate in the
 * database has its audit line, the audit chain verifies; every command that failed said why in one line
 * (DATABASE_UNAVAILABLE), and running it again completes. The server is this file's own: the suite's is
 * shared, and this one is crashed.
 *
 * Every fault waits for the state it is meant to hit, never for a time, so that neither a fast nor a slow
 * machine can make it miss: a process is killed once it holds its host's lock (its pid in the lock file), or
 * once the database has recorded its batch; the database comes back once an issuer has failed for want of it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { CA_PASSWORD } from '../helpers/ca-setup.js';
import { BIN, baseEnv, cli } from '../helpers/cli.js';
import { within } from '../helpers/poll.js';
import {
  crashPostgres,
  describeWithPostgres,
  type PostgresServer,
  query,
  startAgain,
  startPostgres,
  stopPostgres,
  superuserQuery,
} from '../helpers/postgres.js';
import { tempDir } from '../helpers/tools.js';

const root = tempDir();
const ISSUERS = 4;
const BATCHES = 3;
const PER_BATCH = 6;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

const isUnavailable = (r: Run) => r.stderr.includes('(DATABASE_UNAVAILABLE)');

interface Batch {
  file: string;
  names: string[];
  dir: string;
}

/**
 * When a process is killed: `locked`, as soon as it holds its host directory's lock (it has read the state
 * and goes on to wait for the database's writer lock, or to issue); `recorded`, as soon as the database holds
 * its batch, before its files have all landed on the host — unless it finishes first.
 */
type KillPoint = 'locked' | 'recorded';

/** Whether the lock file of `dir` names `pid` as its owner. */
function holdsLock(dir: string, pid: number): boolean {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, '.mtls-ca.lock'), 'utf8')).pid === pid;
  } catch {
    return false; // no lock, or one being written
  }
}

/** Whether the database holds a certificate for one of `names`; false while it cannot be reached. */
function anyRecorded(url: string, names: string[]): Promise<boolean> {
  // over the helpers' kept connection; the database may crash under this very query: that is an answer (false)
  return query(url, 'SELECT 1 FROM mtls_ca.certificate WHERE name = ANY($1)', [names]).then(
    (rows) => rows.length > 0,
    () => false,
  );
}

/** Waits for `point` in `child`'s run of `job` (or its end) and sends SIGKILL if it got there first. */
async function killAt(child: ChildProcess, ended: () => boolean, job: Batch, point: KillPoint, url: string) {
  const pid = child.pid!;
  await within(60_000, 'the issuer holds its lock', () => ended() || holdsLock(job.dir, pid), 2);
  if (point === 'recorded')
    await within(
      60_000,
      'the batch is in the database',
      async () => ended() || (await anyRecorded(url, job.names)),
      5,
    );
  if (!ended()) child.kill('SIGKILL');
}

/** The real binary on `job`; with `kill`, killed at that point of its run (see {@link KillPoint}). */
function runBin(
  args: string[],
  env: Record<string, string>,
  kill?: { job: Batch; point: KillPoint },
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, [BIN, ...args], {
      env: baseEnv(env),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    let ended = false;
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('exit', () => {
      ended = true;
    });
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
    if (kill) void killAt(child, () => ended, kill.job, kill.point, env.MTLS_CA_DATABASE_URL!);
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
    const batch = (issuer: number, b: number): Batch => {
      const file = path.join(root, `batch-${issuer}-${b}.txt`);
      const names = Array.from({ length: PER_BATCH }, (_, k) => `i${issuer}b${b}n${k}`);
      fs.writeFileSync(file, names.map((n) => `${n} user\n`).join(''));
      return { file, names, dir: hosts[issuer % 2]! };
    };
    const batches = Array.from({ length: ISSUERS }, (_, i) =>
      Array.from({ length: BATCHES }, (_, b) => batch(i, b)),
    );
    // A fixed pattern of kills (every third batch, at either point), so a failure can be replayed.
    const killPoint = (i: number, b: number): KillPoint | undefined =>
      (i + b) % 3 === 0 ? (i % 2 === 0 ? 'locked' : 'recorded') : undefined;
    const failed: Batch[] = [];
    const outcomes: Run[] = [];
    // The database stops as in a crash once three batches have ended, one of them killed — the issuers are
    // at work on the rest — and comes back once an issuer has failed for want of it.
    let crashed: Promise<void> | undefined;
    let heardUnavailable!: () => void;
    const unavailable = new Promise<void>((resolve) => {
      heardUnavailable = resolve;
    });
    let issuersEnded!: () => void;
    const ended = new Promise<void>((resolve) => {
      issuersEnded = resolve;
    });
    const crash = async (s: PostgresServer) => {
      await crashPostgres(s);
      // Should every issuer end without meeting the outage, the assertion below says so.
      await Promise.race([unavailable, ended]);
      await startAgain(s);
    };
    // Once an issuer has failed for want of the database, the others wait for it to be back before their
    // next batch, as an operator would: batches failing one after another while it starts prove no more.
    const back = () => (crashed && outcomes.some(isUnavailable) ? crashed : undefined);
    const issuers = batches.map(async (mine, i) => {
      for (const [b, job] of mine.entries()) {
        await back();
        const point = killPoint(i, b);
        const r = await runBin(
          ['issue-client', '--from', job.file, '--dir', job.dir],
          env,
          point && { job, point },
        );
        outcomes.push(r);
        if (r.code !== 0) failed.push(job);
        if (isUnavailable(r)) heardUnavailable();
        if (!crashed && outcomes.length >= 3 && outcomes.some((o) => o.signal === 'SIGKILL'))
          crashed = crash(server!);
      }
    });
    await Promise.all(issuers);
    issuersEnded();
    await crashed;

    expect(outcomes.some((r) => r.signal === 'SIGKILL')).toBe(true);
    expect(outcomes.some(isUnavailable)).toBe(true);
    for (const r of outcomes.filter((o) => o.code !== null && o.code !== 0)) {
      // one error line and a hint, naming the cause
      expect(r.stderr).toMatch(/^error: .* \((DATABASE_UNAVAILABLE|LOCKED)\)\nhint: .+\n$/);
    }
    // Run again what failed or was killed; --force replaces a name the database recorded before the kill.
    // One after another and in this process (main()): what is claimed is that the state a kill or the crash
    // left behind — a dead process's lock file, a batch recorded without its files — lets the command
    // complete; how processes race is what the batches above prove, each run a process of its own.
    for (const job of failed) {
      const r = await cli(['issue-client', '--from', job.file, '--dir', job.dir, '--force'], env);
      expect([r.code, r.stderr], job.file).toEqual([0, '']);
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

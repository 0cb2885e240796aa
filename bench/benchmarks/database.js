/**
 * 8. The CA in PostgreSQL: a temporary PostgreSQL server of its own (Debian's postgresql binaries, a data
 * folder in the temp dir, loopback, a free port; as the `postgres` user when run as root), then
 *
 *   - batch issuance: `issue-client --from` with 1,000 ecdsa-p256 clients into a fresh CA whose state is in
 *     the database (`init --database-url`, a fresh database each repetition) against the same batch into a
 *     fresh CA directory, alternating; the ratio is the database store's rate over the file store's;
 *   - the same batch into a database CA whose key is in SoftHSM 2 (`init --database-url --ca-key pkcs11:…`)
 *     against the database CA with its encrypted key, in the same rounds; and
 *   - revocation propagation: three `serve --database-url` processes on their own host directories
 *     (`init --join`), then one client after another revoked on host A (`mtls-ca revoke`, a process), and for
 *     each the time from the revoke process's exit to the first refused handshake at each server (new
 *     connections every 10 ms); median and p99 over every server and revocation.
 *
 * Output checked: the database's inventory holds every client of the batch; every revoked client was served
 * before its revocation and refused after it by all three servers.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { softHsm } from '../lib/softhsm.js';
import {
  BIN,
  CLI_ENV,
  cli,
  freePort,
  onCleanup,
  startProcess,
  summarize,
  tempDir,
  waitForLog,
} from '../lib/util.js';

const QUICK = process.env.BENCH_QUICK === '1';
const CLIENTS = QUICK ? 100 : 1_000;
const REPS = QUICK ? 1 : 3;
const REVOCATIONS = QUICK ? 10 : 50;
const SERVERS = 3;

/** A temporary PostgreSQL server; stopped and removed at clean-up. Throws when PostgreSQL is not installed. */
async function startPostgres(base) {
  const versions = fs.existsSync('/usr/lib/postgresql') ? fs.readdirSync('/usr/lib/postgresql') : [];
  const bin = versions
    .map((v) => path.join('/usr/lib/postgresql', v, 'bin'))
    .find((b) => fs.existsSync(path.join(b, 'pg_ctl')));
  if (!bin) throw new Error('PostgreSQL is not installed (Debian package postgresql-15)');
  const root = process.getuid() === 0;
  const pg = (program, args) =>
    root
      ? execFileSync('runuser', ['-u', 'postgres', '--', path.join(bin, program), ...args], { stdio: 'pipe' })
      : execFileSync(path.join(bin, program), args, { stdio: 'pipe' });
  const dir = path.join(base, 'pg');
  fs.mkdirSync(dir, { mode: 0o755 });
  fs.chmodSync(base, 0o755);
  if (root) execFileSync('chown', ['postgres:postgres', dir]);
  const data = path.join(dir, 'data');
  pg('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  const port = await freePort();
  pg('pg_ctl', [
    '-D',
    data,
    '-o',
    `-k ${dir} -p ${port} -c listen_addresses=127.0.0.1`,
    '-l',
    path.join(dir, 'log'),
    '-w',
    'start',
  ]);
  onCleanup(() => {
    try {
      pg('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
    } catch {}
  });
  let n = 0;
  const psql = path.join(bin, 'psql');
  const sql = (db, text) => {
    const r = spawnSync(
      psql,
      ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', db, '-Atc', text],
      {
        encoding: 'utf8',
      },
    );
    if (r.status !== 0) throw new Error(`psql: ${r.stderr}`);
    return r.stdout.trim();
  };
  return {
    sql,
    /** A new, empty database; its URL. */
    database() {
      const name = `bench_${n++}`;
      sql('postgres', `CREATE DATABASE ${name}`);
      return { url: `postgres://postgres@127.0.0.1:${port}/${name}`, name };
    },
  };
}

/** GET /customer/1 on a new connection with a client certificate: true when served, false when refused. */
function served(url, ca, client) {
  return new Promise((resolve) => {
    const req = https.get(
      `${url}/customer/1`,
      { ca, cert: client.cert, key: client.key, agent: false, servername: 'localhost' },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
      },
    );
    req.on('error', () => resolve(false));
    req.setTimeout(5_000, () => req.destroy());
  });
}

async function refusedWithin(boundMs, url, ca, client) {
  const start = performance.now();
  for (;;) {
    if (!(await served(url, ca, client))) return performance.now() - start;
    if (performance.now() - start > boundMs)
      throw new Error(`${url} still serves a revoked client after ${boundMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function p99(values) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.ceil(0.99 * s.length) - 1];
}

export async function run() {
  const base = tempDir('database');
  const pg = await startPostgres(base);
  const list = path.join(base, 'clients.txt');
  fs.writeFileSync(list, Array.from({ length: CLIENTS }, (_, i) => `user${i + 1} user\n`).join(''));

  const hsm = softHsm(base);

  // ---- batch issuance: file store vs database store (its key encrypted there, or in the token),
  // alternating, after one smaller unmeasured round
  const batch = (rep, useDb, inToken = false) => {
    const name = `${useDb ? 'db' : 'file'}${inToken ? '-token' : ''}-${rep}`;
    const dir = path.join(base, name);
    const db = useDb ? pg.database() : undefined;
    const env = db ? { ...hsm.env, MTLS_CA_DATABASE_URL: db.url } : CLI_ENV;
    if (inToken) hsm.initToken(name);
    const caKey = inToken ? ['--ca-key', `pkcs11:token=${name};object=ca-key`] : [];
    cli(['init', '--dir', dir, '--ca-name', 'bench database', '--key-type', 'ecdsa-p256', ...caKey], { env });
    if (db && inToken && pg.sql(db.name, 'SELECT key_uri IS NOT NULL FROM mtls_ca.ca') !== 't')
      throw new Error(`database ${db.name}: the CA key is not in the token`);
    const { ms } = cli(['issue-client', '--from', rep === 'warm' ? small : list, '--dir', dir], { env });
    if (db && rep !== 'warm') {
      const count = Number(
        pg.sql(db.name, "SELECT count(*) FROM mtls_ca.certificate WHERE profile = 'client'"),
      );
      if (count !== CLIENTS) throw new Error(`database ${db.name}: ${count} clients, expected ${CLIENTS}`);
    }
    return ms;
  };
  const small = path.join(base, 'warm-up.txt');
  fs.writeFileSync(small, Array.from({ length: 100 }, (_, i) => `user${i + 1} user\n`).join(''));
  batch('warm', false);
  batch('warm', true);
  batch('warm', true, true);
  const fileMs = [];
  const dbMs = [];
  const tokenMs = [];
  for (let rep = 0; rep < REPS; rep++) {
    fileMs.push(batch(rep, false));
    dbMs.push(batch(rep, true));
    tokenMs.push(batch(rep, true, true));
  }
  const fileRate = summarize(
    fileMs.map((ms) => CLIENTS / (ms / 1000)),
    0,
  );
  const dbRate = summarize(
    dbMs.map((ms) => CLIENTS / (ms / 1000)),
    0,
  );
  const rateRatio = dbRate.median / fileRate.median;
  const tokenRate = summarize(
    tokenMs.map((ms) => CLIENTS / (ms / 1000)),
    0,
  );
  const tokenRatio = tokenRate.median / dbRate.median;

  // ---- revocation propagation to three servers
  const db = pg.database();
  const env = { ...CLI_ENV, MTLS_CA_DATABASE_URL: db.url };
  const hostA = path.join(base, 'host-a');
  cli(['init', '--dir', hostA, '--ca-name', 'bench propagation'], { env });
  const revokeList = path.join(base, 'revoke.txt');
  fs.writeFileSync(revokeList, Array.from({ length: REVOCATIONS }, (_, i) => `r${i} user\n`).join(''));
  cli(['issue-client', '--from', revokeList, '--dir', hostA], { env });
  const servers = [];
  for (let s = 0; s < SERVERS; s++) {
    const dir = path.join(base, `host-${s}`);
    cli(['init', '--join', '--dir', dir], { env });
    const port = await freePort();
    const logFile = path.join(base, `serve-${s}.log`);
    const proc = startProcess(process.execPath, [BIN, 'serve', '--dir', dir, '--port', String(port)], {
      env: { ...process.env, MTLS_CA_DATABASE_URL: db.url, NO_COLOR: '1' },
      logFile,
    });
    await waitForLog(logFile, /mtls-ca serve: https/, 1);
    servers.push({
      url: `https://127.0.0.1:${port}`,
      ca: fs.readFileSync(path.join(dir, 'ca/ca.crt')),
      proc,
    });
  }
  const latencies = [];
  try {
    for (let i = 0; i < REVOCATIONS; i++) {
      const client = {
        cert: fs.readFileSync(path.join(hostA, 'client', `r${i}.crt`)),
        key: fs.readFileSync(path.join(hostA, 'client', `r${i}.key`)),
      };
      for (const s of servers)
        if (!(await served(s.url, s.ca, client))) throw new Error(`r${i} refused before revocation`);
      cli(['revoke', `r${i}`, '--dir', hostA], { env });
      latencies.push(...(await Promise.all(servers.map((s) => refusedWithin(10_000, s.url, s.ca, client)))));
    }
  } finally {
    for (const s of servers) await s.proc.stop();
  }
  const lat = summarize(latencies, 0);
  const latP99 = p99(latencies);

  return {
    title: 'The CA in PostgreSQL: batch issuance against the file store, revocation propagation',
    method:
      `A temporary PostgreSQL server (${os.availableParallelism()} cores shared with everything else). Batch: ` +
      `${CLIENTS.toLocaleString('en')} ecdsa-p256 clients by \`issue-client --from\`, ${REPS} repetitions after one ` +
      'unmeasured round of 100, the file store (a fresh CA directory) and the database store (a fresh database, ' +
      '`init --database-url`) alternating, and in the same rounds a database CA whose key SoftHSM 2 holds ' +
      '(`init --database-url --ca-key pkcs11:…`); wall time of the process; the database checked to hold every client. ' +
      `Propagation: ${SERVERS} \`serve --database-url\` processes on their own joined host directories, ` +
      `${REVOCATIONS} clients revoked one after another by \`mtls-ca revoke\` on host A; for each server, the time ` +
      'from the revoke process exiting to the first refused new connection (polled every 10 ms)',
    rows: [
      {
        case: `issue-client --from ${CLIENTS.toLocaleString('en')}: database store vs file store (ratio: rate)`,
        ours: dbRate,
        theirs: fileRate,
        theirsName: 'the same batch into a CA directory',
        unit: 'clients/s',
        ratio: rateRatio,
        target: '>= 0.8x',
        met: rateRatio >= 0.8,
      },
      {
        case: `issue-client --from ${CLIENTS.toLocaleString('en')}, database store: CA key in SoftHSM 2 vs encrypted in the database (ratio: rate)`,
        ours: tokenRate,
        theirs: dbRate,
        theirsName: 'the same batch, the CA key encrypted in the database',
        unit: 'clients/s',
        ratio: tokenRatio,
        target: '>= 0.7x',
        met: tokenRatio >= 0.7,
      },
      {
        case: `revocation to refusal at ${SERVERS} servers, median (p99 ${Math.round(latP99)} ms)`,
        ours: lat,
        unit: 'ms',
        target: 'p99 <= 1000 ms',
        met: latP99 <= 1000,
      },
    ],
  };
}

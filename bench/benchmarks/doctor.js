/**
 * 9. `doctor`: how long a whole diagnosis takes on loopback, against `mtls-ca serve` (need mode) — the real
 * CLI from start to exit, with the time of the connection itself as the diagnosis reports it — next to curl
 * making the same one request with the same certificate. Cases: accepted (OK), no certificate (the server
 * closes after the handshake), a revoked certificate (refused, and the lint against the CRL says why); and
 * the lint of the CA directory. Target: every diagnosis under 2 s, the promise of `doctor --help`.
 */
import { spawnSync } from 'node:child_process';
import { startServe } from '../lib/servers.js';
import { BIN, CLI_ENV, cli, makeCa, NODE, summarize, timeRun } from '../lib/util.js';

const QUICK = process.env.BENCH_QUICK === '1';
const WARMUP = 2;
const RUNS = QUICK ? 3 : 20;
const TARGET_MS = 2000;

/** `mtls-ca doctor …args --json`: wall time, and the verdict and connection time it reports. */
function doctorRun(args, expectVerdict) {
  const start = process.hrtime.bigint();
  const r = spawnSync(NODE, [BIN, 'doctor', ...args, '--json'], { env: CLI_ENV, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const doc = JSON.parse(r.stdout);
  const verdict = doc.verdict ?? (doc.clean ? 'clean' : 'findings');
  if (verdict !== expectVerdict)
    throw new Error(`doctor ${args.join(' ')}: ${verdict}, not ${expectVerdict}\n${r.stdout}`);
  return { ms, connectionMs: doc.evidence?.timings.totalMs };
}

export async function run() {
  const ca = makeCa('doctor', 'ecdsa-p256', ['pavel', 'bob']);
  cli(['revoke', 'bob', '--dir', ca.dir]);
  // The lint of a directory as init and issue-client leave it: in `ca`, the revoked bob is still a user
  // without a certificate in use, which the lint rightly reports.
  const clean = makeCa('doctor-lint', 'ecdsa-p256', ['pavel']);
  const server = await startServe(ca);
  const url = `https://127.0.0.1:${server.port}/customer/1`;
  const cases = {
    'accepted (OK)': { args: [url, '--client', 'pavel', '--dir', ca.dir], verdict: 'OK' },
    'no certificate (closed after the handshake)': {
      args: [url, '--dir', ca.dir],
      verdict: 'NO_CLIENT_CERT',
    },
    'revoked (refused; the CRL says why)': {
      args: [url, '--client', 'bob', '--dir', ca.dir],
      verdict: 'CLIENT_CERT_REVOKED',
    },
    'the lint of the CA directory': { args: ['--dir', clean.dir], verdict: 'clean' },
  };
  const wall = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  const connection = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  const curl = [];
  const pavel = ca.client('pavel');
  const curlArgs = [
    '-sS',
    '-o',
    '/dev/null',
    '--cacert',
    ca.caCert,
    '--cert',
    pavel.cert,
    '--key',
    pavel.key,
    url,
  ];
  try {
    for (let i = 0; i < WARMUP + RUNS; i++) {
      for (const [name, c] of Object.entries(cases)) {
        const r = doctorRun(c.args, c.verdict);
        if (i >= WARMUP) {
          wall[name].push(r.ms);
          if (r.connectionMs !== undefined) connection[name].push(r.connectionMs);
        }
      }
      const t = timeRun('curl', curlArgs).ms;
      if (i >= WARMUP) curl.push(t);
    }
  } finally {
    await server.stop();
  }
  const theirs = summarize(curl);
  return {
    title: '`doctor`: a whole diagnosis on loopback, against `mtls-ca serve`',
    method: `${RUNS} rounds after ${WARMUP} warm-up rounds, each case in turn and then curl with pavel's certificate; wall time of the whole CLI process (spawnSync), ms; the connection's own time (connect, handshake, answer) from the diagnosis' evidence.timings.totalMs`,
    rows: Object.keys(cases).map((name) => {
      const ours = summarize(wall[name]);
      return {
        case: name,
        ours,
        theirs,
        theirsName: 'curl --cert, one GET',
        unit: 'ms',
        ratio: ours.median / theirs.median,
        target: `< ${TARGET_MS} ms`,
        met: ours.max < TARGET_MS,
      };
    }),
    table: {
      headers: ['case', 'whole command ms (median)', 'slowest ms', 'connection ms (median)'],
      columns: ['case', 'wall', 'max', 'connection'],
      rows: Object.keys(cases).map((name) => ({
        case: name,
        wall: Math.round(summarize(wall[name]).median),
        max: Math.round(summarize(wall[name]).max),
        connection: connection[name].length ? Math.round(summarize(connection[name]).median) : '—',
      })),
    },
  };
}

/**
 * 5. Keep-alive throughput: autocannon (separate process) with a client certificate, 50 connections,
 * GET /customer/1, against `mtls-ca serve`, `serve --workers 2`, a minimal Express 5 app, a bare
 * node:https server and nginx (`ssl_verify_client on`) with 1 and 2 workers — same certificates, same CA.
 * Every server runs for the whole benchmark; the rounds visit them in turn so drift hits all alike.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { roundRobin, startBare, startExpress, startNginx, startServe } from '../lib/servers.js';
import {
  makeCa,
  median,
  round,
  runJsonChild,
  sampleRss,
  summarize,
  treeCpuMs,
  verdict,
  waitForQuiet,
} from '../lib/util.js';

const LOAD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../clients/load.js');
const SPIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../clients/spin.js');

/**
 * How much a second CPU-bound process adds on this machine right now: hashes of two processes side by side
 * over those of one alone (2.0 on two free cores). Any `--workers 2` speed-up is bounded by it.
 */
async function parallelScaling() {
  const run = () => runJsonChild(SPIN, [JSON.stringify({ duration: QUICK ? 1 : 3 })], { timeoutMs: 30_000 });
  // Alone and side by side in turn, three times: one short lone run slowed by someone else read 2.38x once.
  const ratios = [];
  for (let i = 0; i < (QUICK ? 1 : 3); i++) {
    await waitForQuiet({ maxMs: 10_000 });
    const one = (await run()).hashes;
    const two = (await Promise.all([run(), run()])).reduce((n, r) => n + r.hashes, 0);
    ratios.push(two / one);
  }
  return round(median(ratios), 2);
}
const QUICK = process.env.BENCH_QUICK === '1';
export const ROUNDS = QUICK ? 1 : 3;
export const DURATION = QUICK ? 3 : 10;
const WARMUP = QUICK ? 1 : 2;
const CONNECTIONS = 50;
export const EXPECT = '{"id":1,"name":"Customer1"}';

/**
 * One measured autocannon run against `server`: a warm-up run (its errors count too), then the run itself,
 * with the peak RSS and the CPU time of the server's process tree during it. CPU per 1,000 requests does not
 * depend on how much of the 2 cores the load generator (or anyone else) takes, so it is the steadier number.
 */
export async function loadRun(server, ca) {
  const client = ca.client('pavel');
  const options = (duration) => [
    JSON.stringify({
      port: server.port,
      path: '/customer/1',
      cert: client.cert,
      key: client.key,
      connections: CONNECTIONS,
      duration,
      expect: EXPECT,
    }),
  ];
  // Other people's test runs share these 2 cores: start each run in a quiet moment, and record it.
  const quiet = await waitForQuiet({ maxMs: 10_000 });
  const warm = await runJsonChild(LOAD, options(WARMUP), {
    timeoutMs: (WARMUP + 30) * 1000,
    cpu: server.clientCpu,
  });
  const cpuBefore = treeCpuMs(server.pid);
  const rss = sampleRss(server.pid);
  try {
    const r = await runJsonChild(LOAD, options(DURATION), {
      timeoutMs: (DURATION + 30) * 1000,
      cpu: server.clientCpu,
    });
    const cpuMs = treeCpuMs(server.pid) - cpuBefore;
    return {
      ...r,
      errors: r.errors + warm.errors,
      timeouts: r.timeouts + warm.timeouts,
      mismatches: r.mismatches + warm.mismatches,
      non2xx: r.non2xx + warm.non2xx,
      rssMb: rss.stop(),
      serverCpuMsPer1k: cpuMs / (r.totalRequests / 1000),
      busyPercentBefore: quiet.busyPercent,
    };
  } finally {
    rss.stop();
  }
}

export async function run() {
  const scaling = await parallelScaling();
  const ca = makeCa('throughput');
  const starters = [
    ['serve', () => startServe(ca, 1)],
    ['serve2', () => startServe(ca, 2)],
    ['express', () => startExpress(ca)],
    ['bare', () => startBare(ca)],
    ['nginx1', () => startNginx(ca, 1)],
    ['nginx2', () => startNginx(ca, 2)],
  ];
  const { servers, runs } = await roundRobin(
    starters,
    ROUNDS,
    (server) => loadRun(server, ca),
    (server, r) =>
      `  throughput ${server.name}: ${Math.round(r.requestsPerSecond)} req/s, p99 ${r.latencyP99} ms, ` +
      `CPU ${round(r.serverCpuMsPer1k, 0)} ms/1k req, RSS ${Math.round(r.rssMb)} MB, errors ${r.errors + r.timeouts + r.mismatches + r.non2xx}\n`,
  );

  const stat = (key) => {
    const rs = runs[key];
    return {
      server: servers[key].name,
      requestsPerSecond: round(median(rs.map((r) => r.requestsPerSecond)), 0),
      samples: rs.map((r) => round(r.requestsPerSecond, 0)),
      latencyP99Ms: median(rs.map((r) => r.latencyP99)),
      serverCpuMsPer1k: round(median(rs.map((r) => r.serverCpuMsPer1k)), 0),
      clientCpuMsPer1k: round(median(rs.map((r) => r.clientCpuMsPer1k)), 0),
      rssMb: round(median(rs.map((r) => r.rssMb)), 0),
      errors: rs.reduce((n, r) => n + r.errors + r.timeouts + r.mismatches + r.non2xx, 0),
      totalRequests: rs.reduce((n, r) => n + r.totalRequests, 0),
    };
  };
  const table = starters.map(([key]) => stat(key));
  const by = Object.fromEntries(starters.map(([key], i) => [key, table[i]]));
  const errorsFree = table.every((t) => t.errors === 0);
  const row = (name, ours, theirs, theirsName, target, min) => {
    const ratio = ours.requestsPerSecond / theirs.requestsPerSecond;
    // The server's own cost ratio, independent of how much of the cores the client or anyone else took.
    const ratioByCpu = name.includes('workers') ? undefined : theirs.serverCpuMsPer1k / ours.serverCpuMsPer1k;
    return {
      case: name,
      ours: summarize(ours.samples, 0),
      theirs: summarize(theirs.samples, 0),
      theirsName,
      unit: 'req/s',
      ratio,
      ratioByCpu,
      target,
      ...verdict({ ratio, ratioByCpu, min, errors: ours.errors + theirs.errors }),
    };
  };
  // --workers 2 shares the cores with autocannon: at best it gets `scaling` cores of work for its two
  // workers and the client together, against one core for serve alone (pinned, the client on the other).
  const ceiling =
    (scaling * by.serve.serverCpuMsPer1k) / (by.serve2.serverCpuMsPer1k + by.serve2.clientCpuMsPer1k);
  return {
    title: 'Keep-alive throughput, GET /customer/1 with a client certificate',
    method:
      `autocannon 8 in its own process, ${CONNECTIONS} connections; single-process servers run on core 1 and ` +
      'autocannon on core 0 (taskset), while --workers 2 and nginx with 2 workers share both cores with ' +
      'autocannon; ' +
      `${WARMUP} s warm-up then ${DURATION} s, ${ROUNDS} rounds visiting every server in turn; median req/s ` +
      'and p99 over the rounds, peak RSS of the server process tree (primary + workers / master + workers), ' +
      'errors = errors + timeouts + body mismatches + non-2xx summed over all rounds. ' +
      `Parallel scaling of this machine in the same run: two CPU-bound processes side by side did ${scaling}x ` +
      'the work of one alone (median of 3 alternations) (2.0 would be two free cores). The ceiling of the ' +
      '--workers 2 row is that scaling times serve’s CPU per request over the CPU per request of the two ' +
      'workers and autocannon together: what the 2 cores can give when the load generator runs on them too.',
    rows: [
      row('serve vs minimal Express 5', by.serve, by.express, 'minimal Express 5', '>= 0.9x', 0.9),
      row(
        'serve --workers 2 vs serve',
        by.serve2,
        by.serve,
        'mtls-ca serve (1 worker)',
        `>= 1.5x (ceiling here: ${round(ceiling, 2)}x)`,
        1.5,
      ),
      row('serve vs bare node:https', by.serve, by.bare, 'bare node:https', 'none (on record)', 0),
      row('serve vs nginx (1 worker)', by.serve, by.nginx1, 'nginx 1 worker', 'none (on record)', 0),
      row(
        'serve --workers 2 vs nginx (2 workers)',
        by.serve2,
        by.nginx2,
        'nginx 2 workers',
        'none (on record)',
        0,
      ),
    ],
    table: {
      columns: [
        'server',
        'requestsPerSecond',
        'latencyP99Ms',
        'serverCpuMsPer1k',
        'clientCpuMsPer1k',
        'rssMb',
        'errors',
        'samples',
      ],
      headers: [
        'server',
        'req/s (median)',
        'p99 ms',
        'server CPU ms / 1k req',
        'autocannon CPU ms / 1k req',
        'RSS MB',
        'errors',
        'req/s per round',
      ],
      rows: table,
    },
    errorsFree,
    parallelScaling: scaling,
    workersCeiling: ceiling,
  };
}

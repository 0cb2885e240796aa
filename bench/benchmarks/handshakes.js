/**
 * 6. Full handshakes per second: every request on a new TLS connection (no keep-alive, no session
 * resumption), client certificate presented and verified, one GET /customer/1 read to the end. Against
 * `mtls-ca serve`, the same bare node:https server, the minimal Express app and nginx (1 worker).
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
import { EXPECT } from './throughput.js';

const CLIENT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../clients/handshakes.js');
const QUICK = process.env.BENCH_QUICK === '1';
export const ROUNDS = QUICK ? 1 : 3;
export const DURATION = QUICK ? 2 : 5;
export const CONCURRENCY = 16;

/** One measured run of the handshake client (after a 1 s warm-up run), with the server's CPU and RSS. */
export async function handshakeRun(server, ca) {
  const client = ca.client('pavel');
  const options = (duration) => [
    JSON.stringify({
      port: server.port,
      path: '/customer/1',
      cert: client.cert,
      key: client.key,
      ca: ca.caCert,
      concurrency: CONCURRENCY,
      duration,
      warmup: 0,
      expect: EXPECT,
    }),
  ];
  // Other people's test runs share these 2 cores: start each run in a quiet moment, and record it.
  const quiet = await waitForQuiet({ maxMs: 10_000 });
  const warm = await runJsonChild(CLIENT, options(1), { timeoutMs: 40_000, cpu: server.clientCpu });
  const cpuBefore = treeCpuMs(server.pid);
  const rss = sampleRss(server.pid);
  try {
    const r = await runJsonChild(CLIENT, options(DURATION), {
      timeoutMs: (DURATION + 40) * 1000,
      cpu: server.clientCpu,
    });
    const cpuMs = treeCpuMs(server.pid) - cpuBefore;
    return {
      ...r,
      errors: r.errors + warm.errors,
      errorKinds: { ...warm.errorKinds, ...r.errorKinds },
      rssMb: rss.stop(),
      serverCpuMsPerHandshake: cpuMs / r.completed,
      busyPercentBefore: quiet.busyPercent,
    };
  } finally {
    rss.stop();
  }
}

export function describeRun(server, r) {
  return (
    `  handshakes ${server.name}: ${Math.round(r.handshakesPerSecond)}/s, p99 ${round(r.latencyP99, 1)} ms, ` +
    `CPU ${round(r.serverCpuMsPerHandshake, 2)} ms/handshake, ` +
    `errors ${r.errors}${r.errors ? ` ${JSON.stringify(r.errorKinds)}` : ''}\n`
  );
}

export async function run() {
  const ca = makeCa('handshakes');
  const starters = [
    ['serve', () => startServe(ca, 1)],
    ['bare', () => startBare(ca)],
    ['express', () => startExpress(ca)],
    ['nginx1', () => startNginx(ca, 1)],
  ];
  const { servers, runs } = await roundRobin(
    starters,
    ROUNDS,
    (server) => handshakeRun(server, ca),
    describeRun,
  );
  const table = starters.map(([key]) => {
    const rs = runs[key];
    return {
      server: servers[key].name,
      handshakesPerSecond: round(median(rs.map((r) => r.handshakesPerSecond)), 0),
      samples: rs.map((r) => round(r.handshakesPerSecond, 0)),
      latencyP99Ms: round(median(rs.map((r) => r.latencyP99)), 1),
      serverCpuMsPerHandshake: round(median(rs.map((r) => r.serverCpuMsPerHandshake)), 2),
      rssMb: round(median(rs.map((r) => r.rssMb)), 0),
      errors: rs.reduce((n, r) => n + r.errors, 0),
    };
  });
  const by = Object.fromEntries(starters.map(([key], i) => [key, table[i]]));
  const row = (name, ours, theirs, theirsName, target, min) => {
    const ratio = ours.handshakesPerSecond / theirs.handshakesPerSecond;
    // The server's own cost ratio, independent of how much of the cores the client or anyone else took.
    const ratioByCpu = theirs.serverCpuMsPerHandshake / ours.serverCpuMsPerHandshake;
    return {
      case: name,
      ours: summarize(ours.samples, 0),
      theirs: summarize(theirs.samples, 0),
      theirsName,
      unit: 'handshakes/s',
      ratio,
      ratioByCpu,
      target,
      ...verdict({ ratio, ratioByCpu, min, errors: ours.errors + theirs.errors }),
    };
  };
  return {
    title: 'Full handshakes per second (new TLS connection + one request each)',
    method:
      `a Node client in its own process: ${CONCURRENCY} concurrent loops of https.get with agent: false ` +
      '(no keep-alive, no session resumption — checked with isSessionReused), client certificate, server ' +
      `verified against the CA, whole body compared; 1 s warm-up then ${DURATION} s, ${ROUNDS} rounds in turn; ` +
      'median. The client costs about as much CPU per handshake as the server; with taskset, each server ' +
      'runs on core 1 and the client on core 0 (see bench/lib/util.js).',
    rows: [
      row('serve vs bare node:https', by.serve, by.bare, 'bare node:https', '>= 0.9x', 0.9),
      row('serve vs nginx (1 worker)', by.serve, by.nginx1, 'nginx 1 worker', '>= 0.9x', 0.9),
      row('serve vs minimal Express 5', by.serve, by.express, 'minimal Express 5', 'none (on record)', 0),
    ],
    table: {
      columns: [
        'server',
        'handshakesPerSecond',
        'latencyP99Ms',
        'serverCpuMsPerHandshake',
        'rssMb',
        'errors',
        'samples',
      ],
      headers: [
        'server',
        'handshakes/s (median)',
        'p99 ms',
        'server CPU ms / handshake',
        'RSS MB',
        'errors',
        'per round',
      ],
      rows: table,
    },
  };
}

/**
 * Where `serve`'s keep-alive throughput goes, part by part (not in the default run; `node bench/run.js
 * serve-costs`). createMtlsServer as `serve` runs it, then with the access log written asynchronously in
 * batches, without an access log, and without a log and with users.json looked up from a copy refreshed
 * once a second instead of a stat() per request — against the minimal Express 5 app of the throughput
 * benchmark. Each step's gain is what the matching change in src/server would buy.
 */
import { startExpress, startMtls } from '../lib/servers.js';
import { makeCa, median, round, summarize } from '../lib/util.js';
import { DURATION, loadRun } from './throughput.js';

const QUICK = process.env.BENCH_QUICK === '1';
const ROUNDS = QUICK ? 1 : 2;

export async function run() {
  const ca = makeCa('serve-costs');
  const variants = [
    ['express', 'minimal Express 5', () => startExpress(ca)],
    ['default', 'createMtlsServer as serve runs it', () => startMtls(ca, { name: 'default' })],
    [
      'buffered',
      'access log buffered, async write',
      () => startMtls(ca, { name: 'buffered', log: 'buffered' }),
    ],
    ['nolog', 'no access log', () => startMtls(ca, { name: 'nolog', log: 'off' })],
    [
      'nolog-cached',
      'no access log + users.json cached 1 s',
      () => startMtls(ca, { name: 'nolog-cached', log: 'off', users: 'cached' }),
    ],
    [
      'buffered-cached',
      'access log buffered + users.json cached 1 s',
      () => startMtls(ca, { name: 'buffered-cached', log: 'buffered', users: 'cached' }),
    ],
  ];
  const servers = {};
  const runs = {};
  try {
    for (const [key, , start] of variants) {
      servers[key] = await start();
      runs[key] = [];
    }
    for (let r = 0; r < ROUNDS; r++) {
      for (const [key, label] of variants) {
        const res = await loadRun(servers[key], ca);
        runs[key].push(res);
        process.stderr.write(
          `  serve-costs ${label}: ${Math.round(res.requestsPerSecond)} req/s, CPU ${round(res.serverCpuMsPer1k, 0)} ms/1k, errors ${res.errors + res.non2xx + res.mismatches}\n`,
        );
      }
    }
  } finally {
    for (const s of Object.values(servers)) await s.stop();
  }
  const rate = (key) => median(runs[key].map((r) => r.requestsPerSecond));
  const cpu = (key) => median(runs[key].map((r) => r.serverCpuMsPer1k));
  const express = rate('express');
  return {
    title: 'Where serve’s throughput goes (experiment, not a target)',
    method:
      `the client and settings of the throughput benchmark (${DURATION} s per run, ${ROUNDS} rounds in turn); ` +
      'variants of createMtlsServer built in bench/servers/mtls.js from the exported createApp / createLogger / ' +
      'openUserDirectory, nothing in src/ changed; ratio against the minimal Express 5 app',
    rows: variants.slice(1).map(([key, label]) => ({
      case: label,
      ours: summarize(
        runs[key].map((r) => r.requestsPerSecond),
        0,
      ),
      theirs: summarize(
        runs.express.map((r) => r.requestsPerSecond),
        0,
      ),
      theirsName: 'minimal Express 5',
      unit: 'req/s',
      ratio: rate(key) / express,
      ratioByCpu: cpu('express') / cpu(key),
      target: 'none (experiment)',
      met: null,
    })),
  };
}

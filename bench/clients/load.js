/**
 * The keep-alive load generator, run as its own process so that it never shares an event loop with a
 * server: autocannon with a client certificate, N connections for D seconds of GET PATH.
 * Every response body must equal EXPECT (autocannon counts a difference as a mismatch).
 * Usage: node load.js '{"port":…,"cert":file,"key":file,"connections":50,"duration":10,"warmup":2,…}'
 * Prints one JSON object.
 */
import fs from 'node:fs';
import autocannon from 'autocannon';

const o = JSON.parse(process.argv[2]);
const cpuBefore = process.cpuUsage();
const result = await autocannon({
  url: `https://127.0.0.1:${o.port}${o.path}`,
  connections: o.connections,
  duration: o.duration,
  pipelining: 1,
  expectBody: o.expect,
  // autocannon sets rejectUnauthorized: false itself; the server still verifies *our* certificate.
  tlsOptions: { cert: fs.readFileSync(o.cert), key: fs.readFileSync(o.key), servername: 'localhost' },
});
const cpu = process.cpuUsage(cpuBefore);
process.stdout.write(
  `${JSON.stringify({
    // This process's own CPU per 1,000 requests: the load generator's share of the cores.
    clientCpuMsPer1k: (cpu.user + cpu.system) / 1000 / (result.requests.total / 1000),
    requestsPerSecond: result.requests.average,
    totalRequests: result.requests.total,
    latencyP50: result.latency.p50,
    latencyP99: result.latency.p99,
    latencyMax: result.latency.max,
    errors: result.errors,
    timeouts: result.timeouts,
    mismatches: result.mismatches,
    non2xx: result.non2xx,
    resets: result.resets,
    duration: result.duration,
  })}\n`,
);

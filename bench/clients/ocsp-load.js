/**
 * The load generator of the publish benchmark, run as its own process: C loops, each sending one request and
 * reading the whole answer before the next, for D seconds — on a new connection each time (`keepAlive`
 * false: nginx fetches OCSP answers so), or reusing connections the server keeps open (true: Java's
 * HttpURLConnection does). `openssl ocsp -port` answers HTTP/1.0 and closes every connection, so its clients
 * reconnect either way; and a connection dropped before its request is read stops it, so no loop is ever cut
 * off mid-request: after D seconds the loops finish the request they have in flight, and only then does this
 * process end.
 * Usage: node ocsp-load.js '{"url":…,"connections":10,"duration":10,"keepAlive":true,"bodiesFile":…|"headers":{…},"expectStatus":200}'
 * With `bodiesFile` (request bodies, base64, one a line) each request POSTs the next body; else it GETs with
 * `headers`. Prints one JSON object.
 */
import fs from 'node:fs';
import http from 'node:http';

const o = JSON.parse(process.argv[2]);
const bodies = o.bodiesFile
  ? fs
      .readFileSync(o.bodiesFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((b) => Buffer.from(b, 'base64'))
  : [];
const url = new URL(o.url);
const expectStatus = o.expectStatus ?? 200;
const agent = o.keepAlive ? new http.Agent({ keepAlive: true, maxSockets: o.connections }) : false;
let next = 0;
let ok = 0;
let unexpected = 0;
let errors = 0;
let bytes = 0;
const latencies = [];

function once() {
  return new Promise((resolve) => {
    const body = bodies.length > 0 ? bodies[next++ % bodies.length] : undefined;
    const start = performance.now();
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: body ? 'POST' : 'GET',
        agent,
        headers: body ? { 'content-type': 'application/ocsp-request', ...o.headers } : o.headers,
      },
      (res) => {
        res.on('data', (c) => {
          bytes += c.length;
        });
        res.on('end', () => {
          latencies.push(performance.now() - start);
          if (res.statusCode === expectStatus) ok++;
          else unexpected++;
          resolve();
        });
        res.on('error', () => {
          errors++;
          resolve();
        });
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
    req.on('error', () => {
      errors++;
      resolve();
    });
    req.end(body);
  });
}

const cpuBefore = process.cpuUsage();
const started = performance.now();
const deadline = started + o.duration * 1000;
await Promise.all(
  Array.from({ length: o.connections }, async () => {
    while (performance.now() < deadline) await once();
  }),
);
const seconds = (performance.now() - started) / 1000;
if (agent) agent.destroy();
const cpu = process.cpuUsage(cpuBefore);
latencies.sort((a, b) => a - b);
const total = ok + unexpected + errors;
process.stdout.write(
  `${JSON.stringify({
    clientCpuMsPer1k: (cpu.user + cpu.system) / 1000 / (total / 1000),
    requestsPerSecond: ok / seconds,
    totalRequests: total,
    latencyP50: latencies[Math.floor(latencies.length / 2)],
    latencyP99: latencies[Math.floor(latencies.length * 0.99)],
    errors,
    timeouts: 0,
    unexpected,
    bytesPerSecond: bytes / seconds,
  })}\n`,
);

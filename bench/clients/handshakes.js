/**
 * The full-handshake load generator, its own process: C concurrent loops, each opening a NEW TLS connection
 * (agent: false, so no keep-alive and no session resumption), presenting the client certificate, verifying
 * the server against our CA, sending one GET and reading the whole answer, for D seconds after a warm-up.
 * Usage: node handshakes.js '{"port":…,"cert":file,"key":file,"ca":file,"concurrency":16,"duration":5,…}'
 * Prints one JSON object: completed handshakes+requests per second, errors, p99 latency.
 */
import fs from 'node:fs';
import https from 'node:https';
import tls from 'node:tls';

const o = JSON.parse(process.argv[2]);
const secureContext = tls.createSecureContext({
  cert: fs.readFileSync(o.cert),
  key: fs.readFileSync(o.key),
  ca: fs.readFileSync(o.ca),
});

function once() {
  return new Promise((resolve) => {
    const start = process.hrtime.bigint();
    const req = https.get(
      {
        host: '127.0.0.1',
        port: o.port,
        path: o.path,
        servername: 'localhost',
        agent: false,
        secureContext,
        headers: { connection: 'close' },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => {
          const ok = res.statusCode === 200 && body === o.expect && !res.socket.isSessionReused();
          resolve({
            ok,
            ms: Number(process.hrtime.bigint() - start) / 1e6,
            error: ok ? undefined : `HTTP ${res.statusCode} ${body.slice(0, 80)}`,
          });
        });
        res.on('error', (e) => resolve({ ok: false, error: e.code ?? e.message }));
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ ok: false, error: e.code ?? e.message }));
  });
}

async function phase(seconds, record) {
  const end = Date.now() + seconds * 1000;
  const stats = { ok: 0, errors: 0, errorKinds: {}, latencies: [] };
  await Promise.all(
    Array.from({ length: o.concurrency }, async () => {
      while (Date.now() < end) {
        const r = await once();
        if (!record) continue;
        if (r.ok) {
          stats.ok++;
          stats.latencies.push(r.ms);
        } else {
          stats.errors++;
          stats.errorKinds[r.error] = (stats.errorKinds[r.error] ?? 0) + 1;
        }
      }
    }),
  );
  return stats;
}

await phase(o.warmup ?? 1, false);
const start = process.hrtime.bigint();
const s = await phase(o.duration, true);
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
s.latencies.sort((a, b) => a - b);
process.stdout.write(
  `${JSON.stringify({
    handshakesPerSecond: s.ok / seconds,
    completed: s.ok,
    errors: s.errors,
    errorKinds: s.errorKinds,
    latencyP99: s.latencies[Math.floor(s.latencies.length * 0.99)] ?? null,
    seconds,
  })}\n`,
);

/**
 * 8. Publishing revocation. `mtls-ca publish` against the standard OpenSSL responder (`openssl ocsp -index
 * … -port`) on the same CA, responder certificate and requests: OCSP answers per second without a nonce (what
 * nginx and Java send) and with a fresh nonce each (what `openssl ocsp` sends). The time from a revocation's
 * commit to the responder's first "revoked" answer. And a 100,000-entry CRL at /crl: full GETs against
 * conditional GETs (If-None-Match → 304), what a server polling for a new CRL costs.
 *
 * The OCSP answers are measured with two load generators: ours in Node (clients/ocsp-load.js) and ab, a C
 * one, which leaves the server core's rate to the server rather than to the client; and beside both
 * responders runs the floor of any Node responder (servers/ocsp-fixed.js: node:http sending fixed bytes).
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Certificate } from '../../dist/pki/certificate.js';
import { Crl, createCrl } from '../../dist/pki/crl.js';
import * as der from '../../dist/pki/der.js';
import { encodeExtension } from '../../dist/pki/extensions.js';
import { parsePrivateKey } from '../../dist/pki/keys.js';
import { isOcspResponseSignedBy, parseOcspResponse } from '../../dist/pki/ocsp.js';
import { OID } from '../../dist/pki/oids.js';
import { readInventory } from '../../dist/store/inventory.js';
import {
  BIN,
  CA_PASSWORD,
  CLI_ENV,
  CLIENT_CPU,
  canPin,
  cli,
  freePort,
  makeCa,
  median,
  NODE,
  round,
  runJsonChild,
  SERVER_CPU,
  startProcess,
  summarize,
  tempDir,
  treeCpuMs,
  verdict,
  waitForLog,
  waitForPort,
  waitForQuiet,
} from '../lib/util.js';

const QUICK = process.env.BENCH_QUICK === '1';
const ROUNDS = QUICK ? 1 : 3;
const DURATION = QUICK ? 3 : 10;
const WARMUP = QUICK ? 1 : 2;
const CONNECTIONS = 10;
const REVOCATIONS = QUICK ? 3 : 10;
const CRL_ENTRIES = 100_000;
/** The request mixes measured: name, request bodies, whether the client keeps connections. */
const KINDS = [
  ['keep-alive', 'single', true],
  ['new-connection', 'single', false],
  ['nonce', 'nonces', true],
];
const HERE = path.dirname(fileURLToPath(import.meta.url));
const LOAD = path.resolve(HERE, '../clients/ocsp-load.js');
const FIXED = path.resolve(HERE, '../servers/ocsp-fixed.js');
/** ab (Debian apache2-utils): the C load generator; without it its rows are left out, with a message. */
const AB = '/usr/bin/ab';
/** GNU time (Debian time), for ab's own CPU time; without it that column stays empty. */
const TIME = '/usr/bin/time';

/** An OCSPRequest for one serial of `ca`, SHA-1 CertID as every client sends it, with a nonce if given. */
function ocspRequest(ca, serialHex, nonce) {
  const key = der.bitsOf(der.decode(ca.spki).children[1]);
  const certId = der.sequence(
    der.sequence(der.oid(OID.sha1), der.nullValue()),
    der.octetString(crypto.createHash('sha1').update(ca.subjectDer).digest()),
    der.octetString(crypto.createHash('sha1').update(key).digest()),
    der.integer(Buffer.from(serialHex, 'hex')),
  );
  const extensions = nonce
    ? [
        der.explicit(
          2,
          der.sequence(
            encodeExtension({ oid: OID.ocspNonce, critical: false, value: der.octetString(nonce) }),
          ),
        ),
      ]
    : [];
  return der.sequence(der.sequence(der.sequence(der.sequence(certId)), ...extensions));
}

/** openssl ca's index.txt for the CA's inventory: V (valid) or R (revoked, with date and reason) per serial. */
function opensslIndex(dir, file) {
  const t = (iso) => {
    const s = new Date(iso).toISOString();
    return `${s.slice(2, 4)}${s.slice(5, 7)}${s.slice(8, 10)}${s.slice(11, 13)}${s.slice(14, 16)}${s.slice(17, 19)}Z`;
  };
  const lines = readInventory(path.join(dir, 'ca/inventory.jsonl')).map((e) => {
    const revoked = e.revokedAt
      ? `${t(e.revokedAt)}${e.revocationReason && e.revocationReason !== 'unspecified' ? `,${e.revocationReason}` : ''}`
      : '';
    return [
      e.revokedAt ? 'R' : 'V',
      t(e.notAfter),
      revoked,
      e.serial.toUpperCase(),
      'unknown',
      `/${e.subject}`,
    ].join('\t');
  });
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
}

function post(port, urlPath, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: urlPath, method: 'POST', agent: false },
      (res) => {
        const parts = [];
        res.on('data', (c) => parts.push(c));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(parts) }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Checks that a server answers `body` with a signed response saying `expected` for the one certificate. */
async function checkAnswer(server, body, expected, responder) {
  const r = await post(server.port, server.ocspPath, body);
  const parsed = parseOcspResponse(r.body);
  const status = parsed.responses[0]?.status.status;
  if (r.status !== 200 || status !== expected || !isOcspResponseSignedBy(parsed, responder)) {
    throw new Error(
      `${server.name} answered ${r.status} ${parsed.status} ${status}, not a signed "${expected}"`,
    );
  }
}

async function loadRun(server, options) {
  const args = (duration) => [JSON.stringify({ connections: CONNECTIONS, ...options, duration })];
  const quiet = await waitForQuiet({ maxMs: 10_000 });
  await runJsonChild(LOAD, args(WARMUP), { timeoutMs: (WARMUP + 30) * 1000, cpu: server.clientCpu });
  const cpuBefore = treeCpuMs(server.pid);
  const r = await runJsonChild(LOAD, args(DURATION), {
    timeoutMs: (DURATION + 30) * 1000,
    cpu: server.clientCpu,
  });
  const cpuMs = treeCpuMs(server.pid) - cpuBefore;
  return {
    ...r,
    serverCpuMsPer1k: cpuMs / (r.totalRequests / 1000),
    busyPercentBefore: quiet.busyPercent,
  };
}

function describeRun(name, r) {
  return `    ${name}: ${round(r.requestsPerSecond, 0)} req/s, server ${round(r.serverCpuMsPer1k, 1)} ms CPU/1k, errors ${r.errors + r.timeouts + r.unexpected}\n`;
}

/**
 * `n` requests by ab: CONNECTIONS at a time, each POSTing `derFile`, connections kept where the server keeps
 * them (-k; `openssl ocsp` closes each, and ab opens another). Every answer's HTTP status is counted; ab's
 * "length" failures are not errors (an ECDSA signature is 70 to 72 bytes, so freshly signed answers differ in
 * length). `-s 10`: a server that stops answering fails the run in 10 s instead of ab's default 30.
 */
function ab(server, derFile, n) {
  const url = `http://127.0.0.1:${server.port}${server.ocspPath}`;
  const abArgs = ['-q', '-k', '-s', '10', '-c', String(CONNECTIONS), '-n', String(n), '-p', derFile];
  abArgs.push('-T', 'application/ocsp-request', url);
  const timed = fs.existsSync(TIME) ? [TIME, '-f', 'cpu %U %S', AB, ...abArgs] : [AB, ...abArgs];
  const [cmd, ...args] = server.clientCpu ? ['taskset', '-c', server.clientCpu, ...timed] : timed;
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: (DURATION + 60) * 1000 });
  const field = (re) => Number(re.exec(r.stdout)?.[1] ?? 0);
  const complete = field(/Complete requests:\s+(\d+)/);
  const seconds = field(/Time taken for tests:\s+([\d.]+)/);
  if (r.status !== 0 || complete === 0 || seconds === 0) {
    const log = fs.existsSync(server.logFile) ? fs.readFileSync(server.logFile, 'utf8').slice(-1000) : '';
    throw new Error(
      `ab against ${server.name} failed (${r.status ?? r.signal}): ${r.stderr}${r.stdout}\n${log}`,
    );
  }
  const unexpected = field(/Non-2xx responses:\s+(\d+)/);
  const failed = /\(Connect: (\d+), Receive: (\d+), Length: \d+, Exceptions: (\d+)\)/.exec(r.stdout);
  const cpu = /cpu ([\d.]+) ([\d.]+)/.exec(r.stderr);
  return {
    requestsPerSecond: (complete - unexpected) / seconds,
    totalRequests: complete,
    clientCpuMsPer1k: cpu ? ((Number(cpu[1]) + Number(cpu[2])) * 1000) / (complete / 1000) : undefined,
    errors: failed ? Number(failed[1]) + Number(failed[2]) + Number(failed[3]) : 0,
    timeouts: 0,
    unexpected,
  };
}

/**
 * ab for about DURATION seconds: a counted run, not `ab -t`, which ends by dropping the requests in flight
 * (and a connection dropped mid-request stops `openssl ocsp -port`); the count comes from a warm-up's rate.
 * Even a counted run of ab now and then ends with a connection it opened and never sent a request on, which
 * leaves `openssl ocsp -port` spinning on it: a server marked `restartAfterAb` is started anew after each
 * ab run, so that the next run (ab's or ocsp-load.js') finds it answering.
 */
async function abRun(server, derFile) {
  const quiet = await waitForQuiet({ maxMs: 10_000 });
  const warm = ab(server, derFile, QUICK ? 1_000 : 5_000);
  if (server.restartAfterAb) await server.restart();
  const cpuBefore = treeCpuMs(server.pid);
  const r = ab(server, derFile, Math.max(1_000, Math.round(warm.requestsPerSecond * DURATION)));
  const cpuMs = treeCpuMs(server.pid) - cpuBefore;
  if (server.restartAfterAb) await server.restart();
  return {
    ...r,
    serverCpuMsPer1k: cpuMs / (r.totalRequests / 1000),
    busyPercentBefore: quiet.busyPercent,
  };
}

/**
 * Starts a server and waits until it listens: by connecting, or, for `openssl ocsp`, by its log line — it
 * serves one connection at a time, and a probe that connects and closes without a request leaves it spinning
 * on that connection (OpenSSL 3.0) with every later request queued behind it.
 */
async function startServer(name, cmd, args, env, port, ocspPath, readyLog) {
  const launch = async () => {
    const logFile = path.join(tempDir(`${name.replace(/\s+/g, '-')}-log`), 'server.log');
    const proc = startProcess(cmd, args, { env, logFile, cpu: SERVER_CPU });
    try {
      if (readyLog) await waitForLog(logFile, readyLog, 1);
      else await waitForPort(port, { proc });
    } catch (e) {
      await proc.stop();
      throw new Error(
        `${name}: ${e.message}\n${fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : ''}`,
      );
    }
    return { proc, logFile };
  };
  let current = await launch();
  return {
    name,
    port,
    ocspPath,
    clientCpu: canPin ? CLIENT_CPU : undefined,
    get pid() {
      return current.proc.pid;
    },
    get logFile() {
      return current.logFile;
    },
    /** Stops it and starts it again on the same port. */
    async restart() {
      await current.proc.stop();
      current = await launch();
    },
    stop: () => current.proc.stop(),
  };
}

/** `mtls-ca publish` (the real CLI) on the CA in `ca.dir`, bound to 127.0.0.1:`port`. */
function startPublish(ca, port) {
  const args = [BIN, 'publish', '--dir', ca.dir, '--listen', '127.0.0.1', '--port', String(port)];
  return startServer('mtls-ca publish', NODE, args, CLI_ENV, port, '/ocsp');
}

/** The servers of the OCSP runs, and which mixes each gets (the floor only the one of the target). */
const SERVERS = [
  ['ours', KINDS],
  ['theirs', KINDS],
  ['floor', KINDS.filter(([kind]) => kind === 'keep-alive')],
];

async function ocspThroughput() {
  const publishPort = await freePort();
  const opensslPort = await freePort();
  const floorPort = await freePort();
  const ca = makeCa('publish', 'ecdsa-p256', ['good', 'revoked']);
  cli(['publish-url', `http://127.0.0.1:${publishPort}`, '--dir', ca.dir]);
  cli(['revoke', 'revoked', '--reason', 'keyCompromise', '--dir', ca.dir]);
  const caCert = Certificate.from(fs.readFileSync(ca.caCert));
  const responder = Certificate.from(fs.readFileSync(path.join(ca.dir, 'ca/ocsp.crt')));
  const good = Certificate.from(fs.readFileSync(ca.client('good').cert)).serialHex;
  const index = path.join(tempDir('openssl-index'), 'index.txt');
  opensslIndex(ca.dir, index);

  const bodies = tempDir('ocsp-bodies');
  const single = path.join(bodies, 'single.txt');
  fs.writeFileSync(single, `${ocspRequest(caCert, good).toString('base64')}\n`);
  const singleDer = path.join(bodies, 'single.der');
  fs.writeFileSync(singleDer, ocspRequest(caCert, good));
  const nonces = path.join(bodies, 'nonces.txt');
  fs.writeFileSync(
    nonces,
    Array.from({ length: 5000 }, () =>
      ocspRequest(caCert, good, crypto.randomBytes(16)).toString('base64'),
    ).join('\n'),
  );
  const withAb = fs.existsSync(AB);
  if (!withAb) {
    process.stderr.write(`    ${AB} is missing: the ab rows are left out (apt-get install apache2-utils)\n`);
  }

  const ours = await startPublish(ca, publishPort);
  const started = [ours];
  const runs = {};
  try {
    // -port binds every interface: openssl ocsp has no address option.
    const theirs = await startServer(
      'openssl ocsp',
      'openssl',
      [
        'ocsp',
        '-index',
        index,
        '-port',
        String(opensslPort),
        '-rsigner',
        path.join(ca.dir, 'ca/ocsp.crt'),
        '-rkey',
        path.join(ca.dir, 'ca/ocsp.key'),
        '-CA',
        ca.caCert,
        '-nmin',
        '60',
        // the responder ID by key hash, as ours (RFC 5019 2.2.3)
        '-resp_key_id',
        '-ignore_err',
      ],
      process.env,
      opensslPort,
      '/',
      /waiting for OCSP client connections/g,
    );
    theirs.restartAfterAb = true;
    started.push(theirs);
    for (const server of [ours, theirs]) {
      await checkAnswer(server, ocspRequest(caCert, good), 'good', responder);
      await checkAnswer(
        server,
        ocspRequest(
          caCert,
          Certificate.from(fs.readFileSync(ca.client('revoked').cert)).serialHex,
          crypto.randomBytes(16),
        ),
        'revoked',
        responder,
      );
    }
    const fixedAnswer = path.join(bodies, 'answer.der');
    fs.writeFileSync(fixedAnswer, (await post(ours.port, '/ocsp', ocspRequest(caCert, good))).body);
    const floor = await startServer(
      'node:http, a fixed answer',
      NODE,
      [FIXED, String(floorPort), fixedAnswer],
      process.env,
      floorPort,
      '/',
    );
    started.push(floor);
    await checkAnswer(floor, ocspRequest(caCert, good), 'good', responder);
    const servers = { ours, theirs, floor };

    for (const [key, kinds] of SERVERS) {
      runs[key] = {};
      for (const [kind] of kinds) runs[key][kind] = [];
      if (withAb) runs[key].ab = [];
    }
    for (let round_ = 0; round_ < ROUNDS; round_++) {
      for (const [key, kinds] of SERVERS) {
        const server = servers[key];
        for (const [kind, file, keepAlive] of kinds) {
          const url = `http://127.0.0.1:${server.port}${server.ocspPath}`;
          const r = await loadRun(server, {
            url,
            bodiesFile: file === 'single' ? single : nonces,
            keepAlive,
          });
          runs[key][kind].push(r);
          process.stderr.write(describeRun(`${server.name} (${kind})`, r));
        }
        if (withAb) {
          const r = await abRun(server, singleDer);
          runs[key].ab.push(r);
          process.stderr.write(describeRun(`${server.name} (keep-alive, ab)`, r));
        }
      }
    }
  } finally {
    for (const server of started) await server.stop();
  }
  const rates = (key, kind) => runs[key][kind].map((r) => r.requestsPerSecond);
  const rate = (key, kind) => median(rates(key, kind));
  const cpu = (key, kind) => median(runs[key][kind].map((r) => r.serverCpuMsPer1k));
  const errorsOf = (key, kind) =>
    runs[key][kind].reduce((n, r) => n + r.errors + r.timeouts + r.unexpected, 0);
  const THEIRS_NAME = {
    theirs: 'openssl ocsp -index … -port (same CA, responder and requests)',
    floor: 'node:http sending a fixed answer (servers/ocsp-fixed.js)',
  };
  const row = (kind, label, min, [a, b] = ['ours', 'theirs']) => {
    const ratio = rate(a, kind) / rate(b, kind);
    const ratioByCpu = cpu(b, kind) / cpu(a, kind);
    return {
      case: label,
      ours: summarize(rates(a, kind), 0),
      theirs: summarize(rates(b, kind), 0),
      theirsName: THEIRS_NAME[b],
      unit: 'answers/s',
      ratio,
      ratioByCpu,
      target: min ? `>= ${min}x` : 'on record',
      ...verdict({ ratio, ratioByCpu, min, errors: errorsOf(a, kind) + errorsOf(b, kind) }),
    };
  };
  const GENERATOR = { ab: 'ab', 'keep-alive': 'ocsp-load.js', 'new-connection': 'ocsp-load.js' };
  const SERVER_NAME = {
    ours: 'mtls-ca publish',
    theirs: 'openssl ocsp -port',
    floor: 'node:http, fixed answer',
  };
  const tableRows = [];
  for (const [key] of SERVERS) {
    for (const kind of Object.keys(runs[key])) {
      const client = median(runs[key][kind].map((r) => r.clientCpuMsPer1k ?? Number.NaN));
      tableRows.push({
        server: SERVER_NAME[key],
        generator: GENERATOR[kind] ?? 'ocsp-load.js',
        mix: kind === 'ab' ? 'keep-alive' : kind,
        rate: round(rate(key, kind), 0),
        server_us: round(cpu(key, kind), 1),
        client_us: Number.isNaN(client) ? '—' : round(client, 1),
        errors: errorsOf(key, kind),
        rounds: rates(key, kind).map((x) => round(x, 0)),
      });
    }
  }
  const rows = [
    row('keep-alive', 'OCSP answers/s: no nonce, connections reused where the server keeps them (Java)', 10),
  ];
  if (withAb) {
    rows.push(
      row('ab', 'the same, ab (a C load generator) instead of ocsp-load.js', 10),
      row(
        'ab',
        'the floor of a Node responder: node:http sending a fixed answer vs openssl ocsp, ab',
        undefined,
        ['floor', 'theirs'],
      ),
      row('ab', 'publish vs that floor, ab', undefined, ['ours', 'floor']),
    );
  }
  rows.push(
    row('new-connection', 'OCSP answers/s: no nonce, a new connection per request (nginx)', undefined),
    row('nonce', 'OCSP answers/s: a fresh nonce each (openssl ocsp), a signature per answer', undefined),
  );
  return {
    rows,
    table: {
      headers: [
        'server',
        'load generator',
        'mix',
        'answers/s (median)',
        'server CPU µs / answer',
        'client CPU µs / request',
        'errors',
        'answers/s per round',
      ],
      columns: ['server', 'generator', 'mix', 'rate', 'server_us', 'client_us', 'errors', 'rounds'],
      rows: tableRows,
    },
  };
}

/** ms from each revocation's commit (inventory.jsonl's mtime) to publish's first "revoked" answer for it. */
async function revocationLatency() {
  const port = await freePort();
  const names = Array.from({ length: REVOCATIONS }, (_, i) => `user${i}`);
  const ca = makeCa('publish-latency', 'ecdsa-p256', names);
  cli(['publish-url', `http://127.0.0.1:${port}`, '--dir', ca.dir]);
  const caCert = Certificate.from(fs.readFileSync(ca.caCert));
  const server = await startPublish(ca, port);
  const latencies = [];
  try {
    for (const name of names) {
      const serial = Certificate.from(fs.readFileSync(ca.client(name).cert)).serialHex;
      const body = ocspRequest(caCert, serial);
      let revokedAt;
      const watching = (async () => {
        for (;;) {
          const r = parseOcspResponse((await post(port, '/ocsp', body)).body);
          if (r.responses[0]?.status.status === 'revoked') {
            revokedAt = Date.now();
            return;
          }
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      })();
      await new Promise((resolve) => setTimeout(resolve, 50));
      cli(['revoke', name, '--dir', ca.dir]);
      await watching;
      const committed = fs.statSync(ca.inventory).mtimeMs;
      latencies.push(revokedAt - committed);
    }
  } finally {
    await server.stop();
  }
  return {
    case: 'a revocation reaching the OCSP answers (commit → first "revoked")',
    ours: summarize(latencies, 0),
    unit: 'ms',
    target: '<= 1000 ms',
    met: Math.max(...latencies) <= 1000,
    absolute: true,
  };
}

/** A 100,000-entry CRL in place of the CA's own, as its next CRL number. */
function writeBigCrl(ca) {
  const authority = {
    certificate: Certificate.from(fs.readFileSync(ca.caCert)),
    privateKey: parsePrivateKey(fs.readFileSync(ca.caKey), CA_PASSWORD, ca.caKey),
  };
  const file = path.join(ca.dir, 'ca/crl.pem');
  const current = Crl.from(fs.readFileSync(file), file);
  const now = new Date();
  const revoked = [];
  const seen = new Set();
  while (revoked.length < CRL_ENTRIES) {
    const serial = crypto.randomBytes(16);
    serial[0] = serial[0] & 0x7f || 0x01; // positive and minimal, as randomSerial() makes them
    const hex = serial.toString('hex');
    if (seen.has(hex)) continue;
    seen.add(hex);
    revoked.push({ serialHex: hex, revokedAt: now, reason: 'keyCompromise' });
  }
  const crl = createCrl({
    ca: authority,
    crlNumber: current.crlNumber + 1n,
    nextUpdate: new Date(now.getTime() + 7 * 86_400_000),
    revoked,
  });
  fs.writeFileSync(file, crl.toPem());
  return crl.der.length;
}

async function conditionalGet() {
  const port = await freePort();
  const ca = makeCa('publish-crl', 'ecdsa-p256', []);
  cli(['publish-url', `http://127.0.0.1:${port}`, '--dir', ca.dir]);
  const bytes = writeBigCrl(ca);
  const server = await startPublish(ca, port);
  const runs = { full: [], conditional: [] };
  try {
    const etag = await new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: '/crl' }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.headers.etag));
        })
        .on('error', reject);
    });
    const url = `http://127.0.0.1:${port}/crl`;
    for (let i = 0; i < ROUNDS; i++) {
      const full = await loadRun(server, { url, expectStatus: 200, keepAlive: false });
      runs.full.push(full);
      process.stderr.write(describeRun('GET /crl', full));
      const conditional = await loadRun(server, {
        url,
        headers: { 'if-none-match': etag },
        expectStatus: 304,
        keepAlive: false,
      });
      runs.conditional.push(conditional);
      process.stderr.write(describeRun('GET /crl, If-None-Match', conditional));
    }
  } finally {
    await server.stop();
  }
  const rate = (k) => median(runs[k].map((r) => r.requestsPerSecond));
  const errors = [...runs.full, ...runs.conditional].reduce(
    (n, r) => n + r.errors + r.timeouts + r.unexpected,
    0,
  );
  const ratio = rate('conditional') / rate('full');
  return {
    case: `a ${CRL_ENTRIES.toLocaleString('en')}-entry CRL (${round(bytes / 1e6, 1)} MB): conditional GETs (304) vs full GETs`,
    ours: summarize(
      runs.conditional.map((r) => r.requestsPerSecond),
      0,
    ),
    theirs: summarize(
      runs.full.map((r) => r.requestsPerSecond),
      0,
    ),
    theirsName: 'GET /crl without a validator (200, the whole CRL)',
    unit: 'req/s',
    ratio,
    target: '>= 10x',
    ...verdict({ ratio, min: 10, errors }),
  };
}

export async function run() {
  const ocsp = await ocspThroughput();
  const rows = [...ocsp.rows, await revocationLatency(), await conditionalGet()];
  return {
    title: '`publish`: OCSP answers vs `openssl ocsp`, revocation latency, a large CRL by conditional GET',
    method:
      `${CONNECTIONS} client loops in a separate process (core ${CLIENT_CPU} when pinned), each one request at a time, ` +
      `${ROUNDS} rounds of ${DURATION} s after a ${WARMUP} s warm-up, servers on core ${SERVER_CPU}; every answer's HTTP ` +
      'status is checked, and one answer per server is parsed and its signature verified before the runs. Both ' +
      'responders sign with the same delegated responder certificate (P-256) and answer from the same statuses ' +
      '(openssl from an index.txt written from the inventory); `openssl ocsp` answers HTTP/1.0 and closes each ' +
      'connection, so its clients reconnect whatever they would prefer. Latency: the OCSP answer for a ' +
      'certificate polled every 5 ms while `mtls-ca revoke` runs, from the inventory’s modification time. The ' +
      'CRL: a new connection per GET, as a cron job polling with curl makes them. The OCSP target is also ' +
      'measured with ab (Apache Bench, C, on the client core; a counted run sized from a warm-up, since `ab -t` ' +
      'drops the requests in flight at its end), which needs far less CPU per request than a Node client; and ' +
      'beside the two responders runs the floor of any Node responder, node:http sending one fixed answer ' +
      '(servers/ocsp-fixed.js). The table gives each side’s CPU time per answer and its client’s per request',
    rows,
    table: ocsp.table,
  };
}

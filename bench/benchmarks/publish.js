/**
 * 8. Publishing revocation. `mtls-ca publish` against the standard OpenSSL responder (`openssl ocsp -index
 * … -port`) on the same CA, responder certificate and requests: OCSP answers per second without a nonce (what
 * nginx and Java send) and with a fresh nonce each (what `openssl ocsp` sends). The time from a revocation's
 * commit to the responder's first "revoked" answer. And a 100,000-entry CRL at /crl: full GETs against
 * conditional GETs (If-None-Match → 304), what a server polling for a new CRL costs.
 *
 * The OCSP answers are measured with three load generators: ours in Node (clients/ocsp-load.js), and ab and
 * wrk, C ones, which leave the server core's rate to the server rather than to the client; and beside both
 * responders run the floor of any Node responder (servers/ocsp-fixed.js: node:http sending fixed bytes) and
 * the ceiling of the load generators and loopback TCP on this machine (nginx returning a fixed body of an
 * answer's size). On record too, a different set-up: `openssl ocsp` as the common recipe runs it, signing
 * with the CA's own RSA-4096 key, against `publish` on an RSA-4096 CA.
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
import { parsePrivateKey, verify } from '../../dist/pki/keys.js';
import { isOcspResponseSignedBy, parseOcspResponse } from '../../dist/pki/ocsp.js';
import { OID } from '../../dist/pki/oids.js';
import { readInventory } from '../../dist/store/inventory.js';
import { NGINX, nginxPrefix } from '../lib/servers.js';
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
/** wrk (Debian wrk), the other C load generator; without it its rows are left out, with a message. */
const WRK = '/usr/bin/wrk';
const WRK_SCRIPT = path.resolve(HERE, '../clients/ocsp-post.lua');
/** GNU time (Debian time), for ab's and wrk's own CPU time; without it that column stays empty. */
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

/**
 * Whether `responder` signed `parsed`: named by its key hash, as publish and `-resp_key_id` name it, or by
 * its name, as `openssl ocsp` does by default.
 */
function signedBy(parsed, responder) {
  if (parsed.responderKeyHash || !parsed.tbs || !parsed.signature || !parsed.signatureAlgorithm) {
    return isOcspResponseSignedBy(parsed, responder);
  }
  return verify(responder.publicKey, parsed.signatureAlgorithm, parsed.tbs, parsed.signature);
}

/** Checks that a server answers `body` with a signed response saying `expected` for the one certificate. */
async function checkAnswer(server, body, expected, responder) {
  const r = await post(server.port, server.ocspPath, body);
  const parsed = parseOcspResponse(r.body);
  const status = parsed.responses[0]?.status.status;
  if (r.status !== 200 || status !== expected || !signedBy(parsed, responder)) {
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
  const r = runClient(server, 'ab', AB, abArgs);
  const field = (re) => Number(re.exec(r.stdout)?.[1] ?? 0);
  const complete = field(/Complete requests:\s+(\d+)/);
  const seconds = field(/Time taken for tests:\s+([\d.]+)/);
  if (complete === 0 || seconds === 0) throw clientFailed(server, 'ab', r);
  const unexpected = field(/Non-2xx responses:\s+(\d+)/);
  const failed = /\(Connect: (\d+), Receive: (\d+), Length: \d+, Exceptions: (\d+)\)/.exec(r.stdout);
  return {
    requestsPerSecond: (complete - unexpected) / seconds,
    totalRequests: complete,
    clientCpuMsPer1k: r.cpuMs === undefined ? undefined : r.cpuMs / (complete / 1000),
    errors: failed ? Number(failed[1]) + Number(failed[2]) + Number(failed[3]) : 0,
    timeouts: 0,
    unexpected,
  };
}

/**
 * wrk for `seconds`: one thread (one core, as ab) holding CONNECTIONS connections, each POSTing `derFile`
 * (clients/ocsp-post.lua), kept where the server keeps them. At its end wrk drops the requests in flight,
 * which a server marked `restartAfterRun` does not survive; the rate counts only 2xx answers.
 */
function wrk(server, derFile, seconds) {
  const url = `http://127.0.0.1:${server.port}${server.ocspPath}`;
  const wrkArgs = ['-t', '1', '-c', String(CONNECTIONS), '-d', `${seconds}s`, '--timeout', '10s'];
  wrkArgs.push('-s', WRK_SCRIPT, url, '--', derFile);
  const r = runClient(server, 'wrk', WRK, wrkArgs);
  const complete = Number(/(\d+) requests in /.exec(r.stdout)?.[1] ?? 0);
  const perSecond = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? 0);
  if (complete === 0 || perSecond === 0) throw clientFailed(server, 'wrk', r);
  const unexpected = Number(/Non-2xx or 3xx responses: (\d+)/.exec(r.stdout)?.[1] ?? 0);
  const socket = /connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(r.stdout);
  return {
    requestsPerSecond: (perSecond * (complete - unexpected)) / complete,
    totalRequests: complete,
    clientCpuMsPer1k: r.cpuMs === undefined ? undefined : r.cpuMs / (complete / 1000),
    errors: socket ? Number(socket[1]) + Number(socket[2]) + Number(socket[3]) : 0,
    timeouts: socket ? Number(socket[4]) : 0,
    unexpected,
  };
}

/** Runs a C load generator on the client core, under GNU time when there is one; cpuMs is its user + system. */
function runClient(server, name, file, clientArgs) {
  const timed = fs.existsSync(TIME) ? [TIME, '-f', 'cpu %U %S', file, ...clientArgs] : [file, ...clientArgs];
  const [cmd, ...args] = server.clientCpu ? ['taskset', '-c', server.clientCpu, ...timed] : timed;
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: (DURATION + 60) * 1000 });
  if (r.status !== 0) throw clientFailed(server, name, r);
  const cpu = /cpu ([\d.]+) ([\d.]+)/.exec(r.stderr);
  return { ...r, cpuMs: cpu ? (Number(cpu[1]) + Number(cpu[2])) * 1000 : undefined };
}

function clientFailed(server, name, r) {
  const log = fs.existsSync(server.logFile) ? fs.readFileSync(server.logFile, 'utf8').slice(-1000) : '';
  return new Error(
    `${name} against ${server.name} failed (${r.status ?? r.signal}): ${r.stderr}${r.stdout}\n${log}`,
  );
}

/**
 * ab for about DURATION seconds: a counted run, not `ab -t`, which ends by dropping the requests in flight
 * (and a connection dropped mid-request stops `openssl ocsp -port`); the count comes from a warm-up's rate.
 * Even a counted run of ab now and then ends with a connection it opened and never sent a request on, which
 * leaves `openssl ocsp -port` spinning on it: a server marked `restartAfterRun` is started anew after each
 * ab run, so that the next run (ab's or ocsp-load.js') finds it answering.
 */
function abRun(server, derFile) {
  return cRun(server, () => {
    const warm = ab(server, derFile, QUICK ? 1_000 : 5_000);
    return () => ab(server, derFile, Math.max(1_000, Math.round(warm.requestsPerSecond * DURATION)));
  });
}

/** wrk for WARMUP seconds, then DURATION seconds measured; a server marked `restartAfterRun` after each. */
function wrkRun(server, derFile) {
  return cRun(server, () => {
    wrk(server, derFile, WARMUP);
    return () => wrk(server, derFile, DURATION);
  });
}

/** A C load generator's warm-up (`warmUp`, which returns the measured run), then the measured run. */
async function cRun(server, warmUp) {
  const quiet = await waitForQuiet({ maxMs: 10_000 });
  const measured = warmUp();
  if (server.restartAfterRun) await server.restart();
  const cpuBefore = treeCpuMs(server.pid);
  const r = measured();
  const cpuMs = treeCpuMs(server.pid) - cpuBefore;
  if (server.restartAfterRun) await server.restart();
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
function startPublish(ca, port, name = 'mtls-ca publish') {
  const args = [BIN, 'publish', '--dir', ca.dir, '--listen', '127.0.0.1', '--port', String(port)];
  return startServer(name, NODE, args, CLI_ENV, port, '/ocsp');
}

/**
 * `openssl ocsp -index … -port` answering for `ca` from `index`, signing with the certificate and key files
 * `signer`, with the further `options`. -port binds every interface: openssl ocsp has no address option.
 * `-ignore_err` keeps it serving after a connection it cannot read.
 */
async function startOpensslOcsp(name, ca, index, port, [cert, key], options, env = process.env) {
  const args = ['ocsp', '-index', index, '-port', String(port), '-rsigner', cert, '-rkey', key];
  args.push('-CA', ca.caCert, ...options, '-ignore_err');
  const server = await startServer(
    name,
    'openssl',
    args,
    env,
    port,
    '/',
    /waiting for OCSP client connections/g,
  );
  server.restartAfterRun = true;
  return server;
}

/**
 * nginx (one worker, pinned with its master) answering every request with `size` fixed bytes: no OCSP at
 * all, so what ab and wrk reach against it is what they and loopback TCP reach on this machine, whatever
 * the server. Kept connections are never closed by count (nginx would after 1000 requests; Node never)
 * and nothing is logged (neither does the floor).
 */
async function startNginxFixed(port, size) {
  const { args } = nginxPrefix(
    'nginx-fixed',
    1,
    () => `  access_log off;
  server_tokens off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:${port};
    location / {
      default_type application/ocsp-response;
      add_header Cache-Control no-cache;
      return 200 '${'x'.repeat(size)}';
    }
  }
`,
  );
  return startServer('nginx, fixed body', NGINX, args, process.env, port, '/');
}

/** The request bodies for `good` of `caCert`: one DER request, and base64 lines for ocsp-load.js. */
function requestFiles(label, caCert, good) {
  const dir = tempDir(label);
  const files = {
    single: path.join(dir, 'single.txt'),
    der: path.join(dir, 'single.der'),
    nonces: path.join(dir, 'nonces.txt'),
  };
  fs.writeFileSync(files.single, `${ocspRequest(caCert, good).toString('base64')}\n`);
  fs.writeFileSync(files.der, ocspRequest(caCert, good));
  fs.writeFileSync(
    files.nonces,
    Array.from({ length: 5000 }, () =>
      ocspRequest(caCert, good, crypto.randomBytes(16)).toString('base64'),
    ).join('\n'),
  );
  return files;
}

/**
 * A CA of the OCSP runs, publishing at 127.0.0.1:`port`, with a good client (the one the requests ask
 * about) and, if `withRevoked`, a client revoked for keyCompromise: its certificate, its responder's, an
 * openssl index.txt of its statuses and the request files.
 */
function ocspCa(label, keyType, port, withRevoked) {
  const ca = makeCa(label, keyType, withRevoked ? ['good', 'revoked'] : ['good']);
  cli(['publish-url', `http://127.0.0.1:${port}`, '--dir', ca.dir]);
  if (withRevoked) cli(['revoke', 'revoked', '--reason', 'keyCompromise', '--dir', ca.dir]);
  const caCert = Certificate.from(fs.readFileSync(ca.caCert));
  const good = Certificate.from(fs.readFileSync(ca.client('good').cert)).serialHex;
  const index = path.join(tempDir(`${label}-index`), 'index.txt');
  opensslIndex(ca.dir, index);
  return {
    ca,
    caCert,
    responder: Certificate.from(fs.readFileSync(path.join(ca.dir, 'ca/ocsp.crt'))),
    good,
    index,
    requests: requestFiles(`${label}-bodies`, caCert, good),
  };
}

const KEEP_ALIVE = KINDS.filter(([kind]) => kind === 'keep-alive');
/**
 * The servers of the OCSP runs, the ocsp-load.js mixes each gets and its C load generators: the two
 * responders of the target; the floor of a Node responder; the ceiling of the load generators (nginx, no
 * OCSP); the two responders as the common recipe sets up `openssl ocsp`, on an RSA-4096 CA.
 */
const SERVERS = [
  ['ours', KINDS, ['ab', 'wrk']],
  ['theirs', KINDS, ['ab', 'wrk']],
  ['floor', KEEP_ALIVE, ['ab']],
  ['nginx', [], ['ab', 'wrk']],
  ['oursRsa', KEEP_ALIVE, ['ab']],
  ['theirsRsa', KEEP_ALIVE, ['ab']],
];
/** The C load generators: the program (its rows are left out without it) and the measured run. */
const C_CLIENTS = {
  ab: { file: AB, install: 'apache2-utils', run: abRun },
  wrk: { file: WRK, install: 'wrk', run: wrkRun },
};

async function ocspThroughput() {
  const publishPort = await freePort();
  const opensslPort = await freePort();
  const floorPort = await freePort();
  const nginxPort = await freePort();
  const publishRsaPort = await freePort();
  const opensslRsaPort = await freePort();
  const { ca, caCert, responder, good, index, requests } = ocspCa('publish', 'ecdsa-p256', publishPort, true);
  // The common recipe's CA: RSA-4096, whose own key signs openssl's answers; publish still signs with its
  // P-256 responder, as it does for every CA.
  const rsaSet = ocspCa('publish-rsa', 'rsa-4096', publishRsaPort, false);
  const { ca: rsa, caCert: rsaCert, responder: rsaResponder, good: rsaGood, index: rsaIndex } = rsaSet;

  const clients = Object.keys(C_CLIENTS).filter((name) => fs.existsSync(C_CLIENTS[name].file));
  for (const [name, { file, install }] of Object.entries(C_CLIENTS)) {
    if (!clients.includes(name)) {
      process.stderr.write(
        `    ${file} is missing: the ${name} rows are left out (apt-get install ${install})\n`,
      );
    }
  }
  const plan = SERVERS.map(([key, kinds, generators]) => [
    key,
    kinds,
    generators.filter((g) => clients.includes(g)),
  ]).filter(([, kinds, generators]) => kinds.length + generators.length > 0);

  const started = [];
  const runs = {};
  try {
    const ours = await startPublish(ca, publishPort);
    started.push(ours);
    const theirs = await startOpensslOcsp(
      'openssl ocsp',
      ca,
      index,
      opensslPort,
      [path.join(ca.dir, 'ca/ocsp.crt'), path.join(ca.dir, 'ca/ocsp.key')],
      // the same lifetime of an answer as ours, the responder ID by key hash as ours (RFC 5019 2.2.3)
      ['-nmin', '60', '-resp_key_id'],
    );
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
    const fixedAnswer = path.join(tempDir('ocsp-answer'), 'answer.der');
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
    const answerSize = fs.statSync(fixedAnswer).size;
    const nginx = await startNginxFixed(nginxPort, answerSize);
    started.push(nginx);
    const fixed = await post(nginx.port, '/', ocspRequest(caCert, good));
    if (fixed.status !== 200 || fixed.body.length !== answerSize) {
      throw new Error(
        `nginx answered ${fixed.status} with ${fixed.body.length} bytes, not 200 with ${answerSize}`,
      );
    }

    const oursRsa = await startPublish(rsa, publishRsaPort, 'mtls-ca publish, RSA-4096 CA');
    started.push(oursRsa);
    await checkAnswer(oursRsa, ocspRequest(rsaCert, rsaGood), 'good', rsaResponder);
    // The recipe's flags; its CA key is unencrypted, ours is read once at start with the password from
    // the environment (never in argv).
    const theirsRsa = await startOpensslOcsp(
      'openssl ocsp, the CA’s RSA-4096 key',
      rsa,
      rsaIndex,
      opensslRsaPort,
      [rsa.caCert, rsa.caKey],
      ['-passin', 'env:MTLS_CA_PASSWORD'],
      CLI_ENV,
    );
    started.push(theirsRsa);
    await checkAnswer(theirsRsa, ocspRequest(rsaCert, rsaGood), 'good', rsaCert);

    const servers = { ours, theirs, floor, nginx, oursRsa, theirsRsa };
    for (const key of ['ours', 'theirs', 'floor', 'nginx']) servers[key].requests = requests;
    for (const key of ['oursRsa', 'theirsRsa']) servers[key].requests = rsaSet.requests;
    for (const [key, kinds, generators] of plan) {
      runs[key] = {};
      for (const [kind] of kinds) runs[key][kind] = [];
      for (const generator of generators) runs[key][generator] = [];
    }
    for (let round_ = 0; round_ < ROUNDS; round_++) {
      for (const [key, kinds, generators] of plan) {
        const server = servers[key];
        for (const [kind, file, keepAlive] of kinds) {
          const url = `http://127.0.0.1:${server.port}${server.ocspPath}`;
          const r = await loadRun(server, { url, bodiesFile: server.requests[file], keepAlive });
          runs[key][kind].push(r);
          process.stderr.write(describeRun(`${server.name} (${kind})`, r));
        }
        for (const generator of generators) {
          const r = await C_CLIENTS[generator].run(server, server.requests.der);
          runs[key][generator].push(r);
          process.stderr.write(describeRun(`${server.name} (keep-alive, ${generator})`, r));
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
    nginx: 'nginx sending a fixed body of an answer’s size (no OCSP)',
    theirsRsa:
      'openssl ocsp -index … -port -rsigner ca.crt -rkey ca.key (RSA-4096 CA, no delegated responder)',
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
  const GENERATOR = { ab: 'ab', wrk: 'wrk' };
  const SERVER_NAME = {
    ours: 'mtls-ca publish',
    theirs: 'openssl ocsp -port',
    floor: 'node:http, fixed answer',
    nginx: 'nginx, fixed body (no OCSP)',
    oursRsa: 'mtls-ca publish, RSA-4096 CA',
    theirsRsa: 'openssl ocsp -port, CA’s RSA-4096 key',
  };
  const tableRows = [];
  for (const [key] of plan) {
    for (const kind of Object.keys(runs[key])) {
      const client = median(runs[key][kind].map((r) => r.clientCpuMsPer1k ?? Number.NaN));
      tableRows.push({
        server: SERVER_NAME[key],
        generator: GENERATOR[kind] ?? 'ocsp-load.js',
        mix: kind in GENERATOR ? 'keep-alive' : kind,
        rate: round(rate(key, kind), 0),
        server_us: round(cpu(key, kind), 1),
        client_us: Number.isNaN(client) ? '—' : round(client, 1),
        errors: errorsOf(key, kind),
        rounds: rates(key, kind).map((x) => round(x, 0)),
      });
    }
  }
  const withAb = clients.includes('ab');
  const withWrk = clients.includes('wrk');
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
  if (withAb) {
    rows.push(
      row(
        'ab',
        'the ceiling of ab and loopback TCP here: nginx sending a fixed body of an answer’s size vs openssl ocsp, ab',
        undefined,
        ['nginx', 'theirs'],
      ),
      row('ab', 'publish vs that ceiling, ab', undefined, ['ours', 'nginx']),
    );
  }
  if (withWrk) {
    rows.push(
      row(
        'wrk',
        'OCSP answers/s: no nonce, kept connections, wrk (a C load generator, one thread)',
        undefined,
      ),
      row(
        'wrk',
        'the ceiling of wrk and loopback TCP here: nginx sending a fixed body of an answer’s size vs openssl ocsp, wrk',
        undefined,
        ['nginx', 'theirs'],
      ),
      row('wrk', 'publish vs that ceiling, wrk', undefined, ['ours', 'nginx']),
    );
  }
  const RSA_CASE =
    'a different set-up, not the target’s: openssl ocsp as the common recipe runs it, signing each answer with the CA’s RSA-4096 key, vs publish on an RSA-4096 CA (its P-256 responder)';
  rows.push(row('keep-alive', `${RSA_CASE}, ocsp-load.js`, undefined, ['oursRsa', 'theirsRsa']));
  if (withAb) rows.push(row('ab', `the same, ab`, undefined, ['oursRsa', 'theirsRsa']));
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
      '(servers/ocsp-fixed.js). On record, the ceiling of the load generators and loopback TCP here: nginx (one ' +
      'worker, on the server core) sending a fixed body of an answer’s size to the same POSTs, measured with ab ' +
      'and with wrk (C, one thread, a fixed duration; clients/ocsp-post.lua), which also measures both ' +
      'responders. On record too, a different set-up: `openssl ocsp` as the common recipe runs it, signing every ' +
      'answer with an RSA-4096 CA’s own key (-rsigner ca.crt -rkey ca.key), against publish on an RSA-4096 CA ' +
      '(its P-256 responder), no nonce, kept connections. The table gives each side’s CPU time per answer and ' +
      'its client’s per request',
    rows,
    table: ocsp.table,
  };
}

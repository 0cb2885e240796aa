/**
 * 4. Batch issuance: `mtls-ca issue-client --from FILE` with 1,000 ecdsa-p256 clients (one `userN user` line
 * each) into a fresh CA, against
 *
 *   - the tutorial's three client commands in a loop (as bench 3, `tutorialClientSteps`), timed on a sample
 *     of clients and scaled to 1,000 (three openssl processes per client cost the same for the 1st and the
 *     1,000th; a full loop would take ≈ 80 s per repetition), and
 *   - the machine's limit: the same keys, certificates and PKCS#12 files made in-process by our dist/ pki
 *     functions on one worker thread per core — generateKeyPair, issueClientCertificate, createPkcs12
 *     (compat profile, the CLI default) per client — with no file I/O, no CSR round trip, no CLI start,
 *     no inventory or audit.
 *
 * Ours is the wall time of the whole process. Every repetition checks that the output is real: 1,000 .p12
 * files and 1,000 inventory lines, one .p12 (a different one each time) opened by `openssl pkcs12 -nodes`
 * with its password, and its certificate verified by `openssl verify` against the CA.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { CA_PASSWORD, cli, runOk, STORE_PASSWORD, summarize, tempDir } from '../lib/util.js';
import { tutorialServerSteps } from './init.js';
import { tutorialClientSteps } from './issue-client.js';

const QUICK = process.env.BENCH_QUICK === '1';
const CLIENTS = QUICK ? 200 : 1_000;
const SAMPLE = QUICK ? 10 : 100;
const REPS = QUICK ? 1 : 5;
const NEWKEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];

// ---------------------------------------------------------------------------------------------- the limit

/** One limit worker: loads the pki modules, says ready, builds `count` clients on 'go', reports its ms. */
async function limitWorker({ caCertificate, caKey, count, first }) {
  const { Certificate } = await import('../../dist/pki/certificate.js');
  const { generateKeyPair } = await import('../../dist/pki/keys.js');
  const { issueClientCertificate } = await import('../../dist/pki/profiles.js');
  const { createPkcs12 } = await import('../../dist/pki/pkcs12.js');
  const ca = { certificate: Certificate.from(Buffer.from(caCertificate)), privateKey: caKey };
  const now = new Date();
  parentPort.once('message', async () => {
    const start = process.hrtime.bigint();
    let bytes = 0;
    // keys in chunks of 8 on libuv's pool, as issue-client does
    for (let i = 0; i < count; i += 8) {
      const n = Math.min(8, count - i);
      const keys = await Promise.all(Array.from({ length: n }, () => generateKeyPair('ecdsa-p256')));
      for (const [k, pair] of keys.entries()) {
        const name = `user${first + i + k}`;
        const certificate = issueClientCertificate({
          ca,
          publicKey: pair.publicKey,
          commonName: name,
          email: [],
          days: 365,
          now,
        });
        bytes += createPkcs12({
          privateKey: pair.privateKey,
          certificate,
          chain: [ca.certificate],
          friendlyName: name,
          password: STORE_PASSWORD,
          profile: 'compat',
        }).length;
      }
    }
    parentPort.postMessage({ ms: Number(process.hrtime.bigint() - start) / 1e6, bytes });
  });
  parentPort.postMessage('ready');
}

if (!isMainThread && workerData?.role === 'batch-limit') await limitWorker(workerData);

/**
 * Clients per second of `clients` built by one worker per core, from the moment all are loaded and ready
 * to the last one finishing. Also returns the bytes of .p12 made, to show the work was done.
 */
async function machineLimit(ca, clients) {
  const cores = os.availableParallelism();
  const per = Math.ceil(clients / cores);
  const workers = Array.from(
    { length: cores },
    (_, w) =>
      new Worker(new URL(import.meta.url), {
        workerData: {
          role: 'batch-limit',
          caCertificate: ca.certificate.der,
          caKey: ca.privateKey,
          first: w * per,
          count: Math.min(per, clients - w * per),
        },
      }),
  );
  try {
    await Promise.all(
      workers.map(
        (w) =>
          new Promise((resolve, reject) => {
            w.once('message', resolve);
            w.once('error', reject);
          }),
      ),
    );
    const start = process.hrtime.bigint();
    const done = await Promise.all(
      workers.map(
        (w) =>
          new Promise((resolve, reject) => {
            w.once('message', resolve);
            w.once('error', reject);
            w.postMessage('go');
          }),
      ),
    );
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    return { perSecond: clients / (ms / 1000), bytes: done.reduce((s, d) => s + d.bytes, 0) };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

// ---------------------------------------------------------------------------------------------- ours

/**
 * `issue-client --from` of `list` into a fresh CA under `base`; wall ms and the CA directory. Directories
 * are kept until the end: ext4 makes new inodes slow for seconds after thousands were deleted
 * (`recently_deleted` in perf), which would land in the next repetition.
 */
function ours(base, list, rep) {
  const dir = path.join(base, `ours-${rep}`);
  cli(['init', '--dir', dir, '--ca-name', 'bench batch', '--key-type', 'ecdsa-p256']);
  const { ms } = cli(['issue-client', '--from', list, '--dir', dir, '--key-type', 'ecdsa-p256']);
  return { ms, dir };
}

/** Throws unless `dir` holds `count` real clients: .p12 files, inventory lines, one checked by openssl. */
function checkOutput(dir, count, probe) {
  const client = path.join(dir, 'client');
  const p12s = fs.readdirSync(client).filter((f) => f.endsWith('.p12'));
  if (p12s.length !== count) throw new Error(`${client}: ${p12s.length} .p12 files, expected ${count}`);
  const strays = fs.readdirSync(client).filter((f) => f.endsWith('.tmp'));
  if (strays.length > 0) throw new Error(`${client}: temp files left: ${strays.slice(0, 3).join(', ')}`);
  const issued = fs
    .readFileSync(path.join(dir, 'ca/inventory.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.includes('"op":"issue"') && l.includes('"profile":"client"')).length;
  if (issued !== count) throw new Error(`inventory: ${issued} client issue lines, expected ${count}`);
  const pass = path.join(dir, 'pass.txt');
  fs.writeFileSync(pass, `${STORE_PASSWORD}\n`);
  const pem = runOk('openssl', [
    'pkcs12',
    '-in',
    path.join(client, `client_${probe}.p12`),
    '-nodes',
    '-passin',
    `file:${pass}`,
  ]);
  const certs = pem.match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 0;
  if (
    !pem.includes('-----BEGIN PRIVATE KEY-----') ||
    certs !== 2 ||
    !pem.includes(`subject=CN = ${probe}\n`)
  ) {
    throw new Error(`openssl pkcs12 -nodes of client_${probe}.p12: no key, 2 certificates and CN ${probe}`);
  }
  const leaf = path.join(dir, 'probe.pem');
  fs.writeFileSync(leaf, pem);
  const verified = runOk('openssl', ['verify', '-CAfile', path.join(dir, 'ca/ca.crt'), leaf]);
  if (!verified.includes(': OK')) throw new Error(`openssl verify ${probe}: ${verified}`);
  fs.rmSync(pass);
}

// ---------------------------------------------------------------------------------------------- theirs

/** The tutorial's client steps for `count` new clients in a fresh openssl CA; ms per client. */
function theirs(base, rep, count) {
  const dir = path.join(base, `theirs-${rep}`);
  tutorialServerSteps(dir, NEWKEY);
  let ms = 0;
  for (let i = 0; i < count; i++) ms += tutorialClientSteps(dir, NEWKEY, `user${i}`);
  const p12s = fs.readdirSync(path.join(dir, 'client')).filter((f) => f.endsWith('.p12'));
  if (p12s.length !== count) throw new Error(`openssl loop: ${p12s.length} .p12 files, expected ${count}`);
  return ms / count;
}

export async function run() {
  const base = tempDir('batch');
  const list = path.join(base, 'clients.txt');
  fs.writeFileSync(list, Array.from({ length: CLIENTS }, (_, i) => `user${i + 1} user\n`).join(''));
  const small = path.join(base, 'warm-up.txt');
  fs.writeFileSync(small, Array.from({ length: 100 }, (_, i) => `user${i + 1} user\n`).join(''));

  // The limit's CA: ecdsa-p256, made by our init (so it is the same kind of CA as ours).
  const { Certificate } = await import('../../dist/pki/certificate.js');
  const { parsePrivateKey } = await import('../../dist/pki/keys.js');
  const caDir = path.join(base, 'limit-ca');
  cli(['init', '--dir', caDir, '--ca-name', 'bench limit', '--key-type', 'ecdsa-p256']);
  const ca = {
    certificate: Certificate.from(fs.readFileSync(path.join(caDir, 'ca/ca.crt'))),
    privateKey: parsePrivateKey(fs.readFileSync(path.join(caDir, 'ca/ca.key')), CA_PASSWORD, 'ca.key'),
  };

  // one unmeasured round of each, smaller
  ours(base, small, 'warm');
  theirs(base, 'warm', 5);
  await machineLimit(ca, 100);

  const oursMs = [];
  const theirsMs = [];
  const limits = [];
  const perRep = [];
  for (let rep = 0; rep < REPS; rep++) {
    const o = ours(base, list, rep);
    checkOutput(o.dir, CLIENTS, `user${1 + Math.floor(((rep + 0.5) * CLIENTS) / REPS)}`);
    const perClient = theirs(base, rep, SAMPLE);
    const limit = await machineLimit(ca, CLIENTS);
    oursMs.push(o.ms);
    theirsMs.push(perClient * CLIENTS);
    limits.push(limit.perSecond);
    perRep.push({
      rep: rep + 1,
      ours: o.ms / 1000,
      oursPerClient: o.ms / CLIENTS,
      theirsPerClient: perClient,
      limit: limit.perSecond,
      limitKb: Math.round(limit.bytes / 1024),
    });
  }

  const o = summarize(
    oursMs.map((ms) => ms / 1000),
    2,
  );
  const t = summarize(
    theirsMs.map((ms) => ms / 1000),
    1,
  );
  const oursRate = summarize(
    oursMs.map((ms) => CLIENTS / (ms / 1000)),
    0,
  );
  const l = summarize(limits, 0);
  const faster = t.median / o.median;
  const share = oursRate.median / l.median;
  return {
    title: 'Batch issuance: `issue-client --from` vs an openssl loop and the machine’s limit',
    method:
      `${CLIENTS.toLocaleString('en')} ecdsa-p256 clients per repetition, ${REPS} repetitions after one ` +
      'smaller unmeasured round, the three sides alternating. Ours: wall time of `mtls-ca issue-client --from` ' +
      'into a fresh CA (CLI start, CA key decryption, lock, keys, CSRs, certificates, PKCS#12 compat, ' +
      `inventory, audit, users.json, fsync of ${CLIENTS * 4 + 3} files). Theirs: \`openssl req -new -newkey\`, ` +
      '`openssl x509 -req -CA`, `openssl pkcs12 -export` per client, timed for a sample of ' +
      `${SAMPLE} clients per repetition and scaled to ${CLIENTS.toLocaleString('en')}. Limit: one worker thread ` +
      `per core (${os.availableParallelism()} here) running our dist/ generateKeyPair + ` +
      'issueClientCertificate + createPkcs12 per client, no file I/O, timed from all workers ready to the last ' +
      'done. Output checked each repetition: .p12 count, inventory lines, `openssl pkcs12 -nodes` and ' +
      '`openssl verify` of one client',
    rows: [
      {
        case: `issue-client --from, ${CLIENTS.toLocaleString('en')} clients, vs the openssl loop (ratio: times faster)`,
        ours: o,
        theirs: t,
        theirsName: `openssl req + x509 -req + pkcs12 -export per client (${SAMPLE} timed, scaled)`,
        unit: 's',
        ratio: faster,
        target: '>= 20x faster',
        met: faster >= 20,
      },
      {
        case: 'issue-client --from vs the machine’s limit (ratio: share of the limit)',
        ours: oursRate,
        theirs: l,
        theirsName: 'keygen + certificate + PKCS#12 on every core, in-process, no I/O',
        unit: 'clients/s',
        ratio: share,
        target: '>= 0.5x',
        met: share >= 0.5,
      },
    ],
    table: {
      headers: ['repetition', 'ours s', 'ours ms / client', 'openssl ms / client', 'limit clients/s'],
      columns: ['rep', 'ours', 'oursPerClient', 'theirsPerClient', 'limit'],
      rows: perRep,
    },
  };
}

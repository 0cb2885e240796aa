/**
 * 7. Scale. A CRL of 100,000 revoked certificates (built with our createCrl): the time the server takes to
 * load it, the time from replacing the CRL file to the running server enforcing it, and the handshake rate with
 * it against without it — plus a check that the CRL is really in force (a revoked client is refused, and accepted by the
 * server without the CRL). An inventory of 100,000 certificates: `list` time, and `issue-client` time with it
 * against an empty one.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { Certificate } from '../../dist/pki/certificate.js';
import { createCrl } from '../../dist/pki/crl.js';
import { parsePrivateKey } from '../../dist/pki/keys.js';
import { readCrlFile } from '../../dist/server/revocation.js';
import { encodeInventoryAppend, inventoryIndexState } from '../../dist/store/inventory-index.js';
import { layout } from '../../dist/store/layout.js';
import { encodeNameAppend, NAMES_HEADER } from '../../dist/store/name-index.js';
import { startMtls } from '../lib/servers.js';
import {
  CA_PASSWORD,
  cli,
  makeCa,
  median,
  round,
  summarize,
  tempDir,
  verdict,
  waitForLog,
} from '../lib/util.js';
import { CONCURRENCY, DURATION, describeRun, handshakeRun, ROUNDS } from './handshakes.js';

const ENTRIES = 100_000;
const QUICK = process.env.BENCH_QUICK === '1';

/** One request with `client`'s certificate; resolves with the status or the connection error. */
function probe(server, ca, client) {
  return new Promise((resolve) => {
    const req = https.get(
      {
        host: '127.0.0.1',
        port: server.port,
        path: '/customer/1',
        servername: 'localhost',
        agent: false,
        ca: fs.readFileSync(ca.caCert),
        cert: fs.readFileSync(client.cert),
        key: fs.readFileSync(client.key),
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(`HTTP ${res.statusCode}`));
      },
    );
    req.setTimeout(5_000, () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve(e.code ?? e.message));
  });
}

function timeMs(fn) {
  const start = process.hrtime.bigint();
  const value = fn();
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, value };
}

async function crlScale() {
  const ca = makeCa('crl', 'ecdsa-p256', ['pavel', 'revoked']);
  const authority = {
    certificate: Certificate.from(fs.readFileSync(ca.caCert), ca.caCert),
    privateKey: parsePrivateKey(fs.readFileSync(ca.caKey), CA_PASSWORD, ca.caKey),
  };
  const revokedSerial = Certificate.from(fs.readFileSync(ca.client('revoked').cert)).serialHex;
  const now = new Date();
  const reasons = [undefined, 'keyCompromise', 'superseded', 'cessationOfOperation', 'affiliationChanged'];
  const revoked = [{ serialHex: revokedSerial, revokedAt: now, reason: 'keyCompromise' }];
  const seen = new Set([revokedSerial]);
  while (revoked.length < ENTRIES) {
    const serial = crypto.randomBytes(16);
    // Positive and minimal, as randomSerial() makes them: a leading 0x00 octet would be non-DER, and createCrl
    // copies serials as given, so OpenSSL would refuse the whole CRL ("Failed to parse CRL").
    serial[0] = serial[0] & 0x7f || 0x01;
    const hex = serial.toString('hex');
    if (seen.has(hex)) continue;
    seen.add(hex);
    revoked.push({
      serialHex: hex,
      revokedAt: new Date(now.getTime() - (revoked.length % 1000) * 60_000),
      reason: reasons[revoked.length % reasons.length],
    });
  }
  const built = timeMs(() =>
    createCrl({
      ca: authority,
      crlNumber: 2n,
      nextUpdate: new Date(now.getTime() + 7 * 86_400_000),
      revoked,
    }),
  );
  const crlPem = built.value.toPem();
  const crlFile = path.join(tempDir('crl-file'), 'crl.pem');
  fs.writeFileSync(crlFile, crlPem);

  // What the server does with a new CRL file: read, parse, check the signature, index the serials.
  const caCertificates = Certificate.allFromPem(fs.readFileSync(ca.caCert, 'utf8'), ca.caCert);
  const loads = [];
  for (let i = 0; i < 5; i++) loads.push(timeMs(() => readCrlFile(crlFile, caCertificates)).ms);

  const plain = await startMtls(ca);
  const crlServer = await startMtls(ca, { crlFile });
  const runs = { plain: [], crl: [] };
  let crlAppliedMs;
  let probes;
  try {
    await waitForLog(crlServer.logFile, /"bench":"ready"/g, 1);
    crlAppliedMs = JSON.parse(
      fs
        .readFileSync(crlServer.logFile, 'utf8')
        .split('\n')
        .find((l) => l.includes('"bench":"ready"')),
    ).crlAppliedMs;
    probes = {
      revokedWithCrl: await probe(crlServer, ca, ca.client('revoked')),
      revokedWithoutCrl: await probe(plain, ca, ca.client('revoked')),
      validWithCrl: await probe(crlServer, ca, ca.client('pavel')),
    };
    for (let r = 0; r < ROUNDS; r++) {
      for (const [key, server] of [
        ['plain', plain],
        ['crl', crlServer],
      ]) {
        const res = await handshakeRun(server, ca);
        runs[key].push(res);
        process.stderr.write(describeRun(server, res));
      }
    }
  } finally {
    await crlServer.stop();
    await plain.stop();
  }
  const rate = (key) => median(runs[key].map((r) => r.handshakesPerSecond));
  const cpu = (key) => median(runs[key].map((r) => r.serverCpuMsPerHandshake));
  const errors = [...runs.plain, ...runs.crl].reduce((n, r) => n + r.errors, 0);
  const crlInForce =
    probes.revokedWithoutCrl === 'HTTP 200' &&
    probes.validWithCrl === 'HTTP 200' &&
    probes.revokedWithCrl !== 'HTTP 200';
  return {
    crlBytes: built.value.der.length,
    probes,
    crlInForce,
    createCrlMs: round(built.ms, 0),
    rows: [
      {
        case: `the server loads a ${ENTRIES.toLocaleString('en')}-entry CRL (readCrlFile: parse, signature, serial index)`,
        ours: summarize(loads, 1),
        unit: 'ms',
        target: '<= 1000 ms',
        met: median(loads) <= 1000,
        absolute: true,
      },
      {
        case: 'a running server: CRL file replaced → in force (watch + load)',
        ours: { median: round(crlAppliedMs, 1) },
        unit: 'ms',
        target: '<= 1000 ms',
        met: crlAppliedMs <= 1000,
        absolute: true,
      },
      {
        case: 'handshakes/s with the CRL vs without (createMtlsServer)',
        ours: summarize(
          runs.crl.map((r) => r.handshakesPerSecond),
          0,
        ),
        theirs: summarize(
          runs.plain.map((r) => r.handshakesPerSecond),
          0,
        ),
        theirsName: 'same server without the 100,000-entry CRL',
        unit: 'handshakes/s',
        ratio: rate('crl') / rate('plain'),
        ratioByCpu: cpu('plain') / cpu('crl'),
        target: '>= 0.95x',
        ...(crlInForce
          ? verdict({
              ratio: rate('crl') / rate('plain'),
              ratioByCpu: cpu('plain') / cpu('crl'),
              min: 0.95,
              errors,
            })
          : { met: false, metNote: 'the CRL was not in force' }),
      },
    ],
  };
}

/**
 * Appends `count` synthetic client certificates (every 100th later revoked) to a real CA's inventory.jsonl,
 * inventory.idx and inventory.names as the CLI would have written them, one batch per issuance or revocation,
 * encoded by the CLI's own encodeInventoryAppend and encodeNameAppend.
 */
function appendSyntheticInventory(dir, count) {
  const paths = layout(dir);
  let bytes = fs.statSync(paths.inventory).size;
  const jsonl = [];
  const index = [];
  const names = [];
  const append = (events) => {
    const batch = encodeInventoryAppend(events, bytes);
    jsonl.push(batch.jsonl);
    index.push(batch.index);
    names.push(encodeNameAppend(events, batch.inventoryBytes));
    bytes = batch.inventoryBytes;
  };
  const start = Date.parse('2025-01-01T00:00:00Z');
  for (let i = 0; i < count; i++) {
    const name = `user${String(i).padStart(6, '0')}`;
    const issued = new Date(start + i * 60_000);
    const serial = crypto.randomBytes(16);
    serial[0] = serial[0] & 0x7f || 0x01;
    const hex = serial.toString('hex');
    append([
      {
        op: 'issue',
        serial: hex,
        name,
        profile: 'client',
        subject: `CN=${name}`,
        keyType: 'ecdsa-p256',
        notBefore: new Date(issued.getTime() - 300_000).toISOString(),
        notAfter: new Date(issued.getTime() + 365 * 86_400_000).toISOString(),
        fingerprint: crypto.randomBytes(32).toString('hex').toUpperCase().match(/../g).join(':'),
        issuedAt: issued.toISOString(),
        files: [
          `client/${name}.key`,
          `client/${name}.csr`,
          `client/${name}.crt`,
          `client/client_${name}.p12`,
        ],
      },
    ]);
    // Every 100th certificate was revoked later: `list` has to fold these lines too.
    if (i % 100 === 99) {
      append([
        {
          op: 'revoke',
          serial: hex,
          at: new Date(issued.getTime() + 86_400_000).toISOString(),
          reason: 'keyCompromise',
        },
      ]);
    }
  }
  // The log first, as a transaction appends them.
  fs.appendFileSync(paths.inventory, jsonl.join(''));
  fs.appendFileSync(paths.inventoryIndex, index.join(''));
  fs.appendFileSync(paths.inventoryNames, names.join(''));
  for (const [file, header] of [
    [paths.inventoryIndex, undefined],
    [paths.inventoryNames, NAMES_HEADER],
  ]) {
    if (!inventoryIndexState(file, paths.inventory, header).inStep)
      throw new Error(`${file} is not in step with ${paths.inventory}`);
  }
}

async function inventoryScale() {
  const empty = makeCa('inv-empty', 'ecdsa-p256', []);
  const big = makeCa('inv-big', 'ecdsa-p256', []);
  appendSyntheticInventory(big.dir, ENTRIES);
  const inventoryMb = fs.statSync(big.inventory).size / 2 ** 20;
  const reps = QUICK ? 3 : 7;
  const list = { text: [], json: [], emptyText: [] };
  // Output to a file, as `mtls-ca list --json > inventory.json` (see timeRun's stdoutFile).
  const outDir = tempDir('list-out');
  const to = (name) => ({ stdoutFile: path.join(outDir, name) });
  for (let i = -1; i < reps; i++) {
    const a = cli(['list', '--dir', big.dir], to('list.txt'));
    const b = cli(['list', '--json', '--dir', big.dir], to('list.json'));
    const c = cli(['list', '--dir', empty.dir], to('empty.txt'));
    if (i < 0) {
      const listed = JSON.parse(b.stdout);
      const n = Array.isArray(listed) ? listed.length : (listed.certificates ?? listed.items ?? []).length;
      if (n < ENTRIES) throw new Error(`list --json showed ${n} certificates, expected ${ENTRIES}+`);
      continue;
    }
    list.text.push(a.ms);
    list.json.push(b.ms);
    list.emptyText.push(c.ms);
  }
  const issue = { big: [], empty: [] };
  for (let i = -1; i < reps; i++) {
    const a = cli(['issue-client', `bench${i + 1}`, '--role', 'user', '--dir', big.dir]).ms;
    const b = cli(['issue-client', `bench${i + 1}`, '--role', 'user', '--dir', empty.dir]).ms;
    if (i >= 0) {
      issue.big.push(a);
      issue.empty.push(b);
    }
  }
  return {
    inventoryMb: round(inventoryMb, 1),
    rows: [
      {
        case: `mtls-ca list, ${ENTRIES.toLocaleString('en')} certificates (text table)`,
        ours: summarize(list.text, 0),
        theirs: summarize(list.emptyText, 0),
        theirsName: 'list of a fresh CA (2 certificates)',
        unit: 'ms',
        ratio: median(list.text) / median(list.emptyText),
        target: '<= 1000 ms',
        met: median(list.text) <= 1000,
        absolute: true,
      },
      {
        case: `mtls-ca list --json, ${ENTRIES.toLocaleString('en')} certificates`,
        ours: summarize(list.json, 0),
        theirs: summarize(list.emptyText, 0),
        theirsName: 'list of a fresh CA (2 certificates)',
        unit: 'ms',
        ratio: median(list.json) / median(list.emptyText),
        target: '<= 1000 ms',
        met: median(list.json) <= 1000,
        absolute: true,
      },
      {
        case: `issue-client with ${ENTRIES.toLocaleString('en')} certificates in the inventory vs an empty one`,
        ours: summarize(issue.big, 0),
        theirs: summarize(issue.empty, 0),
        theirsName: 'issue-client, fresh CA',
        unit: 'ms',
        ratio: median(issue.big) / median(issue.empty),
        target: '<= 1.05x (no slower, within noise)',
        met: median(issue.big) / median(issue.empty) <= 1.05,
      },
    ],
  };
}

export async function run() {
  const crl = await crlScale();
  const inventory = await inventoryScale();
  return {
    title: 'Scale: a 100,000-entry CRL and a 100,000-certificate inventory',
    method:
      `CRL: ${ENTRIES.toLocaleString('en')} entries (random 16-byte serials, 4 of 5 with a reason code) made ` +
      `by createCrl in ${crl.createCrlMs} ms, ${round(crl.crlBytes / 2 ** 20, 1)} MiB DER; ` +
      'readCrlFile (what the server runs for a new CRL file) timed 5 times in-process; ' +
      `handshakes with the client of benchmark 6 (${CONCURRENCY} loops, ${DURATION} s, ${ROUNDS} rounds) ` +
      `against two createMtlsServer processes: one watching a CRL file over which the 100,000-entry CRL was renamed after start (timed until the server reported it in force), the other with the CA's own, empty, crl.pem. CRL in force: ` +
      `revoked client with CRL → ${crl.probes.revokedWithCrl}, without → ${crl.probes.revokedWithoutCrl}, ` +
      `valid client with CRL → ${crl.probes.validWithCrl}. Inventory: ${ENTRIES.toLocaleString('en')} ` +
      `synthetic issue lines + 1,000 revoke lines (${inventory.inventoryMb} MiB) appended to a real CA's ` +
      'inventory.jsonl, inventory.idx and inventory.names (encodeInventoryAppend, encodeNameAppend, one batch per issuance or revocation, as the ' +
      'CLI writes them); alternating runs of each command after one unmeasured round, wall time, ms; ' +
      '`list` output goes to a file (as `> inventory.json`), not through a pipe the harness collects.',
    rows: [...crl.rows, ...inventory.rows],
    crlInForce: crl.crlInForce,
  };
}

/**
 * `issue-client --from` on worker threads: the output must be as real as the single-thread path's — every
 * .p12 opens in openssl with its password, every certificate verifies against the CA, the inventory and
 * audit log account for each client — and a failure in the middle of a batch (a worker that dies, a file
 * that cannot be replaced, an error inside a worker) leaves the CA directory exactly as it was.
 *
 * The ops-level tests run the real worker module, bundled from the TypeScript sources with esbuild (the
 * tests run from sources, which have no .js to start a worker from); one test runs the built binary with a
 * batch just over the threshold, which proves the worker file ships where the build puts the CLI.
 */
import { createPublicKey } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { beforeAll, expect, test } from 'vitest';
import type { ClientRequest } from '../../src/ops/client-request.js';
import { type IssueClientSettings, issueClients, WORKER_THRESHOLD } from '../../src/ops/issue-client.js';
import { Certificate } from '../../src/pki/certificate.js';
import { verifyAuditLog } from '../../src/store/audit.js';
import { CaStore } from '../../src/store/ca-store.js';
import { snapshot } from '../cli/snapshot.js';
import { cli, cliProcess } from '../helpers/cli.js';
import { errorOf } from '../helpers/errors.js';
import { opensslArgs } from '../helpers/openssl.js';
import { describeWithTools, runOk, tempDir } from '../helpers/tools.js';

const root = tempDir();
const CA_PASS = 'batch-ca-pass';
const env = { MTLS_CA_PASSWORD: CA_PASS };
const COUNT = 40; // five chunks of eight
let workerEntry: URL;
/** A worker that dies (exit 3) on the third chunk it is sent, before answering it. */
let dyingWorkerEntry: URL;

beforeAll(async () => {
  const out = path.join(root, 'worker');
  await build({
    entryPoints: { 'issue-client-worker': 'src/ops/issue-client-worker.ts' },
    outdir: out,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
  });
  workerEntry = pathToFileURL(path.join(out, 'issue-client-worker.js'));
  const dying = path.join(out, 'dying-worker.mjs');
  fs.writeFileSync(
    dying,
    [
      "import { parentPort } from 'node:worker_threads';",
      "import './issue-client-worker.js';", // evaluated first: its listener gets every chunk
      'let chunks = 0;',
      "parentPort.on('message', () => { if (++chunks === 3) process.exit(3); });",
    ].join('\n'),
  );
  dyingWorkerEntry = pathToFileURL(dying);
});

let n = 0;
/** A fresh CA (ecdsa-p256, encrypted key) made by `init`. */
async function freshCa(): Promise<string> {
  const dir = path.join(root, `ca-${n++}`);
  const r = await cli(['init', '--dir', dir, '--ca-name', 'batch test CA'], env);
  expect(r.code, r.stderr).toBe(0);
  return dir;
}

function requests(count: number, prefix = 'user'): ClientRequest[] {
  return Array.from({ length: count }, (_, i) => ({
    name: `${prefix}${i}`,
    roles: i % 2 ? ['user', 'admin'] : ['user'],
    email: i % 5 === 0 ? [`${prefix}${i}@example.com`] : [],
  }));
}

function settings(entry: URL, more: Partial<IssueClientSettings> = {}): IssueClientSettings {
  return {
    days: 30,
    keyType: 'ecdsa-p256',
    p12Profile: 'compat',
    force: false,
    caPassword: CA_PASS,
    store: {},
    parallel: { threshold: 1, workers: 2, entry },
    ...more,
  };
}

describeWithTools(['openssl'], 'issue-client --from on worker threads', () => {
  test('every client is real: openssl opens the .p12s, verifies the certificates; inventory, audit, users', async () => {
    const dir = await freshCa();
    const store = new CaStore(dir);
    const auditBefore = verifyAuditLog(
      store.paths.auditLog,
      store.paths.auditHead,
      store.readCaCertificate(),
    ).lines;
    const wanted = requests(COUNT);
    const results = await issueClients(store, wanted, settings(workerEntry));

    // results in request order, one distinct serial each
    expect(results.map((r) => r.name)).toEqual(wanted.map((r) => r.name));
    expect(new Set(results.map((r) => r.certificate.serial)).size).toBe(COUNT);
    expect(results[1]!.roles).toEqual(['user', 'admin']);
    expect(results[0]!.files.map((f) => [path.basename(f.path), f.mode])).toEqual([
      ['user0.key', '0600'],
      ['user0.csr', '0644'],
      ['user0.crt', '0644'],
      ['client_user0.p12.pass', '0600'],
      ['client_user0.p12', '0600'],
    ]);

    // every certificate verifies against the CA, in one openssl call
    const certs = wanted.map((r) => path.join(dir, 'client', `${r.name}.crt`));
    const verified = runOk('openssl', opensslArgs.verify(path.join(dir, 'ca/ca.crt'), certs)).stdout;
    expect(verified.trim().split('\n')).toEqual(certs.map((c) => `${c}: OK`));

    // every .key belongs to its certificate, and the certificate says what was asked
    for (const [i, r] of wanted.entries()) {
      const cert = Certificate.from(fs.readFileSync(certs[i]!));
      const key = createPublicKey(fs.readFileSync(path.join(dir, 'client', `${r.name}.key`)));
      expect(key.export({ type: 'spki', format: 'der' }).equals(cert.spki)).toBe(true);
      expect(cert.commonName).toBe(r.name);
      expect(cert.subjectAltNames.email ?? []).toEqual(r.email);
      expect(cert.serialHex).toBe(results[i]!.certificate.serial);
    }

    // the written requests are valid, self-signed, and for the certified key
    for (const [i, r] of wanted.entries()) {
      if (i % 13 !== 0) continue;
      const csr = path.join(dir, 'client', `${r.name}.csr`);
      const req = runOk('openssl', ['req', '-in', csr, '-verify', '-noout', '-subject', '-pubkey']);
      expect(req.stderr + req.stdout).toContain('verify OK');
      expect(req.stdout).toContain(`subject=CN = ${r.name}\n`);
      const pub = req.stdout.slice(req.stdout.indexOf('-----BEGIN PUBLIC KEY-----'));
      const spki = createPublicKey(pub).export({ type: 'spki', format: 'der' });
      expect(spki.equals(Certificate.from(fs.readFileSync(certs[i]!)).spki)).toBe(true);
    }

    // a sample of .p12s opens with its generated password: key, client certificate, CA
    for (const name of ['user0', 'user19', `user${COUNT - 1}`]) {
      const p12 = path.join(dir, 'client', `client_${name}.p12`);
      const pem = runOk('openssl', opensslArgs.pkcs12Nodes(p12, `${p12}.pass`)).stdout;
      expect(pem).toContain('-----BEGIN PRIVATE KEY-----');
      expect(pem.match(/-----BEGIN CERTIFICATE-----/g)).toHaveLength(2);
      expect(pem).toContain(`subject=CN = ${name}\n`);
      expect(pem).toContain('subject=CN = batch test CA\n');
      expect(fs.statSync(p12).mode & 0o777).toBe(0o600);
    }

    // the inventory has each client once, with its serial and files that exist
    const clients = store.readInventory().filter((e) => e.profile === 'client');
    expect(clients.map((e) => [e.name, e.serial])).toEqual(
      results.map((r) => [r.name, r.certificate.serial]),
    );
    for (const e of clients) for (const f of e.files) expect(fs.existsSync(path.join(dir, f))).toBe(true);
    expect(clients[3]!.fingerprint).toBe(Certificate.from(fs.readFileSync(certs[3]!)).fingerprint256);

    // the audit log is still an intact signed chain, with one more line per client
    const audit = verifyAuditLog(store.paths.auditLog, store.paths.auditHead, store.readCaCertificate());
    expect(audit.ok).toBe(true);
    expect(audit.lines).toBe(auditBefore + COUNT);

    expect(store.readUsers().users.user1).toEqual({ roles: ['user', 'admin'] });
    expect(Object.keys(store.readUsers().users)).toHaveLength(COUNT);

    // nothing left behind: no temp files, no lock
    const leftovers = fs.readdirSync(path.join(dir, 'client')).filter((f) => f.endsWith('.tmp'));
    expect(leftovers).toEqual([]);
    expect(fs.existsSync(store.paths.lock)).toBe(false);
  });

  test('a worker that dies mid-batch: rejected, and the directory is exactly as before', async () => {
    const dir = await freshCa();
    const before = snapshot(dir);
    await expect(issueClients(new CaStore(dir), requests(COUNT), settings(dyingWorkerEntry))).rejects.toThrow(
      new Error('worker thread exited (code 3) with work outstanding'),
    );
    expect(snapshot(dir)).toEqual(before);
  });

  test('a file that cannot be replaced at the commit: IO_FAILED, every rename undone', async () => {
    const dir = await freshCa();
    // a folder where the 30th client's .p12 must go; files of the chunks that finished first are already
    // renamed into place when it fails
    fs.mkdirSync(path.join(dir, 'client/client_user29.p12'), { recursive: true });
    const before = snapshot(dir);
    const e = await errorOf(() => issueClients(new CaStore(dir), requests(COUNT), settings(workerEntry)));
    expect(e.code).toBe('IO_FAILED');
    expect(e.message).toBe(`write ${path.join(dir, 'client/client_user29.p12')}: is a folder`);
    expect(snapshot(dir)).toEqual(before);
  });

  test('an error inside a worker keeps its code and message; nothing is written', async () => {
    const dir = await freshCa();
    const before = snapshot(dir);
    const e = await errorOf(() =>
      issueClients(new CaStore(dir), requests(COUNT), settings(workerEntry, { store: { given: '' } })),
    );
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toBe('create PKCS#12 bundle: the password is empty');
    expect(snapshot(dir)).toEqual(before);
  });

  test(`the built binary takes the worker path (${WORKER_THRESHOLD + 2} clients) and its output is real`, async () => {
    const dir = await freshCa();
    const list = path.join(root, 'big-list.txt');
    const names = requests(WORKER_THRESHOLD + 2, 'bin').map((r) => r.name);
    fs.writeFileSync(list, names.map((name) => `${name} user\n`).join(''));
    const r = await cliProcess(['issue-client', '--from', list, '--dir', dir, '--json'], {
      ...env,
      MTLS_CA_STORE_PASSWORD: 'bin-store-pass',
    });
    expect(r.code, r.stderr).toBe(0);
    const clients = r.json<{ clients: { name: string; certificate: { serial: string } }[] }>().clients;
    expect(clients.map((c) => c.name)).toEqual(names);
    const certs = names.map((name) => path.join(dir, 'client', `${name}.crt`));
    const verified = runOk('openssl', opensslArgs.verify(path.join(dir, 'ca/ca.crt'), certs)).stdout;
    expect(verified.trim().split('\n')).toEqual(certs.map((c) => `${c}: OK`));
    const last = path.join(dir, 'client', `client_${names.at(-1)}.p12`);
    fs.writeFileSync(path.join(root, 'bin-store-pass'), 'bin-store-pass\n');
    const pem = runOk('openssl', opensslArgs.pkcs12Nodes(last, path.join(root, 'bin-store-pass'))).stdout;
    expect(pem).toContain(`subject=CN = ${names.at(-1)}\n`);
    expect(pem).toContain('-----BEGIN PRIVATE KEY-----');
  });
});

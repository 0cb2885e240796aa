/**
 * Test fixtures for the server: a CA directory built with our own pki functions, and an asynchronous curl
 * (the server runs in the test's process, so a synchronous spawn would block the very server it calls).
 */
import { execFile } from 'node:child_process';
import { type KeyObject, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { initCa } from '../../src/ops/init.js';
import { Certificate } from '../../src/pki/certificate.js';
import { exportPrivateKeyPem, generateKeyPair } from '../../src/pki/keys.js';
import {
  type CertificateAuthority,
  createRootCa,
  issueClientCertificate,
  issueServerCertificate,
} from '../../src/pki/profiles.js';
import { createMtlsServer, type MtlsServer, type MtlsServerOptions } from '../../src/server/mtls-server.js';
import type { CaStore } from '../../src/store/ca-store.js';
import { layout } from '../../src/store/layout.js';
import { runOk } from '../helpers/tools.js';

export interface ClientFiles {
  cert: string;
  key: string;
  certificate: Certificate;
}

/** A CA whose key is in this process: openssl signs some test certificates with a copy of it. */
export type TestCa = CertificateAuthority & { privateKey: KeyObject };

export interface TestCaDir {
  dir: string;
  ca: TestCa;
  caFile: string;
  usersFile: string;
  /** Issues a client certificate signed by `ca` (default: this directory's CA) into `<dir>/client/`. */
  issueClient(
    name: string,
    opts?: { ca?: CertificateAuthority; now?: Date; days?: number; file?: string },
  ): Promise<ClientFiles>;
  /** Issues a new server leaf and writes it over `server/server.crt` and `server.key`. */
  issueServer(): Promise<Certificate>;
  writeUsers(users: Record<string, { roles: string[] }>): void;
}

/**
 * A CA directory with a publish URL, made by init (key unencrypted: the operations then need no password).
 * @param publishUrl - the base URL the certificates and CRLs point to
 * @param opts.caName - the root's name (default `Publish Test CA`)
 * @param opts.intermediate - a root and an issuing intermediate below it
 * @param opts.now - the clock of init (default the real one)
 */
export function initPublishingCa(
  store: CaStore,
  publishUrl: string,
  opts: { caName?: string; intermediate?: boolean; now?: Date } = {},
) {
  return initCa(store, {
    caName: opts.caName ?? 'Publish Test CA',
    keyType: 'ecdsa-p256',
    caDays: 365,
    hosts: [],
    serverDays: 30,
    p12Profile: 'compat',
    force: false,
    intermediate: opts.intermediate,
    caPassword: null,
    store: { given: 'store-password' },
    publishUrl,
    now: opts.now,
  });
}

export async function newCa(commonName: string): Promise<TestCa> {
  const keys = await generateKeyPair('ecdsa-p256');
  const certificate = createRootCa({ subject: { commonName }, ...keys, days: 3650 });
  return { certificate, privateKey: keys.privateKey };
}

/**
 * A CA directory as `mtls-ca init` lays it out: ca/ca.crt, server/server.{crt,key} (localhost, 127.0.0.1),
 * users.json.
 */
export async function createCaDir(
  dir: string,
  users: Record<string, { roles: string[] }>,
): Promise<TestCaDir> {
  const l = layout(dir);
  for (const d of [l.caDir, l.serverDir, l.clientDir]) mkdirSync(d, { recursive: true });
  const ca = await newCa('mtls-ca test CA');
  writeFileSync(l.caCert, ca.certificate.toPem());

  const writeUsers = (u: Record<string, { roles: string[] }>) =>
    writeFileSync(l.users, `${JSON.stringify({ users: u }, null, 2)}\n`);

  const issueServer = async () => {
    const keys = await generateKeyPair('ecdsa-p256');
    const certificate = issueServerCertificate({
      ca,
      publicKey: keys.publicKey,
      altNames: { dns: ['localhost'], ip: ['127.0.0.1'] },
      days: 30,
    });
    writeFileSync(l.server().cert, certificate.toPem());
    writeFileSync(l.server().key, exportPrivateKeyPem(keys.privateKey), { mode: 0o600 });
    chmodSync(l.server().key, 0o600);
    return certificate;
  };

  const issueClient: TestCaDir['issueClient'] = async (name, opts = {}) => {
    const keys = await generateKeyPair('ecdsa-p256');
    const certificate = issueClientCertificate({
      ca: opts.ca ?? ca,
      publicKey: keys.publicKey,
      commonName: name,
      days: opts.days ?? 30,
      now: opts.now,
    });
    const base = path.join(l.clientDir, opts.file ?? name);
    writeFileSync(`${base}.crt`, certificate.toPem());
    writeFileSync(`${base}.key`, exportPrivateKeyPem(keys.privateKey), { mode: 0o600 });
    return { cert: `${base}.crt`, key: `${base}.key`, certificate };
  };

  await issueServer();
  writeUsers(users);
  return { dir, ca, caFile: l.caCert, usersFile: l.users, issueClient, issueServer, writeUsers };
}

/**
 * A certificate made the way an operator (or an attacker holding a CA key) would, with the real openssl:
 * an EC P-256 key and `openssl x509 -req` with the given extensions, signed by `issuer` (default: the CA of
 * `dir`, its key written out for openssl). For the certificates our own profiles refuse to make: a CA:TRUE
 * leaf, an intermediate CA, a leaf under it.
 * @param extensions - an openssl extensions section body, e.g. `basicConstraints=critical,CA:TRUE`
 * @param opts.issuer - the issuing certificate and key files (default the directory's CA)
 * @param opts.commonName - the subject CN (default `name`)
 * @param opts.chain - certificate files appended after the new certificate in its `.crt` (what a client
 *   presents)
 */
export function opensslCertificate(
  dir: TestCaDir,
  name: string,
  extensions: string,
  opts: { issuer?: { cert: string; key: string }; chain?: string[]; commonName?: string } = {},
): ClientFiles {
  const base = path.join(dir.dir, 'client', name);
  let issuer = opts.issuer;
  if (!issuer) {
    const caKey = path.join(dir.dir, 'ca', 'ca-key-for-openssl.pem');
    writeFileSync(caKey, exportPrivateKeyPem(dir.ca.privateKey), { mode: 0o600 });
    issuer = { cert: dir.caFile, key: caKey };
  }
  const ext = `${base}.ext`;
  writeFileSync(ext, `[v3]\n${extensions}\n`);
  runOk('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${base}.key`]);
  runOk('openssl', [
    'req',
    '-new',
    '-key',
    `${base}.key`,
    '-subj',
    `/CN=${opts.commonName ?? name}`,
    '-out',
    `${base}.csr`,
  ]);
  runOk('openssl', [
    'x509',
    '-req',
    '-in',
    `${base}.csr`,
    '-CA',
    issuer.cert,
    '-CAkey',
    issuer.key,
    '-set_serial',
    `0x${randomBytes(8).toString('hex')}`,
    '-days',
    '30',
    '-extfile',
    ext,
    '-extensions',
    'v3',
    '-out',
    `${base}.pem`,
  ]);
  const pem = readFileSync(`${base}.pem`, 'utf8');
  writeFileSync(`${base}.crt`, [pem, ...(opts.chain ?? []).map((f) => readFileSync(f, 'utf8'))].join(''));
  return { cert: `${base}.crt`, key: `${base}.key`, certificate: Certificate.from(pem) };
}

export interface CurlResult {
  /** curl's exit code: 0 when an HTTP answer arrived, whatever its status. */
  exit: number;
  status: number;
  body: string;
  contentType: string;
  stderr: string;
}

/**
 * Runs the real curl against `url`.
 * @param opts.client - client certificate and key; none means curl presents no certificate
 * @param opts.headers - extra request headers (`Accept: text/html`)
 */
export function curl(
  url: string,
  opts: { caFile: string; client?: { cert: string; key: string }; headers?: string[]; args?: string[] },
): Promise<CurlResult> {
  const args = ['-sS', '--max-time', '20', '--cacert', opts.caFile];
  if (opts.client) args.push('--cert', opts.client.cert, '--key', opts.client.key);
  for (const h of opts.headers ?? []) args.push('-H', h);
  args.push(...(opts.args ?? []), '-w', '\n%{http_code} %{content_type}', url);
  return new Promise((resolve) => {
    execFile('curl', args, { encoding: 'utf8' }, (error, stdout, stderr) => {
      const exit = error ? Number((error as { code?: unknown }).code ?? 1) : 0;
      const cut = stdout.lastIndexOf('\n');
      const tail = stdout.slice(cut + 1);
      const space = tail.indexOf(' ');
      resolve({
        exit,
        status: Number(tail.slice(0, space)),
        body: stdout.slice(0, cut),
        contentType: tail.slice(space + 1),
        stderr,
      });
    });
  });
}

/** A server under test, with its JSON log lines captured. */
export interface RunningServer {
  server: MtlsServer;
  port: number;
  url: string;
  lines: string[];
  /** The JSON log lines, parsed. */
  events(): Record<string, unknown>[];
}

/**
 * Starts createMtlsServer on 127.0.0.1:0 with a JSON log captured in memory, and registers it in `running`
 * so that the suite's afterAll closes it.
 */
export async function startServer(running: MtlsServer[], options: MtlsServerOptions): Promise<RunningServer> {
  const lines: string[] = [];
  const server = createMtlsServer({
    host: '127.0.0.1',
    port: 0,
    logFormat: 'json',
    log: (line) => lines.push(line),
    ...options,
  });
  running.push(server);
  const { port } = await server.listen();
  return {
    server,
    port,
    url: `https://127.0.0.1:${port}`,
    lines,
    events: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/**
 * The server's log events of one kind, in order: what a test asserts on, rather than on whichever line
 * happens to be the last.
 * @param from - skip the first `from` log lines (a count taken before the action under test)
 */
export function eventsNamed(s: RunningServer, event: string, from = 0): Record<string, unknown>[] {
  return s
    .events()
    .slice(from)
    .filter((e) => e.event === event);
}

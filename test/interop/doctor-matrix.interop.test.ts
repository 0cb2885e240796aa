/**
 * `doctor`'s verdicts against the servers people run: openssl s_server, nginx, HAProxy, Node's https, Go's
 * crypto/tls, a JSSE server (Java 17) and mtls-ca serve in need and want mode. Each server starts once, with
 * one listener per configuration (client certificate required, optional or not asked for; another CA's name
 * advertised; TLS 1.3 only), and every cause is a client the doctor presents to it: a good certificate, none,
 * one of a CA the server does not trust, expired, not yet valid, serverAuth only, revoked in the CRL the
 * server holds, a user the server does not allow; a name or a CA the server's certificate does not match; a
 * client capped at TLS 1.2. Every cell a server can produce must give its verdict; the cells it cannot are
 * listed with the reason. The bad certificates are made with the CA key by openssl (`openssl ca` with
 * -startdate/-enddate, `openssl x509 -req` with serverAuth only), never by mtls-ca.
 */
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import type tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  type ClientIdentity,
  clientFromFiles,
  diagnose,
  type LiveDiagnosis,
} from '../../src/ops/doctor-live.js';
import type { VerdictCode } from '../../src/ops/doctor-verdict.js';
import { Certificate } from '../../src/pki/certificate.js';
import { Crl } from '../../src/pki/crl.js';
import { exportPrivateKeyPem } from '../../src/pki/keys.js';
import type { MtlsServer } from '../../src/server/mtls-server.js';
import { layout } from '../../src/store/layout.js';
import { cli } from '../helpers/cli.js';
import { fixtureKeys } from '../helpers/fixtures.js';
import { goProgram } from '../helpers/go.js';
import { javaProgram } from '../helpers/java.js';
import { freePorts, retryingBusyPort } from '../helpers/ports.js';
import { type SpawnedServer, spawnServer } from '../helpers/tls-servers.js';
import { haveTool, inCi, runOk, tempDir } from '../helpers/tools.js';
import { startServer } from '../server/helpers.js';

/** The listeners every server under test opens, one port each. */
const LISTENERS = ['need', 'optional', 'none', 'othernames', 'tls13'] as const;
type Listener = (typeof LISTENERS)[number];

/** The listeners' ports by name, `ports[i]` being `LISTENERS[i]`'s. */
function portsByName(ports: number[]): Record<Listener, number> {
  return Object.fromEntries(LISTENERS.map((n, i) => [n, ports[i]!])) as Record<Listener, number>;
}
type ClientName = 'alice' | 'bob' | 'eve' | 'old' | 'future' | 'carol' | 'mallory';

interface Cell {
  listener: Listener;
  client?: ClientName;
  /** The name to ask for instead of the server's (its certificate holds localhost, 127.0.0.1, ::1). */
  servername?: string;
  /** Trust the server's certificate to the other CA instead of ours. */
  otherServerCa?: boolean;
  maxVersion?: tls.SecureVersion;
  expect: VerdictCode;
}

const CELLS: Record<string, Cell> = {
  'good certificate': { listener: 'need', client: 'alice', expect: 'OK' },
  'no certificate': { listener: 'need', expect: 'NO_CLIENT_CERT' },
  'untrusted client CA': { listener: 'need', client: 'eve', expect: 'CLIENT_CA_UNTRUSTED' },
  expired: { listener: 'need', client: 'old', expect: 'CLIENT_CERT_EXPIRED' },
  'not yet valid': { listener: 'need', client: 'future', expect: 'CLIENT_CERT_NOT_YET_VALID' },
  'serverAuth only': { listener: 'need', client: 'carol', expect: 'CLIENT_CERT_WRONG_PURPOSE' },
  'revoked, the server holds our CRL': { listener: 'need', client: 'bob', expect: 'CLIENT_CERT_REVOKED' },
  'a user the server does not allow': { listener: 'need', client: 'mallory', expect: 'ACCESS_DENIED' },
  'server certificate for another name': {
    listener: 'need',
    client: 'alice',
    servername: 'other.example',
    expect: 'SERVER_NAME_MISMATCH',
  },
  'a server CA we do not trust': {
    listener: 'need',
    client: 'alice',
    otherServerCa: true,
    expect: 'SERVER_CERT_UNTRUSTED',
  },
  'optional, a certificate given': { listener: 'optional', client: 'alice', expect: 'OK' },
  'optional, none given': { listener: 'optional', expect: 'NO_CLIENT_CERT' },
  'not requested': { listener: 'none', client: 'alice', expect: 'CLIENT_CERT_NOT_REQUESTED' },
  'advertises another CA only': { listener: 'othernames', client: 'alice', expect: 'ISSUER_NOT_ADVERTISED' },
  'TLS 1.3 only, the client capped at 1.2': {
    listener: 'tls13',
    client: 'alice',
    maxVersion: 'TLSv1.2',
    expect: 'TLS_VERSION_MISMATCH',
  },
  'TLS 1.2: good certificate': { listener: 'need', client: 'alice', maxVersion: 'TLSv1.2', expect: 'OK' },
  'TLS 1.2: no certificate': { listener: 'need', maxVersion: 'TLSv1.2', expect: 'NO_CLIENT_CERT' },
  'TLS 1.2: untrusted client CA': {
    listener: 'need',
    client: 'eve',
    maxVersion: 'TLSv1.2',
    expect: 'CLIENT_CA_UNTRUSTED',
  },
  'TLS 1.2: expired': {
    listener: 'need',
    client: 'old',
    maxVersion: 'TLSv1.2',
    expect: 'CLIENT_CERT_EXPIRED',
  },
  'TLS 1.2: advertises another CA only': {
    listener: 'othernames',
    client: 'alice',
    maxVersion: 'TLSv1.2',
    expect: 'ISSUER_NOT_ADVERTISED',
  },
};

/** Only mtls-ca serve has users: the others let in any client their CA vouches for. */
const NO_USERS = 'it authenticates clients but has no users to refuse';
const NAMES_ARE_THE_TRUST_STORE = 'the CA names it sends are the CAs it verifies against (one setting)';

interface ServerUnderTest {
  tools: string[];
  /** Starts it; returns the port of each listener and how to stop it. */
  start(): Promise<{
    ports: Partial<Record<Listener, number>>;
    stop(): Promise<void>;
    output?: () => string;
  }>;
  /** The cells it cannot produce, and why. */
  cannot: Record<string, string>;
}

const root = tempDir('mtls-ca-doctor-matrix-');
const dir = path.join(root, 'ssl');
const l = layout(dir);
const file = (name: string) => path.join(root, name);
const clients = new Map<ClientName, ClientIdentity>();
let ourCa: Certificate;
let otherCa: Certificate;
let crl: Crl;

/** Writes fixture key `index` for `name` and its CSR: the keys are the run's shared ones, the CSR openssl's. */
function keyAndCsr(name: string, index: number): void {
  fs.writeFileSync(file(`${name}.key`), exportPrivateKeyPem(fixtureKeys('ecdsa-p256', index).privateKey), {
    mode: 0o600,
  });
  runOk('openssl', [
    'req',
    '-new',
    '-key',
    file(`${name}.key`),
    '-subj',
    `/CN=${name}`,
    '-out',
    file(`${name}.csr`),
  ]);
}

/** `openssl ca` with this validity, signing with our CA's key: the way to a certificate mtls-ca never makes. */
function opensslCa(name: string, start: string, end: string, extensions: string): void {
  const cnf = file('openssl-ca.cnf');
  runOk('openssl', [
    'ca',
    '-batch',
    '-notext',
    '-config',
    cnf,
    '-cert',
    l.caCert,
    '-keyfile',
    l.caKey,
    '-in',
    file(`${name}.csr`),
    '-out',
    file(`${name}.crt`),
    '-startdate',
    start,
    '-enddate',
    end,
    '-extensions',
    extensions,
  ]);
}

beforeAll(async () => {
  const run = async (args: string[]) => {
    const r = await cli([...args, '--dir', dir]);
    if (r.code !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
  };
  await run(['init', '--no-ca-password', '--ca-name', 'Doctor Test CA']);
  await run(['issue-client', 'alice', '--role', 'user']);
  await run(['issue-client', 'bob', '--role', 'user']);
  await run(['revoke', 'bob']);
  ourCa = Certificate.from(fs.readFileSync(l.caCert));
  crl = Crl.from(fs.readFileSync(l.crl), l.crl);

  // Another CA, made by openssl, and eve, its client.
  fs.writeFileSync(file('other.key'), exportPrivateKeyPem(fixtureKeys('ecdsa-p256', 2).privateKey), {
    mode: 0o600,
  });
  runOk('openssl', [
    'req',
    '-x509',
    '-new',
    '-key',
    file('other.key'),
    '-subj',
    '/CN=Other CA',
    '-days',
    '30',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-out',
    file('other.crt'),
  ]);
  otherCa = Certificate.from(fs.readFileSync(file('other.crt')));
  fs.mkdirSync(file('newcerts'));
  fs.writeFileSync(file('index.txt'), '');
  fs.writeFileSync(file('serial'), '1000\n');
  fs.writeFileSync(
    file('openssl-ca.cnf'),
    [
      '[ca]',
      'default_ca = this',
      '[this]',
      `database = ${file('index.txt')}`,
      `new_certs_dir = ${file('newcerts')}`,
      `serial = ${file('serial')}`,
      'default_md = sha256',
      'policy = any',
      'unique_subject = no',
      '[any]',
      'commonName = supplied',
      '[client]',
      'basicConstraints = critical,CA:FALSE',
      'keyUsage = critical,digitalSignature',
      'extendedKeyUsage = clientAuth',
      '[server_only]',
      'basicConstraints = critical,CA:FALSE',
      'keyUsage = critical,digitalSignature',
      'extendedKeyUsage = serverAuth',
      '',
    ].join('\n'),
  );
  keyAndCsr('old', 3);
  opensslCa('old', '20200101000000Z', '20200201000000Z', 'client');
  keyAndCsr('future', 4);
  opensslCa('future', '20990101000000Z', '20991231000000Z', 'client');
  keyAndCsr('carol', 5);
  opensslCa('carol', '20250101000000Z', '20990101000000Z', 'server_only');
  keyAndCsr('mallory', 3);
  opensslCa('mallory', '20250101000000Z', '20990101000000Z', 'client');
  keyAndCsr('eve', 4);
  runOk('openssl', [
    'x509',
    '-req',
    '-in',
    file('eve.csr'),
    '-CA',
    file('other.crt'),
    '-CAkey',
    file('other.key'),
    '-set_serial',
    '7',
    '-days',
    '30',
    '-extfile',
    file('openssl-ca.cnf'),
    '-extensions',
    'client',
    '-out',
    file('eve.crt'),
  ]);

  const fromFiles = (cert: string, key: string) =>
    clientFromFiles({ data: fs.readFileSync(cert), label: cert }, { data: fs.readFileSync(key), label: key });
  clients.set('alice', fromFiles(l.client('alice').cert, l.client('alice').key));
  clients.set('bob', fromFiles(l.client('bob').cert, l.client('bob').key));
  for (const name of ['eve', 'old', 'future', 'carol', 'mallory'] as const)
    clients.set(name, fromFiles(file(`${name}.crt`), file(`${name}.key`)));
  // A server's certificate and key in one file (HAProxy's crt).
  fs.writeFileSync(
    file('server.pem'),
    fs.readFileSync(l.server().cert, 'utf8') + fs.readFileSync(l.server().key, 'utf8'),
    { mode: 0o600 },
  );
});

function diagnoseCell(cell: Cell, port: number): Promise<LiveDiagnosis> {
  return diagnose({
    url: `https://127.0.0.1:${port}/`,
    servername: cell.servername,
    client: cell.client && clients.get(cell.client),
    serverCa: cell.otherServerCa
      ? { value: [otherCa], source: 'other.crt' }
      : { value: [ourCa], source: 'ca.crt' },
    ca: { value: ourCa, source: 'ca.crt' },
    crl: { value: crl, source: 'crl.pem' },
    maxVersion: cell.maxVersion,
  });
}

const opensslServer: ServerUnderTest = {
  tools: ['openssl'],
  async start() {
    const flags: Record<Listener, string[]> = {
      need: ['-Verify', '1', '-verify_return_error', '-CAfile', l.caCert, '-CRL', l.crl, '-crl_check'],
      optional: ['-verify', '1', '-verify_return_error', '-CAfile', l.caCert],
      none: [],
      // -CAfile names the CAs in the CertificateRequest, -verifyCAfile is what verifies.
      othernames: [
        '-Verify',
        '1',
        '-verify_return_error',
        '-CAfile',
        file('other.crt'),
        '-verifyCAfile',
        l.caCert,
      ],
      tls13: ['-Verify', '1', '-verify_return_error', '-CAfile', l.caCert, '-tls1_3'],
    };
    const ports = await freePorts(LISTENERS.length);
    const servers: SpawnedServer[] = [];
    try {
      for (const [i, name] of LISTENERS.entries()) {
        const args = [
          's_server',
          '-accept',
          `127.0.0.1:${ports[i]}`,
          '-cert',
          l.server().cert,
          '-key',
          l.server().key,
        ];
        servers.push(
          await spawnServer('openssl', [...args, ...flags[name], '-www', '-quiet'], { ports: [ports[i]!] }),
        );
      }
    } catch (e) {
      await Promise.all(servers.map((s) => s.stop()));
      throw e;
    }
    return {
      ports: portsByName(ports),
      stop: async () => {
        await Promise.all(servers.map((s) => s.stop()));
      },
      output: () => servers.map((s) => s.output()).join('\n'),
    };
  },
  cannot: { 'a user the server does not allow': NO_USERS },
};

const nginxServer: ServerUnderTest = {
  tools: ['nginx'],
  async start() {
    const ports = await freePorts(LISTENERS.length);
    const prefix = file('nginx');
    fs.mkdirSync(path.join(prefix, 'tmp'), { recursive: true });
    const server = (port: number, lines: string[]) =>
      `  server {\n    listen 127.0.0.1:${port} ssl;\n${lines.map((x) => `    ${x};\n`).join('')}    location / { return 200 "ok\\n"; }\n  }\n`;
    const conf = [
      'daemon off;',
      'worker_processes 1;',
      `error_log ${prefix}/error.log info;`,
      `pid ${prefix}/nginx.pid;`,
      'events { worker_connections 64; }',
      'http {',
      '  access_log off;',
      // nginx before 1.23.4 offers TLS 1.3 only when told to (its default stops at 1.2).
      '  ssl_protocols TLSv1.2 TLSv1.3;',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${prefix}/tmp;`),
      `  ssl_certificate ${l.server().cert};`,
      `  ssl_certificate_key ${l.server().key};`,
      server(ports[0]!, [`ssl_client_certificate ${l.caCert}`, 'ssl_verify_client on', `ssl_crl ${l.crl}`]),
      server(ports[1]!, [`ssl_client_certificate ${l.caCert}`, 'ssl_verify_client optional']),
      server(ports[2]!, []),
      // ssl_client_certificate is sent and trusted; ssl_trusted_certificate is trusted only.
      server(ports[3]!, [
        `ssl_client_certificate ${file('other.crt')}`,
        `ssl_trusted_certificate ${l.caCert}`,
        'ssl_verify_client on',
      ]),
      server(ports[4]!, [
        `ssl_client_certificate ${l.caCert}`,
        'ssl_verify_client on',
        'ssl_protocols TLSv1.3',
      ]),
      '}',
      '',
    ].join('\n');
    fs.writeFileSync(path.join(prefix, 'nginx.conf'), conf);
    const s = await spawnServer('nginx', ['-p', prefix, '-c', path.join(prefix, 'nginx.conf')], { ports });
    return {
      ports: portsByName(ports),
      stop: s.stop,
      output: s.output,
    };
  },
  cannot: { 'a user the server does not allow': NO_USERS },
};

const haproxyServer: ServerUnderTest = {
  tools: ['haproxy'],
  async start() {
    const ports = await freePorts(LISTENERS.length);
    const crt = `ssl crt ${file('server.pem')}`;
    const binds: Record<Listener, string> = {
      need: `${crt} ca-file ${l.caCert} verify required crl-file ${l.crl}`,
      optional: `${crt} ca-file ${l.caCert} verify optional`,
      none: crt,
      // ca-file is sent and trusted; ca-verify-file is trusted only.
      othernames: `${crt} ca-file ${file('other.crt')} ca-verify-file ${l.caCert} verify required`,
      tls13: `${crt} ca-file ${l.caCert} verify required ssl-min-ver TLSv1.3`,
    };
    const cfg = [
      'defaults',
      '  mode http',
      '  timeout connect 5s',
      '  timeout client 10s',
      '  timeout server 10s',
      ...LISTENERS.flatMap((n, i) => [
        `frontend ${n}`,
        `  bind 127.0.0.1:${ports[i]} ${binds[n]}`,
        '  http-request return status 200 content-type text/plain string ok',
      ]),
      '',
    ].join('\n');
    fs.writeFileSync(file('haproxy.cfg'), cfg);
    const s = await spawnServer('haproxy', ['-db', '-f', file('haproxy.cfg')], { ports });
    return { ports: portsByName(ports), stop: s.stop, output: s.output };
  },
  cannot: { 'a user the server does not allow': NO_USERS },
};

const nodeServer: ServerUnderTest = {
  tools: [],
  async start() {
    const base = {
      key: fs.readFileSync(l.server().key),
      cert: fs.readFileSync(l.server().cert),
      ca: fs.readFileSync(l.caCert),
    };
    const options: Partial<Record<Listener, https.ServerOptions>> = {
      need: { ...base, requestCert: true, rejectUnauthorized: true, crl: fs.readFileSync(l.crl) },
      optional: { ...base, requestCert: true, rejectUnauthorized: false },
      none: { ...base },
      tls13: { ...base, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' },
    };
    const servers: https.Server[] = [];
    const ports: Partial<Record<Listener, number>> = {};
    for (const [name, o] of Object.entries(options) as [Listener, https.ServerOptions][]) {
      const server = https.createServer(o, (_req, res) => res.end('ok\n'));
      servers.push(server);
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      ports[name] = (server.address() as { port: number }).port;
    }
    return {
      ports,
      stop: async () => {
        await Promise.all(
          servers.map((s) => {
            s.closeAllConnections();
            return new Promise((r) => s.close(r));
          }),
        );
      },
    };
  },
  cannot: {
    'a user the server does not allow': NO_USERS,
    'advertises another CA only': NAMES_ARE_THE_TRUST_STORE,
    'TLS 1.2: advertises another CA only': NAMES_ARE_THE_TRUST_STORE,
  },
};

/** Starts a program that prints `listening name=port …` once it listens. */
async function listeningProgram(cmd: string, args: string[]) {
  const s = await spawnServer(cmd, args, { line: /^listening((?: \w+=\d+)+)$/m });
  const ports = Object.fromEntries(
    s
      .match![1]!.trim()
      .split(' ')
      .map((p) => {
        const [name, port] = p.split('=');
        return [name, Number(port)];
      }),
  ) as Partial<Record<Listener, number>>;
  return { ports, stop: s.stop, output: s.output };
}

const goServer: ServerUnderTest = {
  tools: ['go'],
  start: () =>
    listeningProgram(goProgram('mtls-server'), [
      '-cert',
      l.server().cert,
      '-key',
      l.server().key,
      '-ca',
      l.caCert,
      '-crl',
      l.crl,
      '127.0.0.1',
      'need:need',
      'optional:optional',
      'none:none',
      'tls13:need:tls13',
    ]),
  cannot: {
    'a user the server does not allow': NO_USERS,
    'advertises another CA only': `${NAMES_ARE_THE_TRUST_STORE} (tls.Config.ClientCAs)`,
    'TLS 1.2: advertises another CA only': `${NAMES_ARE_THE_TRUST_STORE} (tls.Config.ClientCAs)`,
  },
};

const jsseServer: ServerUnderTest = {
  tools: ['java', 'javac'],
  start: () =>
    listeningProgram('java', [
      ...javaProgram('MtlsServer', [
        l.server().keyStore,
        l.passwordFile(l.server().keyStore),
        l.trustStoreJks,
        l.passwordFile(l.trustStoreJks),
        l.crl,
        file('other.crt'),
        'need:need',
        'optional:optional',
        'none:none',
        'othernames:need:othernames',
        'tls13:need:tls13',
      ]),
    ]),
  cannot: { 'a user the server does not allow': NO_USERS },
};

function serveServer(clientAuth: 'need' | 'want'): ServerUnderTest {
  const notServe =
    'mtls-ca serve always asks for a client certificate, from the CAs it trusts, over TLS 1.2 and 1.3';
  return {
    tools: [],
    async start() {
      const running: MtlsServer[] = [];
      const s = await startServer(running, { dir, clientAuth });
      return {
        ports: clientAuth === 'need' ? { need: s.port } : { need: s.port, optional: s.port },
        stop: () => s.server.close(),
        output: () => s.lines.join('\n'),
      };
    },
    cannot: {
      ...(clientAuth === 'need'
        ? {
            'optional, a certificate given': 'need mode requires one (want mode is the optional one)',
            'optional, none given': 'need mode requires one (want mode is the optional one)',
          }
        : {}),
      'not requested': notServe,
      'advertises another CA only': notServe,
      'TLS 1.2: advertises another CA only': notServe,
      'TLS 1.3 only, the client capped at 1.2': notServe,
    },
  };
}

const SERVERS: Record<string, ServerUnderTest> = {
  'openssl s_server': opensslServer,
  nginx: nginxServer,
  HAProxy: haproxyServer,
  'Node https': nodeServer,
  'Go crypto/tls': goServer,
  'JSSE (Java 17)': jsseServer,
  'mtls-ca serve, need': serveServer('need'),
  'mtls-ca serve, want': serveServer('want'),
};

/** The CA names each listener sends: ours, except where it is set to name the other CA only. */
function expectedCaNames(cell: Cell): string[] {
  return cell.listener === 'othernames' ? ['CN=Other CA'] : ['CN=Doctor Test CA'];
}

describe('doctor against real servers: one verdict per cause', () => {
  const stops: (() => Promise<void>)[] = [];
  afterAll(async () => {
    await Promise.all(stops.map((s) => s()));
  });

  for (const [name, server] of Object.entries(SERVERS)) {
    const missing = server.tools.filter((t) => !haveTool(t));
    const run = missing.length === 0 || inCi ? test.concurrent : test.skip;
    if (missing.length > 0 && !inCi)
      console.warn(`[skip] doctor against ${name}: missing tool(s) ${missing.join(', ')}`);
    run(name, async () => {
      if (missing.length > 0)
        throw new Error(`missing tool(s) under CI: ${missing.join(', ')} — .ci/run must install them`);
      const started = await retryingBusyPort(() => server.start());
      stops.push(started.stop);
      const expected: Record<string, string> = {};
      const actual: Record<string, string> = {};
      const names: Record<string, string[]> = {};
      const wantNames: Record<string, string[]> = {};
      for (const [cellName, cell] of Object.entries(CELLS)) {
        const why = server.cannot[cellName];
        const port = started.ports[cell.listener];
        if (why) {
          expected[cellName] = `cannot: ${why}`;
          actual[cellName] = `cannot: ${why}`;
          continue;
        }
        if (port === undefined) throw new Error(`${name} has no ${cell.listener} listener for "${cellName}"`);
        const d = await diagnoseCell(cell, port);
        expected[cellName] = cell.expect;
        actual[cellName] = d.verdict;
        if (d.evidence.clientAuth?.requested && d.evidence.clientAuth.caNames.length > 0) {
          names[cellName] = d.evidence.clientAuth.caNames;
          wantNames[cellName] = expectedCaNames(cell);
        }
        // Each cell runs the version it names: TLS 1.3 unless capped at 1.2.
        if (d.evidence.tls) expect(d.evidence.tls.version, cellName).toBe(cell.maxVersion ?? 'TLSv1.3');
      }
      expect(actual, `${name}:\n${started.output?.().slice(-3000) ?? ''}`).toEqual(expected);
      // Every listener that asks for a certificate names CAs, in TLS 1.3 and 1.2 alike, and they are read right.
      expect(names).toEqual(wantNames);
      expect(Object.keys(names).length).toBeGreaterThan(3);
    });
  }
});

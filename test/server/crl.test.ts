/**
 * Revocation enforced live by the server. The CA directory is made by the real CLI (`main()` in this process:
 * init, issue-client, revoke, renew, crl); the server is `createMtlsServer` on 127.0.0.1:0; clients are
 * Node's TLS/HTTPS client and the real curl. Nothing about TLS, CRLs or crypto is mocked: the server refuses
 * a revoked certificate in its handshake listener (by serial, from the CRL it verified once).
 */
import { once } from 'node:events';
import { copyFileSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import tls, { type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { hintFor, serverHints } from '../../src/cli/hints.js';
import { Certificate } from '../../src/pki/certificate.js';
import { Crl, createCrl } from '../../src/pki/crl.js';
import type { CertificateAuthority } from '../../src/pki/profiles.js';
import { createApp } from '../../src/server/app.js';
import { createLogger } from '../../src/server/log.js';
import { createMtlsServer, type MtlsServer, type MtlsServerOptions } from '../../src/server/mtls-server.js';
import { openUserDirectory } from '../../src/server/users.js';
import { CaStore } from '../../src/store/ca-store.js';
import { cli, exitedZero } from '../helpers/cli.js';
import { errorOf } from '../helpers/errors.js';
import { type Answer, type ClientFiles as Client, getCustomer } from '../helpers/https.js';
import { within } from '../helpers/poll.js';
import { describeWithTools, tempDir } from '../helpers/tools.js';
import {
  createCaDir,
  curl,
  eventsNamed,
  newCa,
  opensslCertificate,
  type RunningServer,
  startServer,
} from './helpers.js';

const PASSWORD = 'crl-test-ca-password';
const ENV = { MTLS_CA_PASSWORD: PASSWORD };
const DAY = 86_400_000;
/** README.md's promise: `mtls-ca revoke` takes effect in a running server within 2 s. */
const APPLY_BOUND_MS = 2_000;

type Running = RunningServer;

const running: MtlsServer[] = [];
afterAll(async () => {
  await Promise.all(running.map((s) => s.close()));
});

/** A server as `serve` starts it, with the CLI's hints in its log lines. */
function start(options: MtlsServerOptions): Promise<Running> {
  // Long enough that an idle keep-alive connection closing can only mean revocation.
  return startServer(running, { timeouts: { keepAliveMs: 60_000 }, ...serverHints(false), ...options });
}

async function mtlsCa(args: string[]): Promise<void> {
  exitedZero(`mtls-ca ${args.join(' ')}`, await cli(args, ENV));
}

/** GET /customer/1 on our test server at `port` (see getCustomer). */
function get(port: number, caFile: string, client: Client, agent?: https.Agent): Promise<Answer> {
  return getCustomer(`https://127.0.0.1:${port}`, caFile, client, agent);
}

/** A CRL of `ca` with this number, valid for a day, revoking these serials (lowercase hex). */
function crlPem(ca: CertificateAuthority, crlNumber: bigint, revoked: string[]): string {
  return createCrl({
    ca,
    crlNumber,
    nextUpdate: new Date(Date.now() + DAY),
    revoked: revoked.map((serialHex) => ({ serialHex, revokedAt: new Date() })),
  }).toPem();
}

/** Replaces a file by rename, as the CLI does. */
function replaceFile(file: string, data: string | Buffer): void {
  writeFileSync(`${file}.tmp-test`, data);
  renameSync(`${file}.tmp-test`, file);
}

describeWithTools(['curl'], 'the server enforces revocation live', () => {
  const root = tempDir('mtls-ca-crl-');
  const D = path.join(root, 'ssl');
  const OTHER = path.join(root, 'other');
  const caFile = path.join(D, 'ca', 'ca.crt');
  const crlFile = path.join(D, 'ca', 'crl.pem');
  const client = (name: string): Client => ({
    cert: path.join(D, 'client', `${name}.crt`),
    key: path.join(D, 'client', `${name}.key`),
  });
  const pavel = client('pavel');
  const alice = client('alice');
  let need: Running;
  let want: Running;
  /** The CRL init wrote (number 1), kept to replay it later. */
  let oldCrl: Buffer;
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  afterAll(() => agent.destroy());

  beforeAll(async () => {
    await mtlsCa(['init', '--dir', D]);
    for (const name of ['pavel', 'alice', 'rita']) {
      await mtlsCa(['issue-client', name, '--role', 'user', '--dir', D]);
    }
    await mtlsCa(['init', '--dir', OTHER]);
    oldCrl = readFileSync(crlFile);
    [need, want] = await Promise.all([start({ dir: D }), start({ dir: D, clientAuth: 'want' })]);
  });

  test('the server loads and announces the empty CRL that init wrote', () => {
    expect(need.server.crl()).toMatchObject({ file: crlFile, crlNumber: 1n, revoked: 0 });
    expect(eventsNamed(need, 'crl-loaded')).toEqual([
      expect.objectContaining({ level: 'info', file: crlFile, crlNumber: '1', revoked: 0 }),
    ]);
  });

  describe('mtls-ca revoke pavel', () => {
    const pavelAgent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    const aliceAgent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    afterAll(() => {
      pavelAgent.destroy();
      aliceAgent.destroy();
    });
    let pavelSocket: TLSSocket;
    let pavelClosed: Promise<unknown>;
    /** The client port of pavel's keep-alive connection, as the server logs it. */
    let pavelPort: number;
    let aliceSocket: TLSSocket;
    let session: Buffer;

    beforeAll(async () => {
      const p = await get(need.port, caFile, pavel, pavelAgent);
      const a = await get(need.port, caFile, alice, aliceAgent);
      expect([p.status, a.status]).toEqual([200, 200]);
      pavelSocket = p.socket!;
      pavelPort = pavelSocket.localPort!;
      aliceSocket = a.socket!;
      pavelClosed = once(pavelSocket, 'close');
      session = await tlsSession(need.port, caFile, pavel);
      // Proof that the session resumes before revocation, so that "does not resume" below can fail.
      expect(await resume(need.port, caFile, pavel, session)).toEqual({ authorized: true, reused: true });

      await mtlsCa(['revoke', 'pavel', '--dir', D]);
      const ms = await within(
        APPLY_BOUND_MS,
        'a new connection with pavel’s certificate is refused',
        async () => {
          const r = await get(need.port, caFile, pavel);
          return r.status === undefined;
        },
      );
      console.info(`[crl] revoke → new connection refused: ${ms.toFixed(0)} ms`);
    });

    test('a new connection with pavel’s certificate is refused in the TLS handshake, logged as REVOKED', async () => {
      const before = need.lines.length;
      const r = await get(need.port, caFile, pavel);
      expect(r.status).toBeUndefined();
      expect(r.error).toMatch(/^ECONNRESET$|^EPIPE$/);
      expect(eventsNamed(need, 'tls-refused', before)).toMatchObject([
        {
          level: 'warn',
          reason: 'REVOKED',
          detail: 'CERT_REVOKED',
          subject: 'CN=pavel',
          serial: certSerial(pavel),
        },
      ]);
      expect(need.server.crl()).toMatchObject({ crlNumber: 2n, revoked: 1 });
      expect(eventsNamed(need, 'crl-loaded').map((e) => e.crlNumber)).toContain('2');
      expect(eventsNamed(need, 'crl-loaded').find((e) => e.crlNumber === '2')).toMatchObject({ revoked: 1 });
    });

    test('pavel’s open keep-alive connection is closed, and the log says whose', async () => {
      await pavelClosed;
      expect(pavelSocket.destroyed).toBe(true);
      const closed = eventsNamed(need, 'revoked-connection-closed');
      // One of pavel's probing connections may still have been open (closing) when the CRL came: then it is
      // in the log too. Nobody else's is.
      expect(closed).toContainEqual({
        time: expect.any(String),
        type: 'event',
        level: 'warn',
        event: 'revoked-connection-closed',
        message: 'closed an open connection: its certificate was revoked',
        user: 'pavel',
        subject: 'CN=pavel',
        serial: certSerial(pavel),
        client: `127.0.0.1:${pavelPort}`,
        crlNumber: '2',
      });
      expect(closed.every((e) => e.serial === certSerial(pavel))).toBe(true);
    });

    test('alice is unaffected: her open connection answers again, and so does a new one', async () => {
      const again = await get(need.port, caFile, alice, aliceAgent);
      expect([again.status, again.reused, again.socket]).toEqual([200, true, aliceSocket]);
      const fresh = await get(need.port, caFile, alice);
      expect([fresh.status, fresh.body]).toEqual([200, '{"id":1,"name":"Customer1"}']);
    });

    test('a TLS session from before the revocation does not resume', async () => {
      // setSecureContext gives new connections fresh ticket keys and session cache: a full handshake,
      // whose certificate the server checks against the new CRL.
      expect(await resume(need.port, caFile, pavel, session)).toEqual({ authorized: false, reused: false });
    });

    test('want mode: pavel gets 401 REVOKED', async () => {
      await within(
        APPLY_BOUND_MS,
        'the want server applies the CRL',
        () => want.server.crl()?.crlNumber === 2n,
      );
      const r = await curl(`${want.url}/customer/1`, { caFile, client: pavel });
      expect(r.status).toBe(401);
      expect(JSON.parse(r.body)).toEqual({
        error: 'unauthorized',
        reason: 'REVOKED',
        detail: 'CERT_REVOKED',
        message: 'the client certificate has been revoked',
      });
      const ok = await curl(`${want.url}/customer/1`, { caFile, client: alice });
      expect(ok.status).toBe(200);
    });

    test('createApp mounted on another HTTPS server does not let revoked pavel in (500, logged)', async () => {
      // Regression: the app judged a connection itself when the server had not, without the revocation
      // policy, and answered revoked pavel 200 on any server that requests client certificates.
      const lines: string[] = [];
      const logger = createLogger({ format: 'json', sink: (l) => lines.push(l) });
      const users = openUserDirectory(path.join(D, 'users.json'), { logger });
      const other = https.createServer(
        {
          cert: readFileSync(path.join(D, 'server', 'server.crt')),
          key: readFileSync(path.join(D, 'server', 'server.key')),
          ca: readFileSync(caFile),
          requestCert: true,
          rejectUnauthorized: false,
        },
        createApp({ users, logger }),
      );
      other.listen(0, '127.0.0.1');
      await once(other, 'listening');
      try {
        const url = `https://127.0.0.1:${(other.address() as AddressInfo).port}`;
        const r = await curl(`${url}/customer/1`, { caFile, client: pavel });
        expect([r.status, JSON.parse(r.body)]).toEqual([
          500,
          { error: 'internal_error', message: 'internal server error' },
        ]);
        expect(lines.map((l) => JSON.parse(l))).toContainEqual(
          expect.objectContaining({ level: 'error', event: 'peer-not-judged', path: '/customer/1' }),
        );
      } finally {
        users.close();
        other.closeAllConnections();
        other.close();
      }
    });

    test('curl with pavel’s --cert/--key fails at TLS; alice’s works', async () => {
      const r = await curl(`${need.url}/customer/1`, { caFile, client: pavel });
      expect(r.exit).not.toBe(0);
      expect(r.status).toBe(0);
      const ok = await curl(`${need.url}/customer/1`, { caFile, client: alice });
      expect([ok.exit, ok.status]).toEqual([0, 200]);
    });
  });

  test('renew rita --revoke-old: the new certificate works, the old one is refused', async () => {
    const old = { cert: path.join(root, 'rita-old.crt'), key: path.join(root, 'rita-old.key') };
    copyFileSync(client('rita').cert, old.cert);
    copyFileSync(client('rita').key, old.key);
    expect((await get(need.port, caFile, old)).status).toBe(200);

    await mtlsCa(['renew', 'rita', '--revoke-old', '--dir', D]);
    const renewed = client('rita');
    expect(certSerial(renewed)).not.toBe(certSerial(old));
    const ms = await within(APPLY_BOUND_MS, 'the old certificate of rita is refused', async () => {
      return (await get(need.port, caFile, old)).status === undefined;
    });
    console.info(`[crl] renew --revoke-old → old certificate refused: ${ms.toFixed(0)} ms`);
    expect((await get(need.port, caFile, renewed)).status).toBe(200);
    // A probe answered just before the CRL came may have been cut off by the sweep instead: ask once more.
    const before = need.lines.length;
    expect((await get(need.port, caFile, old)).status).toBeUndefined();
    expect(eventsNamed(need, 'tls-refused', before)).toMatchObject([
      { reason: 'REVOKED', detail: 'CERT_REVOKED', subject: 'CN=rita', serial: certSerial(old) },
    ]);
  });

  describe('a CRL the server must not use is rejected, loudly, and the CRL in force stays', () => {
    let good: Buffer;
    beforeAll(() => {
      good = readFileSync(crlFile);
    });
    afterAll(() => replaceFile(crlFile, good));

    const foreign = () => readFileSync(path.join(OTHER, 'ca', 'crl.pem'));
    test.each([
      [
        // Both CAs are named "mtls-ca CA (<user>@<host>)": only the signature tells them apart.
        'signed by another CA with the same name',
        foreign,
        'BAD_SIGNATURE',
        () =>
          `use CRL ${crlFile}: it was not signed by a CA this server trusts (its issuer: ${Crl.from(foreign(), 'x').issuerName})`,
        'publish a CRL of this CA with `mtls-ca crl`',
      ],
      [
        'not a CRL',
        () => '-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n',
        'PARSE_FAILED',
        () => `read ${crlFile}: not a valid X.509 CRL`,
        'publish a new CRL with `mtls-ca crl`',
      ],
      [
        'an older CRL of our CA (replay)',
        () => oldCrl,
        'INVALID_ARGUMENT',
        () =>
          `use CRL ${crlFile}: its CRL number 1 is lower than that of the CRL in force (${need.server.crl()!.crlNumber}); an older CRL would un-revoke certificates`,
        'publish a new CRL with `mtls-ca crl`',
      ],
    ])('%s', async (_name, data, code, cause, hint) => {
      const inForce = need.server.crl()!.crlNumber;
      const before = need.events().length;
      replaceFile(crlFile, data());
      await within(
        APPLY_BOUND_MS,
        'crl-rejected',
        () => eventsNamed(need, 'crl-rejected', before).length > 0,
      );
      expect(eventsNamed(need, 'crl-rejected', before)).toEqual([
        {
          time: expect.any(String),
          type: 'event',
          level: 'error',
          event: 'crl-rejected',
          message: `${cause()}; keeping CRL number ${inForce}`,
          file: crlFile,
          code,
          hint,
        },
      ]);
      expect(need.server.crl()!.crlNumber).toBe(inForce);
      // Old CRL kept: pavel still refused (no CRL would let him in) and alice still served (a foreign or
      // broken CRL in force would refuse everyone).
      expect((await get(need.port, caFile, pavel)).status).toBeUndefined();
      expect((await get(need.port, caFile, alice)).status).toBe(200);
      expect(eventsNamed(need, 'crl-loaded', before)).toEqual([]);
    });
  });

  describe('an expired CRL', () => {
    let expiredCrl: Crl;
    beforeAll(async () => {
      // No CLI option back-dates a CRL; this one is made with the pki functions and our CA's key.
      const ca = new CaStore(D).loadCa(PASSWORD);
      const inForce = need.server.crl()!.crlNumber;
      expiredCrl = createCrl({
        ca,
        crlNumber: inForce + 1n,
        thisUpdate: new Date(Date.now() - 10 * DAY),
        nextUpdate: new Date(Date.now() - 3 * DAY),
        revoked: [],
      });
      const before = need.events().length;
      replaceFile(crlFile, expiredCrl.toPem());
      await within(APPLY_BOUND_MS, 'crl-expired', () => eventsNamed(need, 'crl-expired', before).length > 0);
    });

    test('is applied and logged at level error with the command that fixes it', () => {
      expect(need.server.crl()!.crlNumber).toBe(expiredCrl.crlNumber);
      expect(eventsNamed(need, 'crl-expired').at(-1)).toMatchObject({
        level: 'error',
        file: crlFile,
        crlNumber: expiredCrl.crlNumber.toString(),
        nextUpdate: expiredCrl.nextUpdate.toISOString(),
        hint: 'run `mtls-ca crl` now, and daily from cron',
        message: `CRL expired at ${expiredCrl.nextUpdate.toISOString()}: every client certificate is refused (CRL_HAS_EXPIRED) until a fresh CRL is published`,
      });
    });

    test('fails closed: every client is refused (need) or 401 REVOCATION_UNAVAILABLE (want), with CRL_HAS_EXPIRED', async () => {
      const before = need.lines.length;
      expect((await get(need.port, caFile, alice)).status).toBeUndefined();
      expect(eventsNamed(need, 'tls-refused', before)).toMatchObject([
        { reason: 'REVOCATION_UNAVAILABLE', detail: 'CRL_HAS_EXPIRED', subject: 'CN=alice' },
      ]);
      await within(APPLY_BOUND_MS, 'the want server applies the expired CRL', () => {
        return want.server.crl()?.crlNumber === expiredCrl.crlNumber;
      });
      const r = await curl(`${want.url}/customer/1`, { caFile, client: alice });
      expect([r.status, JSON.parse(r.body).reason]).toEqual([401, 'REVOCATION_UNAVAILABLE']);
    });

    test('is logged again on every reload (SIGHUP)', async () => {
      const before = need.events().length;
      await need.server.reload();
      const after = need
        .events()
        .slice(before)
        .filter((e) => e.type === 'event');
      expect(after.map((e) => e.event)).toEqual(['crl-expired', 'reloaded']);
      expect(after[1]).toMatchObject({ crlNumber: expiredCrl.crlNumber.toString() });
    });

    test('mtls-ca crl publishes a fresh one and everyone not revoked is back, without a restart', async () => {
      await mtlsCa(['crl', '--dir', D]);
      await within(APPLY_BOUND_MS, 'alice is served again', async () => {
        return (await get(need.port, caFile, alice)).status === 200;
      });
      const before = need.lines.length;
      expect((await get(need.port, caFile, pavel)).status).toBeUndefined();
      expect(eventsNamed(need, 'tls-refused', before)).toMatchObject([
        { reason: 'REVOKED', subject: 'CN=pavel' },
      ]);
    });
  });

  test('a CRL that revokes someone else leaves alice’s keep-alive connection open', async () => {
    const first = await get(need.port, caFile, alice, agent);
    expect(first.status).toBe(200);
    await mtlsCa(['revoke', 'rita', '--dir', D]);
    await within(APPLY_BOUND_MS, 'the next CRL', () =>
      eventsNamed(need, 'crl-loaded').some((e) => e.revoked === 3),
    );
    const second = await get(need.port, caFile, alice, agent);
    expect([second.status, second.reused, second.socket]).toEqual([200, true, first.socket]);
  });
});

describe('start-up', () => {
  const root = tempDir('mtls-ca-crl-start-');

  test('a CRL signed by another CA stops the start, naming the file', async () => {
    const dir = await createCaDir(path.join(root, 'foreign'), { pavel: { roles: ['user'] } });
    const other = await newCa('Other CA');
    const crlFile = path.join(dir.dir, 'ca', 'crl.pem');
    writeFileSync(
      crlFile,
      createCrl({ ca: other, crlNumber: 1n, nextUpdate: new Date(Date.now() + DAY), revoked: [] }).toPem(),
    );
    const error = errorOf(() => createMtlsServer({ dir: dir.dir, port: 0, log: () => {} }));
    expect(error.code).toBe('BAD_SIGNATURE');
    expect(error.message).toBe(
      `use CRL ${crlFile}: it was not signed by a CA this server trusts (its issuer: CN=Other CA)`,
    );
    expect(error.detail).toEqual({ kind: 'crl-unusable', problem: 'foreign' });
    expect(hintFor(error)).toBe('publish a CRL of this CA with `mtls-ca crl`');
  });

  test('an explicit crlFile that does not exist stops the start', async () => {
    const dir = await createCaDir(path.join(root, 'explicit'), {});
    const missing = path.join(root, 'nope.pem');
    const error = errorOf(() => createMtlsServer({ dir: dir.dir, crlFile: missing, port: 0, log: () => {} }));
    expect(error.code).toBe('NOT_FOUND');
    expect(error.message).toBe(`read CRL ${missing}: no such file`);
  });

  test('reload() (SIGHUP) reads the CRL too, and closes the connections it revokes', async () => {
    const dir = await createCaDir(path.join(root, 'reload'), { pavel: { roles: ['user'] } });
    const pavel = await dir.issueClient('pavel');
    const crlFile = path.join(dir.dir, 'ca', 'crl.pem');
    const crl = (n: bigint, revoked: string[]) => crlPem(dir.ca, n, revoked);
    writeFileSync(crlFile, crl(1n, []));
    // Not watched: only reload() can apply the new file here.
    const s = await start({ dir: dir.dir, watchCrl: false });
    const open = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await get(s.port, dir.caFile, pavel, open);
      expect(first.status).toBe(200);
      const closed = once(first.socket!, 'close');
      replaceFile(crlFile, crl(2n, [pavel.certificate.serialHex]));
      expect(s.server.crl()!.crlNumber).toBe(1n);
      const before = s.events().length;
      await s.server.reload();
      await closed;
      expect(s.server.crl()!.crlNumber).toBe(2n);
      const logged = s
        .events()
        .slice(before)
        .filter((e) => e.type === 'event');
      expect(logged.map((e) => e.event)).toEqual(['revoked-connection-closed', 'reloaded']);
      expect(logged[1]).toMatchObject({
        message: 'certificate, key, CA and CRL reloaded',
        crlNumber: '2',
      });
      expect((await get(s.port, dir.caFile, pavel)).status).toBeUndefined();
    } finally {
      open.destroy();
    }
  });

  test('no CRL yet: a warning, and a CRL that appears later is picked up and enforced', async () => {
    const dir = await createCaDir(path.join(root, 'late'), {
      pavel: { roles: ['user'] },
      zoe: { roles: ['user'] },
    });
    const pavel = await dir.issueClient('pavel');
    const zoe = await dir.issueClient('zoe');
    const s = await start({ dir: dir.dir });
    const crlFile = path.join(dir.dir, 'ca', 'crl.pem');
    expect(eventsNamed(s, 'crl-missing')).toEqual([
      expect.objectContaining({ level: 'warn', file: crlFile, hint: 'write one with `mtls-ca crl`' }),
    ]);
    expect((await get(s.port, dir.caFile, pavel)).status).toBe(200);

    const crl = createCrl({
      ca: dir.ca,
      crlNumber: 1n,
      nextUpdate: new Date(Date.now() + DAY),
      revoked: [{ serialHex: pavel.certificate.serialHex, revokedAt: new Date() }],
    });
    replaceFile(crlFile, crl.toPem());
    await within(
      APPLY_BOUND_MS,
      'pavel is refused',
      async () => (await get(s.port, dir.caFile, pavel)).status === undefined,
    );
    expect((await get(s.port, dir.caFile, zoe)).status).toBe(200);

    // Deleting the CRL does not un-revoke anyone.
    unlinkSync(crlFile);
    await within(APPLY_BOUND_MS, 'crl-missing', () => eventsNamed(s, 'crl-missing').length === 2);
    expect(eventsNamed(s, 'crl-missing')[1]).toMatchObject({
      message: 'CRL file removed; keeping CRL number 1',
    });
    expect((await get(s.port, dir.caFile, pavel)).status).toBeUndefined();
  });
});

/** The certificate's serial as the server logs it and the CRL lists it. */
function certSerial(c: Client): string {
  return Certificate.from(readFileSync(c.cert), c.cert).serialHex;
}

/** A TLS session ticket (TLS 1.3) from a full handshake with `client`'s certificate. */
async function tlsSession(port: number, caFile: string, client: Client): Promise<Buffer> {
  const socket = tls.connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: readFileSync(caFile),
    cert: readFileSync(client.cert),
    key: readFileSync(client.key),
  });
  const [session] = (await once(socket, 'session')) as [Buffer];
  socket.destroy();
  return session;
}

/** Connects with a saved session: did the server resume it, and did it accept the certificate? */
async function resume(
  port: number,
  caFile: string,
  client: Client,
  session: Buffer,
): Promise<{ authorized: boolean; reused: boolean }> {
  const socket = tls.connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: readFileSync(caFile),
    cert: readFileSync(client.cert),
    key: readFileSync(client.key),
    session,
  });
  let reused = false;
  let data = '';
  socket.on('error', () => {
    // A refused connection is reset; the answer (none) says so.
  });
  socket.on('secureConnect', () => {
    reused = socket.isSessionReused();
    // The server closes a refused connection right after the handshake; an accepted one answers.
    socket.write('GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
  });
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => {
    data += d;
  });
  await once(socket, 'close');
  return { authorized: data.startsWith('HTTP/1.1 200'), reused };
}

describeWithTools(['openssl'], 'revocation along the chain', () => {
  const root = tempDir('mtls-ca-crl-chain-');

  test('a chain through an intermediate our CA signed: revoking the intermediate refuses its leaf', async () => {
    // Regression: only a certificate issued by the CA itself was looked up in the CRL.
    const dir = await createCaDir(path.join(root, 'chain'), { pavel: { roles: ['user'] } });
    const intermediate = opensslCertificate(
      dir,
      'intermediate',
      'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign',
      { commonName: 'Intermediate CA' },
    );
    const leaf = opensslCertificate(
      dir,
      'pavel-sub',
      'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth',
      { commonName: 'pavel', issuer: intermediate, chain: [intermediate.cert] },
    );
    const crlFile = path.join(dir.dir, 'ca', 'crl.pem');
    const crl = (n: bigint, revoked: string[]) => crlPem(dir.ca, n, revoked);
    writeFileSync(crlFile, crl(1n, []));
    const s = await start({ dir: dir.dir });
    const open = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await get(s.port, dir.caFile, leaf, open);
      expect(first.status).toBe(200);
      const closed = once(first.socket!, 'close');
      replaceFile(crlFile, crl(2n, [intermediate.certificate.serialHex]));
      await within(
        APPLY_BOUND_MS,
        'the leaf under the revoked intermediate is refused',
        async () => (await get(s.port, dir.caFile, leaf)).status === undefined,
      );
      const refused = eventsNamed(s, 'tls-refused');
      expect(refused).not.toEqual([]);
      for (const e of refused)
        expect(e).toMatchObject({
          reason: 'REVOKED',
          detail: 'CERT_REVOKED',
          subject: 'CN=pavel',
          issuer: 'CN=Intermediate CA',
        });
      await closed;
      // A probing connection may still have been open when the CRL came: then it is in the log too.
      const closedLines = eventsNamed(s, 'revoked-connection-closed');
      expect(closedLines.length).toBeGreaterThan(0);
      expect(closedLines.every((e) => e.serial === leaf.certificate.serialHex)).toBe(true);
    } finally {
      open.destroy();
    }
  });
});

/**
 * The mTLS server against the real curl (OpenSSL 3) and Node's TLS client, on 127.0.0.1 port 0.
 * Certificates come from our own pki functions; nothing about TLS or crypto is mocked.
 */
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Certificate } from '../../src/pki/certificate.js';
import { createMtlsServer, type MtlsServer, type MtlsServerOptions } from '../../src/server/mtls-server.js';
import { errorOf } from '../helpers/errors.js';
import { within } from '../helpers/poll.js';
import { describeWithTools, tempDir } from '../helpers/tools.js';
import {
  type ClientFiles,
  createCaDir,
  curl,
  eventsNamed,
  newCa,
  opensslCertificate,
  type RunningServer,
  startServer,
  type TestCaDir,
} from './helpers.js';

const DAY = 86_400_000;

type Running = RunningServer;

const running: MtlsServer[] = [];
afterAll(async () => {
  await Promise.all(running.map((s) => s.close()));
});

const start = (options: MtlsServerOptions): Promise<Running> => startServer(running, options);

/** Opens a TLS connection, optionally sends raw bytes, and collects everything until the server closes. */
async function rawTls(
  port: number,
  opts: { caFile: string; client?: ClientFiles; send?: string; minVersion?: tls.SecureVersion },
): Promise<{ data: string; peer?: Certificate; error?: string }> {
  const { readFileSync } = await import('node:fs');
  const socket = tls.connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: readFileSync(opts.caFile),
    cert: opts.client ? readFileSync(opts.client.cert) : undefined,
    key: opts.client ? readFileSync(opts.client.key) : undefined,
    minVersion: opts.minVersion,
  });
  let data = '';
  let peer: Certificate | undefined;
  let error: string | undefined;
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => {
    data += d;
  });
  socket.on('error', (e: NodeJS.ErrnoException) => {
    error = e.code ?? e.message;
  });
  socket.on('secureConnect', () => {
    const x509 = socket.getPeerX509Certificate();
    if (x509) peer = new Certificate(x509.raw);
    // Nothing to send: hang up rather than wait for the server's headers timeout.
    if (opts.send === undefined) socket.end();
  });
  if (opts.send !== undefined) socket.write(opts.send);
  await once(socket, 'close');
  return { data, peer, error };
}

describeWithTools(['curl', 'openssl'], 'mTLS server (curl)', () => {
  const root = tempDir('mtls-ca-server-');
  let ca: TestCaDir;
  let pavel: ClientFiles;
  let stranger: ClientFiles;
  let expired: ClientFiles;
  let future: ClientFiles;
  /** CN=pavel with CA:TRUE and EKU clientAuth, signed with the CA key: OpenSSL verifies it as a client. */
  let caLeaf: ClientFiles;
  const serverAsClient = () => ({
    cert: path.join(ca.dir, 'server', 'server.crt'),
    key: path.join(ca.dir, 'server', 'server.key'),
  });

  beforeAll(async () => {
    ca = await createCaDir(path.join(root, 'ssl'), {
      pavel: { roles: ['user'] },
      bob: { roles: ['auditor'] },
    });
    pavel = await ca.issueClient('pavel');
    // Same CN as a real user, from a CA the server does not trust.
    stranger = await ca.issueClient('pavel', { ca: await newCa('Other CA'), file: 'stranger' });
    expired = await ca.issueClient('pavel', {
      now: new Date(Date.now() - 400 * DAY),
      days: 30,
      file: 'expired',
    });
    future = await ca.issueClient('pavel', { now: new Date(Date.now() + 10 * DAY), file: 'future' });
    caLeaf = opensslCertificate(
      ca,
      'ca-leaf',
      'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature,keyCertSign\nextendedKeyUsage=clientAuth',
      { commonName: 'pavel' },
    );
  });

  describe('need (Tomcat clientAuth=need)', () => {
    let s: Running;
    beforeAll(async () => {
      s = await start({ dir: ca.dir, clientAuth: 'need' });
    });

    test('GET /customer/1 with pavel’s certificate answers exactly the tutorial’s JSON', async () => {
      const r = await curl(`${s.url}/customer/1`, { caFile: ca.caFile, client: pavel });
      expect(r).toMatchObject({ exit: 0, status: 200, contentType: 'application/json; charset=utf-8' });
      expect(r.body).toBe('{"id":1,"name":"Customer1"}');
    });

    test('the largest safe integer is an id; one more is not', async () => {
      const ok = await curl(`${s.url}/customer/9007199254740991`, { caFile: ca.caFile, client: pavel });
      expect(ok.body).toBe('{"id":9007199254740991,"name":"Customer9007199254740991"}');
      const tooBig = await curl(`${s.url}/customer/9007199254740992`, { caFile: ca.caFile, client: pavel });
      expect(tooBig.status).toBe(400);
    });

    test.each([
      ['abc', 'customer id must be a positive integer, got "abc"'],
      ['0', 'customer id must be a positive integer, got "0"'],
      ['-1', 'customer id must be a positive integer, got "-1"'],
      ['01', 'customer id must be a positive integer, got "01"'],
      ['1e3', 'customer id must be a positive integer, got "1e3"'],
    ])('GET /customer/%s is 400 JSON', async (id, message) => {
      const r = await curl(`${s.url}/customer/${id}`, { caFile: ca.caFile, client: pavel });
      expect(r.status).toBe(400);
      expect(JSON.parse(r.body)).toEqual({ error: 'bad_request', message });
    });

    test('a malformed percent-escape is a 400 without a stack trace', async () => {
      const r = await curl(`${s.url}/customer/%E0%A4%A`, { caFile: ca.caFile, client: pavel });
      expect(r.status).toBe(400);
      expect(JSON.parse(r.body)).toMatchObject({ error: 'bad_request' });
      expect(r.body).not.toMatch(/at .*\.(js|ts):\d+/);
    });

    test('GET /whoami describes the certificate', async () => {
      const r = await curl(`${s.url}/whoami`, { caFile: ca.caFile, client: pavel });
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body)).toEqual({
        user: 'pavel',
        roles: ['user'],
        subject: 'CN=pavel',
        issuer: 'CN=mtls-ca test CA',
        serial: pavel.certificate.serialHex,
        fingerprint256: pavel.certificate.fingerprint256,
        notBefore: pavel.certificate.notBefore.toISOString(),
        notAfter: pavel.certificate.notAfter.toISOString(),
      });
    });

    test('response headers: no X-Powered-By, no ETag, no caching of per-user answers', async () => {
      const r = await curl(`${s.url}/customer/1`, { caFile: ca.caFile, client: pavel, args: ['-D', '-'] });
      const head = r.body.slice(0, r.body.indexOf('\r\n\r\n')).toLowerCase();
      expect(head).toMatch(/^http\/1\.1 200 ok\r\n/);
      expect(head).toContain('\r\ncache-control: no-store\r\n');
      expect(head).toContain('\r\nx-content-type-options: nosniff\r\n');
      expect(head).not.toContain('x-powered-by');
      expect(head).not.toContain('etag');
      expect(head).toContain('\r\ncontent-type: application/json; charset=utf-8\r\n');
      expect(head).toMatch(/\r\ncontent-length: 27(\r\n|$)/);
    });

    test('HEAD /customer/1: the GET headers, no body', async () => {
      const r = await curl(`${s.url}/customer/1`, { caFile: ca.caFile, client: pavel, args: ['-I'] });
      const head = r.body.toLowerCase();
      expect(head).toMatch(/^http\/1\.1 200 ok\r\n/);
      expect(head).toContain('\r\ncontent-type: application/json; charset=utf-8\r\n');
      expect(head).toContain('\r\ncontent-length: 27\r\n');
      expect(head.trimEnd().endsWith('keep-alive: timeout=5')).toBe(true);
    });

    test('GET /health', async () => {
      const r = await curl(`${s.url}/health`, { caFile: ca.caFile, client: pavel });
      expect([r.status, r.body]).toEqual([200, '{"status":"ok"}']);
    });

    test('an unknown path is 404 JSON', async () => {
      const r = await curl(`${s.url}/nope?token=secret`, { caFile: ca.caFile, client: pavel });
      expect(r.status).toBe(404);
      expect(JSON.parse(r.body)).toEqual({ error: 'not_found', message: 'no route for GET /nope' });
    });

    test('the access log has one line per request, without the query string, naming the verified user', async () => {
      const before = s.lines.length;
      await curl(`${s.url}/health?token=secret`, { caFile: ca.caFile, client: pavel });
      // The line is written when the response closes, which can be just after curl has its answer.
      const access = () =>
        s
          .events()
          .slice(before)
          .filter((e) => e.type === 'access');
      await within(5_000, 'the access line', () => access().length > 0);
      // /health needs no certificate, but this connection has a verified one: the line names its user.
      expect(access()).toMatchObject([{ user: 'pavel', method: 'GET', path: '/health', status: 200 }]);
      expect(s.lines.join('\n')).not.toContain('secret');
      const customer = s.events().find((e) => e.type === 'access' && e.path === '/customer/1');
      expect(customer).toMatchObject({ user: 'pavel', method: 'GET', status: 200 });
      expect(typeof customer!.ms).toBe('number');
    });

    test.each([
      ['no certificate', undefined, 'NO_CERTIFICATE', undefined],
      ['a certificate from another CA', 'stranger', 'UNTRUSTED', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
      ['an expired certificate', 'expired', 'EXPIRED', 'CERT_HAS_EXPIRED'],
      ['a certificate not valid yet', 'future', 'NOT_YET_VALID', 'CERT_NOT_YET_VALID'],
    ])('%s: curl fails at TLS and the log names the reason', async (_name, which, reason, detail) => {
      const client = { stranger, expired, future }[which as 'stranger'] as ClientFiles | undefined;
      const before = s.lines.length;
      const r = await curl(`${s.url}/customer/1`, { caFile: ca.caFile, client });
      expect(r.exit).not.toBe(0);
      expect(r.status).toBe(0);
      const logged = s.events().slice(before);
      const refused = logged.find((e) => e.event === 'tls-refused');
      expect(refused).toMatchObject({ level: 'warn', reason, ...(detail ? { detail } : {}) });
      if (client) {
        expect(refused).toMatchObject({ subject: 'CN=pavel', serial: client.certificate.serialHex });
      }
      expect(logged.filter((e) => e.type === 'access')).toEqual([]);
    });

    test('a refused client’s pipelined request never reaches the app (TLS 1.3)', async () => {
      // Regression: with the gate added after https' own secureConnection listener, every one of these
      // requests was parsed and answered by the app although the socket was destroyed.
      for (let i = 0; i < 20; i++) {
        const r = await rawTls(s.port, {
          caFile: ca.caFile,
          client: stranger,
          minVersion: 'TLSv1.3',
          send: 'GET /pipelined HTTP/1.1\r\nHost: localhost\r\n\r\n',
        });
        expect(r.data).toBe('');
      }
      expect(s.events().filter((e) => e.path === '/pipelined')).toEqual([]);
    });

    test('a server certificate is not accepted as a client certificate: WRONG_PURPOSE / INVALID_PURPOSE', async () => {
      const before = s.lines.length;
      const r = await curl(`${s.url}/whoami`, { caFile: ca.caFile, client: serverAsClient() });
      expect(r.exit).not.toBe(0);
      const refused = s
        .events()
        .slice(before)
        .filter((e) => e.event === 'tls-refused');
      expect(refused).toMatchObject([{ reason: 'WRONG_PURPOSE', detail: 'INVALID_PURPOSE' }]);
    });

    test('a CA:TRUE certificate made with the CA key is refused as a client: WRONG_PURPOSE / CA_CERTIFICATE', async () => {
      // Regression: OpenSSL verifies such a certificate for client authentication, and it was let in.
      const before = s.lines.length;
      const r = await curl(`${s.url}/customer/1`, { caFile: ca.caFile, client: caLeaf });
      expect([r.exit === 0, r.status]).toEqual([false, 0]);
      const refused = s
        .events()
        .slice(before)
        .filter((e) => e.event === 'tls-refused');
      expect(refused).toMatchObject([
        {
          reason: 'WRONG_PURPOSE',
          detail: 'CA_CERTIFICATE',
          subject: 'CN=pavel',
          serial: caLeaf.certificate.serialHex,
        },
      ]);
    });

    test('TLS 1.1 is refused', async () => {
      expect(await rawTlsVersion(s.port, ca.caFile, 'TLSv1.1')).toMatch(/^ERR_SSL_|^EPROTO|^ECONNRESET/);
    });
  });

  describe('want (Tomcat clientAuth=want): the app answers 401', () => {
    let s: Running;
    beforeAll(async () => {
      s = await start({ dir: ca.dir, clientAuth: 'want' });
    });

    const WRONG_PURPOSE =
      'the certificate is not a client certificate (it is for another purpose, or a CA certificate)';
    test.each([
      [
        'no certificate',
        undefined,
        'NO_CERTIFICATE',
        undefined,
        'a client certificate is required and none was presented',
      ],
      [
        'another CA',
        'stranger',
        'UNTRUSTED',
        'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
        'the client certificate was not issued by a CA this server trusts',
      ],
      ['expired', 'expired', 'EXPIRED', 'CERT_HAS_EXPIRED', 'the client certificate has expired'],
      [
        'not yet valid',
        'future',
        'NOT_YET_VALID',
        'CERT_NOT_YET_VALID',
        'the client certificate is not valid yet',
      ],
      // Regression: want mode answered UNTRUSTED where need mode logged the real cause.
      ['the server certificate', 'server', 'WRONG_PURPOSE', 'INVALID_PURPOSE', WRONG_PURPOSE],
      ['a CA:TRUE certificate', 'caLeaf', 'WRONG_PURPOSE', 'CA_CERTIFICATE', WRONG_PURPOSE],
    ])(
      '%s → 401 JSON with the reason and detail need mode logs',
      async (_name, which, reason, detail, message) => {
        const clients = { stranger, expired, future, caLeaf, server: serverAsClient() };
        const client = clients[which as keyof typeof clients] as ClientFiles | undefined;
        const before = s.lines.length;
        const r = await curl(`${s.url}/customer/1`, { caFile: ca.caFile, client });
        expect(r).toMatchObject({ exit: 0, status: 401, contentType: 'application/json; charset=utf-8' });
        expect(JSON.parse(r.body)).toEqual({
          error: 'unauthorized',
          reason,
          ...(detail ? { detail } : {}),
          message,
        });
        // An unverified certificate's name is attacker-chosen: it must not be logged as the user.
        const access = () =>
          s
            .events()
            .slice(before)
            .filter((e) => e.type === 'access');
        await within(5_000, 'the access line', () => access().length > 0);
        expect(access()).toMatchObject([{ user: null, status: 401 }]);
      },
    );

    test('a browser (Accept: text/html) gets an HTML page', async () => {
      const r = await curl(`${s.url}/customer/1`, {
        caFile: ca.caFile,
        client: expired,
        headers: ['Accept: text/html,application/xhtml+xml,*/*;q=0.8'],
      });
      expect(r.status).toBe(401);
      expect(r.contentType).toBe('text/html; charset=utf-8');
      expect(r.body).toContain('<h1>Client certificate required</h1>');
      expect(r.body).toContain('<p>the client certificate has expired</p>');
      expect(r.body).toContain('<p>Reason: <code>EXPIRED</code> (<code>CERT_HAS_EXPIRED</code>)</p>');
    });

    test('/health answers without a certificate, so a load balancer can probe', async () => {
      const r = await curl(`${s.url}/health`, { caFile: ca.caFile });
      expect([r.status, r.body]).toEqual([200, '{"status":"ok"}']);
    });

    test('an unknown path without a certificate is 401, not 404 (routes are not revealed)', async () => {
      const r = await curl(`${s.url}/nope`, { caFile: ca.caFile });
      expect(r.status).toBe(401);
    });

    test('a malformed percent-escape in a route without a certificate is 401, not 400, and logs no error', async () => {
      const before = s.lines.length;
      const r = await curl(`${s.url}/customer/%E0%A4%A`, { caFile: ca.caFile, args: ['-D', '-'] });
      expect(r.status).toBe(401);
      const cut = r.body.indexOf('\r\n\r\n');
      expect(r.body.slice(0, cut).toLowerCase()).toContain('\r\ncache-control: no-store\r\n');
      expect(JSON.parse(r.body.slice(cut + 4))).toMatchObject({
        error: 'unauthorized',
        reason: 'NO_CERTIFICATE',
      });
      await within(5_000, 'the access line', () =>
        s
          .events()
          .slice(before)
          .some((e) => e.type === 'access'),
      );
      expect(
        s
          .events()
          .slice(before)
          .filter((e) => e.event === 'request-failed'),
      ).toEqual([]);
    });

    test('a valid certificate works as in need mode', async () => {
      const r = await curl(`${s.url}/customer/2`, { caFile: ca.caFile, client: pavel });
      expect([r.status, r.body]).toEqual([200, '{"id":2,"name":"Customer2"}']);
    });
  });

  describe('roles and users.json', () => {
    let s: Running;
    let users: TestCaDir;
    let ann: ClientFiles;
    let zoe: ClientFiles;
    beforeAll(async () => {
      users = await createCaDir(path.join(root, 'users'), {
        ann: { roles: ['auditor'] },
        zoe: { roles: ['user'] },
      });
      ann = await users.issueClient('ann');
      zoe = await users.issueClient('zoe');
      s = await start({ dir: users.dir, clientAuth: 'need' });
    });

    test('a known user without role user: 403 on /customer/1, 200 on /whoami', async () => {
      const denied = await curl(`${s.url}/customer/1`, { caFile: users.caFile, client: ann });
      expect(denied.status).toBe(403);
      expect(JSON.parse(denied.body)).toEqual({
        error: 'forbidden',
        reason: 'MISSING_ROLE',
        message: 'access denied: role user required',
        user: 'ann',
      });
      const who = await curl(`${s.url}/whoami`, { caFile: users.caFile, client: ann });
      expect(who.status).toBe(200);
      expect(JSON.parse(who.body)).toMatchObject({ user: 'ann', roles: ['auditor'] });
    });

    test('an unknown user: 403 JSON "access denied", and an HTML page naming the user', async () => {
      const m = await users.issueClient('mallory');
      const json = await curl(`${s.url}/whoami`, { caFile: users.caFile, client: m });
      expect(json.status).toBe(403);
      expect(JSON.parse(json.body)).toEqual({
        error: 'forbidden',
        reason: 'UNKNOWN_USER',
        message: 'access denied',
        user: 'mallory',
      });
      const html = await curl(`${s.url}/customer/1`, {
        caFile: users.caFile,
        client: m,
        headers: ['Accept: text/html'],
      });
      expect(html.status).toBe(403);
      expect(html.body).toContain('<h1>Access denied</h1>');
      expect(html.body).toContain('<p>User: <strong>mallory</strong></p>');
    });

    test('a user name is HTML-escaped in the access-denied page', async () => {
      const evil = await users.issueClient('<img src=x onerror=alert(1)>', { file: 'evil' });
      const html = await curl(`${s.url}/whoami`, {
        caFile: users.caFile,
        client: evil,
        headers: ['Accept: text/html'],
      });
      expect(html.body).toContain('<strong>&lt;img src=x onerror=alert(1)&gt;</strong>');
      expect(html.body).not.toContain('<img');
    });

    test.each(['__proto__', 'constructor', 'toString'])('CN %s is not a user', async (cn) => {
      const c = await users.issueClient(cn, { file: `proto-${cn}` });
      const r = await curl(`${s.url}/whoami`, { caFile: users.caFile, client: c });
      expect(r.status).toBe(403);
    });

    test('editing users.json takes effect on the next requests, without a restart', async () => {
      const status = async (c: ClientFiles) =>
        (await curl(`${s.url}/customer/1`, { caFile: users.caFile, client: c })).status;
      expect(await status(ann)).toBe(403);

      users.writeUsers({ ann: { roles: ['auditor', 'user'] }, zoe: { roles: ['user'] } });
      await within(5_000, 'ann let in', async () => (await status(ann)) === 200);

      users.writeUsers({ ann: { roles: ['auditor', 'user'] } });
      await within(5_000, 'zoe turned away', async () => (await status(zoe)) === 403);
      expect(await status(ann)).toBe(200);
    });

    test('a malformed users.json keeps the last good version and is logged once', async () => {
      users.writeUsers({ ann: { roles: ['user'] } });
      const status = async () =>
        (await curl(`${s.url}/customer/1`, { caFile: users.caFile, client: ann })).status;
      await within(5_000, 'ann let in', async () => (await status()) === 200);
      const before = s.lines.length;
      writeFileSync(users.usersFile, '{"users": {"ann": {"roles": [');
      for (let i = 0; i < 3; i++) expect(await status()).toBe(200);
      const invalid = s
        .events()
        .slice(before)
        .filter((e) => e.event === 'users-invalid');
      expect(invalid).toHaveLength(1);
      expect(invalid[0]).toMatchObject({ level: 'error', file: users.usersFile });
      expect(String(invalid[0]!.message)).toMatch(
        /^read .*users\.json: not valid JSON .*; keeping the last good version$/,
      );

      users.writeUsers({});
      await within(5_000, 'ann turned away', async () => (await status()) === 403);
    });
  });

  describe('reload()', () => {
    let dir: TestCaDir;
    let s: Running;
    let client: ClientFiles;
    beforeAll(async () => {
      dir = await createCaDir(path.join(root, 'reload'), { pavel: { roles: ['user'] } });
      client = await dir.issueClient('pavel');
      // Only reload() applies the files these tests replace (the watch is tested end to end with serve).
      s = await start({ dir: dir.dir, watchServerFiles: false });
    });

    test('new connections see the new server certificate; options are not lost', async () => {
      const first = await rawTls(s.port, { caFile: dir.caFile, client });
      const next = await dir.issueServer();
      expect(next.serialHex).not.toBe(first.peer!.serialHex);
      await s.server.reload();
      const second = await rawTls(s.port, { caFile: dir.caFile, client });
      expect(second.peer!.serialHex).toBe(next.serialHex);
      expect(eventsNamed(s, 'reloaded')).toMatchObject([{ serial: next.serialHex }]);
      const r = await curl(`${s.url}/customer/7`, { caFile: dir.caFile, client });
      expect(r.body).toBe('{"id":7,"name":"Customer7"}');
    });

    test('broken files: reload() rejects naming the file, and the server keeps serving', async () => {
      const keyFile = path.join(dir.dir, 'server', 'server.key');
      const { readFileSync } = await import('node:fs');
      const goodKey = readFileSync(keyFile);
      const serving = (await rawTls(s.port, { caFile: dir.caFile, client })).peer!.serialHex;
      writeFileSync(keyFile, 'not a key');
      const error = await errorOf(() => s.server.reload());
      expect(error.code).toBe('PARSE_FAILED');
      expect(error.message).toBe(`read ${keyFile}: not a valid private key`);
      expect(eventsNamed(s, 'reload-failed')).toMatchObject([{ level: 'error' }]);
      expect((await rawTls(s.port, { caFile: dir.caFile, client })).peer!.serialHex).toBe(serving);

      // A key from another certificate is refused too.
      await dir.issueServer();
      writeFileSync(keyFile, goodKey);
      expect((await errorOf(() => s.server.reload())).code).toBe('INVALID_ARGUMENT');
      expect((await rawTls(s.port, { caFile: dir.caFile, client })).peer!.serialHex).toBe(serving);
    });
  });
});

async function rawTlsVersion(port: number, caFile: string, version: tls.SecureVersion): Promise<string> {
  const { readFileSync } = await import('node:fs');
  return new Promise((resolve) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca: readFileSync(caFile),
      minVersion: 'TLSv1',
      maxVersion: version,
      // OpenSSL 3's default security level 1 disables TLS < 1.2 in the client; level 0 lets us ask for it.
      ciphers: 'DEFAULT@SECLEVEL=0',
    });
    socket.on('secureConnect', () => {
      resolve(`connected with ${socket.getProtocol()}`);
      socket.destroy();
    });
    socket.on('error', (e: NodeJS.ErrnoException) => resolve(`${e.code} ${e.message}`));
  });
}

describeWithTools(['curl'], 'mTLS server: timeouts and shutdown', () => {
  const root = tempDir('mtls-ca-server-timeouts-');
  let ca: TestCaDir;
  let pavel: ClientFiles;
  beforeAll(async () => {
    ca = await createCaDir(path.join(root, 'ssl'), { pavel: { roles: ['user'] } });
    pavel = await ca.issueClient('pavel');
  });

  test('defaults: headers 10 s, request 30 s, keep-alive 5 s, handshake 10 s', async () => {
    const s = await start({ dir: ca.dir });
    expect(s.server.server.headersTimeout).toBe(10_000);
    expect(s.server.server.requestTimeout).toBe(30_000);
    expect(s.server.server.keepAliveTimeout).toBe(5_000);
    expect(s.server.timeouts).toEqual({
      handshakeMs: 10_000,
      headersMs: 10_000,
      requestMs: 30_000,
      keepAliveMs: 5_000,
      shutdownMs: 10_000,
    });
  });

  test('a headers timeout longer than the request timeout is refused', () => {
    const error = errorOf(() =>
      createMtlsServer({ dir: ca.dir, timeouts: { headersMs: 5_000, requestMs: 1_000 } }),
    );
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toBe(
      'use timeouts headersMs=5000, requestMs=1000: headers cannot take longer than the request',
    );
  });

  test('slowloris: half a header is answered 408 and the connection closed', async () => {
    const s = await start({
      dir: ca.dir,
      timeouts: { headersMs: 300, requestMs: 600, keepAliveMs: 200, handshakeMs: 500 },
    });
    expect([s.server.server.headersTimeout, s.server.server.requestTimeout]).toEqual([300, 600]);
    const r = await withBound(
      rawTls(s.port, {
        caFile: ca.caFile,
        client: pavel,
        send: 'GET /customer/1 HTTP/1.1\r\nHost: localhost\r\n',
      }),
    );
    expect(r.data).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
  });

  test('requests Node refuses before the app (400, 431, 408) leave an access line', async () => {
    // Regression: Node's HTTP parser answered these itself and nothing reached the access log.
    const s = await start({
      dir: ca.dir,
      timeouts: { headersMs: 300, requestMs: 600, keepAliveMs: 200, handshakeMs: 500 },
    });
    const send = (bytes: string) =>
      withBound(rawTls(s.port, { caFile: ca.caFile, client: pavel, send: bytes }));
    expect((await send('NOT HTTP AT ALL\r\n\r\n')).data).toBe(
      'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n',
    );
    const big = `GET /customer/1 HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`;
    expect((await send(big)).data).toBe(
      'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n',
    );
    expect((await send('GET /customer/1 HTTP/1.1\r\nHost: localhost\r\n')).data).toBe(
      'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n',
    );
    const access = s.events().filter((e) => e.type === 'access');
    expect(access).toEqual(
      [400, 431, 408].map((status) => ({
        time: expect.any(String),
        type: 'access',
        user: 'pavel',
        method: '-',
        path: '-',
        status,
        ms: null,
      })),
    );
  });

  test('a TCP client that never starts the handshake is dropped and logged', async () => {
    const s = await start({ dir: ca.dir, timeouts: { handshakeMs: 300, headersMs: 300, requestMs: 600 } });
    const socket = net.connect(s.port, '127.0.0.1');
    socket.on('error', () => {});
    await withBound(once(socket, 'close'));
    expect(eventsNamed(s, 'tls-error')).toMatchObject([{ code: 'ERR_TLS_HANDSHAKE_TIMEOUT' }]);
  });

  test('an idle keep-alive connection is closed after keepAliveMs', async () => {
    const s = await start({ dir: ca.dir, timeouts: { keepAliveMs: 200 } });
    const r = await withBound(
      rawTls(s.port, {
        caFile: ca.caFile,
        client: pavel,
        send: 'GET /customer/3 HTTP/1.1\r\nHost: localhost\r\n\r\n',
      }),
    );
    expect(r.data).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(r.data.endsWith('{"id":3,"name":"Customer3"}')).toBe(true);
  });

  test('the access log covers an embedded handler too: verified user, path without query', async () => {
    const s = await start({
      dir: ca.dir,
      handler: (req, res) => {
        // What an app may do while routing: the log keeps the URL the request arrived with.
        req.url = '/rewritten';
        res.statusCode = 204;
        res.end();
      },
    });
    const r = await curl(`${s.url}/embedded/path?token=secret`, { caFile: ca.caFile, client: pavel });
    expect(r.status).toBe(204);
    // The line is written when the response closes, which can be just after curl has its answer.
    await within(5_000, 'the access line', () => s.events().some((e) => e.type === 'access'));
    const line = s.events().find((e) => e.type === 'access');
    expect(line).toMatchObject({ user: 'pavel', method: 'GET', path: '/embedded/path', status: 204 });
    expect(line).not.toHaveProperty('aborted');
    expect(s.lines.join('\n')).not.toContain('secret');
  });

  test('close() lets a request in flight finish, closes idle connections, refuses new ones', async () => {
    let arrived!: () => void;
    const requestArrived = new Promise<void>((r) => {
      arrived = r;
    });
    const s = await start({
      dir: ca.dir,
      timeouts: { keepAliveMs: 50_000, shutdownMs: 50_000, requestMs: 50_000 },
      handler: (req, res) => {
        if (req.url === '/warm') {
          res.end('warm');
          return;
        }
        arrived();
        setTimeout(() => res.end('finished'), 200);
      },
    });
    const { readFileSync } = await import('node:fs');
    const agent = new https.Agent({
      keepAlive: true,
      ca: readFileSync(ca.caFile),
      cert: readFileSync(pavel.cert),
      key: readFileSync(pavel.key),
    });
    const get = (urlPath: string) =>
      new Promise<{ status: number; body: string; connection: string | undefined }>((resolve, reject) => {
        https
          .get(`${s.url}${urlPath}`, { agent, servername: 'localhost' }, (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => {
              body += d;
            });
            res.on('end', () =>
              resolve({ status: res.statusCode!, body, connection: res.headers.connection }),
            );
          })
          .on('error', reject);
      });
    // A first request leaves an idle keep-alive connection in the agent's pool.
    expect((await get('/warm')).body).toBe('warm');
    const slow = get('/slow');

    await requestArrived;
    await withBound(s.server.close());
    expect(await slow).toEqual({ status: 200, body: 'finished', connection: 'close' });
    const refused = await curl(`${s.url}/slow`, { caFile: ca.caFile, client: pavel });
    expect(refused.exit).toBe(7); // curl: failed to connect
    agent.destroy();
  });

  test('close() drops a request that outlives shutdownMs', async () => {
    let arrived = false;
    const s = await start({
      dir: ca.dir,
      timeouts: { shutdownMs: 200 },
      handler: () => {
        arrived = true;
      },
    });
    const hung = curl(`${s.url}/hang`, { caFile: ca.caFile, client: pavel });
    await within(10_000, 'the request reaches the handler', () => arrived);
    await withBound(s.server.close());
    expect((await hung).exit).not.toBe(0);
    expect(s.events().some((e) => e.event === 'shutdown-forced')).toBe(true);
    // The dropped request still gets its access line, marked as such.
    await within(5_000, 'the access line of /hang', () => s.events().some((e) => e.path === '/hang'));
    expect(s.events().find((e) => e.type === 'access' && e.path === '/hang')).toMatchObject({
      user: 'pavel',
      aborted: true,
    });
  });
});

/** Fails the test instead of hanging when `p` does not settle within 10 s (a bound, not a timing check). */
function withBound<T>(p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error('did not settle within 10 s')), 10_000);
    }),
  ]);
}

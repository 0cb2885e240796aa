/**
 * Mutual TLS with our PEM files, for every key type: a Node `tls` server that requires and verifies client
 * certificates against our CA, reached by a Node client and by `openssl s_client`. A client certificate
 * from another CA, and none at all, are turned away.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { exportPrivateKeyPem, KEY_TYPES, type KeyType } from '../../src/pki/keys.js';
import { createRootCa, issueClientCertificate, issueServerCertificate } from '../../src/pki/profiles.js';
import { fixtureKeys } from '../helpers/fixtures.js';
import { describeWithTools, tempDir } from '../helpers/tools.js';

interface Pem {
  cert: string;
  key: string;
}

interface Accepted {
  cn: string;
  authorized: boolean;
  authorizationError?: string;
}

interface TestServer {
  port: number;
  accepted: Accepted[];
  clientErrors: { code?: string; message: string }[];
}

const servers: tls.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
});

/** A server on 127.0.0.1:0 that greets each accepted client by the CN of its certificate. */
async function startServer(server: Pem, caPem: string, rejectUnauthorized = true): Promise<TestServer> {
  const accepted: Accepted[] = [];
  const clientErrors: TestServer['clientErrors'] = [];
  const s = tls.createServer({ ...server, ca: [caPem], requestCert: true, rejectUnauthorized }, (socket) => {
    const cn = String(socket.getPeerCertificate().subject?.CN ?? '');
    const authorizationError = socket.authorizationError ? String(socket.authorizationError) : undefined;
    accepted.push({
      cn,
      authorized: socket.authorized,
      ...(authorizationError ? { authorizationError } : {}),
    });
    socket.end(`hello ${cn}\n`);
  });
  s.on('tlsClientError', (e: NodeJS.ErrnoException) =>
    clientErrors.push({ code: e.code, message: e.message }),
  );
  servers.push(s);
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return { port: (s.address() as AddressInfo).port, accepted, clientErrors };
}

/** Connects, reads until the server closes; resolves with what arrived and the error, if any. */
function connect(
  port: number,
  caPem: string,
  client?: Pem,
): Promise<{ data: string; error?: NodeJS.ErrnoException }> {
  return new Promise((resolve) => {
    let data = '';
    let error: NodeJS.ErrnoException | undefined;
    // No servername: the client checks the server certificate against the IP SAN 127.0.0.1.
    const socket = tls.connect({ host: '127.0.0.1', port, ca: [caPem], ...client });
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      data += d;
    });
    socket.on('error', (e) => {
      error = e;
    });
    socket.on('close', () => resolve({ data, ...(error ? { error } : {}) }));
  });
}

/** `openssl s_client` against the server; the promise never rejects, the output is the verdict. */
function sClient(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile('openssl', ['s_client', ...args], { timeout: 30_000 }, (_error, stdout, stderr) =>
      resolve({ stdout: String(stdout), stderr: String(stderr) }),
    );
    child.stdin?.end();
  });
}

describeWithTools(['openssl'], 'mutual TLS with PEM files (Node tls, openssl s_client)', () => {
  const dir = tempDir();

  describe.each(KEY_TYPES)('%s', (kt: KeyType) => {
    let caPem: string;
    let server: Pem;
    let client: Pem;
    let stranger: Pem;
    const f = (name: string) => path.join(dir, `${kt}-${name}`);

    beforeAll(() => {
      const caKeys = fixtureKeys(kt, 0);
      const leafKeys = fixtureKeys(kt, 1);
      const otherKeys = fixtureKeys(kt, 2);
      const caCert = createRootCa({ subject: { commonName: `TLS CA ${kt}` }, ...caKeys, days: 30 });
      const ca = { certificate: caCert, privateKey: caKeys.privateKey };
      // Same name, different key: only the key identifiers and the signature tell the two CAs apart.
      const otherCa = createRootCa({ subject: { commonName: `TLS CA ${kt}` }, ...otherKeys, days: 30 });
      const key = exportPrivateKeyPem(leafKeys.privateKey);
      caPem = caCert.toPem();
      server = {
        key,
        cert: issueServerCertificate({
          ca,
          publicKey: leafKeys.publicKey,
          altNames: { dns: ['localhost'], ip: ['127.0.0.1', '::1'] },
          days: 10,
        }).toPem(),
      };
      client = {
        key,
        cert: issueClientCertificate({
          ca,
          publicKey: leafKeys.publicKey,
          commonName: 'pavel',
          days: 10,
        }).toPem(),
      };
      stranger = {
        key,
        cert: issueClientCertificate({
          ca: { certificate: otherCa, privateKey: otherKeys.privateKey },
          publicKey: leafKeys.publicKey,
          commonName: 'eve',
          days: 10,
        }).toPem(),
      };
      writeFileSync(f('ca.pem'), caPem);
      writeFileSync(f('client.pem'), client.cert);
      writeFileSync(f('client.key'), client.key);
    });

    test('a Node client with its certificate completes the handshake; the server sees CN=pavel', async () => {
      const s = await startServer(server, caPem);
      const r = await connect(s.port, caPem, client);
      expect(r.error).toBeUndefined();
      expect(r.data).toBe('hello pavel\n');
      expect(s.accepted).toEqual([{ cn: 'pavel', authorized: true }]);
    });

    test('a client certificate from another CA is rejected', async () => {
      const s = await startServer(server, caPem);
      const r = await connect(s.port, caPem, stranger);
      expect(r.data).toBe('');
      expect(s.accepted).toEqual([]);
      // the reason, seen by a server that records instead of rejecting
      const lenient = await startServer(server, caPem, false);
      await connect(lenient.port, caPem, stranger);
      expect(lenient.accepted).toEqual([
        { cn: 'eve', authorized: false, authorizationError: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' },
      ]);
    });

    test('a client without a certificate is rejected', async () => {
      const s = await startServer(server, caPem);
      const r = await connect(s.port, caPem);
      expect(r.data).toBe('');
      expect(s.accepted).toEqual([]);
      expect(s.clientErrors.map((e) => e.code)).toEqual(['ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE']);
    });

    test.each([
      ['TLS 1.3', '-tls1_3', 'TLSv1.3'],
      ['TLS 1.2', '-tls1_2', 'TLSv1.2'],
    ])(
      'openssl s_client (%s) with -cert/-key/-CAfile: Verify return code 0',
      async (_name, flag, protocol) => {
        const s = await startServer(server, caPem);
        const r = await sClient([
          '-connect',
          `127.0.0.1:${s.port}`,
          '-cert',
          f('client.pem'),
          '-key',
          f('client.key'),
          '-CAfile',
          f('ca.pem'),
          '-verify_return_error',
          '-verify_ip',
          '127.0.0.1',
          '-ign_eof', // wait for the server's greeting; the server closes the connection after it
          flag,
        ]);
        // OpenSSL 3 may exit non-zero with "unexpected eof" when the peer closes: the transcript is the verdict.
        expect(r.stdout).toContain('Verify return code: 0 (ok)');
        expect(r.stdout).toContain('hello pavel');
        expect(r.stdout).toMatch(new RegExp(`Protocol *: ${protocol}`));
        expect(s.accepted).toEqual([{ cn: 'pavel', authorized: true }]);
      },
    );
  });
});

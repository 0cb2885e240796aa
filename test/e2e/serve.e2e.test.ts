/**
 * `serve` end to end: the files `mtls-ca init` and `issue-client` wrote, served by the real `mtls-ca serve`
 * process, called by the real curl — the banner's own command line, the `.p12` bundles with their generated
 * `.pass` files, a certificate from another CA, an expired one, a user without a role and an unknown user, in
 * `need` and `want` mode; and a Java 17 JSSE client configured with trustStore.jks and client_<name>.p12.
 *
 * The CA is made once, by `init` and `issue-client` in the test process (the server process sees only the
 * files they write), and each block that changes its directory (users.json, the server's certificate and key)
 * works on a copy of it, as a restored backup would be: every block still gets the very files `init` and
 * `issue-client` wrote, without eight more runs of them.
 */
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { cpSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { CA_PASSWORD, makeCa, mtlsCa } from '../helpers/ca-setup.js';
import { cliProcess } from '../helpers/cli.js';
import { type HttpsClientResult, httpsClientBatch } from '../helpers/java.js';
import { within } from '../helpers/poll.js';
import { describeWithTools, tempDir } from '../helpers/tools.js';
import {
  CUSTOMER_1,
  type CurlAnswer,
  clientP12,
  curl,
  eventLines,
  exec,
  issueExpiredClient,
  readPass,
  removeUsers,
  runPrinted,
  type ServeProcess,
  serverPool,
} from './helpers.js';

const root = tempDir('mtls-ca-e2e-serve-');
/** The CA every block serves, as `init` and `issue-client` wrote it; copied by the blocks that change it. */
const CA = path.join(root, 'ca');
/** A second CA whose client has the very same CN as our real user. */
const OTHER = path.join(root, 'other');

beforeAll(async () => {
  await Promise.all([
    makeCa(CA, {
      pavel: ['--role', 'user'],
      mallory: [],
      stranger: [],
      anna: ['--role', 'user', '--p12-profile', 'modern'],
    }),
    makeCa(OTHER, { pavel: ['--role', 'user'] }),
  ]);
});

/** A copy of {@link CA} at `dir` (modes kept: the keys stay 0600). */
function copyOfCa(dir: string): string {
  cpSync(CA, dir, { recursive: true });
  return dir;
}

describeWithTools(['curl'], 'mtls-ca serve with the CLI’s files (curl)', () => {
  // Relative to root, the servers' working directory: the banner prints paths as a user would type them.
  const D = path.join(root, 'D');
  const servers = serverPool();
  let need: ServeProcess;
  let want: ServeProcess;
  const clients: Record<string, string[]> = {};

  const p12Args = (dir: string, name: string) => {
    const { file, password } = clientP12(dir, name);
    return ['--cert-type', 'P12', '--cert', `${file}:${password}`];
  };

  beforeAll(async () => {
    copyOfCa(D);
    removeUsers(D, ['stranger']);
    const expired = await issueExpiredClient(D, 'pavel', root);
    expect(expired.notAfter.getTime()).toBeLessThan(Date.now());

    const ca = ['--cacert', path.join(D, 'ca', 'ca.crt')];
    clients.none = ca;
    clients.pavel = [...ca, ...p12Args(D, 'pavel')];
    clients.mallory = [...ca, ...p12Args(D, 'mallory')];
    clients.stranger = [...ca, ...p12Args(D, 'stranger')];
    clients.otherCa = [...ca, ...p12Args(OTHER, 'pavel')];
    clients.expired = [...ca, '--cert', expired.cert, '--key', expired.key];

    const serve = ['serve', '--dir', 'D', '--listen', '127.0.0.1', '--port', '0'];
    [need, want] = await Promise.all([
      servers.start(serve, { cwd: root }),
      servers.start([...serve, '--client-auth', 'want'], { cwd: root }),
    ]);
  });

  const call = (s: ServeProcess, who: string, urlPath = '/customer/1'): Promise<CurlAnswer> =>
    curl(`${s.url}${urlPath}`, clients[who]!);

  describe('need (default)', () => {
    test('the banner names the URL, the mode and users.json, and prints a curl command that works as printed', async () => {
      expect(need.url).toBe(`https://127.0.0.1:${need.port}`);
      expect(need.stdout()).toContain(
        `mtls-ca serve: ${need.url} (client certificates: need, users: D/users.json)\nTry it:\n`,
      );
      expect(need.curlLine).toBe(
        'curl --cacert D/ca/ca.crt --cert-type P12 --cert "D/client/client_pavel.p12:$(cat D/client/client_pavel.p12.pass)" ' +
          `${need.url}/customer/1`,
      );
      const r = await runPrinted(need.curlLine, root);
      expect(r).toMatchObject({ exit: 0, stdout: CUSTOMER_1 });
    });

    test('pavel’s .p12 with its generated password → 200 and the tutorial’s JSON', async () => {
      const r = await call(need, 'pavel');
      expect([r.exit, r.status, r.body]).toEqual([0, 200, CUSTOMER_1]);
      await within(5_000, 'the access log line', () => / pavel GET \/customer\/1 200 /.test(need.stdout()));
    });

    test('/whoami describes the certificate issue-client wrote', async () => {
      const r = await call(need, 'pavel', '/whoami');
      expect(r.status).toBe(200);
      const issued = new X509Certificate(readFileSync(path.join(D, 'client', 'pavel.crt')));
      expect(JSON.parse(r.body)).toMatchObject({
        user: 'pavel',
        roles: ['user'],
        subject: 'CN=pavel',
        serial: issued.serialNumber.toLowerCase(),
        notAfter: new Date(issued.validTo).toISOString(),
      });
    });

    test.each([
      ['no certificate', 'NO_CERTIFICATE', 'none'],
      ['a certificate from another CA (same CN)', 'UNTRUSTED', 'otherCa'],
      ['an expired certificate signed by our CA', 'EXPIRED', 'expired'],
    ])('%s: refused in the TLS handshake, the log says %s', async (_name, reason, who) => {
      const before = eventLines(need.stdout(), 'tls-refused').length;
      const r = await call(need, who);
      expect(r.status).toBe(0);
      expect(r.exit).not.toBe(0);
      await within(5_000, 'tls-refused', () => eventLines(need.stdout(), 'tls-refused').length > before);
      expect(eventLines(need.stdout(), 'tls-refused').slice(before)).toEqual([
        expect.stringContaining(` reason=${reason} `),
      ]);
    });

    test('mallory (a certificate from our CA, no role) → 403 MISSING_ROLE', async () => {
      const r = await call(need, 'mallory');
      expect(r.status).toBe(403);
      expect(JSON.parse(r.body)).toEqual({
        error: 'forbidden',
        reason: 'MISSING_ROLE',
        message: 'access denied: role user required',
        user: 'mallory',
      });
    });

    test('stranger (a certificate from our CA, not in users.json) → 403 UNKNOWN_USER', async () => {
      const r = await call(need, 'stranger');
      expect(r.status).toBe(403);
      expect(JSON.parse(r.body)).toMatchObject({
        error: 'forbidden',
        reason: 'UNKNOWN_USER',
        user: 'stranger',
      });
    });
  });

  describe('want (--client-auth want)', () => {
    test('the banner says want', () => {
      expect(want.stdout()).toContain(
        `mtls-ca serve: ${want.url} (client certificates: want, users: D/users.json)`,
      );
    });

    test.each([
      ['no certificate', 'NO_CERTIFICATE', 'none'],
      ['a certificate from another CA (same CN)', 'UNTRUSTED', 'otherCa'],
      ['an expired certificate signed by our CA', 'EXPIRED', 'expired'],
    ])('%s → 401 %s', async (_name, reason, who) => {
      const r = await call(want, who);
      expect([r.exit, r.status]).toEqual([0, 401]);
      expect(JSON.parse(r.body)).toMatchObject({ error: 'unauthorized', reason });
    });

    test('pavel → 200, mallory → 403, stranger → 403', async () => {
      const [pavel, mallory, stranger] = await Promise.all([
        call(want, 'pavel'),
        call(want, 'mallory'),
        call(want, 'stranger'),
      ]);
      expect([pavel.status, pavel.body]).toEqual([200, CUSTOMER_1]);
      expect([mallory.status, JSON.parse(mallory.body).reason]).toEqual([403, 'MISSING_ROLE']);
      expect([stranger.status, JSON.parse(stranger.body).reason]).toEqual([403, 'UNKNOWN_USER']);
    });
  });

  describe('a CA directory whose path has a space', () => {
    test('the banner’s curl command still works as printed (paths quoted for the shell)', async () => {
      copyOfCa(path.join(root, 'My CA'));
      const s = await servers.start(['serve', '--dir', 'My CA', '--listen', '127.0.0.1', '--port', '0'], {
        cwd: root,
      });
      expect(s.curlLine).toContain('My CA/client/client_pavel.p12');
      const r = await runPrinted(s.curlLine, root);
      expect(r, s.curlLine).toMatchObject({ exit: 0, stdout: CUSTOMER_1 });
    });
  });

  describe('serve --workers 2 on a busy port', () => {
    test('one error line with a hint, exit 1, no stack trace; one worker tried', async () => {
      // Regression: both workers tried at once; one reported to a primary already shutting down and died
      // with an uncaught ERR_IPC_CHANNEL_CLOSED (or the primary with EPIPE), and the worker set an exit code
      // that bin/ then overwrote. A race: tried a few times.
      const busy = net.createServer();
      busy.listen(0, '127.0.0.1');
      await once(busy, 'listening');
      const port = (busy.address() as AddressInfo).port;
      try {
        // The tries run at once: each is its own primary and workers, racing only among themselves.
        const args = ['serve', '--dir', D, '--workers', '2', '--listen', '127.0.0.1', '--port', String(port)];
        const tries = await Promise.all(
          [1, 2, 3].map(() => cliProcess(args, { MTLS_CA_PASSWORD: CA_PASSWORD })),
        );
        for (const r of tries) {
          expect({ code: r.code, stderr: r.stderr }).toEqual({
            code: 1,
            stderr:
              `error: listen on 127.0.0.1:${port}: address already in use (IO_FAILED)\n` +
              'hint: stop the other server or pick another port\n',
          });
          expect(eventLines(r.stdout, 'worker-failed')).toHaveLength(1);
          expect(eventLines(r.stdout, 'cluster-stopped')).toHaveLength(1);
        }
      } finally {
        busy.close();
      }
    });
  });

  describe('while running', () => {
    test('giving mallory role user in users.json lets her in without a restart', async () => {
      const file = path.join(D, 'users.json');
      const users = JSON.parse(readFileSync(file, 'utf8'));
      users.users.mallory = { roles: ['user'] };
      writeFileSync(`${file}.tmp`, `${JSON.stringify(users, null, 2)}\n`);
      renameSync(`${file}.tmp`, file);
      const r = await call(need, 'mallory');
      expect([r.status, r.body]).toEqual([200, CUSTOMER_1]);
    });

    test('SIGTERM: the server exits 0 and stops answering', async () => {
      expect(await need.stop()).toEqual({ code: 0, signal: null });
      const r = await call(need, 'pavel');
      expect(r.exit).toBe(7); // curl: failed to connect
    });
  });
});

describeWithTools(['openssl'], 'mtls-ca serve while the server certificate is replaced', () => {
  const D = path.join(root, 'renewed');
  const servers = serverPool();
  let server: ServeProcess;

  /** The serial of the certificate a real TLS client (openssl s_client) is served, lowercase hex. */
  const servedSerial = async () => {
    const r = await exec(
      'sh',
      [
        '-c',
        `openssl s_client -connect 127.0.0.1:${server.port} -servername localhost -CAfile ca/ca.crt </dev/null 2>/dev/null | openssl x509 -noout -serial`,
      ],
      { cwd: D },
    );
    return r.stdout
      .trim()
      .replace(/^serial=/, '')
      .toLowerCase();
  };
  /** The serial of the certificate in server/server.crt now. */
  const serialOnDisk = () =>
    new X509Certificate(readFileSync(path.join(D, 'server', 'server.crt'))).serialNumber.toLowerCase();
  /**
   * Waits until `serial` is served: asked of s_client (three processes) only once the server has logged a
   * reload after `reloadsBefore`, which it does once new connections get the new pair.
   */
  const waitForServed = (serial: string, reloadsBefore: number, what: string) =>
    within(
      5_000,
      what,
      async () =>
        eventLines(server.stdout(), 'reloaded').length > reloadsBefore && (await servedSerial()) === serial,
    );
  const renewServer = (...flags: string[]) => mtlsCa(['renew', 'server', ...flags, '--dir', D]);

  beforeAll(async () => {
    copyOfCa(D);
    server = await servers.start(['serve', '--dir', D, '--listen', '127.0.0.1', '--port', '0'], {
      cwd: root,
    });
  });

  test('renew server: new connections get the new certificate without a restart or SIGHUP', async () => {
    // Regression: the server kept the old certificate until SIGHUP.
    const before = serialOnDisk();
    expect(await servedSerial()).toBe(before);
    const reloadedBefore = eventLines(server.stdout(), 'reloaded').length;
    await renewServer();
    const after = serialOnDisk();
    expect(after).not.toBe(before);
    await waitForServed(after, reloadedBefore, 'the renewed certificate is served');
    const reloads = eventLines(server.stdout(), 'reloaded').slice(reloadedBefore);
    expect(reloads).not.toEqual([]);
    expect(reloads.filter((l) => !l.includes(' trigger=file-changed '))).toEqual([]);
    const pavel = await curl(`${server.url}/customer/1`, [
      '--cacert',
      path.join(D, 'ca', 'ca.crt'),
      '--cert-type',
      'P12',
      '--cert',
      `${clientP12(D, 'pavel').file}:${clientP12(D, 'pavel').password}`,
    ]);
    expect([pavel.status, pavel.body]).toEqual([200, CUSTOMER_1]);
  });

  test('renew server --rekey: the new key and certificate are served together', async () => {
    const before = serialOnDisk();
    const failed = eventLines(server.stdout(), 'reload-failed').length;
    const reloadedBefore = eventLines(server.stdout(), 'reloaded').length;
    await renewServer('--rekey');
    const after = serialOnDisk();
    expect(after).not.toBe(before);
    await waitForServed(after, reloadedBefore, 'the rekeyed certificate is served');
    // The key and the certificate are renamed one after the other; the moment between is not an error.
    expect(eventLines(server.stdout(), 'reload-failed')).toHaveLength(failed);
  });

  test('a key that does not match the certificate: the old pair stays in force, and the log says why', async () => {
    const serving = await servedSerial();
    const keyFile = path.join(D, 'server', 'server.key');
    const good = readFileSync(keyFile);
    const failedBefore = eventLines(server.stdout(), 'reload-failed').length;
    // Another key, written whole and renamed over the old one, as a tool replacing the pair would.
    const other = await exec('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout']);
    writeFileSync(`${keyFile}.tmp`, other.stdout, { mode: 0o600 });
    renameSync(`${keyFile}.tmp`, keyFile);
    try {
      await within(
        5_000,
        'reload-failed in the log',
        () => eventLines(server.stdout(), 'reload-failed').length > failedBefore,
      );
      for (const line of eventLines(server.stdout(), 'reload-failed').slice(failedBefore))
        expect(line).toMatch(
          /reload-failed: use server key .*server\.key: it does not belong to certificate .*; keeping the current certificate, key, CA and CRL code=INVALID_ARGUMENT$/,
        );
      expect(await servedSerial()).toBe(serving);
    } finally {
      writeFileSync(`${keyFile}.tmp`, good, { mode: 0o600 });
      renameSync(`${keyFile}.tmp`, keyFile);
    }
  });
});

describeWithTools(['javac'], 'mtls-ca serve with the CLI’s files (Java 17 JSSE client)', () => {
  const D = path.join(root, 'java');
  const servers = serverPool();
  let server: ServeProcess;
  let java: Record<'pavel' | 'pavelTrustP12' | 'anna' | 'mallory' | 'noKeyStore', HttpsClientResult>;

  /** The stores as javax.net.ssl.* settings (without the prefix), as Spring Boot sets them. */
  function ssl(opts: {
    trustStore: string;
    trustStoreType: string;
    client?: string;
  }): Record<string, string> {
    const props: Record<string, string> = {
      trustStore: opts.trustStore,
      trustStorePassword: readPass(opts.trustStore),
      trustStoreType: opts.trustStoreType,
    };
    if (opts.client) {
      const { file, password } = clientP12(D, opts.client);
      Object.assign(props, { keyStore: file, keyStorePassword: password, keyStoreType: 'PKCS12' });
    }
    return props;
  }

  // One JVM for the five clients (a JVM start is about a second of CPU): pavel's case, the README's, goes
  // through -Djavax.net.ssl.* properties and the default SSLContext; the others are about store formats and
  // the server's answers, and each gets an SSLContext of its own made by the same JSSE code from its stores.
  beforeAll(async () => {
    copyOfCa(D);
    server = await servers.start(['serve', '--dir', D, '--listen', '127.0.0.1', '--port', '0'], {
      cwd: root,
    });
    const jks = path.join(D, 'server', 'trustStore.jks');
    const url = `${server.url}/customer/1`;
    java = await httpsClientBatch(
      {
        pavel: { url, ssl: ssl({ trustStore: jks, trustStoreType: 'JKS', client: 'pavel' }) },
        pavelTrustP12: {
          url,
          ssl: ssl({
            trustStore: path.join(D, 'server', 'trustStore.p12'),
            trustStoreType: 'PKCS12',
            client: 'pavel',
          }),
        },
        anna: { url, ssl: ssl({ trustStore: jks, trustStoreType: 'JKS', client: 'anna' }) },
        mallory: { url, ssl: ssl({ trustStore: jks, trustStoreType: 'JKS', client: 'mallory' }) },
        noKeyStore: { url, ssl: ssl({ trustStore: jks, trustStoreType: 'JKS' }) },
      },
      'pavel',
    );
  });

  test('trustStore.jks + client_pavel.p12 (compat) by -Djavax.net.ssl.* → 200 and the tutorial’s JSON', () => {
    expect(java.pavel).toEqual({ exit: 0, stdout: `200\n${CUSTOMER_1}`, stderr: '' });
  });

  test('trustStore.p12 works as the trust store too', () => {
    expect(java.pavelTrustP12).toEqual({ exit: 0, stdout: `200\n${CUSTOMER_1}`, stderr: '' });
  });

  test('a --p12-profile modern bundle (AES-256, HMAC-SHA256 MAC) → 200', () => {
    expect(java.anna).toEqual({ exit: 0, stdout: `200\n${CUSTOMER_1}`, stderr: '' });
  });

  test('client_mallory.p12 (no role) → 403 access denied', () => {
    const r = java.mallory;
    expect(r.exit).toBe(0);
    const [status, body] = r.stdout.split('\n');
    expect(status).toBe('403');
    expect(JSON.parse(body!)).toMatchObject({ error: 'forbidden', reason: 'MISSING_ROLE', user: 'mallory' });
  });

  test('no key store: the handshake is refused (need) and the server logs NO_CERTIFICATE', async () => {
    const r = java.noKeyStore;
    expect(r.exit).toBe(3);
    expect(r.stderr).toMatch(/^javax\.net\.ssl\.SSL(Handshake)?Exception|^java\.net\.SocketException/);
    await within(5_000, 'tls-refused', () => eventLines(server.stdout(), 'tls-refused').length > 0);
    expect(eventLines(server.stdout(), 'tls-refused')[0]).toContain(' reason=NO_CERTIFICATE ');
  });
});

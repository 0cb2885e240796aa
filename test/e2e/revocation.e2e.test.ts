/**
 * Revocation end to end: the real `mtls-ca serve` process (one process, and `--workers 2`), `mtls-ca revoke`
 * / `renew` beside it, and real clients — Node's HTTPS client on fresh and keep-alive connections, curl and
 * `openssl s_client`. Revocation takes effect in the running server without a restart. The revoke and renew
 * commands run through main() in this process (see ./helpers.ts): the server, another process, sees only the
 * files they write, the same whichever process writes them.
 */
import { once } from 'node:events';
import { copyFileSync, readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { makeCa, mtlsCa } from '../helpers/ca-setup.js';
import { type ClientFiles as Client, getCustomer } from '../helpers/https.js';
import { within } from '../helpers/poll.js';
import { describeWithTools, tempDir } from '../helpers/tools.js';
import { CUSTOMER_1, clientP12, curl, eventLines, exec, type ServeProcess, serverPool } from './helpers.js';

/** README.md's promise: `mtls-ca revoke` takes effect in a running server within 2 s. */
const APPLY_BOUND_MS = 2_000;

/** `openssl s_client` sending one request; resolves with what the server answered (empty when refused). */
async function sClient(port: number, caFile: string, client: Client): Promise<string> {
  const request = 'GET /customer/1 HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n';
  const r = await exec(
    'sh',
    [
      '-c',
      `printf '${request}' | openssl s_client -quiet -connect 127.0.0.1:${port} -servername localhost ` +
        `-CAfile "$1" -cert "$2" -key "$3"`,
      'sh',
      caFile,
      client.cert,
      client.key,
    ],
    { timeoutMs: 20_000 },
  );
  return r.stdout;
}

describeWithTools(['curl', 'openssl'], 'mtls-ca revoke against a running mtls-ca serve', () => {
  const root = tempDir('mtls-ca-e2e-revoke-');
  const D = path.join(root, 'D');
  const caFile = path.join(D, 'ca', 'ca.crt');
  const pem = (name: string): Client => ({
    cert: path.join(D, 'client', `${name}.crt`),
    key: path.join(D, 'client', `${name}.key`),
  });
  const p12 = (name: string) => {
    const { file, password } = clientP12(D, name);
    return ['--cacert', caFile, '--cert-type', 'P12', '--cert', `${file}:${password}`];
  };
  const servers = serverPool();
  let need: ServeProcess;
  let want: ServeProcess;

  beforeAll(async () => {
    await makeCa(D, {
      pavel: ['--role', 'user'],
      alice: ['--role', 'user'],
      rita: ['--role', 'user'],
      carl: ['--role', 'user'],
    });
    const serve = ['serve', '--dir', D, '--listen', '127.0.0.1', '--port', '0'];
    [need, want] = await Promise.all([
      servers.start(serve, { cwd: root }),
      servers.start([...serve, '--client-auth', 'want'], { cwd: root }),
    ]);
  });

  test('serve loads the CRL that init wrote', () => {
    expect(eventLines(need.stdout(), 'crl-loaded')).toEqual([
      expect.stringMatching(/ info crl-loaded: CRL number 1 loaded file=\S+crl\.pem crlNumber=1 revoked=0 /),
    ]);
  });

  describe('revoke pavel', () => {
    const pavelAgent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    const aliceAgent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    afterAll(() => {
      pavelAgent.destroy();
      aliceAgent.destroy();
    });
    let pavelClosed: Promise<unknown>;
    let aliceSocket: TLSSocket;

    beforeAll(async () => {
      const before = await curl(`${need.url}/customer/1`, p12('pavel'));
      expect([before.status, before.body]).toEqual([200, CUSTOMER_1]);
      const p = await getCustomer(need.url, caFile, pem('pavel'), pavelAgent);
      const a = await getCustomer(need.url, caFile, pem('alice'), aliceAgent);
      expect([p.status, a.status]).toEqual([200, 200]);
      pavelClosed = once(p.socket!, 'close');
      aliceSocket = a.socket!;

      await mtlsCa(['revoke', 'pavel', '--dir', D]);
      const ms = await within(APPLY_BOUND_MS, 'pavel refused on a new connection', async () => {
        return (await getCustomer(need.url, caFile, pem('pavel'))).status === undefined;
      });
      console.info(`[crl-e2e] revoke done → new connection refused: ${ms.toFixed(0)} ms`);
    });

    test('a new connection with pavel’s certificate is refused; the log says REVOKED', async () => {
      expect((await getCustomer(need.url, caFile, pem('pavel'))).status).toBeUndefined();
      const revoked = () =>
        eventLines(need.stdout(), 'tls-refused').filter((l) => / reason=REVOKED /.test(l));
      await within(5_000, 'tls-refused REVOKED', () => revoked().length > 0);
      for (const line of revoked())
        expect(line).toMatch(
          / warn tls-refused: refused client: REVOKED reason=REVOKED detail=CERT_REVOKED client=\S+ subject="CN=pavel" /,
        );
    });

    test('pavel’s open keep-alive connection is closed and logged', async () => {
      await pavelClosed;
      expect(eventLines(need.stdout(), 'revoked-connection-closed')[0]).toMatch(
        / warn revoked-connection-closed: closed an open connection: its certificate was revoked user=pavel subject="CN=pavel" /,
      );
    });

    test('alice is unaffected, on her open connection and on a new one', async () => {
      const again = await getCustomer(need.url, caFile, pem('alice'), aliceAgent);
      expect([again.status, again.body, again.reused, again.socket]).toEqual([
        200,
        CUSTOMER_1,
        true,
        aliceSocket,
      ]);
      const fresh = await curl(`${need.url}/customer/1`, p12('alice'));
      expect([fresh.status, fresh.body]).toEqual([200, CUSTOMER_1]);
    });

    test('curl with pavel’s .p12, and with --cert/--key, fails at TLS', async () => {
      const viaP12 = await curl(`${need.url}/customer/1`, p12('pavel'));
      const viaPem = await curl(`${need.url}/customer/1`, [
        '--cacert',
        caFile,
        '--cert',
        pem('pavel').cert,
        '--key',
        pem('pavel').key,
      ]);
      for (const r of [viaP12, viaPem]) {
        expect(r.status).toBe(0);
        expect(r.exit).not.toBe(0);
      }
    });

    test('openssl s_client: no answer for pavel, 200 for alice', async () => {
      expect(await sClient(need.port, caFile, pem('pavel'))).not.toContain('HTTP/1.1');
      expect(await sClient(need.port, caFile, pem('alice'))).toMatch(
        /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n\{"id":1,"name":"Customer1"\}$/,
      );
    });

    test('want mode: pavel → 401 REVOKED, alice → 200', async () => {
      const r = await curl(`${want.url}/customer/1`, p12('pavel'));
      expect([r.exit, r.status]).toEqual([0, 401]);
      expect(JSON.parse(r.body)).toEqual({
        error: 'unauthorized',
        reason: 'REVOKED',
        detail: 'CERT_REVOKED',
        message: 'the client certificate has been revoked',
      });
      const ok = await curl(`${want.url}/customer/1`, p12('alice'));
      expect([ok.status, ok.body]).toEqual([200, CUSTOMER_1]);
    });
  });

  test('renew rita --revoke-old: the new .p12 works, the old certificate is refused', async () => {
    const old = { cert: path.join(root, 'rita-old.crt'), key: path.join(root, 'rita-old.key') };
    copyFileSync(pem('rita').cert, old.cert);
    copyFileSync(pem('rita').key, old.key);
    expect((await getCustomer(need.url, caFile, old)).status).toBe(200);

    await mtlsCa(['renew', 'rita', '--revoke-old', '--dir', D]);
    const ms = await within(APPLY_BOUND_MS, 'rita’s old certificate refused', async () => {
      return (await getCustomer(need.url, caFile, old)).status === undefined;
    });
    console.info(`[crl-e2e] renew --revoke-old done → old certificate refused: ${ms.toFixed(0)} ms`);
    const renewed = await curl(`${need.url}/customer/1`, p12('rita'));
    expect([renewed.status, renewed.body]).toEqual([200, CUSTOMER_1]);
    expect(readFileSync(pem('rita').cert, 'utf8')).not.toBe(readFileSync(old.cert, 'utf8'));
  });

  test('serve --workers 2: every worker applies the CRL on its own', async () => {
    const cluster = await servers.start(
      ['serve', '--dir', D, '--listen', '127.0.0.1', '--port', '0', '--workers', '2'],
      { cwd: root },
    );
    await within(
      5_000,
      'both workers to load the CRL',
      () => eventLines(cluster.stdout(), 'crl-loaded').length === 2,
    );
    const ok = await Promise.all([1, 2, 3, 4].map(() => getCustomer(cluster.url, caFile, pem('carl'))));
    expect(ok.map((r) => r.status)).toEqual([200, 200, 200, 200]);

    await mtlsCa(['revoke', 'carl', '--dir', D]);
    // Connections are handed to the workers in turn: four refusals in a row cover both.
    const ms = await within(APPLY_BOUND_MS, 'carl refused by both workers', async () => {
      const rs = await Promise.all([1, 2, 3, 4].map(() => getCustomer(cluster.url, caFile, pem('carl'))));
      return rs.every((r) => r.status === undefined);
    });
    console.info(`[crl-e2e] revoke done → refused by 2 workers: ${ms.toFixed(0)} ms`);
    const applied = () => eventLines(cluster.stdout(), 'crl-loaded').filter((l) => / revoked=3 /.test(l));
    await within(5_000, 'a crl-loaded line from each worker', () => applied().length >= 2);
    expect(applied()).toHaveLength(2);
    expect((await getCustomer(cluster.url, caFile, pem('alice'))).status).toBe(200);
  });
});

/**
 * A Java JSSE client (java 17, HttpsURLConnection) against the server, configured only through the standard
 * javax.net.ssl.* properties. Until our own PKCS#12/JKS writers are wired in here, the stores are made the
 * tutorial's way: `openssl pkcs12 -export` for the client key store, `keytool -importcert` for the trust store.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createMtlsServer, type MtlsServer } from '../../src/server/mtls-server.js';
import { httpsClientArgs, keytool, keytoolArgs } from '../helpers/java.js';
import { opensslArgs } from '../helpers/openssl.js';
import { describeWithTools, runOk, succeeded, tempDir } from '../helpers/tools.js';
import { createCaDir, type TestCaDir } from './helpers.js';

const PASSWORD = 'changeit-test';

interface JavaResult {
  exit: number;
  stdout: string;
  stderr: string;
}

/** Asynchronous: the server runs in this process and must keep answering while java runs. */
function java(url: string, props: Record<string, string>): Promise<JavaResult> {
  const args = httpsClientArgs(url, props);
  return new Promise((resolve) => {
    execFile('java', args, { encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ exit: error ? Number((error as { code?: unknown }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describeWithTools(['javac', 'keytool', 'openssl'], 'Java JSSE client', () => {
  const root = tempDir('mtls-ca-java-');
  let ca: TestCaDir;
  let server: MtlsServer;
  let url: string;
  const trust = path.join(root, 'trustStore.jks');
  const stores: Record<string, string> = {};

  const passFile = path.join(root, 'password.txt');
  const p12For = (name: string, cert: string, key: string) => {
    const out = path.join(root, `client_${name}.p12`);
    runOk('openssl', opensslArgs.pkcs12Export({ key, cert, name, out, passFile }));
    return out;
  };

  beforeAll(async () => {
    writeFileSync(passFile, `${PASSWORD}\n`);
    ca = await createCaDir(path.join(root, 'ssl'), { pavel: { roles: ['user'] } });
    const pavel = await ca.issueClient('pavel');
    const mallory = await ca.issueClient('mallory');
    stores.pavel = p12For('pavel', pavel.cert, pavel.key);
    stores.mallory = p12For('mallory', mallory.cert, mallory.key);
    succeeded(
      keytool(keytoolArgs.importCert('root', ca.caFile, trust, 'JKS', passFile)),
      'keytool -importcert',
    );
    server = createMtlsServer({ dir: ca.dir, host: '127.0.0.1', port: 0, log: () => {} });
    url = `https://127.0.0.1:${(await server.listen()).port}`;
  });

  afterAll(async () => {
    await server?.close();
  });

  const props = (keyStore?: string) => ({
    trustStore: trust,
    trustStorePassword: PASSWORD,
    trustStoreType: 'JKS',
    ...(keyStore ? { keyStore, keyStorePassword: PASSWORD, keyStoreType: 'PKCS12' } : {}),
  });

  test('pavel’s PKCS#12 → 200 and the tutorial’s JSON', async () => {
    const r = await java(`${url}/customer/1`, props(stores.pavel));
    expect(r).toEqual({ exit: 0, stdout: '200\n{"id":1,"name":"Customer1"}', stderr: '' });
  });

  test('an unknown user → 403 access denied', async () => {
    const r = await java(`${url}/customer/1`, props(stores.mallory));
    expect(r.exit).toBe(0);
    const [status, body] = r.stdout.split('\n');
    expect(status).toBe('403');
    expect(JSON.parse(body!)).toMatchObject({
      error: 'forbidden',
      message: 'access denied',
      user: 'mallory',
    });
  });

  test('no key store → the TLS connection fails (need)', async () => {
    const r = await java(`${url}/customer/1`, props());
    expect(r.exit).toBe(3);
    expect(r.stderr).toMatch(
      /^javax\.net\.ssl\.SSLException|^java\.net\.SocketException|^javax\.net\.ssl\.SSLHandshakeException/,
    );
  });
});

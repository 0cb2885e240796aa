/**
 * A Java JSSE client (java 17, HttpsURLConnection) against the server, configured through the standard
 * javax.net.ssl.* properties. Until our own PKCS#12/JKS writers are wired in here, the stores are made the
 * tutorial's way: `openssl pkcs12 -export` for the client key store, `keytool -importcert` for the trust store.
 *
 * The three clients run in one JVM (a JVM start is about a second of CPU): pavel's through -Djavax.net.ssl.*
 * system properties and the default SSLContext, the other two each with an SSLContext of its own that JSSE
 * builds from the same settings the way it builds the default one (test/helpers/java/HttpsClient.java).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createMtlsServer, type MtlsServer } from '../../src/server/mtls-server.js';
import { type HttpsClientResult, httpsClientBatch, keytool, keytoolArgs } from '../helpers/java.js';
import { opensslArgs } from '../helpers/openssl.js';
import { describeWithTools, runOk, succeeded, tempDir } from '../helpers/tools.js';
import { createCaDir, type TestCaDir } from './helpers.js';

const PASSWORD = 'changeit-test';

describeWithTools(['javac', 'keytool', 'openssl'], 'Java JSSE client', () => {
  const root = tempDir('mtls-ca-java-');
  let ca: TestCaDir;
  let server: MtlsServer;
  let java: Record<'pavel' | 'mallory' | 'noKeyStore', HttpsClientResult>;
  const trust = path.join(root, 'trustStore.jks');
  const stores: Record<string, string> = {};

  const passFile = path.join(root, 'password.txt');
  const p12For = (name: string, cert: string, key: string) => {
    const out = path.join(root, `client_${name}.p12`);
    runOk('openssl', opensslArgs.pkcs12Export({ key, cert, name, out, passFile }));
    return out;
  };

  const props = (keyStore?: string) => ({
    trustStore: trust,
    trustStorePassword: PASSWORD,
    trustStoreType: 'JKS',
    ...(keyStore ? { keyStore, keyStorePassword: PASSWORD, keyStoreType: 'PKCS12' } : {}),
  });

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
    const url = `https://127.0.0.1:${(await server.listen()).port}/customer/1`;
    java = await httpsClientBatch(
      {
        pavel: { url, ssl: props(stores.pavel) },
        mallory: { url, ssl: props(stores.mallory) },
        noKeyStore: { url, ssl: props() },
      },
      'pavel',
    );
  });

  afterAll(async () => {
    await server?.close();
  });

  test('pavel’s PKCS#12 → 200 and the tutorial’s JSON', () => {
    expect(java.pavel).toEqual({ exit: 0, stdout: '200\n{"id":1,"name":"Customer1"}', stderr: '' });
  });

  test('an unknown user → 403 access denied', () => {
    const r = java.mallory;
    expect(r.exit).toBe(0);
    const [status, body] = r.stdout.split('\n');
    expect(status).toBe('403');
    expect(JSON.parse(body!)).toMatchObject({
      error: 'forbidden',
      message: 'access denied',
      user: 'mallory',
    });
  });

  test('no key store → the TLS connection fails (need)', () => {
    const r = java.noKeyStore;
    expect(r.exit).toBe(3);
    expect(r.stderr).toMatch(
      /^javax\.net\.ssl\.SSLException|^java\.net\.SocketException|^javax\.net\.ssl\.SSLHandshakeException/,
    );
  });
});

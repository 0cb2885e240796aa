/**
 * A JSSE server (Java 17, test/helpers/java/JsseServer.java: the standard key and trust store properties, client
 * certificate required) checking revocation against `mtls-ca publish` the two ways Java offers, one JVM each:
 *
 * - CRL distribution points: `-Dcom.sun.net.ssl.checkRevocation=true -Dcom.sun.security.enableCRLDP=true`;
 *   Java fetches the CRL the certificate names and keeps it 30 s (so the revocation is made before the JVM
 *   first fetches: no test waits 30 s);
 * - OCSP: the `ocsp.enable=true` security property (with CRL DP as its fallback): Java asks the responder on
 *   every handshake, so a revocation made while it runs is refused at once; and with publish down, Java fails
 *   hard: every client is refused.
 *
 * Clients are curl with the PEM files; what decides is the server's line: accepted, or refused and why.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { cli } from '../helpers/cli.js';
import { javaProgram } from '../helpers/java.js';
import { within } from '../helpers/poll.js';
import { freePort } from '../helpers/ports.js';
import { curlAs, type PublishProcess, startPublish } from '../helpers/publish.js';
import { describeWithTools, run, tempDir } from '../helpers/tools.js';

const env = { MTLS_CA_PASSWORD: 'ca-password', MTLS_CA_STORE_PASSWORD: 'store-pw' };

interface Jvm {
  port: number;
  /** Resolves with the next line the server prints (accepted … / refused …). */
  next(): Promise<string>;
  stop(): Promise<void>;
}

describeWithTools(['java', 'curl'], 'a JSSE server checking revocation against mtls-ca publish', () => {
  const root = tempDir('mtls-ca-java-revocation-');
  const dir = path.join(root, 'ssl');
  const p = (f: string) => path.join(dir, f);
  let publishPort: number;
  let publish: PublishProcess | undefined;
  const jvms: Jvm[] = [];

  /** Starts JsseServer with the store properties and `props`; resolves once it listens. */
  async function startJsse(props: Record<string, string>, securityProps = ''): Promise<Jvm> {
    const security = path.join(root, `java-${jvms.length}.security`);
    fs.writeFileSync(security, securityProps);
    const defines = {
      'javax.net.ssl.keyStore': p('server/keyStore.p12'),
      'javax.net.ssl.keyStorePassword': env.MTLS_CA_STORE_PASSWORD,
      'javax.net.ssl.keyStoreType': 'PKCS12',
      'javax.net.ssl.trustStore': p('server/trustStore.jks'),
      'javax.net.ssl.trustStorePassword': env.MTLS_CA_STORE_PASSWORD,
      'javax.net.ssl.trustStoreType': 'JKS',
      // appended to the JDK's java.security, as an administrator would
      'java.security.properties': security,
      ...props,
    };
    const child: ChildProcess = spawn('java', javaProgram('JsseServer', [], defines), {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: string[] = [];
    const waiting: ((line: string) => void)[] = [];
    let buffer = '';
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.stdout!.on('data', (c: Buffer) => {
      buffer += c.toString();
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        const w = waiting.shift();
        if (w) w(line);
        else lines.push(line);
      }
    });
    const next = () =>
      new Promise<string>((resolve, reject) => {
        const queued = lines.shift();
        if (queued !== undefined) return resolve(queued);
        const timer = setTimeout(
          () => reject(new Error(`JsseServer said nothing in 60 s; stderr:\n${stderr}`)),
          60_000,
        );
        waiting.push((line) => {
          clearTimeout(timer);
          resolve(line);
        });
      });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const first = await Promise.race([
      next(),
      exited.then(() => {
        throw new Error(`JsseServer exited:\n${stderr}`);
      }),
    ]);
    const port = Number(/^listening (\d+)$/.exec(first)?.[1]);
    expect(port, first).toBeGreaterThan(0);
    const jvm = {
      port,
      next,
      async stop() {
        child.kill('SIGKILL');
        await exited;
      },
    };
    jvms.push(jvm);
    return jvm;
  }

  /** Waits until publish logged a line matching `pattern` (access lines are written in batches). */
  const logged = (pattern: RegExp) =>
    within(5_000, `publish logged ${pattern}`, () => pattern.test(publish!.output()));

  /** One HTTPS request with `name`'s PEM certificate and key; resolves with the server's line about it. */
  async function connect(jvm: Jvm, name: string): Promise<string> {
    const line = jvm.next();
    curlAs(dir, name, `https://localhost:${jvm.port}/`);
    return line;
  }

  beforeAll(async () => {
    publishPort = await freePort();
    const url = `http://127.0.0.1:${publishPort}`;
    expect((await cli(['init', '--dir', dir, '--publish-url', url], env)).code).toBe(0);
    for (const n of ['alice', 'bob', 'carol'])
      expect((await cli(['issue-client', n, '--dir', dir], env)).code).toBe(0);
    expect((await cli(['revoke', 'alice', '--reason', 'keyCompromise', '--dir', dir], env)).code).toBe(0);
    publish = await startPublish(dir, publishPort);
  });

  afterAll(async () => {
    for (const jvm of jvms) await jvm.stop();
    await publish?.stop();
  });

  test('CRL DP: the revoked alice is refused, bob accepted; Java fetched /crl from the URL in the certificate', async () => {
    const jvm = await startJsse({
      'com.sun.net.ssl.checkRevocation': 'true',
      'com.sun.security.enableCRLDP': 'true',
    });
    expect(await connect(jvm, 'bob')).toBe('accepted CN=bob');
    const refused = await connect(jvm, 'alice');
    expect(refused).toMatch(/^refused .*Certificate has been revoked, reason: KEY_COMPROMISE/);
    await logged(/ - GET \/crl 200 /);
    expect(publish!.output()).not.toMatch(/ - (GET|POST) \/ocsp/);
  });

  test('OCSP: alice refused, bob accepted; carol revoked while the JVM runs is refused at once; publish down → everyone refused (hard fail)', async () => {
    const jvm = await startJsse(
      { 'com.sun.net.ssl.checkRevocation': 'true', 'com.sun.security.enableCRLDP': 'true' },
      'ocsp.enable=true\n',
    );
    expect(await connect(jvm, 'bob')).toBe('accepted CN=bob');
    expect(await connect(jvm, 'alice')).toMatch(
      /^refused .*Certificate has been revoked, reason: KEY_COMPROMISE/,
    );
    // Java asks by RFC 5019 GET when the request is short, as it is.
    await logged(/ - GET \/ocsp\/<request> 200 /);
    expect(await connect(jvm, 'carol')).toBe('accepted CN=carol');

    expect((await cli(['revoke', 'carol', '--dir', dir], env)).code).toBe(0);
    // the responder follows the inventory within a second; openssl tells when it has
    await within(1_000, 'publish answers carol revoked', () =>
      run('openssl', [
        'ocsp',
        '-issuer',
        p('ca/ca.crt'),
        '-cert',
        p('client/carol.crt'),
        '-url',
        `http://127.0.0.1:${publishPort}/ocsp`,
        '-CAfile',
        p('ca/ca.crt'),
      ]).stdout.includes(': revoked'),
    );
    // No OCSP cache in Java: the next handshake asks again (the CRL it might fall back to is not fetched).
    expect(await connect(jvm, 'carol')).toMatch(
      /^refused .*Certificate has been revoked, reason: UNSPECIFIED/,
    );

    expect(await publish!.stop()).toBe(0);
    publish = undefined;
    const down = await connect(jvm, 'bob');
    expect(down).toMatch(/^refused /);
    expect(down).not.toContain('revoked');
    expect(down).toContain('Unable to determine revocation status due to network error');
  });
});

/**
 * Tomcat 10 (Debian `tomcat10`: the Tomcat Spring Boot embeds) from a temporary CATALINA_BASE, its HTTPS
 * connector set up as the README says: the key store and trust store init writes, client certificates
 * required, `certificateRevocationListFile` pointing at ssl/ca/crl.pem, and the recipe's CrlReloadListener
 * (docs/recipes/tomcat) reloading the connector when the CRL file is replaced. A client accepted before is
 * refused once `mtls-ca revoke` has written the new CRL; the others are still accepted.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cli } from '../helpers/cli.js';
import { tomcatRecipeClasses, writeTomcatDefaults } from '../helpers/java.js';
import { within } from '../helpers/poll.js';
import { freePort, waitForPort } from '../helpers/ports.js';
import { curlAs } from '../helpers/publish.js';
import { describeWithTools, inCi, tempDir } from '../helpers/tools.js';

const CATALINA_HOME = '/usr/share/tomcat10';
const env = { MTLS_CA_PASSWORD: 'ca-password', MTLS_CA_STORE_PASSWORD: 'store-pw' };

const NAME = 'Tomcat 10 with certificateRevocationListFile and the reload listener';
/** Tomcat is no command on the PATH: the Debian package's files are what must be there (under CI: or fail). */
const haveTomcat = fs.existsSync(path.join(CATALINA_HOME, 'bin/bootstrap.jar'));
if (!haveTomcat && !inCi) console.warn(`[skip] ${NAME}: no ${CATALINA_HOME} (Debian package tomcat10)`);

function suite(): void {
  const root = tempDir('mtls-ca-tomcat-');
  const dir = path.join(root, 'ssl');
  const base = path.join(root, 'catalina-base');
  const p = (f: string) => path.join(dir, f);
  let port: number;
  let tomcat: ChildProcess | undefined;
  let log = '';

  /** An HTTPS GET with `name`'s certificate: the status, or 0 when the TLS connection was refused. */
  const get = (name: string): number =>
    Number(
      curlAs(dir, name, `https://localhost:${port}/hello.txt`, ['-o', '/dev/null', '-w', '%{http_code}'])
        .stdout,
    );

  beforeAll(async () => {
    expect(haveTomcat, `${CATALINA_HOME} is missing: install the Debian package tomcat10`).toBe(true);
    expect((await cli(['init', '--dir', dir], env)).code).toBe(0);
    for (const n of ['alice', 'bob'])
      expect((await cli(['issue-client', n, '--dir', dir], env)).code).toBe(0);

    for (const d of ['conf', 'lib', 'logs', 'temp', 'work', 'webapps/ROOT'])
      fs.mkdirSync(path.join(base, d), { recursive: true });
    // The recipe as compiled against this Tomcat by the global setup, as a user's build would (kept between
    // runs under a hash of its sources, javac's version and Tomcat's jars).
    fs.cpSync(tomcatRecipeClasses(), path.join(base, 'lib'), { recursive: true });
    fs.copyFileSync(
      path.join(CATALINA_HOME, 'etc/catalina.properties'),
      path.join(base, 'conf/catalina.properties'),
    );
    fs.writeFileSync(path.join(base, 'webapps/ROOT/hello.txt'), 'hello\n');
    writeTomcatDefaults(base);
    port = await freePort();
    const password = env.MTLS_CA_STORE_PASSWORD;
    fs.writeFileSync(
      path.join(base, 'conf/server.xml'),
      `<Server port="-1">
  <Listener className="mtlsca.tomcat.CrlReloadListener" intervalMs="250"/>
  <Service name="Catalina">
    <Connector port="${port}" address="127.0.0.1" protocol="org.apache.coyote.http11.Http11NioProtocol" SSLEnabled="true">
      <SSLHostConfig protocols="TLSv1.2+TLSv1.3" certificateVerification="required"
                     truststoreFile="${p('server/trustStore.jks')}" truststorePassword="${password}" truststoreType="JKS"
                     certificateRevocationListFile="${p('ca/crl.pem')}">
        <Certificate certificateKeystoreFile="${p('server/keyStore.p12')}" certificateKeystorePassword="${password}"
                     certificateKeystoreType="PKCS12" certificateKeyAlias="server"/>
      </SSLHostConfig>
    </Connector>
    <Engine name="Catalina" defaultHost="localhost">
      <Host name="localhost" appBase="webapps" unpackWARs="false" autoDeploy="false"/>
    </Engine>
  </Service>
</Server>
`,
    );
    tomcat = spawn(
      'java',
      [
        '-XX:TieredStopAtLevel=1',
        '-XX:+UseSerialGC',
        '-cp',
        `${CATALINA_HOME}/bin/bootstrap.jar:${CATALINA_HOME}/bin/tomcat-juli.jar`,
        `-Dcatalina.home=${CATALINA_HOME}`,
        `-Dcatalina.base=${base}`,
        `-Djava.io.tmpdir=${path.join(base, 'temp')}`,
        'org.apache.catalina.startup.Bootstrap',
        'start',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    tomcat.stdout!.on('data', (c: Buffer) => {
      log += c.toString();
    });
    tomcat.stderr!.on('data', (c: Buffer) => {
      log += c.toString();
    });
    // The connector opens its port after the web application is deployed.
    await waitForPort(port, 90_000).catch((e: Error) => {
      throw new Error(`${e.message}\n${log}`);
    });
  });

  afterAll(async () => {
    if (!tomcat) return;
    tomcat.kill('SIGTERM');
    await new Promise((r) => tomcat!.once('exit', r));
  });

  test('alice and bob are accepted while the CRL lists neither', () => {
    expect(get('bob')).toBe(200);
    expect(get('alice')).toBe(200);
  });

  test('after `mtls-ca revoke alice` writes the new CRL, Tomcat refuses alice and still accepts bob', async () => {
    expect((await cli(['revoke', 'alice', '--dir', dir], env)).code).toBe(0);
    // the listener looks every 250 ms; the reload itself takes a moment on a busy machine
    await within(10_000, 'Tomcat refusing alice', () => get('alice') === 0, 200);
    expect(get('bob')).toBe(200);
    // logged after the reload returns, so it may reach us just after the first refusal
    await within(10_000, "the listener's log line", () =>
      log.includes('CRL changed: reloaded the TLS configuration of'),
    );
  });
}

if (haveTomcat || inCi) describeWithTools(['java', 'javac', 'curl'], NAME, suite);
else describe.skip(NAME, suite);

/**
 * Every server snippet whose software runs here, configured from the CA directory and run for real: nginx,
 * HAProxy, Tomcat 10, Node and Go. curl then calls each with pavel's certificate (role user) and must get
 * `{"id":1,"name":"Customer1"}`; stranger (a certificate of the CA, no role in users.json), mallory (revoked,
 * so in the CRL) and a client without a certificate must not. That proves the snippet's CA, CRL and roles
 * settings, not just that the software starts. The proxies forward to a tiny upstream of this test that
 * answers the customer JSON and records the identity headers it was given.
 *
 * What is verbatim: the snippet's files as printed, its environment lines and, where the snippet's own run
 * line starts the server (HAProxy, Node, Go), that line. nginx's and Tomcat's parts are pieces of a bigger
 * configuration: they are included, unchanged, in the smallest main configuration that holds them (nginx:
 * `include` in http {}; Tomcat: the connector and realm in server.xml, the line appended to a copy of
 * Debian's catalina.properties, the web.xml fragment in a ROOT application, and Tomcat-wide defaults that
 * start no JSP engine and scan no jars, which the snippet does not touch).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import type { Snippet } from '../../src/cli/snippets/index.js';
import { CUSTOMER_1, curl } from '../e2e/helpers.js';
import { makeCa } from '../helpers/ca-setup.js';
import { SHORT_LIVED_JVM, writeTomcatDefaults } from '../helpers/java.js';
import { freePort } from '../helpers/ports.js';
import {
  customerUpstream,
  type Daemon,
  daemons,
  environmentLines,
  snippetOf,
  type Upstream,
  writeParts,
} from '../helpers/snippets.js';
import { describeWithTools, tempDir } from '../helpers/tools.js';

const TOMCAT_HOME = '/usr/share/tomcat10';

describeWithTools(['curl', 'nginx', 'haproxy', 'go', 'java'], 'server snippets run for real', () => {
  const root = tempDir('mtls-ca-snippet-servers-');
  const D = path.join(root, 'ssl');
  const running = daemons();
  let upstream: Upstream;

  beforeAll(async () => {
    [upstream] = await Promise.all([
      customerUpstream(),
      makeCa(D, { pavel: ['--role', 'user'], stranger: [], mallory: ['--role', 'user'] }, ['mallory']),
    ]);
  });

  /** curl as `name` (PEM files; none: no certificate) to /customer/1 of localhost:`port`. */
  function callAs(name: string | undefined, port: number, headers: string[] = []) {
    const cert = name
      ? ['--cert', path.join(D, 'client', `${name}.crt`), '--key', path.join(D, 'client', `${name}.key`)]
      : [];
    const extra = headers.flatMap((h) => ['-H', h]);
    return curl(`https://localhost:${port}/customer/1`, [
      '--cacert',
      path.join(D, 'ca/ca.crt'),
      ...cert,
      ...extra,
    ]);
  }

  /** pavel gets the customer; stranger, mallory and no certificate do not. */
  async function expectOnlyPavel(port: number, strangerStatus: number[]) {
    const pavel = await callAs('pavel', port);
    expect(pavel.body, pavel.stderr).toBe(CUSTOMER_1);
    expect(pavel.status).toBe(200);
    const stranger = await callAs('stranger', port);
    expect(strangerStatus).toContain(stranger.status);
    const mallory = await callAs('mallory', port);
    expect(mallory.body).not.toContain('Customer1');
    const nobody = await callAs(undefined, port);
    expect(nobody.body).not.toContain('Customer1');
    return { stranger, mallory, nobody };
  }

  async function prepared(target: string, extra: string[] = []) {
    const port = await freePort();
    const snippet = await snippetOf(D, [target, '--port', String(port), ...extra]);
    const folder = path.join(root, target);
    writeParts(snippet, folder);
    return { snippet, folder, port };
  }

  /** The snippet's environment lines, then `command`: what a user types to start the server. */
  function start(snippet: Snippet, command: string, port: number, folder: string): Promise<Daemon> {
    return running.start(`${environmentLines(snippet)}\n${command}`, port, folder);
  }

  test('nginx: mtls.conf included in http {}', async () => {
    const { snippet, folder, port } = await prepared('nginx', ['--upstream', upstream.url]);
    mkdirSync(path.join(folder, 'tmp'));
    writeFileSync(
      path.join(folder, 'nginx.conf'),
      `worker_processes 1;\npid nginx.pid;\nerror_log stderr;\nevents {}\nhttp {\n  access_log off;\n  client_body_temp_path tmp;\n  proxy_temp_path tmp;\n  include mtls.conf;\n}\n`,
    );
    const nginx = `nginx -e stderr -p ${folder} -c nginx.conf`;
    await start(snippet, `${nginx} -t && exec ${nginx} -g 'daemon off;'`, port, folder);
    const before = upstream.requests.length;
    const { stranger, nobody } = await expectOnlyPavel(port, [403]);
    expect(nobody.status).toBe(400); // nginx answers "No required SSL certificate was sent"
    expect(stranger.status).toBe(403);
    // A header pavel sends himself is replaced; the roles come from users.json.
    await callAs('pavel', port, ['X-Client-Roles: admin']);
    const seen = upstream.requests.slice(before);
    expect(seen.map((h) => [h['x-client-dn'], h['x-client-roles'], h['x-client-verify']])).toEqual([
      ['CN=pavel', 'user', 'SUCCESS'],
      ['CN=pavel', 'user', 'SUCCESS'],
    ]);
  });

  test('haproxy: haproxy.cfg, started with its own run line', async () => {
    const { snippet, folder, port } = await prepared('haproxy', ['--upstream', upstream.url]);
    const run = snippet.parts[0]!.run!;
    expect(run).toBe('haproxy -c -f haproxy.cfg && haproxy -f haproxy.cfg');
    await start(snippet, run, port, folder);
    const before = upstream.requests.length;
    const { stranger, mallory, nobody } = await expectOnlyPavel(port, [403]);
    expect([stranger.status, mallory.status, nobody.status]).toEqual([403, 0, 0]); // refused in the handshake
    await callAs('pavel', port, ['X-Client-Roles: admin']);
    const seen = upstream.requests.slice(before);
    expect(seen.map((h) => [h['x-client-cn'], h['x-client-roles']])).toEqual([
      ['pavel', 'user'],
      ['pavel', 'user'],
    ]);
  });

  test('node: server.mjs, started with its own run line', async () => {
    const { snippet, folder, port } = await prepared('node', ['--client', 'pavel']);
    await start(snippet, snippet.parts.find((p) => p.file === 'server.mjs')!.run!, port, folder);
    const { mallory, nobody } = await expectOnlyPavel(port, [403]);
    expect([mallory.status, nobody.status]).toEqual([0, 0]);
  });

  test('go: server.go, started with its own run line', async () => {
    const { snippet, folder, port } = await prepared('go', ['--client', 'pavel']);
    await start(snippet, snippet.parts.find((p) => p.file === 'server.go')!.run!, port, folder);
    const { mallory, nobody } = await expectOnlyPavel(port, [403]);
    expect([mallory.status, nobody.status]).toEqual([0, 0]);
  });

  describe('tomcat', () => {
    test('the connector, realm and web.xml in a fresh CATALINA_BASE (the same settings as spring-boot)', async () => {
      const { snippet, folder, port } = await prepared('tomcat');
      const part = (file: string) => snippet.parts.find((p) => p.file === file)!.text;
      const base = path.join(folder, 'base');
      for (const d of ['conf', 'logs', 'temp', 'work', 'webapps/ROOT/WEB-INF', 'webapps/ROOT/customer'])
        mkdirSync(path.join(base, d), { recursive: true });
      writeFileSync(
        path.join(base, 'conf/server.xml'),
        `<?xml version="1.0" encoding="UTF-8"?>\n<Server port="-1" shutdown="SHUTDOWN">\n<Service name="Catalina">\n${part('server-connector.xml')}<Engine name="Catalina" defaultHost="localhost">\n${part('server-realm.xml')}<Host name="localhost" appBase="webapps" unpackWARs="false" autoDeploy="false"/>\n</Engine>\n</Service>\n</Server>\n`,
      );
      writeFileSync(
        path.join(base, 'conf/catalina.properties'),
        readFileSync('/etc/tomcat10/catalina.properties', 'utf8') + part('catalina.properties'),
      );
      writeTomcatDefaults(base);
      writeFileSync(path.join(base, 'conf/mtls-users.xml'), part('mtls-users.xml'));
      writeFileSync(
        path.join(base, 'webapps/ROOT/WEB-INF/web.xml'),
        `<?xml version="1.0" encoding="UTF-8"?>\n<web-app xmlns="https://jakarta.ee/xml/ns/jakartaee" version="6.0">\n${part('web.xml')}</web-app>\n`,
      );
      writeFileSync(path.join(base, 'webapps/ROOT/customer/1'), CUSTOMER_1);
      // The JVM options of a short-lived JVM (test/helpers/java.ts) halve Tomcat's start; TLS is the same.
      await start(
        snippet,
        `CATALINA_HOME=${TOMCAT_HOME} CATALINA_BASE=${base} CATALINA_OPTS='${SHORT_LIVED_JVM.join(' ')}' exec ${TOMCAT_HOME}/bin/catalina.sh run`,
        port,
        folder,
      );
      // stranger's certificate is trusted but the realm has no such user: CLIENT-CERT answers 401.
      const { mallory, nobody } = await expectOnlyPavel(port, [401, 403]);
      expect([mallory.status, nobody.status]).toEqual([0, 0]);
    });
  });
});

/**
 * Every client snippet, run verbatim against the real `mtls-ca serve`: written to files under the names it
 * suggests, its environment lines (which read the generated .pass file) and its run line executed by bash.
 * Each must print `{"id":1,"name":"Customer1"}` — the server checked pavel's certificate and his role — and a
 * revoked client (the same snippet for another user) must not get through. Tools: curl, Python (ssl,
 * requests, httpx), Node (node:https, fetch + undici), Go, Java (HttpClient; JVM flags).
 */
import { symlinkSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, expect, test } from 'vitest';
import { shellWord } from '../../src/cli/render.js';
import { CUSTOMER_1, type ServeProcess, serverPool } from '../e2e/helpers.js';
import { makeCa } from '../helpers/ca-setup.js';
import { localhostAddress } from '../helpers/chromium.js';
import { javaProgram, SHORT_LIVED_JVM } from '../helpers/java.js';
import { bash, pythonWith, runPart, snippetOf, writeParts } from '../helpers/snippets.js';
import { describeWithTools, inCi, tempDir } from '../helpers/tools.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

describeWithTools(['curl', 'go', 'java'], 'client snippets against mtls-ca serve', () => {
  const root = tempDir('mtls-ca-snippet-clients-');
  const D = path.join(root, 'ssl');
  const servers = serverPool();
  let serve: ServeProcess;
  let url: string;

  beforeAll(async () => {
    await makeCa(D, { pavel: ['--role', 'user'], mallory: ['--role', 'user'] }, ['mallory']);
    serve = await servers.start(['serve', '--dir', D, '--listen', await localhostAddress(), '--port', '0'], {
      cwd: root,
    });
    // By name: the clients check the server certificate's names, and localhost is one of them.
    url = `https://localhost:${serve.port}/customer/1`;
  });

  /** The snippet for `client`, its parts written to a folder of their own. */
  async function written(target: string, client = 'pavel') {
    const snippet = await snippetOf(D, [target, '--client', client, '--url', url]);
    const folder = path.join(root, `${target}-${client}`);
    writeParts(snippet, folder);
    return { snippet, folder };
  }

  test.each(['curl-pem.sh', 'curl-p12.sh'])('curl: %s prints the customer', async (file) => {
    const { snippet, folder } = await written('curl');
    const r = await runPart(snippet, file, folder);
    expect(r.stdout.trim(), r.stderr).toBe(CUSTOMER_1);
  });

  test('curl: the same snippet for a revoked client gets no answer', async () => {
    const { snippet, folder } = await written('curl', 'mallory');
    const r = await runPart(snippet, 'curl-pem.sh', folder);
    expect(r.code).not.toBe(0);
    expect(r.stdout).not.toContain(CUSTOMER_1);
  });

  test.each(['client_ssl.py', 'client_requests.py', 'client_httpx.py'])(
    'python: %s prints the customer',
    async (file) => {
      const bin = pythonWith(['requests', 'httpx']);
      if (!bin) {
        if (inCi) throw new Error('no python3 with requests and httpx: .ci/run must install them');
        console.warn('[skip] python snippets: no python3 with requests and httpx');
        return;
      }
      const { snippet, folder } = await written('python');
      const r = await runPart(snippet, file, folder, {
        PATH: `${bin}:${process.env.PATH}`,
        HOME: process.env.HOME,
      });
      expect(r.stdout.trim(), r.stderr).toBe(CUSTOMER_1);
    },
  );

  test.each(['client-https.mjs', 'client-fetch.mjs'])('node: %s prints the customer', async (file) => {
    const { snippet, folder } = await written('node');
    // What `npm install undici@6` does in the user's project: undici beside the script.
    if (file === 'client-fetch.mjs') {
      const modules = path.join(folder, 'node_modules');
      await bash(`mkdir -p ${modules}`, folder);
      symlinkSync(path.join(ROOT, 'node_modules/undici'), path.join(modules, 'undici'));
    }
    const r = await runPart(snippet, file, folder);
    expect(r.stdout.trim(), r.stderr).toBe(CUSTOMER_1);
  });

  test('node: fetch without the Agent is refused (the server wants a certificate)', async () => {
    const { folder } = await written('node');
    const r = await bash(
      `node -e 'fetch(${JSON.stringify(url)}).then(r => r.text()).then(console.log)'`,
      folder,
    );
    expect(r.code).not.toBe(0);
    expect(r.stdout).not.toContain(CUSTOMER_1);
  });

  test('go: client.go prints the customer', async () => {
    const { snippet, folder } = await written('go');
    const r = await runPart(snippet, 'client.go', folder);
    expect(r.stdout.trim(), r.stderr).toBe(CUSTOMER_1);
  });

  test('java: MtlsClient.java (HttpClient with its own SSLContext) prints the customer', async () => {
    const { snippet, folder } = await written('java');
    // The run line as printed; the java launcher takes the options of a short-lived JVM (test/helpers/java.ts)
    // from JDK_JAVA_OPTIONS, as from a user's environment: the compile of the source and the TLS are the same.
    const r = await runPart(snippet, 'MtlsClient.java', folder, {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      JDK_JAVA_OPTIONS: SHORT_LIVED_JVM.join(' '),
    });
    expect(r.stdout.trim(), r.stderr).toBe(CUSTOMER_1);
  });

  test('java: the JVM flags give HttpClient’s default SSLContext the certificate and the CA', async () => {
    const { snippet, folder } = await written('java');
    const flags = snippet.parts.find((p) => p.file === 'jvm-flags.sh')!;
    // The run line ends with the user's own application; ours is a default-context HttpClient.
    expect(flags.run).toBe('bash jvm-flags.sh && java @mtls-client.args -jar your-app.jar');
    const app = javaProgram('DefaultContextClient', [url]).map(shellWord).join(' ');
    const r = await bash(
      `set -e\n${snippet.environment.map((v) => v.set).join('\n')}\nbash jvm-flags.sh\njava @mtls-client.args ${app}`,
      folder,
    );
    expect(r.stdout.trim(), r.stderr).toBe(CUSTOMER_1);
    // The password went into the @file, not onto a command line.
    expect(flags.text).not.toMatch(/^java .*Password/m);
  });
});

/**
 * The snippets that read the CA and CRL files themselves — the Go and Node servers, the Java client — run for
 * real on the CA shapes with more than one CA in force, where ca-bundle.pem holds several certificates and
 * crl.pem several CRLs, the issuing CA's first:
 * - `init --intermediate`, then `ca rotate` twice: Intermediate 3 issues, Intermediate 2 (previous) still
 *   vouches for its clients and the server, Intermediate 1 is revoked by the root;
 * - a CA that is its own root, after `ca rotate`: the previous root still vouches for its clients.
 * curl calls each server as a good client of every CA (must get the customer), a revoked one of every CA, and
 * one under the revoked intermediate (must not). A snippet reading only the first block of a file trusts the
 * issuing CA alone, or checks its CRL alone.
 */
import { cpSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, expect, test } from 'vitest';
import { CUSTOMER_1, curl } from '../e2e/helpers.js';
import { mtlsCa } from '../helpers/ca-setup.js';
import { SHORT_LIVED_JVM } from '../helpers/java.js';
import { freePort } from '../helpers/ports.js';
import { daemons, environmentLines, runPart, snippetOf, writeParts } from '../helpers/snippets.js';
import { describeWithTools, tempDir } from '../helpers/tools.js';

describeWithTools(['curl', 'go', 'java'], 'snippets on every CA shape', () => {
  const root = tempDir('mtls-ca-snippet-shapes-');
  /** Intermediates rotated twice, the first revoked. */
  const I = path.join(root, 'intermediates');
  /** A CA that is its own root, rotated once. */
  const R = path.join(root, 'rotated-root');
  const running = daemons();

  async function issue(dir: string, ...names: string[]) {
    for (const n of names) await mtlsCa(['issue-client', n, '--role', 'user', '--dir', dir]);
  }

  beforeAll(async () => {
    await mtlsCa(['init', '--intermediate', '--dir', I]);
    await issue(I, 'under-revoked-1');
    await mtlsCa(['ca', 'rotate', '--dir', I]);
    const [intermediate1] = readdirSync(path.join(I, 'ca/previous'));
    await issue(I, 'good-2', 'revoked-2');
    await mtlsCa(['renew', 'server', '--dir', I]);
    await mtlsCa(['ca', 'rotate', '--dir', I]);
    await issue(I, 'good-3', 'revoked-3');
    for (const revoked of ['revoked-2', 'revoked-3', intermediate1!])
      await mtlsCa(['revoke', revoked, '--dir', I]);

    await mtlsCa(['init', '--dir', R]);
    await issue(R, 'good-1', 'revoked-1');
    await mtlsCa(['ca', 'rotate', '--dir', R]);
    await issue(R, 'good-2', 'revoked-2');
    for (const revoked of ['revoked-1', 'revoked-2']) await mtlsCa(['revoke', revoked, '--dir', R]);
  });

  const servers = new Map<string, Promise<number>>();
  /** The server snippet `target` for the CA directory `dir`, started once with its own run line; its port. */
  function serverOf(target: 'go' | 'node', dir: string): Promise<number> {
    const key = `${target} ${dir}`;
    if (!servers.has(key)) {
      servers.set(
        key,
        (async () => {
          const port = await freePort();
          const snippet = await snippetOf(dir, [target, '--port', String(port), '--client', 'good-2']);
          const folder = path.join(dir, '..', `${path.basename(dir)}-${target}`);
          writeParts(snippet, folder);
          const part = snippet.parts.find((p) => p.file.startsWith('server.'))!;
          await running.start(`${environmentLines(snippet)}\n${part.run}`, port, folder);
          return port;
        })(),
      );
    }
    return servers.get(key)!;
  }

  /** What curl as client `name` of `dir` gets from localhost:`port`: the body, or empty when refused. */
  async function bodyFor(dir: string, name: string, port: number): Promise<string> {
    const r = await curl(`https://localhost:${port}/customer/1`, [
      '--cacert',
      path.join(dir, 'ca/ca-bundle.pem'),
      '--cert',
      path.join(dir, 'client', `${name}.crt`),
      '--key',
      path.join(dir, 'client', `${name}.key`),
    ]);
    return r.body;
  }

  /** Each client's answer, good ones expected to get the customer and the others nothing. */
  async function answers(target: 'go' | 'node') {
    const [i, r] = await Promise.all([serverOf(target, I), serverOf(target, R)]);
    const calls = {
      'intermediates good-3': bodyFor(I, 'good-3', i),
      'intermediates good-2': bodyFor(I, 'good-2', i),
      'intermediates revoked-3': bodyFor(I, 'revoked-3', i),
      'intermediates revoked-2': bodyFor(I, 'revoked-2', i),
      'intermediates under-revoked-1': bodyFor(I, 'under-revoked-1', i),
      'rotated-root good-2': bodyFor(R, 'good-2', r),
      'rotated-root good-1': bodyFor(R, 'good-1', r),
      'rotated-root revoked-2': bodyFor(R, 'revoked-2', r),
      'rotated-root revoked-1': bodyFor(R, 'revoked-1', r),
    };
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(calls)) out[k] = await v;
    return out;
  }
  const expected = {
    'intermediates good-3': CUSTOMER_1,
    'intermediates good-2': CUSTOMER_1,
    'intermediates revoked-3': '',
    'intermediates revoked-2': '',
    'intermediates under-revoked-1': '',
    'rotated-root good-2': CUSTOMER_1,
    'rotated-root good-1': CUSTOMER_1,
    'rotated-root revoked-2': '',
    'rotated-root revoked-1': '',
  };

  test('go: server.go takes every CA in force and each CA’s CRL, an intermediate’s from the root', async () => {
    expect(await answers('go')).toEqual(expected);
  });

  test('node: server.mjs gives Node every CRL of the file, not the first alone', async () => {
    expect(await answers('node')).toEqual(expected);
  });

  test('node: server.mjs stops at start when the CRL file holds no CRL, instead of checking no revocation', async () => {
    const empty = path.join(root, 'no-crl');
    cpSync(R, empty, { recursive: true });
    const snippet = await snippetOf(empty, [
      'node',
      '--port',
      String(await freePort()),
      '--client',
      'good-1',
    ]);
    writeFileSync(path.join(empty, 'ca/crl.pem'), '');
    const folder = path.join(root, 'no-crl-node');
    writeParts(snippet, folder);
    const r = await runPart(snippet, 'server.mjs', folder);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`no CRL in ${path.join(empty, 'ca/crl.pem')}: run mtls-ca crl`);
  });

  test('java: MtlsClient.java trusts every CA in force (the server’s is the previous intermediate)', async () => {
    const url = `https://localhost:${await serverOf('node', I)}/customer/1`;
    const snippet = await snippetOf(I, ['java', '--client', 'good-3', '--url', url]);
    const folder = path.join(root, 'java-client');
    writeParts(snippet, folder);
    // The JVM options of a short-lived JVM (test/helpers/java.ts) shorten the in-memory compile; TLS is the same.
    const r = await runPart(snippet, 'MtlsClient.java', folder, {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      JDK_JAVA_OPTIONS: SHORT_LIVED_JVM.join(' '),
    });
    expect(r.stdout.trim(), r.stderr).toBe(CUSTOMER_1);
  });
});

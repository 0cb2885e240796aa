/**
 * `mtls-ca snippet` through main(): no secret in any snippet, generated or chosen; which client and server
 * it describes; every refusal one line with its code and hint, the documented exit code, and nothing
 * written. What the snippets do when run is test/interop/snippet-*.test.ts.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { SNIPPET_MODULES, SNIPPET_TARGETS, type Snippet } from '../../src/cli/snippets/index.js';
import { cli, exitedZero } from '../helpers/cli.js';
import { tempDir } from '../helpers/tools.js';
import { snapshot } from './snapshot.js';

const CA_PASSWORD = 'snippet-test-ca-password';
const STORE_PASSWORD = 'chosen-store-password-42';

async function ok(args: string[], env: Record<string, string> = {}) {
  return exitedZero(args.join(' '), await cli(args, { MTLS_CA_PASSWORD: CA_PASSWORD, ...env }));
}

describe('mtls-ca snippet', () => {
  const root = tempDir('mtls-ca-snippet-cli-');
  /** Generated store passwords; clients pavel (role user) and nobody (no role). */
  const D = path.join(root, 'generated');
  /** Store passwords the user chose; one client, anna. */
  const C = path.join(root, 'chosen');
  const passes: string[] = [];

  beforeAll(async () => {
    await ok(['init', '--dir', D]);
    await ok(['issue-client', 'pavel', '--role', 'user', '--dir', D]);
    await ok(['issue-client', 'nobody', '--dir', D]);
    await ok(['init', '--dir', C], { MTLS_CA_STORE_PASSWORD: STORE_PASSWORD });
    await ok(['issue-client', 'anna', '--role', 'user', '--dir', C], {
      MTLS_CA_STORE_PASSWORD: STORE_PASSWORD,
    });
    for (const f of [
      'server/keyStore.p12',
      'server/trustStore.jks',
      'server/trustStore.p12',
      'client/client_pavel.p12',
    ])
      passes.push(readFileSync(path.join(D, `${f}.pass`), 'utf8').trim());
  });

  test.each(SNIPPET_TARGETS.map((t) => t.name))('%s: no secret in the text or the JSON', async (target) => {
    for (const [dir, client, secrets] of [
      [D, 'pavel', passes],
      [C, 'anna', [STORE_PASSWORD]],
    ] as const) {
      const args = [
        'snippet',
        target,
        '--dir',
        dir,
        ...(SNIPPET_TARGETS.find((t) => t.name === target)!.uses === 'server' ? [] : ['--client', client]),
      ];
      const text = await ok(args);
      const json = await ok([...args, '--json']);
      for (const secret of secrets) {
        expect(text.stdout).not.toContain(secret);
        expect(json.stdout).not.toContain(secret);
      }
    }
  });

  test('a generated password is read from its .pass file; a chosen one is asked for, without echo', async () => {
    const generated = (await ok(['snippet', 'spring-boot', '--dir', D, '--json'])).json<Snippet>();
    expect(generated.environment.map((v) => v.set)).toEqual([
      `export MTLS_KEYSTORE_PASSWORD="$(cat ${path.join(D, 'server/keyStore.p12.pass')})"`,
      `export MTLS_TRUSTSTORE_PASSWORD="$(cat ${path.join(D, 'server/trustStore.jks.pass')})"`,
    ]);
    const chosen = (await ok(['snippet', 'java', '--dir', C, '--json'])).json<Snippet>();
    expect(chosen.environment).toEqual([
      {
        name: 'MTLS_CLIENT_PASSWORD',
        holds: `the password of ${path.join(C, 'client/client_anna.p12')}`,
        set: `read -rsp 'Password of ${path.join(C, 'client/client_anna.p12')}: ' MTLS_CLIENT_PASSWORD && echo && export MTLS_CLIENT_PASSWORD`,
      },
    ]);
  });

  test('the only client is chosen without --client; paths are absolute; the text shows each part and its run line', async () => {
    const r = await ok(['snippet', 'curl', '--dir', C]);
    expect(r.stdout).toContain(
      `--cert ${path.join(C, 'client/anna.crt')} --key ${path.join(C, 'client/anna.key')}`,
    );
    expect(r.stdout).toContain('==> curl-pem.sh (PEM certificate and key) <==');
    expect(r.stdout).toContain('# run: bash curl-p12.sh');
    expect(r.stderr).toBe('');
  });

  test('the roles of users.json reach the server snippets; a user without a role is left out', async () => {
    const s = (await ok(['snippet', 'nginx', '--dir', D, '--json'])).json<Snippet>();
    expect(s.parts[0]!.text).toContain('    "CN=pavel" "user";\n}');
    expect(s.parts[0]!.text).not.toContain('nobody');
  });

  test('a client without a role gets a warning: the servers set up from users.json refuse it', async () => {
    const r = await ok(['snippet', 'curl', '--client', 'nobody', '--dir', D]);
    expect(r.stderr).toBe(
      'warning: nobody has no roles in users.json: servers set up from it refuse them (403); add one with `mtls-ca issue-client nobody --role user --force`\n',
    );
  });

  test('--port, --url and --upstream go where they belong', async () => {
    const proxy = (
      await ok([
        'snippet',
        'haproxy',
        '--dir',
        D,
        '--port',
        '9443',
        '--upstream',
        'http://10.0.0.5:3000',
        '--json',
      ])
    ).json<Snippet>();
    expect(proxy.parts[0]!.text).toContain('    bind :9443 ssl crt ');
    expect(proxy.parts[0]!.text).toContain('    server app 10.0.0.5:3000\n');
    const client = (
      await ok([
        'snippet',
        'python',
        '--client',
        'pavel',
        '--dir',
        D,
        '--url',
        'https://api.example.com/x',
        '--json',
      ])
    ).json<Snippet>();
    expect(client.parts[0]!.text).toContain('URL = "https://api.example.com/x"');
  });

  describe('refusals: one line, a code, a hint, the exit code, nothing written', () => {
    test.each([
      {
        why: 'no CA',
        args: ['snippet', 'nginx', '--dir', path.join('/nonexistent', 'ssl')],
        code: 1,
        error:
          /^error: read \/nonexistent\/ssl\/ca\/ca\.crt: no CA in \/nonexistent\/ssl \(CA_NOT_INITIALIZED\)\nhint: create one with `mtls-ca init --dir \/nonexistent\/ssl`\n$/,
      },
      {
        why: 'several clients, none named',
        args: ['snippet', 'curl'],
        code: 2,
        error:
          /^error: snippet curl: which client\? 2 have certificates: nobody, pavel \(USAGE\)\nhint: pass --client NAME, e\.g\. `mtls-ca snippet curl --client nobody`\n$/,
      },
      {
        why: 'an unknown client',
        args: ['snippet', 'go', '--client', 'ghost'],
        code: 1,
        error:
          /^error: read .*client\/ghost\.crt: no such file for client "ghost" \(NOT_FOUND\)\nhint: issue one with `mtls-ca issue-client ghost --role user`\n$/,
      },
      {
        why: '--client for a server snippet',
        args: ['snippet', 'nginx', '--client', 'pavel'],
        code: 2,
        error:
          /^error: snippet nginx: --client is for client snippets \(node, go, java, curl, python\) \(USAGE\)\nhint: leave out --client, or ask for a client snippet, e\.g\. `mtls-ca snippet curl --client pavel`\n$/,
      },
      {
        why: 'an unknown server',
        args: ['snippet', 'tomcat', '--server', 'api'],
        code: 1,
        error:
          /^error: read .*server\/api\.crt: no such server file \(NOT_FOUND\)\nhint: issue one with `mtls-ca issue-server <host> --name api`, or pass --server NAME\n$/,
      },
      {
        why: 'an unknown target',
        args: ['snippet', 'apache'],
        code: 2,
        error: /value 'apache' is invalid for argument 'target'\. Allowed choices are spring-boot, /,
      },
      {
        why: 'a URL that is not https',
        args: ['snippet', 'curl', '--url', 'http://x/'],
        code: 2,
        error: /--url takes an https URL\./,
      },
      {
        why: 'port 0',
        args: ['snippet', 'nginx', '--port', '0'],
        code: 2,
        error: /--port takes a number from 1 to 65535\./,
      },
    ])('$why → exit $code', async ({ args, code, error }) => {
      const dirArgs = args.includes('--dir') ? [] : ['--dir', D];
      const before = snapshot(D);
      const r = await cli([...args, ...dirArgs]);
      expect(r.code).toBe(code);
      expect(r.stderr).toMatch(error);
      expect(r.stdout).toBe('');
      expect(snapshot(D)).toEqual(before);
    });
  });
});

// The catalogue (names, summaries, ports: what registration needs) and the templates (in modules loaded when
// `snippet` runs) are two lists; these tests keep them one. That each catalogue target has its build, the
// tests above show: they run `snippet` for every target.
describe('the snippet catalogue and the target modules', () => {
  test.each(Object.entries(SNIPPET_MODULES))(
    'every build of %s.ts is a catalogue target of that module',
    async (module, load) => {
      const names = Object.keys((await load()).builders);
      expect(names.length).toBeGreaterThan(0);
      for (const name of names) {
        expect(SNIPPET_TARGETS.find((t) => t.name === name)?.module, `${module}.ts builds ${name}`).toBe(
          module,
        );
      }
    },
  );

  test('names are unique', () => {
    const names = SNIPPET_TARGETS.map((t) => t.name);
    expect(new Set(names).size).toBe(names.length);
  });
});

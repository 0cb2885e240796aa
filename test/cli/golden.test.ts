/**
 * What users read, as golden transcripts (test/golden, compared exactly; see test/helpers/golden.ts for the
 * update mode): every command's --help, the normal output of every command that makes or shows something,
 * and the --json shape of a few. Each transcript starts from an empty folder and runs on a fixed clock, so it
 * depends on no other test and no date; commands run in this process (main()), with `--dir <tmp>/ssl`
 * appended where they use the CA directory. A setup that starts with {@link INIT} (and the default
 * environment) starts instead from a copy of one CA that INIT made on the same clock: the same files, which
 * record no folder; what differs between two runs of INIT (keys, serials, generated passwords) is what
 * transcripts normalise anyway. The CA is made by the first transcript that needs it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, test, vi } from 'vitest';
import { createCsr } from '../../src/pki/csr.js';
import { exportPrivateKeyPem } from '../../src/pki/keys.js';
import { createRootCa, issueClientCertificate } from '../../src/pki/profiles.js';
import type { MtlsServer } from '../../src/server/mtls-server.js';
import { layout } from '../../src/store/layout.js';
import { cli } from '../helpers/cli.js';
import { fixtureKeys } from '../helpers/fixtures.js';
import { expectGolden, normalise, transcriptOf } from '../helpers/golden.js';
import { tempDir } from '../helpers/tools.js';
import { startServer } from '../server/helpers.js';

/** The instant every transcript runs at. */
const NOW = new Date('2026-01-15T09:30:00.000Z');
const CA_PASSWORD = 'golden-ca-password';
const env = { MTLS_CA_PASSWORD: CA_PASSWORD };
/** A CA directory made by init, with the CA name fixed (the default names the user and host). */
const INIT = ['init', '--ca-name', 'Golden CA'];
/** The CA directory INIT made, once (on the fixed clock of the test that first asks), to be copied. */
let initialized: Promise<string> | undefined;
function initializedCa(): Promise<string> {
  initialized ??= (async () => {
    const dir = path.join(root, 'initialized', 'ssl');
    const r = await cli([...INIT, '--dir', dir], env);
    if (r.code !== 0) throw new Error(`${INIT.join(' ')} exited ${r.code}: ${r.stderr}`);
    return dir;
  })();
  return initialized;
}

const root = tempDir('mtls-ca-golden-');
let n = 0;
/** Servers a transcript diagnoses, closed after the file. */
const running: MtlsServer[] = [];
afterAll(async () => {
  await Promise.all(running.map((s) => s.close()));
});

beforeEach(() => {
  // Only Date: timers, performance.now and the file system keep real time.
  vi.useFakeTimers({ toFake: ['Date'], now: NOW });
});
afterEach(() => {
  vi.useRealTimers();
});

interface Scenario {
  /** Commands run first and left out of the transcript (the state the shown commands need). */
  setup?: string[][];
  /** The commands the transcript shows. */
  show: string[][];
  /** Environment of every command (default: the CA password only; store passwords are generated). */
  env?: Record<string, string>;
  /** Files written into the test folder before the commands run (e.g. a batch list), by name. */
  files?: Record<string, string>;
  /**
   * Runs after the setup commands, before the shown ones (damage a file, start a server); returns words to
   * put into the shown commands, as `$NAME` → value.
   */
  prepare?: (dir: string) => Promise<Record<string, string> | undefined> | Record<string, string> | undefined;
  /** Makes stable what only this transcript varies in (a server's port, a duration), after normalise. */
  tidy?: (text: string) => string;
}

/**
 * Runs a scenario in a fresh folder (`<tmp>/ssl` is the CA directory) and compares its transcript with
 * test/golden/`name`.txt. A setup command that fails fails the test.
 */
async function golden(name: string, s: Scenario): Promise<void> {
  const folder = path.join(root, `${n++}`);
  const dir = path.join(folder, 'ssl');
  fs.mkdirSync(folder);
  for (const [file, text] of Object.entries(s.files ?? {})) fs.writeFileSync(path.join(folder, file), text);
  const words: Record<string, string> = { $TMP: folder };
  const expand = (args: string[]) =>
    args.map((a) => Object.entries(words).reduce((x, [k, v]) => x.replaceAll(k, v), a));
  let setup = s.setup ?? [];
  if (setup[0] === INIT && s.env === undefined) {
    // the files' times too: they decide whether the inventory's indexes are in step with it
    fs.cpSync(await initializedCa(), dir, { recursive: true, preserveTimestamps: true });
    setup = setup.slice(1);
  }
  for (const args of setup) {
    const r = await cli([...expand(args), '--dir', dir], s.env ?? env);
    if (r.code !== 0) throw new Error(`setup ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  }
  Object.assign(words, (await s.prepare?.(dir)) ?? {});
  let text = '';
  for (const args of s.show) {
    // inspect reads the file it is given, whatever the CA directory
    const full = [
      ...expand(args),
      ...(args.includes('--help') || args[0] === 'inspect' ? [] : ['--dir', dir]),
    ];
    text += transcriptOf(full, await cli(full, s.env ?? env));
  }
  const normal = normalise(text, folder, passwordsIn(dir));
  expectGolden(name, s.tidy ? s.tidy(normal) : normal);
}

/** The generated passwords of the `.pass` files under `dir`. */
function passwordsIn(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[])
    .filter((f) => f.endsWith('.pass'))
    .map((f) => fs.readFileSync(path.join(dir, f), 'utf8').trim());
}

describe('--help of every command', () => {
  test.each([
    ['mtls-ca', []],
    ['init', ['init']],
    ['import', ['import']],
    ['issue-client', ['issue-client']],
    ['issue-server', ['issue-server']],
    ['sign-csr', ['sign-csr']],
    ['inspect', ['inspect']],
    ['list', ['list']],
    ['revoke', ['revoke']],
    ['crl', ['crl']],
    ['renew', ['renew']],
    ['ca', ['ca']],
    ['ca-rotate', ['ca', 'rotate']],
    ['ca-retire', ['ca', 'retire']],
    ['ca-move-key', ['ca', 'move-key']],
    ['root', ['root']],
    ['root-export', ['root', 'export']],
    ['root-import', ['root', 'import']],
    ['audit', ['audit']],
    ['audit-verify', ['audit', 'verify']],
    ['doctor', ['doctor']],
    ['serve', ['serve']],
    ['publish-url', ['publish-url']],
    ['publish', ['publish']],
    ['demo', ['demo']],
    ['snippet', ['snippet']],
    ['trust', ['trust']],
    ['trust-install', ['trust', 'install']],
    ['trust-uninstall', ['trust', 'uninstall']],
    ['trust-status', ['trust', 'status']],
    ['db', ['db']],
    ['db-migrate', ['db', 'migrate']],
    ['db-status', ['db', 'status']],
    ['db-import', ['db', 'import']],
  ])('%s', async (name, command) => {
    await golden(`help/${name}`, { show: [[...command, '--help']] });
  });
});

describe('normal output', () => {
  test('init', async () => {
    await golden('init', { show: [[...INIT, '--host', 'api.example.com']] });
  });

  test('init with the store password given, and --no-ca-password', async () => {
    await golden('init-options', {
      env: { MTLS_CA_STORE_PASSWORD: 'golden-store-password' },
      show: [['init', '--ca-name', 'Golden CA', '--no-ca-password', '--key-type', 'rsa-2048']],
    });
  });

  test('import, of a CA with an openssl ca index: one client in use, one revoked', async () => {
    // What another tool would have made, on the fixed clock: a root, and two clients it issued.
    const keys = fixtureKeys('ecdsa-p256', 2);
    const certificate = createRootCa({ subject: { commonName: 'Team CA' }, ...keys, days: 3650, now: NOW });
    const ca = { certificate, privateKey: keys.privateKey };
    const client = (cn: string, i: number) =>
      issueClientCertificate({
        ca,
        publicKey: fixtureKeys('ecdsa-p256', i).publicKey,
        commonName: cn,
        days: 365,
        now: NOW,
      });
    const carol = client('carol', 3);
    const dave = client('dave', 4);
    // openssl ca's row: status, expiry, revocation, serial, file, subject (UTCTime: YYMMDDHHMMSSZ)
    const utc = (d: Date) =>
      d.toISOString().replace(/^\d\d(\d\d)-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d).*$/, '$1$2$3$4$5$6Z');
    const row = (status: string, c: typeof carol, revoked = '') =>
      [status, utc(c.notAfter), revoked, c.serialHex.toUpperCase(), 'unknown', `/CN=${c.commonName}`].join(
        '\t',
      );
    await golden('import', {
      files: {
        'ca.crt': certificate.toPem(),
        'ca.key': exportPrivateKeyPem(keys.privateKey),
        'index.txt': `${row('V', carol)}\n${row('R', dave, `${utc(NOW)},keyCompromise`)}\n`,
        [`${carol.serialHex.toUpperCase()}.pem`]: carol.toPem(),
        [`${dave.serialHex.toUpperCase()}.pem`]: dave.toPem(),
      },
      show: [
        [
          'import',
          '--from',
          'openssl',
          '--cert',
          '$TMP/ca.crt',
          '--key',
          '$TMP/ca.key',
          '--index',
          '$TMP/index.txt',
        ].concat(['--certs', '$TMP', '--role', 'user']),
        ['list'],
      ],
    });
  });

  test('issue-client', async () => {
    await golden('issue-client', {
      setup: [INIT],
      show: [
        ['issue-client', 'pavel', '--role', 'user', '--email', 'pavel@example.com'],
        ['issue-client', 'bob'],
        ['issue-client', 'bob', '--force'],
      ],
    });
  });

  test('issue-client --from', async () => {
    await golden('issue-client-from', {
      setup: [INIT],
      files: { 'team.txt': '# the team\nalice user admin\nbob user\ncarol\n' },
      show: [['issue-client', '--from', '$TMP/team.txt']],
    });
  });

  test('issue-server', async () => {
    await golden('issue-server', {
      setup: [INIT],
      show: [['issue-server', 'api.example.com', '10.0.0.7', '--name', 'api']],
    });
  });

  test('sign-csr', async () => {
    const request = (cn: string, i: number, dns: string[] = []) =>
      createCsr({
        privateKey: fixtureKeys('ecdsa-p256', i).privateKey,
        subject: { commonName: cn },
        altNames: { dns },
      }).toPem();
    await golden('sign-csr', {
      setup: [INIT],
      files: {
        'xavier.csr': request('xavier', 0),
        'web.csr': request('web.example.com', 1, ['web.example.com', 'www.example.com']),
      },
      show: [
        ['sign-csr', '$TMP/xavier.csr', '--role', 'user'],
        ['sign-csr', '$TMP/xavier.csr', '--force'],
        ['sign-csr', '$TMP/web.csr', '--profile', 'server', '--out', '$TMP/web.crt'],
      ],
    });
  });

  test('inspect of every kind of file', async () => {
    await golden('inspect', {
      env: { ...env, MTLS_CA_STORE_PASSWORD: 'golden-store-password' },
      setup: [INIT, ['issue-client', 'pavel', '--role', 'user'], ['revoke', 'pavel']],
      show: [
        ['inspect', '$TMP/ssl/ca/ca.crt'],
        ['inspect', '$TMP/ssl/ca/ca.key'],
        ['inspect', '$TMP/ssl/client/pavel.crt'],
        ['inspect', '$TMP/ssl/client/pavel.csr'],
        ['inspect', '$TMP/ssl/client/pavel.key'],
        ['inspect', '$TMP/ssl/client/client_pavel.p12'],
        ['inspect', '$TMP/ssl/server/trustStore.jks'],
        ['inspect', '$TMP/ssl/server/trustStore.p12'],
        ['inspect', '$TMP/ssl/ca/crl.pem'],
      ],
    });
  });

  test('list', async () => {
    await golden('list', {
      setup: [
        INIT,
        ['issue-client', 'pavel', '--role', 'user'],
        ['issue-client', 'bob'],
        ['issue-server', 'api.example.com'],
        ['revoke', 'bob'],
      ],
      show: [
        ['list'],
        ['list', '--status', 'revoked'],
        ['list', '--profile', 'client'],
        ['list', '--expiring', '400d'],
        ['list', '--expiring', '30d'],
      ],
    });
  });

  test('revoke', async () => {
    await golden('revoke', {
      setup: [INIT, ['issue-client', 'pavel', '--role', 'user'], ['issue-client', 'bob']],
      show: [
        ['revoke', 'bob'],
        ['revoke', 'pavel', '--reason', 'keyCompromise'],
      ],
    });
  });

  test('crl', async () => {
    await golden('crl', {
      setup: [INIT, ['issue-client', 'bob'], ['revoke', 'bob']],
      show: [['crl'], ['crl', '--days', '30']],
    });
  });

  test('renew', async () => {
    await golden('renew', {
      setup: [INIT, ['issue-client', 'pavel', '--role', 'user'], ['issue-client', 'alice', '--role', 'user']],
      show: [
        ['renew', 'pavel'],
        ['renew', 'alice', '--rekey', '--revoke-old'],
        ['renew', 'server'],
      ],
    });
  });

  test('init --publish-url: the URLs in certificates, the responder, what revoke says', async () => {
    await golden('publish-init', {
      show: [
        [...INIT, '--publish-url', 'http://ca.example.com:8080'],
        ['publish-url'],
        ['issue-client', 'alice'],
        ['inspect', '$TMP/ssl/client/alice.crt'],
        ['revoke', 'alice'],
        ['list', '--profile', 'ocsp'],
      ],
    });
  });

  test('init --intermediate, list, the root key exported, crl, and the root key back', async () => {
    await golden('init-intermediate', {
      show: [
        [...INIT, '--intermediate'],
        ['issue-client', 'pavel', '--role', 'user'],
        ['list'],
        ['root', 'export', '--out', '$TMP/root.key'],
        ['crl'],
        ['root', 'import', '$TMP/root.key'],
      ],
    });
  });

  test('publish-url on a CA made without one, then --clear', async () => {
    await golden('publish-url', {
      setup: [INIT],
      show: [['publish-url'], ['publish-url', 'http://ca.example.com:8080/pki/'], ['publish-url', '--clear']],
    });
  });

  test('doctor: the lint of a clean directory', async () => {
    await golden('doctor-lint-clean', {
      setup: [INIT, ['issue-client', 'pavel', '--role', 'user']],
      show: [['doctor'], ['doctor', '--json']],
    });
  });

  test('doctor: the lint, with findings', async () => {
    await golden('doctor-lint', {
      setup: [INIT, ['issue-client', 'pavel', '--role', 'user']],
      show: [['doctor', '--host', 'api.example.com']],
      prepare: (dir) => {
        const l = layout(dir);
        fs.chmodSync(l.client('pavel').key, 0o644);
        fs.writeFileSync(l.users, '{"users": {"pavel": {"roles": ["user"]}, "ghost": {"roles": []}}}\n');
        return undefined;
      },
    });
  });

  test('doctor: a live diagnosis — OK, no certificate, another name, a revoked certificate (want mode), --json', async () => {
    await golden('doctor-live', {
      // a client valid for ten years: the server checks it on the real clock, not the transcript's
      setup: [
        INIT,
        ['issue-client', 'pavel', '--role', 'user', '--days', '3650'],
        ['issue-client', 'bob', '--role', 'user', '--days', '3650'],
        ['revoke', 'bob'],
      ],
      prepare: async (dir) => {
        const need = await startServer(running, { dir });
        const want = await startServer(running, { dir, clientAuth: 'want' });
        return { $NEED: need.url, $WANT: want.url };
      },
      show: [
        ['doctor', '$NEED/customer/1', '--client', 'pavel'],
        ['doctor', '$NEED/'],
        ['doctor', '$NEED/', '--client', 'pavel', '--servername', 'api.example.com'],
        ['doctor', '$WANT/', '--client', 'bob'],
        ['doctor', '$WANT/', '--client', 'bob', '--json'],
      ],
      tidy: (text) =>
        text
          .replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:<port>')
          .replace(/"(\w+Ms|ms)": \d+/g, '"$1": <ms>')
          .replace(/\b\d+ ms\b/g, '<n> ms'),
    });
  });

  test('ca rotate, list, renew to the new CA, ca retire', async () => {
    await golden('ca-rotate', {
      setup: [INIT, ['issue-client', 'pavel', '--role', 'user']],
      show: [
        ['ca', 'rotate'],
        ['list'],
        ['ca', 'retire'],
        ['renew', 'pavel', '--revoke-old'],
        ['renew', 'server', '--revoke-old'],
        ['ca', 'retire'],
      ],
    });
  });

  test('audit verify', async () => {
    await golden('audit-verify', {
      setup: [INIT, ['issue-client', 'pavel', '--role', 'user'], ['revoke', 'pavel']],
      show: [['audit', 'verify']],
    });
  });
});

describe('snippet and trust', () => {
  test('every snippet target, for the server of init and client pavel', async () => {
    const { SNIPPET_TARGETS } = await import('../../src/cli/snippets/index.js');
    await golden('snippet', {
      setup: [
        INIT,
        ['issue-client', 'pavel', '--role', 'user'],
        ['issue-client', 'anna', '--role', 'user', '--role', 'admin'],
      ],
      show: SNIPPET_TARGETS.map((t) => [
        'snippet',
        t.name,
        ...(t.uses === 'server' ? [] : ['--client', 'pavel']),
      ]),
    });
  });

  test('trust --dry-run for the systems that do not run here', async () => {
    await golden('trust-dry-run', {
      setup: [INIT, ['issue-client', 'pavel', '--role', 'user']],
      show: [
        ['trust', 'install', '--system', '--platform', 'macos', '--client', 'pavel', '--dry-run'],
        ['trust', 'uninstall', '--system', '--platform', 'macos', '--dry-run'],
        ['trust', 'install', '--system', '--platform', 'windows', '--client', 'pavel', '--dry-run'],
        ['trust', 'uninstall', '--system', '--platform', 'windows', '--dry-run'],
        ['trust', 'install', '--system', '--platform', 'rhel', '--dry-run', '--json'],
      ],
    });
  });
});

describe('--json', () => {
  test('init, issue-client, list, inspect, revoke', async () => {
    await golden('json', {
      show: [
        [...INIT, '--json'],
        ['issue-client', 'pavel', '--role', 'user', '--json'],
        ['list', '--json'],
        ['inspect', '$TMP/ssl/client/pavel.crt', '--json'],
        ['revoke', 'pavel', '--json'],
      ],
    });
  });
});

/**
 * SoftHSM 2 for the PKCS#11 tests: one token folder per test process, holding a token for every label in
 * {@link TOKEN_LABELS}, all initialized on the first call of {@link softHsm}, and SOFTHSM2_CONF in this
 * process's environment pointing at it. SoftHSM reads its token folder once, at C_Initialize: a token
 * initialized after the module's first use in this process would stay invisible to it (a new slot it never
 * lists), and the module, once loaded, stays initialized for the process's life — so each test file takes
 * tokens of its own labels from the one folder instead of a folder of its own. Objects, though, are read
 * afresh from the files at every use, so what another process (pkcs11-tool, the real binary) writes into a
 * token is seen here, and the other way round. Tokens are found by their label: SoftHSM gives a token a new
 * slot when it is initialized.
 *
 * Commands run in this process (`cli()`): each opens its session, logs in and closes it again, so that the
 * token logs this process out at the end of every command, as it does a process of its own. The real binary
 * stays for what is about its process: worker threads, a server, another SOFTHSM2_CONF. pkcs11-tool (OpenSC)
 * looks into a token as an operator would.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cli, cliProcess, exitedZero } from './cli.js';
import { haveTool, run, runOk, succeeded } from './tools.js';

/** Where Debian's softhsm2 package puts the module (the first is a link to the second). */
const MODULES = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so'];

export const SOFTHSM_MODULE = MODULES.find((m) => fs.existsSync(m)) ?? MODULES[0]!;

/** The user PIN of every test token. */
export const PIN = 'token-pin-4321';
const SO_PIN = 'token-so-pin-8765';

/**
 * Every token the test files use, one set of labels per file, all made before the module's first use: see
 * the file comment. A file that needs another token adds its label here.
 */
export const TOKEN_LABELS = [
  // test/interop/pkcs11.interop.test.ts
  'p256',
  'p384',
  'rsa',
  'move-ec',
  'move-rsa',
  // test/cli/pkcs11-errors.test.ts
  'errors',
  'other',
  // test/interop/pkcs11-database.interop.test.ts
  'shared',
  'moved',
  'imported',
  // test/cli/pkcs11-database-errors.test.ts
  'db-errors',
] as const;

export type TokenLabel = (typeof TOKEN_LABELS)[number];

export interface SoftHsm {
  /** The environment a command needs to reach the tokens: SOFTHSM2_CONF, the module and the PIN. */
  env: Record<string, string>;
  /** pkcs11-tool's listing of the token's objects (after logging in), of one type if given. */
  objects(label: TokenLabel, type?: 'privkey' | 'pubkey'): string;
  /** Runs pkcs11-tool on the token, logged in; throws when it fails. */
  tool(label: TokenLabel, args: string[]): string;
}

/** The tools {@link softHsm} runs, for describeWithTools. */
export const SOFTHSM_TOOLS = ['softhsm2-util', 'pkcs11-tool'];

let conf: string | undefined;

/** The token folder of this process, made with every token of {@link TOKEN_LABELS} on the first call. */
function tokenFolder(): string {
  if (conf) return conf;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mtls-ca-softhsm-'));
  process.on('exit', () => fs.rmSync(root, { recursive: true, force: true }));
  const tokens = path.join(root, 'tokens');
  conf = path.join(root, 'softhsm2.conf');
  fs.mkdirSync(tokens);
  fs.writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  // before the module's first C_Initialize in this process, which reads it
  process.env.SOFTHSM2_CONF = conf;
  if (haveTool('softhsm2-util')) {
    for (const label of TOKEN_LABELS) {
      runOk('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', PIN, '--so-pin', SO_PIN], {
        env: { ...process.env, SOFTHSM2_CONF: conf },
      });
    }
  }
  return conf;
}

/** This process's SoftHSM tokens (see the file comment). */
export function softHsm(): SoftHsm {
  const base = { SOFTHSM2_CONF: tokenFolder() };
  const tool = (label: TokenLabel, args: string[]) =>
    succeeded(
      run(
        'pkcs11-tool',
        ['--module', SOFTHSM_MODULE, '--token-label', label, '--login', '--pin', PIN, ...args],
        {
          env: { ...process.env, ...base },
          encoding: 'utf8',
        },
      ),
      `pkcs11-tool ${args.join(' ')}`,
    ).stdout;
  return {
    env: { ...base, MTLS_CA_PKCS11_MODULE: SOFTHSM_MODULE, MTLS_CA_PKCS11_PIN: PIN },
    objects: (label, type) => tool(label, ['--list-objects', ...(type ? ['--type', type] : [])]),
    tool,
  };
}

type Env = Record<string, string | undefined>;

/**
 * mtls-ca with the tokens' environment (module, PIN) and `--dir`: `run` and `ok` in this process (`ok` throws
 * unless it exited 0), `runBinary` and `okBinary` as the real binary in a process of its own, which is the only
 * way to give a command another SOFTHSM2_CONF.
 */
export function tokenCli(hsm: SoftHsm) {
  const runCli = (dir: string, args: string[], env: Env = {}) => {
    // this process's module has read its SOFTHSM2_CONF already, for good
    if ('SOFTHSM2_CONF' in env && env.SOFTHSM2_CONF !== hsm.env.SOFTHSM2_CONF) {
      throw new Error('another SOFTHSM2_CONF needs a process of its own: use runBinary');
    }
    return cli([...args, '--dir', dir], { ...hsm.env, ...env });
  };
  const runBinary = (dir: string, args: string[], env: Env = {}) =>
    cliProcess([...args, '--dir', dir], { ...hsm.env, ...env });
  return {
    run: runCli,
    runBinary,
    ok: async (dir: string, args: string[], env: Env = {}) =>
      exitedZero(`mtls-ca ${args.join(' ')}`, await runCli(dir, args, env)),
    okBinary: async (dir: string, args: string[], env: Env = {}) =>
      exitedZero(`mtls-ca ${args.join(' ')}`, await runBinary(dir, args, env)),
  };
}

/**
 * SoftHSM 2 for the PKCS#11 tests: a token folder of the test file's own (SOFTHSM2_CONF names a config that
 * points at it), tokens made with softhsm2-util and found by their label — SoftHSM gives a token a new slot
 * when it is initialized. Commands that use a token run as their own process (cliProcess): each reads
 * SOFTHSM2_CONF at its C_Initialize and logs in afresh, whatever other test files in this worker did.
 * pkcs11-tool (OpenSC) looks into the token as an operator would.
 */
import fs from 'node:fs';
import path from 'node:path';
import { cliProcess } from './cli.js';
import { haveTool, run, runOk, succeeded, tempDir } from './tools.js';

/** Where Debian's softhsm2 package puts the module (the first is a link to the second). */
const MODULES = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so'];

export const SOFTHSM_MODULE = MODULES.find((m) => fs.existsSync(m)) ?? MODULES[0]!;

/** The user PIN of every test token. */
export const PIN = 'token-pin-4321';
const SO_PIN = 'token-so-pin-8765';

export interface SoftHsm {
  /** The environment a command needs to reach the tokens: SOFTHSM2_CONF, the module and the PIN. */
  env: Record<string, string>;
  /** Initializes a token of this label in a free slot. */
  initToken(label: string): void;
  /** pkcs11-tool's listing of the token's objects (after logging in), of one type if given. */
  objects(label: string, type?: 'privkey' | 'pubkey'): string;
  /** Runs pkcs11-tool on the token, logged in; throws when it fails. */
  tool(label: string, args: string[]): string;
}

/** The tools {@link softHsm} runs, for describeWithTools. */
export const SOFTHSM_TOOLS = ['softhsm2-util', 'pkcs11-tool'];

/** A SoftHSM token folder for this test file, removed after it. */
export function softHsm(): SoftHsm {
  const root = tempDir('mtls-ca-softhsm-');
  const tokens = path.join(root, 'tokens');
  const conf = path.join(root, 'softhsm2.conf');
  if (haveTool('softhsm2-util')) {
    fs.mkdirSync(tokens);
    fs.writeFileSync(
      conf,
      `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`,
    );
  }
  const base = { SOFTHSM2_CONF: conf };
  const tool = (label: string, args: string[]) =>
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
    initToken(label) {
      runOk('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', PIN, '--so-pin', SO_PIN], {
        env: { ...process.env, ...base },
      });
    },
    objects: (label, type) => tool(label, ['--list-objects', ...(type ? ['--type', type] : [])]),
    tool,
  };
}

/**
 * The real binary with the tokens' environment (SOFTHSM2_CONF, module, PIN) and `--dir`: `run` returns what
 * it did, `ok` throws unless it exited 0.
 */
export function tokenCli(hsm: SoftHsm) {
  const runCli = (dir: string, args: string[], env: Record<string, string | undefined> = {}) =>
    cliProcess([...args, '--dir', dir], { ...hsm.env, ...env });
  return {
    run: runCli,
    async ok(dir: string, args: string[], env: Record<string, string | undefined> = {}) {
      const r = await runCli(dir, args, env);
      if (r.code !== 0) throw new Error(`mtls-ca ${args.join(' ')} exited ${r.code}\n${r.stderr}`);
      return r;
    },
  };
}

/** What every command receives: the I/O, the global options, and shared option builders. */
import path from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { MtlsCaError } from '../pki/errors.js';
import { DEFAULT_KEY_TYPE, KEY_TYPES } from '../pki/key-types.js';
import type { CaStore } from '../store/ca-store.js';
import { DEFAULT_DIR } from '../store/layout.js';
import type { Io } from './io.js';
import { Output } from './output.js';

const ENV_DIR = 'MTLS_CA_DIR';
export const ENV_DATABASE_URL = 'MTLS_CA_DATABASE_URL';

/** A typed exit code other than 0/1/2/70 (e.g. 3 from `list --expiring`). */
export class ExitError extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
  }
}

export interface Globals {
  dir: string;
  json: boolean;
  /** The database holding the CA's state (--database-url or MTLS_CA_DATABASE_URL), if any. */
  databaseUrl?: string;
}

export class CommandContext {
  constructor(readonly io: Io) {}

  readonly #opened: CaStore[] = [];

  globals(cmd: Command): Globals {
    const o = cmd.optsWithGlobals() as { dir?: string; json?: boolean; databaseUrl?: string };
    const databaseUrl = o.databaseUrl ?? (this.io.env[ENV_DATABASE_URL] || undefined);
    return {
      dir: o.dir ?? this.io.env[ENV_DIR] ?? DEFAULT_DIR,
      json: Boolean(o.json),
      ...(databaseUrl ? { databaseUrl } : {}),
    };
  }

  output(cmd: Command): Promise<Output> {
    return Output.create(this.io, this.globals(cmd).json);
  }

  /**
   * The CA directory's store, loaded on demand so that `--help` and `--version` stay fast; with a database
   * URL, the directory is this host's and the CA's state is read from the database (the driver loaded only
   * then). Closed by {@link close}.
   * @param o.readOnly - for a command that only looks (CaStoreOptions)
   * @param o.create - a command that creates the CA there (init, import, db import): mtls-ca's tables are
   *   made or brought up to date first
   */
  async store(cmd: Command, o: { readOnly?: boolean; create?: boolean } = {}): Promise<CaStore> {
    const { CaStore } = await import('../store/ca-store.js');
    const { dir, databaseUrl } = this.globals(cmd);
    const readOnly = o.readOnly ?? false;
    if (!databaseUrl) return new CaStore(path.resolve(dir), { readOnly });
    const { PostgresState } = await import('../store/postgres/state.js');
    refusePasswordInArgv(cmd);
    const state = await PostgresState.open(databaseUrl, { create: o.create });
    const store = new CaStore(path.resolve(dir), { readOnly, state });
    this.#opened.push(store);
    return store;
  }

  /** Closes what {@link store} opened (a database connection), so that the process can end. */
  async close(): Promise<void> {
    await Promise.all(this.#opened.splice(0).map((s) => s.close()));
  }
}

/**
 * A password in `--database-url` would show in `ps` and shell history, as any password on the command line:
 * refused, as the CA password is never taken from argv.
 */
function refusePasswordInArgv(cmd: Command): void {
  const url = (cmd.optsWithGlobals() as { databaseUrl?: string }).databaseUrl;
  let password = '';
  try {
    password = url ? new URL(url).password : '';
  } catch {
    // not a URL: the store says so
  }
  if (!password) return;
  throw new MtlsCaError(
    'USAGE',
    'use --database-url: it holds a password, which would show in ps and shell history',
    `set the URL in ${ENV_DATABASE_URL}, or keep the password in PGPASSWORD or ~/.pgpass`,
  );
}

export function parseDays(flag: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 36_500) {
      throw new InvalidArgumentError(`${flag} takes a whole number of days from 1 to 36500.`);
    }
    return Number(value);
  };
}

/**
 * A parser for `--port`.
 * @param min - the lowest port allowed: 0 where the system may choose one (serve, publish), else 1
 */
export function parsePort(min: 0 | 1) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > 65_535)
      throw new InvalidArgumentError(`--port takes a number from ${min} to 65535.`);
    return n;
  };
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export const keyTypeOption = () =>
  new Option('--key-type <type>', 'key algorithm').choices(KEY_TYPES).default(DEFAULT_KEY_TYPE);

/** --key-type for a certificate under an existing CA: without it, the CA's key type. */
export const leafKeyTypeOption = () =>
  new Option('--key-type <type>', "key algorithm (default: the CA's key type)").choices(KEY_TYPES);

/**
 * Why an Ed25519 key is a poor choice where browsers are involved, for a warning: Chromium offers no Ed25519
 * signature algorithm in TLS (an Ed25519 server certificate fails with ERR_SSL_VERSION_OR_CIPHER_MISMATCH, seen
 * with Chromium 156) and NSS 3.87 — Firefox's, and Chromium's key store on Linux — cannot import an Ed25519 key
 * from a .p12 (SEC_ERROR_PKCS12_UNABLE_TO_IMPORT_KEY, for OpenSSL's .p12 as for ours).
 * @param subject - the start of the sentence, up to the key: `client alice gets an Ed25519 key`
 */
export function ed25519Warning(subject: string): string {
  return `${subject}, which browsers cannot use: Chromium offers no Ed25519 in TLS, and NSS (Firefox; Chromium on Linux) cannot import one; OpenSSL-based clients such as curl can use one — for browsers use --key-type ecdsa-p256`;
}

/** `--host`, repeatable: the server certificate's names beyond localhost (init, import). */
export const hostOption = () =>
  new Option(
    '--host <host>',
    'another DNS name or IP address for the server certificate (repeatable)',
  ).argParser(collect);

/** `--server-days` of the server certificate init and import make. */
export const serverDaysOption = () =>
  new Option('--server-days <days>', 'server certificate validity in days (397: the most browsers accept)')
    .argParser(parseDays('--server-days'))
    .default(397);

export const p12ProfileOption = () =>
  new Option(
    '--p12-profile <profile>',
    '.p12 encryption: compat (3DES/SHA-1, imports on macOS, iOS, old Windows) or modern (AES-256/SHA-256)',
  )
    .choices(['compat', 'modern'])
    .default('compat');

export const caPasswordFileOption = () =>
  new Option(
    '--ca-password-file <file>',
    'read the CA key password from the first line of a file, - for stdin (or MTLS_CA_PASSWORD)',
  );

export const passwordFileOption = () =>
  new Option(
    '--password-file <file>',
    'password for .p12/key stores, first line of a file or - for stdin (or MTLS_CA_STORE_PASSWORD); default: generated, saved as <file>.pass',
  );

export const EXIT_CODES = `
Exit codes:
  0   success
  1   the command failed (the message says why, the hint what to do)
  2   usage error (unknown option, bad value)
  70  internal error (re-run with MTLS_CA_DEBUG=1 for details)
  130 cancelled at a prompt (Ctrl-C)`;

/** Help footer: examples, then exit codes. */
export function helpAfter(examples: string[], extraExitCodes = ''): string {
  return `\nExamples:\n${examples.map((e) => `  $ ${e}`).join('\n')}\n${EXIT_CODES}${extraExitCodes}\n`;
}

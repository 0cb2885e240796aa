/**
 * Where passwords come from, in order: a file flag, an environment variable, a prompt on a TTY. Never argv
 * (it shows in `ps` and shell history) and never a log.
 */

import { InputError } from '../files/user-file.js';
import type { StorePasswordChoice } from '../ops/common.js';
import { MtlsCaError } from '../pki/errors.js';
import { INPUT, readInput } from './input.js';
import { type Io, isInteractive } from './io.js';
import { askPassword } from './prompts.js';

export const ENV_CA_PASSWORD = 'MTLS_CA_PASSWORD';
export const ENV_STORE_PASSWORD = 'MTLS_CA_STORE_PASSWORD';

/**
 * The first line of a password file (or of stdin for `-`), without its line ending.
 * @param io - the command's streams (stdin for `-`)
 * @param file - the path as given
 * @param flag - the option that named it, for messages
 */
export async function readPasswordFile(io: Io, file: string, flag: string): Promise<string> {
  let text: string;
  try {
    text = (await readInput(io, file, INPUT.password, flag)).toString('utf8');
  } catch (e) {
    if (e instanceof InputError && e.failure === 'missing') {
      throw new MtlsCaError(
        e.code,
        e.message,
        `write the password to ${file} (first line), or use the environment variable instead`,
        e.cause,
      );
    }
    throw e;
  }
  const password = text.split(/\r?\n/)[0] ?? '';
  if (!password) throw new MtlsCaError('INVALID_ARGUMENT', `read ${flag} ${file}: the first line is empty`);
  return password;
}

async function fromFileOrEnv(
  io: Io,
  file: string | undefined,
  flag: string,
  env: string,
): Promise<string | undefined> {
  if (file !== undefined) return readPasswordFile(io, file, flag);
  const value = io.env[env];
  if (value !== undefined && value !== '') return value;
  return undefined;
}

/** The CA key password for a command that uses an existing CA (only asked when the key is encrypted). */
export async function caPasswordForUse(
  io: Io,
  opts: { caPasswordFile?: string },
  encrypted: boolean,
): Promise<string | undefined> {
  if (!encrypted) return undefined;
  const given = await fromFileOrEnv(io, opts.caPasswordFile, '--ca-password-file', ENV_CA_PASSWORD);
  if (given !== undefined) return given;
  if (isInteractive(io)) return askPassword(io, 'CA key password');
  throw new MtlsCaError(
    'PASSWORD_REQUIRED',
    'read the CA key: it is encrypted and no password was given',
    `pass --ca-password-file F or set ${ENV_CA_PASSWORD}`,
  );
}

/** The password for a new CA key; null means unencrypted (only with --no-ca-password). */
export async function caPasswordForCreate(
  io: Io,
  opts: { caPasswordFile?: string; caPassword?: boolean },
): Promise<string | null> {
  if (opts.caPassword === false) {
    if (opts.caPasswordFile !== undefined) {
      throw new MtlsCaError('USAGE', 'use --no-ca-password with --ca-password-file: choose one');
    }
    return null;
  }
  const given = await fromFileOrEnv(io, opts.caPasswordFile, '--ca-password-file', ENV_CA_PASSWORD);
  if (given !== undefined) return given;
  if (isInteractive(io)) return askPassword(io, 'Password for the new CA key', { confirm: true });
  throw new MtlsCaError(
    'PASSWORD_REQUIRED',
    'create the CA key: no password given, and the CA key is always encrypted unless you opt out',
    `pass --ca-password-file F, set ${ENV_CA_PASSWORD}, or --no-ca-password for an unencrypted demo CA`,
  );
}

/** The store password from --password-file or MTLS_CA_STORE_PASSWORD only: never a prompt (renew reuses .pass). */
export async function givenStorePassword(
  io: Io,
  opts: { passwordFile?: string },
): Promise<StorePasswordChoice> {
  const given = await fromFileOrEnv(io, opts.passwordFile, '--password-file', ENV_STORE_PASSWORD);
  return given === undefined ? {} : { given };
}

/**
 * The password for key stores and .p12 bundles: given, prompted on a TTY (empty = generate), or generated
 * (written beside each artifact as <artifact>.pass).
 */
export async function storePasswordChoice(
  io: Io,
  opts: { passwordFile?: string },
): Promise<StorePasswordChoice> {
  const choice = await givenStorePassword(io, opts);
  if (choice.given !== undefined) return choice;
  if (isInteractive(io)) {
    const typed = await askPassword(io, 'Password for the key store / .p12 (empty: generate one)', {
      confirm: true,
      allowEmpty: true,
    });
    if (typed) return { given: typed };
  }
  return {};
}

/**
 * Where passwords come from, in order: a file flag, an environment variable, a prompt on a TTY. Never argv
 * (it shows in `ps` and shell history) and never a log.
 */

import { InputError } from '../files/user-file.js';
import {
  assertCaPasswordLength,
  GOOD_CA_PASSWORD_LENGTH,
  MIN_CA_PASSWORD_LENGTH,
  passwordLength,
} from '../ops/ca-password.js';
import type { StorePasswordChoice } from '../ops/common.js';
import { MtlsCaError } from '../pki/errors.js';
import type { CaStore } from '../store/ca-store.js';
import { INPUT, readInput } from './input.js';
import { type Io, isInteractive } from './io.js';
import { askPassword } from './prompts.js';

export const ENV_CA_PASSWORD = 'MTLS_CA_PASSWORD';
export const ENV_STORE_PASSWORD = 'MTLS_CA_STORE_PASSWORD';
export const ENV_PKCS11_PIN = 'MTLS_CA_PKCS11_PIN';

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

/** A password given in a file or the environment, and where it came from (for messages). */
interface GivenPassword {
  password: string;
  /** `--ca-password-file ca.pass`, `MTLS_CA_PASSWORD`, … */
  source: string;
}

async function fromFileOrEnv(
  io: Io,
  file: string | undefined,
  flag: string,
  env: string,
): Promise<GivenPassword | undefined> {
  if (file !== undefined)
    return { password: await readPasswordFile(io, file, flag), source: `${flag} ${file}` };
  const value = io.env[env];
  if (value !== undefined && value !== '') return { password: value, source: env };
  return undefined;
}

/** What a person who typed a CA key password shorter than {@link GOOD_CA_PASSWORD_LENGTH} reads. */
const SHORT_PASSWORD_WARNING = `the CA key password has fewer than ${GOOD_CA_PASSWORD_LENGTH} characters; whoever copies ca.key can try passwords offline — a few words make a stronger one`;

/** How often a CA key password typed at the prompt may be wrong before the command gives up. */
const CA_PASSWORD_TRIES = 3;

/** What {@link passwordThatOpens} says when there is no password, and when the prompt gave up. */
interface OpenPrompt {
  /** The question at the prompt. */
  question: string;
  /** The error without a password and without a terminal. */
  missing: MtlsCaError;
  /** The hint after the last wrong try at the prompt. */
  giveUpHint: string;
}

/**
 * A password that opens a key, checked at once (`open` throws `BAD_PASSWORD` for a wrong one), so that a wrong
 * one stops the command before any other question. A wrong password from a file or the environment is an error
 * straight away; one typed at the prompt is asked again, up to {@link CA_PASSWORD_TRIES} times.
 * @param given - the password from a file or the environment, if any
 * @param open - opens the key with a password, or throws
 */
async function passwordThatOpens(
  io: Io,
  given: GivenPassword | undefined,
  open: (password: string) => void,
  prompt: OpenPrompt,
): Promise<string> {
  if (given !== undefined) {
    open(given.password);
    return given.password;
  }
  if (!isInteractive(io)) throw prompt.missing;
  for (let tries = 1; ; tries++) {
    const typed = await askPassword(io, prompt.question);
    try {
      open(typed);
      return typed;
    } catch (e) {
      if (!(e instanceof MtlsCaError && e.code === 'BAD_PASSWORD')) throw e;
      if (tries === CA_PASSWORD_TRIES) {
        throw new MtlsCaError('BAD_PASSWORD', `${e.message}, ${tries} times`, prompt.giveUpHint);
      }
      const left = CA_PASSWORD_TRIES - tries;
      io.stderr.write(`Wrong password; try again (${left} ${left === 1 ? 'try' : 'tries'} left).\n`);
    }
  }
}

/**
 * For a CA whose key is in a PKCS#11 token: opens it (module and PIN from the URI or the environment, see
 * token.ts) and gives it to the store; then there is no CA password to ask for.
 * @returns whether the CA key is a token key
 */
async function openedTokenKey(io: Io, store: CaStore, o: { prompt: boolean }): Promise<boolean> {
  if (store.tokenKeyUri() === undefined) return false;
  const { useCaTokenKey } = await import('./token.js');
  await useCaTokenKey(io, store, o);
  return true;
}

/**
 * The CA key password for a command that uses an existing CA (only asked when the key is encrypted), checked
 * against the key at once (see {@link passwordThatOpens}).
 * @param store - the CA directory whose key the password opens
 */
export async function caPasswordForUse(
  io: Io,
  opts: { caPasswordFile?: string },
  store: CaStore,
): Promise<string | undefined> {
  if (await openedTokenKey(io, store, { prompt: true })) return undefined;
  if (!store.isCaKeyEncrypted()) return undefined;
  const given = await fromFileOrEnv(io, opts.caPasswordFile, '--ca-password-file', ENV_CA_PASSWORD);
  return passwordThatOpens(io, given, (password) => store.loadCa(password), {
    question: 'CA key password',
    missing: new MtlsCaError(
      'PASSWORD_REQUIRED',
      'read the CA key: it is encrypted and no password was given',
      `pass --ca-password-file F or set ${ENV_CA_PASSWORD}`,
    ),
    giveUpHint: `run the command again, or pass the password with --ca-password-file F or ${ENV_CA_PASSWORD}`,
  });
}

/**
 * The password for a new CA key; null means unencrypted (only with --no-ca-password). One shorter than
 * {@link MIN_CA_PASSWORD_LENGTH} is refused (at the prompt: asked again); one shorter than
 * {@link GOOD_CA_PASSWORD_LENGTH} draws a warning when a person is at the terminal.
 * @param warn - shows a warning to the person at the terminal
 */
export async function caPasswordForCreate(
  io: Io,
  opts: { caPasswordFile?: string; caPassword?: boolean },
  warn: (text: string) => void,
): Promise<string | null> {
  if (opts.caPassword === false) {
    if (opts.caPasswordFile !== undefined) {
      throw new MtlsCaError('USAGE', 'use --no-ca-password with --ca-password-file: choose one');
    }
    return null;
  }
  const interactive = isInteractive(io);
  let password: string;
  const given = await fromFileOrEnv(io, opts.caPasswordFile, '--ca-password-file', ENV_CA_PASSWORD);
  if (given !== undefined) {
    assertCaPasswordLength(given.password, given.source);
    password = given.password;
  } else if (interactive) {
    password = await askPassword(io, 'Password for the new CA key', {
      confirm: true,
      check: (typed) =>
        passwordLength(typed) < MIN_CA_PASSWORD_LENGTH
          ? `It needs at least ${MIN_CA_PASSWORD_LENGTH} characters`
          : undefined,
    });
  } else {
    throw new MtlsCaError(
      'PASSWORD_REQUIRED',
      'create the CA key: no password given, and the CA key is always encrypted unless you opt out',
      `pass --ca-password-file F, set ${ENV_CA_PASSWORD}, or --no-ca-password for an unencrypted demo CA`,
    );
  }
  if (interactive && passwordLength(password) < GOOD_CA_PASSWORD_LENGTH) {
    warn(SHORT_PASSWORD_WARNING);
  }
  return password;
}

/**
 * The passwords of `import`: the one that opens the source key (when it is encrypted) and the new CA key's.
 * The CA password opens an encrypted source key too — the team's CA keeps its password — unless
 * `--source-password-file` gives the source key's own; either way the CA key is stored encrypted with the CA
 * password, which follows the rules of a new CA key password ({@link caPasswordForCreate}).
 * @param opts - `--ca-password-file` and `--source-password-file` as given
 * @param key - the source key: its path, whether it is encrypted, and how to open it (throws `BAD_PASSWORD`)
 * @param warn - shows a warning to the person at the terminal
 */
export async function importPasswords(
  io: Io,
  opts: { caPasswordFile?: string; sourcePasswordFile?: string },
  key: { path: string; encrypted: boolean; open: (password: string) => void },
  warn: (text: string) => void,
): Promise<{ source?: string; ca: string }> {
  const wrong = (e: unknown, hint: string): unknown =>
    e instanceof MtlsCaError && e.code === 'BAD_PASSWORD' ? new MtlsCaError(e.code, e.message, hint, e) : e;
  if (opts.sourcePasswordFile !== undefined) {
    if (!key.encrypted) {
      throw new MtlsCaError(
        'INVALID_ARGUMENT',
        `use --source-password-file ${opts.sourcePasswordFile}: ${key.path} is not encrypted`,
        'leave --source-password-file out',
      );
    }
    const source = await readPasswordFile(io, opts.sourcePasswordFile, '--source-password-file');
    try {
      key.open(source);
    } catch (e) {
      throw wrong(e, `--source-password-file must hold the password of ${key.path}`);
    }
    const ca = await caPasswordForCreate(io, opts, warn);
    return { source, ca: ca! }; // never null: import has no --no-ca-password
  }
  if (!key.encrypted) return { ca: (await caPasswordForCreate(io, opts, warn))! };

  const given = await fromFileOrEnv(io, opts.caPasswordFile, '--ca-password-file', ENV_CA_PASSWORD);
  const ownPassword = `or give the key's own password with --source-password-file F and the CA's with --ca-password-file F or ${ENV_CA_PASSWORD}`;
  let password: string;
  try {
    password = await passwordThatOpens(io, given, key.open, {
      question: `Password of ${key.path} (it becomes the CA key password)`,
      missing: new MtlsCaError(
        'PASSWORD_REQUIRED',
        `read ${key.path}: it is encrypted and no password was given`,
        `pass it with --ca-password-file F or ${ENV_CA_PASSWORD} (it becomes the CA key password), ${ownPassword}`,
      ),
      giveUpHint: `run the command again; pass the password with --ca-password-file F or ${ENV_CA_PASSWORD}, ${ownPassword}`,
    });
  } catch (e) {
    throw wrong(e, `the CA password opens ${key.path}: pass that key's password, ${ownPassword}`);
  }
  try {
    assertCaPasswordLength(password, given?.source ?? `the password of ${key.path}`);
  } catch (e) {
    if (!(e instanceof MtlsCaError)) throw e;
    throw new MtlsCaError(
      e.code,
      e.message,
      `give the key's password with --source-password-file F, and a new CA password of ${MIN_CA_PASSWORD_LENGTH} or more characters with --ca-password-file F or ${ENV_CA_PASSWORD}`,
    );
  }
  if (isInteractive(io) && passwordLength(password) < GOOD_CA_PASSWORD_LENGTH) {
    warn(SHORT_PASSWORD_WARNING);
  }
  return { source: password, ca: password };
}

/** The store password from --password-file or MTLS_CA_STORE_PASSWORD only: never a prompt (renew reuses .pass). */
export async function givenStorePassword(
  io: Io,
  opts: { passwordFile?: string },
): Promise<StorePasswordChoice> {
  const given = await fromFileOrEnv(io, opts.passwordFile, '--password-file', ENV_STORE_PASSWORD);
  return given === undefined ? {} : { given: given.password };
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

/**
 * The CA key password for a command that runs unattended and must never prompt (a server under systemd,
 * where a prompt would wait for ever): from the file flag or MTLS_CA_PASSWORD only, checked against the key
 * at once, so that a wrong one stops the command before it starts rather than days later.
 * @param store - the CA directory whose key the password opens
 * @param action - what needs the key, for the error (`serve --crl-auto-renew`)
 * @returns undefined for an unencrypted key
 * @throws MtlsCaError PASSWORD_REQUIRED when the key is encrypted and no password was given, BAD_PASSWORD
 */
export async function caPasswordUnattended(
  io: Io,
  opts: { caPasswordFile?: string },
  store: CaStore,
  action: string,
): Promise<string | undefined> {
  // The password file is read only when a password is needed: a key in a token or an unencrypted one needs
  // none, and a script that passes a file anyway (stale, moved, empty) must not stop the server for it.
  if (await openedTokenKey(io, store, { prompt: false })) return undefined;
  if (!store.isCaKeyEncrypted()) return undefined;
  const given = await fromFileOrEnv(io, opts.caPasswordFile, '--ca-password-file', ENV_CA_PASSWORD);
  if (given === undefined) {
    throw new MtlsCaError(
      'PASSWORD_REQUIRED',
      `read ${store.display(store.paths.caKey)}: the CA key is encrypted and ${action} was given no password`,
      `set ${ENV_CA_PASSWORD} or pass --ca-password-file F (${action} never prompts)`,
    );
  }
  store.loadCa(given.password);
  return given.password;
}

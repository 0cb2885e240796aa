/**
 * Shared pieces of the CA operations. Operations compose the pure PKI core with the store; they never
 * print, prompt or exit — they return plain result objects the CLI renders (as text or --json).
 */
import { randomBytes } from 'node:crypto';
import { InvalidNameError, MtlsCaError } from '../pki/errors.js';
import { DEFAULT_KEY_TYPE, isKeyType, type KeyType, keyTypeName } from '../pki/keys.js';
import { MODE_SECRET, type Transaction } from '../store/atomic.js';
import type { CaStore } from '../store/ca-store.js';

export interface WrittenFile {
  path: string;
  mode: string;
  what: string;
}

/**
 * How a file the store stages itself (a CA key, its URI) is listed: the file and its mode, or, with the
 * state kept elsewhere (a database), the store's location, where it has no mode of its own.
 * @param store - the CA's store
 * @param file - the file in the CA directory
 * @param mode - its mode there (`0600`)
 * @param what - what the file is, for the list
 */
export function stateFileListed(store: CaStore, file: string, mode: string, what: string): WrittenFile {
  return store.externalState
    ? { path: store.location, mode: '-', what }
    : { path: store.display(file), mode, what };
}

/** Collects what a command stages, so it can tell the user what it created, where, and with which mode. */
export class FileList {
  readonly files: WrittenFile[] = [];
  constructor(
    private readonly tx: Transaction,
    private readonly display: (file: string) => string,
  ) {}

  write(file: string, data: Buffer | string, mode: number, what: string): void {
    this.tx.write(file, data, mode);
    this.files.push({ path: this.display(file), mode: `0${mode.toString(8)}`, what });
  }
}

/** 24 characters from [A-Za-z0-9_-]: 144 bits, safe to paste into properties files and shells. */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}

export interface StorePasswordChoice {
  /** The password to use, given by the user; undefined → generate one per artifact. */
  given?: string;
}

/**
 * The password for one store or bundle: the user's, or a generated one written beside the artifact as
 * `<artifact>.pass` (0600). Returns the password and the .pass file (if generated).
 */
export function storePasswordFor(
  artifact: string,
  choice: StorePasswordChoice,
  files: FileList,
): { password: string; passwordFile?: string } {
  if (choice.given !== undefined) return { password: choice.given };
  const password = generatePassword();
  const passwordFile = `${artifact}.pass`;
  files.write(passwordFile, `${password}\n`, MODE_SECRET, 'generated password');
  return { password, passwordFile };
}

/**
 * Refuses a validity that is not a whole number of days from 1 to 36500. (The CLI checks its flags itself,
 * before anything runs: this is for callers of the operations.)
 * @param days - the value given
 * @param option - the option it was given as: `days`, `caDays`
 */
export function assertDays(days: number, option: string): void {
  if (!Number.isInteger(days) || days < 1 || days > 36_500) {
    throw new MtlsCaError(
      'INVALID_ARGUMENT',
      `use ${option} ${days}: expected a whole number of days from 1 to 36500`,
    );
  }
}

/**
 * Runs name checks, and restates a refused name in the caller's words (`<lead> <kind> <name>: <reason>`).
 * @param lead - what comes before the name: `sign web.csr: the request asks for`
 * @param hint - what to do instead
 */
export function checkNames(lead: string, hint: string, checks: () => void): void {
  try {
    checks();
  } catch (e) {
    throw e instanceof InvalidNameError ? e.restate(lead, hint) : e;
  }
}

/**
 * The key type of a new certificate when none is asked for: the CA's, so that a CA made with `--key-type
 * rsa-4096` (say, for a policy that wants RSA) issues RSA-4096 certificates too; {@link DEFAULT_KEY_TYPE} for a
 * CA key of a type mtls-ca does not generate.
 */
export function defaultLeafKeyType(store: CaStore): KeyType {
  const name = keyTypeName(store.readCaCertificate().publicKey);
  return isKeyType(name) ? name : DEFAULT_KEY_TYPE;
}

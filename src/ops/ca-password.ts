/**
 * How long a new CA key password must be. The CA key file is encrypted PKCS#8 (PBKDF2-SHA256, OpenSSL's
 * default 2,048 iterations), so whoever copies the file can guess its password offline, fast; a password is the
 * CA's whole protection then. A module of its own, without crypto, so the CLI can check a password before it
 * loads anything else.
 */
import { MtlsCaError } from '../pki/errors.js';

/** Fewer characters are refused from any source: the minimum of NIST SP 800-63B §5.1.1.2 for chosen secrets. */
export const MIN_CA_PASSWORD_LENGTH = 8;

/** Fewer characters than this draw a warning from a person at a terminal: a few words are easy to type. */
export const GOOD_CA_PASSWORD_LENGTH = 12;

/** A password's length in characters (code points), as a person counts them, not UTF-16 units. */
export function passwordLength(password: string): number {
  return [...password].length;
}

/**
 * Refuses a new CA key password shorter than {@link MIN_CA_PASSWORD_LENGTH}.
 * @param password - the new password
 * @param source - where it came from, for the message: `MTLS_CA_PASSWORD`, `--ca-password-file ca.pass`
 *   (default: `the CA key password`)
 * @throws MtlsCaError `WEAK_PASSWORD`
 */
export function assertCaPasswordLength(password: string, source = 'the CA key password'): void {
  const length = passwordLength(password);
  if (length >= MIN_CA_PASSWORD_LENGTH) return;
  throw new MtlsCaError(
    'WEAK_PASSWORD',
    `use ${source} for a new CA key: ${length === 1 ? '1 character is' : `${length} characters are`} too few (at least ${MIN_CA_PASSWORD_LENGTH})`,
    `choose a longer password; ${GOOD_CA_PASSWORD_LENGTH} or more characters, a few words, are better`,
  );
}

/**
 * Opening the CA key as a store holds it ({@link CaKeyReference}), the same for every store: a wrong or
 * missing password is said to be the CA password's (detail `ca-password`), and a key that lives outside the
 * store is refused until a signer for it is loaded.
 */
import type { KeyObject } from 'node:crypto';
import { MtlsCaError } from '../pki/errors.js';
import { parsePrivateKey } from '../pki/keys.js';
import type { CaKeyReference } from './ca-state.js';

/**
 * The CA private key.
 * @param key - as the store holds it, or the bytes of a key file
 * @param password - the CA password; ignored for an unencrypted key
 * @param what - where the key is, for messages (`ssl/ca/ca.key`, `the CA key in postgres://…`)
 */
export function openCaKey(
  key: CaKeyReference | Buffer,
  password: string | undefined,
  what: string,
): KeyObject {
  if (!Buffer.isBuffer(key) && key.kind === 'uri') {
    throw new MtlsCaError('UNSUPPORTED', `open ${key.uri}: a CA key outside the store is not supported here`);
  }
  try {
    return parsePrivateKey(Buffer.isBuffer(key) ? key : key.pem, password, what);
  } catch (e) {
    if (e instanceof MtlsCaError && (e.code === 'BAD_PASSWORD' || e.code === 'PASSWORD_REQUIRED')) {
      throw new MtlsCaError(e.code, e.message, { cause: e, detail: { kind: 'ca-password' } });
    }
    throw e;
  }
}

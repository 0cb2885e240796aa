import { MtlsCaError } from '../../src/pki/errors.js';

/** The MtlsCaError that `fn` throws (anything else, or nothing, fails the test). */
export function errorOf(fn: () => unknown): MtlsCaError {
  try {
    fn();
  } catch (e) {
    if (e instanceof MtlsCaError) return e;
    throw e;
  }
  throw new Error('expected an MtlsCaError, nothing was thrown');
}

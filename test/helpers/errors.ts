import { MtlsCaError } from '../../src/pki/errors.js';

/**
 * The MtlsCaError that `fn` throws, or that the promise it returns rejects with; any other error is rethrown,
 * and nothing thrown fails the test.
 * @param fn - the call expected to fail; when it returns a promise, so does errorOf
 */
export function errorOf(fn: () => Promise<unknown>): Promise<MtlsCaError>;
export function errorOf(fn: () => unknown): MtlsCaError;
export function errorOf(fn: () => unknown): MtlsCaError | Promise<MtlsCaError> {
  const nothing = () => new Error('expected an MtlsCaError, nothing was thrown');
  const caught = (e: unknown): MtlsCaError => {
    if (e instanceof MtlsCaError) return e;
    throw e;
  };
  let result: unknown;
  try {
    result = fn();
  } catch (e) {
    return caught(e);
  }
  if (result instanceof Promise) {
    return result.then(() => {
      throw nothing();
    }, caught);
  }
  throw nothing();
}

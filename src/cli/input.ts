/**
 * Files named on the command line: a path, or `-` for stdin. Every command that reads a file the user named
 * (inspect, sign-csr, issue-client --from, --password-file, --ca-password-file) reads it here, so each gets
 * the same limits, the same errors and the same stdin rule: stdin can be read once per command.
 */
import { INPUT, InputError, type InputKind, readUserFile, readUserStream } from '../files/user-file.js';
import { MtlsCaError } from '../pki/errors.js';
import type { Io } from './io.js';

export { INPUT };

/** The argument that stands for stdin. */
export const STDIN = '-';

/** How messages and results name an input: its path, or `stdin` for `-`. */
export function inputName(file: string): string {
  return file === STDIN ? 'stdin' : file;
}

/** Which input of the running command took stdin: a second `-` cannot be read. */
const stdinTakenBy = new WeakMap<Io, string>();

/**
 * Reads the file the user named, or stdin for `-`.
 * @param io - the command's streams (stdin for `-`)
 * @param file - the path as given on the command line
 * @param kind - what the file should hold and its size limit, one of {@link INPUT}
 * @param label - names the option in messages, e.g. `--password-file` (default: none, for an argument)
 */
export async function readInput(io: Io, file: string, kind: InputKind, label?: string): Promise<Buffer> {
  const named = label ? `${label} ${file}` : file;
  if (file === STDIN) {
    const taken = stdinTakenBy.get(io);
    if (taken !== undefined) {
      throw new MtlsCaError(
        'INVALID_ARGUMENT',
        `read ${named}: stdin is already read for ${taken}`,
        'only one input can come from stdin; name a file for the other',
      );
    }
    if (io.stdin.isTTY) {
      throw new MtlsCaError(
        'INVALID_ARGUMENT',
        `read ${named}: stdin is a terminal`,
        `pipe ${kind.what} in (… | mtls-ca …) or name a file`,
      );
    }
    stdinTakenBy.set(io, label ?? 'the file argument');
    return readUserStream(io.stdin, kind, label ? `${label} stdin` : 'stdin');
  }
  try {
    return readUserFile(file, kind, { label });
  } catch (e) {
    if (e instanceof InputError && e.failure === 'not-regular') {
      throw new MtlsCaError(
        e.code,
        e.message,
        `name a regular file, or pass - and pipe ${kind.what} to stdin`,
        e.cause,
      );
    }
    throw e;
  }
}

/**
 * A failed system call on the CA directory, as one IO_FAILED error: `<action> <file>: <cause>` in words
 * (`no space left on the device`, not `ENOSPC`) and a hint for the causes a user can fix (space, a
 * read-only mount, permissions). Anything the store reads or writes fails through here, so that a full or
 * read-only disk is a user-facing error (exit 1), never an internal one.
 */
import os from 'node:os';
import path from 'node:path';
import { MtlsCaError } from '../pki/errors.js';

const CAUSES: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EIO: 'input/output error',
  EISDIR: 'is a folder',
  ENOTDIR: 'a part of the path is not a folder',
  ENOENT: 'no such file or folder',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  ENAMETOOLONG: 'name too long',
};

/** The errno name of a failed system call; libuv calls some `UNKNOWN` (EDQUOT), their number still tells. */
function errnoName(e: unknown): string | undefined {
  const err = e as NodeJS.ErrnoException;
  if (err?.code !== 'UNKNOWN' || typeof err.errno !== 'number') return err?.code;
  const name = Object.entries(os.constants.errno).find(([, n]) => n === -err.errno!)?.[0];
  return name ?? err.code;
}

/** The cause of a failed system call in words, or its code when it has none here. */
export function describeErrno(e: unknown): string {
  const code = errnoName(e);
  if (code && CAUSES[code]) return CAUSES[code]!;
  return code ?? (e as Error)?.message ?? String(e);
}

/** What a user can do about a cause, for the folder `dir`; undefined when the cause says it all. */
function ioHint(e: unknown, dir: string): string | undefined {
  switch (errnoName(e)) {
    case 'ENOSPC':
    case 'EDQUOT':
      return `free space on the file system of ${dir} and run the command again; nothing was changed`;
    case 'EROFS':
      return `${dir} is on a read-only file system: remount it read-write, or work on a writable copy`;
    case 'EACCES':
    case 'EPERM':
      return `this user may not write in ${dir}: run as the user who owns it, or change its permissions`;
    default:
      return undefined;
  }
}

/**
 * The IO_FAILED error for `action` on `file`; an MtlsCaError passes through unchanged.
 * @param action - the verb of the message: `lock`, `write`, `read`, …
 * @param file - the file the action was on, as the user should read it
 * @param e - the error the system call threw
 */
export function ioFailure(action: string, file: string, e: unknown): MtlsCaError {
  if (e instanceof MtlsCaError) return e;
  return new MtlsCaError(
    'IO_FAILED',
    `${action} ${file}: ${describeErrno(e)}`,
    ioHint(e, path.dirname(file)),
    e,
  );
}

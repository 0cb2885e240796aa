/**
 * Reading a file the user named (a CSR, a certificate to inspect, a password file, a batch list, a users
 * file) or one the server re-reads while running (the CRL): only a regular file, at most a size chosen per
 * kind, with one error code per cause. Why bounded:
 * `/dev/zero` would be read until memory runs out, and a FIFO nobody writes to blocks forever; a CSR or a
 * certificate is a few kB, so anything far larger is the wrong file.
 *
 * The file is stat()ed first, so a device or FIFO is refused without being opened; it is then opened with
 * O_NONBLOCK (a FIFO swapped in after the stat does not block the open), checked again with fstat() on the open
 * descriptor (what is read is what was checked), and read with a bound of the kind's limit plus one byte (a file
 * that grows while being read is still refused).
 */
import fs from 'node:fs';
import { MtlsCaError } from '../pki/errors.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** What a file should hold, for messages, and the most bytes it may have. */
export interface InputKind {
  /** The content, as in "2.0 GiB is too large for `what`": `a certificate request`. */
  what: string;
  /** Files larger than this are refused before they are read. */
  maxBytes: number;
}

/** The kinds of file that users hand to mtls-ca, with their size limits. */
export const INPUT = {
  certificateRequest: { what: 'a certificate request', maxBytes: MiB },
  password: { what: 'a password file', maxBytes: MiB },
  /** `inspect` reads any artifact, a CRL included, so its limit is the CRL's. */
  anyArtifact: { what: 'a certificate, CSR, key, PKCS#12, JKS or CRL file', maxBytes: 64 * MiB },
  /**
   * The server's crl.pem, re-read while serving. A CRL of 100,000 revoked serials is about 4 MiB; 64 MiB
   * leaves room for a very large CA.
   */
  crl: { what: 'a CRL', maxBytes: 64 * MiB },
  /** What `doctor` presents or trusts: a certificate (with its chain), a key, a .p12, a CA bundle. */
  identity: { what: 'a certificate, key or PKCS#12 file', maxBytes: MiB },
  /** Tens of thousands of users, a batch of several minutes at a few hundred clients a second. */
  clientList: { what: 'a list of users', maxBytes: 4 * MiB },
  /** About 200,000 users with a few roles each. */
  users: { what: 'a users file', maxBytes: 16 * MiB },
  /** A CA's files brought in by `import`: its certificate (and those it issued), its key. */
  certificate: { what: 'a certificate', maxBytes: MiB },
  privateKey: { what: 'a private key', maxBytes: MiB },
  /** `openssl ca`'s index.txt: about 100 bytes a certificate, so over half a million certificates. */
  certificateIndex: { what: 'a certificate index (index.txt)', maxBytes: 64 * MiB },
} as const satisfies Record<string, InputKind>;

/** How reading a user's file can fail; the CLI may word the hint differently per reason. */
export type InputFailure = 'missing' | 'permission' | 'directory' | 'not-regular' | 'too-large' | 'io';

/** An unreadable input: an {@link MtlsCaError} that also says which {@link InputFailure} it was. */
export class InputError extends MtlsCaError {
  /**
   * @param failure - why the file could not be read
   * @param args - the {@link MtlsCaError} code, message, hint and cause
   */
  constructor(
    readonly failure: InputFailure,
    ...args: ConstructorParameters<typeof MtlsCaError>
  ) {
    super(...args);
  }
}

export interface ReadUserFileOptions {
  /** Names the file's role before its path in messages, e.g. `--password-file` (default: the path alone). */
  label?: string;
}

/**
 * `1 MiB`, `1.5 KiB`, `3 GiB`: sizes in messages. Rounded up, so that a size just above a limit never reads
 * as the limit itself.
 * @param n - a number of bytes
 */
function formatBytes(n: number): string {
  if (n < KiB) return `${n} bytes`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n / KiB;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${Math.ceil(value * 10) / 10} ${units[unit]}`;
}

function fileType(st: fs.Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'a special file';
}

/**
 * Reads a whole file the user named, refusing anything but a regular file of at most `kind.maxBytes`.
 * @param file - the path as the user gave it (also shown in messages)
 * @param kind - what the file should hold and its size limit, one of {@link INPUT}
 * @param options - how to name the file in messages
 * @throws InputError `NOT_FOUND` (no such file), `IO_FAILED` (permission denied, an I/O error),
 *   `INVALID_ARGUMENT` (a directory, FIFO, device or socket; larger than the limit)
 */
export function readUserFile(file: string, kind: InputKind, options: ReadUserFileOptions = {}): Buffer {
  const action = `read ${options.label ? `${options.label} ` : ''}${file}`;
  const refuse = (st: fs.Stats): InputError | undefined => {
    if (!st.isFile()) {
      return new InputError(
        st.isDirectory() ? 'directory' : 'not-regular',
        'INVALID_ARGUMENT',
        `${action}: it is ${fileType(st)}, not a regular file`,
        `name a regular file holding ${kind.what}`,
      );
    }
    if (st.size > kind.maxBytes) return tooLarge(action, kind, st.size);
    return undefined;
  };

  let fd: number;
  try {
    const early = refuse(fs.statSync(file));
    if (early) throw early;
    // O_NONBLOCK: opening a FIFO that replaced the file after the stat returns at once instead of waiting for a
    // writer; it changes nothing for regular files. O_NOCTTY: a terminal device never becomes ours.
    fd = fs.openSync(
      file,
      fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0) | (fs.constants.O_NOCTTY ?? 0),
    );
  } catch (e) {
    throw e instanceof MtlsCaError ? e : systemError(action, e);
  }
  try {
    const st = fs.fstatSync(fd);
    const refused = refuse(st);
    if (refused) throw refused;
    return readBounded(fd, st.size, action, kind);
  } catch (e) {
    throw e instanceof MtlsCaError ? e : systemError(action, e);
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads until end of file, refusing more than `kind.maxBytes` (the file may have grown since fstat). */
function readBounded(fd: number, size: number, action: string, kind: InputKind): Buffer {
  // One byte more than expected, so that reaching the end is seen without a second read call; files in
  // /proc report size 0 and grow the buffer.
  let buffer = Buffer.allocUnsafe(Math.min(size, kind.maxBytes) + 1);
  let length = 0;
  for (;;) {
    if (length === buffer.length) {
      if (length > kind.maxBytes) throw tooLarge(action, kind);
      const grown = Buffer.allocUnsafe(Math.min(buffer.length * 2, kind.maxBytes + 1));
      buffer.copy(grown, 0, 0, length);
      buffer = grown;
    }
    const n = fs.readSync(fd, buffer, length, buffer.length - length, null);
    if (n === 0) return buffer.subarray(0, length);
    length += n;
  }
}

/**
 * Reads a stream (stdin, for `-`) to its end, refusing more than `kind.maxBytes`.
 * @param stream - the stream to read; it is not read past the limit
 * @param kind - what it should hold and its size limit, one of {@link INPUT}
 * @param name - how messages name the stream (default `stdin`)
 */
export async function readUserStream(
  stream: NodeJS.ReadableStream,
  kind: InputKind,
  name = 'stdin',
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of stream) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    length += bytes.length;
    // Leaving the loop ends the iteration, which destroys the stream: an endless producer (`< /dev/zero`) is
    // not drained.
    if (length > kind.maxBytes) throw tooLarge(`read ${name}`, kind);
    chunks.push(bytes);
  }
  return Buffer.concat(chunks, length);
}

/** @param size - the file's size, when known; else it is "more than" the limit (a stream, a growing file) */
function tooLarge(action: string, kind: InputKind, size?: number): InputError {
  const amount = size === undefined ? `more than ${formatBytes(kind.maxBytes)}` : formatBytes(size);
  return new InputError(
    'too-large',
    'INVALID_ARGUMENT',
    `${action}: ${amount} is too large for ${kind.what} (at most ${formatBytes(kind.maxBytes)})`,
    `check that this is the right file; ${kind.what} is far smaller`,
  );
}

const CAUSES: Record<string, [InputFailure, MtlsCaError['code'], string]> = {
  ENOENT: ['missing', 'NOT_FOUND', 'no such file'],
  ENOTDIR: ['missing', 'NOT_FOUND', 'no such file (a part of the path is not a directory)'],
  EACCES: ['permission', 'IO_FAILED', 'permission denied'],
  EPERM: ['permission', 'IO_FAILED', 'permission denied'],
  EISDIR: ['directory', 'INVALID_ARGUMENT', 'it is a directory, not a regular file'],
  ELOOP: ['io', 'IO_FAILED', 'too many symbolic links'],
  ENAMETOOLONG: ['io', 'IO_FAILED', 'the path is too long'],
};

function systemError(action: string, e: unknown): InputError {
  const errno = e as NodeJS.ErrnoException;
  const known = errno.code ? CAUSES[errno.code] : undefined;
  if (known) {
    const [failure, code, cause] = known;
    const hint =
      failure === 'permission'
        ? 'check the owner and mode of the file and of its directories (ls -l), or run as a user who may read it'
        : undefined;
    return new InputError(failure, code, `${action}: ${cause}`, hint, e);
  }
  // Node's message reads "EIO: i/o error, read": keep the cause, drop the system call.
  const cause = /^[A-Z0-9]+: ([^,]+)/.exec(errno.message ?? '')?.[1] ?? String(errno.code ?? e);
  return new InputError('io', 'IO_FAILED', `${action}: ${cause}`, undefined, e);
}

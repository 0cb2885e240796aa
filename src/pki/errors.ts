/**
 * The one error type of mtls-ca. Every failure a user can cause or fix carries a stable {@link ErrorCode},
 * a message of the form `<action> <file or value>: <cause>`, and optionally a hint naming the next command.
 * The CLI renders it as one line plus a hint; anything that is not an MtlsCaError is an internal error.
 */
export type ErrorCode =
  | 'CA_NOT_INITIALIZED'
  | 'CA_EXISTS'
  | 'CA_EXPIRED'
  | 'INVALID_NAME'
  | 'INVALID_ARGUMENT'
  /** The command line itself is wrong (a missing argument, flags that exclude each other): exit 2. */
  | 'USAGE'
  | 'PARSE_FAILED'
  | 'BAD_SIGNATURE'
  | 'BAD_PASSWORD'
  | 'PASSWORD_REQUIRED'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'ALREADY_REVOKED'
  | 'LOCKED'
  | 'UNSUPPORTED'
  | 'IO_FAILED'
  | 'TAMPERED';

export class MtlsCaError extends Error {
  override readonly name = 'MtlsCaError';
  /**
   * @param code - stable machine-readable code, shown in parentheses after the message
   * @param message - `<action> <file or value>: <cause>`
   * @param hint - the next command or flag that fixes it (optional)
   * @param cause - the underlying error, for debugging (optional)
   */
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly hint?: string,
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
  }
}

export function isMtlsCaError(e: unknown, code?: ErrorCode): e is MtlsCaError {
  return e instanceof MtlsCaError && (code === undefined || e.code === code);
}

import type { HiddenCharacterRule } from './characters.js';

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
  /** A new password is too short to protect what it encrypts. */
  | 'WEAK_PASSWORD'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'ALREADY_REVOKED'
  /** What the user named matches several records; the error lists them to choose from. */
  | 'AMBIGUOUS'
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

/** Which rule refused a name (see {@link InvalidNameError.rule}). */
export type NameRule =
  | HiddenCharacterRule
  | 'empty'
  | 'too-long'
  | 'not-nfc'
  | 'file-name'
  | 'reserved'
  | 'not-ascii'
  | 'label'
  | 'wildcard'
  | 'a-label'
  | 'ip'
  | 'syntax'
  | 'scheme'
  | 'userinfo';

/**
 * A name refused by one of the rules in names.ts or general-names.ts, with the parts a caller needs to word the
 * refusal its own way (`sign web.csr: the request asks for DNS name "*": …`). The message is
 * `use <kind> <quoted value>: <reason>`.
 */
export class InvalidNameError extends MtlsCaError {
  /**
   * @param code - `INVALID_NAME` for user, file and common names, `INVALID_ARGUMENT` for subjectAltName entries
   * @param kind - what the name is: `client name`, `common name`, `DNS name`, `IP address`, `email address`, `URI`
   * @param value - the name as given
   * @param quoted - the name in quotes with hidden characters escaped (see characters.ts `quote`)
   * @param rule - which rule refused it, stable for programs: `control`, `wildcard`, `scheme`, …
   * @param reason - why, in words: `it contains a control character (\x00)`
   * @param hint - how to fix it (optional)
   */
  constructor(
    code: 'INVALID_NAME' | 'INVALID_ARGUMENT',
    readonly kind: string,
    readonly value: string,
    readonly quoted: string,
    readonly rule: NameRule,
    readonly reason: string,
    hint?: string,
  ) {
    super(code, `use ${kind} ${quoted}: ${reason}`, hint);
  }

  /**
   * The same refusal in a caller's words: `<lead> <kind> <quoted>: <reason>`, same code.
   * @param lead - what comes before the name: `sign web.csr: the request asks for`
   * @param hint - the caller's hint (default: this one's)
   */
  restate(lead: string, hint = this.hint): MtlsCaError {
    return new MtlsCaError(this.code, `${lead} ${this.kind} ${this.quoted}: ${this.reason}`, hint, this);
  }
}

/**
 * What the user named matches several records (`revoke alice` while two of alice's certificates are in use):
 * the error carries them, so the user can choose one. The CLI shows them as a table between the error line and
 * the hint, and `--json` as the error's `matches`.
 */
export class AmbiguousError extends MtlsCaError {
  /**
   * @param message - `<action> <value>: <cause>`
   * @param hint - how to choose
   * @param matches - the records, each the same few fields as short strings (they become the table's columns)
   */
  constructor(
    message: string,
    hint: string,
    readonly matches: Record<string, string>[],
  ) {
    super('AMBIGUOUS', message, hint);
  }
}

export function isMtlsCaError(e: unknown, code?: ErrorCode): e is MtlsCaError {
  return e instanceof MtlsCaError && (code === undefined || e.code === code);
}

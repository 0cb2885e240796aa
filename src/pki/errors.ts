import type { HiddenCharacterRule } from './characters.js';

/**
 * The one error type of mtls-ca. Every failure a user can cause or fix carries a stable {@link ErrorCode},
 * a message of the form `<action> <file or value>: <cause>`, optionally a hint with what to do, and, where
 * what to do depends on the caller's interface, an {@link ErrorDetail}. The CLI renders it as one line plus a
 * hint; anything that is not an MtlsCaError is an internal error.
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
  /** Changing a store outside the CA directory needs privileges this process does not have. */
  | 'PERMISSION_DENIED'
  | 'TAMPERED'
  /** A PKCS#11 module that does not load, or is no PKCS#11 module. */
  | 'PKCS11_MODULE'
  /** No token with the label a pkcs11: URI names. */
  | 'TOKEN_NOT_FOUND'
  /** The token refused the PIN (wrong, or locked after too many wrong ones). */
  | 'BAD_PIN'
  /** No key object of the label (or id) a pkcs11: URI names. */
  | 'KEY_NOT_FOUND'
  /** A key of another type than the one needed (RSA for an ECDSA CA, P-384 for P-256, a secret key). */
  | 'WRONG_KEY_TYPE'
  /** A key of the right type that is not the CA's (it does not sign for the CA certificate). */
  | 'KEY_MISMATCH'
  /** A token failed an operation for another reason (removed, out of memory, a device error). */
  | 'TOKEN_FAILED'
  /** The database holding the CA's state cannot be reached, refused the connection, or went away. */
  | 'DATABASE_UNAVAILABLE';

/**
 * What went wrong, as data, where the way out is a choice in the caller's interface: the library and the
 * store raise the situation, and the CLI words it as a hint naming its commands and flags (src/cli/hints.ts).
 * Each kind says, in terms of the operations' options, what resolves it.
 */
export type ErrorDetail =
  /** `CA_NOT_INITIALIZED`: no CA in `dir` (as the user would type it); create one there first. */
  | { kind: 'no-ca'; dir: string }
  /** `CA_EXISTS`: a CA is where a new one was to be created; `force` moves it to a backup folder first. */
  | { kind: 'ca-exists' }
  /** `CA_EXPIRED`: the CA can no longer sign; only a new CA (init with `force`) helps. */
  | { kind: 'ca-expired' }
  /** `PASSWORD_REQUIRED` or `BAD_PASSWORD` for the CA key: the CA password is missing or wrong. */
  | { kind: 'ca-password' }
  /**
   * `NOT_FOUND`: the root's key is needed (to sign an intermediate or the root's CRL) and it is offline, not
   * in the CA directory; bringing it back (`importRootKey`) resolves it.
   */
  | { kind: 'root-key-offline' }
  /** `ALREADY_EXISTS`: the root's key was to be brought back, and it is in the directory already. */
  | { kind: 'root-key-online' }
  /** `NOT_FOUND`: the key of a CA a rotation replaced is missing from the directory; a backup has it. */
  | { kind: 'ca-key-missing' }
  /** `NOT_FOUND` or `INVALID_ARGUMENT`: no CA was replaced by a rotation, or not the one named. */
  | { kind: 'nothing-to-retire' }
  /**
   * `INVALID_ARGUMENT`: the CA to retire issued `count` certificates still in use; renewing them (or waiting
   * for them to expire) resolves it, `force` cuts them off.
   */
  | { kind: 'ca-in-use'; count: number }
  /** `AMBIGUOUS`: `count` CAs replaced by rotations are in force; name one by its serial. */
  | { kind: 'several-previous-cas'; count: number }
  /** `ALREADY_EXISTS`: a new CA would have the name of one the directory has (or had); another name helps. */
  | { kind: 'ca-name-taken' }
  /** `PASSWORD_REQUIRED`: a key or trust store made with a password the user chose must be rewritten. */
  | { kind: 'store-password' }
  /** `NOT_FOUND`: a root was asked for, and the CA is its own root; a CA made with an intermediate has one. */
  | { kind: 'no-root' }
  /** `ALREADY_EXISTS`: `name` has a valid certificate; `force` replaces it and marks it superseded. */
  | { kind: 'name-has-valid-certificate'; name: string }
  /** `ALREADY_EXISTS`: a new name reads like `existing`; use that one (with `force`) or another name. */
  | { kind: 'lookalike-name'; existing: string }
  /**
   * `ALREADY_EXISTS`: a file to be written exists; `force` replaces it, or the option `choose` (`name` of
   * issueServer, `out` of signCsr) picks another file.
   */
  | { kind: 'file-exists'; choose: 'name' | 'out' }
  /** `INVALID_ARGUMENT`: a server certificate was asked for without any host name or address. */
  | { kind: 'no-host' }
  /** `INVALID_NAME`: the first host is no file name; the `name` option gives the files one. */
  | { kind: 'name-needed' }
  /**
   * `NOT_FOUND`: `name` has no current certificate to renew; `issued`: it had certificates (all revoked or
   * superseded), so a new one can be issued.
   */
  | { kind: 'no-current-certificate'; name: string; issued: boolean }
  /** `NOT_FOUND` or `INVALID_ARGUMENT`: the key to keep is missing or does not match; `rekey` makes a new one. */
  | { kind: 'key-unusable' }
  /** `NOT_FOUND`: no certificate in the inventory has the name or serial asked for. */
  | { kind: 'unknown-certificate' }
  /** `INVALID_ARGUMENT`: the certificate asked for is the CA's own (a root); a new CA replaces it. */
  | { kind: 'ca-certificate' }
  /**
   * `INVALID_ARGUMENT`: the certificate asked for is the CA's OCSP responder, which clients never check; the
   * next CRL signed after its key is removed issues a new one.
   */
  | { kind: 'ocsp-responder-certificate' }
  /**
   * `INVALID_ARGUMENT`: the certificate asked for is the intermediate that issues; a new one (a rotation) must
   * take over first, then the old one can be revoked.
   */
  | { kind: 'issuing-ca' }
  /** `NOT_FOUND`: every certificate of the name has expired (they are listed with status expired). */
  | { kind: 'all-expired' }
  /**
   * `AMBIGUOUS`: `count` certificates of `name` are in use; choose one by its serial, or all of them (the
   * `all` option of revoke).
   */
  | { kind: 'several-certificates'; name: string; count: number }
  /**
   * A CRL file the server cannot use: `missing` (or not a file), `damaged` (not a CRL), `foreign` (not signed
   * by a CA the server trusts), `older` (a lower CRL number than the one in force). A fresh CRL of the CA cures
   * each.
   */
  | { kind: 'crl-unusable'; problem: 'missing' | 'damaged' | 'foreign' | 'older' }
  /** `NOT_FOUND`: a file the server needs is missing from `dir`, which may not be a CA directory at all. */
  | { kind: 'not-a-ca-directory'; dir: string }
  /**
   * `NOT_FOUND` or `INVALID_ARGUMENT`: where an import looked for the CA that `tool` made holds none — no such
   * folder, not a folder, or one of the tool's files missing; naming where that tool keeps its CA resolves it.
   */
  | { kind: 'import-source'; tool: string }
  /** `NOT_FOUND`: the client `name` has no certificate or .p12 in the CA directory. */
  | { kind: 'unknown-client'; name: string }
  /** `PERMISSION_DENIED`: changing the trust store `store` needs root; nothing was changed. */
  | { kind: 'trust-needs-root'; store: 'nss' | 'java' | 'system' | 'client' }
  /** `UNSUPPORTED`: the store of another operating system; its commands can only be printed here. */
  | { kind: 'trust-other-platform'; platform: string }
  /** `NOT_FOUND`: a program a trust store is changed with is not installed (`packageName` has it). */
  | { kind: 'trust-missing-tool'; tool: string; packageName: string }
  /** `UNSUPPORTED`: this system's own trust store is not one mtls-ca knows. */
  | { kind: 'trust-unknown-platform' }
  /** `NOT_FOUND`: no JDK, so no default Java trust store. */
  | { kind: 'trust-no-jdk' }
  /** `CA_NOT_INITIALIZED`: the database at `location` holds no CA (or not even mtls-ca's tables). */
  | { kind: 'no-ca-in-database'; location: string }
  /**
   * `UNSUPPORTED`: the database's tables are of schema version `found`, this mtls-ca uses `expected`: an
   * older schema is migrated, a newer one needs a newer mtls-ca.
   */
  | { kind: 'database-schema'; found: number; expected: number }
  /** `CA_EXISTS`: the database holds a CA already; a database's CA is never replaced. */
  | { kind: 'ca-exists-in-database' }
  /** `UNSUPPORTED`: pkcs11js, the optional PKCS#11 binding, is not installed. */
  | { kind: 'pkcs11-binding-missing' }
  /** `BAD_PIN`: the token locked its user PIN after too many wrong ones. */
  | { kind: 'pin-locked' }
  /** `INVALID_ARGUMENT`: a PKCS#11 URI carries the PIN itself (`pin-value`). */
  | { kind: 'pin-in-uri' };

/** What an {@link MtlsCaError} carries besides its code and message. */
export interface ErrorExtras {
  /** What to do, in words that fit every caller (optional). */
  hint?: string;
  /** The underlying error, for debugging (optional). */
  cause?: unknown;
  /** The situation as data, for a caller that words its own hint (optional). */
  detail?: ErrorDetail;
}

export class MtlsCaError extends Error {
  override readonly name = 'MtlsCaError';
  readonly hint?: string;
  readonly detail?: ErrorDetail;
  /**
   * @param code - stable machine-readable code, shown in parentheses after the message
   * @param message - `<action> <file or value>: <cause>`
   * @param hint - what to do (optional), or the hint, cause and detail together ({@link ErrorExtras})
   * @param cause - the underlying error, for debugging (optional)
   */
  constructor(
    readonly code: ErrorCode,
    message: string,
    hint?: string | ErrorExtras,
    cause?: unknown,
  ) {
    const extras: ErrorExtras = typeof hint === 'object' ? hint : { hint, cause };
    super(message, extras.cause === undefined ? undefined : { cause: extras.cause });
    this.hint = extras.hint;
    this.detail = extras.detail;
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
   * @param detail - what was asked for and how many it matched, for the caller's words on how to choose
   * @param matches - the records, each the same few fields as short strings (they become the table's columns)
   */
  constructor(
    message: string,
    detail: ErrorDetail,
    readonly matches: Record<string, string>[],
  ) {
    super('AMBIGUOUS', message, { detail });
  }
}

export function isMtlsCaError(e: unknown, code?: ErrorCode): e is MtlsCaError {
  return e instanceof MtlsCaError && (code === undefined || e.code === code);
}

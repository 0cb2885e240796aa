/**
 * Revocation in the server, the pure part: the CA's CRL read from a file with its signature checked once,
 * the rules for replacing one CRL by another, and the lookups. `crl-in-force.ts` keeps the CRL in force,
 * watches its file and applies the policy in the handshake (OpenSSL never sees the CRL: it would re-verify
 * its signature on every handshake). A file that is not a CRL of a CA the server trusts (another CA's, a
 * forged one) is rejected here.
 */
import { INPUT, InputError, readUserFile } from '../files/user-file.js';
import type { Certificate } from '../pki/certificate.js';
import { Crl } from '../pki/crl.js';
import { MtlsCaError } from '../pki/errors.js';
import { fileVersion } from './file-watch.js';
import type { ServerLogger } from './log.js';

/** A CRL that parsed and was signed by one of the server's CAs. */
export interface LoadedCrl {
  file: string;
  crl: Crl;
  /** The CRL's issuer as `formatName` writes it (Crl.issuerName formats it on every call). */
  issuerName: string;
  /** The CRL's validity as epoch milliseconds, for the per-handshake check. */
  thisUpdateMs: number;
  nextUpdateMs: number;
  /** The CA certificate whose key signed it. */
  signer: Certificate;
  /** Serials as {@link Certificate.serialHex} writes them. */
  revokedSerials: ReadonlySet<string>;
  /** {@link fileVersion} of the file before it was read. */
  version: string;
}

/**
 * Reads a CRL (PEM or DER) and checks that one of `caCertificates` signed it.
 * @param file - the CRL file
 * @param caCertificates - the CAs the server trusts for client certificates
 * @throws MtlsCaError NOT_FOUND, IO_FAILED, INVALID_ARGUMENT (not a regular file, over 64 MiB), PARSE_FAILED
 *   (not a CRL, no nextUpdate or CRL number), BAD_SIGNATURE (issued or signed by another CA)
 */
export function readCrlFile(file: string, caCertificates: readonly Certificate[]): LoadedCrl {
  const version = fileVersion(file);
  let data: Buffer;
  try {
    data = readUserFile(file, INPUT.crl, { label: 'CRL' });
  } catch (e) {
    // Missing, not a file, or absurdly large: the cure is the same, a fresh CRL.
    if (e instanceof InputError && e.failure !== 'permission' && e.failure !== 'io') {
      throw new MtlsCaError(e.code, e.message, {
        cause: e.cause,
        detail: { kind: 'crl-unusable', problem: 'missing' },
      });
    }
    throw e;
  }
  let crl: Crl;
  try {
    crl = Crl.from(data, file);
  } catch (e) {
    if (e instanceof MtlsCaError && e.hint === undefined) {
      throw new MtlsCaError(e.code, e.message, {
        cause: e.cause ?? e,
        detail: { kind: 'crl-unusable', problem: 'damaged' },
      });
    }
    throw e;
  }
  const signer = caCertificates.find((ca) => crl.isSignedBy(ca));
  if (!signer) {
    throw new MtlsCaError(
      'BAD_SIGNATURE',
      `use CRL ${file}: it was not signed by a CA this server trusts (its issuer: ${crl.issuerName})`,
      { detail: { kind: 'crl-unusable', problem: 'foreign' } },
    );
  }
  return {
    file,
    crl,
    issuerName: crl.issuerName,
    thisUpdateMs: crl.thisUpdate.getTime(),
    nextUpdateMs: crl.nextUpdate.getTime(),
    signer,
    revokedSerials: new Set(crl.revoked.map((r) => r.serialHex)),
    version,
  };
}

/**
 * Refuses to go back to an older CRL of the same CA: replaying an earlier (validly signed) CRL would
 * un-revoke every certificate revoked since. CRL numbers only grow (RFC 5280 5.2.3).
 * @param next - the CRL about to be applied
 * @param current - the CRL in force, if any
 * @throws MtlsCaError INVALID_ARGUMENT
 */
export function assertNotOlder(next: LoadedCrl, current: LoadedCrl | undefined): void {
  if (!current || next.crl.crlNumber >= current.crl.crlNumber) return;
  // After a CA change (a new CA, then SIGHUP) numbering starts again; only compare within one CA.
  if (!current.crl.isSignedBy(next.signer)) return;
  throw new MtlsCaError(
    'INVALID_ARGUMENT',
    `use CRL ${next.file}: its CRL number ${next.crl.crlNumber} is lower than that of the CRL in force (${current.crl.crlNumber}); an older CRL would un-revoke certificates`,
    { detail: { kind: 'crl-unusable', problem: 'older' } },
  );
}

/**
 * Why every client of the CRL's CA is refused while this CRL is in force, if it is: out of date, it cannot
 * show that a certificate is not revoked (OpenSSL's X509_V_ERR_CRL_HAS_EXPIRED / CRL_NOT_YET_VALID).
 */
export function crlTimeProblem(crl: Crl, now = new Date()): 'expired' | 'not-yet-valid' | undefined {
  if (crl.nextUpdate.getTime() <= now.getTime()) return 'expired';
  if (crl.thisUpdate.getTime() > now.getTime()) return 'not-yet-valid';
  return undefined;
}

/**
 * Logs a CRL file that was not put in force (`crl-rejected`, level error), with what is kept instead.
 * @param keeping - what stays: `keeping CRL number 7`, `no CRL is in force`
 * @param errorHint - the hint for the error, in the words of the program running the server
 */
export function logCrlRejected(
  logger: ServerLogger,
  file: string,
  e: unknown,
  keeping: string,
  errorHint: (e: MtlsCaError) => string | undefined,
): void {
  logger.event('error', 'crl-rejected', `${(e as Error).message}; ${keeping}`, {
    file,
    code: (e as MtlsCaError).code,
    hint: errorHint(e as MtlsCaError),
  });
}

/** The fields of a log line about a CRL: its file, number, entries and next update. */
export function describeCrl(c: LoadedCrl) {
  return {
    file: c.file,
    crlNumber: c.crl.crlNumber.toString(),
    revoked: c.crl.revoked.length,
    nextUpdate: c.crl.nextUpdate.toISOString(),
  };
}

/**
 * Revocation in the server, the pure part: the CRLs of a file (one per CA: an intermediate's and its root's,
 * or a rotation's old and new CA's, as `ca/crl.pem` holds them) read with their signatures checked once,
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
  /** Whether the signer is a root (self-issued): then no CRL speaks for anything above its certificates. */
  signerIsRoot: boolean;
  /** Serials as {@link Certificate.serialHex} writes them. */
  revokedSerials: ReadonlySet<string>;
  /** {@link fileVersion} of the file before it was read. */
  version: string;
}

/** The CRLs of one file, each signed by one of the server's CAs, at most one per CA. */
export interface LoadedCrls {
  file: string;
  /** In file order: the first is the CA that issues (as `ca/crl.pem` lists them). */
  crls: readonly LoadedCrl[];
  /** The same CRLs by {@link LoadedCrl.issuerName}: the CRL that speaks for a certificate of that issuer. */
  byIssuer: ReadonlyMap<string, LoadedCrl>;
  /** {@link fileVersion} of the file before it was read. */
  version: string;
}

/** The CRLs `crls` (of one file, read at `version`) as a {@link LoadedCrls}. */
export function crlSet(file: string, crls: readonly LoadedCrl[], version: string): LoadedCrls {
  return { file, crls, byIssuer: new Map(crls.map((c) => [c.issuerName, c])), version };
}

/** The CRLs of a file, parsed (signatures unchecked), and the file's version before it was read. */
function readCrls(file: string): { crls: Crl[]; version: string } {
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
  try {
    return { crls: Crl.allFrom(data, file), version };
  } catch (e) {
    if (e instanceof MtlsCaError && e.hint === undefined) {
      throw new MtlsCaError(e.code, e.message, {
        cause: e.cause ?? e,
        detail: { kind: 'crl-unusable', problem: 'damaged' },
      });
    }
    throw e;
  }
}

/**
 * Reads the CRL of one CA from a CRL file: the CRL whose issuer is `ca`, signed by it (the others of the file,
 * the root's or a previous CA's, are left out); a file without one is refused as another CA's.
 * @param file - the CRL file (ca/crl.pem)
 * @param ca - the CA whose CRL is wanted
 * @throws MtlsCaError as {@link readCrlFile}
 */
export function readCaCrl(file: string, ca: Certificate): LoadedCrl {
  const { crls, version } = readCrls(file);
  const own = crls.find((c) => c.issuerDer.equals(ca.subjectDer)) ?? crls[0]!;
  return loadCrl(file, own, [ca], version);
}

/**
 * Reads a file of CRLs (PEM with one or more `X509 CRL` blocks, or one DER CRL) and checks that each was
 * signed by one of `caCertificates`, and that no CA has two.
 * @param file - the CRL file
 * @param caCertificates - the CAs the server trusts for client certificates
 * @throws MtlsCaError NOT_FOUND, IO_FAILED, INVALID_ARGUMENT (not a regular file, over 64 MiB, two CRLs of
 *   one CA), PARSE_FAILED (not a CRL, no nextUpdate or CRL number), BAD_SIGNATURE (issued or signed by another CA)
 */
export function readCrlFile(file: string, caCertificates: readonly Certificate[]): LoadedCrls {
  const { crls, version } = readCrls(file);
  const loaded = crls.map((crl) => loadCrl(file, crl, caCertificates, version));
  const set = crlSet(file, loaded, version);
  if (set.byIssuer.size < loaded.length) {
    // Which of two CRLs of one CA would apply is a guess; a file like that was not written by mtls-ca.
    throw new MtlsCaError('INVALID_ARGUMENT', `use CRL ${file}: it holds two CRLs of one CA`, {
      detail: { kind: 'crl-unusable', problem: 'damaged' },
    });
  }
  return set;
}

function loadCrl(file: string, crl: Crl, caCertificates: readonly Certificate[], version: string): LoadedCrl {
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
    signerIsRoot: signer.isSelfIssued,
    revokedSerials: new Set(crl.revoked.map((r) => r.serialHex)),
    version,
  };
}

/**
 * {@link assertNotOlder} for each CRL of a file against the one of the same CA in force.
 * @param next - the CRLs about to be applied
 * @param current - the CRLs in force, if any
 * @throws MtlsCaError INVALID_ARGUMENT
 */
export function assertNoneOlder(next: LoadedCrls, current: LoadedCrls | undefined): void {
  if (!current) return;
  for (const crl of next.crls) assertNotOlder(crl, current.byIssuer.get(crl.issuerName));
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

/**
 * The CRLs in force in a running server: which CRLs apply, the policy the handshake applies with them, how
 * a new CRL file gets into force, and the alarms for the moments they expire. The file holds one CRL per CA
 * (ca/crl.pem: with an intermediate, the intermediate's and the root's; during a rotation, the old and the
 * new CA's); each speaks for the certificates its CA issued, so a client's chain is checked link by link:
 * the client certificate against its issuer's CRL, an intermediate against the root's.
 *
 * The server checks revoked serials itself (a Set lookup per handshake) and OpenSSL never sees the CRL:
 * handed the `crl` option, OpenSSL re-verifies the CRL's signature — hashing the whole CRL — on every
 * handshake, twice (client chain, and the server's own chain under CRL_CHECK_ALL), which made handshakes
 * with a large CRL several times slower (docs/performance.md). A new CRL still goes through
 * `setSecureContext`, which gives new connections fresh session-ticket keys and an empty session cache, so a
 * session from before a revocation cannot resume; and the open connections whose certificate it revokes are
 * closed. While a CRL is out of date (past nextUpdate, or before thisUpdate) every chain with a certificate of
 * its CA is refused with REVOCATION_UNAVAILABLE, as OpenSSL would (CRL_HAS_EXPIRED): fail closed.
 *
 * Getting a CRL into force is one sequence, whether a watch noticed a new file or a reload asked:
 * {@link CrlInForce.stage} (read, signed by one of our CAs, not older than the one in force), then the
 * caller applies a new secure context, then {@link CrlInForce.commit} (in force, time check, close the
 * connections it revokes).
 *
 * Time: the CRLs in force have a schedule on the injected {@link Clock}. From {@link crlWarningTime} on, the
 * server warns (crl-expiring) about that CRL and repeats it every hour; at nextUpdate it says crl-expired,
 * also hourly. With a `renew` hook it asks for fresh CRLs once half a CRL's lifetime has passed
 * (crlRenewalTime), and again every hour until one comes into force; the warnings then only appear when
 * renewing fails (or cannot renew that CRL: a root's whose key is offline).
 */
import type { Certificate } from '../pki/certificate.js';
import { crlRenewalTime, crlWarningTime } from '../pki/crl-lifetime.js';
import type { MtlsCaError } from '../pki/errors.js';
import type { Clock } from './clock.js';
import { type FileWatch, fileVersion, MISSING, watchFiles } from './file-watch.js';
import { type PeerCertificate, type PeerPolicy, peerChainAbove, type TlsPeer } from './identity.js';
import type { ServerLogger } from './log.js';
import {
  assertNoneOlder,
  crlSet,
  crlTimeProblem,
  describeCrl,
  type LoadedCrl,
  type LoadedCrls,
  logCrlRejected,
  readCrlFile,
} from './revocation.js';

/**
 * How often the CRL file is stat'ed, in addition to the directory watch; see file-watch.ts. At 500 ms it
 * keeps the 2 s promise of `mtls-ca revoke` where the watch misses a change.
 */
export const CRL_POLL_MS = 500;

/** fs.watch reports a rename as several events; one look after they settle is enough. */
const WATCH_SETTLE_MS = 25;

const HOUR_MS = 3_600_000;

// Where the warning starts is the CRL's own affair, shared with `doctor`'s lint.
export { CRL_WARNING_MS, crlWarningTime } from '../pki/crl-lifetime.js';

/** How often a warning about the CRL in force is repeated, and a failed renewal tried again. */
export const CRL_REMINDER_MS = HOUR_MS;

/** Where a CRL stands at a moment: good for a while yet, close to its nextUpdate, or out of date. */
type TimeState = 'fresh' | 'expiring' | 'expired' | 'not-yet-valid';

function timeState(c: LoadedCrl, now: number): TimeState {
  const problem = crlTimeProblem(c.crl, new Date(now));
  if (problem) return problem;
  return now >= crlWarningTime(c.crl) ? 'expiring' : 'fresh';
}

export interface CrlInForceOptions {
  /** The CRL file; undefined: revocation is never checked. */
  file: string | undefined;
  /** True when `file` was named explicitly: then it must exist at start (a missing one is a typo). */
  required: boolean;
  /** The CAs the server trusts at this moment (they change on reload). */
  caCertificates: () => readonly Certificate[];
  logger: ServerLogger;
  /**
   * Called when a watched CRL file passed its checks, before it is in force: applies a new secure context
   * (fresh session cache and ticket keys). Throwing keeps the CRL in force.
   */
  renewContext: () => void;
  /** Called with the CRLs that come into force: closes the open connections whose chain they revoke. */
  closeRevoked: (crls: LoadedCrls) => void;
  /** The time of the date checks and the schedule (clock.ts). */
  clock: Clock;
  /**
   * Publishes a fresh CRL file (`renewCrl` in server-options.ts); undefined: nobody renews, the
   * server only warns. It must not reject; whatever it wrote is read as soon as it resolves.
   */
  renew?: () => Promise<void>;
  /** The hint of the `crl-rejected` line for the error that rejected a CRL (`errorHint` in server-options.ts). */
  errorHint: (e: MtlsCaError) => string | undefined;
}

/** CRLs read and checked, not yet in force (see {@link CrlInForce.stage}). */
export interface StagedCrl {
  /** The CRLs to put in force; undefined when there are none for the CAs they were staged for. */
  crl: LoadedCrls | undefined;
  /** The file's version before it was read. */
  version: string;
}

/** What the server says about its CRL in health checks and tests: the first of the file (the issuing CA's). */
export interface CrlSummary {
  file: string;
  crlNumber: bigint;
  nextUpdate: Date;
  revoked: number;
}

/**
 * The fields of a log line about a CRL; a file of several CRLs says whose each one is.
 * @param set - the file's CRLs, when `c` is one of several
 */
function describe(c: LoadedCrl, set?: LoadedCrls) {
  return { ...describeCrl(c), ...(set && set.crls.length > 1 ? { issuer: c.issuerName } : {}) };
}

/** `CRL number 4`, and whose it is when the file holds several. */
function crlName(c: LoadedCrl, set: LoadedCrls): string {
  return `CRL number ${c.crl.crlNumber}${set.crls.length > 1 ? ` of ${c.issuerName}` : ''}`;
}

/**
 * The certificates of the client's chain that a CRL of `crls` speaks for, each with that CRL: the client's
 * certificate, and the certificates above it — intermediates — that a CA of the file issued (a root vouches
 * for itself, and no CRL lists it). The common case, a certificate issued by a CA that is its own root, is a
 * Map lookup; only a certificate whose issuer is itself issued by another CA (an intermediate) asks Node
 * for the chain, so that the intermediate is checked against its root's CRL.
 */
function linksToCheck(
  crls: LoadedCrls,
  certificate: PeerCertificate,
  socket: TlsPeer,
): { certificate: PeerCertificate; crl: LoadedCrl }[] {
  const own = crls.byIssuer.get(certificate.issuer);
  const links = own ? [{ certificate, crl: own }] : [];
  if (own?.signerIsRoot) return links;
  for (const c of peerChainAbove(socket)) {
    const crl = c.subject === c.issuer ? undefined : crls.byIssuer.get(c.issuer);
    if (crl) links.push({ certificate: c, crl });
  }
  return links;
}

/**
 * The verdict of `crls` on a client whose certificate OpenSSL verified: refused while a CRL that speaks for
 * a link of its chain is out of date, or when one lists it (a revoked intermediate takes every certificate
 * under it along). A chain without a certificate of the file's CAs says nothing (no time check either).
 * @param crls - the CRLs in force
 * @param certificate - the client's certificate
 * @param socket - its connection
 * @param now - epoch milliseconds of the date checks
 */
export function judgeByCrls(
  crls: LoadedCrls,
  certificate: PeerCertificate,
  socket: TlsPeer,
  now: number,
): { reason: 'REVOKED' | 'REVOCATION_UNAVAILABLE'; detail: string } | undefined {
  let revoked = false;
  for (const { certificate: c, crl } of linksToCheck(crls, certificate, socket)) {
    if (now >= crl.nextUpdateMs) return { reason: 'REVOCATION_UNAVAILABLE', detail: 'CRL_HAS_EXPIRED' };
    if (now < crl.thisUpdateMs) return { reason: 'REVOCATION_UNAVAILABLE', detail: 'CRL_NOT_YET_VALID' };
    if (crl.revokedSerials.has(c.serial)) revoked = true;
  }
  return revoked ? { reason: 'REVOKED', detail: 'CERT_REVOKED' } : undefined;
}

/**
 * True when `crls` list the client's certificate or a certificate above it in its chain (dates aside: an
 * open connection is closed for a revocation, not for a CRL running late).
 * @param crls - the CRLs
 * @param certificate - the client's certificate
 * @param socket - its connection
 */
export function revokedBy(crls: LoadedCrls, certificate: PeerCertificate, socket: TlsPeer): boolean {
  return linksToCheck(crls, certificate, socket).some(({ certificate: c, crl }) =>
    crl.revokedSerials.has(c.serial),
  );
}

export class CrlInForce {
  #crl: LoadedCrls | undefined;
  /** The version of the file last looked at: each version is looked at once. */
  #seen: string;
  /** Cancels the pending alarm of the schedule, if any. */
  #cancelAlarm: (() => void) | undefined;
  /** A renewal was asked for and has not finished. */
  #renewing = false;
  /** No renewal is asked for before this (one an hour while the CRL stays due). */
  #retryAt = 0;
  /**
   * The last time warning logged about each CRL in force (by issuer), so that it is repeated hourly and
   * not more.
   */
  #reported = new Map<string, { crl: LoadedCrl; state: TimeState; at: number }>();
  #watch: FileWatch | undefined;
  #closed = false;
  readonly #o: CrlInForceOptions;

  /**
   * Reads the CRL file, if there is one, without announcing anything yet (see {@link announce}).
   * @throws MtlsCaError when the file is there but unusable, or is required and missing
   */
  constructor(options: CrlInForceOptions) {
    this.#o = options;
    const { file } = options;
    this.#seen = file === undefined ? MISSING : fileVersion(file);
    // A missing default CRL is a CA directory from before revocation existed; a missing explicit one, a typo.
    if (file !== undefined && (this.#seen !== MISSING || options.required)) {
      this.#crl = readCrlFile(file, options.caCertificates());
    }
  }

  /**
   * The server's verdict on a certificate OpenSSL verified, link by link of its chain ({@link judgeByCrls}):
   * refused while a CRL that speaks for it is out of date, or when one lists the certificate or one above
   * it (a revoked intermediate takes its whole subtree with it).
   */
  readonly policy: PeerPolicy = (certificate, socket) => {
    const crls = this.#crl;
    return crls && judgeByCrls(crls, certificate, socket, this.#o.clock.now());
  };

  /** The CRLs in force, if any. */
  get current(): LoadedCrls | undefined {
    return this.#crl;
  }

  /** The first CRL in force (the issuing CA's), if any. */
  summary(): CrlSummary | undefined {
    const c = this.#crl?.crls[0];
    return (
      c && {
        file: c.file,
        crlNumber: c.crl.crlNumber,
        nextUpdate: c.crl.nextUpdate,
        revoked: c.crl.revoked.length,
      }
    );
  }

  /** Logs the CRL the server starts with (or that it has none) and arms the expiry alarm. */
  announce(): void {
    const set = this.#crl;
    if (set) {
      for (const c of set.crls)
        this.#o.logger.event('info', 'crl-loaded', `${crlName(c, set)} loaded`, describe(c, set));
      this.#onTime(set, true);
    } else if (this.#o.file !== undefined) {
      this.#o.logger.event('warn', 'crl-missing', 'no CRL: revocation is not checked until one appears', {
        file: this.#o.file,
      });
    }
  }

  /**
   * The CRLs the file holds now, checked for `caCertificates`, not yet in force. A missing file keeps the
   * CRLs in force (deleting the CRL file must not un-revoke anyone) that one of `caCertificates` signed;
   * after a CA change the old CA's CRL says nothing about the new CA's certificates.
   * @param caCertificates - the CAs the CRL is for (the new ones, on a reload)
   * @param version - the file's version, when the caller has just taken it
   * @throws MtlsCaError when the file is unusable or older than the CRL in force
   */
  stage(caCertificates: readonly Certificate[], version?: string): StagedCrl {
    const file = this.#o.file;
    const v = version ?? (file === undefined ? MISSING : fileVersion(file));
    if (file === undefined || v === MISSING) {
      const kept = this.#crl?.crls.filter((c) => caCertificates.some((ca) => c.crl.isSignedBy(ca))) ?? [];
      if (kept.length === this.#crl?.crls.length) return { crl: this.#crl, version: v };
      return { crl: kept.length ? crlSet(kept[0]!.file, kept, kept[0]!.version) : undefined, version: v };
    }
    const crl = readCrlFile(file, caCertificates);
    assertNoneOlder(crl, this.#crl);
    return { crl, version: v };
  }

  /**
   * Puts a staged CRL in force (the caller has applied the secure context that goes with it): logs a CRL
   * that is out of date and arms the expiry alarm, and closes the open connections it revokes.
   * @param message - the `crl-loaded` line to log, if any
   */
  commit(staged: StagedCrl, message?: string): void {
    if (this.#crl && !staged.crl) {
      this.#o.logger.event(
        'warn',
        'crl-missing',
        'the CA changed and there is no CRL: revocation is not checked',
        {
          file: this.#o.file,
        },
      );
    }
    const before = this.#crl;
    this.#crl = staged.crl;
    this.#seen = staged.version;
    const set = staged.crl;
    if (!set) return;
    if (message) {
      for (const c of set.crls) {
        // Of several CRLs, those that changed: a re-signed intermediate's CRL leaves the root's as it was.
        if (set.crls.length > 1 && before?.byIssuer.get(c.issuerName)?.crl.der.equals(c.crl.der)) continue;
        this.#o.logger.event('info', 'crl-loaded', `${crlName(c, set)} ${message}`, describe(c, set));
      }
    }
    this.#onTime(set, true);
    this.#o.closeRevoked(set);
  }

  /** Watch event or poll tick: puts the CRL file in force if it changed and is good; else keeps the CRL in force. */
  refresh(): void {
    const file = this.#o.file;
    if (file === undefined || this.#closed) return;
    const version = fileVersion(file);
    if (version === this.#seen) return;
    this.#seen = version;
    const logger = this.#o.logger;
    const keeping = this.#crl
      ? `keeping ${this.#crl.crls.map((c) => crlName(c, this.#crl!)).join(' and ')}`
      : 'no CRL is in force';
    if (version === MISSING) {
      if (this.#crl) logger.event('warn', 'crl-missing', `CRL file removed; ${keeping}`, { file });
      return;
    }
    let staged: StagedCrl;
    try {
      staged = this.stage(this.#o.caCertificates(), version);
      if (sameCrls(this.#crl, staged.crl!)) return;
      this.#o.renewContext();
    } catch (e) {
      logCrlRejected(logger, file, e, keeping, this.#o.errorHint);
      return;
    }
    this.commit(staged, 'applied');
  }

  /** Starts watching the file (a directory watch and a poll); see {@link refresh}. */
  watch(): void {
    if (this.#o.file === undefined || this.#watch || this.#closed) return;
    this.#watch = watchFiles([this.#o.file], () => this.refresh(), {
      pollMs: CRL_POLL_MS,
      settleMs: WATCH_SETTLE_MS,
    });
  }

  /** Stops the watch and the alarm; the CRL stays in force for connections still being served. */
  close(): void {
    this.#closed = true;
    this.#watch?.close();
    this.#cancelAlarm?.();
  }

  /**
   * The schedule of the CRLs in force, run when they come into force (`announced`: their state is logged
   * now, whatever was logged before) and at each alarm: ask for a renewal when one is due, log where each
   * CRL stands (at most hourly), and arm the alarm for the next moment anything changes. Nobody reloads
   * anything when a CRL expires, so the alarm is what notices.
   */
  #onTime(set: LoadedCrls, announced: boolean): void {
    this.#cancelAlarm?.();
    this.#cancelAlarm = undefined;
    if (this.#closed || this.#crl !== set) return;
    if (announced) this.#reported.clear();
    const now = this.#o.clock.now();
    const renew = this.#o.renew;
    const due = set.crls.some((c) => now >= crlRenewalTime(c.crl).getTime() || now < c.thisUpdateMs);
    if (renew && due && !this.#renewing && now >= this.#retryAt) {
      this.#renewing = true;
      this.#retryAt = now + CRL_REMINDER_MS;
      void renew()
        .catch(() => {
          // The hook logs its own failures; a rejection must not stop the schedule.
        })
        .finally(() => {
          this.#renewing = false;
          if (this.#closed) return;
          // The new CRLs, if any were written, come into force now (commit runs their own schedule).
          this.refresh();
          if (this.#crl === set) this.#onTime(set, false);
        });
      return;
    }
    const next: number[] = [];
    for (const c of set.crls) {
      this.#report(c, set, now);
      next.push(c.thisUpdateMs, crlWarningTime(c.crl), c.nextUpdateMs);
      if (renew) next.push(Math.max(crlRenewalTime(c.crl).getTime(), this.#retryAt));
    }
    for (const r of this.#reported.values()) next.push(r.at + CRL_REMINDER_MS);
    const at = Math.min(...next.filter((t) => t > now));
    if (Number.isFinite(at))
      this.#cancelAlarm = this.#o.clock.setTimer(() => this.#onTime(set, false), at - now);
  }

  /**
   * Logs a CRL that is about to expire or with which every client of its CA is refused: when it comes into
   * force, when its state changes, and every {@link CRL_REMINDER_MS} while it stays so.
   */
  #report(c: LoadedCrl, set: LoadedCrls, now: number): void {
    const state = timeState(c, now);
    const last = this.#reported.get(c.issuerName);
    if (state === 'fresh') {
      this.#reported.delete(c.issuerName);
      return;
    }
    if (last?.crl === c && last.state === state && now < last.at + CRL_REMINDER_MS) return;
    this.#reported.set(c.issuerName, { crl: c, state, at: now });
    // Of several CRLs, the message says whose, and whom it concerns: the clients under that CA.
    const several = set.crls.length > 1;
    const which = several ? ` of ${c.issuerName}` : '';
    const clients = several ? `every client certificate under ${c.issuerName}` : 'every client certificate';
    const logger = this.#o.logger;
    if (state === 'expiring') {
      const hours = Math.floor((c.nextUpdateMs - now) / HOUR_MS);
      logger.event(
        'warn',
        'crl-expiring',
        `CRL${which} expires at ${c.crl.nextUpdate.toISOString()}, in ${hours} h: from then on ${clients} is refused (CRL_HAS_EXPIRED) until a fresh CRL is published`,
        { ...describe(c, set), hoursLeft: hours },
      );
    } else if (state === 'expired') {
      logger.event(
        'error',
        'crl-expired',
        `CRL${which} expired at ${c.crl.nextUpdate.toISOString()}: ${clients} is refused (CRL_HAS_EXPIRED) until a fresh CRL is published`,
        describe(c, set),
      );
    } else {
      logger.event(
        'error',
        'crl-not-yet-valid',
        `CRL${which} is valid only from ${c.crl.thisUpdate.toISOString()}: ${clients} is refused (CRL_NOT_YET_VALID) until then`,
        { ...describe(c, set), hint: "compare this server's clock with the CA machine's" },
      );
    }
  }
}

/** Whether two sets hold the same CRLs, byte for byte. */
function sameCrls(a: LoadedCrls | undefined, b: LoadedCrls): boolean {
  return (
    a !== undefined &&
    a.crls.length === b.crls.length &&
    a.crls.every((c, i) => c.crl.der.equals(b.crls[i]!.crl.der))
  );
}

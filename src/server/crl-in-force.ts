/**
 * The CRL in force in a running server: which CRL applies, the policy the handshake applies with it, how a
 * new CRL file gets into force, and the alarm for the moment it expires.
 *
 * The server checks revoked serials itself (a Set lookup per handshake) and OpenSSL never sees the CRL:
 * handed the `crl` option, OpenSSL re-verifies the CRL's signature — hashing the whole CRL — on every
 * handshake, twice (client chain, and the server's own chain under CRL_CHECK_ALL), which made handshakes
 * with a large CRL several times slower (docs/performance.md). A new CRL still goes through
 * `setSecureContext`, which gives new connections fresh session-ticket keys and an empty session cache, so a
 * session from before a revocation cannot resume; and the open connections whose certificate it revokes are
 * closed. While the CRL is out of date (past nextUpdate, or before thisUpdate) every certificate of its CA is
 * refused with REVOCATION_UNAVAILABLE, as OpenSSL would (CRL_HAS_EXPIRED): fail closed.
 *
 * Getting a CRL into force is one sequence, whether a watch noticed a new file or a reload asked:
 * {@link CrlInForce.stage} (read, signed by one of our CAs, not older than the one in force), then the
 * caller applies a new secure context, then {@link CrlInForce.commit} (in force, time check, close the
 * connections it revokes).
 *
 * Time: the CRL in force has a schedule on the injected {@link Clock}. From {@link crlWarningTime} on, the
 * server warns (crl-expiring) and repeats it every hour; at nextUpdate it says crl-expired, also hourly.
 * With a `renew` hook it asks for a fresh CRL once half the CRL's lifetime has passed (crlRenewalTime),
 * and again every hour until one comes into force; the warnings then only appear when renewing fails.
 */
import type { Certificate } from '../pki/certificate.js';
import { crlRenewalTime, crlWarningTime } from '../pki/crl-lifetime.js';
import type { MtlsCaError } from '../pki/errors.js';
import type { Clock } from './clock.js';
import { type FileWatch, fileVersion, MISSING, watchFiles } from './file-watch.js';
import { type PeerCertificate, type PeerPolicy, peerChainAbove, type TlsPeer } from './identity.js';
import type { ServerLogger } from './log.js';
import {
  assertNotOlder,
  crlTimeProblem,
  describeCrl,
  type LoadedCrl,
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
  /** Called with each CRL that comes into force: closes the open connections whose certificate it revokes. */
  closeRevoked: (crl: LoadedCrl) => void;
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

/** A CRL read and checked, not yet in force (see {@link CrlInForce.stage}). */
export interface StagedCrl {
  /** The CRL to put in force; undefined when there is none for the CAs it was staged for. */
  crl: LoadedCrl | undefined;
  /** The file's version before it was read. */
  version: string;
}

/** What the server says about its CRL in health checks and tests. */
export interface CrlSummary {
  file: string;
  crlNumber: bigint;
  nextUpdate: Date;
  revoked: number;
}

/** The certificates above the client's in its chain that the CRL's CA issued (the root itself excluded). */
function chainIssuedBy(crl: LoadedCrl, socket: TlsPeer): PeerCertificate[] {
  return peerChainAbove(socket).filter((c) => c.issuer === crl.issuerName && c.subject !== c.issuer);
}

/**
 * True when `crl` lists the client's certificate, or a certificate above it in its chain that the CRL's CA
 * issued. The common case — a certificate the CA issued itself, as `mtls-ca` makes them all — is a
 * comparison and a Set lookup; only a certificate issued by someone else asks Node for the chain.
 * @param crl - the CRL
 * @param certificate - the client's certificate
 * @param socket - its connection
 */
export function revokedBy(crl: LoadedCrl, certificate: PeerCertificate, socket: TlsPeer): boolean {
  if (certificate.issuer === crl.issuerName) return crl.revokedSerials.has(certificate.serial);
  return lists(crl, chainIssuedBy(crl, socket));
}

function lists(crl: LoadedCrl, certificates: readonly PeerCertificate[]): boolean {
  return certificates.some((c) => crl.revokedSerials.has(c.serial));
}

export class CrlInForce {
  #crl: LoadedCrl | undefined;
  /** The version of the file last looked at: each version is looked at once. */
  #seen: string;
  /** Cancels the pending alarm of the schedule, if any. */
  #cancelAlarm: (() => void) | undefined;
  /** A renewal was asked for and has not finished. */
  #renewing = false;
  /** No renewal is asked for before this (one an hour while the CRL stays due). */
  #retryAt = 0;
  /** The last time warning logged about the CRL in force, so that it is repeated hourly and not more. */
  #reported: { crl: LoadedCrl; state: TimeState; at: number } | undefined;
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
   * The server's verdict on a certificate OpenSSL verified, for every certificate of the CRL's CA in its
   * chain: refused while the CRL is out of date, or when the CRL lists the certificate or a certificate
   * above it that the CA issued (an intermediate CA it signed, revoked, takes its whole subtree with it).
   * See {@link revokedBy} for what it costs.
   */
  readonly policy: PeerPolicy = (certificate, socket) => {
    const crl = this.#crl;
    if (!crl) return undefined;
    const above = certificate.issuer === crl.issuerName ? undefined : chainIssuedBy(crl, socket);
    // A chain without a certificate of this CA says nothing about this CRL (no time check either).
    if (above?.length === 0) return undefined;
    const now = this.#o.clock.now();
    if (now >= crl.nextUpdateMs) return { reason: 'REVOCATION_UNAVAILABLE', detail: 'CRL_HAS_EXPIRED' };
    if (now < crl.thisUpdateMs) return { reason: 'REVOCATION_UNAVAILABLE', detail: 'CRL_NOT_YET_VALID' };
    const revoked = above ? lists(crl, above) : crl.revokedSerials.has(certificate.serial);
    if (revoked) return { reason: 'REVOKED', detail: 'CERT_REVOKED' };
    return undefined;
  };

  /** The CRL in force, if any. */
  get current(): LoadedCrl | undefined {
    return this.#crl;
  }

  summary(): CrlSummary | undefined {
    const c = this.#crl;
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
    const c = this.#crl;
    if (c) {
      this.#o.logger.event('info', 'crl-loaded', `CRL number ${c.crl.crlNumber} loaded`, describeCrl(c));
      this.#onTime(c, true);
    } else if (this.#o.file !== undefined) {
      this.#o.logger.event('warn', 'crl-missing', 'no CRL: revocation is not checked until one appears', {
        file: this.#o.file,
      });
    }
  }

  /**
   * The CRL the file holds now, checked for `caCertificates`, not yet in force. A missing file keeps the CRL
   * in force (deleting the CRL must not un-revoke anyone) if one of `caCertificates` signed it; after a CA
   * change the old CA's CRL says nothing about the new CA's certificates, and there is none.
   * @param caCertificates - the CAs the CRL is for (the new ones, on a reload)
   * @param version - the file's version, when the caller has just taken it
   * @throws MtlsCaError when the file is unusable or older than the CRL in force
   */
  stage(caCertificates: readonly Certificate[], version?: string): StagedCrl {
    const file = this.#o.file;
    const v = version ?? (file === undefined ? MISSING : fileVersion(file));
    if (file === undefined || v === MISSING) {
      const kept = this.#crl;
      return {
        crl: kept && caCertificates.some((ca) => kept.crl.isSignedBy(ca)) ? kept : undefined,
        version: v,
      };
    }
    const crl = readCrlFile(file, caCertificates);
    assertNotOlder(crl, this.#crl);
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
    this.#crl = staged.crl;
    this.#seen = staged.version;
    const c = staged.crl;
    if (!c) return;
    if (message) this.#o.logger.event('info', 'crl-loaded', message, describeCrl(c));
    this.#onTime(c, true);
    this.#o.closeRevoked(c);
  }

  /** Watch event or poll tick: puts the CRL file in force if it changed and is good; else keeps the CRL in force. */
  refresh(): void {
    const file = this.#o.file;
    if (file === undefined || this.#closed) return;
    const version = fileVersion(file);
    if (version === this.#seen) return;
    this.#seen = version;
    const logger = this.#o.logger;
    const keeping = this.#crl ? `keeping CRL number ${this.#crl.crl.crlNumber}` : 'no CRL is in force';
    if (version === MISSING) {
      if (this.#crl) logger.event('warn', 'crl-missing', `CRL file removed; ${keeping}`, { file });
      return;
    }
    let staged: StagedCrl;
    try {
      staged = this.stage(this.#o.caCertificates(), version);
      if (this.#crl?.crl.der.equals(staged.crl!.crl.der)) return;
      this.#o.renewContext();
    } catch (e) {
      logCrlRejected(logger, file, e, keeping, this.#o.errorHint);
      return;
    }
    this.commit(staged, `CRL number ${staged.crl!.crl.crlNumber} applied`);
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
   * The schedule of the CRL in force, run when it comes into force (`announced`: its state is logged now,
   * whatever was logged before) and at each alarm: ask for a renewal when one is due, log where the CRL
   * stands (at most hourly), and arm the alarm for the next moment anything changes. Nobody reloads
   * anything when a CRL expires, so the alarm is what notices.
   */
  #onTime(c: LoadedCrl, announced: boolean): void {
    this.#cancelAlarm?.();
    this.#cancelAlarm = undefined;
    if (this.#closed || this.#crl !== c) return;
    if (announced) this.#reported = undefined;
    const now = this.#o.clock.now();
    const renew = this.#o.renew;
    const due = now >= crlRenewalTime(c.crl).getTime() || now < c.thisUpdateMs;
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
          // The new CRL, if one was written, comes into force now (commit runs its own schedule).
          this.refresh();
          if (this.#crl === c) this.#onTime(c, false);
        });
      return;
    }
    this.#report(c, now);
    const next = [c.thisUpdateMs, crlWarningTime(c.crl), c.nextUpdateMs];
    if (renew) next.push(Math.max(crlRenewalTime(c.crl).getTime(), this.#retryAt));
    if (this.#reported) next.push(this.#reported.at + CRL_REMINDER_MS);
    const at = Math.min(...next.filter((t) => t > now));
    if (Number.isFinite(at))
      this.#cancelAlarm = this.#o.clock.setTimer(() => this.#onTime(c, false), at - now);
  }

  /**
   * Logs a CRL that is about to expire or with which every client of its CA is refused: when it comes into
   * force, when its state changes, and every {@link CRL_REMINDER_MS} while it stays so.
   */
  #report(c: LoadedCrl, now: number): void {
    const state = timeState(c, now);
    const last = this.#reported;
    if (state === 'fresh') {
      this.#reported = undefined;
      return;
    }
    if (last?.crl === c && last.state === state && now < last.at + CRL_REMINDER_MS) return;
    this.#reported = { crl: c, state, at: now };
    const logger = this.#o.logger;
    if (state === 'expiring') {
      const hours = Math.floor((c.nextUpdateMs - now) / HOUR_MS);
      logger.event(
        'warn',
        'crl-expiring',
        `CRL expires at ${c.crl.nextUpdate.toISOString()}, in ${hours} h: from then on every client certificate is refused (CRL_HAS_EXPIRED) until a fresh CRL is published`,
        { ...describeCrl(c), hoursLeft: hours },
      );
    } else if (state === 'expired') {
      logger.event(
        'error',
        'crl-expired',
        `CRL expired at ${c.crl.nextUpdate.toISOString()}: every client certificate is refused (CRL_HAS_EXPIRED) until a fresh CRL is published`,
        describeCrl(c),
      );
    } else {
      logger.event(
        'error',
        'crl-not-yet-valid',
        `CRL is valid only from ${c.crl.thisUpdate.toISOString()}: every client certificate is refused (CRL_NOT_YET_VALID) until then`,
        { ...describeCrl(c), hint: "compare this server's clock with the CA machine's" },
      );
    }
  }
}

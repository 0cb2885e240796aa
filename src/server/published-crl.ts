/**
 * The CRL the publish server hands out at `/crl`: the issuing CA's CRL of ca/crl.pem (which holds a root's
 * and a previous CA's too, when there are), checked (signed by the CA, not older than the one served) and
 * kept as DER with its validators, replaced when the file changes. A file that fails the checks is logged
 * (crl-rejected) and the CRL served stays; a CRL file removed keeps the one served.
 *
 * Last-Modified only ever grows from one CRL to the next, even for two CRLs signed in the same second: Java's
 * CRL fetcher keeps its copy when Last-Modified is the one it has seen, even on a 200, so a second CRL with
 * the same date would go unseen there.
 */
import type { Certificate } from '../pki/certificate.js';
import type { MtlsCaError } from '../pki/errors.js';
import { type FileWatch, fileVersion, MISSING, watchFiles } from './file-watch.js';
import type { ServerLogger } from './log.js';
import { assertNotOlder, describeCrl, type LoadedCrl, logCrlRejected, readCaCrl } from './revocation.js';
import { type ServedFile, servedFile } from './served-file.js';

/** RFC 5280 4.2.1.13 and RFC 2585: a DER CRL over HTTP. */
export const CRL_CONTENT_TYPE = 'application/pkix-crl';

/** How often the CRL file is stat'ed besides the directory watch (file-watch.ts). */
const CRL_POLL_MS = 500;
const WATCH_SETTLE_MS = 25;

export interface PublishedCrlOptions {
  file: string;
  /** The CA whose CRL it must be (it changes when the CA directory gets a new CA). */
  ca: () => Certificate;
  logger: ServerLogger;
  /** The hint of the `crl-rejected` line for the error that rejected a CRL. */
  errorHint: (e: MtlsCaError) => string | undefined;
  /** Called after a new CRL is served (the schedule looks at its dates). */
  onChange: () => void;
}

export class PublishedCrl {
  #current: { crl: LoadedCrl; served: ServedFile } | undefined;
  #seen = MISSING;
  #watch: FileWatch | undefined;
  readonly #o: PublishedCrlOptions;

  /**
   * Reads the CRL file if it is there; a missing one is served as 404 until it appears.
   * @throws MtlsCaError when the file is there but unusable
   */
  constructor(o: PublishedCrlOptions) {
    this.#o = o;
    this.#seen = fileVersion(o.file);
    if (this.#seen !== MISSING) this.#put(readCaCrl(o.file, o.ca()));
  }

  /** The CRL served, if any. */
  get current(): LoadedCrl | undefined {
    return this.#current?.crl;
  }

  /** What `/crl` answers with, if there is a CRL. */
  get served(): ServedFile | undefined {
    return this.#current?.served;
  }

  /** Logs the CRL served at start, or that there is none. */
  announce(): void {
    const c = this.#current?.crl;
    if (c) this.#o.logger.event('info', 'crl-loaded', `CRL number ${c.crl.crlNumber} loaded`, describeCrl(c));
    else
      this.#o.logger.event('warn', 'crl-missing', 'no CRL: /crl answers 404 until one appears', {
        file: this.#o.file,
      });
  }

  #put(crl: LoadedCrl): void {
    const before = this.#current?.served.lastModified.getTime();
    const signed = Math.floor(crl.thisUpdateMs / 1000) * 1000;
    const lastModified = before !== undefined && signed <= before ? before + 1000 : signed;
    this.#current = { crl, served: servedFile(crl.crl.der, CRL_CONTENT_TYPE, new Date(lastModified)) };
  }

  /** Serves the file's CRL if it changed and passes the checks; else keeps the CRL served. */
  refresh(): void {
    const file = this.#o.file;
    const version = fileVersion(file);
    if (version === this.#seen) return;
    this.#seen = version;
    const logger = this.#o.logger;
    const keeping = this.#current
      ? `keeping CRL number ${this.#current.crl.crl.crlNumber}`
      : 'no CRL is served';
    if (version === MISSING) {
      if (this.#current) logger.event('warn', 'crl-missing', `CRL file removed; ${keeping}`, { file });
      return;
    }
    let next: LoadedCrl;
    try {
      next = readCaCrl(file, this.#o.ca());
      // A CRL of the CA served before is compared by number; one of a new CA starts a new count.
      if (this.#current?.crl.signer.der.equals(next.signer.der)) assertNotOlder(next, this.#current.crl);
    } catch (e) {
      logCrlRejected(logger, file, e, keeping, this.#o.errorHint);
      return;
    }
    if (this.#current?.crl.crl.der.equals(next.crl.der)) return;
    this.#put(next);
    logger.event('info', 'crl-loaded', `CRL number ${next.crl.crlNumber} applied`, describeCrl(next));
    this.#o.onChange();
  }

  /** Starts watching the file (its directory, and a poll). */
  watch(): void {
    this.#watch ??= watchFiles([this.#o.file], () => this.refresh(), {
      pollMs: CRL_POLL_MS,
      settleMs: WATCH_SETTLE_MS,
    });
  }

  close(): void {
    this.#watch?.close();
  }
}

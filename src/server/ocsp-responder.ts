/**
 * The OCSP responder of the publish server: what it answers with (the CA, the delegated responder's
 * certificate and key, every certificate's status), how each of those is kept current, and the answer to one
 * request, from the bytes received to the bytes sent. Parsing and signing are the PKI core's (pki/ocsp.ts).
 *
 * - The statuses come from a {@link CertificateStatusSource} (the CLI reads them from the inventory through
 *   the store); its files are watched through their directory and polled every 250 ms (with its version, for
 *   a CA in a database), so a revocation is answered within a second of its commit.
 * - The responder's certificate and key (ca/ocsp.crt, ca/ocsp.key) and the CA certificate are watched the
 *   same way: the commands that re-issue the responder replace them while the server runs.
 * - What an answer is signed from — the material and the statuses — is one {@link ResponderState}, replaced
 *   as a whole when either changes. An answer without a nonce for one certificate is kept with the state it
 *   was signed from and handed out again while that state is in force (ocsp-answer-cache.ts): the common
 *   request of nginx and Java costs a lookup by its bytes, not a parse and a signature. A nonce asks for a
 *   fresh signature, which it gets.
 */
import type { KeyObject } from 'node:crypto';
import fs from 'node:fs';
import { Certificate } from '../pki/certificate.js';
import { MtlsCaError } from '../pki/errors.js';
import { isKeyPair, parsePrivateKey } from '../pki/keys.js';
import {
  answerOcspRequest,
  type CertificateStatus,
  OcspIssuer,
  type OcspRequest,
  OcspRequestError,
  type OcspResponseStatus,
  OcspSigningKey,
  ocspErrorResponse,
  parseOcspRequest,
} from '../pki/ocsp.js';
import { OID } from '../pki/oids.js';
import type { Clock } from './clock.js';
import { type FileWatch, fileVersion, watchFiles } from './file-watch.js';
import type { ServerLogger } from './log.js';
import { OcspAnswerCache } from './ocsp-answer-cache.js';

/** Where the statuses come from: the CA's inventory, read by whoever runs the server. */
export interface CertificateStatusSource {
  /** The files whose change may change a status (the inventory): watched. */
  files: readonly string[];
  /**
   * What else the statuses come from, as a value that changes with them (a database's state version, which
   * the caller keeps current): looked at as often as the files are polled.
   */
  version?(): string;
  /** Every certificate's status by serial (lowercase hex); a serial not in it is unknown. */
  load(): Promise<ReadonlyMap<string, CertificateStatus>>;
}

/** The files of the responder. */
export interface ResponderFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** How long an answer is good for (nextUpdate − thisUpdate) unless told otherwise. */
export const DEFAULT_RESPONSE_LIFETIME_MS = 3_600_000;

/** The statuses are stat'ed this often besides the watch: the 1 s promise holds where inotify misses. */
const STATUS_POLL_MS = 250;
const RESPONDER_POLL_MS = 1_000;
const WATCH_SETTLE_MS = 25;

/** What the responder answers with, once its files passed their checks. */
interface Material {
  ca: Certificate;
  issuer: OcspIssuer;
  /** Undefined while there is no usable responder certificate: every request is answered tryLater. */
  signer: OcspSigningKey | undefined;
  /** Why there is no signer. */
  problem?: string;
  version: string;
}

/**
 * Everything an answer is signed from. Never changed in place: a new object whenever the material or the
 * statuses change, so that its identity is the version the answer cache follows.
 */
interface ResponderState {
  readonly material: Material;
  readonly statuses: ReadonlyMap<string, CertificateStatus>;
}

function readFileOrNull(file: string): Buffer | null {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new MtlsCaError('IO_FAILED', `read ${file}: ${(e as Error).message}`, undefined, e);
  }
}

/**
 * Reads the CA certificate (required) and the responder's certificate and key (checked: issued by the CA for
 * OCSP signing, the key its own; a responder that fails is reported as the material's problem).
 * @throws MtlsCaError when the CA certificate cannot be read
 */
function loadMaterial(files: ResponderFiles, version: string): Material {
  const caData = readFileOrNull(files.caFile);
  if (!caData) throw new MtlsCaError('NOT_FOUND', `read CA certificate ${files.caFile}: no such file`);
  const ca = Certificate.from(caData, files.caFile);
  const material: Material = { ca, issuer: new OcspIssuer(ca), signer: undefined, version };
  const certData = readFileOrNull(files.certFile);
  const keyData = readFileOrNull(files.keyFile);
  if (!certData || !keyData) {
    material.problem = `there is no responder certificate and key (${certData ? files.keyFile : files.certFile} is missing)`;
    return material;
  }
  let certificate: Certificate;
  let privateKey: KeyObject;
  try {
    certificate = Certificate.from(certData, files.certFile);
    privateKey = parsePrivateKey(keyData, undefined, files.keyFile);
  } catch (e) {
    material.problem = (e as Error).message;
    return material;
  }
  if (!certificate.isIssuedBy(ca)) material.problem = `${files.certFile} was not issued by the CA`;
  else if (!certificate.extendedKeyUsage.includes('ocspSigning'))
    material.problem = `${files.certFile} is not an OCSP responder certificate (no OCSPSigning usage)`;
  else if (!certificate.extension(OID.ocspNoCheck))
    material.problem = `${files.certFile} has no ocsp-nocheck extension`;
  else if (!isKeyPair(privateKey, certificate.publicKey))
    material.problem = `${files.keyFile} does not belong to ${files.certFile}`;
  else material.signer = new OcspSigningKey({ certificate, privateKey });
  return material;
}

/** What the server sends for one request. */
export interface OcspAnswer {
  httpStatus: number;
  body: Buffer;
  /** The OCSP status, for tests and logs. */
  status: OcspResponseStatus;
}

export interface OcspResponderOptions {
  files: ResponderFiles;
  statuses: CertificateStatusSource;
  logger: ServerLogger;
  /** The hint of a logged error (`errorHint` of the publish server). */
  errorHint: (e: MtlsCaError) => string | undefined;
  clock: Clock;
  /** nextUpdate − thisUpdate of each answer; default {@link DEFAULT_RESPONSE_LIFETIME_MS}. */
  responseLifetimeMs?: number;
  /** Called after the responder's certificate or the CA changed (the schedule looks at its dates). */
  onChange: () => void;
}

export class OcspResponder {
  #state: ResponderState;
  /** The statuses' files as last loaded; a load in flight and whether another is wanted after it. */
  #statusVersion = '';
  #loading: Promise<void> | undefined;
  #failedVersion: string | undefined;
  /** A version of the responder's files without a usable signer, seen once (maybe mid-replacement). */
  #failingMaterial: string | undefined;
  /** Signed answers by request bytes, for requests without a nonce, valid while their state is in force. */
  readonly #cache = new OcspAnswerCache();
  #watches: FileWatch[] = [];
  #closed = false;
  readonly #o: OcspResponderOptions;
  readonly #lifetime: number;

  /** Reads the CA and the responder now; {@link start} loads the statuses. */
  constructor(o: OcspResponderOptions) {
    this.#o = o;
    this.#lifetime = o.responseLifetimeMs ?? DEFAULT_RESPONSE_LIFETIME_MS;
    this.#state = { material: loadMaterial(o.files, this.#materialVersion()), statuses: new Map() };
  }

  /** Loads the statuses (they must be there before the first answer). */
  async start(): Promise<void> {
    this.#statusVersion = this.#currentStatusVersion();
    this.#state = { ...this.#state, statuses: await this.#o.statuses.load() };
  }

  get ca(): Certificate {
    return this.#state.material.ca;
  }

  /** The responder's certificate, when there is a usable one. */
  get responderCertificate(): Certificate | undefined {
    return this.#state.material.signer?.certificate;
  }

  /** How many certificates the responder knows, and how many of them are revoked. */
  summary(): { certificates: number; revoked: number } {
    let revoked = 0;
    const statuses = this.#state.statuses;
    for (const s of statuses.values()) if (s.status === 'revoked') revoked++;
    return { certificates: statuses.size, revoked };
  }

  /** Logs what the responder starts with. */
  announce(): void {
    const m = this.#state.material;
    const counts = this.summary();
    if (m.signer) {
      this.#o.logger.event(
        'info',
        'ocsp-ready',
        `OCSP responder ready: ${counts.certificates} certificates, ${counts.revoked} revoked`,
        {
          responder: m.signer.certificate.serialHex,
          notAfter: m.signer.certificate.notAfter.toISOString(),
        },
      );
    } else {
      this.#reportNoSigner(m);
    }
  }

  #reportNoSigner(m: Material): void {
    this.#o.logger.event(
      'error',
      'ocsp-responder-missing',
      `OCSP requests are answered tryLater: ${m.problem}`,
      {
        file: this.#o.files.certFile,
      },
    );
  }

  #materialVersion(): string {
    const f = this.#o.files;
    return [f.caFile, f.certFile, f.keyFile].map(fileVersion).join('|');
  }

  #currentStatusVersion(): string {
    const { files, version } = this.#o.statuses;
    return [...files.map(fileVersion), ...(version ? [version()] : [])].join('|');
  }

  /**
   * Answers the DER of a request: 400 and malformedRequest when it cannot be read, else 200 with the OCSP
   * answer — tryLater while there is no usable responder certificate, unauthorized for another CA's
   * certificates, otherwise the signed statuses.
   */
  answer(body: Buffer): OcspAnswer {
    const now = this.#o.clock.now();
    // What this answer is signed from, and what it is kept with.
    const state = this.#state;
    const signer = state.material.signer;
    const usable =
      signer !== undefined &&
      now < signer.certificate.notAfter.getTime() &&
      now >= signer.certificate.notBefore.getTime();
    // A client asking again about the same certificate without a nonce sends the same bytes: the answer
    // signed for them from the state in force is handed out without parsing the request again.
    const key = OcspAnswerCache.keyOf(body);
    if (usable && key !== undefined) {
      const kept = this.#cache.get(key, state, now);
      if (kept) return { httpStatus: 200, body: kept, status: 'successful' };
    }
    let request: OcspRequest;
    try {
      request = parseOcspRequest(body);
    } catch (e) {
      if (!(e instanceof OcspRequestError)) throw e;
      return { httpStatus: 400, body: ocspErrorResponse(e.status), status: e.status };
    }
    if (!usable) return { httpStatus: 200, body: ocspErrorResponse('tryLater'), status: 'tryLater' };
    const nextUpdate = Math.min(now + this.#lifetime, signer.certificate.notAfter.getTime());
    const r = answerOcspRequest(request, {
      issuer: state.material.issuer,
      signer,
      statusOf: (serial) => state.statuses.get(serial) ?? { status: 'unknown' },
      now: new Date(now),
      nextUpdate: new Date(nextUpdate),
    });
    // Only an answer the same bytes may get again: a nonce asks for a signature of its own.
    if (
      key !== undefined &&
      request.nonce === undefined &&
      request.certIds.length === 1 &&
      r.status === 'successful'
    ) {
      this.#cache.set(key, state, now, r.der);
    }
    return { httpStatus: 200, body: r.der, status: r.status };
  }

  /** Watch event or poll tick: loads the statuses again when their files changed. */
  refreshStatuses(): void {
    if (this.#closed || this.#loading) return;
    const version = this.#currentStatusVersion();
    if (version === this.#statusVersion) return;
    this.#loading = this.#o.statuses
      .load()
      .then(
        (statuses) => {
          this.#state = { ...this.#state, statuses };
          this.#statusVersion = version;
          this.#failedVersion = undefined;
          const counts = this.summary();
          this.#o.logger.event(
            'info',
            'ocsp-statuses-loaded',
            `OCSP statuses reloaded: ${counts.certificates} certificates, ${counts.revoked} revoked`,
            counts,
          );
        },
        (e: unknown) => {
          // Keeps answering from what it had; a version that keeps failing is logged once.
          this.#statusVersion = version;
          if (this.#failedVersion === version) return;
          this.#failedVersion = version;
          this.#o.logger.event(
            'error',
            'ocsp-statuses-failed',
            `${(e as Error).message}; answering from the statuses loaded before`,
            {
              code: (e as MtlsCaError).code,
              hint: this.#o.errorHint(e as MtlsCaError),
            },
          );
        },
      )
      .finally(() => {
        this.#loading = undefined;
        // A change while loading is picked up now, not at the next poll.
        this.refreshStatuses();
      });
  }

  /** Watch event or poll tick: reads the CA and the responder's files again when they changed. */
  refreshMaterial(): void {
    if (this.#closed) return;
    const version = this.#materialVersion();
    if (version === this.#state.material.version) return;
    let next: Material;
    try {
      next = loadMaterial(this.#o.files, version);
    } catch (e) {
      // The CA certificate itself is unreadable (half replaced?): keep answering as before.
      this.#o.logger.event(
        'error',
        'reload-failed',
        `${(e as Error).message}; keeping the responder in use`,
        {
          code: (e as MtlsCaError).code,
          hint: this.#o.errorHint(e as MtlsCaError),
        },
      );
      this.#state = { ...this.#state, material: { ...this.#state.material, version } };
      return;
    }
    const before = this.#state.material;
    // The store renames the new key, then the new certificate: a look between the two sees a pair that does
    // not match. Such a version takes over only if it still fails at the next look.
    if (!next.signer && before.signer && this.#failingMaterial !== version) {
      this.#failingMaterial = version;
      return;
    }
    this.#failingMaterial = undefined;
    this.#state = { ...this.#state, material: next };
    if (!next.ca.der.equals(before.ca.der)) {
      // Another CA: the statuses read so far are the old CA's.
      this.#statusVersion = '';
      this.refreshStatuses();
    }
    if (next.signer) {
      if (!next.signer.certificate.der.equals(before.signer?.certificate.der ?? Buffer.alloc(0))) {
        this.#o.logger.event('info', 'ocsp-responder-loaded', 'OCSP responder certificate loaded', {
          responder: next.signer.certificate.serialHex,
          notAfter: next.signer.certificate.notAfter.toISOString(),
        });
      }
    } else if (next.problem !== before.problem) {
      this.#reportNoSigner(next);
    }
    this.#o.onChange();
  }

  /** Watches the statuses' and the responder's files. */
  watch(): void {
    if (this.#watches.length > 0 || this.#closed) return;
    const f = this.#o.files;
    this.#watches.push(
      watchFiles(this.#o.statuses.files, () => this.refreshStatuses(), {
        pollMs: STATUS_POLL_MS,
        settleMs: WATCH_SETTLE_MS,
      }),
      watchFiles([f.caFile, f.certFile, f.keyFile], () => this.refreshMaterial(), {
        pollMs: RESPONDER_POLL_MS,
        settleMs: WATCH_SETTLE_MS,
      }),
    );
  }

  close(): void {
    this.#closed = true;
    for (const w of this.#watches) w.close();
  }
}

/**
 * The publish server: plain HTTP that hands the CA's revocation data to the servers that check client
 * certificates — the CRL (`GET <base>/crl`, DER, with conditional GET), the CA certificate (`GET
 * <base>/ca.crt`, DER, what certificates name as caIssuers) and an OCSP responder (`POST <base>/ocsp`, and
 * RFC 5019's `GET <base>/ocsp/<base64 request>`). Plain HTTP because all of it is signed and public, and a
 * TLS server checking a client certificate must be able to fetch it without another TLS check.
 *
 * Only this factory's `listen()` opens the socket; `mtls-ca publish` calls it. It composes the pieces beside
 * it: the CRL served (published-crl.ts), the responder (ocsp-responder.ts), the access and event log
 * (access-log.ts, log.ts), with the timeouts and graceful close of the mTLS server.
 *
 * With a `renew` hook (the CLI's, given the CA password) it keeps the CRL and the responder certificate
 * current itself: once half the lifetime of either has passed it asks for both to be signed anew, and again
 * every hour until that worked. Without one it warns before either expires (crl-expiring,
 * ocsp-responder-expiring) and says so when it has (crl-expired, ocsp-responder-expired).
 */
import http, { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Certificate } from '../pki/certificate.js';
import { type CrlDates, crlRenewalTime } from '../pki/crl-lifetime.js';
import type { MtlsCaError } from '../pki/errors.js';
import { layout } from '../store/layout.js';
import { createAccessLog } from './access-log.js';
import { type Clock, systemClock } from './clock.js';
import { CRL_REMINDER_MS, crlWarningTime } from './crl-in-force.js';
import { closeGracefully, type ListenAddress, listenOn, REFUSAL_STATUS } from './listen.js';
import { createLogger, type LogFormat, type LogSink, type ServerLogger } from './log.js';
import { type CertificateStatusSource, OcspResponder } from './ocsp-responder.js';
import { PublishedCrl } from './published-crl.js';
import { type ServedFile, sendServedFile, servedFile } from './served-file.js';
import { resolveTimeouts, type ServerTimeouts } from './server-options.js';

export const DEFAULT_PUBLISH_PORT = 8080;

/** The largest OCSP request body read: a request for 16 certificates with a signature is under 4 KiB. */
export const MAX_OCSP_REQUEST_BYTES = 16 * 1024;

/** RFC 6960 A.1 and RFC 2585. */
const OCSP_RESPONSE_TYPE = 'application/ocsp-response';
const CERT_TYPE = 'application/pkix-cert';

export interface PublishServerOptions {
  /** The CA directory: ca/ca.crt, ca/crl.pem, ca/ocsp.crt and ca/ocsp.key are read from it. */
  dir: string;
  /** Every certificate's status, for the OCSP answers. */
  statuses: CertificateStatusSource;
  /** The path part of the publish URL (`/pki` of `http://ca.example.com/pki`); default none. */
  basePath?: string;
  /** Address to bind; default 127.0.0.1. */
  host?: string;
  /** TCP port; default {@link DEFAULT_PUBLISH_PORT}; 0 picks a free one. */
  port?: number;
  logFormat?: LogFormat;
  /** Receives each log line; default stdout. */
  log?: LogSink;
  /** A `hint` for event lines that carry none, by event name, in the words of the program running it. */
  eventHints?: Readonly<Record<string, string>>;
  /**
   * The hint of a line that logs an error (a CRL it rejects, statuses it could not load), in the words of the
   * program running it; default the error's own hint.
   */
  errorHint?: (e: MtlsCaError) => string | undefined;
  /**
   * Signs a fresh CRL and re-issues the responder certificate when they are due (the CA key is needed). It
   * must not reject: it logs its own outcome. Default none: the server only warns.
   */
  renew?: () => Promise<void>;
  /** nextUpdate − thisUpdate of the OCSP answers; default one hour. */
  responseLifetimeMs?: number;
  /** The time of the OCSP answers and of the schedule; default the system clock. */
  clock?: Clock;
  /** Overrides of the timeouts (the TLS handshake one is not used: there is no TLS). */
  timeouts?: Partial<ServerTimeouts>;
}

export interface PublishServer {
  readonly server: http.Server;
  readonly logger: ServerLogger;
  /** The OCSP responder (its state, for health checks and tests). */
  readonly responder: OcspResponder;
  /** Binds and resolves with the actual address. */
  listen(): Promise<ListenAddress>;
  /** Reads the CA, the responder's files, the CRL and the statuses again now (SIGHUP). */
  reload(): void;
  /** Stops accepting, lets requests in flight finish, then closes; drops what is left after shutdownMs. */
  close(): Promise<void>;
}

/** `/pki/` and `pki` → `/pki`; `/` and `` → ``. */
function normaliseBase(base = ''): string {
  const trimmed = base.replace(/\/+$/, '');
  if (trimmed === '') return '';
  return trimmed.startsWith('/') ? trimmed : `/${trimmed}`;
}

/** What the dates of a certificate or CRL say about when to renew and warn. */
function datesOf(c: { notBefore: Date; notAfter: Date }): CrlDates {
  return { thisUpdate: c.notBefore, nextUpdate: c.notAfter };
}

type TimedState = 'fresh' | 'expiring' | 'expired' | 'not-yet-valid' | 'missing';

function timedState(d: CrlDates | undefined, now: number): TimedState {
  if (!d) return 'missing';
  if (now >= d.nextUpdate.getTime()) return 'expired';
  if (now < d.thisUpdate.getTime()) return 'not-yet-valid';
  return now >= crlWarningTime(d) ? 'expiring' : 'fresh';
}

/** The response being written on a connection, so that a parser error after it does not write a second one. */
const LATEST = Symbol('mtlsCaPublishResponse');
type TrackedSocket = Socket & { [LATEST]?: ServerResponse };

/**
 * Builds (but does not start) the publish server: reads the CA, the CRL, the responder and every
 * certificate's status first, so that a bad directory fails before anything listens.
 * @throws MtlsCaError when the CA certificate or an existing CRL cannot be used
 */
export async function createPublishServer(options: PublishServerOptions): Promise<PublishServer> {
  const paths = layout(options.dir);
  const base = normaliseBase(options.basePath);
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? DEFAULT_PUBLISH_PORT;
  const clock = options.clock ?? systemClock;
  const timeouts = resolveTimeouts(options.timeouts);
  const errorHint = options.errorHint ?? ((e: MtlsCaError) => e.hint);
  const logger = createLogger({
    format: options.logFormat,
    sink: options.log,
    now: () => new Date(clock.now()),
    hints: options.eventHints,
  });

  const responder = new OcspResponder({
    files: { caFile: paths.caCert, certFile: paths.ocspCert, keyFile: paths.ocspKey },
    statuses: options.statuses,
    logger,
    clock,
    errorHint,
    responseLifetimeMs: options.responseLifetimeMs,
    onChange: () => {
      caFile = caFileOf(responder.ca);
      schedule();
    },
  });
  const caFileOf = (ca: Certificate): ServedFile => servedFile(ca.der, CERT_TYPE, ca.notBefore);
  let caFile = caFileOf(responder.ca);
  const crl = new PublishedCrl({
    file: paths.crl,
    ca: () => responder.ca,
    logger,
    errorHint,
    onChange: () => schedule(),
  });
  await responder.start();

  // ------------------------------------------------------------------ the schedule

  let cancelAlarm: (() => void) | undefined;
  let renewing = false;
  let retryAt = 0;
  const reported = new Map<string, { state: TimedState; at: number }>();
  let closing: Promise<void> | undefined;

  const items = () => [
    {
      name: 'crl',
      dates: crl.current && {
        thisUpdate: crl.current.crl.thisUpdate,
        nextUpdate: crl.current.crl.nextUpdate,
      },
    },
    {
      name: 'ocsp-responder',
      dates: responder.responderCertificate && datesOf(responder.responderCertificate),
    },
  ];

  /** Logs an item that is about to expire, has, or is missing: when that starts, and hourly while it lasts. */
  const report = (name: string, dates: CrlDates | undefined, now: number) => {
    const state = timedState(dates, now);
    const last = reported.get(name);
    if (state === 'fresh') {
      reported.delete(name);
      return;
    }
    if (last?.state === state && now < last.at + CRL_REMINDER_MS) return;
    reported.set(name, { state, at: now });
    if (state === 'missing') return; // announced when it went missing
    const what = name === 'crl' ? 'the CRL served' : 'the OCSP responder certificate';
    const consequence =
      name === 'crl'
        ? 'servers that fetch it refuse every client certificate of this CA until a fresh one is published'
        : 'every OCSP request is answered tryLater until a new one is issued';
    const at = state === 'not-yet-valid' ? dates!.thisUpdate : dates!.nextUpdate;
    if (state === 'expiring') {
      const hours = Math.floor((dates!.nextUpdate.getTime() - now) / 3_600_000);
      logger.event(
        'warn',
        `${name}-expiring`,
        `${what} expires at ${at.toISOString()}, in ${hours} h: then ${consequence}`,
        { hoursLeft: hours },
      );
    } else if (state === 'expired') {
      logger.event('error', `${name}-expired`, `${what} expired at ${at.toISOString()}: ${consequence}`);
    } else {
      logger.event(
        'error',
        `${name}-not-yet-valid`,
        `${what} is valid only from ${at.toISOString()}: compare this machine's clock with the CA machine's`,
      );
    }
  };

  /**
   * Run when the CRL or the responder changes and at each alarm: asks for a renewal when one is due, logs
   * what is about to expire, and sets the alarm for the next moment anything changes.
   */
  function schedule(): void {
    cancelAlarm?.();
    cancelAlarm = undefined;
    if (closing) return;
    const now = clock.now();
    const all = items();
    const due = all.some(
      (i) => !i.dates || now >= crlRenewalTime(i.dates).getTime() || now < i.dates.thisUpdate.getTime(),
    );
    const renew = options.renew;
    if (renew && due && !renewing && now >= retryAt) {
      renewing = true;
      retryAt = now + CRL_REMINDER_MS;
      void renew()
        .catch(() => {
          // The hook logs its own failures; a rejection must not stop the schedule.
        })
        .finally(() => {
          if (closing) return;
          // What it wrote is served now, not at the next poll — both, before anything is judged due again
          // (a new CRL beside the old responder would look like a responder still due).
          crl.refresh();
          responder.refreshMaterial();
          renewing = false;
          schedule();
        });
      return;
    }
    for (const i of all) report(i.name, i.dates, now);
    const next: number[] = [];
    for (const i of all) {
      if (!i.dates) continue;
      next.push(i.dates.thisUpdate.getTime(), crlWarningTime(i.dates), i.dates.nextUpdate.getTime());
      if (renew) next.push(crlRenewalTime(i.dates).getTime());
    }
    if (renew && due) next.push(retryAt);
    for (const r of reported.values()) next.push(r.at + CRL_REMINDER_MS);
    const at = Math.min(...next.filter((t) => t > now));
    if (Number.isFinite(at)) cancelAlarm = clock.setTimer(schedule, at - now);
  }

  // ------------------------------------------------------------------ requests

  const accessLog = createAccessLog(logger, () => {
    if (closing) setImmediate(() => server.closeIdleConnections());
  });

  const plain = (res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}) => {
    res.statusCode = status;
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.end(`${text}\n`);
  };

  const sendOcsp = (res: ServerResponse, der: Buffer) => {
    const answer = responder.answer(der);
    // One writeHead, not three setHeader calls: this is the path of every OCSP request.
    res.writeHead(answer.httpStatus, {
      'Content-Type': OCSP_RESPONSE_TYPE,
      'Content-Length': answer.body.length,
      // A cache in between must not answer for the responder: a revocation would hide behind it.
      'Cache-Control': 'no-cache',
    });
    res.end(answer.body);
  };

  /** 413 for a body over the limit; the connection is not kept, since the rest of the body is not read. */
  const tooLarge = (res: ServerResponse) => {
    res.setHeader('Connection', 'close');
    plain(res, 413, `an OCSP request is at most ${MAX_OCSP_REQUEST_BYTES} bytes`);
  };

  const ocspPost = (req: IncomingMessage, res: ServerResponse) => {
    const declared = Number(req.headers['content-length']);
    if (declared > MAX_OCSP_REQUEST_BYTES) {
      tooLarge(res);
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_OCSP_REQUEST_BYTES) {
        // A chunked body that keeps coming: answer now and stop reading.
        if (!res.headersSent) tooLarge(res);
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!res.headersSent) sendOcsp(res, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
  };

  /** RFC 5019 2.1.1 / RFC 6960 A.1: the DER request, base64, URL-encoded, after `/ocsp/` (slashes included). */
  const ocspGet = (encoded: string, res: ServerResponse) => {
    let text: string;
    try {
      text = decodeURIComponent(encoded);
    } catch {
      text = '!';
    }
    if (!/^[A-Za-z0-9+/\s]*={0,2}$/.test(text)) {
      sendOcsp(res, Buffer.alloc(0)); // not base64: answered as the malformed request it is
      return;
    }
    sendOcsp(res, Buffer.from(text.replace(/\s/g, ''), 'base64'));
  };

  const route = (req: IncomingMessage, res: ServerResponse, path: string) => {
    const method = req.method ?? 'GET';
    const read = method === 'GET' || method === 'HEAD';
    if (path === `${base}/crl` || path === `${base}/ca.crt`) {
      if (!read) return plain(res, 405, 'use GET', { Allow: 'GET, HEAD' });
      if (path.endsWith('/ca.crt')) return sendServedFile(req.headers, method, res, caFile);
      const served = crl.served;
      if (!served) return plain(res, 404, 'no CRL has been published yet');
      return sendServedFile(req.headers, method, res, served);
    }
    if (path === `${base}/ocsp`) {
      if (method !== 'POST')
        return plain(res, 405, 'POST an OCSP request, or GET /ocsp/<base64 request>', { Allow: 'POST' });
      return ocspPost(req, res);
    }
    if (path.startsWith(`${base}/ocsp/`)) {
      if (method !== 'GET')
        return plain(res, 405, 'use GET with the request in the path, or POST /ocsp', { Allow: 'GET' });
      return ocspGet(path.slice(`${base}/ocsp/`.length), res);
    }
    plain(res, 404, `not found: this server publishes ${base}/crl, ${base}/ca.crt and ${base}/ocsp`);
  };

  const server = http.createServer(
    {
      headersTimeout: timeouts.headersMs,
      requestTimeout: timeouts.requestMs,
      keepAliveTimeout: timeouts.keepAliveMs,
      // As in the mTLS server: the default sweep every 30 s lets a slowloris client stay far past the limit.
      connectionsCheckingInterval: Math.min(1_000, Math.max(10, Math.floor(timeouts.headersMs / 4))),
    },
    (req, res) => {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const path = q === -1 ? url : url.slice(0, q);
      // An OCSP request in the path is long and says nothing a reader of the log needs.
      const shown = path.startsWith(`${base}/ocsp/`) ? `${base}/ocsp/<request>` : undefined;
      accessLog.begin(req, res, shown);
      (req.socket as TrackedSocket)[LATEST] = res;
      if (closing) res.setHeader('Connection', 'close');
      try {
        route(req, res, path);
      } catch (e) {
        // Nothing a request sends should get here; if it does, the server answers and goes on.
        logger.event('error', 'internal-error', (e as Error).message, { path: shown ?? path });
        if (!res.headersSent) plain(res, 500, 'internal error');
        else res.destroy();
      }
    },
  );
  server.keepAliveTimeout = timeouts.keepAliveMs;

  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  server.on('clientError', (err: NodeJS.ErrnoException, socket: TrackedSocket) => {
    const current = socket[LATEST];
    if (socket.writable && (!current || current.writableFinished)) {
      const status = REFUSAL_STATUS[err.code ?? ''] ?? 400;
      socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\n\r\n`);
      accessLog.refused(socket, status);
    }
    socket.destroy();
  });

  const reload = () => {
    responder.refreshMaterial();
    crl.refresh();
    responder.refreshStatuses();
  };

  /**
   * Stops the schedule and the file watches: at close(), so that nothing is renewed or reloaded while the
   * requests in flight finish, and when the server closes without it.
   */
  const stopWatching = () => {
    cancelAlarm?.();
    crl.close();
    responder.close();
  };
  server.once('close', stopWatching);

  return {
    server,
    logger,
    responder,

    async listen() {
      const address = await listenOn(server, 'http', host, port);
      logger.event('info', 'listening', `publishing on ${address.url}${base}`, {
        crl: `${base}/crl`,
        ocsp: `${base}/ocsp`,
        caIssuers: `${base}/ca.crt`,
      });
      crl.announce();
      responder.announce();
      crl.watch();
      responder.watch();
      schedule();
      return address;
    },

    reload,

    close() {
      if (!closing) {
        stopWatching();
        closing = closeGracefully(server, sockets, timeouts.shutdownMs, logger);
      }
      return closing;
    },
  };
}

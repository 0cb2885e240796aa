/**
 * The HTTPS server of the customer API: TLS 1.2+, our CA as the only trust anchor for client certificates,
 * Tomcat's `clientAuth=need|want`, hot reload of certificate/key/CA, slowloris timeouts and graceful close.
 * Only this file opens a socket; the `serve` command calls {@link createMtlsServer} and `listen()`.
 *
 * `need` is enforced by us, not by Node's `rejectUnauthorized`. With `rejectUnauthorized: true` Node destroys
 * a client whose certificate fails verification without telling the application which certificate or why,
 * so an operator cannot answer "why is pavel refused?". We run the TLS layer with `rejectUnauthorized: false`
 * and destroy unverified connections in a `secureConnection` listener, after logging reason and subject.
 * That listener must be *prepended*: https registers its own `secureConnection` listener in its constructor,
 * and once that has run, a TLS 1.3 client that sends its request in the same flight as its Finished message
 * gets the request parsed and dispatched to the app even though we destroy the socket (test
 * "a refused client's pipelined request never reaches the app"). What clients see is unchanged for a bad
 * certificate — TLS 1.3 clients finish their side of the handshake before the server checks the certificate,
 * so they get a reset either way (curl exit 56; under TLS 1.2, a handshake failure, exit 35). A client
 * without a certificate gets a reset instead of OpenSSL's "certificate required" alert.
 *
 * Revocation: the CA's CRL (`<dir>/ca/crl.pem`) is checked against our CA, watched, and applied by us, not by
 * OpenSSL: the `secureConnection` listener refuses a certificate whose serial the CRL lists (a Set lookup).
 * Handing the CRL to OpenSSL (`crl` option) would make it re-verify the CRL's signature — hashing the whole
 * CRL — on every handshake, twice (client chain, and the server's own chain under CRL_CHECK_ALL): a
 * 100,000-entry CRL cut the handshake rate to a fifth (bench/README.md). A new CRL still goes through
 * `setSecureContext`, which gives new connections fresh session-ticket keys and an empty session cache (test
 * "a TLS session from before the revocation does not resume"), and every open connection whose certificate
 * it lists is closed. While the CRL is out of date (past nextUpdate, or before thisUpdate) every certificate
 * of its CA is refused with REVOCATION_UNAVAILABLE, as OpenSSL would (CRL_HAS_EXPIRED): fail closed.
 */

import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { MtlsCaError } from '../pki/errors.js';
import { layout } from '../store/layout.js';
import { createApp } from './app.js';
import {
  checkPeer,
  type PeerCertificate,
  type PeerPolicy,
  type TlsPeer,
  type UnauthorizedReason,
} from './identity.js';
import { createLogger, type LogFormat, type LogSink, type ServerLogger } from './log.js';
import {
  assertNotOlder,
  crlTimeProblem,
  type FileWatch,
  fileVersion,
  isRevoked,
  type LoadedCrl,
  MISSING,
  readCrlFile,
  watchFile,
} from './revocation.js';
import { loadTlsMaterial, secureContextOptions, type TlsFiles, type TlsMaterial } from './tls-context.js';
import { openUserDirectory } from './users.js';

/** Tomcat's `server.ssl.client-auth`: `need` refuses the TLS connection, `want` lets the app answer 401. */
export type ClientAuth = 'need' | 'want';

export const CLIENT_AUTH_MODES: readonly ClientAuth[] = ['need', 'want'];

export interface ServerTimeouts {
  /** A TLS handshake must finish within this (a client that connects and sends nothing). Default 10 s. */
  handshakeMs: number;
  /** All request headers must arrive within this (slowloris). Default 10 s. */
  headersMs: number;
  /** The whole request must arrive within this; at least headersMs. Default 30 s. */
  requestMs: number;
  /** An idle keep-alive connection is closed after this. Default 5 s. */
  keepAliveMs: number;
  /** `close()` waits this long for requests in flight, then drops every connection. Default 10 s. */
  shutdownMs: number;
}

export const DEFAULT_TIMEOUTS: Readonly<ServerTimeouts> = Object.freeze({
  handshakeMs: 10_000,
  headersMs: 10_000,
  requestMs: 30_000,
  keepAliveMs: 5_000,
  shutdownMs: 10_000,
});

export const DEFAULT_PORT = 8443;
export const DEFAULT_HOST = '127.0.0.1';

export interface MtlsServerOptions {
  /** The CA directory; supplies every file below that is not given explicitly. */
  dir?: string;
  /** Server certificate PEM; default `<dir>/server/server.crt`. */
  certFile?: string;
  /** Server private key, unencrypted PEM; default `<dir>/server/server.key`. */
  keyFile?: string;
  /** CA certificate(s) that client certificates must chain to; default `<dir>/ca/ca.crt`. */
  caFile?: string;
  /** users.json; default `<dir>/users.json`. */
  usersFile?: string;
  /**
   * The CA's CRL (PEM or DER); default `<dir>/ca/crl.pem`, used when present. It must be signed by a CA in
   * `caFile`. It is watched: a new CRL applies to new connections within 2 s, and open connections whose
   * certificate it revokes are closed. A file given here explicitly must exist at start.
   */
  crlFile?: string;
  /** Default true: apply a changed CRL file on its own. False: only {@link MtlsServer.reload} (SIGHUP) reads it. */
  watchCrl?: boolean;
  /** Address to bind; default `127.0.0.1` (the CLI passes its own). `0.0.0.0` or `::` for all interfaces. */
  host?: string;
  /** TCP port; default 8443 as in the tutorial; 0 picks a free port. */
  port?: number;
  /** Default `need`. */
  clientAuth?: ClientAuth;
  /** Default `text`. */
  logFormat?: LogFormat;
  /** Receives each log line; default stdout. */
  log?: LogSink;
  /** Overrides for {@link DEFAULT_TIMEOUTS}. */
  timeouts?: Partial<ServerTimeouts>;
  /** Replaces the customer API, e.g. to embed another app behind the same mTLS front. */
  handler?: RequestListener;
}

export interface ListenAddress {
  host: string;
  port: number;
  /** `https://host:port`, with `localhost` for a wildcard address. */
  url: string;
}

export interface MtlsServer {
  readonly server: https.Server;
  readonly logger: ServerLogger;
  /** The timeouts in force (defaults merged with the options). */
  readonly timeouts: Readonly<ServerTimeouts>;
  /** Binds and resolves with the actual address (useful with port 0). */
  listen(): Promise<ListenAddress>;
  /**
   * Re-reads certificate, key, CA and CRL and applies them together to new connections. If a new file is
   * broken (a CRL included) the promise rejects and the server keeps all the old ones. Open connections keep
   * the context they started with, except that those whose certificate the CRL revokes are closed.
   */
  reload(): Promise<void>;
  /** The CRL in force, if any: its number and next update, for health checks and tests. */
  crl(): { file: string; crlNumber: bigint; nextUpdate: Date; revoked: number } | undefined;
  /**
   * Stops accepting, lets requests in flight finish, closes idle keep-alive connections, and drops whatever
   * is still open after `timeouts.shutdownMs`. Safe to call more than once.
   */
  close(): Promise<void>;
}

/*
 * Per-request state lives in symbol-keyed slots on objects that exist anyway (a response, its connection),
 * not in a Set of responses and a once() listener per response: with those, createMtlsServer + app took
 * 190 µs of CPU per keep-alive request, without them 159 (bench/README.md, item 5).
 */
const ARRIVAL_START = Symbol('arrivalStart');
const ARRIVAL_URL = Symbol('arrivalUrl');
const LATEST_RESPONSE = Symbol('latestResponse');

/** A response with what its access line needs from the request's arrival. */
interface LoggedResponse extends ServerResponse {
  [ARRIVAL_START]: number;
  [ARRIVAL_URL]: string;
}

/** A client connection, with the response of its latest request. */
interface ClientSocket extends TLSSocket {
  [LATEST_RESPONSE]?: ServerResponse;
}

/**
 * The certificate a connection's handshake accepted, if any: the verdict checkPeer cached on the socket in
 * the `secureConnection` listener (revocation included), read back.
 */
function acceptedPeer(socket: TlsPeer): PeerCertificate | undefined {
  const peer = checkPeer(socket);
  return peer.ok ? peer.certificate : undefined;
}

function resolveFiles(o: MtlsServerOptions): TlsFiles & { usersFile: string; crlFile?: string } {
  const l = o.dir === undefined ? undefined : layout(o.dir);
  const certFile = o.certFile ?? l?.server().cert;
  const keyFile = o.keyFile ?? l?.server().key;
  const caFile = o.caFile ?? l?.caCert;
  const usersFile = o.usersFile ?? l?.users;
  const missing = Object.entries({ certFile, keyFile, caFile, usersFile })
    .filter(([, v]) => v === undefined)
    .map(([k]) => k);
  if (missing.length > 0) {
    throw new MtlsCaError(
      'INVALID_ARGUMENT',
      `start server: no CA directory and no ${missing.join(', ')} given`,
      'pass the CA directory (dir) or every file explicitly',
    );
  }
  const crlFile = o.crlFile ?? l?.crl;
  return { certFile: certFile!, keyFile: keyFile!, caFile: caFile!, usersFile: usersFile!, crlFile };
}

function resolveTimeouts(overrides: Partial<ServerTimeouts> = {}): ServerTimeouts {
  const t = { ...DEFAULT_TIMEOUTS, ...overrides };
  for (const [name, v] of Object.entries(t)) {
    if (!Number.isInteger(v) || v <= 0) {
      throw new MtlsCaError(
        'INVALID_ARGUMENT',
        `use timeout ${name}=${v}: expected a whole number of ms above 0`,
      );
    }
  }
  // Node refuses a headers timeout longer than the request timeout.
  if (t.headersMs > t.requestMs) {
    throw new MtlsCaError(
      'INVALID_ARGUMENT',
      `use timeouts headersMs=${t.headersMs}, requestMs=${t.requestMs}: headers cannot take longer than the request`,
    );
  }
  return t;
}

function urlFor(host: string, port: number): string {
  const shown = host === '0.0.0.0' || host === '::' || host === '' ? 'localhost' : host;
  return `https://${shown.includes(':') ? `[${shown}]` : shown}:${port}`;
}

function clientAddress(socket: Socket): string | undefined {
  return socket.remoteAddress === undefined ? undefined : `${socket.remoteAddress}:${socket.remotePort}`;
}

function warnAboutValidity(material: TlsMaterial, files: TlsFiles, logger: ServerLogger): void {
  const state = material.certificate.validityAt();
  if (state !== 'valid') {
    logger.event(
      'warn',
      'server-certificate-invalid',
      `server certificate is ${state.replaceAll('-', ' ')}`,
      {
        file: files.certFile,
        notBefore: material.certificate.notBefore.toISOString(),
        notAfter: material.certificate.notAfter.toISOString(),
      },
    );
  }
}

/**
 * Builds (but does not start) the mTLS server. Reads and checks every file now, so a bad directory fails
 * before anything listens.
 * @throws MtlsCaError for missing or unreadable files, a key that does not match, a malformed users.json
 */
export function createMtlsServer(options: MtlsServerOptions): MtlsServer {
  const files = resolveFiles(options);
  const timeouts = resolveTimeouts(options.timeouts);
  const clientAuth = options.clientAuth ?? 'need';
  if (!CLIENT_AUTH_MODES.includes(clientAuth)) {
    throw new MtlsCaError(
      'INVALID_ARGUMENT',
      `use client auth ${JSON.stringify(clientAuth)}: expected need or want`,
    );
  }
  const host = options.host ?? DEFAULT_HOST;
  const port = options.port ?? DEFAULT_PORT;
  const logger = createLogger({ format: options.logFormat, sink: options.log });

  let material: TlsMaterial;
  try {
    material = loadTlsMaterial(files);
  } catch (e) {
    if (e instanceof MtlsCaError && e.code === 'NOT_FOUND' && options.dir !== undefined) {
      throw new MtlsCaError(
        e.code,
        e.message,
        `is ${options.dir} a CA directory? create one with \`mtls-ca init\``,
        e,
      );
    }
    throw e;
  }
  warnAboutValidity(material, files, logger);

  // The CRL in force, and the version of its file last looked at (each version is looked at once).
  const crlFile = files.crlFile;
  let crl: LoadedCrl | undefined;
  let crlSeen = crlFile === undefined ? MISSING : fileVersion(crlFile);
  // A missing default CRL is a CA directory from before revocation existed; a missing explicit one, a typo.
  if (crlFile !== undefined && (crlSeen !== MISSING || options.crlFile !== undefined)) {
    crl = readCrlFile(crlFile, material.caCertificates);
  }
  const users = openUserDirectory(files.usersFile, { logger });
  const handler = options.handler ?? createApp({ users, logger });

  let closing: Promise<void> | undefined;
  const closeIdle = () => server.closeIdleConnections();
  /** The access line of a response that ended or whose client went away. One function for every response. */
  function onResponseClose(this: LoggedResponse) {
    const socket = this.req.socket as ClientSocket;
    // An idle connection need not keep its last request and response alive.
    if (socket[LATEST_RESPONSE] === this) socket[LATEST_RESPONSE] = undefined;
    const url = this[ARRIVAL_URL];
    const q = url.indexOf('?');
    const ms = performance.now() - this[ARRIVAL_START];
    logger.access({
      // The arrival, on the wall clock.
      time: new Date(Date.now() - ms),
      // Only a verified name goes into the access log; an unverified one is attacker-chosen text.
      user: acceptedPeer(socket)?.user,
      method: this.req.method ?? '-',
      // The query string is dropped: tokens live there.
      path: q === -1 ? url : url.slice(0, q),
      status: this.statusCode,
      ms,
      aborted: !this.writableFinished,
    });
    // A keep-alive connection that just went idle during shutdown has nothing left to wait for.
    if (closing) setImmediate(closeIdle);
  }
  const connections = new Set<Socket>();
  /**
   * Connections that finished their handshake and were not refused: graceful close looks at their requests,
   * a new CRL at their certificates.
   */
  const clients = new Set<ClientSocket>();
  let crlWatch: FileWatch | undefined;
  let expiryAlarm: NodeJS.Timeout | undefined;

  const server = https.createServer(
    {
      ...secureContextOptions(material),
      requestCert: true,
      // Verification still happens; the verdict is applied below, where we can log it. See the file comment.
      rejectUnauthorized: false,
      handshakeTimeout: timeouts.handshakeMs,
      headersTimeout: timeouts.headersMs,
      requestTimeout: timeouts.requestMs,
      keepAliveTimeout: timeouts.keepAliveMs,
      // headersTimeout/requestTimeout are enforced by a sweep every connectionsCheckingInterval (default 30 s),
      // which would let a slowloris client hold a socket for up to 30 s past the limit.
      connectionsCheckingInterval: Math.min(1_000, Math.max(10, Math.floor(timeouts.headersMs / 4))),
    },
    (req: IncomingMessage, response: ServerResponse) => {
      const res = response as LoggedResponse;
      res[ARRIVAL_START] = performance.now();
      // Captured now: an app may rewrite req.url while routing.
      res[ARRIVAL_URL] = req.url ?? '/';
      (req.socket as ClientSocket)[LATEST_RESPONSE] = res;
      // `on`, not `once`: 'close' comes once, and once() wraps the listener anew for every response.
      res.on('close', onResponseClose);
      if (closing) res.setHeader('Connection', 'close');
      handler(req, res);
    },
  );
  server.keepAliveTimeout = timeouts.keepAliveMs;

  server.on('connection', (socket: Socket) => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
  });

  const refuse = (
    socket: TLSSocket,
    reason: UnauthorizedReason,
    detail: string | undefined,
    certificate: PeerCertificate | undefined,
  ) => {
    logger.event('warn', 'tls-refused', `refused client: ${reason}`, {
      reason,
      detail,
      client: clientAddress(socket),
      subject: certificate?.subject,
      issuer: certificate?.issuer,
      serial: certificate?.serial,
    });
    socket.destroy();
  };

  /** Revocation, applied to every certificate OpenSSL verified; see the file comment. */
  const revocation: PeerPolicy = (certificate) => {
    if (!crl || certificate.issuer !== crl.issuerName) return undefined;
    const now = Date.now();
    if (now >= crl.nextUpdateMs) return { reason: 'REVOCATION_UNAVAILABLE', detail: 'CRL_HAS_EXPIRED' };
    if (now < crl.thisUpdateMs) return { reason: 'REVOCATION_UNAVAILABLE', detail: 'CRL_NOT_YET_VALID' };
    if (crl.revokedSerials.has(certificate.serial)) return { reason: 'REVOKED', detail: 'CERT_REVOKED' };
    return undefined;
  };

  server.prependListener('secureConnection', (socket: TLSSocket) => {
    // The verdict is cached per socket; a renegotiation could swap the certificate behind it.
    socket.disableRenegotiation();
    const peer = checkPeer(socket, revocation);
    if (!peer.ok && clientAuth === 'need') {
      refuse(socket, peer.reason, peer.detail, peer.certificate);
      return;
    }
    clients.add(socket);
    socket.once('close', () => clients.delete(socket));
  });

  const describeCrl = (c: LoadedCrl) => ({
    file: c.file,
    crlNumber: c.crl.crlNumber.toString(),
    revoked: c.crl.revoked.length,
    nextUpdate: c.crl.nextUpdate.toISOString(),
  });

  /**
   * Logs a CRL with which every client of its CA is refused (its dates are checked on each handshake), and
   * arms an alarm for the moment a valid one expires: nobody reloads anything when that happens.
   */
  const checkCrlTime = (c: LoadedCrl) => {
    clearTimeout(expiryAlarm);
    const problem = crlTimeProblem(c.crl);
    if (problem === 'expired') {
      logger.event(
        'error',
        'crl-expired',
        `CRL expired at ${c.crl.nextUpdate.toISOString()}: every client certificate is refused (CRL_HAS_EXPIRED) until a fresh CRL is published`,
        { ...describeCrl(c), hint: 'run `mtls-ca crl` now, and daily from cron' },
      );
    } else if (problem === 'not-yet-valid') {
      logger.event(
        'error',
        'crl-not-yet-valid',
        `CRL is valid only from ${c.crl.thisUpdate.toISOString()}: every client certificate is refused (CRL_NOT_YET_VALID) until then`,
        { ...describeCrl(c), hint: "compare this server's clock with the CA machine's" },
      );
    } else {
      // setTimeout's limit is 2^31-1 ms (24.8 days); an earlier wake-up re-arms.
      const wait = Math.min(c.crl.nextUpdate.getTime() - Date.now() + 1, 2 ** 31 - 1);
      expiryAlarm = setTimeout(() => {
        if (crl === c && !closing) checkCrlTime(c);
      }, wait);
      expiryAlarm.unref();
    }
  };

  /** A certificate is checked only in the handshake: close the open connections this CRL revokes. */
  const closeRevokedConnections = (c: LoadedCrl) => {
    for (const socket of clients) {
      const peer = acceptedPeer(socket);
      if (socket.destroyed || !peer || !isRevoked(c, peer)) continue;
      logger.event(
        'warn',
        'revoked-connection-closed',
        'closed an open connection: its certificate was revoked',
        {
          user: peer.user,
          subject: peer.subject,
          serial: peer.serial,
          client: clientAddress(socket),
          crlNumber: c.crl.crlNumber.toString(),
        },
      );
      socket.destroy();
    }
  };

  // A new context for a new CRL too: it drops the session cache and ticket keys (see the file comment).
  const applyContext = (m: TlsMaterial) => {
    server.setSecureContext(secureContextOptions(m));
  };

  /** Watch event or poll tick: applies the CRL file if it changed and is good; else keeps the CRL in force. */
  const refreshCrl = () => {
    if (crlFile === undefined || closing) return;
    const version = fileVersion(crlFile);
    if (version === crlSeen) return;
    crlSeen = version;
    const keeping = crl ? `keeping CRL number ${crl.crl.crlNumber}` : 'no CRL is in force';
    if (version === MISSING) {
      // Deleting the CRL must not un-revoke anyone.
      if (crl) logger.event('warn', 'crl-missing', `CRL file removed; ${keeping}`, { file: crlFile });
      return;
    }
    let next: LoadedCrl;
    try {
      next = readCrlFile(crlFile, material.caCertificates);
      if (crl?.crl.der.equals(next.crl.der)) return;
      assertNotOlder(next, crl);
      applyContext(material);
    } catch (e) {
      logger.event('error', 'crl-rejected', `${(e as Error).message}; ${keeping}`, {
        file: crlFile,
        code: (e as MtlsCaError).code,
        hint: (e as MtlsCaError).hint,
      });
      return;
    }
    crl = next;
    logger.event('info', 'crl-loaded', `CRL number ${next.crl.crlNumber} applied`, describeCrl(next));
    checkCrlTime(next);
    closeRevokedConnections(next);
  };

  if (crl) {
    logger.event('info', 'crl-loaded', `CRL number ${crl.crl.crlNumber} loaded`, describeCrl(crl));
    checkCrlTime(crl);
  } else if (crlFile !== undefined) {
    logger.event('warn', 'crl-missing', 'no CRL: revocation is not checked until one appears', {
      file: crlFile,
      hint: 'write one with `mtls-ca crl`',
    });
  }
  server.once('close', () => {
    users.close();
    crlWatch?.close();
    clearTimeout(expiryAlarm);
  });

  server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
    // ECONNRESET is a client hanging up mid-handshake (port scanners, clients that reject our certificate).
    logger.event(err.code === 'ECONNRESET' ? 'info' : 'warn', 'tls-error', err.message.split('\n')[0]!, {
      code: err.code,
      client: clientAddress(socket),
    });
  });

  return {
    server,
    logger,
    timeouts,

    listen() {
      return new Promise<ListenAddress>((resolve, reject) => {
        const onError = (e: NodeJS.ErrnoException) => {
          const where = `${host}:${port}`;
          if (e.code === 'EADDRINUSE') {
            reject(
              new MtlsCaError(
                'IO_FAILED',
                `listen on ${where}: address already in use`,
                'stop the other server or pick another port',
                e,
              ),
            );
          } else if (e.code === 'EACCES') {
            reject(
              new MtlsCaError(
                'IO_FAILED',
                `listen on ${where}: permission denied`,
                'ports below 1024 need privileges; use 8443',
                e,
              ),
            );
          } else {
            reject(new MtlsCaError('IO_FAILED', `listen on ${where}: ${e.message}`, undefined, e));
          }
        };
        server.once('error', onError);
        server.listen({ host, port }, () => {
          server.off('error', onError);
          const address = server.address() as AddressInfo;
          const result = { host, port: address.port, url: urlFor(host, address.port) };
          logger.event('info', 'listening', `listening on ${result.url}`, { clientAuth });
          if (crlFile !== undefined && options.watchCrl !== false && !crlWatch)
            crlWatch = watchFile(crlFile, refreshCrl);
          resolve(result);
        });
      });
    },

    async reload() {
      let next: TlsMaterial;
      let nextCrl = crl;
      let nextSeen = crlSeen;
      try {
        next = loadTlsMaterial(files);
        if (crlFile !== undefined) {
          nextSeen = fileVersion(crlFile);
          if (nextSeen !== MISSING) {
            nextCrl = readCrlFile(crlFile, next.caCertificates);
            assertNotOlder(nextCrl, crl);
          } else if (nextCrl) {
            // A new CA without a CRL file: the old CA's CRL says nothing about its certificates.
            const old = nextCrl.crl;
            if (!next.caCertificates.some((ca) => old.isSignedBy(ca))) nextCrl = undefined;
          }
        }
        applyContext(next);
      } catch (e) {
        logger.event(
          'error',
          'reload-failed',
          `${(e as Error).message}; keeping the current certificate, key, CA and CRL`,
        );
        throw e;
      }
      if (crl && !nextCrl) {
        logger.event('warn', 'crl-missing', 'the CA changed and there is no CRL: revocation is not checked', {
          file: crlFile,
        });
      }
      material = next;
      crl = nextCrl;
      crlSeen = nextSeen;
      warnAboutValidity(material, files, logger);
      if (crl) {
        checkCrlTime(crl);
        closeRevokedConnections(crl);
      }
      logger.event(
        'info',
        'reloaded',
        crl ? 'certificate, key, CA and CRL reloaded' : 'certificate, key and CA reloaded',
        {
          serial: material.certificate.serialHex,
          notAfter: material.certificate.notAfter.toISOString(),
          crlNumber: crl?.crl.crlNumber.toString(),
        },
      );
    },

    crl() {
      return (
        crl && {
          file: crl.file,
          crlNumber: crl.crl.crlNumber,
          nextUpdate: crl.crl.nextUpdate,
          revoked: crl.crl.revoked.length,
        }
      );
    },

    close() {
      closing ??= new Promise<void>((resolve) => {
        // A request in flight gets its answer, then the connection closes (a pipelined one behind it too:
        // the connection ends after the latest response).
        for (const socket of clients) {
          const res = socket[LATEST_RESPONSE];
          if (res && !res.headersSent) res.setHeader('Connection', 'close');
        }
        const force = setTimeout(() => {
          logger.event('warn', 'shutdown-forced', `closing ${connections.size} connection(s) still open`);
          server.closeAllConnections();
          for (const socket of connections) socket.destroy();
        }, timeouts.shutdownMs);
        // Node >= 19 also closes idle keep-alive connections in close(); active ones close after their response.
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}

/**
 * The HTTPS server of the customer API: TLS 1.2+, our CA as the only trust anchor for client certificates,
 * Tomcat's `clientAuth=need|want`, hot reload of certificate/key/CA (on its own when the certificate or key
 * file is replaced), slowloris timeouts and graceful close.
 * Only this file opens a socket; the `serve` command calls {@link createMtlsServer} and `listen()`. The
 * concerns it composes live beside it: the CRL in force (crl-in-force.ts), the connections and the verdict
 * on each (connection.ts), the access log (access-log.ts), users.json (users.ts), the TLS files
 * (tls-context.ts).
 *
 * `need` is enforced by us, not by Node's `rejectUnauthorized`. With `rejectUnauthorized: true` Node destroys
 * a client whose certificate fails verification without telling the application which certificate or why,
 * so an operator cannot answer "why is pavel refused?". We run the TLS layer with `rejectUnauthorized: false`
 * and destroy unverified connections in a `secureConnection` listener, after logging reason and subject.
 * That listener must be *prepended*: https registers its own `secureConnection` listener in its constructor,
 * and once that has run, a TLS 1.3 client that sends its request in the same flight as its Finished message
 * gets the request parsed and dispatched to the app even though we destroy the socket (test
 * "a refused client's pipelined request never reaches the app"). A refused client sees the connection
 * close after the handshake, not a TLS alert (README.md, "What a client sees"): OpenSSL sends its
 * `certificate_required` alert to a client without a certificate only under `rejectUnauthorized: true`, and
 * then Node destroys unverified clients before this listener runs, so nobody could log whose certificate it
 * was; for a bad certificate Node sends no alert either way (it verifies in JavaScript, after the handshake).
 */

import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { MtlsCaError } from '../pki/errors.js';
import { createAccessLog } from './access-log.js';
import { createApp } from './app.js';
import { systemClock } from './clock.js';
import { acceptedPeer, Connections, connectionOf, judgePeer } from './connection.js';
import { CrlInForce, type CrlSummary, revokedBy, type StagedCrl } from './crl-in-force.js';
import { type FileWatch, fileVersion, watchFiles } from './file-watch.js';
import type { PeerCertificate, UnauthorizedReason } from './identity.js';
import { closeGracefully, type ListenAddress, listenOn, REFUSAL_STATUS } from './listen.js';
import { createLogger, type ServerLogger } from './log.js';
import type { LoadedCrls } from './revocation.js';
import {
  DEFAULT_HOST,
  DEFAULT_PORT,
  type MtlsServerOptions,
  resolveClientAuth,
  resolveFiles,
  resolveTimeouts,
  type ServerTimeouts,
} from './server-options.js';
import { loadTlsMaterial, secureContextOptions, type TlsFiles, type TlsMaterial } from './tls-context.js';
import { openUserDirectory } from './users.js';

export type { ListenAddress } from './listen.js';
export {
  CLIENT_AUTH_MODES,
  type ClientAuth,
  DEFAULT_HOST,
  DEFAULT_PORT,
  DEFAULT_TIMEOUTS,
  type MtlsServerOptions,
  type ServerTimeouts,
} from './server-options.js';

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
  crl(): CrlSummary | undefined;
  /**
   * Stops accepting, lets requests in flight finish, closes idle keep-alive connections, and drops whatever
   * is still open after `timeouts.shutdownMs`. Safe to call more than once.
   */
  close(): Promise<void>;
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

/** A reload whose files passed their checks and whose context is applied, not yet announced. */
interface PendingReload {
  material: TlsMaterial;
  crl: StagedCrl;
  /** The versions of the certificate and key files it read. */
  version: string;
}

/**
 * How often the server certificate and key files are stat'ed besides the directory watch, and how long a
 * burst of watch events (the store renames a key and then its certificate) settles before one look.
 */
const SERVER_FILES_POLL_MS = 1_000;
const SERVER_FILES_SETTLE_MS = 50;

/**
 * Builds (but does not start) the mTLS server. Reads and checks every file now, so a bad directory fails
 * before anything listens.
 * @throws MtlsCaError for missing or unreadable files, a key that does not match, a malformed users.json
 */
export function createMtlsServer(options: MtlsServerOptions): MtlsServer {
  const files = resolveFiles(options);
  const timeouts = resolveTimeouts(options.timeouts);
  const clientAuth = resolveClientAuth(options.clientAuth);
  const host = options.host ?? DEFAULT_HOST;
  const port = options.port ?? DEFAULT_PORT;
  const clock = options.clock ?? systemClock;
  const logger = createLogger({
    format: options.logFormat,
    sink: options.log,
    now: () => new Date(clock.now()),
    hints: options.eventHints,
  });

  /**
   * The versions of the certificate, key and CA files a reload would read now. The CA file changes when the
   * CAs in force do (`mtls-ca ca rotate` and `ca retire` rewrite ca/ca-bundle.pem, with the CRLs of the new
   * set, which only the new CAs can vouch for).
   */
  const serverFilesVersion = () =>
    `${fileVersion(files.certFile)}|${fileVersion(files.keyFile)}|${fileVersion(files.caFile)}`;
  /** Those of the certificate and key in force (taken before they were read). */
  let served = serverFilesVersion();
  let material: TlsMaterial;
  try {
    material = loadTlsMaterial(files);
  } catch (e) {
    if (e instanceof MtlsCaError && e.code === 'NOT_FOUND' && options.dir !== undefined) {
      throw new MtlsCaError(e.code, e.message, {
        cause: e,
        detail: { kind: 'not-a-ca-directory', dir: options.dir },
      });
    }
    throw e;
  }
  warnAboutValidity(material, files, logger);

  const connections = new Connections();
  const crl = new CrlInForce({
    file: files.crlFile,
    required: options.crlFile !== undefined,
    caCertificates: () => material.caCertificates,
    logger,
    // A new context for a new CRL too: it drops the session cache and ticket keys (crl-in-force.ts).
    renewContext: () => applyContext(material),
    closeRevoked: (c) => closeRevokedConnections(c),
    clock,
    renew: options.renewCrl,
    errorHint: options.errorHint ?? ((e) => e.hint),
  });
  const users = openUserDirectory(files.usersFile, { logger });
  const handler = options.handler ?? createApp({ users, logger });

  let closing: Promise<void> | undefined;
  const closeIdle = () => server.closeIdleConnections();
  const accessLog = createAccessLog(logger, () => {
    // A keep-alive connection that just went idle during shutdown has nothing left to wait for.
    if (closing) setImmediate(closeIdle);
  });

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
    (req: IncomingMessage, res: ServerResponse) => {
      accessLog.begin(req, res);
      if (closing) res.setHeader('Connection', 'close');
      handler(req, res);
    },
  );
  server.keepAliveTimeout = timeouts.keepAliveMs;

  server.on('connection', (socket: Socket) => connections.track(socket));

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

  server.prependListener('secureConnection', (socket: TLSSocket) => {
    // The verdict is given once, here; a renegotiation could swap the certificate behind it.
    socket.disableRenegotiation();
    const peer = judgePeer(socket, crl.policy);
    if (!peer.ok && clientAuth === 'need') {
      refuse(socket, peer.reason, peer.detail, peer.certificate);
      return;
    }
    connections.admit(socket);
  });

  /** A certificate is checked only in the handshake: close the open connections this CRL revokes. */
  const closeRevokedConnections = (c: LoadedCrls) => {
    for (const socket of connections.clients) {
      const peer = acceptedPeer(socket);
      if (socket.destroyed || !peer || !revokedBy(c, peer, socket)) continue;
      logger.event(
        'warn',
        'revoked-connection-closed',
        'closed an open connection: its certificate was revoked',
        {
          user: peer.user,
          subject: peer.subject,
          serial: peer.serial,
          client: clientAddress(socket),
          crlNumber: c.crls[0]?.crl.crlNumber.toString(),
        },
      );
      socket.destroy();
    }
  };

  const applyContext = (m: TlsMaterial) => {
    server.setSecureContext(secureContextOptions(m));
  };

  /**
   * Reads certificate, key, CA and CRL as they are now, checks them together and applies the new context to
   * new connections; throws, changing nothing, if any of them is broken.
   */
  const prepareReload = (version: string): PendingReload => {
    const next = loadTlsMaterial(files);
    const staged = crl.stage(next.caCertificates);
    applyContext(next);
    return { material: next, crl: staged, version };
  };

  const finishReload = (p: PendingReload, trigger?: string) => {
    material = p.material;
    served = p.version;
    warnAboutValidity(material, files, logger);
    crl.commit(p.crl);
    const c = crl.current;
    logger.event(
      'info',
      'reloaded',
      c ? 'certificate, key, CA and CRL reloaded' : 'certificate, key and CA reloaded',
      {
        trigger,
        serial: material.certificate.serialHex,
        notAfter: material.certificate.notAfter.toISOString(),
        crlNumber: c?.crls[0]?.crl.crlNumber.toString(),
      },
    );
  };

  const logReloadFailed = (e: unknown) => {
    logger.event(
      'error',
      'reload-failed',
      `${(e as Error).message}; keeping the current certificate, key, CA and CRL`,
      { code: (e as MtlsCaError).code },
    );
  };

  /** A version of the certificate and key files that failed to load, and the last one reported. */
  let failing: string | undefined;
  let reported: string | undefined;
  /**
   * Watch event or poll tick: reloads when the server certificate or key file was replaced (`mtls-ca renew
   * server`), or the CA file (`mtls-ca ca rotate`), as SIGHUP would. A pair caught in the middle of its replacement (the certificate renamed over,
   * the key not yet) fails to load for a moment, so a version is reported only when it still fails at the
   * next look, and once; the server keeps what it has meanwhile.
   */
  const reloadChangedServerFiles = () => {
    if (closing) return;
    const version = serverFilesVersion();
    if (version === served || version === reported) return;
    let pending: PendingReload;
    try {
      pending = prepareReload(version);
    } catch (e) {
      if (failing === version) {
        reported = version;
        logReloadFailed(e);
      }
      failing = version;
      return;
    }
    finishReload(pending, 'file-changed');
  };
  let serverFilesWatch: FileWatch | undefined;

  crl.announce();
  server.once('close', () => {
    users.close();
    crl.close();
    serverFilesWatch?.close();
  });

  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const connection = connectionOf(socket);
    // https re-emits a failed TLS handshake here; its own answer to one is destroying the socket.
    if (!connection) {
      socket.destroy(err);
      return;
    }
    // Node's own answer to a request its parser refuses, plus the access line: a status line, unless a
    // response on this connection has started (or one is queued behind another: its state is unknown).
    const current = connection.latestResponse;
    if (socket.writable && (!current || (current.socket === socket && !current.headersSent))) {
      const status = REFUSAL_STATUS[err.code ?? ''] ?? 400;
      socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\n\r\n`);
      accessLog.refused(socket, status);
    }
    socket.destroy(err);
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

    async listen() {
      const result = await listenOn(server, 'https', host, port);
      logger.event('info', 'listening', `listening on ${result.url}`, { clientAuth });
      if (options.watchCrl !== false) crl.watch();
      if (options.watchServerFiles !== false && !serverFilesWatch) {
        serverFilesWatch = watchFiles(
          [files.certFile, files.keyFile, files.caFile],
          reloadChangedServerFiles,
          {
            pollMs: SERVER_FILES_POLL_MS,
            settleMs: SERVER_FILES_SETTLE_MS,
          },
        );
      }
      return result;
    },

    async reload() {
      const version = serverFilesVersion();
      let pending: PendingReload;
      try {
        pending = prepareReload(version);
      } catch (e) {
        logReloadFailed(e);
        throw e;
      }
      finishReload(pending);
    },

    crl() {
      return crl.summary();
    },

    close() {
      if (!closing) {
        crl.close();
        serverFilesWatch?.close();
        // A request in flight gets its answer, then the connection closes (a pipelined one behind it too:
        // the connection ends after the latest response).
        for (const socket of connections.clients) {
          const res = connectionOf(socket)?.latestResponse;
          if (res && !res.headersSent) res.setHeader('Connection', 'close');
        }
        closing = closeGracefully(server, connections.sockets, timeouts.shutdownMs, logger);
      }
      return closing;
    },
  };
}

/**
 * What the servers share about their socket: binding it (with an error worded for whoever chose the
 * address), the URL they announce, the status Node's HTTP parser refuses a request with, and the graceful
 * close.
 */
import type { Server as HttpServer } from 'node:http';
import type { Server, Socket } from 'node:net';
import { MtlsCaError } from '../pki/errors.js';
import type { ServerLogger } from './log.js';

export interface ListenAddress {
  host: string;
  port: number;
  /** `https://host:port` or `http://host:port`, with `localhost` for a wildcard address. */
  url: string;
}

/** The status Node answers a request its HTTP parser refuses with, by error code; else 400. */
export const REFUSAL_STATUS: Readonly<Record<string, number>> = {
  HPE_HEADER_OVERFLOW: 431,
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 413,
  ERR_HTTP_REQUEST_TIMEOUT: 408,
};

function urlFor(scheme: 'http' | 'https', host: string, port: number): string {
  const shown = host === '0.0.0.0' || host === '::' || host === '' ? 'localhost' : host;
  return `${scheme}://${shown.includes(':') ? `[${shown}]` : shown}:${port}`;
}

/** The error of a failed listen(), worded for the person who chose the address. */
function listenError(e: NodeJS.ErrnoException, host: string, port: number): MtlsCaError {
  const where = `${host}:${port}`;
  if (e.code === 'EADDRINUSE') {
    return new MtlsCaError(
      'IO_FAILED',
      `listen on ${where}: address already in use`,
      'stop the other server or pick another port',
      e,
    );
  }
  if (e.code === 'EACCES') {
    return new MtlsCaError(
      'IO_FAILED',
      `listen on ${where}: permission denied`,
      'ports below 1024 need privileges; pick a port above 1024',
      e,
    );
  }
  return new MtlsCaError('IO_FAILED', `listen on ${where}: ${e.message}`, undefined, e);
}

/**
 * Binds `server` and resolves with the address it got (useful with port 0).
 * @throws MtlsCaError IO_FAILED (address in use, no permission, …)
 */
export function listenOn(
  server: Server,
  scheme: 'http' | 'https',
  host: string,
  port: number,
): Promise<ListenAddress> {
  return new Promise<ListenAddress>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => reject(listenError(e, host, port));
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      const { port: bound } = server.address() as { port: number };
      resolve({ host, port: bound, url: urlFor(scheme, host, bound) });
    });
  });
}

/**
 * Stops accepting, lets the requests in flight finish (Node >= 19 closes idle keep-alive connections in
 * close(); active ones close after their response), and drops whatever is still open after `shutdownMs`.
 * @param sockets - every connection of the server, for the forced end
 * @returns resolves once the server has closed
 */
export function closeGracefully(
  server: HttpServer,
  sockets: ReadonlySet<Socket>,
  shutdownMs: number,
  logger: ServerLogger,
): Promise<void> {
  return new Promise<void>((resolve) => {
    const force = setTimeout(() => {
      logger.event('warn', 'shutdown-forced', `closing ${sockets.size} connection(s) still open`);
      server.closeAllConnections();
      for (const socket of sockets) socket.destroy();
    }, shutdownMs);
    server.close(() => {
      clearTimeout(force);
      resolve();
    });
    server.closeIdleConnections();
  });
}

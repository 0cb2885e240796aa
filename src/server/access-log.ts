/**
 * The access log: one line per request, written by the server (not the app), so that it covers an embedded
 * handler too. It follows each request from its arrival to the end of its response — or to the client going
 * away first (`aborted`).
 *
 * Per request it keeps one small object in a symbol-keyed slot on the response, and every response shares
 * one `close` listener: a Set of in-flight responses and a `once` wrapper per response measurably slowed
 * keep-alive requests (docs/performance.md).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { acceptedPeer, connectionOf } from './connection.js';
import type { ServerLogger } from './log.js';

/** When a request arrived and what it asked for, as its access line will say. */
interface Arrival {
  /** performance.now() at arrival. */
  start: number;
  /** The URL as it arrived: an app may rewrite req.url while routing. */
  url: string;
}

const ARRIVAL = Symbol('mtlsCaArrival');

type LoggedResponse = ServerResponse & { [ARRIVAL]: Arrival };

export interface AccessLog {
  /**
   * Starts following a request: call it first thing in the request listener.
   * @param url - the URL to log, when not `req.url` (a long OCSP request in the path, shortened)
   */
  begin(req: IncomingMessage, res: ServerResponse, url?: string): void;
  /**
   * Logs the answer to a request Node's HTTP parser refused (400, 408, 413, 431): no request or response
   * object exists for it, so its method, path and duration are unknown (`-`).
   */
  refused(socket: Socket, status: number): void;
}

/**
 * @param logger - receives the access lines
 * @param afterResponse - called after each response's line, e.g. to close a connection that went idle
 */
export function createAccessLog(logger: ServerLogger, afterResponse: () => void): AccessLog {
  /** One function for every response: 'close' comes once, whether the response ended or the client left. */
  function onResponseClose(this: LoggedResponse) {
    const socket = this.req.socket;
    const connection = connectionOf(socket);
    // An idle connection need not keep its last request and response alive.
    if (connection?.latestResponse === this) connection.latestResponse = undefined;
    const { start, url } = this[ARRIVAL];
    const q = url.indexOf('?');
    const ms = performance.now() - start;
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
    afterResponse();
  }

  return {
    begin(req, response, url) {
      const res = response as LoggedResponse;
      res[ARRIVAL] = { start: performance.now(), url: url ?? req.url ?? '/' };
      const connection = connectionOf(req.socket);
      if (connection) connection.latestResponse = res;
      // `on`, not `once`: 'close' comes once, and once() wraps the listener anew for every response.
      res.on('close', onResponseClose);
    },

    refused(socket, status) {
      logger.access({
        time: new Date(),
        user: acceptedPeer(socket)?.user,
        method: '-',
        path: '-',
        status,
        ms: undefined,
      });
    },
  };
}

/**
 * What the server keeps about each client connection, in one typed object under one symbol, and the
 * server's sets of connections.
 *
 * The state sits in a symbol-keyed slot on the TLS socket, an object that exists anyway, rather than in a
 * WeakMap or a Map keyed by socket: every WeakMap entry is an ephemeron the garbage collector processes, and
 * a per-request Set of responses with a `once` listener each measurably slowed keep-alive requests
 * (docs/performance.md). One slot, one object of one shape, written only here.
 *
 * The verdict on a connection's client certificate is given once, by the server, in the handshake
 * ({@link judgePeer}, with the revocation policy); everything later reads it ({@link peerVerdict}), which
 * throws if nobody judged the connection — so an app mounted on some other server cannot mistake "not
 * checked for revocation" for "not revoked".
 */
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Identity, PeerCertificate, PeerCheck, PeerPolicy, TlsPeer } from './identity.js';
import { examinePeer } from './identity.js';

/** Everything the server keeps about one client connection. */
export interface ConnectionState {
  /** The handshake's verdict on the client certificate (revocation included). */
  readonly verdict: PeerCheck;
  /** The response of the connection's latest request, until it ends: graceful close marks it `Connection: close`. */
  latestResponse: ServerResponse | undefined;
  /** The caller of the latest authenticated request, reused while the user's users.json record is the same. */
  identity: Identity | undefined;
}

const STATE = Symbol('mtlsCaConnection');

type WithState = { [STATE]?: ConnectionState };

/**
 * Judges the client certificate of a connection that just finished its handshake, and keeps the verdict
 * on the socket. Only the server calls it, in its `secureConnection` listener, before anything reads the
 * connection; the server disables renegotiation, so the certificate cannot change afterwards.
 * @param socket - the TLS socket of the connection
 * @param policy - the server's own refusals of certificates OpenSSL verified (revocation)
 * @returns the verdict
 */
export function judgePeer(socket: TlsPeer, policy: PeerPolicy | undefined): PeerCheck {
  const verdict = examinePeer(socket, policy);
  (socket as WithState)[STATE] = { verdict, latestResponse: undefined, identity: undefined };
  return verdict;
}

/** The state of a judged connection; undefined for one the server never judged. */
export function connectionOf(socket: object): ConnectionState | undefined {
  return (socket as WithState)[STATE];
}

/**
 * The verdict the server gave the connection in its handshake.
 * @param socket - `req.socket`
 * @throws Error when the connection was never judged: the request did not come through createMtlsServer
 */
export function peerVerdict(socket: object): PeerCheck {
  const state = (socket as WithState)[STATE];
  if (!state) {
    throw new Error(
      'read the client certificate verdict: this connection was never judged (serve the app with createMtlsServer)',
    );
  }
  return state.verdict;
}

/** The certificate the handshake accepted, if the connection was judged and accepted. */
export function acceptedPeer(socket: object): PeerCertificate | undefined {
  const verdict = (socket as WithState)[STATE]?.verdict;
  return verdict?.ok ? verdict.certificate : undefined;
}

/** The connections of one server. */
export class Connections {
  /** Every TCP connection, handshake done or not: a forced shutdown destroys them all. */
  readonly sockets = new Set<Socket>();
  /**
   * Connections that finished their handshake and were not refused: graceful close looks at their latest
   * requests, a new CRL at their certificates.
   */
  readonly clients = new Set<TLSSocket>();

  /** Follows a new TCP connection until it closes. */
  track(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  /** Follows a connection whose handshake passed until it closes. */
  admit(socket: TLSSocket): void {
    this.clients.add(socket);
    socket.once('close', () => this.clients.delete(socket));
  }
}

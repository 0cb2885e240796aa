/**
 * The options of createMtlsServer: files, address, client authentication mode, timeouts; their defaults,
 * and their checks (a bad option fails before any file is read).
 */
import fs from 'node:fs';
import type { RequestListener } from 'node:http';
import { MtlsCaError } from '../pki/errors.js';
import { layout } from '../store/layout.js';
import type { Clock } from './clock.js';
import type { LogFormat, LogSink } from './log.js';
import type { TlsFiles } from './tls-context.js';

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
  /**
   * Server certificate PEM, followed by the intermediates to send with it; default
   * `<dir>/server/server.fullchain.pem` when the CA directory has one (its CA is an intermediate), else
   * `<dir>/server/server.crt`.
   */
  certFile?: string;
  /** Server private key, unencrypted PEM; default `<dir>/server/server.key`. */
  keyFile?: string;
  /**
   * CA certificate(s) that client certificates must chain to; default `<dir>/ca/ca-bundle.pem` (every CA in
   * force: the issuing CA, its root, a CA a rotation replaced), or `<dir>/ca/ca.crt` while the CA directory
   * has no bundle (made before it existed).
   */
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
  /**
   * Default true: reload on its own when the server certificate or key file is replaced (as `mtls-ca renew
   * server` does), or the CA file (as `mtls-ca ca rotate` does), keeping what it has if the new files are
   * unreadable or the pair is mismatched. False: only
   * {@link MtlsServer.reload} (SIGHUP) reads them.
   */
  watchServerFiles?: boolean;
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
  /**
   * A `hint` for event lines that carry none, by event name (`crl-expiring`): what to do next, in the words
   * of the program running the server — the CLI names its commands; a library user has other ones.
   */
  eventHints?: Readonly<Record<string, string>>;
  /**
   * The hint of an event line about an error (a CRL the server rejects): what to do, in the words of the
   * program running the server, from the error's code and {@link MtlsCaError.detail}. Default the error's own
   * hint.
   */
  errorHint?: (e: MtlsCaError) => string | undefined;
  /**
   * Publishes a fresh CRL file. The server calls it once half the lifetime of the CRL in force has passed
   * (or the CRL is out of date), and again every hour while no newer CRL comes into force; the file it
   * writes is read and checked like any other. It must not reject: it logs its own outcome. Default none:
   * the server only warns, from 48 h before the CRL's nextUpdate (crl-expiring).
   */
  renewCrl?: () => Promise<void>;
  /** The time of the CRL's date checks, the warnings and the renewal schedule; default the system clock. */
  clock?: Clock;
  /** Overrides for {@link DEFAULT_TIMEOUTS}. */
  timeouts?: Partial<ServerTimeouts>;
  /** Replaces the customer API, e.g. to embed another app behind the same mTLS front. */
  handler?: RequestListener;
}

/** The files the server reads: each given one, else its place in the CA directory. */
export function resolveFiles(o: MtlsServerOptions): TlsFiles & { usersFile: string; crlFile?: string } {
  const l = o.dir === undefined ? undefined : layout(o.dir);
  const certFile = o.certFile ?? (l && firstExisting(l.server().fullchain, l.server().cert));
  const keyFile = o.keyFile ?? l?.server().key;
  const caFile = o.caFile ?? l?.caBundle;
  // A directory made before ca-bundle.pem existed has ca.crt alone until a rotation writes the bundle.
  const caFallback = o.caFile === undefined ? l?.caCert : undefined;
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
  return {
    certFile: certFile!,
    keyFile: keyFile!,
    caFile: caFile!,
    ...(caFallback ? { caFallback } : {}),
    usersFile: usersFile!,
    crlFile,
  };
}

/**
 * The first of `files` that exists, else the last: a CA directory whose CA is its own root has no fullchain
 * file. Chosen at start.
 */
function firstExisting(...files: string[]): string {
  return files.find((f) => fs.existsSync(f)) ?? files[files.length - 1]!;
}

/** The timeouts in force: the defaults with `overrides` applied, checked. */
export function resolveTimeouts(overrides: Partial<ServerTimeouts> = {}): ServerTimeouts {
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

/** The client authentication mode, checked (a library caller may pass any string). */
export function resolveClientAuth(mode: string | undefined): ClientAuth {
  const clientAuth = (mode ?? 'need') as ClientAuth;
  if (!CLIENT_AUTH_MODES.includes(clientAuth)) {
    throw new MtlsCaError(
      'INVALID_ARGUMENT',
      `use client auth ${JSON.stringify(clientAuth)}: expected need or want`,
    );
  }
  return clientAuth;
}

/**
 * The customer API of the tutorial, with its Spring Security rules, as an Express 5 app. It never listens:
 * `mtls-server.ts` owns the socket. It trusts nothing but the verdict the server gave the connection in its
 * handshake (connection.ts) and reads it on every request, so even a `want`-mode server cannot let an
 * unverified or revoked client in.
 *
 * | route               | needs                  | answer                                   |
 * |---------------------|------------------------|------------------------------------------|
 * | GET /health         | nothing (see below)    | `{"status":"ok"}`                        |
 * | GET /whoami         | any user in users.json | user, roles and certificate details      |
 * | GET /customer/:id   | role `user`            | `{"id":1,"name":"Customer1"}`            |
 *
 * /health is public so that a load balancer can probe a `want`-mode server without a client certificate;
 * it says nothing about anyone. In `need` mode the TLS layer demands a certificate before any route runs.
 */
import express, {
  type ErrorRequestHandler,
  type Express,
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
} from 'express';
import { connectionOf, peerVerdict } from './connection.js';
import type { Identity, PeerCheck, UnauthorizedReason } from './identity.js';
import type { ServerLogger } from './log.js';
import { sendError, sendJson } from './responses.js';
import type { UserDirectory } from './users.js';

export interface AppOptions {
  /** users.json: who is known and their roles. */
  users: UserDirectory;
  /** Receives error events. (The access log is the server's: see createMtlsServer.) */
  logger: ServerLogger;
}

const UNAUTHORIZED_MESSAGES: Record<UnauthorizedReason, string> = {
  NO_CERTIFICATE: 'a client certificate is required and none was presented',
  UNTRUSTED: 'the client certificate was not issued by a CA this server trusts',
  EXPIRED: 'the client certificate has expired',
  NOT_YET_VALID: 'the client certificate is not valid yet',
  REVOKED: 'the client certificate has been revoked',
  WRONG_PURPOSE:
    'the certificate is not a client certificate (it is for another purpose, or a CA certificate)',
  REVOCATION_UNAVAILABLE:
    'the server cannot check revocation right now (its CRL is out of date); try again later',
};

/** The caller of a request that passed authentication. */
export function identityOf(res: Response): Identity | undefined {
  return res.locals.identity as Identity | undefined;
}

/** The headers of every answer: answers depend on who asks, so no shared cache may keep them. */
function setCommonHeaders(res: Response): void {
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Content-Type-Options', 'nosniff');
}

/**
 * Wraps a route that needs no certificate (/health): it only sets the headers of every answer.
 * Each wrapper is part of its route's own router layer: a separate `app.use` middleware would be one more
 * layer for every request to pass, and layers are most of Express's cost per request (docs/performance.md).
 */
function open(handler: RequestHandler): RequestHandler {
  return (req, res, next) => {
    setCommonHeaders(res);
    return handler(req, res, next);
  };
}

/**
 * Authenticates the caller: a certificate the server accepted in the handshake (else a 401 answer with the
 * reason) whose CN is in users.json (else 403). Sets the headers of every answer and `res.locals.identity`.
 * A request on a connection the server never judged (the app mounted on some other server) is answered
 * 500 and logged: nobody checked its certificate for revocation.
 * @returns an authenticate function: true when the caller may go on, false when it has been answered
 */
function authenticator(users: UserDirectory, logger: ServerLogger): (req: Request, res: Response) => boolean {
  return (req, res) => {
    setCommonHeaders(res);
    const socket = req.socket;
    let peer: PeerCheck;
    try {
      peer = peerVerdict(socket);
    } catch (e) {
      logger.event('error', 'peer-not-judged', (e as Error).message, {
        method: req.method,
        path: req.originalUrl.split('?')[0],
      });
      sendError(req, res, 500, { error: 'internal_error', message: 'internal server error' });
      return false;
    }
    if (!peer.ok) {
      // The same reason and detail as need mode logs: the client learns what to fix.
      sendError(req, res, 401, {
        error: 'unauthorized',
        reason: peer.reason,
        detail: peer.detail,
        message: UNAUTHORIZED_MESSAGES[peer.reason],
      });
      return false;
    }
    const user = peer.certificate.user;
    const record = user === undefined ? undefined : users.find(user);
    if (user === undefined || record === undefined) {
      sendError(req, res, 403, {
        error: 'forbidden',
        reason: 'UNKNOWN_USER',
        message: 'access denied',
        user,
      });
      return false;
    }
    const connection = connectionOf(socket)!;
    let identity = connection.identity;
    // Reused while the user's record is the same: users.json replaces every record when it changes (and two
    // apps on one server, reading different files, never share a record).
    if (identity?.roles !== record.roles) {
      identity = { ...peer.certificate, user, roles: record.roles };
      connection.identity = identity;
    }
    res.locals.identity = identity;
    return true;
  };
}

/**
 * Wraps a route (or the 404 fallback, so that an unauthenticated client cannot discover routes) in
 * authentication; see {@link authenticator}.
 */
function guarded(
  authenticate: (req: Request, res: Response) => boolean,
  handler: RequestHandler,
): RequestHandler {
  return (req, res, next) => {
    if (authenticate(req, res)) return handler(req, res, next);
  };
}

/**
 * Lets the request through only if the authenticated user has `role` (Spring's `@Secured("ROLE_USER")`).
 * @param role - a role name from users.json
 * @param handler - the route; with it, the check and the route are one router layer (each layer costs
 *   on every request), else the check is a middleware of its own
 */
export function requireRole(role: string, handler?: RequestHandler): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const identity = identityOf(res);
    if (identity?.roles.includes(role)) {
      if (handler) return handler(req, res, next);
      next();
      return;
    }
    sendError(req, res, 403, {
      error: 'forbidden',
      reason: 'MISSING_ROLE',
      message: `access denied: role ${role} required`,
      user: identity?.user,
    });
  };
}

const ID_PATTERN = /^[1-9][0-9]*$/;

/**
 * A customer id: a positive safe integer written plainly (no sign, exponent, leading zero or spaces).
 * @returns the number, or undefined when `text` is not one
 */
export function parseCustomerId(text: string): number | undefined {
  if (!ID_PATTERN.test(text)) return undefined;
  const id = Number(text);
  return Number.isSafeInteger(id) ? id : undefined;
}

function showValue(s: string): string {
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);
}

/**
 * Logs every error; tells the client the cause only for 4xx (a 5xx cause can reveal internals). A 4xx that
 * Express raised before any route ran (a malformed percent-escape in a route's parameter fails while the
 * router matches it) goes to a caller who has not been authenticated: they get the 401/403 first, so that
 * the answer reveals no route and an anonymous client cannot fill the log.
 */
function errorHandler(
  logger: ServerLogger,
  authenticate: (req: Request, res: Response) => boolean,
): ErrorRequestHandler {
  return (err, req, res, next) => {
    const e = err as { status?: unknown; statusCode?: unknown; message?: unknown; stack?: unknown };
    const raw = typeof e.status === 'number' ? e.status : e.statusCode;
    const status = typeof raw === 'number' && raw >= 400 && raw < 600 ? raw : 500;
    if (status < 500 && !res.headersSent && !identityOf(res) && !authenticate(req, res)) return;
    logger.event(status >= 500 ? 'error' : 'warn', 'request-failed', String(e.message ?? err), {
      method: req.method,
      path: req.originalUrl.split('?')[0],
      status,
      stack: status >= 500 && typeof e.stack === 'string' ? e.stack : undefined,
    });
    if (res.headersSent) {
      next(err);
      return;
    }
    setCommonHeaders(res);
    if (status < 500) {
      sendError(req, res, status, {
        error:
          status === 404
            ? 'not_found'
            : status === 401
              ? 'unauthorized'
              : status === 403
                ? 'forbidden'
                : 'bad_request',
        message: String(e.message ?? 'bad request'),
      });
    } else {
      sendError(req, res, 500, { error: 'internal_error', message: 'internal server error' });
    }
  };
}

/**
 * Builds the API. Serve it with createMtlsServer (its `handler` option, or the default), which judges every
 * connection's client certificate in the handshake, revocation included; on any other server every route
 * but /health answers 500 and logs `peer-not-judged`.
 */
export function createApp(options: AppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', false);
  const authenticate = authenticator(options.users, options.logger);

  // The main route first: the router tries routes in order.
  app.get(
    '/customer/:id',
    guarded(
      authenticate,
      requireRole('user', (req, res) => {
        const text = String(req.params.id);
        const id = parseCustomerId(text);
        if (id === undefined) {
          sendError(req, res, 400, {
            error: 'bad_request',
            message: `customer id must be a positive integer, got ${showValue(text)}`,
          });
          return;
        }
        sendJson(res, { id, name: `Customer${id}` });
      }),
    ),
  );

  app.get(
    '/whoami',
    guarded(authenticate, (_req, res) => {
      const id = identityOf(res)!;
      sendJson(res, {
        user: id.user,
        roles: id.roles,
        subject: id.subject,
        issuer: id.issuer,
        serial: id.serial,
        fingerprint256: id.fingerprint256,
        notBefore: id.notBefore.toISOString(),
        notAfter: id.notAfter.toISOString(),
      });
    }),
  );

  app.get(
    '/health',
    open((_req, res) => {
      sendJson(res, { status: 'ok' });
    }),
  );

  app.use(
    guarded(authenticate, (req, res) => {
      sendError(req, res, 404, {
        error: 'not_found',
        message: `no route for ${req.method} ${req.originalUrl.split('?')[0]}`,
      });
    }),
  );

  app.use(errorHandler(options.logger, authenticate));
  return app;
}

/**
 * The mTLS customer API: app, identity, users, logging, the HTTPS server and its cluster supervisor.
 * `judgePeer` is not here: only the server judges its connections (connection.ts).
 */
export { type AppOptions, createApp, identityOf, parseCustomerId, requireRole } from './app.js';
export { type Clock, systemClock } from './clock.js';
export { type ClusterOptions, runClustered, type WorkerControl } from './cluster.js';
export { peerVerdict } from './connection.js';
export {
  CRL_POLL_MS,
  CRL_REMINDER_MS,
  CRL_WARNING_MS,
  type CrlSummary,
  crlWarningTime,
} from './crl-in-force.js';
export {
  describePeerCertificate,
  type Identity,
  type PeerCertificate,
  type PeerCheck,
  reasonFor,
  type TlsPeer,
  type UnauthorizedReason,
} from './identity.js';
export type { ListenAddress } from './listen.js';
export {
  type AccessEntry,
  createLogger,
  LOG_FORMATS,
  type LogFields,
  type LogFormat,
  type LogLevel,
  type LogSink,
  type ServerLogger,
  stdoutSink,
  textValue,
} from './log.js';
export {
  CLIENT_AUTH_MODES,
  type ClientAuth,
  createMtlsServer,
  DEFAULT_HOST,
  DEFAULT_PORT,
  DEFAULT_TIMEOUTS,
  type MtlsServer,
  type MtlsServerOptions,
  type ServerTimeouts,
} from './mtls-server.js';
export { OCSP_ANSWER_CACHE_MS } from './ocsp-answer-cache.js';
export {
  type CertificateStatusSource,
  DEFAULT_RESPONSE_LIFETIME_MS,
  type OcspAnswer,
  OcspResponder,
  type ResponderFiles,
} from './ocsp-responder.js';
export {
  createPublishServer,
  DEFAULT_PUBLISH_PORT,
  MAX_OCSP_REQUEST_BYTES,
  type PublishServer,
  type PublishServerOptions,
} from './publish-server.js';
export { CRL_CONTENT_TYPE, PublishedCrl } from './published-crl.js';
export { type ErrorBody, escapeHtml, renderErrorPage, sendError, sendJson } from './responses.js';
export {
  assertNoneOlder,
  assertNotOlder,
  crlTimeProblem,
  type LoadedCrl,
  type LoadedCrls,
  readCaCrl,
  readCrlFile,
} from './revocation.js';
export {
  loadTlsMaterial,
  MIN_TLS_VERSION,
  secureContextOptions,
  type TlsFiles,
  type TlsMaterial,
} from './tls-context.js';
export { openUserDirectory, parseUsersFile, type UserDirectory, type UserRecord } from './users.js';

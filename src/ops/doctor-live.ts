/**
 * `doctor https://HOST:PORT`: why an mTLS connection to a server fails, from one connection (a TLS handshake
 * and one GET, doctor-probe.ts): the version and suite, the server's chain as sent and whether it verifies,
 * whether the server asks for a client certificate and from which CAs (read from the handshake itself,
 * src/tls/), what it did with ours — and a lint of our certificate against our CA and CRL, which names the
 * cause when the server only refuses. The result is a verdict code and the evidence, as data.
 */
import type { KeyObject } from 'node:crypto';
import tls from 'node:tls';
import { Certificate } from '../pki/certificate.js';
import type { Crl } from '../pki/crl.js';
import * as der from '../pki/der.js';
import { MtlsCaError } from '../pki/errors.js';
import { exportPrivateKeyPem, parsePrivateKey, subjectPublicKeyInfo } from '../pki/keys.js';
import { decodeName, formatName } from '../pki/names.js';
import { parsePkcs12 } from '../pki/pkcs12-read.js';
import type { CaStore } from '../store/ca-store.js';
import { readConversation } from '../tls/conversation.js';
import { cipherSuiteName, signatureSchemeName, versionName } from '../tls/messages.js';
import { parseKeyLog } from '../tls/record-protection.js';
import {
  type CertificateProblem,
  checkCertificate,
  checkServerChain,
  type ServerChainCheck,
} from './doctor-checks.js';
import { DEFAULT_TIMEOUTS, type ProbeResult, type ProbeTimeouts, probe } from './doctor-probe.js';
import { decide, type ServerReaction, type VerdictCode } from './doctor-verdict.js';

/** A client certificate with its key, ready to present. */
export interface ClientIdentity {
  certificate: Certificate;
  /** Certificates to send after it (intermediates); roots are left out, the server has its own. */
  chain: Certificate[];
  privateKey: KeyObject;
  /** Where it came from, for the evidence: a file, or the CA directory's name. */
  source: string;
}

/** Certificates and where they came from (`ssl/ca/ca.crt`, `--ca` file, Node's root certificates). */
export interface Sourced<T> {
  value: T;
  source: string;
}

export interface LiveOptions {
  /** `https://HOST[:PORT][/PATH]`; the path is the one GET's (default `/`). */
  url: string;
  /** The name to ask for (SNI) and to check the server's certificate against; default the URL's host. */
  servername?: string;
  client?: ClientIdentity;
  /** The CAs the server's certificate must chain to. */
  serverCa: Sourced<Certificate[]>;
  /** Our CA: the client certificate is linted against it. */
  ca?: Sourced<Certificate>;
  /** Our CA's CRL (checked to be signed by `ca`): a revoked client certificate shows. */
  crl?: Sourced<Crl>;
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
  timeouts?: ProbeTimeouts;
  now?: Date;
}

export interface CertificateFacts {
  subject: string;
  issuer: string;
  serial: string;
  notBefore: string;
  notAfter: string;
}

/** Everything the verdict rests on; the `--json` document's `evidence`. */
export interface Evidence {
  url: string;
  servername: string;
  /** `127.0.0.1:8443`, once connected. */
  address?: string;
  connect: { ok: boolean; ms: number; error?: string; timedOut?: boolean };
  /** The TLS versions the client offered. */
  offered: { min: string; max: string };
  tls?: { version: string; cipher: string; helloRetryRequest: boolean };
  /** The server's certificates exactly as sent, leaf first. */
  serverChain?: CertificateFacts[];
  serverCertificate?: ServerChainCheck & { trustedFrom: string; names: string[] };
  /** Undefined when the server's flight could not be read. */
  clientAuth?: { requested: boolean; caNames: string[]; signatureAlgorithms: string[] };
  clientCertificate?: CertificateFacts & {
    source: string;
    /** Whether its issuer (or an issuer up its chain) is among the CA names the server sent. */
    issuerAdvertised?: boolean;
    /** How many certificates went out in the client's Certificate message; undefined when unseen. */
    sent?: number;
    /** The lint against `checkedAgainst`. */
    problems: CertificateProblem[];
    checkedAgainst: { ca?: string; crl?: string };
  };
  reaction?: ServerReaction;
  /** Every alert seen, each way. */
  alerts: { from: 'server' | 'client'; alert: string }[];
  /** The error Node reported, when there was one (`ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE`). */
  tlsError?: string;
  /** The status line of the answer, when there was one. */
  answer?: { status: number; server?: string };
  /** Why part of the conversation could not be read. */
  unread?: { server?: string; client?: string };
  timings: { connectMs: number; handshakeMs?: number; totalMs: number };
}

export interface LiveDiagnosis {
  verdict: VerdictCode;
  evidence: Evidence;
}

/** The host, port and path of an https URL. */
export function parseTarget(url: string): { host: string; port: number; path: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new MtlsCaError(
      'INVALID_ARGUMENT',
      `use URL ${JSON.stringify(url)}: not a URL`,
      'write https://HOST:PORT',
    );
  }
  if (u.protocol !== 'https:') {
    throw new MtlsCaError(
      'INVALID_ARGUMENT',
      `use URL ${url}: the scheme is ${u.protocol.replace(':', '')}, and mutual TLS needs https`,
      'write https://HOST:PORT',
    );
  }
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port ? Number(u.port) : 443,
    path: `${u.pathname || '/'}${u.search}`,
  };
}

function facts(cert: Certificate): CertificateFacts {
  return {
    subject: cert.subjectName,
    issuer: cert.issuerName,
    serial: cert.serialHex,
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
  };
}

/** A DER Name as text; one our reader refuses (a server may send anything) as its hex. */
function nameText(name: Buffer): string {
  try {
    return formatName(decodeName(der.decode(name)));
  } catch {
    return `(undecodable name ${name.toString('hex')})`;
  }
}

function assertKeyMatches(certificate: Certificate, privateKey: KeyObject, what: string): void {
  if (!subjectPublicKeyInfo(privateKey).equals(certificate.spki)) {
    throw new MtlsCaError(
      'INVALID_ARGUMENT',
      `use ${what}: the key does not belong to the certificate ${certificate.subjectName}`,
      'give the key the certificate was issued for',
    );
  }
}

/** The certificates a client sends after its own: all but self-signed roots. */
function chainToSend(certificates: Certificate[]): Certificate[] {
  return certificates.filter((c) => !c.issuerDer.equals(c.subjectDer));
}

/**
 * A client identity from a PKCS#12 file (a `client_<name>.p12`, a browser export).
 * @param label - names the file in messages and the evidence
 */
export function clientFromPkcs12(data: Buffer, password: string, label: string): ClientIdentity {
  const p12 = parsePkcs12(data, password, label);
  const leaf = p12.certificates.find((c) => !c.trusted)?.certificate;
  if (!p12.privateKey || !leaf) {
    throw new MtlsCaError('INVALID_ARGUMENT', `use ${label}: it holds no key and certificate to present`);
  }
  const key = p12.privateKey;
  // The leaf is the certificate of the key, wherever the file put it.
  const own = p12.certificates.find((c) => subjectPublicKeyInfo(key).equals(c.certificate.spki))?.certificate;
  const certificate = own ?? leaf;
  assertKeyMatches(certificate, key, label);
  return {
    certificate,
    chain: chainToSend(p12.certificates.map((c) => c.certificate).filter((c) => c !== certificate)),
    privateKey: key,
    source: label,
  };
}

/**
 * A client identity from a certificate file (PEM, the leaf first and its chain after it, or DER) and an
 * unencrypted key file.
 */
export function clientFromFiles(
  cert: { data: Buffer; label: string },
  key: { data: Buffer; label: string },
): ClientIdentity {
  const text = cert.data.toString('latin1');
  const certificates = text.includes('-----BEGIN')
    ? Certificate.allFromPem(text, cert.label)
    : [Certificate.from(cert.data, cert.label)];
  if (certificates.length === 0) {
    throw new MtlsCaError('PARSE_FAILED', `read ${cert.label}: no certificate in it`);
  }
  const privateKey = parsePrivateKey(key.data, undefined, key.label);
  assertKeyMatches(certificates[0]!, privateKey, `${cert.label} with ${key.label}`);
  return {
    certificate: certificates[0]!,
    chain: chainToSend(certificates.slice(1)),
    privateKey,
    source: cert.label,
  };
}

/**
 * The identity of client `name` of the CA directory: its certificate and key, or, without the key (given to
 * the user), its `.p12` with the generated password beside it.
 */
export function clientFromStore(store: CaStore, name: string): ClientIdentity {
  const files = store.paths.client(name);
  const certificate = store.readCertificate(files.cert);
  const key = certificate ? store.readPrivateKey(files.key) : undefined;
  if (certificate && key) {
    assertKeyMatches(certificate, key, store.display(files.key));
    return { certificate, chain: [], privateKey: key, source: store.display(files.cert) };
  }
  const p12 = store.readArtifact(files.p12);
  const password = p12 && store.readGeneratedPassword(files.p12);
  if (p12 && password !== undefined) return clientFromPkcs12(p12, password, store.display(files.p12));
  throw new MtlsCaError(
    'NOT_FOUND',
    `use client ${name}: ${store.display(certificate ? files.key : files.cert)} is not there${p12 ? ', and its .p12 has no .pass beside it' : ''}`,
    { detail: { kind: 'unknown-certificate' } },
  );
}

/** `unknown_ca` from Node's `ERR_SSL_TLSV1_ALERT_UNKNOWN_CA`, when an error is an alert from the peer. */
export function alertOfNodeError(code: string | undefined): string | undefined {
  const m = /^ERR_SSL_(?:SSLV3|TLSV1|TLSV13)_ALERT_([A-Z_]+)$/.exec(code ?? '');
  return m ? m[1]!.toLowerCase() : undefined;
}

const VERSION_ERRORS = new Set([
  'ERR_SSL_UNSUPPORTED_PROTOCOL',
  'ERR_SSL_NO_PROTOCOLS_AVAILABLE',
  'ERR_SSL_WRONG_SSL_VERSION',
  'ERR_SSL_VERSION_TOO_LOW',
]);

/** nginx answers a refused certificate with a 400 page of its own (ngx_http_special_response.c). */
function nginxPage(body: string): 'certificate-error' | 'no-certificate' | undefined {
  if (body.includes('The SSL certificate error')) return 'certificate-error';
  if (body.includes('No required SSL certificate was sent')) return 'no-certificate';
  return undefined;
}

function reactionOf(p: ProbeResult, wireAlert: string | undefined): ServerReaction | undefined {
  const nodeAlert = alertOfNodeError(p.handshake.error?.code);
  if (wireAlert && wireAlert !== 'encrypted') return { kind: 'alert', alert: wireAlert };
  if (nodeAlert) return { kind: 'alert', alert: nodeAlert };
  if (p.answer) {
    const { status, body } = p.answer;
    const reaction: ServerReaction = { kind: 'http', status };
    const page = status === 400 ? nginxPage(body) : undefined;
    if (page) reaction.page = page;
    if (p.answer.headers['content-type']?.includes('json')) {
      try {
        const json = JSON.parse(body) as { reason?: unknown; detail?: unknown };
        if (typeof json.reason === 'string') reaction.reason = json.reason;
        if (typeof json.detail === 'string') reaction.detail = json.detail;
      } catch {
        // not JSON after all: the status says enough
      }
    }
    return reaction;
  }
  // A TLS 1.2 alert after the ChangeCipherSpec cannot be read: without an answer, it ended the connection.
  if (wireAlert) return { kind: 'alert', alert: wireAlert };
  if (p.ending === 'timeout') return p.connect.ok ? { kind: 'silent' } : undefined;
  return p.connect.ok ? { kind: 'closed', how: p.ending === 'reset' ? 'reset' : 'fin' } : undefined;
}

/** Runs the diagnosis. Rejects only for a bad URL; everything the server does is in the result. */
export async function diagnose(o: LiveOptions): Promise<LiveDiagnosis> {
  const now = o.now ?? new Date();
  const target = parseTarget(o.url);
  const servername = o.servername ?? target.host;
  const client = o.client;
  const p = await probe({
    host: target.host,
    port: target.port,
    servername,
    path: target.path,
    ...(client
      ? {
          client: {
            certificatePem: [client.certificate, ...client.chain].map((c) => c.toPem()).join(''),
            keyPem: exportPrivateKeyPem(client.privateKey),
          },
        }
      : {}),
    minVersion: o.minVersion,
    maxVersion: o.maxVersion,
    timeouts: o.timeouts ?? DEFAULT_TIMEOUTS,
  });
  const c = readConversation({ client: p.clientBytes, server: p.serverBytes, keyLog: parseKeyLog(p.keyLog) });
  const hello = c.server.hello;

  const alerts = [
    ...c.server.alerts.map((a) => ({ from: 'server' as const, alert: a.name })),
    ...c.client.alerts.map((a) => ({ from: 'client' as const, alert: a.name })),
  ];

  let chain: Certificate[] | undefined;
  let chainCheck: ServerChainCheck | undefined;
  if (c.server.certificates?.length) {
    chain = c.server.certificates.map((d) => new Certificate(d, 'the server certificate'));
    chainCheck = checkServerChain(chain, o.serverCa.value, servername, now);
  }

  const request = c.server.certificateRequest;
  const requested = request ? true : c.server.flightComplete ? false : undefined;
  let issuerAdvertised: boolean | undefined;
  let problems: CertificateProblem[] = [];
  if (client) {
    const issuers = [client.certificate, ...client.chain].map((x) => x.issuerDer);
    if (request && request.caNames.length > 0) {
      issuerAdvertised = issuers.some((i) => request.caNames.some((n) => n.equals(i)));
    }
    problems = checkCertificate(client.certificate, 'client', { ca: o.ca?.value, crl: o.crl?.value, now });
  }

  const wireAlert = c.server.alerts.find((a) => a.name !== 'close_notify')?.name;
  const reaction = reactionOf(p, wireAlert);
  const verdict = decide({
    connected: p.connect.ok,
    notTls: c.notTls,
    serverHello: hello !== undefined,
    versionRefused:
      alerts.some((a) => a.alert === 'protocol_version') ||
      VERSION_ERRORS.has(p.handshake.error?.code ?? '') ||
      alertOfNodeError(p.handshake.error?.code) === 'protocol_version',
    versionsLimited: o.minVersion !== undefined || o.maxVersion !== undefined,
    serverTrust: chainCheck?.trust,
    nameMatches: chainCheck?.nameMatches,
    requested,
    clientGiven: client !== undefined,
    issuerAdvertised,
    reaction,
    problems,
  });

  // In the order of the connection: where, TLS, the server's chain, its request, our certificate, its answer.
  const san = chain?.[0]?.subjectAltNames;
  const evidence: Evidence = {
    url: o.url,
    servername,
    ...(p.connect.ok ? { address: p.connect.address } : {}),
    connect: p.connect.ok
      ? { ok: true, ms: p.connect.ms }
      : { ok: false, ms: p.connect.ms, error: p.connect.code, timedOut: p.connect.timedOut },
    offered: { min: o.minVersion ?? tls.DEFAULT_MIN_VERSION, max: o.maxVersion ?? tls.DEFAULT_MAX_VERSION },
    ...(hello
      ? {
          tls: {
            version: versionName(hello.version),
            cipher: cipherSuiteName(hello.cipherSuite),
            helloRetryRequest: c.server.helloRetryRequest,
          },
        }
      : {}),
    ...(chain && chainCheck
      ? {
          serverChain: chain.map(facts),
          serverCertificate: {
            ...chainCheck,
            trustedFrom: o.serverCa.source,
            names: [...(san?.dns ?? []), ...(san?.ip ?? [])],
          },
        }
      : {}),
    ...(requested !== undefined
      ? {
          clientAuth: {
            requested,
            caNames: (request?.caNames ?? []).map(nameText),
            signatureAlgorithms: (request?.signatureAlgorithms ?? []).map(signatureSchemeName),
          },
        }
      : {}),
    ...(client
      ? {
          clientCertificate: {
            ...facts(client.certificate),
            source: client.source,
            ...(issuerAdvertised !== undefined ? { issuerAdvertised } : {}),
            ...(c.client.certificatesSent !== undefined ? { sent: c.client.certificatesSent } : {}),
            problems,
            checkedAgainst: {
              ...(o.ca ? { ca: o.ca.source } : {}),
              ...(o.crl ? { crl: o.crl.source } : {}),
            },
          },
        }
      : {}),
    ...(reaction ? { reaction } : {}),
    ...(p.answer
      ? {
          answer: {
            status: p.answer.status,
            ...(p.answer.headers.server ? { server: p.answer.headers.server } : {}),
          },
        }
      : {}),
    alerts,
    ...(p.handshake.error ? { tlsError: p.handshake.error.code ?? p.handshake.error.message } : {}),
    ...(c.server.unread || c.client.unread
      ? {
          unread: {
            ...(c.server.unread ? { server: c.server.unread } : {}),
            ...(c.client.unread ? { client: c.client.unread } : {}),
          },
        }
      : {}),
    timings: { connectMs: p.connect.ms, handshakeMs: p.handshake.ms, totalMs: p.totalMs },
  };
  return { verdict, evidence };
}

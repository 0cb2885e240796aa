/**
 * What each side of one captured TLS connection said, read from the raw bytes of both directions and the
 * connection's key log: the server's version and cipher suite, its certificate chain as sent, whether and
 * from which CAs it asked for a client certificate, what the client sent back, and every alert. TLS 1.2's
 * handshake is read in the clear up to the ChangeCipherSpec; TLS 1.3's is opened with the handshake and
 * application traffic secrets (record-protection.ts), so that an alert sent after the handshake — a TLS 1.3
 * server refusing a client certificate — is read too. Nothing here touches a socket.
 */
import { isMtlsCaError } from '../pki/errors.js';
import {
  alertName,
  type CertificateRequest,
  parseCertificate,
  parseCertificateRequest,
  parseServerHello,
  type ServerHello,
  TLS13,
} from './messages.js';
import { type KeyLogSecrets, RecordOpener, tls13Suite } from './record-protection.js';
import {
  ContentType,
  type HandshakeMessage,
  HandshakeReassembler,
  HandshakeType,
  parseAlert,
  splitRecords,
  type TlsRecord,
} from './records.js';

export interface SeenAlert {
  level: number;
  /** Undefined for a TLS 1.2 alert sent after the ChangeCipherSpec: encrypted under keys not derived here. */
  description?: number;
  /** `certificate_expired`, or `encrypted` when the description could not be read. */
  name: string;
}

export interface ServerSide {
  /** The ServerHello that settled the version and suite (after a HelloRetryRequest, the second one). */
  hello?: ServerHello;
  helloRetryRequest: boolean;
  /** The server's certificate chain as it was sent, leaf first, DER. */
  certificates?: Buffer[];
  /** The server's CertificateRequest; undefined when it asked for no client certificate. */
  certificateRequest?: CertificateRequest;
  /** The server finished its first flight: ServerHelloDone (TLS 1.2) or its Finished (TLS 1.3). */
  flightComplete: boolean;
  alerts: SeenAlert[];
  /** Application data records after the handshake: the server answered something. */
  applicationRecords: number;
  /** Why reading stopped before the last byte, when it did (a missing secret, bytes that are no TLS). */
  unread?: string;
}

export interface ClientSide {
  /** The certificates of the client's Certificate message (0: it sent an empty one); undefined if none seen. */
  certificatesSent?: number;
  alerts: SeenAlert[];
  unread?: string;
}

export interface Conversation {
  server: ServerSide;
  client: ClientSide;
  /** True when the server's first bytes are no TLS record (a plain HTTP server, say). */
  notTls: boolean;
}

/** The raw bytes each way and the key log of one connection. */
export interface Capture {
  /** Every byte the client sent, in order. */
  client: Buffer;
  /** Every byte the server sent, in order. */
  server: Buffer;
  /** The connection's secrets ({@link parseKeyLog}); TLS 1.3 needs them to read past the ServerHello. */
  keyLog: KeyLogSecrets;
}

/** Why a direction's reading stopped, in words for the evidence. */
function reason(e: unknown): string {
  if (isMtlsCaError(e)) return e.message;
  throw e;
}

/** An opener for the records under the key log's secret `label`, or why there is none. */
function openerFor(suite: number, keyLog: KeyLogSecrets, label: string): RecordOpener | string {
  const params = tls13Suite(suite);
  if (!params)
    return `the cipher suite 0x${suite.toString(16).padStart(4, '0')} is not one this reader opens`;
  const secret = keyLog.get(label);
  if (!secret) return `the key log has no ${label}`;
  return new RecordOpener(params, secret);
}

/** How one direction is read: what it hands on, and how its TLS 1.3 records are opened. */
interface DirectionReader {
  message(m: HandshakeMessage): void;
  alert(a: SeenAlert): void;
  application(): void;
  /** The version and suite the ServerHello settled on, once it has been read. */
  negotiated(): ServerHello | undefined;
  /** After each plaintext record under TLS 1.3: whether this side encrypts from the next record on. */
  protectsNext(): boolean;
  /** Key log labels of this side's handshake and application traffic secrets. */
  secrets: { handshake: string; application: string };
}

/**
 * Reads one direction: hands each handshake message and alert on, opening TLS 1.3 records with the side's
 * secrets. The key moves from the handshake secret to the application secret after the record that ends the
 * side's Finished (RFC 8446 §5.1: a key change falls on a record boundary).
 * @returns why reading stopped early, or undefined when every byte was read
 */
function readDirection(bytes: Buffer, keyLog: KeyLogSecrets, on: DirectionReader): string | undefined {
  let records: TlsRecord[];
  let rest: Buffer;
  try {
    ({ records, rest } = splitRecords(bytes));
  } catch (e) {
    return reason(e);
  }
  const handshake = new HandshakeReassembler();
  let opener: RecordOpener | undefined;
  /** The secret the next protected record is under, when the key has changed since the last one. */
  let keyChange: string | undefined;
  let tls12Protected = false;
  let finished = false;
  for (const record of records) {
    let type = record.type;
    let content = record.fragment;
    if (tls12Protected) {
      // TLS 1.2 after ChangeCipherSpec: the record type shows, its content is encrypted.
      if (type === ContentType.alert) on.alert({ level: 0, name: 'encrypted' });
      if (type === ContentType.applicationData) on.application();
      continue;
    }
    const negotiated = on.negotiated();
    const tls13 =
      negotiated !== undefined && negotiated.version >= TLS13 ? negotiated.cipherSuite : undefined;
    if (type === ContentType.changeCipherSpec) {
      // In TLS 1.2 encryption starts after it. TLS 1.3 sends one for middlebox compatibility only (§D.4),
      // after a HelloRetryRequest too, before the ServerHello that settles the version.
      if (negotiated !== undefined && tls13 === undefined) tls12Protected = true;
      continue;
    }
    // An alert is in the clear when its side has no keys yet (a client refusing the ServerHello).
    if (type === ContentType.applicationData && tls13 !== undefined) {
      if (keyChange) {
        const o = openerFor(tls13, keyLog, keyChange);
        if (typeof o === 'string') return o;
        opener = o;
        keyChange = undefined;
      }
      if (!opener) return 'a protected record came before its keys';
      try {
        ({ type, content } = opener.open(record));
      } catch (e) {
        return reason(e);
      }
    }
    try {
      if (type === ContentType.handshake) {
        for (const m of handshake.push(content)) {
          on.message(m);
          if (m.type === HandshakeType.finished) finished = true;
        }
      } else if (type === ContentType.alert) {
        const a = parseAlert(content);
        on.alert({ ...a, name: alertName(a.description) });
      } else if (type === ContentType.applicationData) {
        on.application();
      }
    } catch (e) {
      return reason(e);
    }
    if (on.negotiated() === undefined || on.negotiated()!.version < TLS13) continue;
    if (!opener && !keyChange && on.protectsNext()) keyChange = on.secrets.handshake;
    else if (opener && finished && !handshake.midMessage) {
      finished = false;
      keyChange = on.secrets.application;
    }
  }
  if (rest.length > 0) return `the last record is cut off (${rest.length} bytes of it were captured)`;
  return undefined;
}

/**
 * Reads a captured connection. Never throws for what the peers sent: whatever cannot be read is reported in
 * `unread`, with everything read before it.
 */
export function readConversation(capture: Capture): Conversation {
  const server: ServerSide = {
    helloRetryRequest: false,
    flightComplete: false,
    alerts: [],
    applicationRecords: 0,
  };
  const notTls =
    capture.server.length > 0 &&
    !(capture.server[0]! >= ContentType.changeCipherSpec && capture.server[0]! <= ContentType.heartbeat);
  const version = () => server.hello?.version;
  const negotiated = () => server.hello;
  let serverHelloRead = false;
  server.unread = notTls
    ? 'the server sent no TLS record'
    : readDirection(capture.server, capture.keyLog, {
        message(m) {
          const v = version();
          if (m.type === HandshakeType.serverHello) {
            const hello = parseServerHello(m.body);
            if (hello.helloRetryRequest) server.helloRetryRequest = true;
            else {
              server.hello = hello;
              serverHelloRead = true;
            }
          } else if (v === undefined) {
            return;
          } else if (m.type === HandshakeType.certificate) {
            server.certificates = parseCertificate(m.body, v);
          } else if (m.type === HandshakeType.certificateRequest) {
            server.certificateRequest = parseCertificateRequest(m.body, v);
          } else if (m.type === HandshakeType.serverHelloDone || m.type === HandshakeType.finished) {
            server.flightComplete = true;
          }
        },
        alert: (a) => server.alerts.push(a),
        application: () => {
          server.applicationRecords++;
        },
        negotiated,
        // The server encrypts everything after its ServerHello.
        protectsNext: () => serverHelloRead,
        secrets: { handshake: 'SERVER_HANDSHAKE_TRAFFIC_SECRET', application: 'SERVER_TRAFFIC_SECRET_0' },
      });

  const client: ClientSide = { alerts: [] };
  // The client encrypts from the record after its last ClientHello (the second one after a
  // HelloRetryRequest), the compatibility ChangeCipherSpec aside.
  let clientHellos = 0;
  client.unread =
    capture.client.length === 0
      ? undefined
      : readDirection(capture.client, capture.keyLog, {
          message(m) {
            const v = version();
            if (m.type === HandshakeType.clientHello) clientHellos++;
            else if (m.type === HandshakeType.certificate && v !== undefined)
              client.certificatesSent = parseCertificate(m.body, v).length;
          },
          alert: (a) => client.alerts.push(a),
          application: () => {},
          negotiated,
          protectsNext: () => clientHellos >= (server.helloRetryRequest ? 2 : 1),
          secrets: { handshake: 'CLIENT_HANDSHAKE_TRAFFIC_SECRET', application: 'CLIENT_TRAFFIC_SECRET_0' },
        });
  return { server, client, notTls };
}

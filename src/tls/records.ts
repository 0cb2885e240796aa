/**
 * The TLS record layer as seen on the wire (RFC 8446 §5.1, RFC 5246 §6.2): one direction of a connection is
 * a stream of records — a content type, a legacy version, a length and a fragment — and handshake messages
 * run across record boundaries (a certificate chain rarely fits in one).
 */
import { MtlsCaError } from '../pki/errors.js';
import { WireReader } from './wire.js';

export const ContentType = {
  changeCipherSpec: 20,
  alert: 21,
  handshake: 22,
  applicationData: 23,
  heartbeat: 24,
} as const;

export const HandshakeType = {
  helloRequest: 0,
  clientHello: 1,
  serverHello: 2,
  newSessionTicket: 4,
  endOfEarlyData: 5,
  encryptedExtensions: 8,
  certificate: 11,
  serverKeyExchange: 12,
  certificateRequest: 13,
  serverHelloDone: 14,
  certificateVerify: 15,
  clientKeyExchange: 16,
  finished: 20,
  keyUpdate: 24,
} as const;

/** A record's fragment may be at most 2^14 bytes, plus 256 of AEAD expansion when protected (§5.2). */
const MAX_FRAGMENT = 16_384 + 256;

export interface TlsRecord {
  type: number;
  /** legacy_record_version: 0x0301 in a first ClientHello, 0x0303 after it, whatever the version. */
  version: number;
  /** The 5-byte header, which TLS 1.3 authenticates as the additional data of the AEAD (§5.2). */
  header: Buffer;
  fragment: Buffer;
}

/**
 * The whole records at the start of `bytes`, and what follows them: a record cut off by the end of the
 * capture (the peer closed mid-record, or the capture stopped).
 * @throws MtlsCaError PARSE_FAILED when the bytes are not TLS records at all (an HTTP answer to a
 *   ClientHello, say): an unknown content type or an impossible length
 */
export function splitRecords(bytes: Buffer): { records: TlsRecord[]; rest: Buffer } {
  const records: TlsRecord[] = [];
  let at = 0;
  while (bytes.length - at >= 5) {
    const type = bytes[at]!;
    const version = bytes.readUInt16BE(at + 1);
    const length = bytes.readUInt16BE(at + 3);
    if (type < ContentType.changeCipherSpec || type > ContentType.heartbeat || bytes[at + 1] !== 3) {
      throw new MtlsCaError(
        'PARSE_FAILED',
        `read TLS records: byte ${at} starts no TLS record (0x${bytes.subarray(at, at + 5).toString('hex')})`,
      );
    }
    if (length > MAX_FRAGMENT) {
      throw new MtlsCaError('PARSE_FAILED', `read TLS records: a record of ${length} bytes at byte ${at}`);
    }
    if (bytes.length - at - 5 < length) break;
    records.push({
      type,
      version,
      header: bytes.subarray(at, at + 5),
      fragment: bytes.subarray(at + 5, at + 5 + length),
    });
    at += 5 + length;
  }
  return { records, rest: bytes.subarray(at) };
}

export interface HandshakeMessage {
  type: number;
  body: Buffer;
}

/**
 * Joins handshake fragments into messages: records carry a stream of `type(1) length(3) body` messages,
 * split and coalesced freely (§5.1).
 */
export class HandshakeReassembler {
  #pending: Buffer = Buffer.alloc(0);

  /** Adds the content of one handshake record; returns the messages it completes, in order. */
  push(content: Buffer): HandshakeMessage[] {
    this.#pending = this.#pending.length === 0 ? content : Buffer.concat([this.#pending, content]);
    const out: HandshakeMessage[] = [];
    while (this.#pending.length >= 4) {
      const length = this.#pending.readUIntBE(1, 3);
      if (this.#pending.length < 4 + length) break;
      out.push({ type: this.#pending[0]!, body: this.#pending.subarray(4, 4 + length) });
      this.#pending = this.#pending.subarray(4 + length);
    }
    return out;
  }

  /** Whether a message has begun and not ended: a key change must not fall inside one (§5.1). */
  get midMessage(): boolean {
    return this.#pending.length > 0;
  }
}

/** An alert record's content: level (1 warning, 2 fatal) and description (§6). */
export function parseAlert(content: Buffer): { level: number; description: number } {
  const r = new WireReader(content, 'alert');
  const alert = { level: r.u8(), description: r.u8() };
  r.end();
  return alert;
}

/**
 * Opening TLS 1.3 records (RFC 8446 §5.2, §5.3, §7.3) with a traffic secret from a key log: everything a
 * TLS 1.3 server sends after its ServerHello — the CertificateRequest and the certificate chain among it, and
 * any alert — is encrypted. Node has no API for the CertificateRequest (nodejs/node#40008), but it hands
 * out the traffic secrets (`tlsSocket.on('keylog')`, NSS key log format), from which the record keys follow.
 */
import crypto from 'node:crypto';
import { MtlsCaError } from '../pki/errors.js';
import { ContentType, type TlsRecord } from './records.js';

/** How a TLS 1.3 cipher suite protects records: its AEAD and the hash of its key schedule (§B.4). */
export interface Tls13Suite {
  hash: 'sha256' | 'sha384';
  cipher: 'aes-128-gcm' | 'aes-256-gcm' | 'chacha20-poly1305';
  keyLength: number;
}

const SUITES = new Map<number, Tls13Suite>([
  [0x1301, { hash: 'sha256', cipher: 'aes-128-gcm', keyLength: 16 }],
  [0x1302, { hash: 'sha384', cipher: 'aes-256-gcm', keyLength: 32 }],
  [0x1303, { hash: 'sha256', cipher: 'chacha20-poly1305', keyLength: 32 }],
]);

/** The suite's parameters, or undefined for one this module cannot open (the CCM suites, off by default). */
export function tls13Suite(cipherSuite: number): Tls13Suite | undefined {
  return SUITES.get(cipherSuite);
}

const TAG_LENGTH = 16;
const IV_LENGTH = 12;

/** HKDF-Expand (RFC 5869 §2.3): `length` bytes from a pseudorandom key and `info`. */
function hkdfExpand(hash: string, prk: Buffer, info: Buffer, length: number): Buffer {
  const blocks: Buffer[] = [];
  let previous = Buffer.alloc(0);
  for (let i = 1; Buffer.concat(blocks).length < length; i++) {
    previous = crypto
      .createHmac(hash, prk)
      .update(Buffer.concat([previous, info, Buffer.from([i])]))
      .digest();
    blocks.push(previous);
  }
  return Buffer.concat(blocks).subarray(0, length);
}

/**
 * HKDF-Expand-Label (RFC 8446 §7.1): HKDF-Expand over `uint16 length, opaque label<7..255> = "tls13 " +
 * label, opaque context<0..255>`.
 * @param hash - the cipher suite's hash
 * @param secret - the secret to expand
 * @param label - without the `tls13 ` prefix (`key`, `iv`)
 * @param context - the context value (empty for traffic keys)
 * @param length - how many bytes to derive
 */
export function hkdfExpandLabel(
  hash: string,
  secret: Buffer,
  label: string,
  context: Buffer,
  length: number,
): Buffer {
  const fullLabel = Buffer.from(`tls13 ${label}`, 'latin1');
  const info = Buffer.concat([
    Buffer.from([length >> 8, length & 0xff, fullLabel.length]),
    fullLabel,
    Buffer.from([context.length]),
    context,
  ]);
  return hkdfExpand(hash, secret, info, length);
}

/** The write key and IV of a traffic secret (RFC 8446 §7.3). */
export function trafficKeys(suite: Tls13Suite, secret: Buffer): { key: Buffer; iv: Buffer } {
  return {
    key: hkdfExpandLabel(suite.hash, secret, 'key', Buffer.alloc(0), suite.keyLength),
    iv: hkdfExpandLabel(suite.hash, secret, 'iv', Buffer.alloc(0), IV_LENGTH),
  };
}

/** One direction's records under one traffic secret: each record's nonce is the IV XOR its sequence number. */
export class RecordOpener {
  readonly #suite: Tls13Suite;
  readonly #key: Buffer;
  readonly #iv: Buffer;
  #sequence = 0n;

  /**
   * @param suite - the negotiated suite ({@link tls13Suite})
   * @param secret - the traffic secret (a key log's `SERVER_HANDSHAKE_TRAFFIC_SECRET`, …)
   */
  constructor(suite: Tls13Suite, secret: Buffer) {
    this.#suite = suite;
    ({ key: this.#key, iv: this.#iv } = trafficKeys(suite, secret));
  }

  /**
   * Decrypts the next protected record (§5.2): its header is the additional data, and the plaintext ends in
   * the real content type followed by zero padding.
   * @returns the content type and content
   * @throws MtlsCaError BAD_SIGNATURE when the record does not authenticate (a wrong secret or a record
   *   that is not the next one under this key), PARSE_FAILED when it is not a protected record
   */
  open(record: TlsRecord): { type: number; content: Buffer } {
    if (record.type !== ContentType.applicationData || record.fragment.length < TAG_LENGTH + 1) {
      throw new MtlsCaError('PARSE_FAILED', 'open TLS 1.3 record: not a protected record');
    }
    const nonce = Buffer.from(this.#iv);
    for (let i = 0, s = this.#sequence; i < 8; i++, s >>= 8n) nonce[IV_LENGTH - 1 - i]! ^= Number(s & 0xffn);
    this.#sequence++;
    const ciphertext = record.fragment.subarray(0, -TAG_LENGTH);
    let plain: Buffer;
    try {
      // Every TLS 1.3 AEAD has a 16-byte tag; the GCM type stands for ChaCha20-Poly1305's identical API.
      const decipher = crypto.createDecipheriv(this.#suite.cipher as 'aes-128-gcm', this.#key, nonce, {
        authTagLength: TAG_LENGTH,
      });
      decipher.setAAD(record.header, { plaintextLength: ciphertext.length });
      decipher.setAuthTag(record.fragment.subarray(-TAG_LENGTH));
      plain = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    } catch (e) {
      throw new MtlsCaError(
        'BAD_SIGNATURE',
        'open TLS 1.3 record: it does not authenticate under this traffic secret',
        undefined,
        e,
      );
    }
    let end = plain.length;
    while (end > 0 && plain[end - 1] === 0) end--;
    if (end === 0)
      throw new MtlsCaError('PARSE_FAILED', 'open TLS 1.3 record: no content type (all padding)');
    return { type: plain[end - 1]!, content: plain.subarray(0, end - 1) };
  }
}

/** The secrets of one connection from an NSS key log: label (`SERVER_HANDSHAKE_TRAFFIC_SECRET`) → secret. */
export type KeyLogSecrets = Map<string, Buffer>;

/**
 * Reads NSS key log lines (`LABEL <client random hex> <secret hex>`), as Node's `keylog` event gives them.
 * Comments and lines of another form are skipped; a later line for a label replaces an earlier one.
 * @param lines - the lines, each with or without its newline
 */
export function parseKeyLog(lines: Iterable<string | Buffer>): KeyLogSecrets {
  const out: KeyLogSecrets = new Map();
  for (const line of lines) {
    const m = /^([A-Z0-9_]+) [0-9a-fA-F]{64} ([0-9a-fA-F]+)\s*$/.exec(line.toString('latin1'));
    if (m) out.set(m[1]!, Buffer.from(m[2]!, 'hex'));
  }
  return out;
}

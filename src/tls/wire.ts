/**
 * Reading TLS's presentation language (RFC 8446 §3): big-endian integers and length-prefixed vectors, each
 * read checked against what is left, so that a truncated or lying length is a PARSE_FAILED naming what was
 * being read, never an out-of-range read.
 */
import { MtlsCaError } from '../pki/errors.js';

export class WireReader {
  #at = 0;

  /**
   * @param bytes - the encoded value
   * @param what - names it in errors (`CertificateRequest`)
   */
  constructor(
    private readonly bytes: Buffer,
    private readonly what: string,
  ) {}

  /** Bytes not read yet. */
  get remaining(): number {
    return this.bytes.length - this.#at;
  }

  fail(cause: string): MtlsCaError {
    return new MtlsCaError('PARSE_FAILED', `read TLS ${this.what}: ${cause}`);
  }

  #need(n: number): void {
    if (this.remaining < n) throw this.fail(`truncated (${n} bytes needed, ${this.remaining} left)`);
  }

  u8(): number {
    this.#need(1);
    return this.bytes[this.#at++]!;
  }

  u16(): number {
    this.#need(2);
    const v = this.bytes.readUInt16BE(this.#at);
    this.#at += 2;
    return v;
  }

  u24(): number {
    this.#need(3);
    const v = this.bytes.readUIntBE(this.#at, 3);
    this.#at += 3;
    return v;
  }

  /** The next `n` bytes (a view, not a copy). */
  bytesOf(n: number): Buffer {
    this.#need(n);
    const v = this.bytes.subarray(this.#at, this.#at + n);
    this.#at += n;
    return v;
  }

  /**
   * A vector with a 1-, 2- or 3-byte length prefix: `opaque x<min..2^(8·size)-1>`.
   * @param min - the smallest length the syntax allows (a shorter one is malformed)
   */
  vector(size: 1 | 2 | 3, min = 0): Buffer {
    const length = size === 1 ? this.u8() : size === 2 ? this.u16() : this.u24();
    if (length < min) throw this.fail(`a vector of ${length} bytes where at least ${min} are required`);
    return this.bytesOf(length);
  }

  /** Throws unless everything has been read: trailing bytes mean the structure was misread. */
  end(): void {
    if (this.remaining !== 0) throw this.fail(`${this.remaining} unexpected bytes at the end`);
  }
}

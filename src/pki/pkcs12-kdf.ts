/**
 * The PKCS#12 key derivation function (RFC 7292 appendix B), which turns the password of a `.p12` into its
 * MAC key and, for the legacy PBE algorithms (3DES, RC2), the cipher key and IV. Written natively over
 * crypto.createHash rather than taken from forge.pkcs12.generateKey: several times faster than forge's
 * pure-JS hashes, and it needs SHA-256 for the MACs OpenSSL 3 and Java write. Its inner loop, thousands of
 * hashes of one digest, runs on the unrolled SHA-1 and SHA-256 of hash-iterate.ts (docs/performance.md).
 */
import crypto from 'node:crypto';
import { iterateSha1, iterateSha256 } from './hash-iterate.js';

/** Hash block size v of the PKCS#12 KDF (RFC 7292 B.2). */
const KDF_BLOCK_SIZE: Record<string, number> = { sha1: 64, sha224: 64, sha256: 64, sha384: 128, sha512: 128 };

/** PKCS#12 KDF purposes (RFC 7292 B.3). */
export const Pkcs12KeyId = { key: 1, iv: 2, mac: 3 } as const;

/**
 * A password as the PKCS#12 KDF wants it: BMPString (UTF-16BE) with a two-byte NUL terminator (RFC 7292
 * B.1). OpenSSL (OPENSSL_utf82uni) and Java encode it the same way.
 */
export function pkcs12PasswordBytes(password: string): Buffer {
  return Buffer.concat([Buffer.from(password, 'utf16le').swap16(), Buffer.alloc(2)]);
}

/** `rounds` more applications of `hash` to a digest: in-process for SHA-1/SHA-256, else crypto.hash. */
function iterateDigest(hash: string, a: Buffer, rounds: number): Buffer {
  if (hash === 'sha1') return iterateSha1(a, rounds);
  if (hash === 'sha256') return iterateSha256(a, rounds);
  for (let r = 0; r < rounds; r++) a = crypto.hash(hash, a, 'buffer');
  return a;
}

/**
 * The PKCS#12 key derivation function of RFC 7292 appendix B.2.
 * @param hash - Node hash name: sha1, sha224, sha256, sha384 or sha512
 * @param password - the password bytes, normally {@link pkcs12PasswordBytes}
 * @param salt - the salt from the AlgorithmIdentifier or MacData
 * @param id - purpose: 1 key, 2 IV, 3 MAC key ({@link Pkcs12KeyId})
 * @param iterations - the iteration count r
 * @param length - bytes of output n
 */
export function derivePkcs12Key(
  hash: string,
  password: Buffer,
  salt: Buffer,
  id: number,
  iterations: number,
  length: number,
): Buffer {
  const v = KDF_BLOCK_SIZE[hash];
  if (v === undefined) throw new RangeError(`PKCS#12 KDF: unsupported hash ${hash}`);
  const stretch = (b: Buffer): Buffer => {
    const out = Buffer.alloc(v * Math.ceil(b.length / v));
    for (let i = 0; i < out.length; i++) out[i] = b[i % b.length]!;
    return out;
  };
  const d = Buffer.alloc(v, id);
  const input = Buffer.concat([stretch(salt), stretch(password)]);
  const blocks: Buffer[] = [];
  for (let produced = 0; ; ) {
    const a = iterateDigest(hash, crypto.createHash(hash).update(d).update(input).digest(), iterations - 1);
    blocks.push(a);
    produced += a.length;
    if (produced >= length) break;
    // I_j = (I_j + B + 1) mod 2^(8v) for each v-byte block of I.
    const b = stretch(a).subarray(0, v);
    for (let j = 0; j < input.length; j += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const x = input[j + k]! + b[k]! + carry;
        input[j + k] = x & 0xff;
        carry = x >> 8;
      }
    }
  }
  return Buffer.concat(blocks).subarray(0, length);
}

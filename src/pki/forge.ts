/**
 * The one adapter to node-forge (each third-party library sits behind one file: ARCHITECTURE.md). We use
 * forge only for what Node's native crypto cannot do: RC2, which OpenSSL 3 moved to its legacy provider, so
 * that Node (built without it) throws "unsupported" for it. RC2-40 is what `openssl pkcs12 -export -legacy`,
 * OpenSSL 1.x and older Windows use to encrypt the certificates of a PKCS#12 file.
 *
 * Everything else of PKCS#12 is native: forge's toPkcs12Asn1 handles only RSA keys and SHA-1 MACs, and its
 * pure-JS KDF and ciphers are slower than Node's.
 */
import { createRequire } from 'node:module';
import type Forge from 'node-forge';

type ForgeModule = typeof Forge;
let forgeModule: ForgeModule | undefined;

/**
 * node-forge is loaded on first use: only reading a legacy RC2 PKCS#12 needs it, and loading it would be a
 * large share of every init and issue-client otherwise (docs/performance.md, start-up). forge is CommonJS, so
 * require is the synchronous equivalent of its default import.
 */
function forge(): ForgeModule {
  forgeModule ??= createRequire(import.meta.url)('node-forge') as ForgeModule;
  return forgeModule;
}

/**
 * RC2-CBC decryption WITHOUT removing the padding: the caller checks and strips PKCS#7 padding itself, since
 * forge accepts malformed padding (it only checks that the count fits), which would hide a wrong password.
 * @param key - the RC2 key (5 bytes for RC2-40, 16 for RC2-128)
 * @param effectiveBits - RC2's effective key length in bits (RFC 2268): 40 or 128
 * @param iv - 8-byte IV
 * @param data - ciphertext, a multiple of 8 bytes
 * @returns the plaintext with its padding, or `undefined` when the length is not a multiple of the block
 */
export function rc2CbcDecryptRaw(
  key: Buffer,
  effectiveBits: number,
  iv: Buffer,
  data: Buffer,
): Buffer | undefined {
  if (data.length === 0 || data.length % 8 !== 0) return undefined;
  const f = forge();
  const cipher = f.rc2.createDecryptionCipher(f.util.createBuffer(key.toString('binary')), effectiveBits);
  cipher.start(f.util.createBuffer(iv.toString('binary')));
  cipher.update(f.util.createBuffer(data.toString('binary')));
  // A pad function that accepts anything turns off forge's own unpadding.
  if (!cipher.finish(() => true)) return undefined;
  return Buffer.from(cipher.output.getBytes(), 'binary');
}

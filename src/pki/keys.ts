/**
 * Key pairs on Node's native crypto: generation (asynchronous, off the event loop), PEM in and out,
 * signing and verification. Nothing here touches a file.
 */
import crypto, { type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import * as der from './der.js';
import { MtlsCaError } from './errors.js';
import { DEFAULT_KEY_TYPE, KEY_TYPES, type KeyType } from './key-types.js';
import { OID } from './oids.js';
import { pemBlocks } from './pem.js';

export { DEFAULT_KEY_TYPE, KEY_TYPES, type KeyType };

export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/**
 * A key that signs where it lives — a PKCS#11 token, a KMS — and never hands its private half to this
 * process. It signs in the scheme {@link signatureAlgorithmFor} names for its public key: RSA PKCS#1 v1.5 with
 * SHA-256, ECDSA with SHA-256 (P-256) or SHA-384 (P-384) as a DER Ecdsa-Sig-Value (RFC 3279 2.2.3).
 */
export interface Signer {
  /** The public half; its type chooses the signature scheme. */
  readonly publicKey: KeyObject;
  /**
   * The signature over `data`, the whole message (the signer hashes it).
   * @param data - what is signed: a TBSCertificate, a TBSCertList, an audit line
   */
  sign(data: Buffer): Buffer;
}

/** A private key held in this process, or a {@link Signer} for one held elsewhere. */
export type SigningKey = KeyObject | Signer;

/** The public half of a signing key. */
export function publicKeyOf(key: SigningKey): KeyObject {
  if (!(key instanceof crypto.KeyObject)) return key.publicKey;
  return key.type === 'private' ? crypto.createPublicKey(key) : key;
}

const generate = promisify(crypto.generateKeyPair) as (
  type: string,
  options: Record<string, unknown>,
) => Promise<KeyPair>;

export function isKeyType(s: string): s is KeyType {
  return (KEY_TYPES as readonly string[]).includes(s);
}

/**
 * Generates a key pair in libuv's thread pool, so RSA-4096 (seconds) never blocks the event loop.
 * @param type - one of {@link KEY_TYPES}; default `ecdsa-p256`
 */
export async function generateKeyPair(type: KeyType = DEFAULT_KEY_TYPE): Promise<KeyPair> {
  switch (type) {
    case 'ecdsa-p256':
      return generate('ec', { namedCurve: 'P-256' });
    case 'ecdsa-p384':
      return generate('ec', { namedCurve: 'P-384' });
    case 'rsa-2048':
    case 'rsa-3072':
    case 'rsa-4096':
      return generate('rsa', { modulusLength: Number(type.slice(4)), publicExponent: 0x10001 });
    case 'ed25519':
      return generate('ed25519', {});
  }
}

/**
 * An ECDSA P-256 key pair made in this thread: ≈ 0.1 ms, for a key needed inside a step that cannot wait
 * for the thread pool (a commit being staged under the directory lock). Other types can take seconds: use
 * {@link generateKeyPair}.
 */
export function generateEcdsaP256KeyPairSync(): KeyPair {
  return crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

/** The {@link KeyType} of a private or public key; keys we cannot sign with are `UNSUPPORTED`. */
export function keyTypeOf(key: KeyObject): KeyType {
  const name = keyTypeName(key);
  if (isKeyType(name)) return name;
  throw new MtlsCaError(
    'UNSUPPORTED',
    `use key type ${name}: the supported key types are ${KEY_TYPES.join(', ')}`,
  );
}

/**
 * The key's type as `--key-type` spells it (`ecdsa-p256`, `rsa-4096`, `ed25519`), and in the same style for
 * keys mtls-ca does not make (`rsa-1024`, `ec-secp256k1`, `ed448`), so that a user reads one name for a key
 * type everywhere. Unlike {@link keyTypeOf} it never throws: `inspect` shows any key.
 */
export function keyTypeName(key: KeyObject): string {
  const d = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'rsa':
    case 'rsa-pss':
      return `${key.asymmetricKeyType}-${d.modulusLength}`;
    case 'ec':
      if (d.namedCurve === 'prime256v1') return 'ecdsa-p256';
      if (d.namedCurve === 'secp384r1') return 'ecdsa-p384';
      if (d.namedCurve === 'secp521r1') return 'ecdsa-p521';
      return `ec-${d.namedCurve}`;
    default:
      return String(key.asymmetricKeyType);
  }
}

/**
 * PKCS#8 PEM. With a passphrase it is an ENCRYPTED PRIVATE KEY: PBES2, AES-256-CBC, PBKDF2-HMAC-SHA256
 * (OpenSSL 3's choice for this cipher), readable by openssl, Java, Go and Node.
 */
export function exportPrivateKeyPem(key: KeyObject, passphrase?: string): string {
  if (passphrase === undefined) return key.export({ type: 'pkcs8', format: 'pem' }) as string;
  if (passphrase.length === 0)
    throw new MtlsCaError('INVALID_ARGUMENT', 'encrypt key: the password is empty');
  return key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase }) as string;
}

/** PKCS#8 DER, unencrypted (for PKCS#12 key bags, which encrypt it themselves). */
export function exportPrivateKeyDer(key: KeyObject): Buffer {
  return key.export({ type: 'pkcs8', format: 'der' }) as Buffer;
}

export function isEncryptedPrivateKey(data: Buffer | string): boolean {
  const s = typeof data === 'string' ? data : data.toString('latin1');
  return s.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----') || /Proc-Type: 4,ENCRYPTED/.test(s);
}

/**
 * Reads a private key: PEM PKCS#1, PKCS#8, SEC1, encrypted PKCS#8 or legacy encrypted PEM, or DER PKCS#8.
 * @param data - the file contents
 * @param passphrase - needed only for encrypted keys
 * @param what - names the input in errors (a file path)
 */
export function parsePrivateKey(
  data: Buffer | string,
  passphrase: string | undefined,
  what: string,
): KeyObject {
  const encrypted = isEncryptedPrivateKey(data);
  if (encrypted && passphrase === undefined) {
    throw new MtlsCaError(
      'PASSWORD_REQUIRED',
      `read ${what}: the key is encrypted and no password was given`,
    );
  }
  try {
    const text = typeof data === 'string' ? data : data.toString('latin1');
    if (text.includes('-----BEGIN ')) {
      return crypto.createPrivateKey({
        key: text,
        format: 'pem',
        passphrase: encrypted ? passphrase : undefined,
      });
    }
    return crypto.createPrivateKey({ key: Buffer.from(data), format: 'der', type: 'pkcs8' });
  } catch (e) {
    const code = (e as { code?: string }).code ?? '';
    if (encrypted && (/BAD_DECRYPT|INTERRUPTED|BAD_PASSWORD/.test(code) || isWellFormedCiphertext(data))) {
      throw new MtlsCaError('BAD_PASSWORD', `read ${what}: wrong password`, undefined, e);
    }
    throw new MtlsCaError('PARSE_FAILED', `read ${what}: not a valid private key`, undefined, e);
  }
}

/**
 * A wrong password passes the CBC padding check about once in 256 tries; OpenSSL then fails to decode the
 * garbage plaintext (ERR_OSSL_UNSUPPORTED), the same code as for a truncated file. When the encrypted
 * container itself is intact, the failure can only be the password.
 */
function isWellFormedCiphertext(data: Buffer | string): boolean {
  const text = typeof data === 'string' ? data : data.toString('latin1');
  const block = pemBlocks(text).find((b) => b.label.endsWith('PRIVATE KEY'));
  if (!block) return false;
  if (block.label !== 'ENCRYPTED PRIVATE KEY') return block.der.length > 0 && block.der.length % 8 === 0;
  try {
    // EncryptedPrivateKeyInfo (RFC 5958 3): SEQUENCE { AlgorithmIdentifier, OCTET STRING }
    const [algorithm, encryptedData] = der.decode(block.der).children;
    return algorithm?.tag === der.Tag.SEQUENCE && encryptedData?.tag === der.Tag.OCTET_STRING;
  } catch {
    return false;
  }
}

/**
 * SPKIs already exported. A KeyObject never changes, and issuing one certificate asks for the same key's
 * SPKI up to four times (CSR, certificate, key identifier, PKCS#12 check), and each export goes through
 * OpenSSL 3's slow encoder framework (docs/performance.md).
 */
const spkiCache = new WeakMap<KeyObject, Buffer>();

/** SubjectPublicKeyInfo DER of a public (or private) key. */
export function subjectPublicKeyInfo(key: KeyObject): Buffer {
  let spki = spkiCache.get(key);
  if (!spki) {
    const pub = key.type === 'private' ? crypto.createPublicKey(key) : key;
    spki = pub.export({ type: 'spki', format: 'der' }) as Buffer;
    spkiCache.set(key, spki);
  }
  return Buffer.from(spki); // a copy: the caller may write into it
}

/** True when the two keys form a pair (their public halves are equal). */
export function isKeyPair(privateKey: SigningKey, publicKey: KeyObject): boolean {
  const own = privateKey instanceof crypto.KeyObject ? privateKey : privateKey.publicKey;
  return subjectPublicKeyInfo(own).equals(subjectPublicKeyInfo(publicKey));
}

interface SignatureScheme {
  oid: string;
  /** Digest for crypto.sign, or null for Ed25519 (pure). */
  hash: string | null;
  /** RSA PKCS#1 v1.5 algorithm identifiers carry an explicit NULL parameter (RFC 8017 A.2.4). */
  nullParams: boolean;
}

const SIGNATURE_SCHEMES: Record<string, SignatureScheme> = {
  [OID.sha1WithRSAEncryption]: { oid: OID.sha1WithRSAEncryption, hash: 'sha1', nullParams: true },
  [OID.sha256WithRSAEncryption]: { oid: OID.sha256WithRSAEncryption, hash: 'sha256', nullParams: true },
  [OID.sha384WithRSAEncryption]: { oid: OID.sha384WithRSAEncryption, hash: 'sha384', nullParams: true },
  [OID.sha512WithRSAEncryption]: { oid: OID.sha512WithRSAEncryption, hash: 'sha512', nullParams: true },
  [OID.ecdsaWithSHA1]: { oid: OID.ecdsaWithSHA1, hash: 'sha1', nullParams: false },
  [OID.ecdsaWithSHA256]: { oid: OID.ecdsaWithSHA256, hash: 'sha256', nullParams: false },
  [OID.ecdsaWithSHA384]: { oid: OID.ecdsaWithSHA384, hash: 'sha384', nullParams: false },
  [OID.ecdsaWithSHA512]: { oid: OID.ecdsaWithSHA512, hash: 'sha512', nullParams: false },
  [OID.ed25519]: { oid: OID.ed25519, hash: null, nullParams: false },
};

/** The scheme we sign with for a key: SHA-256 for RSA and P-256, SHA-384 for P-384, pure Ed25519. */
function schemeFor(key: SigningKey): SignatureScheme {
  switch (keyTypeOf(key instanceof crypto.KeyObject ? key : key.publicKey)) {
    case 'ecdsa-p256':
      return SIGNATURE_SCHEMES[OID.ecdsaWithSHA256]!;
    case 'ecdsa-p384':
      return SIGNATURE_SCHEMES[OID.ecdsaWithSHA384]!;
    case 'ed25519':
      return SIGNATURE_SCHEMES[OID.ed25519]!;
    default:
      return SIGNATURE_SCHEMES[OID.sha256WithRSAEncryption]!;
  }
}

/** The DER AlgorithmIdentifier that a signature by this key carries. */
export function signatureAlgorithmFor(key: SigningKey): Buffer {
  const s = schemeFor(key);
  return s.nullParams ? der.sequence(der.oid(s.oid), der.nullValue()) : der.sequence(der.oid(s.oid));
}

/** The name of a signature algorithm OID (`sha256WithRSAEncryption`, …), or the OID itself. */
export function signatureAlgorithmName(oid: string): string {
  const entry = Object.entries(OID).find(([, v]) => v === oid);
  return entry ? entry[0] : oid;
}

/** Signs `data` with the key's scheme (ECDSA signatures are DER, as X.509 wants). */
export function sign(key: SigningKey, data: Buffer): Buffer {
  if (!(key instanceof crypto.KeyObject)) return key.sign(data);
  return crypto.sign(schemeFor(key).hash, data, key);
}

/**
 * The digest a {@link Signer} applies to the data before its key signs: `sha256` or `sha384`. Ed25519 signs
 * the message itself, so a signer that hashes has no scheme for it (`UNSUPPORTED`).
 * @param publicKey - the signer's public key
 */
export function signatureDigest(publicKey: KeyObject): 'sha256' | 'sha384' {
  const hash = schemeFor(publicKey).hash;
  if (hash !== 'sha256' && hash !== 'sha384') {
    throw new MtlsCaError(
      'UNSUPPORTED',
      `sign with a ${keyTypeName(publicKey)} key: it does not hash what it signs`,
    );
  }
  return hash;
}

/**
 * The DER Ecdsa-Sig-Value (RFC 3279 2.2.3) of a raw ECDSA signature `r ‖ s`, each half as long as the curve's
 * order — as PKCS#11's CKM_ECDSA returns it. The halves are unsigned: a leading zero octet is dropped and one is
 * added before a high bit, so a short r or s still encodes as DER wants.
 * @param raw - r and s, big-endian, of equal length
 */
export function ecdsaSignatureDer(raw: Buffer): Buffer {
  if (raw.length === 0 || raw.length % 2 !== 0) {
    throw new MtlsCaError(
      'PARSE_FAILED',
      `read ECDSA signature: ${raw.length} bytes is not r and s of one length`,
    );
  }
  const half = raw.length / 2;
  return der.sequence(der.integer(raw.subarray(0, half)), der.integer(raw.subarray(half)));
}

/**
 * Verifies a signature given its AlgorithmIdentifier OID. Unknown algorithms (RSA-PSS, …) are `UNSUPPORTED`.
 */
export function verify(publicKey: KeyObject, algorithmOid: string, data: Buffer, signature: Buffer): boolean {
  const s = SIGNATURE_SCHEMES[algorithmOid];
  if (!s) {
    throw new MtlsCaError('UNSUPPORTED', `verify signature: algorithm ${algorithmOid} is not supported`);
  }
  try {
    return crypto.verify(s.hash, data, publicKey, signature);
  } catch {
    return false;
  }
}

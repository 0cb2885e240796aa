/**
 * PKCS#12 (RFC 7292) bundles: a private key with its certificate chain, and Java-style trust stores of CA
 * certificates. Built here from DER parts (forge's toPkcs12Asn1 is RSA-only with a SHA-1 MAC) with Node's
 * native 3DES, AES, PBKDF2 and HMAC; only the legacy RC2 cipher goes through forge.ts.
 *
 * Two encryption profiles, because no single one is read everywhere:
 * - `compat`: pbeWithSHAAnd3-KeyTripleDES-CBC for key and certificates, HMAC-SHA1 MAC. macOS Keychain, iOS,
 *   Android before 12 and Windows before Server 2019 / 10 1709 cannot read PBES2 or SHA-256 MACs.
 * - `modern`: PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) for key and certificates, HMAC-SHA256 MAC: the
 *   defaults of OpenSSL 3 (`openssl pkcs12 -export`) and Java 17+ (JDK-8153005).
 * Neither uses RC2-40 (the old certificate cipher), so OpenSSL 3 reads both without `-legacy`.
 */
import crypto, { type KeyObject } from 'node:crypto';
import { Certificate } from './certificate.js';
import * as der from './der.js';
import { MtlsCaError } from './errors.js';
import { rc2CbcDecryptRaw } from './forge.js';
import { iterateSha1, iterateSha256 } from './hash-iterate.js';
import { exportPrivateKeyDer, subjectPublicKeyInfo } from './keys.js';
import { OID } from './oids.js';

export type Pkcs12Profile = 'compat' | 'modern';
export const PKCS12_PROFILES: readonly Pkcs12Profile[] = ['compat', 'modern'];
export const DEFAULT_PKCS12_PROFILE: Pkcs12Profile = 'compat';

/**
 * Default iteration counts (KDF and MAC). `compat` keeps the 2048 that OpenSSL has always written and every
 * importer has been tested with; `modern` uses Java 17's 10000 (keystore.pkcs12.*IterationCount).
 */
export const DEFAULT_PKCS12_ITERATIONS: Readonly<Record<Pkcs12Profile, number>> = {
  compat: 2048,
  modern: 10_000,
};
export const MIN_PKCS12_ITERATIONS = 2048;
/** Java's PKCS12KeyStore refuses more (MAX_ITERATION_COUNT); we cap reads too, so a file can't stall us. */
export const MAX_PKCS12_ITERATIONS = 5_000_000;

export interface Pkcs12Options {
  /** Protects the MAC and the encryption; must not be empty (macOS and iOS refuse such files). */
  password: string;
  /** Encryption profile; default `compat`. */
  profile?: Pkcs12Profile;
  /** KDF and MAC iteration count; default {@link DEFAULT_PKCS12_ITERATIONS} of the profile, at least 2048. */
  iterations?: number;
}

export interface Pkcs12Contents {
  /** The first private key in the file, if any. */
  privateKey?: KeyObject;
  /** Every X.509 certificate bag, in file order. `trusted` marks Java trust anchors (trustedCertEntry). */
  certificates: { certificate: Certificate; friendlyName?: string; localKeyId?: Buffer; trusted: boolean }[];
  /** `HMAC-SHA1`, `HMAC-SHA256`, … or `none` for a file without MAC. */
  macAlgorithm: string;
  /** Encryption of the first key bag (`none` for a plain keyBag); undefined without a key. */
  keyEncryption?: string;
  /** Encryption of the first certificate-holding part (`none` when in plain data); undefined without certs. */
  certEncryption?: string;
  /** The MAC's iteration count, or the first encryption's when there is no MAC. */
  iterations: number;
}

// Algorithms we read but never write (RFC 7292 appendix C, RFC 8018 appendix B, NIST CSOR).
const READ_OID = {
  pbeWithSHAAnd128BitRC2CBC: '1.2.840.113549.1.12.1.5',
  safeContentsBag: '1.2.840.113549.1.12.10.1.6',
  pbmac1: '1.2.840.113549.1.5.14',
  hmacWithSHA224: '1.2.840.113549.2.8',
  hmacWithSHA384: '1.2.840.113549.2.10',
  hmacWithSHA512: '1.2.840.113549.2.11',
  aes128Cbc: '2.16.840.1.101.3.4.1.2',
  aes192Cbc: '2.16.840.1.101.3.4.1.22',
  desEde3Cbc: '1.2.840.113549.3.7',
  sha224: '2.16.840.1.101.3.4.2.4',
} as const;

const HASH_BY_OID: Record<string, string> = {
  [OID.sha1]: 'sha1',
  [READ_OID.sha224]: 'sha224',
  [OID.sha256]: 'sha256',
  [OID.sha384]: 'sha384',
  [OID.sha512]: 'sha512',
};

const PRF_BY_OID: Record<string, string> = {
  [OID.hmacWithSHA1]: 'sha1',
  [READ_OID.hmacWithSHA224]: 'sha224',
  [OID.hmacWithSHA256]: 'sha256',
  [READ_OID.hmacWithSHA384]: 'sha384',
  [READ_OID.hmacWithSHA512]: 'sha512',
};

const PBES2_CIPHERS: Record<string, { cipher: string; name: string; keyLength: number; ivLength: number }> = {
  [READ_OID.aes128Cbc]: { cipher: 'aes-128-cbc', name: 'AES-128-CBC', keyLength: 16, ivLength: 16 },
  [READ_OID.aes192Cbc]: { cipher: 'aes-192-cbc', name: 'AES-192-CBC', keyLength: 24, ivLength: 16 },
  [OID.aes256Cbc]: { cipher: 'aes-256-cbc', name: 'AES-256-CBC', keyLength: 32, ivLength: 16 },
  [READ_OID.desEde3Cbc]: { cipher: 'des-ede3-cbc', name: 'DES-EDE3-CBC', keyLength: 24, ivLength: 8 },
};

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

/**
 * The PKCS#12 key derivation function of RFC 7292 appendix B.2. Implemented natively rather than through
 * forge.pkcs12.generateKey: it is twenty lines over crypto.createHash, several times faster than forge's
 * pure-JS hashes at 10000 iterations, and needs SHA-256 for OpenSSL 3 / Java MACs.
 * @param hash - Node hash name: sha1, sha224, sha256, sha384 or sha512
 * @param password - the password bytes, normally {@link pkcs12PasswordBytes}
 * @param salt - the salt from the AlgorithmIdentifier or MacData
 * @param id - purpose: 1 key, 2 IV, 3 MAC key ({@link Pkcs12KeyId})
 * @param iterations - the iteration count r
 * @param length - bytes of output n
 */
/** `rounds` more applications of `hash` to a digest: in-process for SHA-1/SHA-256, else crypto.hash. */
function iterateDigest(hash: string, a: Buffer, rounds: number): Buffer {
  if (hash === 'sha1') return iterateSha1(a, rounds);
  if (hash === 'sha256') return iterateSha256(a, rounds);
  for (let r = 0; r < rounds; r++) a = crypto.hash(hash, a, 'buffer');
  return a;
}

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

// ---------------------------------------------------------------- writing

interface Encryptor {
  /** DER AlgorithmIdentifier. */
  algorithm: Buffer;
  ciphertext: Buffer;
}

function checkOptions(o: Pkcs12Options, action: string): { profile: Pkcs12Profile; iterations: number } {
  if (typeof o.password !== 'string' || o.password.length === 0) {
    throw new MtlsCaError(
      'INVALID_ARGUMENT',
      `${action}: the password is empty`,
      'choose a password: macOS Keychain and iOS refuse PKCS#12 files without one',
    );
  }
  const profile = o.profile ?? DEFAULT_PKCS12_PROFILE;
  if (!PKCS12_PROFILES.includes(profile)) {
    throw new MtlsCaError(
      'INVALID_ARGUMENT',
      `${action}: unknown profile "${profile}"`,
      `use one of ${PKCS12_PROFILES.join(', ')}`,
    );
  }
  const iterations = o.iterations ?? DEFAULT_PKCS12_ITERATIONS[profile];
  if (
    !Number.isInteger(iterations) ||
    iterations < MIN_PKCS12_ITERATIONS ||
    iterations > MAX_PKCS12_ITERATIONS
  ) {
    throw new MtlsCaError(
      'INVALID_ARGUMENT',
      `${action}: iteration count ${iterations} is outside ${MIN_PKCS12_ITERATIONS}..${MAX_PKCS12_ITERATIONS}`,
    );
  }
  return { profile, iterations };
}

function encrypt(plain: Buffer, password: string, profile: Pkcs12Profile, iterations: number): Encryptor {
  if (profile === 'compat') {
    // 8-byte salt: what OpenSSL and Windows write; old importers were only ever tested with that.
    const salt = crypto.randomBytes(8);
    const pw = pkcs12PasswordBytes(password);
    const key = derivePkcs12Key('sha1', pw, salt, Pkcs12KeyId.key, iterations, 24);
    const iv = derivePkcs12Key('sha1', pw, salt, Pkcs12KeyId.iv, iterations, 8);
    const cipher = crypto.createCipheriv('des-ede3-cbc', key, iv);
    return {
      algorithm: der.sequence(
        der.oid(OID.pbeWithSHAAnd3KeyTripleDESCBC),
        der.sequence(der.octetString(salt), der.integer(iterations)),
      ),
      ciphertext: Buffer.concat([cipher.update(plain), cipher.final()]),
    };
  }
  // PBES2 (RFC 8018 6.2) as OpenSSL 3 writes it: no keyLength, PRF with a NULL parameter. PBKDF2 takes the
  // password as UTF-8 bytes (OpenSSL passes them through; Java encodes its char[] as UTF-8).
  const salt = crypto.randomBytes(16);
  const iv = crypto.randomBytes(16);
  const key = crypto.pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const cipher = crypto.createCipheriv('aes-256-cbc', key, iv);
  return {
    algorithm: der.sequence(
      der.oid(OID.pbes2),
      der.sequence(
        der.sequence(
          der.oid(OID.pbkdf2),
          der.sequence(
            der.octetString(salt),
            der.integer(iterations),
            der.sequence(der.oid(OID.hmacWithSHA256), der.nullValue()),
          ),
        ),
        der.sequence(der.oid(OID.aes256Cbc), der.octetString(iv)),
      ),
    ),
    ciphertext: Buffer.concat([cipher.update(plain), cipher.final()]),
  };
}

function attribute(type: string, value: Buffer): Buffer {
  return der.sequence(der.oid(type), der.set(value));
}

function safeBag(bagType: string, value: Buffer, attributes: Buffer[]): Buffer {
  return der.sequence(
    der.oid(bagType),
    der.explicit(0, value),
    ...(attributes.length > 0 ? [der.set(...attributes)] : []),
  );
}

function certBag(certificate: Certificate, attributes: Buffer[]): Buffer {
  const value = der.sequence(der.oid(OID.x509Certificate), der.explicit(0, der.octetString(certificate.der)));
  return safeBag(OID.certBag, value, attributes);
}

/** ContentInfo of type data holding SafeContents in the clear (the key bag is encrypted by itself). */
function dataContentInfo(safeContents: Buffer): Buffer {
  return der.sequence(der.oid(OID.data), der.explicit(0, der.octetString(safeContents)));
}

/** ContentInfo of type encryptedData (RFC 2315 13) holding encrypted SafeContents. */
function encryptedContentInfo(e: Encryptor): Buffer {
  const encryptedData = der.sequence(
    der.integer(0),
    der.sequence(der.oid(OID.data), e.algorithm, der.implicit(0, der.octetString(e.ciphertext))),
  );
  return der.sequence(der.oid(OID.encryptedData), der.explicit(0, encryptedData));
}

/** The PFX around an AuthenticatedSafe, with the password-integrity MAC of RFC 7292 5.1. */
function buildPfx(
  contentInfos: Buffer[],
  password: string,
  profile: Pkcs12Profile,
  iterations: number,
): Buffer {
  const authSafe = der.sequence(...contentInfos);
  const [hash, hashOid] = profile === 'compat' ? ['sha1', OID.sha1] : ['sha256', OID.sha256];
  const salt = crypto.randomBytes(profile === 'compat' ? 8 : 16);
  const hashLength = profile === 'compat' ? 20 : 32;
  const key = derivePkcs12Key(
    hash,
    pkcs12PasswordBytes(password),
    salt,
    Pkcs12KeyId.mac,
    iterations,
    hashLength,
  );
  const mac = crypto.createHmac(hash, key).update(authSafe).digest();
  return der.sequence(
    der.integer(3),
    dataContentInfo(authSafe),
    der.sequence(
      der.sequence(der.sequence(der.oid(hashOid), der.nullValue()), der.octetString(mac)),
      der.octetString(salt),
      der.integer(iterations),
    ),
  );
}

/**
 * A PKCS#12 bundle of a private key (any type we issue: RSA, ECDSA, Ed25519), its certificate and chain,
 * the layout `openssl pkcs12 -export` writes: certificates in an encryptedData part, the key in a
 * pkcs8ShroudedKeyBag. Key bag and leaf certificate bag share friendlyName and localKeyId (SHA-1 of the
 * leaf's DER), which is how importers pair them.
 * @param o.privateKey - the leaf's private key; must match `certificate`
 * @param o.certificate - the leaf certificate
 * @param o.chain - issuing CA certificates, nearest first (optional)
 * @param o.friendlyName - the name shown by Keychain/Windows and the alias keytool uses; default the leaf CN
 * @param o.password - see {@link Pkcs12Options}
 * @returns the DER-encoded PFX
 */
export function createPkcs12(
  o: Pkcs12Options & {
    privateKey: KeyObject;
    certificate: Certificate;
    chain?: Certificate[];
    friendlyName?: string;
    /** The key's PKCS#8 DER when the caller has exported it already (saves an export, ≈ 0.06 ms). */
    privateKeyDer?: Buffer;
  },
): Buffer {
  const action = 'create PKCS#12 bundle';
  const { profile, iterations } = checkOptions(o, action);
  if (!subjectPublicKeyInfo(o.privateKey).equals(o.certificate.spki)) {
    throw new MtlsCaError(
      'INVALID_ARGUMENT',
      `${action} for ${o.certificate.subjectName}: the private key does not belong to the certificate`,
    );
  }
  const localKeyId = crypto.createHash('sha1').update(o.certificate.der).digest();
  const friendlyName = o.friendlyName ?? o.certificate.commonName;
  const leafAttributes = [
    ...(friendlyName ? [attribute(OID.friendlyName, der.bmpString(friendlyName))] : []),
    attribute(OID.localKeyId, der.octetString(localKeyId)),
  ];
  const certs = der.sequence(
    certBag(o.certificate, leafAttributes),
    ...(o.chain ?? []).map((c) => certBag(c, [])),
  );
  const shroudedKey = encrypt(
    o.privateKeyDer ?? exportPrivateKeyDer(o.privateKey),
    o.password,
    profile,
    iterations,
  );
  const keyBag = safeBag(
    OID.pkcs8ShroudedKeyBag,
    der.sequence(shroudedKey.algorithm, der.octetString(shroudedKey.ciphertext)),
    leafAttributes,
  );
  return buildPfx(
    [
      encryptedContentInfo(encrypt(certs, o.password, profile, iterations)),
      dataContentInfo(der.sequence(keyBag)),
    ],
    o.password,
    profile,
    iterations,
  );
}

/**
 * A PKCS#12 trust store for Java (`-Djavax.net.ssl.trustStoreType=PKCS12`, Spring `trust-store`): one
 * certificate bag per CA with its alias as friendlyName and Oracle's trusted-key-usage attribute
 * (SET { anyExtendedKeyUsage }), without which Java treats the file as having 0 entries (JDK-8150765).
 * @param o.entries - alias and CA certificate; aliases must be unique ignoring case (Java lowercases them)
 * @param o.password - see {@link Pkcs12Options}
 * @returns the DER-encoded PFX
 */
export function createTrustStorePkcs12(
  o: Pkcs12Options & { entries: { alias: string; certificate: Certificate }[] },
): Buffer {
  const action = 'create PKCS#12 trust store';
  const { profile, iterations } = checkOptions(o, action);
  checkAliases(o.entries, action);
  const trustAnyUsage = der.set(der.oid(OID.anyExtendedKeyUsage));
  const certs = der.sequence(
    ...o.entries.map((e) =>
      certBag(e.certificate, [
        attribute(OID.friendlyName, der.bmpString(e.alias)),
        der.sequence(der.oid(OID.oracleTrustedKeyUsage), trustAnyUsage),
      ]),
    ),
  );
  return buildPfx(
    [encryptedContentInfo(encrypt(certs, o.password, profile, iterations))],
    o.password,
    profile,
    iterations,
  );
}

/**
 * Shared by PKCS#12 and JKS trust stores: at least one entry, non-empty aliases, unique ignoring case
 * (both Java keystore types lowercase aliases, so `CA` and `ca` would overwrite each other).
 */
export function checkAliases(entries: { alias: string }[], action: string): void {
  if (entries.length === 0) throw new MtlsCaError('INVALID_ARGUMENT', `${action}: no certificates given`);
  const seen = new Set<string>();
  for (const { alias } of entries) {
    if (alias.length === 0) throw new MtlsCaError('INVALID_ARGUMENT', `${action}: an alias is empty`);
    const key = alias.toLowerCase();
    if (seen.has(key)) {
      throw new MtlsCaError(
        'INVALID_ARGUMENT',
        `${action}: alias "${alias}" is used twice (Java ignores case)`,
      );
    }
    seen.add(key);
  }
}

// ---------------------------------------------------------------- reading

interface ReadContext {
  what: string;
  password: string;
  /** The password bytes for the PKCS#12 KDF that matched the MAC. */
  bmpPassword: Buffer;
  /** True when a MAC confirmed the password: a failing decryption then means a second password. */
  macVerified: boolean;
  /** Iterations of the first decryption, reported when there is no MAC. */
  firstIterations?: number;
}

function malformed(what: string, detail: string, cause?: unknown): MtlsCaError {
  return new MtlsCaError(
    'PARSE_FAILED',
    `read ${what}: not a valid PKCS#12 file (${detail})`,
    undefined,
    cause,
  );
}

function unsupported(what: string, detail: string): MtlsCaError {
  return new MtlsCaError('UNSUPPORTED', `read ${what}: ${detail}`);
}

function checkIterations(n: bigint, what: string): number {
  if (n < 1n) throw malformed(what, 'iteration count below 1');
  if (n > BigInt(MAX_PKCS12_ITERATIONS)) {
    throw unsupported(what, `iteration count ${n} is above the limit of ${MAX_PKCS12_ITERATIONS}`);
  }
  return Number(n);
}

/** Removes PKCS#7 padding; undefined when it is not valid (the usual sign of a wrong key). */
function unpad(data: Buffer, blockSize: number): Buffer | undefined {
  const n = data[data.length - 1];
  if (n === undefined || n === 0 || n > blockSize || n > data.length) return undefined;
  for (let i = data.length - n; i < data.length; i++) if (data[i] !== n) return undefined;
  return data.subarray(0, data.length - n);
}

function nativeDecrypt(cipher: string, key: Buffer, iv: Buffer, data: Buffer): Buffer | undefined {
  try {
    const d = crypto.createDecipheriv(cipher, key, iv);
    return Buffer.concat([d.update(data), d.final()]);
  } catch {
    return undefined;
  }
}

/**
 * Decrypts with the algorithm of an AlgorithmIdentifier node.
 * @returns the plaintext (undefined when the password does not fit), the algorithm's name and iterations
 */
function decrypt(
  alg: der.Node,
  data: Buffer,
  ctx: ReadContext,
): { plain: Buffer | undefined; name: string; iterations: number } {
  const { what } = ctx;
  const algOid = der.readOid(der.expectTag(alg.children[0], der.Tag.OID, what));
  const params = alg.children[1];
  if (algOid === OID.pbes2) {
    const [kdf, scheme] = der.expectTag(params, der.Tag.SEQUENCE, what).children;
    const kdfOid = der.readOid(der.expectTag(kdf?.children[0], der.Tag.OID, what));
    if (kdfOid !== OID.pbkdf2) throw unsupported(what, `PBES2 key derivation ${kdfOid} is not supported`);
    const [saltNode, iterNode, ...rest] = der.expectTag(kdf!.children[1], der.Tag.SEQUENCE, what).children;
    const salt = der.octetsOf(der.expectTag(saltNode, der.Tag.OCTET_STRING, what));
    const iterations = checkIterations(der.readInteger(der.expectTag(iterNode, der.Tag.INTEGER, what)), what);
    const keyLengthNode = rest.find((n) => n.tag === der.Tag.INTEGER);
    const prfNode = rest.find((n) => n.tag === der.Tag.SEQUENCE);
    const prfOid = prfNode
      ? der.readOid(der.expectTag(prfNode.children[0], der.Tag.OID, what))
      : OID.hmacWithSHA1;
    const prf = PRF_BY_OID[prfOid];
    if (!prf) throw unsupported(what, `PBKDF2 PRF ${prfOid} is not supported`);
    const schemeOid = der.readOid(der.expectTag(scheme?.children[0], der.Tag.OID, what));
    const c = PBES2_CIPHERS[schemeOid];
    if (!c) throw unsupported(what, `PBES2 cipher ${schemeOid} is not supported`);
    const iv = der.octetsOf(der.expectTag(scheme!.children[1], der.Tag.OCTET_STRING, what));
    if (iv.length !== c.ivLength) throw malformed(what, `${c.name} IV is not ${c.ivLength} bytes`);
    if (keyLengthNode && der.readInteger(keyLengthNode) !== BigInt(c.keyLength)) {
      throw malformed(what, `PBKDF2 key length does not fit ${c.name}`);
    }
    ctx.firstIterations ??= iterations;
    const key = crypto.pbkdf2Sync(Buffer.from(ctx.password, 'utf8'), salt, iterations, c.keyLength, prf);
    return {
      plain: nativeDecrypt(c.cipher, key, iv, data),
      name: `PBES2 PBKDF2-HMAC-${prf.toUpperCase()} ${c.name}`,
      iterations,
    };
  }
  const pkcs12Pbe: Record<string, { name: string; keyLength: number; rc2Bits?: number }> = {
    [OID.pbeWithSHAAnd3KeyTripleDESCBC]: { name: 'pbeWithSHAAnd3-KeyTripleDES-CBC', keyLength: 24 },
    [READ_OID.pbeWithSHAAnd128BitRC2CBC]: { name: 'pbeWithSHAAnd128BitRC2-CBC', keyLength: 16, rc2Bits: 128 },
    [OID.pbeWithSHAAnd40BitRC2CBC]: { name: 'pbeWithSHAAnd40BitRC2-CBC', keyLength: 5, rc2Bits: 40 },
  };
  const pbe = pkcs12Pbe[algOid];
  if (!pbe) throw unsupported(what, `encryption algorithm ${algOid} is not supported`);
  const [saltNode, iterNode] = der.expectTag(params, der.Tag.SEQUENCE, what).children;
  const salt = der.octetsOf(der.expectTag(saltNode, der.Tag.OCTET_STRING, what));
  const iterations = checkIterations(der.readInteger(der.expectTag(iterNode, der.Tag.INTEGER, what)), what);
  const key = derivePkcs12Key('sha1', ctx.bmpPassword, salt, Pkcs12KeyId.key, iterations, pbe.keyLength);
  const iv = derivePkcs12Key('sha1', ctx.bmpPassword, salt, Pkcs12KeyId.iv, iterations, 8);
  ctx.firstIterations ??= iterations;
  let plain: Buffer | undefined;
  if (pbe.rc2Bits === undefined) {
    plain = nativeDecrypt('des-ede3-cbc', key, iv, data);
  } else {
    // RC2 lives in OpenSSL 3's legacy provider, which Node does not load: forge decrypts it.
    const raw = rc2CbcDecryptRaw(key, pbe.rc2Bits, iv, data);
    plain = raw && unpad(raw, 8);
  }
  return { plain, name: pbe.name, iterations };
}

interface MacResult {
  algorithm: string;
  iterations: number;
  bmpPassword: Buffer;
}

/**
 * Checks the password-integrity MAC (RFC 7292 5.1, B.4). For an empty password we also try the zero-length
 * encoding: OpenSSL writes that for a NULL password (`-passout pass:`), and BMP "" plus terminator otherwise.
 */
function verifyMac(macData: der.Node, authSafe: Buffer, password: string, what: string): MacResult {
  const [digestInfo, saltNode, iterNode] = macData.children;
  const [alg, digestNode] = der.expectTag(digestInfo, der.Tag.SEQUENCE, what).children;
  const hashOid = der.readOid(
    der.expectTag(der.expectTag(alg, der.Tag.SEQUENCE, what).children[0], der.Tag.OID, what),
  );
  if (hashOid === READ_OID.pbmac1)
    throw unsupported(what, 'PBMAC1 integrity (RFC 9579) is not supported yet');
  const hash = HASH_BY_OID[hashOid];
  if (!hash) throw unsupported(what, `MAC digest ${hashOid} is not supported`);
  const expected = der.octetsOf(der.expectTag(digestNode, der.Tag.OCTET_STRING, what));
  const salt = der.octetsOf(der.expectTag(saltNode, der.Tag.OCTET_STRING, what));
  const iterations = iterNode
    ? checkIterations(der.readInteger(der.expectTag(iterNode, der.Tag.INTEGER, what)), what)
    : 1;
  const hashLength = crypto.createHash(hash).digest().length;
  const candidates =
    password === '' ? [pkcs12PasswordBytes(''), Buffer.alloc(0)] : [pkcs12PasswordBytes(password)];
  for (const pw of candidates) {
    // The MAC key is as long as the hash output (RFC 7292 B.4), whatever length the stored MAC claims.
    const key = derivePkcs12Key(hash, pw, salt, Pkcs12KeyId.mac, iterations, hashLength);
    const actual = crypto.createHmac(hash, key).update(authSafe).digest();
    if (actual.length === expected.length && crypto.timingSafeEqual(actual, expected)) {
      return { algorithm: `HMAC-${hash.toUpperCase()}`, iterations, bmpPassword: pw };
    }
  }
  throw new MtlsCaError(
    'BAD_PASSWORD',
    `read ${what}: wrong password (the integrity check failed; if the password is right, the file was altered)`,
  );
}

function cannotDecrypt(ctx: ReadContext, part: string): MtlsCaError {
  return new MtlsCaError(
    'BAD_PASSWORD',
    ctx.macVerified
      ? `read ${ctx.what}: cannot decrypt ${part}: the file password is right but ${part} has a separate password`
      : `read ${ctx.what}: wrong password (${part} does not decrypt)`,
  );
}

function attributesOf(bag: der.Node): { friendlyName?: string; localKeyId?: Buffer; trusted: boolean } {
  const out: { friendlyName?: string; localKeyId?: Buffer; trusted: boolean } = { trusted: false };
  const attrs = bag.children[2];
  if (attrs?.tag !== der.Tag.SET) return out;
  for (const a of attrs.children) {
    const type = der.readOid(a.children[0]!);
    const value = a.children[1]?.children[0];
    if (type === OID.friendlyName && value) out.friendlyName = der.readString(value);
    else if (type === OID.localKeyId && value) out.localKeyId = Buffer.from(der.octetsOf(value));
    else if (type === OID.oracleTrustedKeyUsage) out.trusted = true;
  }
  return out;
}

function readSafeContents(
  safeContents: der.Node,
  encryption: string,
  ctx: ReadContext,
  out: Pkcs12Contents,
): void {
  for (const bag of der.expectTag(safeContents, der.Tag.SEQUENCE, ctx.what).children) {
    const bagType = der.readOid(der.expectTag(bag.children[0], der.Tag.OID, ctx.what));
    const value = der.expectTag(bag.children[1], 0xa0, ctx.what).children[0];
    if (!value) throw malformed(ctx.what, 'empty SafeBag');
    if (bagType === OID.certBag) {
      const certType = der.readOid(der.expectTag(value.children[0], der.Tag.OID, ctx.what));
      if (certType !== OID.x509Certificate) continue; // SDSI certificates: nobody uses them
      const certDer = der.octetsOf(der.expectTag(value.children[1], 0xa0, ctx.what).children[0]!);
      out.certificates.push({
        certificate: new Certificate(Buffer.from(certDer), `certificate in ${ctx.what}`),
        ...attributesOf(bag),
      });
      out.certEncryption ??= encryption;
    } else if (bagType === OID.keyBag || bagType === OID.pkcs8ShroudedKeyBag) {
      if (out.privateKey) continue;
      let pkcs8 = value.raw;
      let keyEncryption = 'none';
      if (bagType === OID.pkcs8ShroudedKeyBag) {
        const [alg, data] = value.children;
        const d = decrypt(
          der.expectTag(alg, der.Tag.SEQUENCE, ctx.what),
          der.octetsOf(der.expectTag(data, der.Tag.OCTET_STRING, ctx.what)),
          ctx,
        );
        if (!d.plain) throw cannotDecrypt(ctx, 'the private key');
        pkcs8 = d.plain;
        keyEncryption = d.name;
      }
      try {
        out.privateKey = crypto.createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' });
      } catch (e) {
        throw malformed(ctx.what, 'the private key is not valid PKCS#8', e);
      }
      out.keyEncryption = keyEncryption;
    } else if (bagType === READ_OID.safeContentsBag) {
      readSafeContents(value, encryption, ctx, out);
    }
    // crlBag and secretBag hold nothing we use.
  }
}

/**
 * Reads a PKCS#12 file: ours (both profiles), `openssl pkcs12 -export` (default and `-legacy`, whose RC2-40
 * certificate encryption is decrypted through forge), keytool's, and Windows'. Public-key integrity and
 * enveloped parts are `UNSUPPORTED`.
 * @param data - the DER file contents
 * @param password - the file password (MAC and encryption use the same one)
 * @param what - names the input in errors (a file path)
 * @throws MtlsCaError `BAD_PASSWORD` when the MAC does not match, `PARSE_FAILED` when the file is malformed
 */
export function parsePkcs12(data: Buffer, password: string, what: string): Pkcs12Contents {
  try {
    return parseUnchecked(data, password, what);
  } catch (e) {
    if (e instanceof MtlsCaError) {
      if (e.code === 'PARSE_FAILED' && !e.message.startsWith(`read ${what}: not a valid PKCS#12`)) {
        const prefix = `decode ${what}: `;
        throw malformed(what, e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message, e);
      }
      throw e;
    }
    // A missing child (undefined.children) in an unexpected shape.
    throw malformed(what, 'unexpected structure', e);
  }
}

function parseUnchecked(data: Buffer, password: string, what: string): Pkcs12Contents {
  const pfx = der.expectTag(der.decode(data, what), der.Tag.SEQUENCE, what);
  const [version, authSafeInfo, macData] = pfx.children;
  if (version?.tag !== der.Tag.INTEGER || der.readInteger(version) !== 3n) {
    throw malformed(what, 'no PFX version 3');
  }
  const authType = der.readOid(der.expectTag(authSafeInfo?.children[0], der.Tag.OID, what));
  if (authType !== OID.data) throw unsupported(what, 'public-key integrity mode is not supported');
  const authSafeOctets = der.octetsOf(der.expectTag(authSafeInfo!.children[1], 0xa0, what).children[0]!);
  let mac: MacResult | undefined;
  if (macData)
    mac = verifyMac(der.expectTag(macData, der.Tag.SEQUENCE, what), authSafeOctets, password, what);
  const ctx: ReadContext = {
    what,
    password,
    bmpPassword: mac?.bmpPassword ?? pkcs12PasswordBytes(password),
    macVerified: mac !== undefined,
  };
  const out: Pkcs12Contents = {
    certificates: [],
    macAlgorithm: mac?.algorithm ?? 'none',
    iterations: mac?.iterations ?? 0,
  };
  for (const info of der.expectTag(der.decode(authSafeOctets, what), der.Tag.SEQUENCE, what).children) {
    const type = der.readOid(der.expectTag(info.children[0], der.Tag.OID, what));
    const content = der.expectTag(info.children[1], 0xa0, what).children[0];
    if (type === OID.data) {
      readSafeContents(der.decode(der.octetsOf(content!), what), 'none', ctx, out);
    } else if (type === OID.encryptedData) {
      const [, encryptedContentInfo] = der.expectTag(content, der.Tag.SEQUENCE, what).children;
      const [, alg, encrypted] = der.expectTag(encryptedContentInfo, der.Tag.SEQUENCE, what).children;
      if (!encrypted) continue; // detached content: nothing to read
      if ((encrypted.tag & 0xdf) !== 0x80) throw malformed(what, 'encryptedContent is not [0]');
      const d = decrypt(der.expectTag(alg, der.Tag.SEQUENCE, what), der.octetsOf(encrypted), ctx);
      if (!d.plain) throw cannotDecrypt(ctx, 'the certificate part');
      readSafeContents(der.decode(d.plain, what), d.name, ctx, out);
    } else {
      throw unsupported(what, `content type ${type} (public-key privacy mode) is not supported`);
    }
  }
  if (!mac) out.iterations = ctx.firstIterations ?? 0;
  return out;
}

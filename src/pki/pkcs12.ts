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
 *
 * This module writes them; pkcs12-read.ts reads them (ours and other tools'); pkcs12-kdf.ts derives their
 * keys.
 */
import crypto, { type KeyObject } from 'node:crypto';
import type { Certificate } from './certificate.js';
import * as der from './der.js';
import { MtlsCaError } from './errors.js';
import { exportPrivateKeyDer, subjectPublicKeyInfo } from './keys.js';
import { OID } from './oids.js';
import { derivePkcs12Key, Pkcs12KeyId, pkcs12PasswordBytes } from './pkcs12-kdf.js';

export type Pkcs12Profile = 'compat' | 'modern';
export const PKCS12_PROFILES: readonly Pkcs12Profile[] = ['compat', 'modern'];
export const DEFAULT_PKCS12_PROFILE: Pkcs12Profile = 'compat';

/**
 * Default iteration counts (KDF and MAC). `compat` keeps the 2048 that OpenSSL has always written and every
 * importer has been tested with; `modern` uses Java 17's 10000 (keystore.pkcs12.*IterationCount).
 */
const DEFAULT_PKCS12_ITERATIONS: Readonly<Record<Pkcs12Profile, number>> = {
  compat: 2048,
  modern: 10_000,
};
const MIN_PKCS12_ITERATIONS = 2048;
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
    /** The key's PKCS#8 DER when the caller has exported it already (saves an OpenSSL export). */
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

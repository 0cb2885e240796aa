/**
 * A CA key in a PKCS#11 token, as a {@link Signer}: made in the token (never leaving it), moved into it from a
 * key file, or found there again. Private keys are CKA_SENSITIVE and not CKA_EXTRACTABLE, so the token will
 * not hand them out, wrapped or plain; a public key object of the same label and id sits beside each, for tools
 * that list the token.
 *
 * Signing hashes here and has the token sign the digest: CKM_ECDSA (whose raw r ‖ s becomes DER) and
 * CKM_RSA_PKCS over a DigestInfo. Tokens differ in the hash-and-sign mechanisms they offer (SoftHSM has no
 * CKM_ECDSA_SHA256), while every one that signs with ECDSA or RSA has these two.
 */
import crypto, { createHash, type KeyObject } from 'node:crypto';
import * as der from '../pki/der.js';
import { MtlsCaError } from '../pki/errors.js';
import { ecdsaSignatureDer, type KeyType, keyTypeName, type Signer, signatureDigest } from '../pki/keys.js';
import { OID } from '../pki/oids.js';
import { type Handle, type Template, TokenSession, tokenFailure } from './pkcs11.js';
import { formatPkcs11Uri, type Pkcs11Uri } from './uri.js';

/** How to reach a token: the module that drives it and the user PIN. */
export interface TokenAccess {
  /** The PKCS#11 module, a shared library (`/usr/lib/softhsm/libsofthsm2.so`). */
  modulePath: string;
  /** The user PIN; it goes to the token and nowhere else. */
  pin: string;
}

/** The key types a token key may have: what mtls-ca signs with, less Ed25519 (a pure scheme: see keys.ts). */
export const TOKEN_KEY_TYPES: readonly KeyType[] = [
  'ecdsa-p256',
  'ecdsa-p384',
  'rsa-2048',
  'rsa-3072',
  'rsa-4096',
];

const CURVES = {
  'ecdsa-p256': { oid: OID.prime256v1, jwk: 'P-256', size: 32 },
  'ecdsa-p384': { oid: OID.secp384r1, jwk: 'P-384', size: 48 },
} as const;

/** The digests' DigestInfo for CKM_RSA_PKCS (RFC 8017 9.2). */
function digestInfo(hash: 'sha256' | 'sha384', digest: Buffer): Buffer {
  return der.sequence(der.sequence(der.oid(OID[hash]), der.nullValue()), der.octetString(digest));
}

function assertTokenKeyType(type: string, action: string): asserts type is KeyType {
  if (!(TOKEN_KEY_TYPES as readonly string[]).includes(type)) {
    throw new MtlsCaError(
      'UNSUPPORTED',
      `${action}: a token key of type ${type} is not supported (${TOKEN_KEY_TYPES.join(', ')} are)`,
    );
  }
}

const b64url = (b: Buffer) => b.toString('base64url');
const unsigned = (b: Buffer) => {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
};

/** The uncompressed point of CKA_EC_POINT: a DER OCTET STRING (PKCS#11 2.40), or the bare point of older tokens. */
function ecPoint(value: Buffer, size: number): Buffer {
  if (value.length === 1 + 2 * size && value[0] === 0x04) return value;
  const node = der.decode(value, 'CKA_EC_POINT');
  return der.octetsOf(node);
}

/** A key in a token, signing through one logged-in session. */
export class TokenKey implements Signer {
  readonly publicKey: KeyObject;
  /** Its RFC 7512 URI (token, object, id; pin-source and module-path when given), without a PIN. */
  readonly uri: string;
  readonly #session: TokenSession;
  readonly #key: Handle;
  readonly #ec: boolean;
  readonly #hash: 'sha256' | 'sha384';
  /** The longest signature: r ‖ s, or the modulus. */
  readonly #maxLength: number;
  /** The objects this process made (key pair), which {@link destroy} removes again. */
  readonly #made: Handle[];

  constructor(session: TokenSession, key: Handle, publicKey: KeyObject, uri: string, made: Handle[] = []) {
    this.#session = session;
    this.#key = key;
    this.publicKey = publicKey;
    this.uri = uri;
    this.#made = made;
    this.#ec = publicKey.asymmetricKeyType === 'ec';
    this.#hash = signatureDigest(publicKey);
    const d = publicKey.asymmetricKeyDetails ?? {};
    this.#maxLength = this.#ec
      ? 2 * (d.namedCurve === 'secp384r1' ? 48 : 32)
      : Math.ceil((d.modulusLength ?? 4096) / 8);
  }

  sign(data: Buffer): Buffer {
    const digest = createHash(this.#hash).update(data).digest();
    const { lib } = this.#session;
    try {
      if (this.#ec)
        return ecdsaSignatureDer(this.#session.sign(lib.CKM_ECDSA, this.#key, digest, this.#maxLength));
      return this.#session.sign(lib.CKM_RSA_PKCS, this.#key, digestInfo(this.#hash, digest), this.#maxLength);
    } catch (e) {
      throw tokenFailure(`sign with ${this.uri}`, e);
    }
  }

  /** Ends the session (the token logs out with its last one). */
  close(): void {
    this.#session.close();
  }

  /** Removes the objects this process made in the token — undoing a generate or import that is not used. */
  destroy(): void {
    for (const h of this.#made.splice(0)) {
      try {
        this.#session.destroyObject(h);
      } catch {
        // nothing more to undo with a token that no longer answers
      }
    }
  }
}

/** The URI the directory keeps: what finds the key again, never a PIN. */
function keyUri(uri: Pkcs11Uri, id: Buffer): string {
  return formatPkcs11Uri({
    token: uri.token,
    manufacturer: uri.manufacturer,
    model: uri.model,
    serial: uri.serial,
    object: uri.object,
    id,
    type: 'private',
    pinSource: uri.pinSource,
    modulePath: uri.modulePath,
  });
}

function requireLabel(uri: Pkcs11Uri, action: string): string {
  if (uri.object === undefined || uri.object === '') {
    throw new MtlsCaError('INVALID_ARGUMENT', `${action}: the URI names no object= (the key's label)`);
  }
  if (uri.type !== undefined && uri.type !== 'private') {
    throw new MtlsCaError('INVALID_ARGUMENT', `${action}: type=${uri.type}, but a CA key is type=private`);
  }
  return uri.object;
}

/** Refuses a label (or id) the token already uses for a key: a key is never replaced. */
function refuseTaken(session: TokenSession, label: string, id: Buffer | undefined, action: string): void {
  const { lib } = session;
  const taken = [
    ...session.find([{ type: lib.CKA_LABEL, value: label }]),
    ...(id ? session.find([{ type: lib.CKA_ID, value: id }]) : []),
  ];
  if (taken.length > 0) {
    throw new MtlsCaError(
      'ALREADY_EXISTS',
      `${action}: ${session.name} already holds an object ${id ? `labelled "${label}" or with that id` : `labelled "${label}"`}`,
    );
  }
}

/**
 * The boolean attributes of a new key's two halves: kept in the token; the private half sensitive, never
 * extractable, and used only to sign (tokens such as SoftHSM allow decrypting and unwrapping by default).
 */
const HALVES = {
  private: {
    yes: ['CKA_TOKEN', 'CKA_PRIVATE', 'CKA_SENSITIVE', 'CKA_SIGN'],
    no: ['CKA_EXTRACTABLE', 'CKA_DECRYPT', 'CKA_UNWRAP', 'CKA_DERIVE'],
  },
  public: { yes: ['CKA_TOKEN', 'CKA_VERIFY'], no: ['CKA_PRIVATE', 'CKA_ENCRYPT', 'CKA_WRAP', 'CKA_DERIVE'] },
} as const;

/** The template of a new key's private or public half, labelled `label` with CKA_ID `id`. */
function keyTemplate(session: TokenSession, half: 'private' | 'public', label: string, id: Buffer): Template {
  const { lib } = session;
  const { yes, no } = HALVES[half];
  return [
    { type: lib.CKA_CLASS, value: half === 'private' ? lib.CKO_PRIVATE_KEY : lib.CKO_PUBLIC_KEY },
    { type: lib.CKA_LABEL, value: label },
    { type: lib.CKA_ID, value: id },
    ...yes.map((name) => ({ type: lib[name], value: true })),
    ...no.map((name) => ({ type: lib[name], value: false })),
  ];
}

/** Opens a session for `action`, runs `use`, and closes the session again if `use` fails. */
async function withSession<T>(
  uri: Pkcs11Uri,
  access: TokenAccess,
  use: (session: TokenSession) => T,
): Promise<T> {
  const session = await TokenSession.open(access.modulePath, uri, access.pin);
  try {
    return use(session);
  } catch (e) {
    session.close();
    throw e;
  }
}

/**
 * Opens a session for a new key of `keyType` labelled `object=` of the URI, after refusing a label (or id) in
 * use, and runs `make` with its label and id (the URI's, or 8 random bytes).
 */
async function withNewKey<T>(
  uri: Pkcs11Uri,
  keyType: string,
  access: TokenAccess,
  action: string,
  make: (session: TokenSession, label: string, id: Buffer) => T,
): Promise<T> {
  assertTokenKeyType(keyType, action);
  const label = requireLabel(uri, action);
  return withSession(uri, access, (session) => {
    refuseTaken(session, label, uri.id, action);
    return make(session, label, uri.id ?? crypto.randomBytes(8));
  });
}

/**
 * Generates a key pair inside the token, labelled `object=` of the URI with a fresh random id; the private
 * half never leaves it.
 * @param uri - the token and the new key's label
 * @param keyType - ECDSA P-256 or P-384, or RSA
 * @param access - the module and the PIN
 * @throws MtlsCaError ALREADY_EXISTS when the label is taken; those of {@link TokenSession.open}
 */
export async function generateTokenKey(
  uri: Pkcs11Uri,
  keyType: KeyType,
  access: TokenAccess,
): Promise<TokenKey> {
  const action = 'generate the CA key in the token';
  return withNewKey(uri, keyType, access, action, (session, label, id) => {
    const { lib } = session;
    const pub = keyTemplate(session, 'public', label, id);
    const priv = keyTemplate(session, 'private', label, id);
    let pair: { publicKey: Handle; privateKey: Handle };
    let publicKey: KeyObject;
    try {
      if (keyType === 'ecdsa-p256' || keyType === 'ecdsa-p384') {
        const curve = CURVES[keyType];
        const params = { type: lib.CKA_EC_PARAMS, value: der.oid(curve.oid) };
        pair = session.generateKeyPair(lib.CKM_EC_KEY_PAIR_GEN, [...pub, params], [...priv]);
        const point = ecPoint(
          session.attributes(pair.publicKey, [lib.CKA_EC_POINT]).get(lib.CKA_EC_POINT)!,
          curve.size,
        );
        publicKey = crypto.createPublicKey({
          key: {
            kty: 'EC',
            crv: curve.jwk,
            x: b64url(point.subarray(1, 1 + curve.size)),
            y: b64url(point.subarray(1 + curve.size)),
          },
          format: 'jwk',
        });
      } else {
        pair = session.generateKeyPair(
          lib.CKM_RSA_PKCS_KEY_PAIR_GEN,
          [
            ...pub,
            { type: lib.CKA_MODULUS_BITS, value: Number(keyType.slice(4)) },
            { type: lib.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
          ],
          priv,
        );
        const a = session.attributes(pair.publicKey, [lib.CKA_MODULUS, lib.CKA_PUBLIC_EXPONENT]);
        publicKey = crypto.createPublicKey({
          key: {
            kty: 'RSA',
            n: b64url(unsigned(a.get(lib.CKA_MODULUS)!)),
            e: b64url(unsigned(a.get(lib.CKA_PUBLIC_EXPONENT)!)),
          },
          format: 'jwk',
        });
      }
    } catch (e) {
      throw tokenFailure(`${action} (${session.name})`, e);
    }
    return new TokenKey(session, pair.privateKey, publicKey, keyUri(uri, id), [
      pair.privateKey,
      pair.publicKey,
    ]);
  });
}

/**
 * Writes a private key into the token as a sensitive, non-extractable key labelled `object=` (with a public
 * key object beside it), for a CA whose key moves from a file into the token.
 * @param uri - the token and the key's label
 * @param privateKey - the key to move: ECDSA P-256 or P-384, or RSA
 * @param access - the module and the PIN
 * @throws MtlsCaError ALREADY_EXISTS when the label is taken, UNSUPPORTED for another key type
 */
export async function importTokenKey(
  uri: Pkcs11Uri,
  privateKey: KeyObject,
  access: TokenAccess,
): Promise<TokenKey> {
  const action = 'write the CA key into the token';
  const keyType = keyTypeName(privateKey);
  return withNewKey(uri, keyType, access, action, (session, label, id) => {
    const { lib } = session;
    const jwk = privateKey.export({ format: 'jwk' });
    const bytes = (v: string | undefined) => Buffer.from(v ?? '', 'base64url');
    const made: Handle[] = [];
    try {
      if (keyType === 'ecdsa-p256' || keyType === 'ecdsa-p384') {
        const curve = CURVES[keyType];
        const params = { type: lib.CKA_EC_PARAMS, value: der.oid(curve.oid) };
        const ec = { type: lib.CKA_KEY_TYPE, value: lib.CKK_EC };
        const point = Buffer.concat([Buffer.from([4]), bytes(jwk.x), bytes(jwk.y)]);
        made.push(
          session.createObject([
            ...keyTemplate(session, 'private', label, id),
            ec,
            params,
            { type: lib.CKA_VALUE, value: bytes(jwk.d) },
          ]),
        );
        made.push(
          session.createObject([
            ...keyTemplate(session, 'public', label, id),
            ec,
            params,
            { type: lib.CKA_EC_POINT, value: der.octetString(point) },
          ]),
        );
      } else {
        const rsa = { type: lib.CKA_KEY_TYPE, value: lib.CKK_RSA };
        const modulus = [
          { type: lib.CKA_MODULUS, value: bytes(jwk.n) },
          { type: lib.CKA_PUBLIC_EXPONENT, value: bytes(jwk.e) },
        ];
        made.push(
          session.createObject([
            ...keyTemplate(session, 'private', label, id),
            rsa,
            ...modulus,
            { type: lib.CKA_PRIVATE_EXPONENT, value: bytes(jwk.d) },
            { type: lib.CKA_PRIME_1, value: bytes(jwk.p) },
            { type: lib.CKA_PRIME_2, value: bytes(jwk.q) },
            { type: lib.CKA_EXPONENT_1, value: bytes(jwk.dp) },
            { type: lib.CKA_EXPONENT_2, value: bytes(jwk.dq) },
            { type: lib.CKA_COEFFICIENT, value: bytes(jwk.qi) },
          ]),
        );
        made.push(session.createObject([...keyTemplate(session, 'public', label, id), rsa, ...modulus]));
      }
    } catch (e) {
      for (const h of made) session.destroyObject(h);
      throw tokenFailure(`${action} (${session.name})`, e);
    }
    return new TokenKey(session, made[0]!, crypto.createPublicKey(privateKey), keyUri(uri, id), made);
  });
}

/** What a private key object is, in {@link keyTypeName}'s words: `ecdsa-p256`, `rsa-2048`, `ec-…`. */
function tokenKeyType(session: TokenSession, key: Handle): string {
  const { lib } = session;
  const type = session.attributes(key, [lib.CKA_KEY_TYPE]).get(lib.CKA_KEY_TYPE)!.readUIntLE(0, 4);
  if (type === lib.CKK_EC) {
    const params = session.attributes(key, [lib.CKA_EC_PARAMS]).get(lib.CKA_EC_PARAMS)!;
    const oid = der.readOid(der.decode(params, 'CKA_EC_PARAMS'));
    const curve = Object.entries(CURVES).find(([, c]) => c.oid === oid);
    return curve ? curve[0] : `ec-${oid}`;
  }
  if (type === lib.CKK_RSA) {
    const modulus = unsigned(session.attributes(key, [lib.CKA_MODULUS]).get(lib.CKA_MODULUS)!);
    return `rsa-${modulus.length * 8}`;
  }
  return `key type 0x${type.toString(16)}`;
}

/** The class of a PKCS#11 object, in RFC 7512's words. */
function className(session: TokenSession, object: Handle): string {
  const { lib } = session;
  const cls = session.attributes(object, [lib.CKA_CLASS]).get(lib.CKA_CLASS)!.readUIntLE(0, 4);
  const names: Record<number, string> = {
    [lib.CKO_PUBLIC_KEY]: 'public key',
    [lib.CKO_SECRET_KEY]: 'secret key',
    [lib.CKO_CERTIFICATE]: 'certificate',
    [lib.CKO_DATA]: 'data object',
  };
  return names[cls] ?? `object of class 0x${cls.toString(16)}`;
}

/**
 * Finds the private key the URI names (by label, and id when given) and opens it for signing as the key of a
 * CA whose public key is `publicKey`. Whether it really is that key, a signature shows (the caller checks).
 * @param uri - token, object (label), optionally id
 * @param publicKey - the CA certificate's public key: the key type the token key must have
 * @param access - the module and the PIN
 * @throws MtlsCaError KEY_NOT_FOUND, WRONG_KEY_TYPE; those of {@link TokenSession.open}
 */
export async function openTokenKey(
  uri: Pkcs11Uri,
  publicKey: KeyObject,
  access: TokenAccess,
): Promise<TokenKey> {
  const label = requireLabel(uri, 'use the CA key in the token');
  const want = keyTypeName(publicKey);
  return withSession(uri, access, (session) => {
    const { lib } = session;
    const action = `use key "${label}" of ${session.name}`;
    try {
      const match = [
        { type: lib.CKA_LABEL, value: label },
        ...(uri.id ? [{ type: lib.CKA_ID, value: uri.id }] : []),
      ];
      const keys = session.find([{ type: lib.CKA_CLASS, value: lib.CKO_PRIVATE_KEY }, ...match]);
      if (keys.length === 0) {
        // its public key left behind is no sign of a mix-up; a secret key or a certificate there is
        const others = session.find(match).filter((o) => className(session, o) !== 'public key');
        if (others.length > 0) {
          throw new MtlsCaError(
            'WRONG_KEY_TYPE',
            `${action}: it is a ${className(session, others[0]!)}, not a private key`,
          );
        }
        throw new MtlsCaError(
          'KEY_NOT_FOUND',
          `${action}: the token has no private key of that label${uri.id ? ' and id' : ''}`,
        );
      }
      if (keys.length > 1) {
        throw new MtlsCaError(
          'KEY_NOT_FOUND',
          `${action}: ${keys.length} private keys have that label (name one by its id=)`,
        );
      }
      const key = keys[0]!;
      const have = tokenKeyType(session, key);
      if (have !== want) {
        throw new MtlsCaError(
          'WRONG_KEY_TYPE',
          `${action}: it is ${have}, and the CA certificate's key is ${want}`,
        );
      }
      return new TokenKey(session, key, publicKey, formatPkcs11Uri({ ...uri, type: 'private' }));
    } catch (e) {
      throw tokenFailure(action, e);
    }
  });
}

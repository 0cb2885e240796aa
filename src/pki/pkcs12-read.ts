/**
 * Reading PKCS#12 files (RFC 7292): ours in both profiles (pkcs12.ts), `openssl pkcs12 -export` with and
 * without `-legacy`, keytool's and Windows'. Every algorithm they use is decrypted natively, except the
 * legacy RC2 cipher, which OpenSSL 3 keeps in a provider Node does not load: it goes through forge.ts.
 */
import crypto, { type KeyObject } from 'node:crypto';
import { Certificate } from './certificate.js';
import * as der from './der.js';
import { MtlsCaError } from './errors.js';
import { rc2CbcDecryptRaw } from './forge.js';
import { OID } from './oids.js';
import { MAX_PKCS12_ITERATIONS } from './pkcs12.js';
import { derivePkcs12Key, Pkcs12KeyId, pkcs12PasswordBytes } from './pkcs12-kdf.js';

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

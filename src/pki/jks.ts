/**
 * Java KeyStore (JKS) trust stores: the format of `keytool -importcert -storetype JKS` and of Spring Boot's
 * `server.ssl.trust-store`. The format is Sun's, never standardised; this follows the JDK's reader
 * (sun.security.provider.JavaKeyStore engineLoad/engineStore):
 *
 *   u4 magic 0xFEEDFEED, u4 version 2, u4 count,
 *   per entry: u4 tag (1 private key, 2 trusted certificate), UTF alias, u8 date (ms since 1970),
 *     tag 2: UTF "X.509", u4 length, certificate DER
 *     tag 1: u4 length, EncryptedPrivateKeyInfo, u4 chain length, chain certificates as above
 *   SHA-1(password as UTF-16BE ‖ "Mighty Aphrodite" ‖ all preceding bytes)
 *
 * where UTF is Java's DataOutput.writeUTF: a u2 byte length and "modified UTF-8". Version 1 stores omit the
 * certificate type string. The trailing digest is the only integrity (and password) check JKS has.
 */
import crypto from 'node:crypto';
import { Certificate } from './certificate.js';
import { MtlsCaError } from './errors.js';
import { checkAliases } from './pkcs12.js';

const JKS_MAGIC = 0xfeedfeed;
const JCEKS_MAGIC = 0xcececece;
const TAG_PRIVATE_KEY = 1;
const TAG_TRUSTED_CERT = 2;
/** The constant the JDK mixes into the integrity digest (JavaKeyStore.getPreKeyedHash). */
const DIGEST_WHITENER = Buffer.from('Mighty Aphrodite', 'utf8');
const DIGEST_LENGTH = 20;

/** Whether `data` starts as a JKS store does (its magic number), so that it is worth reading as one. */
export function isJks(data: Uint8Array): boolean {
  return data.length >= 4 && Buffer.from(data.buffer, data.byteOffset, 4).readUInt32BE(0) === JKS_MAGIC;
}

export interface JksEntry {
  alias: string;
  certificate: Certificate;
  /** Creation date stored with the entry (keytool shows it). */
  date: Date;
}

/** Java's modified UTF-8 (DataOutput.writeUTF): NUL as C0 80, supplementary characters as two surrogates. */
function writeUtf(s: string, action: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x01 && c <= 0x7f) bytes.push(c);
    else if (c <= 0x7ff) bytes.push(0xc0 | (c >> 6), 0x80 | (c & 0x3f));
    else bytes.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
  }
  if (bytes.length > 0xffff) throw new MtlsCaError('INVALID_ARGUMENT', `${action}: an alias is too long`);
  const out = Buffer.alloc(2 + bytes.length);
  out.writeUInt16BE(bytes.length, 0);
  Buffer.from(bytes).copy(out, 2);
  return out;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n), 0);
  return b;
}

/** A trustedCertEntry: tag, alias (lowercased, as the JDK stores it), date, then the certificate. */
function trustedEntry(
  version: number,
  alias: string,
  certificate: Certificate,
  date: Date,
  action: string,
): Buffer {
  return Buffer.concat([
    u32(TAG_TRUSTED_CERT),
    writeUtf(alias.toLowerCase(), action),
    u64(date.getTime()),
    // Version 1 stores have no certificate type.
    ...(version === 2 ? [writeUtf('X.509', action)] : []),
    u32(certificate.der.length),
    certificate.der,
  ]);
}

/** The keyed SHA-1 over the store body; the password enters as UTF-16BE bytes of its chars. */
function storeDigest(password: string, body: Buffer): Buffer {
  return crypto
    .createHash('sha1')
    .update(Buffer.from(password, 'utf16le').swap16())
    .update(DIGEST_WHITENER)
    .update(body)
    .digest();
}

/**
 * A JKS trust store of trustedCertEntry items, as `keytool -importcert -storetype JKS` writes it.
 * Aliases are stored lowercased, as the JDK does (JavaKeyStore.convertAlias), so they read back the same.
 * @param entries - alias and CA certificate; aliases must be unique ignoring case
 * @param password - the store password; must not be empty (keytool asks for at least 6 characters)
 * @param now - the entries' creation date; default now
 * @returns the file bytes
 */
export function createJks(
  entries: { alias: string; certificate: Certificate }[],
  password: string,
  now: Date = new Date(),
): Buffer {
  const action = 'create JKS trust store';
  if (typeof password !== 'string' || password.length === 0) {
    throw new MtlsCaError('INVALID_ARGUMENT', `${action}: the password is empty`, 'choose a store password');
  }
  checkAliases(entries, action);
  return writeJks(
    2,
    entries.map((e) => trustedEntry(2, e.alias, e.certificate, now, action)),
    password,
  );
}

class Reader {
  pos = 0;
  constructor(
    readonly buf: Buffer,
    readonly what: string,
  ) {}

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw truncated(this.what);
  }

  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  u64(): bigint {
    this.need(8);
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  bytes(n: number): Buffer {
    this.need(n);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  /** DataInput.readUTF (modified UTF-8). */
  utf(): string {
    const b = this.bytes(this.u16());
    let s = '';
    for (let i = 0; i < b.length; ) {
      const c = b[i]!;
      if (c < 0x80) {
        s += String.fromCharCode(c);
        i += 1;
      } else if ((c & 0xe0) === 0xc0 && i + 1 < b.length) {
        s += String.fromCharCode(((c & 0x1f) << 6) | (b[i + 1]! & 0x3f));
        i += 2;
      } else if ((c & 0xf0) === 0xe0 && i + 2 < b.length) {
        s += String.fromCharCode(((c & 0x0f) << 12) | ((b[i + 1]! & 0x3f) << 6) | (b[i + 2]! & 0x3f));
        i += 3;
      } else {
        throw malformed(this.what, 'bad modified UTF-8 in a string');
      }
    }
    return s;
  }
}

function malformed(what: string, detail: string): MtlsCaError {
  return new MtlsCaError('PARSE_FAILED', `read ${what}: not a valid JKS key store (${detail})`);
}

function truncated(what: string): MtlsCaError {
  return malformed(what, 'truncated');
}

/** One entry of a JKS store as it is in the file: its bytes, kept whole so that a rewrite changes nothing else. */
interface RawEntry {
  alias: string;
  tag: number;
  date: Date;
  /** The entry's bytes, from its tag to its end. */
  raw: Buffer;
  /** For a trusted certificate entry. */
  certificate?: Certificate;
}

/**
 * The entries of a JKS store after checking its integrity digest.
 * @throws MtlsCaError as {@link parseJks}
 */
function readJks(data: Buffer, password: string, what: string): { version: number; entries: RawEntry[] } {
  const header = new Reader(data, what);
  const magic = header.u32();
  if (magic === JCEKS_MAGIC) {
    throw new MtlsCaError(
      'UNSUPPORTED',
      `read ${what}: JCEKS key stores are not supported`,
      `convert it: keytool -importkeystore -srckeystore ${what} -srcstoretype JCEKS -deststoretype PKCS12 -destkeystore out.p12`,
    );
  }
  if (magic !== JKS_MAGIC) {
    throw malformed(
      what,
      data[0] === 0x30 ? 'it looks like PKCS#12; read it as .p12' : 'no 0xFEEDFEED header',
    );
  }
  const version = header.u32();
  if (version !== 1 && version !== 2) throw malformed(what, `unknown version ${version}`);
  if (data.length < 12 + DIGEST_LENGTH) throw truncated(what);
  const body = data.subarray(0, data.length - DIGEST_LENGTH);
  if (!crypto.timingSafeEqual(storeDigest(password, body), data.subarray(body.length))) {
    throw new MtlsCaError(
      'BAD_PASSWORD',
      `read ${what}: wrong password, or the file was altered (the integrity digest does not match)`,
    );
  }
  const r = new Reader(body, what);
  r.pos = 8;
  const count = r.u32();
  const readCert = (): Certificate => {
    if (version === 2) {
      const type = r.utf();
      if (type !== 'X.509') throw malformed(what, `certificate type ${type} is not X.509`);
    }
    return new Certificate(Buffer.from(r.bytes(r.u32())), `certificate in ${what}`);
  };
  const entries: RawEntry[] = [];
  for (let i = 0; i < count; i++) {
    const start = r.pos;
    const tag = r.u32();
    const alias = r.utf();
    const date = new Date(Number(r.u64()));
    let certificate: Certificate | undefined;
    if (tag === TAG_TRUSTED_CERT) {
      certificate = readCert();
    } else if (tag === TAG_PRIVATE_KEY) {
      r.bytes(r.u32());
      const chain = r.u32();
      for (let j = 0; j < chain; j++) readCert();
    } else {
      throw malformed(what, `unknown entry tag ${tag}`);
    }
    entries.push({ alias, tag, date, raw: body.subarray(start, r.pos), certificate });
  }
  if (r.pos !== body.length) throw malformed(what, 'trailing bytes after the entries');
  return { version, entries };
}

/** A store of `entries` (each kept as its bytes), with its digest. */
function writeJks(version: number, entries: Buffer[], password: string): Buffer {
  const body = Buffer.concat([u32(JKS_MAGIC), u32(version), u32(entries.length), ...entries]);
  return Buffer.concat([body, storeDigest(password, body)]);
}

/**
 * Reads the trusted certificates of a JKS key store after checking its integrity digest. Private key
 * entries are skipped (their keys need a key password and a proprietary cipher; trust stores have none).
 * @param data - the file bytes
 * @param password - the store password
 * @param what - names the input in errors (a file path)
 * @throws MtlsCaError `BAD_PASSWORD` when the digest does not match (wrong password or altered file),
 *   `PARSE_FAILED` for anything not JKS, `UNSUPPORTED` for JCEKS
 */
export function parseJks(data: Buffer, password: string, what: string): JksEntry[] {
  return readJks(data, password, what).entries.flatMap((e) =>
    e.certificate ? [{ alias: e.alias, certificate: e.certificate, date: e.date }] : [],
  );
}

/**
 * Adds a trusted certificate entry at the end of an existing JKS store (as `keytool -importcert` does to
 * `cacerts`), every other entry kept byte for byte and in its place, so that {@link removeJksEntry} of the
 * same alias gives back the original file.
 * @param data - the store's bytes
 * @param password - its password (the digest is recomputed with it)
 * @param alias - the new entry's alias, stored lowercased as the JDK does; must not be in use
 * @param certificate - the certificate to trust
 * @param what - names the store in errors
 * @param now - the entry's creation date; default now
 * @throws MtlsCaError `ALREADY_EXISTS` when the alias is taken, and as {@link parseJks}
 */
export function addJksTrustedCertificate(
  data: Buffer,
  password: string,
  alias: string,
  certificate: Certificate,
  what: string,
  now: Date = new Date(),
): Buffer {
  const { version, entries } = readJks(data, password, what);
  const key = alias.toLowerCase();
  if (entries.some((e) => e.alias.toLowerCase() === key)) {
    throw new MtlsCaError('ALREADY_EXISTS', `add "${key}" to ${what}: the alias is in use`);
  }
  const entry = trustedEntry(version, key, certificate, now, `add "${key}" to ${what}`);
  return writeJks(version, [...entries.map((e) => e.raw), entry], password);
}

/**
 * Removes the entry `alias` from a JKS store, every other entry kept byte for byte.
 * @param data - the store's bytes
 * @param password - its password
 * @param alias - the alias (any case)
 * @param what - names the store in errors
 * @returns the new bytes, or undefined when there is no such entry
 */
export function removeJksEntry(
  data: Buffer,
  password: string,
  alias: string,
  what: string,
): Buffer | undefined {
  const { version, entries } = readJks(data, password, what);
  const key = alias.toLowerCase();
  const kept = entries.filter((e) => e.alias.toLowerCase() !== key);
  if (kept.length === entries.length) return undefined;
  return writeJks(
    version,
    kept.map((e) => e.raw),
    password,
  );
}

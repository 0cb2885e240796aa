/**
 * Java trust stores in the format they already have — JKS (Debian's `cacerts` up to JDK 17) or PKCS#12 (the
 * JDK's own `cacerts` since JDK 18, and keytool's default): list their trusted certificates, add one, remove
 * one. A JKS store keeps every other entry byte for byte, so adding and then removing an entry gives back the
 * original file. A PKCS#12 store is re-encrypted with fresh salts (its profile and iteration count kept):
 * the same entries, not the same bytes.
 */
import type { Certificate } from './certificate.js';
import { MtlsCaError } from './errors.js';
import { addJksTrustedCertificate, isJks, parseJks, removeJksEntry } from './jks.js';
import { createTrustStorePkcs12, type Pkcs12Profile } from './pkcs12.js';
import { parsePkcs12 } from './pkcs12-read.js';

export type TrustStoreFormat = 'JKS' | 'PKCS12';

/** A trust store's format, from its first bytes. */
export function trustStoreFormat(data: Buffer): TrustStoreFormat {
  return isJks(data) ? 'JKS' : 'PKCS12';
}

export interface TrustedEntry {
  alias: string;
  certificate: Certificate;
}

/** The trusted certificates of a PKCS#12 trust store, refusing one that holds anything else. */
function pkcs12Entries(data: Buffer, password: string, what: string) {
  const p12 = parsePkcs12(data, password, what);
  if (p12.privateKey || p12.certificates.some((c) => !c.trusted || !c.friendlyName)) {
    throw new MtlsCaError(
      'UNSUPPORTED',
      `change ${what}: it holds private keys or certificates not marked trusted, so it is a key store, not a trust store`,
    );
  }
  const profile: Pkcs12Profile = /AES/.test(p12.certEncryption ?? '') ? 'modern' : 'compat';
  const entries = p12.certificates.map((c) => ({ alias: c.friendlyName!, certificate: c.certificate }));
  return { entries, profile, iterations: p12.iterations };
}

/**
 * The trusted certificates of a JKS or PKCS#12 trust store.
 * @param data - the store's bytes
 * @param password - its password
 * @param what - names it in errors
 */
export function trustedCertificates(data: Buffer, password: string, what: string): TrustedEntry[] {
  return trustStoreFormat(data) === 'JKS'
    ? parseJks(data, password, what)
    : pkcs12Entries(data, password, what).entries;
}

/**
 * The store with `certificate` trusted under `alias`, added after the entries it has.
 * @param data - the store's bytes
 * @param password - its password, kept
 * @param alias - a new alias (Java ignores its case)
 * @param certificate - the CA certificate
 * @param what - names the store in errors
 * @throws MtlsCaError `ALREADY_EXISTS` when the alias is in use; `BAD_PASSWORD`; `UNSUPPORTED` for a
 *   PKCS#12 file with keys
 */
export function addTrustedCertificate(
  data: Buffer,
  password: string,
  alias: string,
  certificate: Certificate,
  what: string,
): Buffer {
  if (trustStoreFormat(data) === 'JKS')
    return addJksTrustedCertificate(data, password, alias, certificate, what);
  const { entries, profile, iterations } = pkcs12Entries(data, password, what);
  if (entries.some((e) => e.alias.toLowerCase() === alias.toLowerCase())) {
    throw new MtlsCaError('ALREADY_EXISTS', `add "${alias}" to ${what}: the alias is in use`);
  }
  return createTrustStorePkcs12({
    entries: [...entries, { alias, certificate }],
    password,
    profile,
    iterations,
  });
}

/**
 * The store without the entry `alias`, or undefined when it has none.
 * @param data - the store's bytes
 * @param password - its password, kept
 * @param alias - the alias (any case)
 * @param what - names the store in errors
 */
export function removeTrustedCertificate(
  data: Buffer,
  password: string,
  alias: string,
  what: string,
): Buffer | undefined {
  if (trustStoreFormat(data) === 'JKS') return removeJksEntry(data, password, alias, what);
  const { entries, profile, iterations } = pkcs12Entries(data, password, what);
  const kept = entries.filter((e) => e.alias.toLowerCase() !== alias.toLowerCase());
  if (kept.length === entries.length) return undefined;
  // An empty PKCS#12 trust store cannot be written (checkAliases wants an entry); Java has none anyway.
  if (kept.length === 0) {
    throw new MtlsCaError(
      'UNSUPPORTED',
      `remove "${alias}" from ${what}: it is the only entry; delete the file`,
    );
  }
  return createTrustStorePkcs12({ entries: kept, password, profile, iterations });
}

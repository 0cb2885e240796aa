/**
 * The server's TLS material — its certificate and key, the CA that client certificates must chain to —
 * read from files, checked, and turned into `tls.createSecureContext` options. Both the first start and
 * `reload()` go through {@link secureContextOptions}, because `server.setSecureContext()` replaces every
 * option rather than merging: anything left out (minVersion!) would silently fall back to Node's default.
 */

import type { KeyObject } from 'node:crypto';
import fs from 'node:fs';
import type { SecureContextOptions } from 'node:tls';
import { Certificate } from '../pki/certificate.js';
import { MtlsCaError } from '../pki/errors.js';
import { isKeyPair, parsePrivateKey } from '../pki/keys.js';

/** The files a server needs. */
export interface TlsFiles {
  /** The server's certificate (PEM). */
  certFile: string;
  /** Its private key: unencrypted PEM (PKCS#8, PKCS#1 or SEC1). */
  keyFile: string;
  /** The CA certificate(s) client certificates must chain to (PEM; several may be concatenated). */
  caFile: string;
  /**
   * Read instead of `caFile` while that does not exist: a CA directory made before ca/ca-bundle.pem existed
   * has ca/ca.crt alone, until a rotation writes the bundle (then a reload reads it).
   */
  caFallback?: string;
}

/** TLS material that passed our checks, ready for {@link secureContextOptions}. */
export interface TlsMaterial {
  certPem: string;
  keyPem: string;
  caPem: string;
  certificate: Certificate;
  caCertificates: Certificate[];
}

/** The lowest protocol we speak: TLS 1.0/1.1 are deprecated by RFC 8996. */
export const MIN_TLS_VERSION = 'TLSv1.2' as const;

function readText(file: string, what: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new MtlsCaError('NOT_FOUND', `read ${what} ${file}: no such file`, undefined, e);
    }
    throw new MtlsCaError('IO_FAILED', `read ${what} ${file}: ${(e as Error).message}`, undefined, e);
  }
}

/**
 * Reads and checks the server's TLS files: each parses, the key belongs to the certificate, the CA file
 * holds at least one certificate.
 * @throws MtlsCaError NOT_FOUND, IO_FAILED, PARSE_FAILED, PASSWORD_REQUIRED or INVALID_ARGUMENT (key/cert mismatch)
 */
export function loadTlsMaterial(files: TlsFiles): TlsMaterial {
  const certPem = readText(files.certFile, 'server certificate');
  const keyPem = readText(files.keyFile, 'server key');
  const caFile = files.caFallback && !fs.existsSync(files.caFile) ? files.caFallback : files.caFile;
  const caPem = readText(caFile, 'CA certificate');
  const certificate = Certificate.from(certPem, files.certFile);
  const key: KeyObject = parsePrivateKey(keyPem, undefined, files.keyFile);
  if (!isKeyPair(key, certificate.publicKey)) {
    throw new MtlsCaError(
      'INVALID_ARGUMENT',
      `use server key ${files.keyFile}: it does not belong to certificate ${files.certFile}`,
      'replace both files together, then reload',
    );
  }
  const caCertificates = Certificate.allFromPem(caPem, caFile);
  if (caCertificates.length === 0) {
    throw new MtlsCaError('PARSE_FAILED', `read ${caFile}: no CERTIFICATE PEM block found`);
  }
  return { certPem, keyPem, caPem, certificate, caCertificates };
}

/**
 * The complete secure-context options for the server. `ca` is only our CA, never Node's public roots:
 * a client certificate from any other CA must fail.
 */
export function secureContextOptions(material: TlsMaterial): SecureContextOptions {
  return {
    cert: material.certPem,
    key: material.keyPem,
    ca: material.caPem,
    // No `crl`: the server checks revocation itself (see mtls-server.ts).
    minVersion: MIN_TLS_VERSION,
  };
}

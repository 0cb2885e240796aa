/**
 * The handshake messages a server sends that tell a client what it wants: ServerHello (the version and
 * cipher suite), Certificate (the chain exactly as sent), CertificateRequest (whether a client certificate is
 * asked for, and from which CAs) — in their TLS 1.2 (RFC 5246 §7.4) and TLS 1.3 (RFC 8446 §4) forms — and
 * the names of alerts, versions, cipher suites and signature schemes.
 */
import crypto from 'node:crypto';
import { WireReader } from './wire.js';

export const TLS12 = 0x0303;
export const TLS13 = 0x0304;

const ExtensionType = {
  signatureAlgorithms: 13,
  certificateAuthorities: 47,
  supportedVersions: 43,
} as const;

/**
 * A HelloRetryRequest is a ServerHello whose random is SHA-256("HelloRetryRequest") (RFC 8446 §4.1.3): the
 * server asks for another ClientHello, and the real ServerHello follows.
 */
const HELLO_RETRY_RANDOM = crypto.createHash('sha256').update('HelloRetryRequest').digest();

export interface ServerHello {
  /** The negotiated version: supported_versions when present (TLS 1.3), else legacy_version. */
  version: number;
  cipherSuite: number;
  helloRetryRequest: boolean;
}

/** Extensions as a type → data map; a type sent twice is malformed (§4.2). */
function readExtensions(r: WireReader): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  const all = new WireReader(r.vector(2), 'extensions');
  while (all.remaining > 0) {
    const type = all.u16();
    const data = all.vector(2);
    if (out.has(type)) throw all.fail(`extension ${type} appears twice`);
    out.set(type, data);
  }
  return out;
}

export function parseServerHello(body: Buffer): ServerHello {
  const r = new WireReader(body, 'ServerHello');
  const legacyVersion = r.u16();
  const random = r.bytesOf(32);
  r.vector(1); // legacy_session_id_echo
  const cipherSuite = r.u16();
  r.u8(); // legacy_compression_method
  // TLS 1.2 and earlier may end the message here (RFC 5246 §7.4.1.3).
  const extensions = r.remaining > 0 ? readExtensions(r) : new Map<number, Buffer>();
  r.end();
  const supported = extensions.get(ExtensionType.supportedVersions);
  let version = legacyVersion;
  if (supported) {
    const v = new WireReader(supported, 'supported_versions');
    version = v.u16();
    v.end();
  }
  return { version, cipherSuite, helloRetryRequest: random.equals(HELLO_RETRY_RANDOM) };
}

/** The certificates of a Certificate message, leaf first, as DER, exactly as they were sent. */
export function parseCertificate(body: Buffer, version: number): Buffer[] {
  const r = new WireReader(body, 'Certificate');
  if (version >= TLS13) r.vector(1); // certificate_request_context
  const list = new WireReader(r.vector(3), 'Certificate list');
  r.end();
  const out: Buffer[] = [];
  while (list.remaining > 0) {
    out.push(list.vector(3, 1));
    if (version >= TLS13) list.vector(2); // per-certificate extensions (OCSP status, SCTs)
  }
  return out;
}

export interface CertificateRequest {
  /**
   * The DER-encoded Names of the CAs the server accepts client certificates from: TLS 1.2's
   * certificate_authorities, TLS 1.3's certificate_authorities extension. Empty when the server names none
   * (then a client may send any certificate).
   */
  caNames: Buffer[];
  /** SignatureScheme code points the server accepts in the client's CertificateVerify. */
  signatureAlgorithms: number[];
  /** TLS 1.2's ClientCertificateType list (1 rsa_sign, 64 ecdsa_sign); absent in TLS 1.3. */
  certificateTypes?: number[];
}

function readNames(r: WireReader): Buffer[] {
  const out: Buffer[] = [];
  while (r.remaining > 0) out.push(r.vector(2, 1));
  return out;
}

function readSchemes(data: Buffer, what: string): number[] {
  const r = new WireReader(data, what);
  const list = new WireReader(r.vector(2), what);
  r.end();
  const out: number[] = [];
  while (list.remaining > 0) out.push(list.u16());
  return out;
}

export function parseCertificateRequest(body: Buffer, version: number): CertificateRequest {
  if (version >= TLS13) {
    const r = new WireReader(body, 'CertificateRequest');
    r.vector(1); // certificate_request_context
    const extensions = readExtensions(r);
    r.end();
    const sigAlgs = extensions.get(ExtensionType.signatureAlgorithms);
    if (!sigAlgs) throw r.fail('no signature_algorithms extension, which TLS 1.3 requires');
    const authorities = extensions.get(ExtensionType.certificateAuthorities);
    let caNames: Buffer[] = [];
    if (authorities) {
      const a = new WireReader(authorities, 'certificate_authorities');
      // RFC 8446 asks for at least one name (authorities<3..2^16-1>), but OpenSSL 3.0 with -no_ca_names
      // sends the extension empty: read that as what it means, no names.
      caNames = readNames(new WireReader(a.vector(2), 'certificate_authorities'));
      a.end();
    }
    return { caNames, signatureAlgorithms: readSchemes(sigAlgs, 'signature_algorithms') };
  }
  const r = new WireReader(body, 'CertificateRequest');
  const certificateTypes = [...r.vector(1, 1)];
  const signatureAlgorithms: number[] = [];
  // TLS 1.0 and 1.1 have no signature algorithms here; TLS 1.2 does (RFC 5246 §7.4.4).
  if (version >= TLS12) {
    const list = new WireReader(r.vector(2, 2), 'supported_signature_algorithms');
    while (list.remaining > 0) signatureAlgorithms.push(list.u16());
  }
  const caNames = readNames(new WireReader(r.vector(2), 'certificate_authorities'));
  r.end();
  return { caNames, signatureAlgorithms, certificateTypes };
}

/** RFC 8446 §6 and RFC 5246 §7.2. */
const ALERTS: Record<number, string> = {
  0: 'close_notify',
  10: 'unexpected_message',
  20: 'bad_record_mac',
  21: 'decryption_failed',
  22: 'record_overflow',
  40: 'handshake_failure',
  41: 'no_certificate',
  42: 'bad_certificate',
  43: 'unsupported_certificate',
  44: 'certificate_revoked',
  45: 'certificate_expired',
  46: 'certificate_unknown',
  47: 'illegal_parameter',
  48: 'unknown_ca',
  49: 'access_denied',
  50: 'decode_error',
  51: 'decrypt_error',
  70: 'protocol_version',
  71: 'insufficient_security',
  80: 'internal_error',
  86: 'inappropriate_fallback',
  90: 'user_canceled',
  100: 'no_renegotiation',
  109: 'missing_extension',
  110: 'unsupported_extension',
  112: 'unrecognized_name',
  113: 'bad_certificate_status_response',
  115: 'unknown_psk_identity',
  116: 'certificate_required',
  120: 'no_application_protocol',
};

/** `certificate_expired`, or `alert 199` for one without a name. */
export function alertName(description: number): string {
  return ALERTS[description] ?? `alert ${description}`;
}

/** `TLSv1.3` as Node and OpenSSL name versions. */
export function versionName(version: number): string {
  if (version === 0x0300) return 'SSLv3';
  if (version >= 0x0301 && version <= TLS13) return `TLSv1.${version - 0x0301}`;
  return `0x${version.toString(16).padStart(4, '0')}`;
}

/** IANA names of the suites servers choose today (RFC 8446 §B.4, RFC 5289, RFC 7905). */
const CIPHER_SUITES = new Map<number, string>([
  [0x1301, 'TLS_AES_128_GCM_SHA256'],
  [0x1302, 'TLS_AES_256_GCM_SHA384'],
  [0x1303, 'TLS_CHACHA20_POLY1305_SHA256'],
  [0x1304, 'TLS_AES_128_CCM_SHA256'],
  [0x1305, 'TLS_AES_128_CCM_8_SHA256'],
  [0xc02b, 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'],
  [0xc02c, 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384'],
  [0xc02f, 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256'],
  [0xc030, 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384'],
  [0xcca8, 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256'],
  [0xcca9, 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256'],
  [0x009e, 'TLS_DHE_RSA_WITH_AES_128_GCM_SHA256'],
  [0x009f, 'TLS_DHE_RSA_WITH_AES_256_GCM_SHA384'],
]);

export function cipherSuiteName(suite: number): string {
  return CIPHER_SUITES.get(suite) ?? `0x${suite.toString(16).padStart(4, '0')}`;
}

/** RFC 8446 §4.2.3. */
const SIGNATURE_SCHEMES = new Map<number, string>([
  [0x0201, 'rsa_pkcs1_sha1'],
  [0x0203, 'ecdsa_sha1'],
  // TLS 1.2's SHA-224 and DSA pairs (RFC 5246 §7.4.1.4.1), which OpenSSL still offers there
  [0x0301, 'rsa_sha224'],
  [0x0302, 'dsa_sha224'],
  [0x0303, 'ecdsa_sha224'],
  [0x0402, 'dsa_sha256'],
  [0x0502, 'dsa_sha384'],
  [0x0602, 'dsa_sha512'],
  [0x0401, 'rsa_pkcs1_sha256'],
  [0x0501, 'rsa_pkcs1_sha384'],
  [0x0601, 'rsa_pkcs1_sha512'],
  [0x0403, 'ecdsa_secp256r1_sha256'],
  [0x0503, 'ecdsa_secp384r1_sha384'],
  [0x0603, 'ecdsa_secp521r1_sha512'],
  [0x0804, 'rsa_pss_rsae_sha256'],
  [0x0805, 'rsa_pss_rsae_sha384'],
  [0x0806, 'rsa_pss_rsae_sha512'],
  [0x0807, 'ed25519'],
  [0x0808, 'ed448'],
  [0x0809, 'rsa_pss_pss_sha256'],
  [0x080a, 'rsa_pss_pss_sha384'],
  [0x080b, 'rsa_pss_pss_sha512'],
]);

export function signatureSchemeName(scheme: number): string {
  return SIGNATURE_SCHEMES.get(scheme) ?? `0x${scheme.toString(16).padStart(4, '0')}`;
}

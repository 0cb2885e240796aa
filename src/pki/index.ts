/**
 * `mtls-ca/pki`: the certificate authority as a library — keys, certificates, CSRs, PKCS#12 and JKS stores,
 * CRLs — pure functions from bytes and objects to bytes and objects: no files, no prompts, no process exit.
 * Every failure is an {@link MtlsCaError} with a stable code. The CLI is built on exactly these functions.
 *
 * @example
 * ```ts
 * import { createPkcs12, createRootCa, generateKeyPair, issueClientCertificate } from 'mtls-ca/pki';
 * const caKeys = await generateKeyPair('ecdsa-p256');
 * const ca = { certificate: createRootCa({ subject: { commonName: 'My CA' }, ...caKeys, days: 3650 }), privateKey: caKeys.privateKey };
 * const user = await generateKeyPair();
 * const cert = issueClientCertificate({ ca, publicKey: user.publicKey, commonName: 'pavel', days: 365 });
 * const p12 = createPkcs12({ privateKey: user.privateKey, certificate: cert, chain: [ca.certificate], password: 'secret' });
 * ```
 */
export { Certificate, fingerprint } from './certificate.js';
export { findHiddenCharacter, type HiddenCharacter, quote } from './characters.js';
export { Crl, createCrl, REVOCATION_REASONS, type RevocationReason, type RevokedEntry } from './crl.js';
export { Csr, createCsr, parseCsr } from './csr.js';
export {
  type ErrorCode,
  type ErrorDetail,
  type ErrorExtras,
  InvalidNameError,
  isMtlsCaError,
  MtlsCaError,
  type NameRule,
} from './errors.js';
export type { SubjectAltNames } from './extensions.js';
export { assertAltNames, hostsToAltNames, URI_SCHEMES } from './general-names.js';
export { createJks, type JksEntry, parseJks } from './jks.js';
export {
  DEFAULT_KEY_TYPE,
  ecdsaSignatureDer,
  exportPrivateKeyDer,
  exportPrivateKeyPem,
  generateKeyPair,
  isEncryptedPrivateKey,
  isKeyPair,
  isKeyType,
  KEY_TYPES,
  type KeyPair,
  type KeyType,
  keyTypeName,
  keyTypeOf,
  parsePrivateKey,
  publicKeyOf,
  type Signer,
  type SigningKey,
  subjectPublicKeyInfo,
} from './keys.js';
export { assertCommonName, assertSafeName, type DistinguishedName, nameKey } from './names.js';
export { isPem, pemBlocks, toPem } from './pem.js';
export {
  createPkcs12,
  createTrustStorePkcs12,
  DEFAULT_PKCS12_PROFILE,
  PKCS12_PROFILES,
  type Pkcs12Options,
  type Pkcs12Profile,
} from './pkcs12.js';
export { type Pkcs12Contents, parsePkcs12 } from './pkcs12-read.js';
export {
  type CertificateAuthority,
  createIntermediateCa,
  createRootCa,
  issueClientCertificate,
  issueServerCertificate,
  type ValidityOptions,
} from './profiles.js';

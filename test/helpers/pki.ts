/** PKI fixtures shared by the unit and interop tests. */
import type crypto from 'node:crypto';
import type { Certificate } from '../../src/pki/certificate.js';
import { generateKeyPair, type KeyType } from '../../src/pki/keys.js';
import { createRootCa, issueClientCertificate } from '../../src/pki/profiles.js';

export interface Identity {
  ca: Certificate;
  leaf: Certificate;
  key: crypto.KeyObject;
}

/** CA and client leaf of one key type; an RSA-4096 leaf gets an RSA-2048 CA to save a 3 s key generation. */
export async function makeIdentity(kt: KeyType): Promise<Identity> {
  const caKeys = await generateKeyPair(kt === 'rsa-4096' ? 'rsa-2048' : kt);
  const ca = createRootCa({ subject: { commonName: `Test CA ${kt}` }, ...caKeys, days: 30 });
  const keys = await generateKeyPair(kt);
  const leaf = issueClientCertificate({
    ca: { certificate: ca, privateKey: caKeys.privateKey },
    publicKey: keys.publicKey,
    commonName: `alice-${kt}`,
    days: 10,
  });
  return { ca, leaf, key: keys.privateKey };
}

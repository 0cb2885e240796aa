/** PKI fixtures shared by the unit and interop tests. */
import type crypto from 'node:crypto';
import type { Certificate } from '../../src/pki/certificate.js';
import type { KeyType } from '../../src/pki/keys.js';
import { createRootCa, issueClientCertificate } from '../../src/pki/profiles.js';
import { fixtureKeys } from './fixtures.js';

export interface Identity {
  ca: Certificate;
  leaf: Certificate;
  key: crypto.KeyObject;
}

/** CA and client leaf of one key type (fixture keys 0 and 1 of that type). */
export function makeIdentity(kt: KeyType): Identity {
  const caKeys = fixtureKeys(kt, 0);
  const ca = createRootCa({ subject: { commonName: `Test CA ${kt}` }, ...caKeys, days: 30 });
  const keys = fixtureKeys(kt, 1);
  const leaf = issueClientCertificate({
    ca: { certificate: ca, privateKey: caKeys.privateKey },
    publicKey: keys.publicKey,
    commonName: `alice-${kt}`,
    days: 10,
  });
  return { ca, leaf, key: keys.privateKey };
}

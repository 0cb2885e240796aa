/** OCSP requests as clients build them (RFC 6960 4.1.1), for the unit and server tests. */
import crypto from 'node:crypto';
import type { Certificate } from '../../src/pki/certificate.js';
import * as der from '../../src/pki/der.js';
import { encodeExtension } from '../../src/pki/extensions.js';
import { OID } from '../../src/pki/oids.js';

/**
 * The CertID a client computes for the certificate `serialHex` of `issuer`.
 * @param hash - the node:crypto name of the hash; `hashOid` its OID
 */
export function certIdFor(
  issuer: Certificate,
  serialHex: string,
  hash = 'sha1',
  hashOid: string = OID.sha1,
): Buffer {
  const key = der.bitsOf(der.decode(issuer.spki).children[1]!);
  return der.sequence(
    der.sequence(der.oid(hashOid), der.nullValue()),
    der.octetString(crypto.createHash(hash).update(issuer.subjectDer).digest()),
    der.octetString(crypto.createHash(hash).update(key).digest()),
    der.integer(Buffer.from(serialHex, 'hex')),
  );
}

/** An OCSPRequest for the CertIDs, with a nonce extension (extnValue = OCTET STRING of `nonce`) if given. */
export function ocspRequest(ids: Buffer[], nonce?: Buffer): Buffer {
  const extensions = nonce
    ? [
        der.explicit(
          2,
          der.sequence(
            encodeExtension({ oid: OID.ocspNonce, critical: false, value: der.octetString(nonce) }),
          ),
        ),
      ]
    : [];
  return der.sequence(der.sequence(der.sequence(...ids.map((id) => der.sequence(id))), ...extensions));
}

/**
 * OCSP in memory: the responder certificate profile, the revocation URLs a leaf carries, requests parsed (and
 * refused with the right status), responses encoded byte for byte and signed by the responder.
 */
import crypto from 'node:crypto';
import { beforeAll, describe, expect, test } from 'vitest';
import type { Certificate } from '../../src/pki/certificate.js';
import * as der from '../../src/pki/der.js';
import type { RevocationUrls } from '../../src/pki/extensions.js';
import type { KeyPair } from '../../src/pki/keys.js';
import {
  answerOcspRequest,
  type CertificateStatus,
  isOcspResponseSignedBy,
  OCSP_MAX_CERTIFICATES,
  OcspIssuer,
  OcspRequestError,
  ocspErrorResponse,
  parseOcspRequest,
  parseOcspResponse,
} from '../../src/pki/ocsp.js';
import { OID } from '../../src/pki/oids.js';
import {
  type CertificateAuthority,
  createRootCa,
  issueClientCertificate,
  issueOcspResponderCertificate,
  issueServerCertificate,
} from '../../src/pki/profiles.js';
import { errorOf } from '../helpers/errors.js';
import { fixtureKeys } from '../helpers/fixtures.js';
import { certIdFor, ocspRequest } from '../helpers/ocsp.js';

const NOW = new Date('2026-03-01T12:00:00.000Z');
const URLS: RevocationUrls = {
  crl: 'http://ca.example.com:8080/crl',
  ocsp: 'http://ca.example.com:8080/ocsp',
  caIssuers: 'http://ca.example.com:8080/ca.crt',
};

let ca: CertificateAuthority;
let other: CertificateAuthority;
let responder: { certificate: Certificate; privateKey: crypto.KeyObject };
let leaf: Certificate;

beforeAll(() => {
  const [caKeys, otherKeys, responderKeys, leafKeys] = [0, 1, 2, 3].map((i) =>
    fixtureKeys('ecdsa-p256', i),
  ) as [KeyPair, KeyPair, KeyPair, KeyPair];
  const root = (name: string, keys: typeof caKeys) => ({
    certificate: createRootCa({ subject: { commonName: name }, ...keys, days: 365, now: NOW }),
    privateKey: keys.privateKey,
  });
  ca = root('OCSP Test CA', caKeys);
  other = root('Another CA', otherKeys);
  responder = {
    certificate: issueOcspResponderCertificate({ ca, publicKey: responderKeys.publicKey, days: 7, now: NOW }),
    privateKey: responderKeys.privateKey,
  };
  leaf = issueClientCertificate({
    ca,
    publicKey: leafKeys.publicKey,
    commonName: 'alice',
    days: 30,
    now: NOW,
    revocation: URLS,
  });
});

function refusal(input: Buffer): OcspRequestError {
  const e = errorOf(() => parseOcspRequest(input));
  expect(e).toBeInstanceOf(OcspRequestError);
  return e as OcspRequestError;
}

describe('certificates', () => {
  test('the responder: EKU OCSPSigning only, ocsp-nocheck (NULL), keyUsage digitalSignature, not a CA', () => {
    const c = responder.certificate;
    expect(c.subjectName).toBe('CN=OCSP responder');
    expect(c.isIssuedBy(ca.certificate)).toBe(true);
    expect(c.extendedKeyUsage).toEqual(['ocspSigning']);
    expect(c.keyUsage).toEqual(['digitalSignature']);
    expect(c.extension(OID.keyUsage)?.critical).toBe(true);
    expect(c.isCa).toBe(false);
    expect(c.extension(OID.ocspNoCheck)).toEqual({
      oid: OID.ocspNoCheck,
      critical: false,
      value: Buffer.from([0x05, 0x00]),
    });
    // No revocation URLs: nobody checks a nocheck certificate's status.
    expect(c.revocationUrls).toEqual({ crl: [], ocsp: [], caIssuers: [] });
    expect(c.notAfter.getTime() - NOW.getTime()).toBe(7 * 86_400_000);
  });

  test('a leaf issued with revocation URLs carries one CRL distribution point and AIA (OCSP, caIssuers)', () => {
    expect(leaf.revocationUrls).toEqual({ crl: [URLS.crl], ocsp: [URLS.ocsp], caIssuers: [URLS.caIssuers] });
    const url = Buffer.from(URLS.crl, 'latin1');
    // SEQUENCE { DistributionPoint { [0] { fullName [0] { URI } } } }
    expect(leaf.extension(OID.cRLDistributionPoints)).toEqual({
      oid: OID.cRLDistributionPoints,
      critical: false,
      value: Buffer.concat([
        Buffer.from([0x30, url.length + 8, 0x30, url.length + 6, 0xa0, url.length + 4, 0xa0, url.length + 2]),
        Buffer.from([0x86, url.length]),
        url,
      ]),
    });
    expect(leaf.extension(OID.authorityInfoAccess)?.critical).toBe(false);
  });

  test('a server certificate too; without URLs neither extension is there', () => {
    const keys = fixtureKeys('ecdsa-p256', 4);
    const withUrls = issueServerCertificate({
      ca,
      publicKey: keys.publicKey,
      altNames: { dns: ['localhost'] },
      days: 30,
      now: NOW,
      revocation: URLS,
    });
    expect(withUrls.revocationUrls.ocsp).toEqual([URLS.ocsp]);
    const without = issueServerCertificate({
      ca,
      publicKey: keys.publicKey,
      altNames: { dns: ['localhost'] },
      days: 30,
      now: NOW,
    });
    expect(without.extension(OID.cRLDistributionPoints)).toBeUndefined();
    expect(without.extension(OID.authorityInfoAccess)).toBeUndefined();
  });
});

describe('requests', () => {
  test('reads the CertID (hashes, serial, its exact DER) and the nonce extension value', () => {
    const id = certIdFor(ca.certificate, leaf.serialHex);
    const nonce = crypto.randomBytes(16);
    const r = parseOcspRequest(ocspRequest([id], nonce));
    expect(r.certIds).toHaveLength(1);
    expect(r.certIds[0]).toMatchObject({ hashAlgorithm: OID.sha1, serialHex: leaf.serialHex, der: id });
    expect(r.nonce).toEqual(der.octetString(nonce));
    expect(parseOcspRequest(ocspRequest([id])).nonce).toBeUndefined();
  });

  test('an explicit version 1, a requestor name and a signature are accepted', () => {
    const id = certIdFor(ca.certificate, leaf.serialHex);
    const tbs = der.sequence(
      der.explicit(0, der.integer(0)),
      der.explicit(1, der.tlv(0x82, Buffer.from('client.example'))),
      der.sequence(der.sequence(id)),
    );
    const signature = der.explicit(
      0,
      der.sequence(der.sequence(der.oid(OID.ecdsaWithSHA256)), der.bitString(Buffer.alloc(8))),
    );
    expect(parseOcspRequest(der.sequence(tbs, signature)).certIds[0]!.serialHex).toBe(leaf.serialHex);
  });

  test(`more than ${OCSP_MAX_CERTIFICATES} certificates in one request → malformedRequest`, () => {
    const ids = Array.from({ length: OCSP_MAX_CERTIFICATES + 1 }, (_, i) =>
      certIdFor(ca.certificate, (i + 1).toString(16).padStart(2, '0')),
    );
    expect(parseOcspRequest(ocspRequest(ids.slice(1))).certIds).toHaveLength(OCSP_MAX_CERTIFICATES);
    const e = refusal(ocspRequest(ids));
    expect(e.status).toBe('malformedRequest');
    expect(e.message).toBe(
      `read OCSP request: it asks about ${OCSP_MAX_CERTIFICATES + 1} certificates (at most ${OCSP_MAX_CERTIFICATES} per request)`,
    );
  });

  test('an unsupported hash algorithm (MD5) → malformedRequest naming it', () => {
    const e = refusal(ocspRequest([certIdFor(ca.certificate, leaf.serialHex, 'md5', '1.2.840.113549.2.5')]));
    expect(e.status).toBe('malformedRequest');
    expect(e.message).toBe(
      'read OCSP request: the hash algorithm 1.2.840.113549.2.5 is not supported (use SHA-1 or SHA-256)',
    );
  });

  test('a nonce of 0 or 129 octets → malformedRequest; 1 and 128 are fine', () => {
    const id = certIdFor(ca.certificate, leaf.serialHex);
    expect(parseOcspRequest(ocspRequest([id], Buffer.alloc(1))).nonce).toEqual(
      der.octetString(Buffer.alloc(1)),
    );
    expect(parseOcspRequest(ocspRequest([id], Buffer.alloc(128))).nonce).toEqual(
      der.octetString(Buffer.alloc(128)),
    );
    expect(refusal(ocspRequest([id], Buffer.alloc(0))).message).toBe(
      'read OCSP request: the nonce has 0 octets (1 to 128 are allowed)',
    );
    expect(refusal(ocspRequest([id], Buffer.alloc(129))).status).toBe('malformedRequest');
  });

  test('no request, trailing bytes, not DER, an empty list → malformedRequest', () => {
    const id = certIdFor(ca.certificate, leaf.serialHex);
    expect(refusal(Buffer.alloc(0)).message).toBe('read OCSP request: not DER');
    expect(refusal(Buffer.concat([ocspRequest([id]), Buffer.from([0])])).message).toBe(
      'read OCSP request: not DER',
    );
    expect(refusal(Buffer.from('hello, responder')).status).toBe('malformedRequest');
    expect(refusal(ocspRequest([])).message).toBe('read OCSP request: it asks about no certificate');
    expect(refusal(der.sequence(der.integer(1))).message).toBe('read OCSP request: not an OCSPRequest');
  });

  test('regression: an OID of continuation octets only threw a TypeError, not malformedRequest', () => {
    const bad = der.sequence(
      der.sequence(der.tlv(der.Tag.OID, Buffer.from([0x81]))),
      der.octetString(Buffer.alloc(20)),
      der.octetString(Buffer.alloc(20)),
      der.integer(1),
    );
    expect(refusal(ocspRequest([bad])).status).toBe('malformedRequest');
  });

  test('every truncation and 2,000 random single-byte changes of a request parse or are malformedRequest', () => {
    const valid = ocspRequest([certIdFor(ca.certificate, leaf.serialHex)], crypto.randomBytes(16));
    const inputs = [
      ...Array.from({ length: valid.length }, (_, n) => valid.subarray(0, n)),
      ...Array.from({ length: 2000 }, () => {
        const b = Buffer.from(valid);
        b[crypto.randomInt(b.length)] = crypto.randomInt(256);
        return b;
      }),
    ];
    for (const input of inputs) {
      try {
        parseOcspRequest(input);
      } catch (e) {
        expect(e).toBeInstanceOf(OcspRequestError);
        expect((e as OcspRequestError).status).toBe('malformedRequest');
      }
    }
  });
});

describe('responses', () => {
  const HOUR = 3_600_000;
  const statuses: Record<string, CertificateStatus> = {};
  const statusOf = (serial: string): CertificateStatus => statuses[serial] ?? { status: 'unknown' };
  const answer = (input: Buffer, issuer = ca.certificate) =>
    answerOcspRequest(parseOcspRequest(input), {
      issuer: new OcspIssuer(issuer),
      signer: responder,
      statusOf,
      now: NOW,
      nextUpdate: new Date(NOW.getTime() + HOUR),
    });

  test('good, revoked with time and reason, unknown: in request order, signed by the responder', () => {
    statuses[leaf.serialHex] = { status: 'good' };
    statuses['0a0b'] = {
      status: 'revoked',
      revokedAt: new Date('2026-02-27T08:30:00.000Z'),
      reason: 'keyCompromise',
    };
    const nonce = crypto.randomBytes(32);
    const ids = [leaf.serialHex, '0a0b', '7777'].map((s) => certIdFor(ca.certificate, s));
    const r = answer(ocspRequest(ids, nonce));
    expect(r.status).toBe('successful');
    const parsed = parseOcspResponse(r.der);
    expect(parsed.status).toBe('successful');
    expect(parsed.producedAt).toEqual(NOW);
    expect(parsed.responses.map((s) => s.certId.der)).toEqual(ids);
    expect(parsed.responses.map((s) => s.status)).toEqual([
      { status: 'good' },
      { status: 'revoked', revokedAt: new Date('2026-02-27T08:30:00.000Z'), reason: 'keyCompromise' },
      { status: 'unknown' },
    ]);
    expect(parsed.responses[0]!.thisUpdate).toEqual(NOW);
    expect(parsed.responses[0]!.nextUpdate).toEqual(new Date(NOW.getTime() + HOUR));
    expect(parsed.nonce).toEqual(der.octetString(nonce));
    expect(parsed.certificates).toEqual([responder.certificate.der]);
    expect(isOcspResponseSignedBy(parsed, responder.certificate)).toBe(true);
    expect(isOcspResponseSignedBy(parsed, ca.certificate)).toBe(false);
  });

  test('exact CertStatus encodings: good [0] NULL, unknown [2] NULL, revoked without a reason when unspecified', () => {
    statuses['0c'] = { status: 'revoked', revokedAt: NOW, reason: 'unspecified' };
    const body = answer(ocspRequest([certIdFor(ca.certificate, '0c')])).der;
    const revokedInfo = Buffer.concat([Buffer.from([0xa1, 0x11]), der.generalizedTime(NOW)]);
    expect(body.includes(revokedInfo)).toBe(true);
    expect(parseOcspResponse(body).responses[0]!.status).toEqual({ status: 'revoked', revokedAt: NOW });
    const good = answer(ocspRequest([certIdFor(ca.certificate, leaf.serialHex)])).der;
    expect(
      good.includes(Buffer.concat([certIdFor(ca.certificate, leaf.serialHex), Buffer.from([0x80, 0x00])])),
    ).toBe(true);
    const unknown = answer(ocspRequest([certIdFor(ca.certificate, '7777')])).der;
    expect(
      unknown.includes(Buffer.concat([certIdFor(ca.certificate, '7777'), Buffer.from([0x82, 0x00])])),
    ).toBe(true);
  });

  test('SHA-256, SHA-384 and SHA-512 CertIDs are recognised as well', () => {
    for (const [hash, oid] of [
      ['sha256', OID.sha256],
      ['sha384', OID.sha384],
      ['sha512', OID.sha512],
    ] as const) {
      const r = answer(ocspRequest([certIdFor(ca.certificate, leaf.serialHex, hash, oid)]));
      expect(parseOcspResponse(r.der).responses[0]!.status).toEqual({ status: 'good' });
    }
  });

  test("another CA's certificate → unauthorized, 30 03 0a 01 06, nothing signed", () => {
    const r = answer(ocspRequest([certIdFor(other.certificate, leaf.serialHex)]));
    expect(r).toEqual({ status: 'unauthorized', der: Buffer.from([0x30, 0x03, 0x0a, 0x01, 0x06]) });
    // one of ours and one of theirs in one request: not authoritative for all of it
    const mixed = answer(
      ocspRequest([certIdFor(ca.certificate, leaf.serialHex), certIdFor(other.certificate, '01')]),
    );
    expect(mixed.status).toBe('unauthorized');
    expect(parseOcspResponse(ocspErrorResponse('malformedRequest'))).toEqual({
      status: 'malformedRequest',
      responses: [],
      certificates: [],
    });
  });
});

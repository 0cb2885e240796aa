/**
 * OCSP (RFC 6960) for one CA: requests parsed, responses built and signed by a delegated responder, and a
 * response parser for checking what was sent. Everything is DER through our codec (der.ts); the answers
 * follow the lightweight profile (RFC 5019): one responder ID by key hash, thisUpdate/nextUpdate always set.
 *
 * A request is answered only for certificates of the CA the responder was built for, recognised by the
 * CertID's issuer name and key hashes in SHA-1 (what OpenSSL, Java and nginx send), SHA-256, SHA-384 or
 * SHA-512. What it refuses, and with which status (4.2.1):
 *
 * - not DER of an OCSPRequest, no CertID, more than {@link OCSP_MAX_CERTIFICATES} CertIDs, a hash algorithm
 *   outside those four, a nonce outside 1..128 octets (RFC 9654): `malformedRequest`;
 * - a CertID of another issuer: `unauthorized` (RFC 5019 2.2.3: not authoritative for it).
 */
import crypto, { type KeyObject } from 'node:crypto';
import type { Certificate } from './certificate.js';
import { REVOCATION_REASONS, type RevocationReason, reasonCode } from './crl.js';
import * as der from './der.js';
import { MtlsCaError } from './errors.js';
import { decodeExtensions, keyIdentifier } from './extensions.js';
import { sign, signatureAlgorithmFor, verify } from './keys.js';
import { OID } from './oids.js';

/** OCSPResponseStatus (RFC 6960 4.2.1); 4 is not used. */
export const OCSP_RESPONSE_STATUS = {
  successful: 0,
  malformedRequest: 1,
  internalError: 2,
  tryLater: 3,
  sigRequired: 5,
  unauthorized: 6,
} as const;
export type OcspResponseStatus = keyof typeof OCSP_RESPONSE_STATUS;

/**
 * The most CertIDs one request may ask about. OpenSSL, Java and nginx ask about one certificate per request;
 * the cap bounds what one request can make the responder look up and sign.
 */
export const OCSP_MAX_CERTIFICATES = 16;

/** RFC 9654 2.1: a nonce is 1 to 128 octets; a responder rejects others with malformedRequest. */
const MAX_NONCE_OCTETS = 128;

/** The CertID hash algorithms answered, by OID, with their node:crypto names. */
const CERT_ID_HASHES = new Map<string, string>([
  [OID.sha1, 'sha1'],
  [OID.sha256, 'sha256'],
  [OID.sha384, 'sha384'],
  [OID.sha512, 'sha512'],
]);

/** The output length of each of those hashes, in octets. */
const DIGEST_LENGTHS = new Map(
  [...CERT_ID_HASHES.values()].map((h) => [h, crypto.createHash(h).digest().length]),
);

/** One certificate a request asks about (RFC 6960 4.1.1). */
export interface CertId {
  /** OID of the hash algorithm of the two issuer hashes. */
  hashAlgorithm: string;
  issuerNameHash: Buffer;
  issuerKeyHash: Buffer;
  /** The serial's INTEGER content octets as lowercase hex, like {@link Certificate.serialHex}. */
  serialHex: string;
  /** The CertID as the request encoded it: the response repeats it byte for byte, as clients compare it. */
  der: Buffer;
}

export interface OcspRequest {
  certIds: CertId[];
  /** The nonce extension's extnValue (echoed as is), when the request has one. */
  nonce?: Buffer;
}

/** Why a request cannot be answered, and the OCSPResponseStatus that says so. */
export class OcspRequestError extends MtlsCaError {
  /**
   * @param status - the error status to answer with
   * @param message - `read OCSP request: <cause>`
   */
  constructor(
    readonly status: Exclude<OcspResponseStatus, 'successful'>,
    message: string,
  ) {
    super(status === 'unauthorized' ? 'INVALID_ARGUMENT' : 'PARSE_FAILED', message);
  }
}

function malformed(cause: string): OcspRequestError {
  return new OcspRequestError('malformedRequest', `read OCSP request: ${cause}`);
}

function readCertId(node: der.Node | undefined): CertId {
  if (node?.tag !== der.Tag.SEQUENCE || node.children.length !== 4) throw malformed('a CertID is not valid');
  const [algorithm, nameHash, keyHash, serial] = node.children as [der.Node, der.Node, der.Node, der.Node];
  const algorithmOid = algorithm.tag === der.Tag.SEQUENCE ? algorithm.children[0] : undefined;
  if (algorithmOid?.tag !== der.Tag.OID) throw malformed('a CertID has no hash algorithm');
  if (nameHash.tag !== der.Tag.OCTET_STRING || keyHash.tag !== der.Tag.OCTET_STRING) {
    throw malformed('a CertID has no issuer hashes');
  }
  if (serial.tag !== der.Tag.INTEGER || serial.content.length === 0 || serial.content.length > 64) {
    throw malformed('a CertID has no valid serial number');
  }
  const hashAlgorithm = der.readOid(algorithmOid);
  const hash = CERT_ID_HASHES.get(hashAlgorithm);
  if (!hash) throw malformed(`the hash algorithm ${hashAlgorithm} is not supported (use SHA-1 or SHA-256)`);
  const length = DIGEST_LENGTHS.get(hash)!;
  if (nameHash.content.length !== length || keyHash.content.length !== length) {
    throw malformed('an issuer hash does not have the length of its algorithm');
  }
  return {
    hashAlgorithm,
    issuerNameHash: nameHash.content,
    issuerKeyHash: keyHash.content,
    serialHex: der.integerHex(serial),
    der: node.raw,
  };
}

/** The nonce in an extension value: RFC 8954 wraps it in an OCTET STRING; older clients sent it bare. */
function checkNonce(value: Buffer): Buffer {
  let octets = value.length;
  if (value[0] === der.Tag.OCTET_STRING) {
    try {
      octets = der.decode(value).content.length;
    } catch {
      // not an OCTET STRING after all: the bare bytes are the nonce
    }
  }
  if (octets < 1 || octets > MAX_NONCE_OCTETS) {
    throw malformed(`the nonce has ${octets} octets (1 to ${MAX_NONCE_OCTETS} are allowed)`);
  }
  return value;
}

/**
 * Parses an OCSPRequest (RFC 6960 4.1.1). A request signature, if any, is not checked: this responder does
 * not require signed requests (its answers are public).
 * @param input - the DER request
 * @throws OcspRequestError with status malformedRequest
 */
export function parseOcspRequest(input: Buffer): OcspRequest {
  let root: der.Node;
  try {
    root = der.decode(input, 'OCSP request');
  } catch {
    throw malformed('not DER');
  }
  try {
    return readRequest(root);
  } catch (e) {
    if (e instanceof OcspRequestError) throw e;
    // A field of the wrong shape deep inside (an OID of continuation octets only, …): malformed as well.
    throw malformed('not an OCSPRequest');
  }
}

function readRequest(root: der.Node): OcspRequest {
  const [tbs, signature, extra] = root.children;
  if (root.tag !== der.Tag.SEQUENCE || tbs?.tag !== der.Tag.SEQUENCE || extra) {
    throw malformed('not an OCSPRequest');
  }
  if (signature && signature.tag !== 0xa0) throw malformed('not an OCSPRequest');
  const fields = [...tbs.children];
  if (fields[0]?.tag === 0xa0) {
    const version = fields.shift()!.children[0];
    if (version?.tag !== der.Tag.INTEGER || der.readInteger(version) !== 0n) throw malformed('not version 1');
  }
  if (fields[0]?.tag === 0xa1) fields.shift(); // requestorName
  const list = fields.shift();
  if (list?.tag !== der.Tag.SEQUENCE) throw malformed('it has no request list');
  const extensions = fields[0]?.tag === 0xa2 ? fields.shift() : undefined;
  if (fields.length > 0) throw malformed('not an OCSPRequest');
  if (list.children.length === 0) throw malformed('it asks about no certificate');
  if (list.children.length > OCSP_MAX_CERTIFICATES) {
    throw malformed(
      `it asks about ${list.children.length} certificates (at most ${OCSP_MAX_CERTIFICATES} per request)`,
    );
  }
  const certIds = list.children.map((request) => {
    if (request.tag !== der.Tag.SEQUENCE) throw malformed('a Request is not valid');
    const [certId, single, more] = request.children;
    if (more || (single && single.tag !== 0xa0)) throw malformed('a Request is not valid');
    return readCertId(certId);
  });
  let nonce: Buffer | undefined;
  if (extensions) {
    const list = extensions.children[0];
    if (list?.tag !== der.Tag.SEQUENCE || extensions.children.length !== 1) {
      throw malformed('its extensions are not valid');
    }
    let decoded: ReturnType<typeof decodeExtensions>;
    try {
      decoded = decodeExtensions(list);
    } catch {
      throw malformed('its extensions are not valid');
    }
    const found = decoded.find((e) => e.oid === OID.ocspNonce);
    if (found) nonce = checkNonce(found.value);
  }
  return { certIds, ...(nonce ? { nonce } : {}) };
}

/** What the responder knows about one certificate. */
export type CertificateStatus =
  | { status: 'good' }
  | { status: 'revoked'; revokedAt: Date; reason?: RevocationReason }
  /** The issuer is ours but the serial is not one it issued (or not one the responder knows). */
  | { status: 'unknown' };

/** An error OCSPResponse (no responseBytes): the same few bytes for every request, made once. */
const ERROR_RESPONSES = new Map(
  Object.entries(OCSP_RESPONSE_STATUS)
    .filter(([name]) => name !== 'successful')
    .map(([name, code]) => [name, der.sequence(der.enumerated(code))]),
);

/**
 * The DER of an OCSPResponse with an error status and no response bytes.
 * @param status - any status but successful
 */
export function ocspErrorResponse(status: Exclude<OcspResponseStatus, 'successful'>): Buffer {
  return ERROR_RESPONSES.get(status)!;
}

const NONCE_OID = der.oid(OID.ocspNonce);

/** The delegated responder: its certificate (issued by the CA for OCSP signing) and key. */
export interface OcspSigner {
  certificate: Certificate;
  privateKey: KeyObject;
}

/**
 * A responder ready to sign many answers: what each answer repeats — the responder ID (the SHA-1 of its
 * public key), the signature algorithm, the certificate field — encoded once. Decoding the public key for
 * every answer cost four signatures' worth of time.
 */
export class OcspSigningKey implements OcspSigner {
  readonly certificate: Certificate;
  readonly privateKey: KeyObject;
  /** responderID byKey (RFC 6960 4.2.2.3), encoded. */
  readonly responderId: Buffer;
  /** The AlgorithmIdentifier of its signatures, encoded. */
  readonly algorithm: Buffer;
  /** `certs [0] EXPLICIT SEQUENCE OF Certificate` with the responder's certificate, encoded. */
  readonly certs: Buffer;

  /** @param signer - the responder's certificate and key */
  constructor(signer: OcspSigner) {
    this.certificate = signer.certificate;
    this.privateKey = signer.privateKey;
    this.responderId = der.explicit(2, der.octetString(keyIdentifier(signer.certificate.publicKey)));
    this.algorithm = signatureAlgorithmFor(signer.privateKey);
    this.certs = der.explicit(0, der.sequence(signer.certificate.der));
  }
}

/** One certificate's answer: its CertID as asked, its status, and the interval the status is good for. */
export interface SingleResponse {
  certId: CertId;
  status: CertificateStatus;
  thisUpdate: Date;
  nextUpdate: Date;
}

function encodeStatus(s: CertificateStatus): Buffer {
  switch (s.status) {
    case 'good':
      return Buffer.from([0x80, 0x00]); // [0] IMPLICIT NULL
    case 'unknown':
      return Buffer.from([0x82, 0x00]); // [2] IMPLICIT UnknownInfo (NULL)
    case 'revoked':
      // [1] IMPLICIT RevokedInfo; the reason is left out when unspecified, as in our CRLs (RFC 5280 5.3.1).
      return der.tlv(
        0xa1,
        Buffer.concat([
          der.generalizedTime(s.revokedAt),
          ...(s.reason && s.reason !== 'unspecified'
            ? [der.explicit(0, der.enumerated(reasonCode(s.reason)))]
            : []),
        ]),
      );
  }
}

/**
 * Builds a successful OCSPResponse holding a BasicOCSPResponse signed by the responder, its certificate
 * included so that a client can check the delegation (RFC 6960 4.2.2.2).
 * @param o.signer - the responder's certificate and key ({@link OcspSigningKey} when it signs many)
 * @param o.responses - one per CertID asked about, in the request's order
 * @param o.producedAt - when it was signed
 * @param o.nonce - the request's nonce extension value, echoed (RFC 6960 4.4.1)
 */
export function createOcspResponse(o: {
  signer: OcspSigner;
  responses: SingleResponse[];
  producedAt: Date;
  nonce?: Buffer;
}): Buffer {
  const key = o.signer instanceof OcspSigningKey ? o.signer : new OcspSigningKey(o.signer);
  const tbs = der.sequence(
    key.responderId,
    der.generalizedTime(o.producedAt),
    der.sequence(
      ...o.responses.map((r) =>
        der.sequence(
          r.certId.der,
          encodeStatus(r.status),
          der.generalizedTime(r.thisUpdate),
          der.explicit(0, der.generalizedTime(r.nextUpdate)),
        ),
      ),
    ),
    // The nonce extension, non-critical: its OID encoded once (der.oid is arithmetic on bigints).
    ...(o.nonce ? [der.explicit(1, der.sequence(der.sequence(NONCE_OID, der.octetString(o.nonce))))] : []),
  );
  const basic = der.sequence(tbs, key.algorithm, der.bitString(sign(key.privateKey, tbs)), key.certs);
  return der.sequence(
    der.enumerated(OCSP_RESPONSE_STATUS.successful),
    der.explicit(0, der.sequence(der.oid(OID.ocspBasic), der.octetString(basic))),
  );
}

/**
 * The issuer hashes of one CA, for every CertID hash algorithm answered: which CertIDs are about its
 * certificates (RFC 6960 4.1.1: the hash of the issuer's DER Name and of its public key's BIT STRING value).
 */
export class OcspIssuer {
  readonly #hashes = new Map<string, { name: Buffer; key: Buffer }>();

  /** @param ca - the CA certificate whose certificates the responder answers for */
  constructor(readonly ca: Certificate) {
    const key = der.bitsOf(der.decode(ca.spki).children[1]!);
    for (const [oid, hash] of CERT_ID_HASHES) {
      this.#hashes.set(oid, {
        name: crypto.createHash(hash).update(ca.subjectDer).digest(),
        key: crypto.createHash(hash).update(key).digest(),
      });
    }
  }

  /** True when `certId` names this CA as the issuer. */
  issued(certId: CertId): boolean {
    const h = this.#hashes.get(certId.hashAlgorithm);
    return h?.name.equals(certId.issuerNameHash) === true && h.key.equals(certId.issuerKeyHash);
  }
}

/**
 * Answers a parsed request: `unauthorized` when a CertID names another issuer, else a response signed by
 * `signer` with each certificate's status from `statusOf`, good from `now` to `nextUpdate`.
 * @param request - the parsed request
 * @param o.issuer - the CA answered for
 * @param o.signer - the delegated responder ({@link OcspSigningKey} when it signs many)
 * @param o.statusOf - a certificate's status by serial (lowercase hex of the INTEGER content)
 * @param o.now - thisUpdate and producedAt
 * @param o.nextUpdate - when newer information will be there at the latest (RFC 5019 2.2.4)
 * @returns the DER OCSPResponse and its status
 */
export function answerOcspRequest(
  request: OcspRequest,
  o: {
    issuer: OcspIssuer;
    signer: OcspSigner;
    statusOf: (serialHex: string) => CertificateStatus;
    now: Date;
    nextUpdate: Date;
  },
): { status: OcspResponseStatus; der: Buffer } {
  if (!request.certIds.every((id) => o.issuer.issued(id))) {
    return { status: 'unauthorized', der: ocspErrorResponse('unauthorized') };
  }
  return {
    status: 'successful',
    der: createOcspResponse({
      signer: o.signer,
      producedAt: o.now,
      nonce: request.nonce,
      responses: request.certIds.map((certId) => ({
        certId,
        status: o.statusOf(certId.serialHex),
        thisUpdate: o.now,
        nextUpdate: o.nextUpdate,
      })),
    }),
  };
}

// ---------------------------------------------------------------- reading responses

/** A parsed OCSPResponse. Parsing does not check the signature: see {@link ParsedOcspResponse.isSignedBy}. */
export interface ParsedOcspResponse {
  status: OcspResponseStatus;
  /** The rest is there only for a successful response. */
  producedAt?: Date;
  /** SHA-1 of the responder's public key (responderID byKey), or undefined for byName. */
  responderKeyHash?: Buffer;
  responses: (SingleResponse & { status: CertificateStatus })[];
  nonce?: Buffer;
  certificates: Buffer[];
  /** DER of the signed ResponseData, its signature algorithm OID and the signature. */
  tbs?: Buffer;
  signatureAlgorithm?: string;
  signature?: Buffer;
}

function readStatus(node: der.Node): CertificateStatus {
  if (node.tag === 0x80) return { status: 'good' };
  if (node.tag === 0x82) return { status: 'unknown' };
  if (node.tag !== 0xa1) throw new MtlsCaError('PARSE_FAILED', 'read OCSP response: unknown CertStatus');
  const [time, reason] = node.children;
  const code = reason ? Number(der.readInteger(reason.children[0]!)) : undefined;
  return {
    status: 'revoked',
    revokedAt: der.readTime(time!),
    ...(code === undefined ? {} : { reason: REVOCATION_REASONS[code < 7 ? code : code - 1] }),
  };
}

/**
 * Parses an OCSPResponse: its status and, when successful, the BasicOCSPResponse.
 * @param input - the DER response
 * @throws MtlsCaError PARSE_FAILED
 */
export function parseOcspResponse(input: Buffer): ParsedOcspResponse {
  try {
    const root = der.decode(input, 'OCSP response');
    const code = Number(der.readInteger(der.expectTag(root.children[0], der.Tag.ENUMERATED)));
    const status = (Object.entries(OCSP_RESPONSE_STATUS).find(([, c]) => c === code)?.[0] ??
      'internalError') as OcspResponseStatus;
    if (!root.children[1]) return { status, responses: [], certificates: [] };
    const bytes = root.children[1].children[0]!;
    if (der.readOid(bytes.children[0]!) !== OID.ocspBasic) throw new Error('not a basic response');
    const basic = der.decode(der.octetsOf(bytes.children[1]!));
    const [tbs, algorithm, signature, certs] = basic.children as der.Node[];
    const fields = [...tbs!.children];
    if (fields[0]?.tag === 0xa0) fields.shift();
    const responder = fields.shift()!;
    const producedAt = der.readTime(fields.shift()!);
    const list = fields.shift()!;
    const extensions = fields[0]?.tag === 0xa1 ? decodeExtensions(fields[0].children[0]!) : [];
    return {
      status,
      producedAt,
      ...(responder.tag === 0xa2 ? { responderKeyHash: der.octetsOf(responder.children[0]!) } : {}),
      responses: list.children.map((single) => {
        const [certId, certStatus, thisUpdate, next] = single.children as der.Node[];
        const [alg, nameHash, keyHash, serial] = certId!.children as der.Node[];
        return {
          certId: {
            hashAlgorithm: der.readOid(alg!.children[0]!),
            issuerNameHash: nameHash!.content,
            issuerKeyHash: keyHash!.content,
            serialHex: der.integerHex(serial!),
            der: certId!.raw,
          },
          status: readStatus(certStatus!),
          thisUpdate: der.readTime(thisUpdate!),
          nextUpdate: next?.tag === 0xa0 ? der.readTime(next.children[0]!) : new Date(Number.NaN),
        };
      }),
      nonce: extensions.find((e) => e.oid === OID.ocspNonce)?.value,
      certificates: certs ? certs.children[0]!.children.map((c) => c.raw) : [],
      tbs: tbs!.raw,
      signatureAlgorithm: der.readOid(algorithm!.children[0]!),
      signature: der.bitsOf(signature!),
    };
  } catch (e) {
    if (e instanceof MtlsCaError && e.message.startsWith('read OCSP response:')) throw e;
    throw new MtlsCaError('PARSE_FAILED', 'read OCSP response: not a valid OCSPResponse', undefined, e);
  }
}

/**
 * True when `response` is signed by `signer`'s key and names it as the responder.
 * @param response - a parsed successful response
 * @param signer - the responder certificate to check against
 */
export function isOcspResponseSignedBy(response: ParsedOcspResponse, signer: Certificate): boolean {
  if (!response.tbs || !response.signature || !response.signatureAlgorithm) return false;
  return (
    response.responderKeyHash?.equals(keyIdentifier(signer.publicKey)) === true &&
    verify(signer.publicKey, response.signatureAlgorithm, response.tbs, response.signature)
  );
}

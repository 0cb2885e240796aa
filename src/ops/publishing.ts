/**
 * Publishing revocation where the servers people run can find it: the CA's publish URL (settings.ts), the
 * URLs certificates issued under it carry, the delegated OCSP responder, and each certificate's status for
 * the responder to answer with.
 *
 * The OCSP responder signs with a key of its own, certified by the CA for OCSP signing only, so that the CA
 * key can stay offline while `publish` runs. Clients do not check the revocation of that certificate
 * (id-pkix-ocsp-nocheck), so it is short-lived instead: it lives as long as the CA's CRLs and is re-issued,
 * with a new key, by whatever signs a CRL once half its lifetime has passed — `crl` from cron, `revoke`,
 * `renew --revoke-old`, `serve --crl-auto-renew` and `publish` given the CA password — in the same
 * transaction as the CRL (stageCrls), recorded in the inventory (profile `ocsp`) and the audit log. The
 * cadence that keeps the CRL fresh keeps the responder fresh.
 */
import type { Certificate } from '../pki/certificate.js';
import { REVOCATION_REASONS, type RevocationReason } from '../pki/crl.js';
import { MtlsCaError } from '../pki/errors.js';
import type { RevocationUrls } from '../pki/extensions.js';
import { exportPrivateKeyPem, generateEcdsaP256KeyPairSync, isKeyPair } from '../pki/keys.js';
import type { CertificateStatus } from '../pki/ocsp.js';
import { type CertificateAuthority, DAY_MS, issueOcspResponderCertificate } from '../pki/profiles.js';
import { MODE_PUBLIC, MODE_SECRET, type Transaction } from '../store/atomic.js';
import type { AuditRecord } from '../store/audit.js';
import type { CaStore } from '../store/ca-store.js';
import { type InventoryEvent, recordsOf } from '../store/inventory.js';
import {
  type CrlRenewalReason,
  type CrlSummary,
  crlRenewalReason,
  currentCrlLifetime,
  resignLocked,
} from './crl.js';
import { auditRecord, issueEvent, summarize } from './records.js';

/** The inventory name of the OCSP responder's certificates. */
export const RESPONDER_NAME = 'ocsp-responder';

/** The longest publish URL taken: every certificate carries it three times. */
const MAX_URL_LENGTH = 200;

/**
 * Checks a publish URL and returns it in the form certificates carry: `http:`, a host, an optional port and
 * path, nothing else; the default port, a trailing slash and the case of the host are normalised away.
 * @param text - the URL as the user gave it
 * @throws MtlsCaError INVALID_ARGUMENT
 */
export function checkPublishUrl(text: string): string {
  const refuse = (cause: string, hint = 'give one like http://ca.example.com:8080') =>
    new MtlsCaError('INVALID_ARGUMENT', `use publish URL ${JSON.stringify(text)}: ${cause}`, hint);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw refuse('not a URL');
  }
  if (url.protocol === 'https:') {
    throw refuse(
      'it must be http:, not https:',
      'CRLs and OCSP responses are signed, and clients fetch them over plain HTTP (RFC 5280 4.2.1.13, RFC 6960 A.1): a TLS check inside a TLS check can loop',
    );
  }
  if (url.protocol !== 'http:') throw refuse(`it must be an http: URL, not ${url.protocol}`);
  if (!url.hostname) throw refuse('it has no host');
  if (url.username || url.password) throw refuse('it must not carry a user name or password');
  if (url.search || url.hash || text.includes('?') || text.includes('#')) {
    throw refuse('it must not have a query or fragment: the CRL and OCSP paths are added to it');
  }
  const normalised = url.href.replace(/\/+$/, '');
  if (normalised.length > MAX_URL_LENGTH) throw refuse(`it is longer than ${MAX_URL_LENGTH} characters`);
  return normalised;
}

/**
 * The URLs a certificate carries for a publish URL.
 * @param publishUrl - a URL {@link checkPublishUrl} returned
 */
export function revocationUrlsFor(publishUrl: string): RevocationUrls {
  return { crl: `${publishUrl}/crl`, ocsp: `${publishUrl}/ocsp`, caIssuers: `${publishUrl}/ca.crt` };
}

/** The URLs new certificates of this CA carry, or undefined while it publishes nothing. */
export function publishedRevocationUrls(store: CaStore): RevocationUrls | undefined {
  const { publishUrl } = store.readSettings();
  return publishUrl === undefined ? undefined : revocationUrlsFor(checkPublishUrl(publishUrl));
}

/** The responder certificate, or undefined when there is none or it cannot be read: a new one is due. */
function readResponder(store: CaStore): Certificate | undefined {
  try {
    return store.readCertificate(store.paths.ocspCert);
  } catch {
    return undefined;
  }
}

/** Whether the responder key is there and belongs to `certificate` (one that cannot be read does not). */
function hasResponderKey(store: CaStore, certificate: Certificate): boolean {
  try {
    const key = store.readPrivateKey(store.paths.ocspKey);
    return key !== undefined && isKeyPair(key, certificate.publicKey);
  } catch {
    return false;
  }
}

/** Why the OCSP responder certificate is due to be re-issued. */
export type ResponderRenewalReason =
  | 'missing'
  | 'another-ca'
  | 'key-missing'
  | 'lifetime-changed'
  | 'half-life'
  | 'expired'
  | 'not-yet-valid';

/** The lifetime of a responder certificate in whole days (what it was issued for). */
function lifetimeDays(cert: Certificate): number {
  return Math.round((cert.notAfter.getTime() - cert.notBefore.getTime()) / DAY_MS);
}

/**
 * Why the responder certificate should be re-issued now (undefined while it is good): there is none, it is
 * another CA's, its key is missing, its lifetime is not the CA's CRL lifetime, or half of it has passed.
 * @param store - the CA directory
 * @param ca - the CA certificate
 * @param now - the time to judge at
 * @param days - the lifetime it should have: the CA's CRL lifetime
 */
export function responderRenewalReason(
  store: CaStore,
  ca: Certificate,
  now: Date,
  days: number,
): ResponderRenewalReason | undefined {
  const current = readResponder(store);
  if (!current) return 'missing';
  if (!current.isIssuedBy(ca)) return 'another-ca';
  if (!hasResponderKey(store, current)) return 'key-missing';
  const from = current.notBefore.getTime();
  const to = current.notAfter.getTime();
  if (now.getTime() >= to) return 'expired';
  if (now.getTime() < from) return 'not-yet-valid';
  // A responder clipped to the CA's notAfter is shorter than asked; re-issuing it changes nothing.
  if (lifetimeDays(current) !== days && to !== ca.notAfter.getTime()) return 'lifetime-changed';
  if (now.getTime() >= from + (to - from) / 2) return 'half-life';
  return undefined;
}

export interface ResponderSummary {
  file: string;
  serial: string;
  notAfter: string;
  reason: ResponderRenewalReason;
}

/**
 * Stages a new OCSP responder certificate and key when the CA publishes (its settings after `tx`) and the
 * current one is due ({@link responderRenewalReason}): both files, the inventory lines (the new one issued,
 * the one it replaces superseded) and the audit line. Called by stageCrls, which every command that signs a
 * CRL goes through.
 * @param ca - the CA, key included
 * @param now - the issuing time
 * @param days - the responder's lifetime: that of the CRL being signed
 * @returns what was issued, or undefined when nothing was due
 */
export function stageResponder(
  store: CaStore,
  tx: Transaction,
  ca: CertificateAuthority,
  now: Date,
  days: number,
): ResponderSummary | undefined {
  if (store.settingsAfter(tx).publishUrl === undefined) return undefined;
  const reason = responderRenewalReason(store, ca.certificate, now, days);
  if (!reason) return undefined;
  const old = readResponder(store);
  // P-256 whatever the CA's key: signing a response is then ≈ 0.05 ms, where RSA-4096 would take ≈ 5 ms.
  const keys = generateEcdsaP256KeyPairSync();
  const cert = issueOcspResponderCertificate({ ca, publicKey: keys.publicKey, days, now });
  const p = store.paths;
  tx.write(p.ocspKey, exportPrivateKeyPem(keys.privateKey), MODE_SECRET);
  tx.write(p.ocspCert, cert.toPem(), MODE_PUBLIC);
  const summary = summarize(cert, 'ecdsa-p256');
  const events: InventoryEvent[] = [
    issueEvent(
      cert,
      RESPONDER_NAME,
      'ocsp',
      [store.relative(p.ocspCert), store.relative(p.ocspKey)],
      now,
      summary,
    ),
  ];
  if (old && reason !== 'another-ca' && old.isIssuedBy(ca.certificate)) {
    events.push({ op: 'supersede', serial: old.serialHex, at: now.toISOString(), by: cert.serialHex });
  }
  store.appendInventory(tx, events);
  const audit: AuditRecord = auditRecord('issue', cert, now, { profile: 'ocsp', renewal: reason });
  store.appendAudit(tx, [audit], ca.privateKey);
  return { file: store.display(p.ocspCert), serial: cert.serialHex, notAfter: summary.notAfter, reason };
}

/** The reason of an inventory line, if it is one a CRL or OCSP response can carry. */
function reasonOf(text: string | undefined): RevocationReason | undefined {
  return (REVOCATION_REASONS as readonly string[]).includes(text ?? '')
    ? (text as RevocationReason)
    : undefined;
}

/**
 * Every certificate the CA issued, by serial, with its status for an OCSP responder: revoked (with time and
 * reason) or good — expired and superseded ones included, as a CRL keeps listing them. A serial not in the
 * map is unknown. Read from the inventory index when it is in step with the log, else from the log; never
 * from a commit half applied.
 * @param store - the CA directory
 */
export async function readCertificateStatuses(store: CaStore): Promise<Map<string, CertificateStatus>> {
  const records = await store.readFinished(
    () => store.readInventoryIndex() ?? recordsOf(store.readInventory()),
    (r) => r.close(),
  );
  const good: CertificateStatus = { status: 'good' };
  const out = new Map<string, CertificateStatus>();
  try {
    for (let i = 0; i < records.size; i++) {
      const r = records.record(i);
      if (!r.revokedAt) {
        out.set(r.serial, good);
        continue;
      }
      const reason = reasonOf(r.revocationReason);
      out.set(r.serial, {
        status: 'revoked',
        revokedAt: new Date(r.revokedAt),
        ...(reason ? { reason } : {}),
      });
    }
  } finally {
    records.close();
  }
  return out;
}

export interface PublishUrlResult {
  /** The URL now in force, or undefined when publishing was turned off. */
  publishUrl?: string;
  previous?: string;
  urls?: RevocationUrls;
  /** The responder certificate issued for it, when one was due. */
  responder?: ResponderSummary;
}

/**
 * Sets (or, with null, removes) the CA's publish URL, with an audit line, and issues the OCSP responder
 * certificate if it is due. Certificates issued before keep what they carry; renewing them updates it.
 * @param o.url - the new publish URL (checked with {@link checkPublishUrl}), or null to publish nothing
 * @param o.caPassword - the CA key password (the audit line is signed, and the responder certified, by it)
 */
export async function setPublishUrl(
  store: CaStore,
  o: { url: string | null; caPassword: string | undefined; now?: Date },
): Promise<PublishUrlResult> {
  const now = o.now ?? new Date();
  const url = o.url === null ? undefined : checkPublishUrl(o.url);
  const ca = store.loadCa(o.caPassword);
  return store.lock(async () => {
    const previous = store.readSettings().publishUrl;
    const tx = store.newTransaction();
    store.stageSettings(tx, url === undefined ? {} : { publishUrl: url });
    store.appendAudit(
      tx,
      [{ time: now.toISOString(), op: 'settings', result: 'ok', detail: { publishUrl: url ?? '' } }],
      ca.privateKey,
    );
    const responder = stageResponder(store, tx, ca, now, currentCrlLifetime(store));
    await tx.commitAsync();
    return {
      ...(url ? { publishUrl: url, urls: revocationUrlsFor(url) } : {}),
      ...(previous ? { previous } : {}),
      ...(responder ? { responder } : {}),
    };
  });
}

/** Why {@link renewPublishingIfDue} signed: the CRL's reason, or the responder certificate's. */
export type PublishingRenewalReason = CrlRenewalReason | `responder-${ResponderRenewalReason}`;

/** What the publish server needs renewed now, if anything: the CRL first, then the responder. */
function publishingDue(store: CaStore, now: Date): PublishingRenewalReason | undefined {
  const crl = crlRenewalReason(store, now);
  if (crl) return crl;
  if (store.readSettings().publishUrl === undefined) return undefined;
  const responder = responderRenewalReason(store, store.readCaCertificate(), now, currentCrlLifetime(store));
  return responder && `responder-${responder}`;
}

/**
 * What `publish --auto-renew` runs at start and whenever the CRL or the responder certificate falls due:
 * when either is due, signs a new CRL (the same as `mtls-ca crl`, with an audit line saying why), which
 * re-issues the responder in the same transaction if it is due. The reason is judged again under the lock,
 * so of several processes due at once one signs. Nothing due costs no key load.
 * @param o.caPassword - the CA key password; ignored for an unencrypted key
 * @param o.now - the time to judge at and sign with; default now
 * @returns what was signed, or undefined when nothing was due
 */
export async function renewPublishingIfDue(
  store: CaStore,
  o: { caPassword: string | undefined; now?: Date },
): Promise<{ reason: PublishingRenewalReason; crl: CrlSummary; responder?: ResponderSummary } | undefined> {
  const now = o.now ?? new Date();
  if (!publishingDue(store, now)) return undefined;
  const ca = store.loadCa(o.caPassword);
  return store.lock(async () => {
    const reason = publishingDue(store, now);
    if (!reason) return undefined;
    return { reason, ...(await resignLocked(store, ca, now, undefined, { renewal: reason })) };
  });
}

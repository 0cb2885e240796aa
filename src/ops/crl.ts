/**
 * The CA's CRL (`ca/crl.pem`): staged in the same transaction as every change it must show (init, revoke,
 * renew with revokeOld), so that the inventory, the CRL and the audit log never disagree; re-signed with a
 * fresh nextUpdate by `crl`, and by a server that renews it when it is due. Each new CRL is numbered one above
 * the current one and keeps the CA's CRL lifetime (pki/crl-lifetime.ts) unless told otherwise.
 */
import { Crl, createCrl, type RevocationReason } from '../pki/crl.js';
import { crlLifetimeDays, crlRenewalTime, DEFAULT_CRL_DAYS } from '../pki/crl-lifetime.js';
import type { CertificateAuthority } from '../pki/profiles.js';
import { MODE_PUBLIC, type Transaction } from '../store/atomic.js';
import type { AuditRecord } from '../store/audit.js';
import type { CaStore } from '../store/ca-store.js';
import type { InventoryEntry } from '../store/inventory.js';
import { type ResponderSummary, stageResponder } from './publishing.js';

const DAY_MS = 86_400_000;

export interface CrlSummary {
  file: string;
  crlNumber: string;
  thisUpdate: string;
  nextUpdate: string;
  revoked: number;
}

/**
 * The CA's CRL lifetime in days: that of its current CRL (crl-lifetime.ts), or {@link DEFAULT_CRL_DAYS}
 * when there is none that can be read.
 */
export function currentCrlLifetime(store: CaStore): number {
  const current = store.readCrl();
  return current instanceof Crl ? crlLifetimeDays(current) : DEFAULT_CRL_DAYS;
}

/**
 * Stages a fresh CRL listing every revoked certificate in `entries`, numbered one above the current CRL.
 * Expired certificates stay listed: harmless, and it keeps `openssl verify -crl_check` strict. When the CA
 * publishes, the OCSP responder certificate is re-issued in the same transaction if it is due
 * (publishing.ts): whatever holds the CA key to sign a CRL keeps the responder current too.
 * @param days - its lifetime; default the CA's CRL lifetime, that of the current CRL (crl-lifetime.ts), or
 *   {@link DEFAULT_CRL_DAYS} when there is none that can be read
 */
export function stageCrl(
  store: CaStore,
  tx: Transaction,
  ca: CertificateAuthority,
  entries: InventoryEntry[],
  now: Date,
  days?: number,
): { crl: Crl; audit: AuditRecord; summary: CrlSummary; responder?: ResponderSummary } {
  const current = store.readCrl();
  const lifetime = days ?? (current instanceof Crl ? crlLifetimeDays(current) : DEFAULT_CRL_DAYS);
  // An unreadable CRL is replaced; its number restarts above anything the inventory could have produced.
  const crlNumber =
    current === 'missing' ? 0n : current === 'unreadable' ? BigInt(now.getTime()) : current.crlNumber;
  const revoked = entries
    .filter((e) => e.revokedAt)
    .map((e) => ({
      serialHex: e.serial,
      revokedAt: new Date(e.revokedAt!),
      reason: e.revocationReason === 'unspecified' ? undefined : (e.revocationReason as RevocationReason),
    }));
  const crl = createCrl({
    ca,
    crlNumber: crlNumber + 1n,
    thisUpdate: now,
    nextUpdate: new Date(now.getTime() + lifetime * DAY_MS),
    revoked,
  });
  tx.write(store.paths.crl, crl.toPem(), MODE_PUBLIC);
  const summary = {
    file: store.display(store.paths.crl),
    crlNumber: crl.crlNumber.toString(),
    thisUpdate: crl.thisUpdate.toISOString(),
    nextUpdate: crl.nextUpdate.toISOString(),
    revoked: revoked.length,
  };
  const responder = stageResponder(store, tx, ca, now, lifetime);
  return {
    crl,
    summary,
    ...(responder ? { responder } : {}),
    audit: {
      time: now.toISOString(),
      op: 'crl',
      result: 'ok',
      detail: { crlNumber: summary.crlNumber, revoked: revoked.length },
    },
  };
}

/**
 * Re-signs the CRL: every revoked certificate, the next CRL number, a fresh nextUpdate (and, when the CA
 * publishes, a new OCSP responder certificate if it is due).
 * @param o.days - its lifetime; default the CA's CRL lifetime (see {@link stageCrl})
 * @param o.caPassword - the CA key password; ignored for an unencrypted key
 * @param o.now - its thisUpdate; default now
 */
export async function resignCrl(
  store: CaStore,
  o: { days?: number; caPassword: string | undefined; now?: Date },
): Promise<CrlSummary & { responder?: ResponderSummary }> {
  const now = o.now ?? new Date();
  const ca = store.loadCa(o.caPassword);
  return store.lock(() => {
    const r = resignLocked(store, ca, now, o.days);
    return { ...r.crl, ...(r.responder ? { responder: r.responder } : {}) };
  });
}

/**
 * {@link resignCrl} for a caller holding the lock and the CA key.
 * @param detail - more for the audit line (why it was renewed)
 */
export function resignLocked(
  store: CaStore,
  ca: CertificateAuthority,
  now: Date,
  days?: number,
  detail?: Record<string, string>,
): { crl: CrlSummary; responder?: ResponderSummary } {
  const tx = store.newTransaction();
  const { audit, summary, responder } = stageCrl(store, tx, ca, store.readInventory(), now, days);
  store.appendAudit(tx, [{ ...audit, detail: { ...audit.detail, ...detail } }], ca.privateKey);
  tx.commit();
  return { crl: summary, ...(responder ? { responder } : {}) };
}

/**
 * Why the CA's CRL should be re-signed now, or undefined while it is good: there is none, it cannot be read
 * or was not signed by this CA (servers refuse it), it is out of date (servers refuse every client), or half
 * its lifetime has passed ({@link crlRenewalTime}).
 */
export type CrlRenewalReason = 'missing' | 'unreadable' | 'expired' | 'not-yet-valid' | 'half-life';

/**
 * Why the CA's CRL is due for re-signing at `now`, or undefined when it is not.
 * @param store - the CA directory
 * @param now - the time to judge at
 */
export function crlRenewalReason(store: CaStore, now: Date): CrlRenewalReason | undefined {
  const crl = store.readCrl();
  if (typeof crl === 'string') return crl;
  if (!crl.isSignedBy(store.readCaCertificate())) return 'unreadable';
  if (now >= crl.nextUpdate) return 'expired';
  if (now < crl.thisUpdate) return 'not-yet-valid';
  if (now >= crlRenewalTime(crl)) return 'half-life';
  return undefined;
}

export interface CrlRenewal {
  reason: CrlRenewalReason;
  crl: CrlSummary;
}

/**
 * Re-signs the CRL when {@link crlRenewalReason} says it is due — what `mtls-ca crl` does, with the CA's CRL
 * lifetime and an audit line saying why — and does nothing otherwise. The reason is judged again under the
 * directory lock, so of several processes due at once (two servers on one directory, a server and cron
 * running `mtls-ca crl`) one re-signs and the others find a fresh CRL. A CRL that is not due costs no key load.
 * @param o.caPassword - the CA key password; ignored for an unencrypted key
 * @param o.now - the time to judge at and the new CRL's thisUpdate; default now
 * @returns the renewal, or undefined when the CRL was not due
 */
export async function renewCrlIfDue(
  store: CaStore,
  o: { caPassword: string | undefined; now?: Date },
): Promise<CrlRenewal | undefined> {
  const now = o.now ?? new Date();
  if (!crlRenewalReason(store, now)) return undefined;
  const ca = store.loadCa(o.caPassword);
  return store.lock(() => {
    const reason = crlRenewalReason(store, now);
    if (!reason) return undefined;
    return { reason, crl: resignLocked(store, ca, now, undefined, { renewal: reason }).crl };
  });
}

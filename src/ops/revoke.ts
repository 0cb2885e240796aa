/**
 * `revoke` and `crl`: mark certificates revoked in the inventory and publish a new CRL (`ca/crl.pem`,
 * cRLNumber + 1) in the same transaction, so the inventory, the CRL and the audit log never disagree.
 */
import fs from 'node:fs';
import { Crl, createCrl, REVOCATION_REASONS, type RevocationReason } from '../pki/crl.js';
import { crlLifetimeDays, crlRenewalTime, DEFAULT_CRL_DAYS } from '../pki/crl-lifetime.js';
import { AmbiguousError, MtlsCaError } from '../pki/errors.js';
import type { CertificateAuthority } from '../pki/profiles.js';
import { MODE_PUBLIC, type Transaction } from '../store/atomic.js';
import type { AuditRecord } from '../store/audit.js';
import type { CaStore } from '../store/ca-store.js';
import { type InventoryEntry, type RevokeEvent, statusOf } from '../store/inventory.js';

const DAY_MS = 86_400_000;

/** The revocation reasons offered (the ones that apply to end-entity certificates of a private CA). */
export const REVOKE_REASONS = [
  'unspecified',
  'keyCompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
] as const satisfies readonly RevocationReason[];

export interface CrlSummary {
  file: string;
  crlNumber: string;
  thisUpdate: string;
  nextUpdate: string;
  revoked: number;
}

/** The CA's current CRL file: missing, unreadable (not a CRL at all), or parsed (its signature unchecked). */
function readCurrentCrl(store: CaStore): Crl | 'missing' | 'unreadable' {
  let data: Buffer;
  try {
    data = fs.readFileSync(store.paths.crl);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'unreadable';
  }
  try {
    return Crl.from(data, store.display(store.paths.crl));
  } catch {
    return 'unreadable';
  }
}

/**
 * Stages a fresh CRL listing every revoked certificate in `entries`, numbered one above the current CRL.
 * Expired certificates stay listed: harmless, and it keeps `openssl verify -crl_check` strict.
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
): { crl: Crl; audit: AuditRecord; summary: CrlSummary } {
  const current = readCurrentCrl(store);
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
  return {
    crl,
    summary,
    audit: {
      time: now.toISOString(),
      op: 'crl',
      result: 'ok',
      detail: { crlNumber: summary.crlNumber, revoked: revoked.length },
    },
  };
}

/** A serial as users type it (`0D:CA:…`, `0dca…`) in our lowercase, colon-free form. */
export function normalizeSerial(text: string): string | undefined {
  const hex = text.replace(/:/g, '').toLowerCase();
  return /^[0-9a-f]{8,40}$/.test(hex) ? hex : undefined;
}

/**
 * Which certificates `revoke <target>` means: the one with that serial, or the certificates of that name that
 * are not revoked and not expired (superseded ones included: they still work until revoked). A name with more
 * than one of those is ambiguous unless `all` says to revoke them all.
 * @param all - revoke every certificate the name matches
 * @throws AmbiguousError listing the name's certificates when there are several and not `all`
 */
export function findRevocationTargets(
  entries: InventoryEntry[],
  target: string,
  now: Date,
  all = false,
): InventoryEntry[] {
  const serial = normalizeSerial(target);
  const bySerial = serial ? entries.filter((e) => e.serial === serial) : [];
  const matches = bySerial.length ? bySerial : entries.filter((e) => e.name === target && e.profile !== 'ca');
  if (matches.length === 0) {
    throw new MtlsCaError('NOT_FOUND', `revoke ${target}: no certificate with that name or serial`, {
      detail: { kind: 'unknown-certificate' },
    });
  }
  if (matches.some((m) => m.profile === 'ca')) {
    throw new MtlsCaError('INVALID_ARGUMENT', `revoke ${target}: that is the CA certificate`, {
      detail: { kind: 'ca-certificate' },
    });
  }
  const open = matches.filter((m) => !m.revokedAt && (bySerial.length > 0 || statusOf(m, now) !== 'expired'));
  if (open.length === 0) {
    const revoked = matches.find((m) => m.revokedAt);
    if (revoked) {
      throw new MtlsCaError(
        'ALREADY_REVOKED',
        `revoke ${target}: already revoked on ${revoked.revokedAt!.slice(0, 10)} (serial ${revoked.serial})`,
      );
    }
    throw new MtlsCaError('NOT_FOUND', `revoke ${target}: its certificates have all expired`, {
      detail: { kind: 'all-expired' },
    });
  }
  if (open.length > 1 && !all) {
    throw new AmbiguousError(
      `revoke ${target}: ${open.length} certificates have that name and are not revoked`,
      { kind: 'several-certificates', name: target, count: open.length },
      open.map((m) => ({
        serial: m.serial,
        profile: m.profile,
        status: statusOf(m, now),
        notAfter: m.notAfter,
      })),
    );
  }
  return open;
}

/**
 * What `revoke` would revoke, read without the lock and without the CA key: the checks a command makes before
 * it asks for the CA password, so that a name nobody has fails first. {@link revoke} repeats them under the
 * lock.
 */
export function checkRevocation(
  store: CaStore,
  o: Pick<RevokeOptions, 'target' | 'all' | 'now'>,
): InventoryEntry[] {
  store.assertInitialized();
  return findRevocationTargets(store.readInventory(), o.target, o.now ?? new Date(), o.all);
}

export interface RevokeOptions {
  /** A name or a serial. */
  target: string;
  /** Revoke every certificate of the name that is in use; without it, a name with several is refused. */
  all?: boolean;
  reason: RevocationReason;
  caPassword: string | undefined;
  now?: Date;
}

export interface RevokeResult {
  revoked: { name: string; profile: string; serial: string; subject: string }[];
  reason: RevocationReason;
  crl: CrlSummary;
}

export async function revoke(store: CaStore, o: RevokeOptions): Promise<RevokeResult> {
  const now = o.now ?? new Date();
  if (!(REVOCATION_REASONS as readonly string[]).includes(o.reason)) {
    throw new MtlsCaError(
      'INVALID_ARGUMENT',
      `use reason ${o.reason}: unknown reason`,
      `one of ${REVOKE_REASONS.join(', ')}`,
    );
  }
  const ca = store.loadCa(o.caPassword);
  return store.lock(() => {
    const entries = store.readInventory();
    const targets = findRevocationTargets(entries, o.target, now, o.all);
    const events: RevokeEvent[] = targets.map((t) => ({
      op: 'revoke',
      serial: t.serial,
      at: now.toISOString(),
      reason: o.reason,
    }));
    for (const t of targets) {
      t.revokedAt = now.toISOString();
      t.revocationReason = o.reason;
    }
    const tx = store.newTransaction();
    const { audit, summary } = stageCrl(store, tx, ca, entries, now);
    store.appendInventory(tx, events);
    store.appendAudit(
      tx,
      [
        ...targets.map(
          (t): AuditRecord => ({
            time: now.toISOString(),
            op: 'revoke',
            subject: t.subject,
            serial: t.serial,
            fingerprint: t.fingerprint,
            result: 'ok',
            detail: { reason: o.reason },
          }),
        ),
        audit,
      ],
      ca.privateKey,
    );
    tx.commit();
    return {
      revoked: targets.map((t) => ({
        name: t.name,
        profile: t.profile,
        serial: t.serial,
        subject: t.subject,
      })),
      reason: o.reason,
      crl: summary,
    };
  });
}

/**
 * Re-signs the CRL: every revoked certificate, the next CRL number, a fresh nextUpdate.
 * @param o.days - its lifetime; default the CA's CRL lifetime (see {@link stageCrl})
 * @param o.caPassword - the CA key password; ignored for an unencrypted key
 * @param o.now - its thisUpdate; default now
 */
export async function resignCrl(
  store: CaStore,
  o: { days?: number; caPassword: string | undefined; now?: Date },
): Promise<CrlSummary> {
  const now = o.now ?? new Date();
  const ca = store.loadCa(o.caPassword);
  return store.lock(() => resignLocked(store, ca, now, o.days));
}

function resignLocked(
  store: CaStore,
  ca: CertificateAuthority,
  now: Date,
  days?: number,
  detail?: Record<string, string>,
): CrlSummary {
  const tx = store.newTransaction();
  const { audit, summary } = stageCrl(store, tx, ca, store.readInventory(), now, days);
  store.appendAudit(tx, [{ ...audit, detail: { ...audit.detail, ...detail } }], ca.privateKey);
  tx.commit();
  return summary;
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
  const crl = readCurrentCrl(store);
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
    return { reason, crl: resignLocked(store, ca, now, undefined, { renewal: reason }) };
  });
}

/**
 * The CRLs of the CA directory, all in `ca/crl.pem`: one per CA in force — the issuing CA's first, then, with
 * an intermediate, the root's (which lists the intermediates it revoked), then those of the CAs a rotation
 * replaced — a file servers take whole (nginx's `ssl_crl`, `openssl verify -CRLfile`, `serve`). It is staged in
 * the same transaction as every change it must show (init, revoke, renew with revokeOld, rotate, retire), so
 * that the inventory, the CRLs and the audit log never disagree; re-signed with a fresh nextUpdate by `crl`,
 * and by a server that renews it when it is due. Each CA's new CRL is numbered one above its current one and
 * keeps that CA's CRL lifetime (pki/crl-lifetime.ts) unless told otherwise; the CRL of a CA that is not
 * re-signed (a root whose key is offline) is kept as it is. When the CA publishes, the OCSP responder
 * certificate is re-issued in the same transaction as the issuing CA's CRL if it is due (publishing.ts):
 * whatever holds the CA key to sign a CRL keeps the responder current too.
 */
import { Crl, createCrl, type RevocationReason } from '../pki/crl.js';
import {
  crlLifetimeDays,
  crlRenewalTime,
  DEFAULT_CRL_DAYS,
  DEFAULT_ROOT_CRL_DAYS,
} from '../pki/crl-lifetime.js';
import { MtlsCaError } from '../pki/errors.js';
import type { CertificateAuthority } from '../pki/profiles.js';
import { DAY_MS } from '../pki/profiles.js';
import type { Transaction } from '../store/atomic.js';
import type { AuditRecord } from '../store/audit.js';
import type { CaInForce, CaRole, CaStore } from '../store/ca-store.js';
import type { InventoryEntry } from '../store/inventory.js';
import { type ResponderSummary, stageResponder } from './publishing.js';

export interface CrlSummary {
  file: string;
  /** The CA that signed it, and what that CA is to the directory. */
  issuer: string;
  role: CaRole;
  crlNumber: string;
  thisUpdate: string;
  nextUpdate: string;
  revoked: number;
}

/** A CA whose CRL `ca/crl.pem` holds, and what it is to the directory (a root's CRL lives longer). */
export type CrlIssuer = Pick<CaInForce, 'role' | 'certificate'>;

/** The CRLs a transaction signed anew, in file order, and their audit lines. */
export interface StagedCrls {
  signed: CrlSummary[];
  audit: AuditRecord[];
  /** The OCSP responder certificate re-issued with the issuing CA's CRL, when one was due. */
  responder?: ResponderSummary;
}

/** The default lifetime of a CA's first CRL, in days. */
function defaultDays(ca: CrlIssuer): number {
  return ca.role === 'root' ? DEFAULT_ROOT_CRL_DAYS : DEFAULT_CRL_DAYS;
}

function summarizeCrl(store: CaStore, crl: Crl, role: CaRole): CrlSummary {
  return {
    file: store.display(store.paths.crl),
    issuer: crl.issuerName,
    role,
    crlNumber: crl.crlNumber.toString(),
    thisUpdate: crl.thisUpdate.toISOString(),
    nextUpdate: crl.nextUpdate.toISOString(),
    revoked: crl.revoked.length,
  };
}

/** The CRL of `ca` among the current ones, by its issuer name (the names of a directory's CAs differ). */
function crlOf(current: Crl[] | string, ca: CrlIssuer): Crl | undefined {
  return typeof current === 'string'
    ? undefined
    : current.find((c) => c.issuerDer.equals(ca.certificate.subjectDer));
}

/**
 * The CA's CRL lifetime in days: that of the issuing CA's current CRL (crl-lifetime.ts), or
 * {@link DEFAULT_CRL_DAYS} when there is none that can be read.
 */
export function currentCrlLifetime(store: CaStore): number {
  const current = store.readCrl();
  return current instanceof Crl ? crlLifetimeDays(current) : DEFAULT_CRL_DAYS;
}

/** The lifetime in days of the current CRL of `ca`, or undefined when it has none that can be read. */
export function crlLifetimeOf(store: CaStore, ca: CrlIssuer): number | undefined {
  const crl = crlOf(store.readCrls(), ca);
  return crl && crlLifetimeDays(crl);
}

/**
 * Stages `ca/crl.pem` anew: for each CA of `o.cas`, in that order, a fresh CRL when it is one of `o.sign` —
 * listing the revoked certificates of `o.entries` it issued, numbered one above its current CRL — else its
 * current CRL as it is (none, if it has none). CRLs of CAs no longer in `o.cas` (retired) are left out.
 * Expired certificates stay listed: harmless, and it keeps `openssl verify -crl_check` strict.
 * @param o.cas - the CAs in force once the transaction commits, the issuing CA first
 * @param o.sign - the CAs to sign a fresh CRL with (their keys loaded)
 * @param o.entries - the inventory as the transaction leaves it
 * @param o.now - the thisUpdate of the new CRLs
 * @param o.days - the lifetime of a CA's new CRL; undefined (the default): the lifetime of its current CRL
 *   (crl-lifetime.ts), or for a first CRL {@link DEFAULT_CRL_DAYS} ({@link DEFAULT_ROOT_CRL_DAYS} for a root)
 */
export function stageCrls(
  store: CaStore,
  tx: Transaction,
  o: {
    cas: readonly CrlIssuer[];
    sign: readonly CertificateAuthority[];
    entries: readonly InventoryEntry[];
    now: Date;
    days?: (ca: CrlIssuer) => number | undefined;
  },
): StagedCrls {
  const current = store.readCrls();
  const blocks: Crl[] = [];
  const staged: StagedCrls = { signed: [], audit: [] };
  for (const ca of o.cas) {
    const previous = crlOf(current, ca);
    const signer = o.sign.find((s) => s.certificate.der.equals(ca.certificate.der));
    if (!signer) {
      if (previous) blocks.push(previous);
      continue;
    }
    const lifetime = o.days?.(ca) ?? (previous ? crlLifetimeDays(previous) : defaultDays(ca));
    // An unreadable file is replaced; numbers restart above anything the inventory could have produced.
    const crlNumber = previous?.crlNumber ?? (current === 'unreadable' ? BigInt(o.now.getTime()) : 0n);
    const issuer = ca.certificate.subjectName;
    const revoked = o.entries
      .filter((e) => e.revokedAt && e.issuer === issuer)
      .map((e) => ({
        serialHex: e.serial,
        revokedAt: new Date(e.revokedAt!),
        reason: e.revocationReason === 'unspecified' ? undefined : (e.revocationReason as RevocationReason),
      }));
    const crl = createCrl({
      ca: signer,
      crlNumber: crlNumber + 1n,
      thisUpdate: o.now,
      nextUpdate: new Date(o.now.getTime() + lifetime * DAY_MS),
      revoked,
    });
    blocks.push(crl);
    if (ca.role === 'issuing') {
      const responder = stageResponder(store, tx, signer, o.now, lifetime);
      if (responder) staged.responder = responder;
    }
    const summary = summarizeCrl(store, crl, ca.role);
    staged.signed.push(summary);
    staged.audit.push({
      time: o.now.toISOString(),
      op: 'crl',
      issuer,
      result: 'ok',
      detail: { crlNumber: summary.crlNumber, revoked: revoked.length },
    });
  }
  store.writeCrls(tx, blocks);
  return staged;
}

/**
 * The keys of the CAs in force that `wanted` picks, loaded with the CA password (every CA key of a directory
 * has it): the issuing CA's through {@link CaStore.loadCa}, the others' from their files.
 * @param optional - leave out a CA whose key is not in the directory (a root taken offline) instead of failing
 * @throws MtlsCaError NOT_FOUND for a key that is not there (unless `optional`), BAD_PASSWORD
 */
export function loadCaKeys(
  store: CaStore,
  cas: readonly CaInForce[],
  password: string | undefined,
  optional = false,
): CertificateAuthority[] {
  const loaded: CertificateAuthority[] = [];
  for (const ca of cas) {
    if (ca.role === 'issuing') {
      loaded.push(store.loadCa(password));
      continue;
    }
    if (optional && !store.hasCaKey(ca)) continue;
    loaded.push(store.loadCaKey(ca, password));
  }
  return loaded;
}

/** What `crl` re-signed, and the CRLs it could not (their CA's key is offline). */
export interface ResignedCrls extends CrlSummary {
  /** The OCSP responder certificate re-issued with it, when the CA publishes and one was due. */
  responder?: ResponderSummary;
  /** The other CRLs it re-signed (a root's, a previous CA's), when the directory has more than one CA. */
  others?: CrlSummary[];
  /** The CRLs it kept as they are because their CA's key is not in the directory (a root taken offline). */
  keyOffline?: CrlSummary[];
}

/**
 * Re-signs the CRL of every CA in force whose key is in the directory: every revoked certificate, the next
 * CRL number, a fresh nextUpdate. A root whose key is offline keeps its CRL.
 * @param o.days - the lifetime of the issuing CAs' CRLs (the current and previous ones); default each one's
 *   current lifetime (see {@link stageCrls})
 * @param o.rootDays - the lifetime of the root's CRL; default its current lifetime
 * @param o.caPassword - the CA key password; ignored for an unencrypted key
 * @param o.now - their thisUpdate; default now
 */
export async function resignCrl(
  store: CaStore,
  o: { days?: number; rootDays?: number; caPassword: string | undefined; now?: Date },
): Promise<ResignedCrls> {
  const now = o.now ?? new Date();
  // The keys before the lock (decrypting them is slow); the CAs in force again under it, so that a CA retired
  // meanwhile is not re-signed back into the CRLs. A CA replaced meanwhile is refused by the lock.
  const sign = loadCaKeys(store, store.casInForce(), o.caPassword, true);
  return store.lock(async () => {
    const cas = store.casInForce();
    const tx = store.newTransaction();
    const staged = stageCrls(store, tx, {
      cas,
      sign,
      entries: store.readInventory(),
      now,
      days: (ca) => (ca.role === 'root' ? o.rootDays : o.days),
    });
    store.appendAudit(tx, staged.audit, sign[0]!.privateKey);
    await tx.commitAsync();
    const [first, ...others] = staged.signed;
    const current = store.readCrls();
    const keyOffline = cas
      .filter((ca) => !sign.some((s) => s.certificate.der.equals(ca.certificate.der)))
      .flatMap((ca) => {
        const crl = crlOf(current, ca);
        return crl ? [summarizeCrl(store, crl, ca.role)] : [];
      });
    return {
      ...first!,
      ...(others.length ? { others } : {}),
      ...(keyOffline.length ? { keyOffline } : {}),
      ...(staged.responder ? { responder: staged.responder } : {}),
    };
  });
}

/**
 * Re-signs the issuing CA's CRL for a caller holding the lock and the CA key (`publish --auto-renew`); the
 * other CRLs of ca/crl.pem stay as they are.
 * @param days - its lifetime; default its current lifetime
 * @param detail - more for the audit line (why it was renewed)
 */
export async function resignLocked(
  store: CaStore,
  ca: CertificateAuthority,
  now: Date,
  days?: number,
  detail?: Record<string, string>,
): Promise<{ crl: CrlSummary; responder?: ResponderSummary }> {
  const tx = store.newTransaction();
  const staged = stageCrls(store, tx, {
    cas: store.casInForce(),
    sign: [ca],
    entries: store.readInventory(),
    now,
    days: (c) => (c.role === 'issuing' ? days : undefined),
  });
  store.appendAudit(
    tx,
    staged.audit.map((a) => ({ ...a, detail: { ...a.detail, ...detail } })),
    ca.privateKey,
  );
  await tx.commitAsync();
  return { crl: staged.signed[0]!, ...(staged.responder ? { responder: staged.responder } : {}) };
}

/**
 * Why a CA's CRL should be re-signed now, or undefined while it is good: there is none, it cannot be read
 * or was not signed by this CA (servers refuse it), it is out of date (servers refuse every client), or half
 * its lifetime has passed ({@link crlRenewalTime}).
 */
export type CrlRenewalReason = 'missing' | 'unreadable' | 'expired' | 'not-yet-valid' | 'half-life';

/** Why the CRL of `ca` in `current` (store.readCrls) is due at `now`, or undefined. */
function renewalReasonOf(
  current: Crl[] | 'missing' | 'unreadable',
  ca: CaInForce,
  now: Date,
): CrlRenewalReason | undefined {
  if (typeof current === 'string') return current;
  const crl = crlOf(current, ca);
  if (!crl) return 'missing';
  if (!crl.isSignedBy(ca.certificate)) return 'unreadable';
  if (now >= crl.nextUpdate) return 'expired';
  if (now < crl.thisUpdate) return 'not-yet-valid';
  if (now >= crlRenewalTime(crl)) return 'half-life';
  return undefined;
}

/**
 * Why the issuing CA's CRL is due for re-signing at `now`, or undefined when it is not.
 * @param store - the CA directory
 * @param now - the time to judge at
 */
export function crlRenewalReason(store: CaStore, now: Date): CrlRenewalReason | undefined {
  return renewalReasonOf(store.readCrls(), store.casInForce()[0]!, now);
}

/** The CAs in force, and those whose CRL is due at `now` with why, the issuing CA first. */
function dueCrls(
  store: CaStore,
  now: Date,
): { cas: CaInForce[]; due: { ca: CaInForce; reason: CrlRenewalReason }[] } {
  const current = store.readCrls();
  const cas = store.casInForce();
  const due = cas.flatMap((ca) => {
    const reason = renewalReasonOf(current, ca, now);
    return reason ? [{ ca, reason }] : [];
  });
  return { cas, due };
}

export interface CrlRenewal {
  reason: CrlRenewalReason;
  crl: CrlSummary;
  /** The other CRLs renewed with it (a root's, a previous CA's), each with why. */
  others?: { reason: CrlRenewalReason; crl: CrlSummary }[];
}

/**
 * Re-signs the CRLs that are due (see {@link CrlRenewalReason}) — what `mtls-ca crl` does, with each CA's CRL
 * lifetime and an audit line saying why — and does nothing otherwise. Only CRLs whose CA key is in the
 * directory are renewed: a root taken offline keeps its long-lived CRL, and servers warn before it expires.
 * The reasons are judged again under the directory lock, so of several processes due at once (two servers
 * on one directory, a server and cron running `mtls-ca crl`) one re-signs and the others find fresh CRLs.
 * CRLs that are not due cost no key load.
 * @param o.caPassword - the CA key password; ignored for an unencrypted key
 * @param o.now - the time to judge at and the new CRLs' thisUpdate; default now
 * @returns the renewal, or undefined when nothing renewable was due
 */
export async function renewCrlIfDue(
  store: CaStore,
  o: { caPassword: string | undefined; now?: Date },
): Promise<CrlRenewal | undefined> {
  const now = o.now ?? new Date();
  const renewable = (d: { ca: CaInForce }) => store.hasCaKey(d.ca);
  const before = dueCrls(store, now);
  if (!before.due.some(renewable)) return undefined;
  // Every key that may be needed, before the lock; the issuing CA's also signs the audit lines.
  const keys = loadCaKeys(store, before.cas, o.caPassword, true);
  return store.lock(async () => {
    const { cas, due: dueNow } = dueCrls(store, now);
    const due = dueNow.filter(renewable);
    const sign = keys.filter((k) => due.some((d) => d.ca.certificate.der.equals(k.certificate.der)));
    if (sign.length === 0) return undefined;
    const tx = store.newTransaction();
    const staged = stageCrls(store, tx, {
      cas,
      sign,
      entries: store.readInventory(),
      now,
    });
    const reasonOf = (issuer: string) => due.find((d) => d.ca.certificate.subjectName === issuer)!.reason;
    store.appendAudit(
      tx,
      staged.audit.map((a) => ({ ...a, detail: { ...a.detail, renewal: reasonOf(a.issuer!) } })),
      keys[0]!.privateKey,
    );
    await tx.commitAsync();
    const [first, ...rest] = staged.signed.map((crl) => ({ reason: reasonOf(crl.issuer), crl }));
    return { ...first!, ...(rest.length ? { others: rest } : {}) };
  });
}

/**
 * The CA a certificate of the inventory was issued by, among the CAs in force.
 * @throws MtlsCaError INVALID_ARGUMENT when it was issued by a CA no longer in force (retired: nothing trusts
 *   it any more), with `action` leading the message
 */
export function issuerInForce(
  cas: readonly CaInForce[],
  entry: Pick<InventoryEntry, 'issuer' | 'serial'>,
  action: string,
): CaInForce {
  const ca = cas.find((c) => c.certificate.subjectName === entry.issuer);
  if (!ca) {
    throw new MtlsCaError(
      'INVALID_ARGUMENT',
      `${action}: its CA ${entry.issuer ?? '(unknown)'} is no longer in force (retired), so nothing trusts the certificate any more`,
    );
  }
  return ca;
}

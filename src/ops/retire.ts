/**
 * `ca retire`: the end of a rotation (rotate.ts). A CA a rotation replaced leaves every trust file —
 * `ca/ca-bundle.pem`, the trust stores (a root) and its CRL in `ca/crl.pem` — and moves, key and all, from
 * `ca/previous/<serial>/` to `ca/retired/<serial>/` (a CA key is never destroyed; it signed audit lines of its
 * day, which `audit verify` still checks). An intermediate is also revoked by its root (cessationOfOperation):
 * servers that trust the root alone — Java with the trust store, nginx — would otherwise still accept a
 * client that sends the old intermediate with its certificate, so the root's key must be in the directory.
 *
 * A CA that still vouches for certificates in use — valid, or superseded but not expired, which still
 * authenticate — is refused unless `force`: retiring it cuts their holders off.
 */

import { canonicalSerial } from '../pki/certificate.js';
import { AmbiguousError, MtlsCaError } from '../pki/errors.js';
import type { Pkcs12Profile } from '../pki/pkcs12.js';
import type { AuditRecord } from '../store/audit.js';
import type { CaInForce, CaStore } from '../store/ca-store.js';
import { type InventoryEntry, type InventoryEvent, recordsOf } from '../store/inventory.js';
import { FileList, type StorePasswordChoice, type WrittenFile } from './common.js';
import { type CrlSummary, loadCaKeys, stageCrls } from './crl.js';
import { caUsage, type PreviousCa } from './list.js';
import { auditRecord, type CertificateSummary, summarize } from './records.js';
import { assertRootKeyHeld } from './root-key.js';
import { stageTrustFiles, trustStorePassword } from './trust-files.js';

export interface RetireOptions {
  /** The serial of the CA to retire; may be left out while there is one previous CA. */
  serial?: string;
  /** Retire it even though certificates it issued are still in use (they stop working). */
  force: boolean;
  /** The CA password: the issuing CA signs the audit line, the root revokes an intermediate. */
  caPassword: string | undefined;
  /** The trust stores' password when it was not generated (a root leaves them). */
  store: StorePasswordChoice;
  p12Profile: Pkcs12Profile;
  now?: Date;
}

export interface RetireResult {
  /** The CA retired, where it now lives, and what it still vouched for (with `force`). */
  retired: CertificateSummary & Pick<PreviousCa, 'inUse' | 'lastNotAfter'> & { dir: string };
  /** Whether its root revoked it (an intermediate). */
  revoked: boolean;
  files: WrittenFile[];
  /** The root's new CRL, when it revoked the intermediate. */
  crl?: CrlSummary;
}

/** The previous CA `serial` names (or the only one), and what it still vouches for. */
function planRetirement(
  store: CaStore,
  o: Pick<RetireOptions, 'serial' | 'force' | 'now'>,
): {
  ca: CaInForce;
  usage: PreviousCa;
  root: CaInForce | undefined;
  /** What the checks read, for the retirement under the lock to use rather than read again. */
  cas: CaInForce[];
  entries: InventoryEntry[];
} {
  const action = `retire CA${o.serial ? ` ${o.serial}` : ''}`;
  const cas = store.casInForce();
  const previous = cas.filter((c) => c.role === 'previous');
  if (previous.length === 0) {
    throw new MtlsCaError('NOT_FOUND', `${action}: no CA of ${store.display(store.root)} was replaced`, {
      detail: { kind: 'nothing-to-retire' },
    });
  }
  let ca: CaInForce | undefined;
  if (o.serial !== undefined) {
    const wanted = canonicalSerial(o.serial.replace(/:/g, ''));
    ca = previous.find((c) => canonicalSerial(c.certificate.serialHex) === wanted);
    if (!ca) {
      const current = cas.find((c) => canonicalSerial(c.certificate.serialHex) === wanted);
      throw new MtlsCaError(
        current ? 'INVALID_ARGUMENT' : 'NOT_FOUND',
        current
          ? `${action}: that is the ${current.role === 'root' ? 'root' : 'CA that issues'}, not one a rotation replaced`
          : `${action}: no previous CA has that serial`,
        { detail: { kind: 'nothing-to-retire' } },
      );
    }
  } else if (previous.length > 1) {
    throw new AmbiguousError(
      `${action}: ${previous.length} CAs were replaced and are still in force`,
      { kind: 'several-previous-cas', count: previous.length },
      previous.map((c) => ({
        serial: c.certificate.serialHex,
        subject: c.certificate.subjectName,
        notAfter: c.certificate.notAfter.toISOString(),
      })),
    );
  } else {
    ca = previous[0]!;
  }
  const now = o.now ?? new Date();
  const entries = store.readInventory();
  const [usage] = caUsage(recordsOf(entries), [ca], now);
  if (usage!.inUse > 0 && !o.force) {
    throw new MtlsCaError(
      'INVALID_ARGUMENT',
      `retire CA ${ca.certificate.serialHex} (${ca.certificate.subjectName}): ${usage!.inUse} certificate${usage!.inUse === 1 ? '' : 's'} it issued ${usage!.inUse === 1 ? 'is' : 'are'} still in use, the last until ${usage!.lastNotAfter!.slice(0, 10)}`,
      { detail: { kind: 'ca-in-use', count: usage!.inUse } },
    );
  }
  const root = ca.certificate.isSelfIssued ? undefined : cas.find((c) => c.role === 'root');
  if (root) assertRootKeyHeld(store, root, action, 'revokes the intermediate');
  return { ca, usage: usage!, root, cas, entries };
}

/**
 * The checks {@link retireCa} makes before it needs the CA password: which CA, nothing in use under it (or
 * `force`), the root's key for an intermediate. retireCa repeats them under the lock.
 */
export function checkRetirement(store: CaStore, o: Pick<RetireOptions, 'serial' | 'force' | 'now'>): void {
  store.assertInitialized();
  planRetirement(store, o);
}

export async function retireCa(store: CaStore, o: RetireOptions): Promise<RetireResult> {
  const now = o.now ?? new Date();
  store.assertInitialized();
  const plan = planRetirement(store, o);
  const issuingCa = plan.cas[0]!;
  const [issuing, root] = loadCaKeys(store, plan.root ? [issuingCa, plan.root] : [issuingCa], o.caPassword);

  return store.lock(async () => {
    const { ca, usage, cas, entries } = planRetirement(store, o);
    const p = store.paths;
    const serial = ca.certificate.serialHex;
    const retired = p.retired(serial);
    const after = cas.filter((c) => c !== ca);
    const tx = store.newTransaction();
    store.stageRetirement(tx, ca);
    const files = new FileList(tx, (f) => store.display(f));
    stageTrustFiles(store, files, after, {
      storePassword: (artifact) => trustStorePassword(store, artifact, o.store),
      p12Profile: o.p12Profile,
      now,
      // The trust stores hold roots: an intermediate leaving changes nothing in them.
      stores: ca.certificate.isSelfIssued,
    });
    // The root revokes the intermediate, unless it did already (revoke by its serial).
    const entry = root && entries.find((e) => e.serial === serial && e.profile === 'ca');
    const revoking = Boolean(root && entry && !entry.revokedAt);
    const events: InventoryEvent[] = [];
    const audit: AuditRecord[] = [
      auditRecord('retire', ca.certificate, now, { profile: 'ca', inUse: usage.inUse }),
    ];
    if (revoking) {
      entry!.revokedAt = now.toISOString();
      entry!.revocationReason = 'cessationOfOperation';
      events.push({ op: 'revoke', serial, at: entry!.revokedAt, reason: 'cessationOfOperation' });
      audit.push(auditRecord('revoke', ca.certificate, now, { reason: 'cessationOfOperation' }));
    }
    const crls = stageCrls(store, tx, { cas: after, sign: revoking ? [root!] : [], entries, now });
    files.files.push({
      path: store.display(p.crl),
      mode: '0644',
      what: revoking ? "CRLs (the root's revokes the intermediate)" : "CRLs (the retired CA's left out)",
    });
    if (events.length) store.appendInventory(tx, events);
    store.appendAudit(tx, [...audit, ...crls.audit], issuing!.privateKey);
    await tx.commitAsync();
    return {
      retired: {
        ...summarize(ca.certificate),
        dir: store.display(retired.dir),
        inUse: usage.inUse,
        ...(usage.lastNotAfter ? { lastNotAfter: usage.lastNotAfter } : {}),
      },
      revoked: revoking,
      files: files.files,
      ...(crls.signed[0] ? { crl: crls.signed[0] } : {}),
    };
  });
}

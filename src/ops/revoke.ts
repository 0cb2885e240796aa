/**
 * `revoke`: marks certificates revoked in the inventory and publishes new CRLs (crl.ts) in the same
 * transaction, so the inventory, the CRLs and the audit log never disagree. Each certificate goes into the CRL
 * of the CA that issued it: the issuing CA, a CA a rotation replaced, or — for an intermediate CA that no
 * longer issues — the root, whose key must then be in the directory.
 */
import { canonicalSerial } from '../pki/certificate.js';
import { REVOCATION_REASONS, type RevocationReason } from '../pki/crl.js';
import { AmbiguousError, MtlsCaError } from '../pki/errors.js';
import type { AuditRecord } from '../store/audit.js';
import type { CaStore } from '../store/ca-store.js';
import { type InventoryEntry, type RevokeEvent, statusOf } from '../store/inventory.js';
import { type CrlSummary, issuerInForce, loadCaKeys, stageCrls } from './crl.js';
import type { ResponderSummary } from './publishing.js';

/** The revocation reasons offered (the ones that apply to end-entity certificates of a private CA). */
const REVOKE_REASONS = [
  'unspecified',
  'keyCompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
] as const satisfies readonly RevocationReason[];

/**
 * A serial as users type it (`0D:CA:…`, `0dca…`) in our lowercase, colon-free form, when it is long enough to be
 * read as a serial first (8 to 40 hex digits); shorter hex — `1000`, as `openssl ca` numbers — may be a name too.
 */
function normalizeSerial(text: string): string | undefined {
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
function findRevocationTargets(
  entries: InventoryEntry[],
  target: string,
  now: Date,
  issuingSubject: string,
  all = false,
): InventoryEntry[] {
  const hex = target.replace(/:/g, '').toLowerCase();
  // Compared by value: a serial copied from OpenSSL (`E66A…`) lacks the zero octet its DER form (`00e66a…`) has.
  const bySerial = /^[0-9a-f]{1,40}$/.test(hex)
    ? entries.filter((e) => canonicalSerial(e.serial) === canonicalSerial(hex))
    : [];
  // A long serial wins over a name; a short one (`1000`) is a name first.
  const serialFirst = normalizeSerial(target) !== undefined && bySerial.length > 0;
  const byName = serialFirst ? [] : entries.filter((e) => e.name === target && e.profile !== 'ca');
  const matches = serialFirst || byName.length === 0 ? bySerial : byName;
  if (matches.length === 0) {
    throw new MtlsCaError('NOT_FOUND', `revoke ${target}: no certificate with that name or serial`, {
      detail: { kind: 'unknown-certificate' },
    });
  }
  refuseCaInUse(matches, target, issuingSubject);
  if (matches.some((m) => m.profile === 'ocsp')) {
    // Clients never check it (id-pkix-ocsp-nocheck): a revocation would change nothing. It is short-lived.
    throw new MtlsCaError(
      'INVALID_ARGUMENT',
      `revoke ${target}: that is an OCSP responder certificate, which clients do not check for revocation`,
      { detail: { kind: 'ocsp-responder-certificate' } },
    );
  }
  // Named by its serial, an expired certificate can still be revoked.
  const open = matches.filter(
    (m) => !m.revokedAt && (matches === bySerial || statusOf(m, now) !== 'expired'),
  );
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
 * Refuses to revoke a CA certificate in use: a root (nothing revokes a root: it is replaced), and the CA that
 * issues (revoked, it would take every certificate in use with it and leave nothing to issue with: a new CA
 * comes first). An intermediate a rotation replaced may be revoked, by its root.
 * @param issuingSubject - the subject of the CA that issues
 */
function refuseCaInUse(matches: InventoryEntry[], target: string, issuingSubject: string): void {
  for (const m of matches) {
    if (m.profile !== 'ca') continue;
    if (m.issuer === undefined || m.issuer === m.subject) {
      throw new MtlsCaError('INVALID_ARGUMENT', `revoke ${target}: that is the CA certificate`, {
        detail: { kind: 'ca-certificate' },
      });
    }
    if (m.subject === issuingSubject) {
      throw new MtlsCaError(
        'INVALID_ARGUMENT',
        `revoke ${target}: that is the intermediate CA that issues (${m.subject})`,
        { detail: { kind: 'issuing-ca' } },
      );
    }
  }
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
  const issuing = store.readCaCertificate().subjectName;
  return findRevocationTargets(store.readInventory(), o.target, o.now ?? new Date(), issuing, o.all);
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
  revoked: { name: string; profile: string; serial: string; subject: string; issuer?: string }[];
  reason: RevocationReason;
  /** The CRL that lists them (the first, when they were issued by several CAs). */
  crl: CrlSummary;
  /** The CA's publish URL, when it publishes: servers checking OCSP or the CRL there see the revocation. */
  publishUrl?: string;
  /** The OCSP responder certificate issued with the CRL, when one was due. */
  responder?: ResponderSummary;
  /** The other CRLs written, when the certificates were issued by more than one CA. */
  others?: CrlSummary[];
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
  const cas = store.casInForce();
  const action = `revoke ${o.target}`;
  // The keys of the CAs that issued the targets (a CA a rotation replaced, the root of an intermediate), and
  // the issuing CA's, which signs the audit lines: loaded before the lock, as every command does.
  const planned = cas.length > 1 ? checkRevocation(store, o) : [];
  const issuers = [...new Set(planned.map((t) => issuerInForce(cas, t, action)))];
  const [issuing, ...others] = loadCaKeys(
    store,
    [cas[0]!, ...issuers.filter((c) => c !== cas[0])],
    o.caPassword,
  );
  const keys = [issuing!, ...others];
  return store.lock(async () => {
    const entries = store.readInventory();
    const targets = findRevocationTargets(entries, o.target, now, cas[0]!.certificate.subjectName, o.all);
    const sign = [
      ...new Set(
        targets.map((t) => {
          const ca = issuerInForce(cas, t, action);
          const key = keys.find((k) => k.certificate.der.equals(ca.certificate.der));
          if (!key) {
            throw new MtlsCaError(
              'INVALID_ARGUMENT',
              `${action}: the certificates changed meanwhile; run it again`,
            );
          }
          return key;
        }),
      ),
    ];
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
    const crls = stageCrls(store, tx, { cas, sign, entries, now });
    const { publishUrl } = store.readSettings();
    store.appendInventory(tx, events);
    store.appendAudit(
      tx,
      [
        ...targets.map(
          (t): AuditRecord => ({
            time: now.toISOString(),
            op: 'revoke',
            subject: t.subject,
            ...(t.issuer ? { issuer: t.issuer } : {}),
            serial: t.serial,
            fingerprint: t.fingerprint,
            result: 'ok',
            detail: { reason: o.reason },
          }),
        ),
        ...crls.audit,
      ],
      issuing!.privateKey,
    );
    await tx.commitAsync();
    const [crl, ...otherCrls] = crls.signed;
    return {
      revoked: targets.map((t) => ({
        name: t.name,
        profile: t.profile,
        serial: t.serial,
        subject: t.subject,
        ...(t.issuer ? { issuer: t.issuer } : {}),
      })),
      reason: o.reason,
      crl: crl!,
      ...(otherCrls.length ? { others: otherCrls } : {}),
      ...(publishUrl ? { publishUrl } : {}),
      ...(crls.responder ? { responder: crls.responder } : {}),
    };
  });
}

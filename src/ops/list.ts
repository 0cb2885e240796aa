/**
 * `list`: the inventory, newest first, with each certificate's status, days left and issuer; and, when a
 * rotation left CAs in force beside the one that issues, how much each of them still vouches for.
 */
import { MtlsCaError } from '../pki/errors.js';
import { DAY_MS } from '../pki/profiles.js';
import type { CaRole, CaStore } from '../store/ca-store.js';
import {
  type CertificateProfile,
  type CertificateStatus,
  type InventoryKeys,
  type InventoryRecords,
  recordsOf,
} from '../store/inventory.js';

export interface ListOptions {
  status?: CertificateStatus;
  profile?: CertificateProfile;
  /** Only certificates that are valid now and expire within this many days. */
  expiringDays?: number;
  now?: Date;
}

export interface ListedCertificate {
  name: string;
  profile: CertificateProfile;
  serial: string;
  subject: string;
  /** The CA that signed it (itself, for a root). */
  issuer: string;
  keyType: string;
  notBefore: string;
  notAfter: string;
  daysLeft: number;
  status: CertificateStatus;
  fingerprint: string;
  revokedAt?: string;
  revocationReason?: string;
}

/** A CA a rotation replaced, and what it still vouches for. */
export interface PreviousCa {
  subject: string;
  serial: string;
  role: CaRole;
  notAfter: string;
  /**
   * How many certificates it issued still authenticate — valid or superseded, neither revoked nor expired —
   * and would stop working if it were retired now.
   */
  inUse: number;
  /** When the last of those expires: from then on it can be retired. Absent when none is left. */
  lastNotAfter?: string;
}

/** The selected certificates, newest first; each one is built when asked for, so a 100,000-row list stays small. */
export interface CertificateListing {
  readonly length: number;
  /** The CAs a rotation replaced that are still in force, newest first (none without a rotation). */
  readonly previous: PreviousCa[];
  /** The certificate at `k` (0 ≤ k < length): a fresh object each call. */
  at(k: number): ListedCertificate;
  /** Releases the inventory index it reads from; `at` must not be called after. */
  close(): void;
}

/** Parses `30d`, `30` or `2w` into days. */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+)([dw]?)$/.exec(text.trim());
  if (!m)
    throw new MtlsCaError(
      'INVALID_ARGUMENT',
      `use ${flag} ${JSON.stringify(text)}: expected days like 30d or weeks like 4w`,
    );
  return Number(m[1]) * (m[2] === 'w' ? 7 : 1);
}

const STATUSES: CertificateStatus[] = ['valid', 'expired', 'revoked', 'superseded'];

/** As statusOf: revoked beats superseded beats expired. */
function statusCode(k: InventoryKeys, nowMs: number): number {
  if (k.revoked) return 2;
  if (k.superseded) return 3;
  return k.notAfterMs < nowMs ? 1 : 0;
}

/**
 * The rows of `records` that pass the filters, newest `notBefore` first. When every notBefore has the
 * toISOString form, their integer keys order them exactly as `localeCompare` did; else `localeCompare` it is.
 */
function select(records: InventoryRecords, o: ListOptions, now: Date): CertificateListing {
  const nowMs = now.getTime();
  // Typed arrays sized once: growing five 100,000-element arrays reallocates megabytes of fresh memory.
  const kept = new Int32Array(records.size);
  const status = new Uint8Array(records.size);
  const daysLeft = new Float64Array(records.size); // NaN for a notAfter that is not a date, as before
  const day = new Int32Array(records.size);
  const time = new Int32Array(records.size);
  let count = 0;
  let iso = true;
  const wanted = o.status ? STATUSES.indexOf(o.status) : -1; // an unknown status matches nothing
  for (let i = 0; i < records.size; i++) {
    const k = records.keys(i);
    const s = statusCode(k, nowMs);
    const left = Math.floor((k.notAfterMs - nowMs) / DAY_MS);
    if (o.status && s !== wanted) continue;
    if (o.profile && k.profile !== o.profile) continue;
    // The OCSP responder lives as long as a CRL and is re-issued on its own: it would always be expiring.
    if (o.expiringDays !== undefined && !(s === 0 && left <= o.expiringDays && k.profile !== 'ocsp'))
      continue;
    kept[count] = i;
    status[count] = s;
    daysLeft[count] = left;
    day[count] = k.notBeforeDay;
    time[count] = k.notBeforeTime;
    if (k.notBeforeDay < 0) iso = false;
    count++;
  }
  const order = Array.from({ length: count }, (_, j) => j);
  if (iso) order.sort((a, b) => day[b]! - day[a]! || time[b]! - time[a]! || a - b);
  else {
    const notBefore = order.map((j) => records.record(kept[j]!).notBefore);
    order.sort((a, b) => notBefore[b]!.localeCompare(notBefore[a]!) || a - b);
  }
  return {
    length: count,
    previous: [],
    at(k) {
      const j = order[k]!;
      const r = records.record(kept[j]!);
      const listed: ListedCertificate = {
        name: r.name,
        profile: r.profile,
        serial: r.serial,
        subject: r.subject,
        issuer: r.issuer ?? r.subject,
        keyType: r.keyType,
        notBefore: r.notBefore,
        notAfter: r.notAfter,
        daysLeft: daysLeft[j]!,
        status: STATUSES[status[j]!]!,
        fingerprint: r.fingerprint,
      };
      if (r.revokedAt) {
        listed.revokedAt = r.revokedAt;
        listed.revocationReason = r.revocationReason;
      }
      return listed;
    },
    close: () => records.close(),
  };
}

/**
 * The certificates `list` shows. Reads ca/inventory.idx when it is in step with the log, else (missing, stale,
 * malformed) the log itself — the same rows either way, only slower. Never from a commit half applied: see
 * CaStore.readFinished.
 */
export async function listInventory(store: CaStore, o: ListOptions = {}): Promise<CertificateListing> {
  store.assertInitialized();
  const now = o.now ?? new Date();
  // The index was checked line by line when opened: reading a record from it later cannot fail halfway.
  const records = await store.readFinished(
    () => store.readInventoryIndex() ?? recordsOf(store.readInventory()),
    (r) => r.close(),
  );
  try {
    const previous = store.casInForce().filter((c) => c.role === 'previous');
    return {
      ...select(records, o, now),
      previous: previous.length ? caUsage(records, previous, now) : [],
    };
  } catch (e) {
    records.close();
    throw e;
  }
}

/**
 * What each of `cas` still vouches for among `records`: its certificates that authenticate at `now` (neither
 * revoked nor expired — a superseded one still does) and when the last of them expires. A CA with none left
 * can be retired without cutting anyone off.
 * @param cas - CAs in force, by certificate
 */
export function caUsage(
  records: InventoryRecords,
  cas: readonly { role: CaRole; certificate: { subjectName: string; serialHex: string; notAfter: Date } }[],
  now: Date,
): PreviousCa[] {
  const usage = new Map(
    cas.map((c) => [
      c.certificate.subjectName,
      {
        subject: c.certificate.subjectName,
        serial: c.certificate.serialHex,
        role: c.role,
        notAfter: c.certificate.notAfter.toISOString(),
        inUse: 0,
      } as PreviousCa,
    ]),
  );
  const nowMs = now.getTime();
  for (let i = 0; i < records.size; i++) {
    const k = records.keys(i);
    if (k.revoked || !(k.notAfterMs >= nowMs)) continue;
    const r = records.record(i);
    const u = r.issuer !== r.subject ? usage.get(r.issuer ?? '') : undefined;
    if (!u) continue;
    u.inUse++;
    if (u.lastNotAfter === undefined || r.notAfter > u.lastNotAfter) u.lastNotAfter = r.notAfter;
  }
  return [...usage.values()];
}

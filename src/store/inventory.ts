/**
 * The inventory of everything the CA issued: `ca/inventory.jsonl`, append-only JSON lines. An `issue` line
 * records a certificate; later `revoke` / `supersede` lines change its status. Appending (never rewriting)
 * keeps issuance O(1) however large the inventory grows; a crash mid-append is finished or undone by the next
 * command (commit.ts). This module holds the events, their fold into one entry per certificate, and the view
 * `list` reads ({@link InventoryRecords}), which the index beside the log (inventory-index.ts) serves faster.
 */
import fs from 'node:fs';
import { MtlsCaError } from '../pki/errors.js';
import { nameKey } from '../pki/names.js';

/** `ocsp`: the CA's delegated OCSP responder, re-issued on its own (it is never renewed or revoked by name). */
export type CertificateProfile = 'ca' | 'server' | 'client' | 'ocsp';

export interface IssueEvent {
  op: 'issue';
  serial: string;
  name: string;
  profile: CertificateProfile;
  subject: string;
  /**
   * The subject of the CA that signed it (itself for a root). Lines written before the field existed have
   * none: they were issued by the directory's first CA, which {@link readInventory} fills in.
   */
  issuer?: string;
  keyType: string;
  notBefore: string;
  notAfter: string;
  fingerprint: string;
  issuedAt: string;
  /** Files written for it, relative to the CA directory. */
  files: string[];
}
export interface RevokeEvent {
  op: 'revoke';
  serial: string;
  at: string;
  reason: string;
}
export interface SupersedeEvent {
  op: 'supersede';
  serial: string;
  at: string;
  by: string;
}
export type InventoryEvent = IssueEvent | RevokeEvent | SupersedeEvent;

export type CertificateStatus = 'valid' | 'expired' | 'revoked' | 'superseded';

export interface InventoryEntry extends Omit<IssueEvent, 'op'> {
  revokedAt?: string;
  revocationReason?: string;
  supersededAt?: string;
  supersededBy?: string;
}

/** What the index keeps of an entry: what `list` shows and what decides its status. */
export type InventoryRecord = Pick<
  InventoryEntry,
  | 'serial'
  | 'name'
  | 'profile'
  | 'subject'
  | 'issuer'
  | 'keyType'
  | 'notBefore'
  | 'notAfter'
  | 'fingerprint'
  | 'revokedAt'
  | 'revocationReason'
  | 'supersededAt'
  | 'supersededBy'
>;

/** What `list` filters and sorts a record on, computed once (see {@link keysOf}). */
export interface InventoryKeys {
  profile: string;
  /** `new Date(notAfter).getTime()`: NaN when it is not a date. */
  notAfterMs: number;
  /**
   * notBefore as two integers, YYYYMMDD and HHMMSSmmm, when it has the toISOString form: then comparing them
   * orders exactly as comparing the strings (and as `localeCompare`, which list used to call). -1 otherwise.
   */
  notBeforeDay: number;
  notBeforeTime: number;
  revoked: boolean;
  superseded: boolean;
}

/** The folded inventory by position, in the order {@link readInventory} returns it. */
export interface InventoryRecords {
  readonly size: number;
  /**
   * The record at `i` (0 ≤ i < size). From the index it is read and decoded on each call, so that 100,000
   * records never sit in memory (the index checked every line when it was opened).
   */
  record(i: number): InventoryRecord;
  /** What `list` filters and sorts the record at `i` on: from the index, computed while it was read. */
  keys(i: number): InventoryKeys;
  /** Releases the open index file, if any; `record` must not be called after. */
  close(): void;
}

export function encodeEvents(events: InventoryEvent[]): string {
  return events.map((e) => `${JSON.stringify(e)}\n`).join('');
}

/** Reads and folds the inventory; a missing file is an empty inventory. */
export function readInventory(file: string): InventoryEntry[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const bySerial = new Map<string, InventoryEntry>();
  let lineNo = 0;
  for (const line of text.split('\n')) {
    lineNo++;
    if (!line) continue;
    let e: InventoryEvent;
    try {
      e = JSON.parse(line) as InventoryEvent;
    } catch {
      throw new MtlsCaError(
        'PARSE_FAILED',
        `read ${file}: line ${lineNo} is not valid JSON`,
        'restore the file from a backup; every line is one JSON record',
      );
    }
    if (e.op === 'issue') {
      // The parsed record itself (its `op` included), not a copy: at 100,000 lines the copies would be a
      // noticeable part of `list` (docs/performance.md, "The list index").
      bySerial.set(e.serial, e as unknown as InventoryEntry);
    } else {
      const entry = bySerial.get(e.serial);
      if (!entry) continue;
      if (e.op === 'revoke') {
        entry.revokedAt = e.at;
        entry.revocationReason = e.reason;
      } else if (e.op === 'supersede') {
        entry.supersededAt = e.at;
        entry.supersededBy = e.by;
      }
    }
  }
  const entries = [...bySerial.values()];
  fillIssuers(entries);
  return entries;
}

/**
 * Gives the lines written before `issuer` was recorded their issuer: the directory had one CA then, the first
 * CA of the inventory, which signed every certificate and itself (a rotation or an intermediate came later,
 * and wrote the field).
 */
export function fillIssuers(entries: InventoryEntry[]): void {
  const first = entries.find((e) => e.profile === 'ca');
  if (!first) return;
  for (const e of entries) if (e.issuer === undefined) e.issuer = first.subject;
}

/** Whether every character is printable ASCII: then a name's {@link nameKey} is its lower case, as long. */
function printableAscii(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

/**
 * The names of the entries of `profile` whose {@link nameKey} is one of `keys`, in order: the look-alike check
 * over entries in memory (the log, a database's snapshot). A printable ASCII name is passed over by its length
 * when no key is as long, so most names cost a length and a character loop, not a key.
 * @param keys - the {@link nameKey}s of the names about to be issued
 */
export function namesLike(
  entries: readonly InventoryEntry[],
  profile: CertificateProfile,
  keys: ReadonlySet<string>,
): string[] {
  const lengths = new Set([...keys].map((k) => k.length));
  const found: string[] = [];
  for (const e of entries) {
    if (e.profile !== profile || typeof e.name !== 'string') continue;
    if (!lengths.has(e.name.length) && printableAscii(e.name)) continue;
    if (keys.has(nameKey(e.name))) found.push(e.name);
  }
  return found;
}

/** Revoked beats superseded beats expired. */
export function statusOf(entry: InventoryEntry, now: Date = new Date()): CertificateStatus {
  if (entry.revokedAt) return 'revoked';
  if (entry.supersededAt) return 'superseded';
  if (new Date(entry.notAfter) < now) return 'expired';
  return 'valid';
}

/** `YYYY-MM-DDTHH:MM:SS.sssZ`, the only form our writers produce (toISOString). */
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

function digits(s: string, from: number, to: number): number {
  let n = 0;
  for (let k = from; k < to; k++) n = n * 10 + s.charCodeAt(k) - 48;
  return n;
}

/** {@link InventoryKeys.notBeforeDay}. */
export function isoDay(s: unknown): number {
  return typeof s === 'string' && ISO.test(s)
    ? digits(s, 0, 4) * 10_000 + digits(s, 5, 7) * 100 + digits(s, 8, 10)
    : -1;
}

/** {@link InventoryKeys.notBeforeTime}, for a string {@link isoDay} accepted. */
export function isoTime(s: string): number {
  return (
    digits(s, 11, 13) * 10_000_000 +
    digits(s, 14, 16) * 100_000 +
    digits(s, 17, 19) * 1000 +
    digits(s, 20, 23)
  );
}

/** `new Date(value).getTime()` without the Date object for a string. */
function timeOf(value: unknown): number {
  return typeof value === 'string' ? Date.parse(value) : new Date(value as string).getTime();
}

/** The keys of a record. */
export function keysOf(r: InventoryRecord): InventoryKeys {
  const day = isoDay(r.notBefore);
  return {
    profile: r.profile,
    notAfterMs: timeOf(r.notAfter),
    notBeforeDay: day,
    notBeforeTime: day < 0 ? -1 : isoTime(r.notBefore),
    revoked: Boolean(r.revokedAt),
    superseded: Boolean(r.supersededAt),
  };
}

/** Folded entries as {@link InventoryRecords} (the JSON path). */
export function recordsOf(entries: InventoryEntry[]): InventoryRecords {
  return {
    size: entries.length,
    record: (i) => entries[i]!,
    keys: (i) => keysOf(entries[i]!),
    close: () => {},
  };
}

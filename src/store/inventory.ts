/**
 * The inventory of everything the CA issued: `ca/inventory.jsonl`, append-only JSON lines. An `issue` line
 * records a certificate; later `revoke` / `supersede` lines change its status. Appending (never rewriting)
 * keeps issuance O(1) however large the inventory grows, and a crash can at worst lose the last line,
 * never corrupt earlier ones.
 */
import fs from 'node:fs';
import { MtlsCaError } from '../pki/errors.js';

export type CertificateProfile = 'ca' | 'server' | 'client';

export interface IssueEvent {
  op: 'issue';
  serial: string;
  name: string;
  profile: CertificateProfile;
  subject: string;
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
      const { op: _op, ...entry } = e;
      bySerial.set(e.serial, entry);
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
  return [...bySerial.values()];
}

/** Revoked beats superseded beats expired. */
export function statusOf(entry: InventoryEntry, now: Date = new Date()): CertificateStatus {
  if (entry.revokedAt) return 'revoked';
  if (entry.supersededAt) return 'superseded';
  if (new Date(entry.notAfter) < now) return 'expired';
  return 'valid';
}

/**
 * Which names the inventory already holds, for a command about to issue more. Two rules follow from it:
 * a name that reads like an existing one but is spelled differently (`Pavel` beside `pavel`, see
 * {@link nameKey}) is refused whatever the status of the existing one — its files are still there, and on a
 * case-insensitive file system they are the same files; and exactly the same name may be issued again only
 * when none of its certificates is still valid, or with `force` (the valid ones are then superseded).
 */
import { quote } from '../pki/characters.js';
import { MtlsCaError } from '../pki/errors.js';
import { nameKey } from '../pki/names.js';
import type { CaStore } from '../store/ca-store.js';
import {
  type CertificateProfile,
  type InventoryRecord,
  recordsOf,
  type SupersedeEvent,
} from '../store/inventory.js';

export interface NamesInUse {
  /** Requested name → the existing name it reads like (spelled differently). */
  lookalikes: Map<string, string>;
  /** Requested name → its certificates that are still valid (not revoked, superseded or expired). */
  valid: Map<string, InventoryRecord[]>;
}

/**
 * Reads the inventory once (its index when in step, else the log) for the names about to be issued.
 * @param profile - names are compared within one profile: client and server files live in different folders
 * @param names - the names about to be issued
 * @param now - what "still valid" is measured against
 */
export function namesInUse(
  store: CaStore,
  profile: CertificateProfile,
  names: string[],
  now: Date,
): NamesInUse {
  const wanted = new Map(names.map((n) => [nameKey(n), n]));
  const lookalikes = new Map<string, string>();
  const valid = new Map<string, InventoryRecord[]>();
  const records = store.readInventoryIndex() ?? recordsOf(store.readInventory());
  try {
    for (let i = 0; i < records.size; i++) {
      const keys = records.keys(i);
      if (keys.profile !== profile) continue;
      const record = records.record(i);
      const requested = wanted.get(nameKey(record.name));
      if (requested === undefined) continue;
      if (record.name !== requested) {
        if (!lookalikes.has(requested)) lookalikes.set(requested, record.name);
      } else if (!keys.revoked && !keys.superseded && !(keys.notAfterMs < now.getTime())) {
        valid.set(requested, [...(valid.get(requested) ?? []), record]);
      }
    }
  } finally {
    records.close();
  }
  return { lookalikes, valid };
}

/**
 * Refuses the first requested name that reads like an existing one (`ALREADY_EXISTS`, naming it).
 * @param action - the message's action for a name: `issue client Pavel`
 */
export function refuseLookalikes(inUse: NamesInUse, action: (name: string) => string): void {
  const first = inUse.lookalikes.entries().next().value;
  if (!first) return;
  const [name, existing] = first;
  throw new MtlsCaError(
    'ALREADY_EXISTS',
    `${action(name)}: the name ${quote(existing)} exists, and ${quote(name)} reads the same (it differs only in case or Unicode form)`,
    `use ${quote(existing)} (and --force to replace its certificate), or choose another name`,
  );
}

/**
 * Refuses, without `force`, the first requested name that still has a valid certificate (`ALREADY_EXISTS`).
 * @param action - the message's action for a name: `issue client pavel`
 */
export function refuseValidCertificates(
  inUse: NamesInUse,
  force: boolean,
  action: (name: string) => string,
): void {
  if (force || inUse.valid.size === 0) return;
  const [name, [record]] = inUse.valid.entries().next().value!;
  const more = inUse.valid.size > 1 ? ` (and ${inUse.valid.size - 1} more)` : '';
  throw new MtlsCaError(
    'ALREADY_EXISTS',
    `${action(name)}: a valid certificate exists until ${record!.notAfter.slice(0, 10)} (serial ${record!.serial})${more}`,
    'pass --force to replace it (the old one is marked superseded)',
  );
}

/**
 * The inventory events that mark `old` superseded by the certificate `by`.
 * @param old - the valid certificates being replaced ({@link NamesInUse.valid})
 */
export function supersedeEvents(old: InventoryRecord[], by: string, now: Date): SupersedeEvent[] {
  return old.map((o) => ({ op: 'supersede', serial: o.serial, at: now.toISOString(), by }));
}

/**
 * The rules for a name a command is about to issue, shared by issue-client, sign-csr and issue-server:
 *
 * - A name that reads like an existing one of the same profile but is spelled differently (`Pavel` beside
 *   `pavel`, see {@link nameKey}) is refused whatever the existing one's status: its files are still there,
 *   and on a case-insensitive file system they are the same files. `force` does not change that.
 * - A client name whose certificate in `client/<name>.crt` is still valid (not expired, revoked or
 *   superseded) is issued again only with `force`, and the old certificate is then marked superseded.
 */
import type { Certificate } from '../pki/certificate.js';
import { quote } from '../pki/characters.js';
import { MtlsCaError } from '../pki/errors.js';
import { nameKey } from '../pki/names.js';
import type { CaStore } from '../store/ca-store.js';
import { type CertificateProfile, type SupersedeEvent, statusOf } from '../store/inventory.js';

/**
 * Refuses the first of `names` that reads like a name the inventory holds for `profile` (`ALREADY_EXISTS`,
 * naming it). One search of the inventory's names (CaStore.findNamesLike); call it under the lock.
 * @param action - the message's action for a name: `issue client Pavel`
 */
export function refuseLookalikes(
  store: CaStore,
  profile: CertificateProfile,
  names: string[],
  action: (name: string) => string,
): void {
  const wanted = new Map(names.map((n) => [nameKey(n), n]));
  const existing = store
    .findNamesLike(profile, new Set(wanted.keys()))
    .find((n) => wanted.get(nameKey(n)) !== n);
  if (existing === undefined) return;
  const name = wanted.get(nameKey(existing))!;
  throw new MtlsCaError(
    'ALREADY_EXISTS',
    `${action(name)}: the name ${quote(existing)} exists, and ${quote(name)} reads the same (it differs only in case or Unicode form)`,
    { detail: { kind: 'lookalike-name', existing } },
  );
}

/** What the rules need of a name's valid certificate (a {@link Certificate} has it). */
export interface ValidCertificate {
  serialHex: string;
  notAfter: Date;
}

/** The certificate in `client/<name>.crt` if it is valid by its dates (an O(1) check, not an inventory scan). */
function currentClientCertificate(store: CaStore, name: string, now: Date): Certificate | undefined {
  try {
    const cert = store.readCertificate(store.paths.client(name).cert);
    return cert?.validityAt(now) === 'valid' ? cert : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The still valid certificates of these client names, by name; without `force`, refuses the first name that
 * has one (`ALREADY_EXISTS`). Call it under the lock.
 * @param action - the message's action for a name: `issue client pavel`
 */
export function claimClientNames(
  store: CaStore,
  names: string[],
  o: { now: Date; force: boolean; action: (name: string) => string },
): Map<string, ValidCertificate> {
  const valid = store.externalState
    ? validInInventory(store, names, o.now)
    : validOnDisk(store, names, o.now);
  if (valid.size > 0 && !o.force) {
    const [name, cert] = valid.entries().next().value!;
    const more = valid.size > 1 ? ` (and ${valid.size - 1} more)` : '';
    throw new MtlsCaError(
      'ALREADY_EXISTS',
      `${o.action(name)}: a valid certificate exists until ${cert.notAfter.toISOString().slice(0, 10)} (${store.display(store.paths.client(name).cert)})${more}`,
      { detail: { kind: 'name-has-valid-certificate', name } },
    );
  }
  return valid;
}

/** The names' valid certificates, by the files of this directory (the one host that issues). */
function validOnDisk(store: CaStore, names: string[], now: Date): Map<string, ValidCertificate> {
  const valid = new Map<string, ValidCertificate>();
  for (const name of names) {
    const cert = currentClientCertificate(store, name, now);
    if (cert) valid.set(name, cert);
  }
  if (valid.size > 0) {
    // Only then is the inventory read: a revoked or superseded certificate may be replaced without force.
    const replaced = new Set<string>();
    for (const e of store.readInventory()) if (e.revokedAt || e.supersededAt) replaced.add(e.serial);
    for (const [name, cert] of valid) if (replaced.has(cert.serialHex)) valid.delete(name);
  }
  return valid;
}

/**
 * The names' valid certificates by the inventory: with a CA shared by several hosts, a name may have been
 * issued on another one, whose files this directory does not have.
 */
function validInInventory(store: CaStore, names: string[], now: Date): Map<string, ValidCertificate> {
  const wanted = new Set(names);
  const valid = new Map<string, ValidCertificate>();
  for (const e of store.readInventory()) {
    if (e.profile !== 'client' || !wanted.has(e.name) || statusOf(e, now) !== 'valid') continue;
    valid.set(e.name, { serialHex: e.serial, notAfter: new Date(e.notAfter) });
  }
  return valid;
}

/** The inventory event that marks `old` superseded by the certificate `by`, if there is an old one. */
export function supersedeEvents(old: ValidCertificate | undefined, by: string, now: Date): SupersedeEvent[] {
  return old ? [{ op: 'supersede', serial: old.serialHex, at: now.toISOString(), by }] : [];
}

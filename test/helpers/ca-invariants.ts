/**
 * What a CA directory must satisfy after any command — finished, failed, or killed and then recovered by the
 * next one: the promises of the commit protocol (src/store/commit.ts). {@link caProblems} lists what is wrong.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Certificate } from '../../src/pki/certificate.js';
import { Crl } from '../../src/pki/crl.js';
import { nameKey } from '../../src/pki/names.js';
import { verifyAuditLog } from '../../src/store/audit.js';
import { type InventoryEvent, readInventory } from '../../src/store/inventory.js';
import { readInventoryIndex } from '../../src/store/inventory-index-reader.js';
import { layout } from '../../src/store/layout.js';
import { findNamesInIndex } from '../../src/store/name-index.js';

/** Every file under `dir`, relative to it, `backups/` left out (a backup is checked as a CA of its own). */
function files(dir: string, sub = ''): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(dir, sub), { withFileTypes: true })) {
    const rel = path.join(sub, e.name);
    if (e.isDirectory()) {
      if (rel !== 'backups') out.push(...files(dir, rel));
    } else out.push(rel);
  }
  return out;
}

const ISSUING_OPS = new Set(['init', 'import', 'issue', 'sign', 'renew', 'rotate']);
/** Audit lines about no certificate's inventory event: a CRL, settings, the root key moving, a retirement. */
const NO_EVENT_OPS = new Set(['crl', 'settings', 'root-export', 'root-import', 'retire']);

/**
 * The CA certificates in force in `dir`: the issuing CA, its root (with an intermediate), and the CAs a
 * rotation replaced (ca/previous/<serial>/ca.crt).
 */
function casInForce(dir: string): Certificate[] {
  const p = layout(dir);
  const files = [p.caCert, p.rootCert];
  if (fs.existsSync(p.previousDir))
    for (const serial of fs.readdirSync(p.previousDir)) files.push(p.previous(serial).cert);
  return files.filter((f) => fs.existsSync(f)).map((f) => Certificate.from(fs.readFileSync(f)));
}

/**
 * The problems of the CA in `dir` (empty when it is sound):
 * - no temp file, backup, lock or commit file is left;
 * - every certificate file signed by the CA is in the inventory, and the newest inventory record of each file
 *   names the certificate in it — signed by this CA — whose other files are there too;
 * - the audit log verifies against its head, and inventory events and audit lines match one to one;
 * - the CRL is the CA's and revokes exactly what the inventory says is revoked;
 * - inventory.idx is in step with the inventory, and inventory.names finds every name it holds;
 * - and each backup folder (`init --force`) is a sound CA by the same rules.
 */
export function caProblems(dir: string): string[] {
  const problems: string[] = [];
  const p = layout(dir);
  const all = files(dir);
  for (const f of all) {
    if (f.endsWith('.tmp') || f.endsWith('.stale') || path.basename(f).startsWith('.mtls-ca.'))
      problems.push(`${f} is left over`);
  }
  let cas: Certificate[];
  let events: InventoryEvent[];
  try {
    cas = casInForce(dir);
    events = fs
      .readFileSync(p.inventory, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as InventoryEvent);
  } catch (e) {
    return [...problems, `the CA or its inventory cannot be read: ${(e as Error).message}`];
  }
  const entries = readInventory(p.inventory);
  const signedByOne = (cert: Certificate) => cas.some((ca) => cert.isIssuedBy(ca));
  const bySerial = new Map(entries.map((e) => [e.serial, e]));

  for (const f of all.filter((x) => x.endsWith('.crt'))) {
    const cert = Certificate.from(fs.readFileSync(path.join(dir, f)));
    if (signedByOne(cert) && !bySerial.has(cert.serialHex))
      problems.push(`${f} (serial ${cert.serialHex}) is signed by the CA but not in the inventory`);
  }
  const newest = new Map<string, (typeof entries)[number]>();
  for (const e of entries) for (const f of e.files) newest.set(f, e); // log order: later issues win
  for (const [f, e] of newest) {
    if (!fs.existsSync(path.join(dir, f))) {
      problems.push(`${f} of ${e.name} (serial ${e.serial}) is in the inventory but missing`);
    } else if (f.endsWith('.crt')) {
      const cert = Certificate.from(fs.readFileSync(path.join(dir, f)));
      if (cert.serialHex !== e.serial)
        problems.push(`${f} is not the certificate ${e.serial} its newest inventory record names`);
      else if (!signedByOne(cert)) problems.push(`${f} is in the inventory but not signed by a CA in force`);
    }
  }

  const audit = verifyAuditLog(p.auditLog, p.auditHead, cas);
  if (!audit.ok) problems.push(`audit log: line ${audit.firstBadLine} ${audit.reason}`);
  const lines = fs
    .readFileSync(p.auditLog, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { op: string; serial?: string });
  const audited = new Set(lines.map((l) => `${ISSUING_OPS.has(l.op) ? 'issue' : l.op} ${l.serial}`));
  const recorded = new Set<string>();
  for (const e of events) {
    // a supersede has the new certificate's issue line as its audit line
    const key = e.op === 'supersede' ? `issue ${e.by}` : `${e.op} ${e.serial}`;
    recorded.add(key);
    if (!audited.has(key)) problems.push(`inventory event ${e.op} ${e.serial} has no audit line`);
  }
  for (const l of lines) {
    const key = `${ISSUING_OPS.has(l.op) ? 'issue' : l.op} ${l.serial}`;
    // A CRL and a change of settings are no certificate's events.
    if (!NO_EVENT_OPS.has(l.op) && !recorded.has(key))
      problems.push(`audit line ${l.op} ${l.serial} has no inventory event`);
  }

  try {
    // One CRL per CA in force, each signed by its CA and listing what the inventory revoked of that CA's.
    const crls = Crl.allFrom(fs.readFileSync(p.crl), p.crl);
    for (const crl of crls) {
      if (!cas.some((ca) => crl.isSignedBy(ca)))
        problems.push(`crl.pem: ${crl.issuerName} is not a CA in force`);
      const listed = crl.revoked.map((r) => r.serialHex).sort();
      const revoked = entries
        .filter((e) => e.revokedAt && e.issuer === crl.issuerName)
        .map((e) => e.serial)
        .sort();
      if (listed.join() !== revoked.join())
        problems.push(
          `crl.pem of ${crl.issuerName} revokes [${listed}] where the inventory revokes [${revoked}]`,
        );
    }
    if (crls.length !== cas.length)
      problems.push(`crl.pem holds ${crls.length} CRLs for ${cas.length} CAs in force`);
  } catch (e) {
    problems.push(`crl.pem cannot be read: ${(e as Error).message}`);
  }

  const index = readInventoryIndex(p.inventoryIndex, p.inventory);
  if (!index) problems.push('inventory.idx is not in step with inventory.jsonl');
  index?.close();
  const inventory = readInventory(p.inventory);
  const keys = new Set(inventory.map((e) => nameKey(e.name)));
  for (const profile of ['ca', 'server', 'client', 'ocsp'] as const) {
    const names = findNamesInIndex(p.inventoryNames, p.inventory, profile, keys);
    const expected = inventory.filter((e) => e.profile === profile).map((e) => e.name);
    if (names === undefined) {
      problems.push('inventory.names is not in step with inventory.jsonl');
      break;
    }
    if (names.join('\n') !== expected.join('\n'))
      problems.push(
        `inventory.names finds [${names}] of profile ${profile} where the inventory holds [${expected}]`,
      );
  }

  const backups = path.join(dir, 'backups');
  if (fs.existsSync(backups)) {
    for (const b of fs.readdirSync(backups))
      problems.push(...caProblems(path.join(backups, b)).map((x) => `backups/${b}: ${x}`));
  }
  return problems;
}

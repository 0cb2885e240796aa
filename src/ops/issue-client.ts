/**
 * `issue-client`: the tutorial's client steps in one — key, CSR, certificate signed by the CA, and a
 * browser-importable `client_<name>.p12` with the full chain — plus the user's roles in users.json.
 * `issue-client --from FILE` does the same for many users with one lock, one inventory append and one
 * users.json write, generating keys in parallel on libuv's thread pool.
 */
import fs from 'node:fs';
import { Certificate } from '../pki/certificate.js';
import { createCsr, parseCsr } from '../pki/csr.js';
import { MtlsCaError } from '../pki/errors.js';
import { exportPrivateKeyPem, generateKeyPair, type KeyPair, type KeyType } from '../pki/keys.js';
import { assertSafeName } from '../pki/names.js';
import { createPkcs12, type Pkcs12Profile } from '../pki/pkcs12.js';
import { type CertificateAuthority, issueClientCertificate } from '../pki/profiles.js';
import { MODE_PUBLIC, MODE_SECRET } from '../store/atomic.js';
import type { CaStore } from '../store/ca-store.js';
import type { InventoryEvent } from '../store/inventory.js';
import {
  assertDays,
  auditRecord,
  type CertificateSummary,
  FileList,
  issueEvent,
  type StorePasswordChoice,
  storePasswordFor,
  summarize,
  type WrittenFile,
} from './common.js';

export interface ClientRequest {
  name: string;
  roles: string[];
  email: string[];
}

export interface IssueClientSettings {
  days: number;
  keyType: KeyType;
  p12Profile: Pkcs12Profile;
  /** Replace a still valid certificate for the same name (the old one is marked superseded). */
  force: boolean;
  caPassword: string | undefined;
  store: StorePasswordChoice;
  now?: Date;
}

export type IssueClientOptions = ClientRequest & IssueClientSettings;

export interface IssueClientResult {
  name: string;
  roles: string[];
  certificate: CertificateSummary;
  files: WrittenFile[];
  p12: string;
  passwordFile?: string;
  superseded?: string;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const ROLE = /^[A-Za-z0-9_.:-]{1,64}$/;

export function validateClientRequest(o: ClientRequest): void {
  assertSafeName(o.name, 'client name');
  for (const r of o.roles) {
    if (!ROLE.test(r)) {
      throw new MtlsCaError(
        'INVALID_ARGUMENT',
        `use role ${JSON.stringify(r)}: roles are 1-64 of A-Z a-z 0-9 _ . : -`,
      );
    }
  }
  for (const e of o.email) {
    if (!EMAIL.test(e))
      throw new MtlsCaError('INVALID_ARGUMENT', `use email ${JSON.stringify(e)}: not an email address`);
  }
}

/**
 * Reads a batch file: one user per line, `name [role …]` (roles separated by spaces or commas); blank lines
 * and `#` comments are skipped. Every line is checked before anything is generated.
 */
export function parseClientList(text: string, file: string): ClientRequest[] {
  const out: ClientRequest[] = [];
  const seen = new Set<string>();
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const [name, ...rest] = line.split(/[\s,]+/);
    const request = { name: name!, roles: rest.filter(Boolean), email: [] };
    try {
      validateClientRequest(request);
    } catch (e) {
      if (e instanceof MtlsCaError)
        throw new MtlsCaError(e.code, `read ${file} line ${i + 1}: ${e.message}`, e.hint);
      throw e;
    }
    if (seen.has(request.name)) {
      throw new MtlsCaError(
        'INVALID_ARGUMENT',
        `read ${file} line ${i + 1}: "${request.name}" is listed twice`,
      );
    }
    seen.add(request.name);
    out.push(request);
  }
  if (out.length === 0) throw new MtlsCaError('INVALID_ARGUMENT', `read ${file}: no client names in it`);
  return out;
}

/** The currently valid certificate on disk for a client name, if any (an O(1) check, not an inventory scan). */
function currentClientCertificate(store: CaStore, name: string, now: Date): Certificate | undefined {
  const file = store.paths.client(name).cert;
  if (!fs.existsSync(file)) return undefined;
  try {
    const cert = Certificate.from(fs.readFileSync(file), store.display(file));
    return cert.validityAt(now) === 'valid' ? cert : undefined;
  } catch {
    return undefined;
  }
}

interface Prepared {
  request: ClientRequest;
  keys: KeyPair;
  csrPem: string;
  cert: Certificate;
}

function prepare(
  ca: CertificateAuthority,
  request: ClientRequest,
  keys: KeyPair,
  s: IssueClientSettings,
  now: Date,
): Prepared {
  // The request goes through a real PKCS#10 round trip, as in the tutorial, so what we sign is exactly what
  // `sign-csr` would sign for an outside CSR.
  const csr = createCsr({
    privateKey: keys.privateKey,
    subject: { commonName: request.name },
    altNames: { email: request.email },
  });
  const parsed = parseCsr(csr.der, `CSR for ${request.name}`);
  const cert = issueClientCertificate({
    ca,
    publicKey: parsed.publicKey,
    commonName: request.name,
    email: request.email,
    days: s.days,
    now,
  });
  return { request, keys, csrPem: csr.toPem(), cert };
}

/** Generates key pairs with at most `limit` in flight (libuv's pool has 4 threads by default). */
async function generateKeys(type: KeyType, count: number, limit = 16): Promise<KeyPair[]> {
  const out: KeyPair[] = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      out[i] = await generateKeyPair(type);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
  return out;
}

/** Issues certificates for every request, all or nothing. */
export async function issueClients(
  store: CaStore,
  requests: ClientRequest[],
  s: IssueClientSettings,
): Promise<IssueClientResult[]> {
  const now = s.now ?? new Date();
  for (const r of requests) validateClientRequest(r);
  assertDays(s.days, '--days');
  const ca = store.loadCa(s.caPassword);
  const keys = await generateKeys(s.keyType, requests.length);
  const prepared = requests.map((r, i) => prepare(ca, r, keys[i]!, s, now));

  return store.lock(() => {
    const existing = new Map<string, Certificate>();
    const revokedOrSuperseded = new Set<string>();
    for (const p of prepared) {
      const cert = currentClientCertificate(store, p.request.name, now);
      if (cert) existing.set(p.request.name, cert);
    }
    if (existing.size > 0) {
      // Only then is the inventory read: a revoked certificate may be replaced without --force.
      for (const e of store.readInventory())
        if (e.revokedAt || e.supersededAt) revokedOrSuperseded.add(e.serial);
    }
    const blocking = [...existing].filter(([, c]) => !revokedOrSuperseded.has(c.serialHex));
    if (blocking.length > 0 && !s.force) {
      const [name, cert] = blocking[0]!;
      throw new MtlsCaError(
        'ALREADY_EXISTS',
        `issue client ${name}: a valid certificate exists until ${cert.notAfter.toISOString().slice(0, 10)} (${store.display(store.paths.client(name).cert)})${blocking.length > 1 ? ` (and ${blocking.length - 1} more)` : ''}`,
        'pass --force to replace it (the old one is marked superseded)',
      );
    }

    const tx = store.newTransaction();
    const events: InventoryEvent[] = [];
    const results: IssueClientResult[] = [];
    const audit = [];
    for (const p of prepared) {
      const { name } = p.request;
      const files = new FileList(tx, (f) => store.display(f));
      const paths = store.paths.client(name);
      files.write(paths.key, exportPrivateKeyPem(p.keys.privateKey), MODE_SECRET, 'client key');
      files.write(paths.csr, p.csrPem, MODE_PUBLIC, 'certificate request');
      files.write(paths.cert, p.cert.toPem(), MODE_PUBLIC, 'client certificate');
      const { password, passwordFile } = storePasswordFor(paths.p12, s.store, files);
      files.write(
        paths.p12,
        createPkcs12({
          privateKey: p.keys.privateKey,
          certificate: p.cert,
          chain: [ca.certificate],
          friendlyName: name,
          password,
          profile: s.p12Profile,
        }),
        MODE_SECRET,
        'key + certificate + CA for browsers and Java',
      );
      const event = issueEvent(
        p.cert,
        name,
        'client',
        [paths.key, paths.csr, paths.cert, paths.p12].map((f) => store.relative(f)),
        now,
      );
      events.push(event);
      const old = existing.get(name);
      if (old && !revokedOrSuperseded.has(old.serialHex)) {
        events.push({ op: 'supersede', serial: old.serialHex, at: now.toISOString(), by: event.serial });
      }
      audit.push(auditRecord('issue', p.cert, now, { profile: 'client' }));
      results.push({
        name,
        roles: [],
        certificate: summarize(p.cert),
        files: files.files,
        p12: store.display(paths.p12),
        ...(passwordFile ? { passwordFile: store.display(passwordFile) } : {}),
        ...(old ? { superseded: old.serialHex } : {}),
      });
    }
    const roles = store.mergeUsersRoles(tx, new Map(prepared.map((p) => [p.request.name, p.request.roles])));
    for (const r of results) r.roles = roles.get(r.name)!;
    store.appendInventory(tx, events);
    store.appendAudit(tx, audit, ca.privateKey);
    tx.commit();
    return results;
  });
}

export async function issueClient(store: CaStore, o: IssueClientOptions): Promise<IssueClientResult> {
  const [result] = await issueClients(store, [{ name: o.name, roles: o.roles, email: o.email }], o);
  return result!;
}

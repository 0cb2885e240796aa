/**
 * `issue-client`: the tutorial's client steps in one — key, CSR, certificate signed by the CA, and a
 * browser-importable `client_<name>.p12` with the full chain — plus the user's roles in users.json.
 */
import fs from 'node:fs';
import { Certificate } from '../pki/certificate.js';
import { createCsr, parseCsr } from '../pki/csr.js';
import { MtlsCaError } from '../pki/errors.js';
import { exportPrivateKeyPem, generateKeyPair, type KeyType } from '../pki/keys.js';
import { assertSafeName } from '../pki/names.js';
import { createPkcs12, type Pkcs12Profile } from '../pki/pkcs12.js';
import { issueClientCertificate } from '../pki/profiles.js';
import { MODE_PUBLIC, MODE_SECRET } from '../store/atomic.js';
import type { CaStore } from '../store/ca-store.js';
import { statusOf } from '../store/inventory.js';
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

export interface IssueClientOptions {
  name: string;
  roles: string[];
  email: string[];
  days: number;
  keyType: KeyType;
  p12Profile: Pkcs12Profile;
  /** Replace a still valid certificate for the same name (the old one is marked superseded). */
  force: boolean;
  caPassword: string | undefined;
  store: StorePasswordChoice;
  now?: Date;
}

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

export function validateClientOptions(
  o: Pick<IssueClientOptions, 'name' | 'roles' | 'email' | 'days'>,
): void {
  assertSafeName(o.name, 'client name');
  for (const r of o.roles) {
    if (!ROLE.test(r)) {
      throw new MtlsCaError(
        'INVALID_ARGUMENT',
        `use --role ${JSON.stringify(r)}: roles are 1-64 of A-Z a-z 0-9 _ . : -`,
      );
    }
  }
  for (const e of o.email) {
    if (!EMAIL.test(e))
      throw new MtlsCaError('INVALID_ARGUMENT', `use --email ${JSON.stringify(e)}: not an email address`);
  }
  assertDays(o.days, '--days');
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

export async function issueClient(store: CaStore, o: IssueClientOptions): Promise<IssueClientResult> {
  const now = o.now ?? new Date();
  validateClientOptions(o);
  const ca = store.loadCa(o.caPassword);
  const keys = await generateKeyPair(o.keyType);
  // The request goes through a real PKCS#10 round trip, as in the tutorial, so what we sign is exactly what
  // `sign-csr` would sign for an outside CSR.
  const csr = createCsr({
    privateKey: keys.privateKey,
    subject: { commonName: o.name },
    altNames: { email: o.email },
  });
  const request = parseCsr(csr.der, `CSR for ${o.name}`);
  const cert = issueClientCertificate({
    ca,
    publicKey: request.publicKey,
    commonName: o.name,
    email: o.email,
    days: o.days,
    now,
  });

  return store.lock(() => {
    const existing = currentClientCertificate(store, o.name, now);
    const revoked =
      existing &&
      store.readInventory().find((e) => e.serial === existing.serialHex && statusOf(e, now) !== 'valid');
    if (existing && !revoked && !o.force) {
      throw new MtlsCaError(
        'ALREADY_EXISTS',
        `issue client ${o.name}: a valid certificate exists until ${existing.notAfter.toISOString().slice(0, 10)} (${store.display(store.paths.client(o.name).cert)})`,
        'pass --force to replace it (the old one is marked superseded)',
      );
    }
    const tx = store.newTransaction();
    const files = new FileList(tx, (f) => store.display(f));
    const paths = store.paths.client(o.name);
    files.write(paths.key, exportPrivateKeyPem(keys.privateKey), MODE_SECRET, 'client key');
    files.write(paths.csr, csr.toPem(), MODE_PUBLIC, 'certificate request');
    files.write(paths.cert, cert.toPem(), MODE_PUBLIC, 'client certificate');
    const { password, passwordFile } = storePasswordFor(paths.p12, o.store, files);
    files.write(
      paths.p12,
      createPkcs12({
        privateKey: keys.privateKey,
        certificate: cert,
        chain: [ca.certificate],
        friendlyName: o.name,
        password,
        profile: o.p12Profile,
      }),
      MODE_SECRET,
      'key + certificate + CA for browsers and Java',
    );
    const roles = store.mergeUserRoles(tx, o.name, o.roles);
    const event = issueEvent(
      cert,
      o.name,
      'client',
      [paths.key, paths.csr, paths.cert, paths.p12].map((f) => store.relative(f)),
      now,
    );
    store.appendInventory(tx, [
      event,
      ...(existing
        ? [{ op: 'supersede' as const, serial: existing.serialHex, at: now.toISOString(), by: event.serial }]
        : []),
    ]);
    store.appendAudit(tx, [auditRecord('issue', cert, now, { profile: 'client' })], ca.privateKey);
    tx.commit();
    return {
      name: o.name,
      roles,
      certificate: summarize(cert),
      files: files.files,
      p12: store.display(paths.p12),
      ...(passwordFile ? { passwordFile: store.display(passwordFile) } : {}),
      ...(existing ? { superseded: existing.serialHex } : {}),
    };
  });
}

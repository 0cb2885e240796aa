/**
 * `renew`: a new certificate for the same subject, SANs and roles — same key unless `--rekey` — with a new
 * .p12, and the old certificate marked superseded (or revoked, with `--revoke-old`).
 */
import { createPublicKey } from 'node:crypto';
import fs from 'node:fs';
import { Certificate } from '../pki/certificate.js';
import { MtlsCaError } from '../pki/errors.js';
import { assertAltNames } from '../pki/general-names.js';
import {
  exportPrivateKeyPem,
  generateKeyPair,
  isKeyPair,
  type KeyType,
  keyTypeOf,
  parsePrivateKey,
} from '../pki/keys.js';
import { assertCommonName } from '../pki/names.js';
import { createPkcs12, type Pkcs12Profile } from '../pki/pkcs12.js';
import { issueClientCertificate, issueServerCertificate } from '../pki/profiles.js';
import { MODE_PUBLIC, MODE_SECRET } from '../store/atomic.js';
import type { CaStore } from '../store/ca-store.js';
import { statusOf } from '../store/inventory.js';
import {
  assertDays,
  auditRecord,
  type CertificateSummary,
  checkNames,
  FileList,
  issueEvent,
  type StorePasswordChoice,
  storePasswordFor,
  summarize,
  type WrittenFile,
} from './common.js';
import { type CrlSummary, stageCrl } from './revoke.js';

export interface RenewOptions {
  name: string;
  days?: number;
  rekey: boolean;
  /** Key type for --rekey; default: the old key's type. */
  keyType?: KeyType;
  revokeOld: boolean;
  p12Profile: Pkcs12Profile;
  caPassword: string | undefined;
  store: StorePasswordChoice;
  now?: Date;
}

export interface RenewResult {
  name: string;
  profile: 'client' | 'server';
  certificate: CertificateSummary;
  old: { serial: string; status: 'superseded' | 'revoked' };
  rekeyed: boolean;
  files: WrittenFile[];
  passwordFile?: string;
  crl?: CrlSummary;
}

export async function renew(store: CaStore, o: RenewOptions): Promise<RenewResult> {
  const now = o.now ?? new Date();
  const ca = store.loadCa(o.caPassword);
  const entries = store.readInventory();
  const current = entries
    .filter((e) => e.name === o.name && e.profile !== 'ca' && !e.revokedAt && !e.supersededAt)
    .sort((a, b) => b.issuedAt.localeCompare(a.issuedAt))[0];
  if (!current) {
    const any = entries.find((e) => e.name === o.name && e.profile !== 'ca');
    throw new MtlsCaError(
      'NOT_FOUND',
      `renew ${o.name}: ${any ? 'it has no current certificate (all revoked or superseded)' : 'no certificate with that name'}`,
      any ? `issue a new one with \`mtls-ca issue-client ${o.name} --force\`` : 'see `mtls-ca list`',
    );
  }
  const profile = current.profile as 'client' | 'server';
  const paths =
    profile === 'client'
      ? store.paths.client(o.name)
      : { ...store.paths.server(o.name), p12: store.paths.server(o.name).keyStore, csr: undefined };
  if (!fs.existsSync(paths.cert)) {
    throw new MtlsCaError(
      'NOT_FOUND',
      `renew ${o.name}: ${store.display(paths.cert)} is missing`,
      'issue a new certificate instead',
    );
  }
  const old = Certificate.from(fs.readFileSync(paths.cert), store.display(paths.cert));
  if (old.serialHex !== current.serial) {
    throw new MtlsCaError(
      'INVALID_ARGUMENT',
      `renew ${o.name}: ${store.display(paths.cert)} (serial ${old.serialHex}) is not the inventory's current certificate ${current.serial}`,
    );
  }
  const days = o.days ?? (profile === 'client' ? 365 : 397);
  assertDays(days, '--days');
  const san = old.subjectAltNames;
  // A certificate made before these rules (or by another tool) may hold a name we no longer sign.
  checkNames(
    `renew ${o.name}: ${store.display(paths.cert)} holds`,
    'issue a new certificate with valid names instead, and revoke this one',
    () => {
      if (old.commonName !== undefined) assertCommonName(old.commonName);
      assertAltNames(san, profile === 'server');
    },
  );

  let privateKey: ReturnType<typeof parsePrivateKey>;
  if (o.rekey) {
    privateKey = (await generateKeyPair(o.keyType ?? keyTypeOf(old.publicKey))).privateKey;
  } else {
    if (!fs.existsSync(paths.key)) {
      throw new MtlsCaError(
        'NOT_FOUND',
        `renew ${o.name}: the key ${store.display(paths.key)} is missing`,
        'pass --rekey for a new key',
      );
    }
    privateKey = parsePrivateKey(fs.readFileSync(paths.key), undefined, store.display(paths.key));
    if (!isKeyPair(privateKey, old.publicKey)) {
      throw new MtlsCaError(
        'INVALID_ARGUMENT',
        `renew ${o.name}: ${store.display(paths.key)} does not match the certificate`,
        'pass --rekey',
      );
    }
  }
  const publicKey = createPublicKey(privateKey);
  const cert =
    profile === 'client'
      ? issueClientCertificate({
          ca,
          publicKey,
          commonName: old.commonName ?? o.name,
          email: san.email,
          uri: san.uri,
          days,
          now,
        })
      : issueServerCertificate({
          ca,
          publicKey,
          altNames: { dns: san.dns, ip: san.ip },
          commonName: old.commonName,
          days,
          now,
        });

  return store.lock(() => {
    const locked = store.readInventory();
    const latest = locked.find((e) => e.serial === current.serial);
    if (!latest || statusOf(latest, now) === 'revoked' || latest.supersededAt) {
      throw new MtlsCaError(
        'INVALID_ARGUMENT',
        `renew ${o.name}: the certificate changed while renewing; run it again`,
      );
    }
    const tx = store.newTransaction();
    const files = new FileList(tx, (f) => store.display(f));
    if (o.rekey) files.write(paths.key, exportPrivateKeyPem(privateKey), MODE_SECRET, `${profile} key (new)`);
    files.write(paths.cert, cert.toPem(), MODE_PUBLIC, `${profile} certificate`);
    // Reuse a generated password, so whatever reads the .p12 keeps working after the renewal.
    const passFile = `${paths.p12}.pass`;
    const choice =
      o.store.given === undefined && fs.existsSync(passFile)
        ? { given: fs.readFileSync(passFile, 'utf8').split(/\r?\n/)[0] }
        : o.store;
    const { password, passwordFile } = storePasswordFor(paths.p12, choice, files);
    files.write(
      paths.p12,
      createPkcs12({
        privateKey,
        certificate: cert,
        chain: [ca.certificate],
        friendlyName: o.name,
        password,
        profile: o.p12Profile,
      }),
      MODE_SECRET,
      profile === 'client' ? 'key + certificate + CA for browsers and Java' : 'server key store',
    );
    const event = issueEvent(cert, o.name, profile, current.files, now);
    const nowIso = now.toISOString();
    let crl: CrlSummary | undefined;
    const audit = [auditRecord('renew', cert, now, { profile, replaces: current.serial, rekey: o.rekey })];
    if (o.revokeOld) {
      const e = locked.find((x) => x.serial === current.serial)!;
      e.revokedAt = nowIso;
      e.revocationReason = 'superseded';
      const staged = stageCrl(store, tx, ca, locked, now);
      crl = staged.summary;
      audit.push(
        {
          time: nowIso,
          op: 'revoke',
          subject: current.subject,
          serial: current.serial,
          fingerprint: current.fingerprint,
          result: 'ok',
          detail: { reason: 'superseded' },
        },
        staged.audit,
      );
    }
    store.appendInventory(tx, [
      event,
      { op: 'supersede', serial: current.serial, at: nowIso, by: event.serial },
      ...(o.revokeOld
        ? [{ op: 'revoke' as const, serial: current.serial, at: nowIso, reason: 'superseded' }]
        : []),
    ]);
    store.appendAudit(tx, audit, ca.privateKey);
    tx.commit();
    return {
      name: o.name,
      profile,
      certificate: summarize(cert),
      old: { serial: current.serial, status: o.revokeOld ? 'revoked' : 'superseded' },
      rekeyed: o.rekey,
      files: files.files,
      ...(passwordFile ? { passwordFile: store.display(passwordFile) } : {}),
      ...(crl ? { crl } : {}),
    };
  });
}

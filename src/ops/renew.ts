/**
 * `renew`: a new certificate for the same subject, SANs and roles — same key unless `--rekey` — with a new
 * .p12, and the old certificate marked superseded (or revoked, with `--revoke-old`).
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import type { Certificate } from '../pki/certificate.js';
import { encodeCsr } from '../pki/csr.js';
import { MtlsCaError } from '../pki/errors.js';
import { assertAltNames } from '../pki/general-names.js';
import { exportPrivateKeyPem, generateKeyPair, isKeyPair, type KeyType, keyTypeOf } from '../pki/keys.js';
import { assertCommonName } from '../pki/names.js';
import { toPem } from '../pki/pem.js';
import { createPkcs12, type Pkcs12Profile } from '../pki/pkcs12.js';
import {
  type CertificateAuthority,
  issueClientCertificate,
  issueServerCertificate,
} from '../pki/profiles.js';
import { MODE_PUBLIC, MODE_SECRET } from '../store/atomic.js';
import type { CaStore } from '../store/ca-store.js';
import { type InventoryEntry, statusOf } from '../store/inventory.js';
import {
  assertDays,
  checkNames,
  FileList,
  type StorePasswordChoice,
  storePasswordFor,
  type WrittenFile,
} from './common.js';
import { type CrlSummary, issuerInForce, loadCaKeys, stageCrls } from './crl.js';
import { publishedRevocationUrls } from './publishing.js';
import { auditRecord, type CertificateSummary, issueEvent, summarize } from './records.js';
import { fullchainOf } from './trust-files.js';

export interface RenewOptions {
  name: string;
  days?: number;
  rekey: boolean;
  /** Key type of the new key with `rekey`; default: the old key's type. */
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
  old: {
    serial: string;
    status: 'superseded' | 'revoked';
    notAfter: string;
    /**
     * True while the old certificate is superseded but neither revoked nor expired: servers that trust the CA
     * still accept it until notAfter (superseded is the inventory's word, not the CRL's).
     */
    stillAuthenticates: boolean;
  };
  rekeyed: boolean;
  files: WrittenFile[];
  passwordFile?: string;
  crl?: CrlSummary;
}

/** What a renewal starts from: the current certificate, its files and names, checked. */
interface RenewalPlan {
  current: InventoryEntry;
  profile: 'client' | 'server';
  paths: { cert: string; key: string; p12: string; csr: string | undefined; fullchain: string | undefined };
  old: Certificate;
  days: number;
  /** The key to keep (without `rekey`). */
  keptKey: KeyObject | undefined;
}

/** Clients and servers: the CA is replaced by a new init, the OCSP responder re-issued on its own. */
function renewable(e: InventoryEntry): boolean {
  return e.profile === 'client' || e.profile === 'server';
}

function planRenewal(store: CaStore, o: Pick<RenewOptions, 'name' | 'days' | 'rekey'>): RenewalPlan {
  const entries = store.readInventory();
  const current = entries
    .filter((e) => e.name === o.name && renewable(e) && !e.revokedAt && !e.supersededAt)
    .sort((a, b) => b.issuedAt.localeCompare(a.issuedAt))[0];
  if (!current) {
    const any = entries.find((e) => e.name === o.name && renewable(e));
    throw new MtlsCaError(
      'NOT_FOUND',
      `renew ${o.name}: ${any ? 'it has no current certificate (all revoked or superseded)' : 'no certificate with that name'}`,
      { detail: { kind: 'no-current-certificate', name: o.name, issued: any !== undefined } },
    );
  }
  const profile = current.profile as 'client' | 'server';
  const paths =
    profile === 'client'
      ? { ...store.paths.client(o.name), fullchain: undefined }
      : { ...store.paths.server(o.name), p12: store.paths.server(o.name).keyStore, csr: undefined };
  const old = store.readCertificate(paths.cert);
  if (!old) {
    throw new MtlsCaError(
      'NOT_FOUND',
      `renew ${o.name}: ${store.display(paths.cert)} is missing`,
      'issue a new certificate instead',
    );
  }
  if (old.serialHex !== current.serial) {
    throw new MtlsCaError(
      'INVALID_ARGUMENT',
      `renew ${o.name}: ${store.display(paths.cert)} (serial ${old.serialHex}) is not the inventory's current certificate ${current.serial}`,
    );
  }
  const days = o.days ?? (profile === 'client' ? 365 : 397);
  assertDays(days, 'days');
  // A certificate made before these rules (or by another tool) may hold a name we no longer sign.
  checkNames(
    `renew ${o.name}: ${store.display(paths.cert)} holds`,
    'issue a new certificate with valid names instead, and revoke this one',
    () => {
      if (old.commonName !== undefined) assertCommonName(old.commonName);
      assertAltNames(old.subjectAltNames, profile === 'server');
    },
  );
  let keptKey: KeyObject | undefined;
  if (!o.rekey) {
    keptKey = store.readPrivateKey(paths.key);
    if (!keptKey) {
      throw new MtlsCaError('NOT_FOUND', `renew ${o.name}: the key ${store.display(paths.key)} is missing`, {
        detail: { kind: 'key-unusable' },
      });
    }
    if (!isKeyPair(keptKey, old.publicKey)) {
      throw new MtlsCaError(
        'INVALID_ARGUMENT',
        `renew ${o.name}: ${store.display(paths.key)} does not match the certificate`,
        { detail: { kind: 'key-unusable' } },
      );
    }
  }
  return { current, profile, paths, old, days, keptKey };
}

/**
 * The checks {@link renew} makes before it signs, without the lock and without the CA key: a current
 * certificate of that name, its files, its names. What a command runs before it asks for the CA password;
 * renew repeats them (and checks under the lock that the certificate is still current).
 */
export function checkRenewal(store: CaStore, o: Pick<RenewOptions, 'name' | 'days' | 'rekey'>): void {
  store.assertInitialized();
  planRenewal(store, o);
}

export async function renew(store: CaStore, o: RenewOptions): Promise<RenewResult> {
  const now = o.now ?? new Date();
  const { current, profile, paths, old, days, keptKey } = planRenewal(store, o);
  const cas = store.casInForce();
  // The old certificate goes into the CRL of the CA that issued it: after a rotation, the previous CA.
  const oldCa = o.revokeOld ? issuerInForce(cas, current, `renew ${o.name}`) : cas[0]!;
  const [ca, oldIssuer] = loadCaKeys(store, oldCa === cas[0] ? [oldCa] : [cas[0]!, oldCa], o.caPassword) as [
    CertificateAuthority,
    CertificateAuthority | undefined,
  ];
  // The CA's current publish URL: renewing an older certificate gives it the revocation URLs it lacked.
  const revocation = publishedRevocationUrls(store);
  const san = old.subjectAltNames;
  const privateKey = keptKey ?? (await generateKeyPair(o.keyType ?? keyTypeOf(old.publicKey))).privateKey;
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
          revocation,
        })
      : issueServerCertificate({
          ca,
          publicKey,
          altNames: { dns: san.dns, ip: san.ip },
          commonName: old.commonName,
          days,
          now,
          revocation,
        });
  // A new key gets a new request beside it: <name>.csr is the key's request, and one for the old key would
  // tell whoever reads it (or sends it to another CA) the wrong public key.
  const csrPem =
    o.rekey && paths.csr
      ? toPem(
          'CERTIFICATE REQUEST',
          encodeCsr({
            privateKey,
            subject: { commonName: old.commonName ?? o.name },
            altNames: { email: san.email, uri: san.uri },
          }),
        )
      : undefined;

  return store.lock(async () => {
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
    if (csrPem && paths.csr) files.write(paths.csr, csrPem, MODE_PUBLIC, 'certificate request (new key)');
    files.write(paths.cert, cert.toPem(), MODE_PUBLIC, `${profile} certificate`);
    const fullchain = paths.fullchain && fullchainOf(cert, ca.certificate);
    if (fullchain) files.write(paths.fullchain!, fullchain, MODE_PUBLIC, 'server certificate + intermediate');
    // Reuse a generated password, so whatever reads the .p12 keeps working after the renewal.
    const generated = o.store.given === undefined ? store.readGeneratedPassword(paths.p12) : undefined;
    const choice = generated === undefined ? o.store : { given: generated };
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
    // The old record's files, and any this renewal adds (a key and request for a client signed from a CSR).
    const written = [
      o.rekey ? paths.key : undefined,
      csrPem ? paths.csr : undefined,
      paths.cert,
      fullchain ? paths.fullchain : undefined,
      paths.p12,
    ];
    const event = issueEvent(
      cert,
      o.name,
      profile,
      [...new Set([...current.files, ...written.flatMap((f) => (f ? [store.relative(f)] : []))])],
      now,
    );
    const nowIso = now.toISOString();
    let crl: CrlSummary | undefined;
    const audit = [auditRecord('renew', cert, now, { profile, replaces: current.serial, rekey: o.rekey })];
    if (o.revokeOld) {
      const e = locked.find((x) => x.serial === current.serial)!;
      e.revokedAt = nowIso;
      e.revocationReason = 'superseded';
      const staged = stageCrls(store, tx, { cas, sign: [oldIssuer ?? ca], entries: locked, now });
      crl = staged.signed[0];
      audit.push(
        {
          time: nowIso,
          op: 'revoke',
          subject: current.subject,
          ...(current.issuer ? { issuer: current.issuer } : {}),
          serial: current.serial,
          fingerprint: current.fingerprint,
          result: 'ok',
          detail: { reason: 'superseded' },
        },
        ...staged.audit,
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
    await tx.commitAsync();
    return {
      name: o.name,
      profile,
      certificate: summarize(cert),
      old: {
        serial: current.serial,
        status: o.revokeOld ? 'revoked' : 'superseded',
        notAfter: old.notAfter.toISOString(),
        stillAuthenticates: !o.revokeOld && old.validityAt(now) === 'valid',
      },
      rekeyed: o.rekey,
      files: files.files,
      ...(passwordFile ? { passwordFile: store.display(passwordFile) } : {}),
      ...(crl ? { crl } : {}),
    };
  });
}

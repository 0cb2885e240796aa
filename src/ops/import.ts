/**
 * `import`: a CA that another tool made (mkcert, easy-rsa, cfssl, openssl; see files/import-source.ts)
 * becomes a CA directory, written as `init` writes one (init.ts {@link writeCaDirectory}) — so issuing,
 * revoking and serving work as after `init` — around the same CA certificate and key. Certificates issued here
 * therefore chain to the root file the other tool made: clients that trust it need nothing new.
 *
 * What the CA issued before, when the tool kept a record of it (`index.txt`), enters the inventory with its
 * serial and dates: revoked certificates as revoked, with their time and reason, and in the first CRL; a client
 * certificate still in use is copied to `client/<name>.crt`, so that issuing that name again needs `--force`
 * and `renew --rekey` works. Serials are kept as they are. New serials cannot collide with them: mtls-ca's are
 * 16 random octets with the top bit clear (certificate.ts randomSerial), so sequential serials (`01`, `1000`)
 * and 20-octet ones (cfssl, OpenSSL's own random serials) can never be equal to one, and a random serial of the
 * same length (easy-rsa 3's) equals a given one with a chance of 2^-127.
 */
import type { KeyObject } from 'node:crypto';
import path from 'node:path';
import type { ImportSource, ImportTool } from '../files/import-source.js';
import { Certificate, canonicalSerial } from '../pki/certificate.js';
import { MtlsCaError } from '../pki/errors.js';
import {
  generateKeyPair,
  isEncryptedPrivateKey,
  isKeyPair,
  KEY_TYPES,
  type KeyType,
  keyTypeName,
  keyTypeOf,
  parsePrivateKey,
} from '../pki/keys.js';
import { assertSafeName, nameKey } from '../pki/names.js';
import { OID } from '../pki/oids.js';
import { type IndexRow, parseOpensslIndex } from '../pki/openssl-index.js';
import type { Pkcs12Profile } from '../pki/pkcs12.js';
import { issueServerCertificate } from '../pki/profiles.js';
import type { AuditRecord } from '../store/audit.js';
import type { CaStore } from '../store/ca-store.js';
import type { InventoryEntry, InventoryEvent } from '../store/inventory.js';
import { assertCaPasswordLength } from './ca-password.js';
import type { StorePasswordChoice, WrittenFile } from './common.js';
import { type CaHistory, refuseExistingCa, serverAltNames, writeCaDirectory } from './init.js';
import { auditRecord, type CertificateSummary, issueEvent, summarize } from './records.js';

/** What the import makes besides the CA: the server certificate, its stores, the users' roles. */
export interface ImportOptions {
  source: ImportSource;
  /** Extra server names beyond localhost, 127.0.0.1 and ::1. */
  hosts: string[];
  serverDays: number;
  /** The server key's type; default the CA's (or ecdsa-p256 for a CA key of a type mtls-ca does not make). */
  keyType?: KeyType;
  p12Profile: Pkcs12Profile;
  /** Roles for the users of the imported client certificates still in use (added to users.json). */
  roles: string[];
  /** Move an existing CA directory's contents to a backup folder first. */
  force: boolean;
  now?: Date;
}

export interface ImportKeyOptions extends ImportOptions {
  /** Opens the source key when it is encrypted; ignored when it is not. */
  sourcePassword?: string;
  /** Encrypts the CA key in the new directory (a new CA key's rules: at least 8 characters). */
  caPassword: string;
  store: StorePasswordChoice;
}

/** A certificate the CA issued before the import, as it enters the inventory. */
export interface ImportedCertificate {
  /** The name it is listed and found by: its CN, or its serial when the CN is no usable name. */
  name: string;
  profile: 'client' | 'server';
  serial: string;
  subject: string;
  notAfter: string;
  status: 'valid' | 'expired' | 'revoked';
  revokedAt?: string;
  revocationReason?: string;
  /** Its copy in the CA directory (`client/<name>.crt`), for a client certificate still in use. */
  file?: string;
}

/** An imported certificate and where it came from. */
interface PlannedCertificate extends ImportedCertificate {
  certificate: Certificate;
  /** The copy's path in the CA directory. */
  copyTo?: string;
}

/** What {@link checkImport} found: everything but the opened key of an encrypted source. */
export interface ImportPlan {
  source: ImportSource;
  ca: Certificate;
  /** The CA key's type, from its certificate. */
  keyType: KeyType;
  keyEncrypted: boolean;
  /** The CA key, when the source holds it unencrypted (checked against the certificate). */
  key?: KeyObject;
  /**
   * Whether the CA certificate allows signing CRLs. mkcert's root has keyUsage keyCertSign alone: CRLs it signs
   * are refused by clients that check keyUsage (OpenSSL's `-crl_check`, nginx `ssl_crl`), not by `serve`.
   */
  signsCrls: boolean;
  certificates: PlannedCertificate[];
}

export interface ImportResult {
  dir: string;
  from: ImportTool;
  /** The folder the CA came from. */
  source: string;
  ca: CertificateSummary & { keyEncrypted: boolean; signsCrls: boolean };
  server: CertificateSummary;
  imported: ImportedCertificate[];
  /** The users given roles in users.json. */
  users: string[];
  files: WrittenFile[];
  passwordFiles: string[];
  backup?: string;
}

/** The CA certificate, if it can be one: a CA that may sign certificates, self-signed, in its validity. */
function readCaCertificate(source: ImportSource, now: Date): Certificate {
  const file = source.certificate.path;
  let ca: Certificate;
  try {
    ca = Certificate.from(source.certificate.data, file);
  } catch (e) {
    if (!(e instanceof MtlsCaError)) throw e;
    throw new MtlsCaError(e.code, e.message, `name the CA certificate ${source.tool} made (PEM or DER)`, e);
  }
  const refuse = (code: MtlsCaError['code'], cause: string, hint: string): never => {
    throw new MtlsCaError(code, `import ${file}: ${cause}`, hint);
  };
  if (!ca.isCa) {
    refuse(
      'INVALID_ARGUMENT',
      `${ca.subjectName} is not a CA certificate (its basicConstraints do not say CA:TRUE)`,
      'name the certificate of the CA itself, not one it issued',
    );
  }
  const usage = ca.keyUsage;
  // Without a keyUsage extension a CA may sign anything (RFC 5280 4.2.1.3), as OpenSSL's `req -x509` makes it.
  if (ca.extension(OID.keyUsage) !== undefined && !usage.includes('keyCertSign')) {
    refuse(
      'INVALID_ARGUMENT',
      `${ca.subjectName} may not sign certificates (its keyUsage lacks keyCertSign)`,
      'name a CA certificate whose keyUsage includes keyCertSign',
    );
  }
  let selfSigned: boolean;
  try {
    selfSigned = ca.isIssuedBy(ca);
  } catch {
    selfSigned = false; // a signature algorithm we cannot check (RSA-PSS): not a CA mtls-ca can sign for
  }
  if (!selfSigned) {
    refuse(
      'UNSUPPORTED',
      `${ca.subjectName} is not a self-signed root (its issuer is ${ca.issuerName})`,
      'import the root CA that issued it; an intermediate CA cannot be imported yet',
    );
  }
  if (ca.notAfter <= now) {
    refuse(
      'CA_EXPIRED',
      `the CA expired on ${ca.notAfter.toISOString().slice(0, 10)}`,
      'an expired CA can issue nothing clients accept: create a new CA instead',
    );
  }
  if (ca.notBefore > now) {
    refuse(
      'INVALID_ARGUMENT',
      `the CA is not valid before ${ca.notBefore.toISOString()}`,
      "check this machine's clock, or import it once it is valid",
    );
  }
  return ca;
}

/** The CA key's type, from its certificate: one mtls-ca signs with, or `UNSUPPORTED`. */
function caKeyType(source: ImportSource, ca: Certificate): KeyType {
  try {
    return keyTypeOf(ca.publicKey);
  } catch (e) {
    if (!(e instanceof MtlsCaError)) throw e;
    throw new MtlsCaError(
      'UNSUPPORTED',
      `import ${source.certificate.path}: the CA key is ${keyTypeName(ca.publicKey)}, which mtls-ca cannot sign with`,
      `mtls-ca signs with ${KEY_TYPES.join(', ')}: create a new CA instead`,
      e,
    );
  }
}

/**
 * Opens the source key and checks it against the CA certificate.
 * @param plan - the source and its CA certificate ({@link checkImport})
 * @param password - for an encrypted key; ignored for an unencrypted one
 * @throws MtlsCaError `BAD_PASSWORD` / `PASSWORD_REQUIRED` (parsePrivateKey's), `PARSE_FAILED` for a file that
 *   holds no key mtls-ca can read, `INVALID_ARGUMENT` for a key of another certificate
 */
export function openSourceKey(
  plan: Pick<ImportPlan, 'source' | 'ca'>,
  password: string | undefined,
): KeyObject {
  const { key: file, certificate } = plan.source;
  let key: KeyObject;
  try {
    key = parsePrivateKey(file.data, password, file.path);
  } catch (e) {
    if (!(e instanceof MtlsCaError) || e.code !== 'PARSE_FAILED') throw e;
    throw new MtlsCaError(
      'PARSE_FAILED',
      `import ${file.path}: not a private key mtls-ca can read`,
      'name the CA key: PEM (PKCS#8, PKCS#1, SEC1; encrypted PKCS#8 or with DEK-Info) or DER PKCS#8',
      e,
    );
  }
  if (!isKeyPair(key, plan.ca.publicKey)) {
    throw new MtlsCaError(
      'INVALID_ARGUMENT',
      `import ${file.path}: the key does not match the CA certificate ${certificate.path}`,
      `name the key that belongs to ${plan.ca.subjectName}`,
    );
  }
  return key;
}

/** The certificate files of the source by serial ({@link canonicalSerial}); the first file of a serial wins. */
function issuedBySerial(source: ImportSource): Map<string, { file: string; certificate: Certificate }> {
  const bySerial = new Map<string, { file: string; certificate: Certificate }>();
  for (const f of source.issued) {
    let certificate: Certificate;
    try {
      certificate = Certificate.from(f.data, f.path);
    } catch {
      continue; // not a certificate: a row that needs it says it is missing
    }
    const serial = canonicalSerial(certificate.serialHex);
    if (!bySerial.has(serial)) bySerial.set(serial, { file: f.path, certificate });
  }
  return bySerial;
}

/** A certificate's name in mtls-ca: its CN when that is a usable name (it becomes a file name), else its serial. */
function nameOf(certificate: Certificate): string {
  const cn = certificate.commonName;
  if (cn === undefined) return certificate.serialHex;
  try {
    assertSafeName(cn);
    return cn;
  } catch {
    return certificate.serialHex;
  }
}

/** The index's rows as inventory records, each checked against its certificate. */
function planCertificates(
  store: CaStore,
  source: ImportSource,
  ca: Certificate,
  now: Date,
): PlannedCertificate[] {
  if (!source.index) return [];
  const indexFile = source.index.path;
  const rows = parseOpensslIndex(source.index.data.toString('utf8'), indexFile);
  const files = issuedBySerial(source);
  // `openssl ca -selfsign` (OpenSSL's CA.pl -newca) records the CA's own certificate as a row: it is the CA
  // record, not a certificate the CA issued.
  const own = canonicalSerial(ca.serialHex);
  const issuedRows = rows.filter(
    (row) => row.serial !== own || !files.get(own)?.certificate.der.equals(ca.der),
  );
  const planned = issuedRows.map((row: IndexRow): PlannedCertificate => {
    const found = files.get(row.serial);
    const at = `import ${indexFile}: line ${row.line}`;
    if (!found) {
      throw new MtlsCaError(
        'NOT_FOUND',
        `${at}: no certificate with serial ${row.writtenSerial} in ${source.issuedFolders.length ? source.issuedFolders.join(', ') : 'the folders where it would be'}`,
        'restore the file from a backup of the CA folder (each row needs its certificate)',
      );
    }
    const { certificate } = found;
    if (!certificate.isIssuedBy(ca)) {
      throw new MtlsCaError(
        'INVALID_ARGUMENT',
        `${at}: ${found.file} (serial ${row.serial.toUpperCase()}) is not signed by ${source.certificate.path}`,
        'the index and the certificates must be of this CA',
      );
    }
    if (certificate.isCa) {
      throw new MtlsCaError(
        'UNSUPPORTED',
        `${at}: ${certificate.subjectName} is a CA certificate (an intermediate CA this CA signed)`,
        'a CA that signed intermediate CAs cannot be imported yet',
      );
    }
    const eku = certificate.extendedKeyUsage;
    const profile = eku.includes('serverAuth') && !eku.includes('clientAuth') ? 'server' : 'client';
    const status = row.status === 'revoked' ? 'revoked' : certificate.notAfter <= now ? 'expired' : 'valid';
    return {
      certificate,
      name: nameOf(certificate),
      profile,
      serial: certificate.serialHex,
      subject: certificate.subjectName,
      notAfter: certificate.notAfter.toISOString(),
      status,
      ...(row.revokedAt ? { revokedAt: row.revokedAt.toISOString(), revocationReason: row.reason } : {}),
    };
  });
  // The newest client certificate in use of each name is copied to client/<name>.crt, as if issued here; of
  // names that read alike (`Alice`, `alice`: one file on macOS and Windows) only the first.
  const copied = new Map<string, PlannedCertificate>();
  const newestFirst = [...planned].sort(
    (a, b) => b.certificate.notBefore.getTime() - a.certificate.notBefore.getTime(),
  );
  for (const c of newestFirst) {
    if (c.profile !== 'client' || c.status !== 'valid' || c.name === c.serial) continue;
    if (copied.has(nameKey(c.name))) continue;
    copied.set(nameKey(c.name), c);
    c.copyTo = store.paths.client(c.name).cert;
    c.file = store.display(c.copyTo);
  }
  return planned;
}

/**
 * The checks {@link importCa} makes, without the lock and without the password of an encrypted source key:
 * no CA in the directory (unless `force`), the server options, a CA certificate mtls-ca can use, a key that
 * matches it (when unencrypted), and each row of the certificate index with its certificate. What a command
 * runs before it asks for passwords; importCa repeats it.
 * @param store - the CA directory to write
 * @param o - the source and what to make besides the CA
 */
export function checkImport(store: CaStore, o: ImportOptions): ImportPlan {
  const now = o.now ?? new Date();
  const { source } = o;
  refuseExistingCa(store, o.force, 'import CA into');
  if (path.resolve(store.root) === path.resolve(source.folder)) {
    throw new MtlsCaError(
      'INVALID_ARGUMENT',
      `import CA into ${store.display(store.root)}: it is the folder the CA comes from`,
      'choose another CA directory',
    );
  }
  serverAltNames(o.hosts, o.serverDays);
  const ca = readCaCertificate(source, now);
  const keyType = caKeyType(source, ca);
  const keyEncrypted = isEncryptedPrivateKey(source.key.data);
  const key = keyEncrypted ? undefined : openSourceKey({ source, ca }, undefined);
  return {
    source,
    ca,
    keyType,
    keyEncrypted,
    ...(key ? { key } : {}),
    signsCrls: ca.extension(OID.keyUsage) === undefined || ca.keyUsage.includes('cRLSign'),
    certificates: planCertificates(store, source, ca, now),
  };
}

/** The inventory events, audit lines, records and file copies of the imported certificates. */
function historyOf(store: CaStore, plan: ImportPlan, now: Date): CaHistory {
  const events: InventoryEvent[] = [];
  const audit: AuditRecord[] = [];
  const entries: InventoryEntry[] = [];
  const files: CaHistory['files'] = [];
  for (const c of plan.certificates) {
    // The key type by name: an old leaf may have a key mtls-ca does not make (RSA-1024), and is listed anyway.
    const summary = summarize(c.certificate, keyTypeName(c.certificate.publicKey));
    const copies = c.copyTo ? [store.relative(c.copyTo)] : [];
    const { op: _, ...entry } = issueEvent(
      c.certificate,
      c.name,
      c.profile,
      copies,
      c.certificate.notBefore,
      summary,
    );
    events.push({ op: 'issue', ...entry });
    audit.push(auditRecord('import', c.certificate, now, { profile: c.profile, name: c.name }));
    if (c.revokedAt) {
      events.push({ op: 'revoke', serial: c.serial, at: c.revokedAt, reason: c.revocationReason! });
      audit.push(
        auditRecord('revoke', c.certificate, now, { reason: c.revocationReason!, revokedAt: c.revokedAt }),
      );
    }
    entries.push({
      ...entry,
      ...(c.revokedAt ? { revokedAt: c.revokedAt, revocationReason: c.revocationReason } : {}),
    });
    if (c.copyTo)
      files.push({ path: c.copyTo, data: c.certificate.toPem(), what: 'client certificate (imported)' });
  }
  return { events, audit, entries, files };
}

/**
 * Imports the CA: opens its key (with `sourcePassword` when it is encrypted), makes a server certificate for
 * this machine, and writes the CA directory as `init` does, with the CA key encrypted by `caPassword` and the
 * certificates it issued before in the inventory, the first CRL and the audit log.
 * @param store - the CA directory to write
 * @param o - the source, its password when its key is encrypted, the CA password and the store passwords
 */
export async function importCa(store: CaStore, o: ImportKeyOptions): Promise<ImportResult> {
  const now = o.now ?? new Date();
  const plan = checkImport(store, { ...o, now });
  assertCaPasswordLength(o.caPassword);
  const ca = { certificate: plan.ca, privateKey: plan.key ?? openSourceKey(plan, o.sourcePassword) };
  const serverKeys = await generateKeyPair(o.keyType ?? plan.keyType);
  const server = issueServerCertificate({
    ca,
    publicKey: serverKeys.publicKey,
    altNames: serverAltNames(o.hosts, o.serverDays),
    days: o.serverDays,
    now,
  });
  const users = o.roles.length
    ? new Map(plan.certificates.filter((c) => c.copyTo).map((c) => [c.name, o.roles]))
    : undefined;
  const written = await writeCaDirectory(store, {
    ca,
    caPassword: o.caPassword,
    caAudit: [
      auditRecord('import', plan.ca, now, {
        profile: 'ca',
        keyType: plan.keyType,
        from: o.source.tool,
        certificates: plan.certificates.length,
      }),
    ],
    caIssuedAt: plan.ca.notBefore,
    server: { certificate: server, privateKey: serverKeys.privateKey },
    p12Profile: o.p12Profile,
    store: o.store,
    force: o.force,
    history: historyOf(store, plan, now),
    ...(users ? { users } : {}),
    action: 'import CA into',
    now,
  });
  return {
    dir: store.display(store.root),
    from: o.source.tool,
    source: o.source.folder,
    ca: { ...summarize(plan.ca, plan.keyType), keyEncrypted: true, signsCrls: plan.signsCrls },
    server: summarize(server),
    imported: plan.certificates.map(({ certificate: _c, copyTo: _t, ...c }) => c),
    users: [...(users?.keys() ?? [])],
    ...written,
  };
}

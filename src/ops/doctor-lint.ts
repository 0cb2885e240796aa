/**
 * `doctor` without a URL: the lint of a CA directory. It reads every file through a read-only store (a
 * commit a killed command left is reported, never finished: doctor writes nothing) and checks what would
 * break a deployment: chains and signatures, validity windows, keys against their certificates, `.p12` files
 * against their `.pass`, the trust stores, the CRL, file modes, users against certificates, the server's
 * names, Ed25519 where browsers are meant to go. Each finding is a code and the data its words need.
 */
import path from 'node:path';
import type { Certificate } from '../pki/certificate.js';
import { Crl } from '../pki/crl.js';
import { crlWarningTime } from '../pki/crl-lifetime.js';
import { isMtlsCaError, type MtlsCaError } from '../pki/errors.js';
import { isJks, parseJks } from '../pki/jks.js';
import { isEncryptedPrivateKey, keyTypeName, parsePrivateKey, subjectPublicKeyInfo } from '../pki/keys.js';
import { parsePkcs12 } from '../pki/pkcs12-read.js';
import type { CaDirectoryEntry, CaStore } from '../store/ca-store.js';
import { type InventoryEntry, statusOf } from '../store/inventory.js';
import {
  type CertificateProblem,
  type CertificateUse,
  checkCertificate,
  EXPIRY_WARNING_DAYS,
  fitFor,
  issuedBy,
} from './doctor-checks.js';
import { trustAnchors } from './trust-files.js';

export type Severity = 'error' | 'warning';

/** One finding: a stable code, how bad, the file (relative to the CA directory) and what explains it. */
export type Finding = { severity: Severity; file: string } & (
  | { code: 'COMMIT_INTERRUPTED'; state: 'pending' | 'abandoned' }
  | { code: 'FILE_UNREADABLE'; cause: string }
  | { code: 'CA_NOT_SELF_SIGNED' }
  /** With an intermediate: ca/ca.crt does not verify with the key of ca/root.crt. */
  | { code: 'CA_NOT_ISSUED_BY_ROOT'; root: string }
  | { code: 'CA_NOT_A_CA' }
  | { code: 'CERT_EXPIRED'; notAfter: string; name?: string }
  | { code: 'CERT_NOT_YET_VALID'; notBefore: string; name?: string }
  | { code: 'CERT_EXPIRING'; notAfter: string; daysLeft: number; name?: string }
  | { code: 'CERT_WRONG_PURPOSE'; use: CertificateUse; extendedKeyUsage: string[]; isCa: boolean }
  | { code: 'CERT_NOT_ISSUED_BY_CA'; issuer: string; ca: string }
  | { code: 'CERT_NOT_IN_INVENTORY'; serial: string }
  /** Its issuer, a CA still in force (a previous intermediate), is revoked by the root. */
  | { code: 'CERT_ISSUER_REVOKED'; issuer: string; revokedAt: string; name?: string }
  | { code: 'KEY_MISMATCH'; certificate: string }
  | { code: 'P12_WRONG_PASSWORD'; passFile: string }
  | {
      code: 'P12_OUT_OF_STEP';
      problem: 'no-key' | 'key-mismatch' | 'other-certificate';
      certificate?: string;
    }
  | { code: 'TRUST_STORE_MISSING' }
  | {
      code: 'TRUST_STORE_WITHOUT_CA';
      ca: string;
      /** The CA's certificate file and the alias mtls-ca gives it, for the import that fixes it. */
      caFile: string;
      alias: string;
    }
  | { code: 'TRUST_STORE_NOT_TRUSTED'; ca: string }
  | { code: 'CRL_MISSING' }
  | { code: 'CRL_NOT_SIGNED_BY_CA'; issuer: string }
  | { code: 'CRL_EXPIRED'; nextUpdate: string }
  | { code: 'CRL_NOT_YET_VALID'; thisUpdate: string }
  | { code: 'CRL_EXPIRING'; nextUpdate: string }
  | { code: 'CRL_OUT_OF_STEP'; notListed: string[]; notRevoked: string[] }
  | { code: 'MODE_TOO_OPEN'; mode: string; expected: string }
  | { code: 'MODE_WORLD_WRITABLE'; mode: string }
  | { code: 'FILE_MISSING'; name: string; serial: string }
  | { code: 'USER_WITHOUT_CERTIFICATE'; user: string }
  | { code: 'CERTIFICATE_WITHOUT_USER'; user: string }
  | { code: 'SERVER_NO_SAN' }
  | { code: 'HOST_NOT_COVERED'; host: string }
  | { code: 'ED25519_FOR_BROWSERS'; use: 'client' | 'server' }
  | { code: 'OCSP_RESPONDER_MISSING'; publishUrl: string }
  | {
      code: 'OCSP_RESPONDER_INVALID';
      problem: 'expired' | 'not-issued-by-ca' | 'not-for-ocsp';
      publishUrl: string;
    }
  | { code: 'CERT_WITHOUT_PUBLISH_URL'; name?: string; publishUrl: string }
);
export type FindingCode = Finding['code'];

/** Something not checked, and why: not a finding (exit 0 stays possible). */
export type Note =
  | { code: 'CA_KEY_ENCRYPTED'; file: string }
  | { code: 'CA_KEY_ABSENT'; file: string }
  /** The CA key is in a PKCS#11 token (`file` names its URI): not checked here. */
  | { code: 'CA_KEY_IN_TOKEN'; file: string; uri: string }
  | { code: 'PASSWORD_UNKNOWN'; file: string };

export interface LintReport {
  dir: string;
  findings: Finding[];
  notes: Note[];
  /** How many of each thing were looked at. */
  checked: {
    certificates: number;
    keys: number;
    pkcs12: number;
    trustStores: number;
    crl: boolean;
    users: number;
    /** The publish URL whose promises were checked, when the CA has one. */
    publishUrl?: string;
  };
}

export interface LintOptions {
  /** The CA key's password, to check the key against the certificate; without it an encrypted key is not. */
  caPassword?: string;
  /** Host names and addresses a server certificate must hold. */
  hosts?: string[];
  now?: Date;
}

/** Files that hold secrets, and so must be the owner's alone. */
function isSecret(rel: string): boolean {
  const base = rel.slice(rel.lastIndexOf('/') + 1);
  return (
    base.endsWith('.key') ||
    base.endsWith('.pass') ||
    (base.endsWith('.p12') && base !== 'trustStore.p12' && !rel.startsWith('ca/'))
  );
}

const octal = (mode: number) => `0${mode.toString(8).padStart(3, '0')}`;

/** What the folder a certificate lives in says it is for. */
function useOf(rel: string): 'server' | 'client' | undefined {
  if (rel.startsWith('server/')) return 'server';
  if (rel.startsWith('client/')) return 'client';
  return undefined;
}

export async function lintCaDirectory(store: CaStore, o: LintOptions = {}): Promise<LintReport> {
  const now = o.now ?? new Date();
  const p = store.paths;
  const rel = (file: string) => store.relative(file).split(path.sep).join('/');
  const findings: Finding[] = [];
  const notes: Note[] = [];
  const checked: LintReport['checked'] = {
    certificates: 0,
    keys: 0,
    pkcs12: 0,
    trustStores: 0,
    crl: false,
    users: 0,
  };
  const add = (f: Finding) => findings.push(f);
  /** Runs a read; a file that cannot be read or parsed becomes a finding, not a failure of the lint. */
  const attempt = <T>(file: string, read: () => T): T | undefined => {
    try {
      return read();
    } catch (e) {
      if (!isMtlsCaError(e)) throw e;
      add({ code: 'FILE_UNREADABLE', severity: 'error', file: rel(file), cause: (e as MtlsCaError).message });
      return undefined;
    }
  };

  const ca = store.readCertificate(p.caCert);
  if (!ca) store.assertInitialized(); // throws CA_NOT_INITIALIZED, naming the directory
  const caCert = ca!;
  const interrupted = store.interruptedCommit();
  if (interrupted) add({ code: 'COMMIT_INTERRUPTED', severity: 'error', file: '.', state: interrupted });

  // The CAs in force: the one that issues, its root (with an intermediate), the ones a rotation replaced.
  const inForce = store.casInForce();
  const cas = inForce.map((c) => c.certificate);
  const root = store.readRootCertificate();
  /** The CA in force that signed `cert`; the issuing CA when none did (checkCertificate then says so). */
  const issuerOf = (cert: Certificate) => cas.find((c) => issuedBy(cert, c)) ?? caCert;

  // The CA itself, and with an intermediate the root that signed it.
  checked.certificates++;
  if (root) {
    checked.certificates++;
    if (!issuedBy(root, root)) add({ code: 'CA_NOT_SELF_SIGNED', severity: 'error', file: rel(p.rootCert) });
    else if (!issuedBy(caCert, root)) {
      add({ code: 'CA_NOT_ISSUED_BY_ROOT', severity: 'error', file: rel(p.caCert), root: rel(p.rootCert) });
    }
  } else if (!issuedBy(caCert, caCert)) {
    add({ code: 'CA_NOT_SELF_SIGNED', severity: 'error', file: rel(p.caCert) });
  }
  if (!fitFor(caCert, 'ca')) add({ code: 'CA_NOT_A_CA', severity: 'error', file: rel(p.caCert) });
  for (const problem of checkCertificate(caCert, 'ca', { now, warnDays: EXPIRY_WARNING_DAYS })) {
    addProblem(rel(p.caCert), problem, caCert.commonName);
  }
  const caKey = store.readArtifact(p.caKey);
  const keyUri = caKey ? undefined : store.readArtifact(p.caKeyUri)?.toString('utf8').trim();
  if (keyUri) notes.push({ code: 'CA_KEY_IN_TOKEN', file: rel(p.caKeyUri), uri: keyUri });
  else if (!caKey) notes.push({ code: 'CA_KEY_ABSENT', file: rel(p.caKey) });
  else if (isEncryptedPrivateKey(caKey) && o.caPassword === undefined) {
    notes.push({ code: 'CA_KEY_ENCRYPTED', file: rel(p.caKey) });
  } else {
    // A wrong password is the caller's mistake, not the directory's: it fails the command (BAD_PASSWORD).
    const key = parsePrivateKey(caKey, o.caPassword, store.display(p.caKey));
    checked.keys++;
    if (!subjectPublicKeyInfo(key).equals(caCert.spki)) {
      add({ code: 'KEY_MISMATCH', severity: 'error', file: rel(p.caKey), certificate: rel(p.caCert) });
    }
  }

  function addProblem(file: string, problem: CertificateProblem, name?: string): void {
    const named = name === undefined ? {} : { name };
    switch (problem.kind) {
      case 'expired':
        return void add({
          code: 'CERT_EXPIRED',
          severity: 'error',
          file,
          notAfter: problem.notAfter,
          ...named,
        });
      case 'not-yet-valid':
        return void add({
          code: 'CERT_NOT_YET_VALID',
          severity: 'error',
          file,
          notBefore: problem.notBefore,
          ...named,
        });
      case 'expiring':
        return void add({
          code: 'CERT_EXPIRING',
          severity: 'warning',
          file,
          notAfter: problem.notAfter,
          daysLeft: problem.daysLeft,
          ...named,
        });
      case 'wrong-purpose':
        return void add({
          code: 'CERT_WRONG_PURPOSE',
          severity: 'error',
          file,
          use: problem.use,
          extendedKeyUsage: problem.extendedKeyUsage,
          isCa: problem.isCa,
        });
      case 'not-issued-by-ca':
        return void add({
          code: 'CERT_NOT_ISSUED_BY_CA',
          severity: 'error',
          file,
          issuer: problem.issuer,
          ca: problem.ca,
        });
      case 'revoked':
        return; // a revoked certificate is the CRL's business (CRL_OUT_OF_STEP), not a fault of its file
    }
  }

  const inventory = attempt(p.inventory, () => store.readInventory()) ?? [];
  /** The CAs the inventory says were revoked (intermediates, by their root), by serial: when. */
  const revokedCas = new Map(
    inventory.flatMap((e) => (e.profile === 'ca' && e.revokedAt ? [[e.serial, e.revokedAt] as const] : [])),
  );
  const newestByFile = new Map<string, InventoryEntry>();
  for (const e of inventory) for (const f of e.files) newestByFile.set(f, e); // log order: later issues win

  const entries = store.entries();
  const files = new Map<string, CaDirectoryEntry>(entries.map((e) => [e.path, e]));
  const crtFiles = entries.filter(
    (e) => e.type === 'file' && e.path.endsWith('.crt') && useOf(e.path) !== undefined,
  );

  // Every server and client certificate, with its key when it is beside it.
  const current = new Map<string, Certificate>();
  const serverCertificates: Certificate[] = [];
  for (const entry of crtFiles) {
    const file = path.join(store.root, entry.path);
    const cert = attempt(file, () => store.readCertificate(file));
    if (!cert) continue;
    checked.certificates++;
    current.set(entry.path, cert);
    const use = useOf(entry.path)!;
    const record = newestByFile.get(entry.path);
    const issuer = issuerOf(cert);
    const issuedByCa = issuedBy(cert, issuer);
    if (issuedByCa && !inventory.some((e) => e.serial === cert.serialHex)) {
      add({ code: 'CERT_NOT_IN_INVENTORY', severity: 'error', file: entry.path, serial: cert.serialHex });
    }
    const retired = record?.serial === cert.serialHex && (record.revokedAt || record.supersededAt);
    if (!retired) {
      for (const problem of checkCertificate(cert, use, { ca: issuer, now, warnDays: EXPIRY_WARNING_DAYS })) {
        addProblem(entry.path, problem, record?.name);
      }
      // An intermediate stays in force, trusted, until `ca retire`, even once the root revoked it: a
      // certificate under it verifies against the bundle, and fails only where the chain's CRLs are read.
      const issuerRevokedAt = issuedByCa ? revokedCas.get(issuer.serialHex) : undefined;
      if (issuerRevokedAt) {
        add({
          code: 'CERT_ISSUER_REVOKED',
          severity: 'error',
          file: entry.path,
          issuer: issuer.subjectName,
          revokedAt: issuerRevokedAt,
          ...(record?.name === undefined ? {} : { name: record.name }),
        });
      }
      if (use === 'server') {
        serverCertificates.push(cert);
        const san = cert.subjectAltNames;
        if ((san.dns?.length ?? 0) + (san.ip?.length ?? 0) === 0) {
          add({ code: 'SERVER_NO_SAN', severity: 'error', file: entry.path });
        }
      }
      const browserBound =
        use === 'server' ||
        files.has(entry.path.replace(/\/([^/]+)\.crt$/, (_m, name: string) => `/client_${name}.p12`));
      if (browserBound && keyTypeName(cert.publicKey) === 'ed25519') {
        add({ code: 'ED25519_FOR_BROWSERS', severity: 'warning', file: entry.path, use });
      }
    }
    const keyRel = entry.path.replace(/\.crt$/, '.key');
    if (files.has(keyRel)) {
      const keyFile = path.join(store.root, keyRel);
      const key = attempt(keyFile, () => store.readPrivateKey(keyFile));
      if (key) {
        checked.keys++;
        if (!subjectPublicKeyInfo(key).equals(cert.spki)) {
          add({ code: 'KEY_MISMATCH', severity: 'error', file: keyRel, certificate: entry.path });
        }
      }
    }
  }

  // Files the inventory says were written for a certificate still in use, and are gone.
  for (const [file, e] of newestByFile) {
    const status = statusOf(e, now);
    // The CA's own files are checked above, and the OCSP responder's with the publish URL below.
    const checkedElsewhere = e.profile === 'ca' || e.profile === 'ocsp';
    if ((status === 'valid' || status === 'expired') && !checkedElsewhere && !files.has(file)) {
      add({ code: 'FILE_MISSING', severity: 'warning', file, name: e.name, serial: e.serial });
    }
  }

  // Key stores and browser bundles: each opens with its generated password and holds the current pair.
  for (const entry of entries) {
    if (entry.type !== 'file' || !entry.path.endsWith('.p12') || entry.path.endsWith('trustStore.p12'))
      continue;
    const file = path.join(store.root, entry.path);
    const password = store.readGeneratedPassword(file);
    if (password === undefined) {
      notes.push({ code: 'PASSWORD_UNKNOWN', file: entry.path });
      continue;
    }
    checked.pkcs12++;
    let contents: ReturnType<typeof parsePkcs12> | undefined;
    try {
      contents = parsePkcs12(store.readArtifact(file)!, password, store.display(file));
    } catch (e) {
      if (!isMtlsCaError(e)) throw e;
      if (e.code === 'BAD_PASSWORD') {
        add({
          code: 'P12_WRONG_PASSWORD',
          severity: 'error',
          file: entry.path,
          passFile: `${entry.path}.pass`,
        });
      } else add({ code: 'FILE_UNREADABLE', severity: 'error', file: entry.path, cause: e.message });
      continue;
    }
    const crtRel = entry.path
      .replace(/^client\/client_(.+)\.p12$/, 'client/$1.crt')
      .replace(/^server\/keyStore\.p12$/, 'server/server.crt')
      .replace(/^server\/(.+)\.p12$/, 'server/$1.crt');
    const expected = current.get(crtRel);
    const key = contents.privateKey;
    if (!key) {
      add({ code: 'P12_OUT_OF_STEP', severity: 'error', file: entry.path, problem: 'no-key' });
      continue;
    }
    const own = contents.certificates.find((c) => subjectPublicKeyInfo(key).equals(c.certificate.spki));
    if (!own) add({ code: 'P12_OUT_OF_STEP', severity: 'error', file: entry.path, problem: 'key-mismatch' });
    else if (expected && !own.certificate.der.equals(expected.der)) {
      add({
        code: 'P12_OUT_OF_STEP',
        severity: 'error',
        file: entry.path,
        problem: 'other-certificate',
        certificate: crtRel,
      });
    }
  }

  // Java trust stores: the CA, as a trusted entry.
  for (const store_ of [p.trustStoreJks, p.trustStoreP12]) {
    const file = rel(store_);
    if (!files.has(file)) {
      add({ code: 'TRUST_STORE_MISSING', severity: 'warning', file });
      continue;
    }
    const password = store.readGeneratedPassword(store_);
    if (password === undefined) {
      notes.push({ code: 'PASSWORD_UNKNOWN', file });
      continue;
    }
    checked.trustStores++;
    const data = store.readArtifact(store_)!;
    const found = attempt(store_, () => {
      if (isJks(data)) {
        return parseJks(data, password, store.display(store_)).map((e) => ({
          certificate: e.certificate,
          trusted: true,
        }));
      }
      return parsePkcs12(data, password, store.display(store_)).certificates;
    });
    if (!found) continue;
    // The roots in force: the CA itself, or the root of its intermediate (and a root a rotation replaced).
    for (const { alias, certificate } of trustAnchors(inForce)) {
      const entry = found.find((c) => c.certificate.der.equals(certificate.der));
      const ca = certificate.subjectName;
      const caFile = rel(inForce.find((c) => c.certificate === certificate)!.certFile);
      if (!entry) add({ code: 'TRUST_STORE_WITHOUT_CA', severity: 'error', file, ca, caFile, alias });
      else if (!entry.trusted) add({ code: 'TRUST_STORE_NOT_TRUSTED', severity: 'error', file, ca });
    }
  }

  // The CRL: the CA's, in date, and listing what the inventory revoked.
  const crlFile = rel(p.crl);
  const crl = store.readCrl();
  if (crl === 'missing') add({ code: 'CRL_MISSING', severity: 'error', file: crlFile });
  else if (crl === 'unreadable') {
    attempt(p.crl, () => Crl.from(store.readArtifact(p.crl) ?? Buffer.alloc(0), store.display(p.crl)));
  } else {
    checked.crl = true;
    if (!crl.isSignedBy(caCert)) {
      add({ code: 'CRL_NOT_SIGNED_BY_CA', severity: 'error', file: crlFile, issuer: crl.issuerName });
    } else {
      const nextUpdate = crl.nextUpdate.toISOString();
      if (crl.thisUpdate > now) {
        add({
          code: 'CRL_NOT_YET_VALID',
          severity: 'error',
          file: crlFile,
          thisUpdate: crl.thisUpdate.toISOString(),
        });
      } else if (crl.nextUpdate <= now)
        add({ code: 'CRL_EXPIRED', severity: 'error', file: crlFile, nextUpdate });
      else if (now.getTime() >= crlWarningTime(crl)) {
        add({ code: 'CRL_EXPIRING', severity: 'warning', file: crlFile, nextUpdate });
      }
      const listed = new Set(crl.revoked.map((r) => r.serialHex));
      // The issuing CA's CRL (the first of the file) lists what it issued; a root's lists intermediates.
      const revoked = new Set(
        inventory.filter((e) => e.revokedAt && e.issuer === caCert.subjectName).map((e) => e.serial),
      );
      const notListed = [...revoked].filter((s) => !listed.has(s));
      const notRevoked = [...listed].filter((s) => !revoked.has(s));
      if (notListed.length > 0 || notRevoked.length > 0) {
        add({ code: 'CRL_OUT_OF_STEP', severity: 'error', file: crlFile, notListed, notRevoked });
      }
    }
  }

  // A publish URL: every certificate in use names it, and the OCSP responder `publish` signs with is valid.
  // Whether `publish` runs and serves this CRL is the live check's business (doctor URL/crl is not mTLS).
  const publishUrl = attempt(p.settings, () => store.readSettings())?.publishUrl;
  if (publishUrl !== undefined) {
    checked.publishUrl = publishUrl;
    const responderFile = rel(p.ocspCert);
    const responder = files.has(responderFile)
      ? attempt(p.ocspCert, () => store.readCertificate(p.ocspCert))
      : undefined;
    if (!files.has(responderFile)) {
      add({ code: 'OCSP_RESPONDER_MISSING', severity: 'error', file: responderFile, publishUrl });
    } else if (responder) {
      checked.certificates++;
      const problem = !issuedBy(responder, caCert)
        ? 'not-issued-by-ca'
        : responder.validityAt(now) === 'expired'
          ? 'expired'
          : responder.extendedKeyUsage.includes('ocspSigning')
            ? undefined
            : 'not-for-ocsp';
      if (problem)
        add({ code: 'OCSP_RESPONDER_INVALID', severity: 'error', file: responderFile, problem, publishUrl });
    }
    const crlUrl = `${publishUrl}/crl`;
    for (const [file, cert] of current) {
      const record = newestByFile.get(file);
      const inUse = record?.serial === cert.serialHex && statusOf(record, now) === 'valid';
      if (inUse && !cert.revocationUrls.crl.includes(crlUrl)) {
        add({
          code: 'CERT_WITHOUT_PUBLISH_URL',
          severity: 'warning',
          file,
          publishUrl,
          ...(record.name ? { name: record.name } : {}),
        });
      }
    }
  }

  // File modes: secrets the owner's alone, nothing writable by everyone.
  for (const e of entries) {
    if (e.type === 'file' && isSecret(e.path) && (e.mode & 0o077) !== 0) {
      add({ code: 'MODE_TOO_OPEN', severity: 'error', file: e.path, mode: octal(e.mode), expected: '0600' });
    } else if ((e.type === 'file' || e.type === 'directory') && (e.mode & 0o002) !== 0) {
      add({ code: 'MODE_WORLD_WRITABLE', severity: 'error', file: e.path, mode: octal(e.mode) });
    }
  }

  // users.json against the client certificates in use.
  const users = attempt(p.users, () => store.readUsers());
  if (users) {
    const names = Object.keys(users.users);
    checked.users = names.length;
    const inUse = new Set(
      inventory.filter((e) => e.profile === 'client' && statusOf(e, now) === 'valid').map((e) => e.name),
    );
    for (const user of names) {
      if (!inUse.has(user))
        add({ code: 'USER_WITHOUT_CERTIFICATE', severity: 'warning', file: rel(p.users), user });
    }
    for (const user of inUse) {
      if (!(user in users.users)) {
        add({ code: 'CERTIFICATE_WITHOUT_USER', severity: 'warning', file: rel(p.users), user });
      }
    }
  }

  // Hosts the server must answer for.
  for (const host of o.hosts ?? []) {
    const covered = serverCertificates.some((c) =>
      /^[\d.]+$|:/.test(host)
        ? c.x509.checkIP(host) !== undefined
        : c.x509.checkHost(host, { subject: 'never' }) !== undefined,
    );
    if (!covered) add({ code: 'HOST_NOT_COVERED', severity: 'error', file: 'server/', host });
  }

  return { dir: store.display(store.root), findings, notes, checked };
}

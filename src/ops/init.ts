/** `init`: a new CA, a server leaf for this machine, the server key store and both trust stores. */
import { DEFAULT_CRL_DAYS } from '../pki/crl-lifetime.js';
import { MtlsCaError } from '../pki/errors.js';
import { hostsToAltNames } from '../pki/general-names.js';
import { createJks } from '../pki/jks.js';
import { exportPrivateKeyPem, generateKeyPair, type KeyType } from '../pki/keys.js';
import { assertCommonName } from '../pki/names.js';
import { createPkcs12, createTrustStorePkcs12, type Pkcs12Profile } from '../pki/pkcs12.js';
import { createRootCa, issueServerCertificate } from '../pki/profiles.js';
import { MODE_PUBLIC, MODE_SECRET } from '../store/atomic.js';
import type { CaStore } from '../store/ca-store.js';
import { assertCaPasswordLength } from './ca-password.js';
import {
  assertDays,
  FileList,
  type StorePasswordChoice,
  storePasswordFor,
  type WrittenFile,
} from './common.js';
import { stageCrl } from './crl.js';
import { auditRecord, type CertificateSummary, issueEvent, summarize } from './records.js';

/** Names every server certificate from `init` carries, so the demo works for any local client. */
const LOCAL_HOSTS = ['localhost', '127.0.0.1', '::1'];

export interface InitOptions {
  caName: string;
  keyType: KeyType;
  caDays: number;
  /** Extra server names beyond {@link LOCAL_HOSTS}. */
  hosts: string[];
  serverDays: number;
  p12Profile: Pkcs12Profile;
  /** Move an existing CA directory's contents to a backup folder first. */
  force: boolean;
  /** The CA key password; null stores the key unencrypted (an explicit choice, for demos). */
  caPassword: string | null;
  store: StorePasswordChoice;
  now?: Date;
}

export interface InitResult {
  dir: string;
  ca: CertificateSummary & { keyEncrypted: boolean };
  server: CertificateSummary;
  files: WrittenFile[];
  passwordFiles: string[];
  backup?: string;
}

/** CA_EXISTS unless `force`: a CA key is never replaced by accident. */
export function refuseExistingCa(store: CaStore, force: boolean): void {
  if (store.isInitialized() && !force) {
    throw new MtlsCaError(
      'CA_EXISTS',
      `create CA in ${store.display(store.root)}: a CA already exists (${store.display(store.paths.caCert)})`,
      { detail: { kind: 'ca-exists' } },
    );
  }
}

/** The CA name, trimmed, and the server's subjectAltNames, after checking both (and the days). */
function checkOptions(o: Pick<InitOptions, 'caName' | 'hosts' | 'caDays' | 'serverDays'>) {
  assertDays(o.caDays, 'caDays');
  assertDays(o.serverDays, 'serverDays');
  if (!o.caName.trim()) throw new MtlsCaError('INVALID_ARGUMENT', 'use caName "": the CA name is empty');
  assertCommonName(o.caName.trim(), 'CA name');
  const hosts = [...new Set([...LOCAL_HOSTS, ...o.hosts])];
  return { caName: o.caName.trim(), altNames: hostsToAltNames(hosts) };
}

/**
 * The checks {@link initCa} makes before it generates keys, without the lock: no CA yet (unless `force`), and
 * a valid CA name, hosts and days. What a command runs before it asks for passwords; initCa repeats them
 * (the CA's absence under the lock).
 */
export function checkInit(
  store: CaStore,
  o: Pick<InitOptions, 'caName' | 'hosts' | 'caDays' | 'serverDays' | 'force'>,
): void {
  refuseExistingCa(store, o.force);
  checkOptions(o);
}

export async function initCa(store: CaStore, o: InitOptions): Promise<InitResult> {
  const now = o.now ?? new Date();
  const { caName, altNames } = checkOptions(o);
  if (o.caPassword !== null) assertCaPasswordLength(o.caPassword);
  const refuseExisting = () => refuseExistingCa(store, o.force);
  refuseExisting();

  const [caKeys, serverKeys] = await Promise.all([generateKeyPair(o.keyType), generateKeyPair(o.keyType)]);
  const caCert = createRootCa({ subject: { commonName: caName }, ...caKeys, days: o.caDays, now });
  const ca = { certificate: caCert, privateKey: caKeys.privateKey };
  const serverCert = issueServerCertificate({
    ca,
    publicKey: serverKeys.publicKey,
    altNames,
    days: o.serverDays,
    now,
  });

  return store.lock(() => {
    refuseExisting();
    const tx = store.newTransaction();
    // First: the logs the new CA starts are then empty ones, and the old CA's stay with it in the backup.
    const backup = o.force && store.isInitialized() ? store.stageBackup(tx, now) : undefined;
    const files = new FileList(tx, (f) => store.display(f));
    const p = store.paths;
    const server = p.server();
    files.write(p.caCert, caCert.toPem(), MODE_PUBLIC, 'CA certificate');
    files.write(
      p.caKey,
      exportPrivateKeyPem(caKeys.privateKey, o.caPassword ?? undefined),
      MODE_SECRET,
      o.caPassword === null ? 'CA key (NOT encrypted)' : 'CA key (encrypted)',
    );
    files.write(server.cert, serverCert.toPem(), MODE_PUBLIC, 'server certificate');
    files.write(server.key, exportPrivateKeyPem(serverKeys.privateKey), MODE_SECRET, 'server key');
    const passwordFiles: string[] = [];
    const storePassword = (artifact: string) => {
      const r = storePasswordFor(artifact, o.store, files);
      if (r.passwordFile) passwordFiles.push(store.display(r.passwordFile));
      return r.password;
    };
    files.write(
      server.keyStore,
      createPkcs12({
        privateKey: serverKeys.privateKey,
        certificate: serverCert,
        chain: [caCert],
        friendlyName: 'server',
        password: storePassword(server.keyStore),
        profile: o.p12Profile,
      }),
      MODE_SECRET,
      'server key store (server.ssl.key-store)',
    );
    const trusted = [{ alias: 'ca', certificate: caCert }];
    files.write(
      p.trustStoreJks,
      createJks(trusted, storePassword(p.trustStoreJks), now),
      MODE_PUBLIC,
      'trust store, JKS (server.ssl.trust-store)',
    );
    files.write(
      p.trustStoreP12,
      createTrustStorePkcs12({
        entries: trusted,
        password: storePassword(p.trustStoreP12),
        profile: o.p12Profile,
      }),
      MODE_PUBLIC,
      'trust store, PKCS#12',
    );
    const usersExisted = store.exists(p.users);
    if (!usersExisted || o.force)
      files.write(p.users, '{\n  "users": {}\n}\n', MODE_PUBLIC, 'users and roles');
    store.appendInventory(tx, [
      issueEvent(
        caCert,
        caCert.commonName ?? 'ca',
        'ca',
        [store.relative(p.caCert), store.relative(p.caKey)],
        now,
      ),
      issueEvent(
        serverCert,
        'server',
        'server',
        [store.relative(server.cert), store.relative(server.key)],
        now,
      ),
    ]);

    // An empty CRL from the start, so servers (serve, nginx ssl_crl) can point at it before any revocation;
    // a new CA starts with the default lifetime, whatever the CRL it replaces said.
    const crl = stageCrl(store, tx, ca, [], now, DEFAULT_CRL_DAYS);
    files.files.push({ path: crl.summary.file, mode: '0644', what: 'certificate revocation list' });
    store.appendAudit(
      tx,
      [
        auditRecord('init', caCert, now, { profile: 'ca', keyType: o.keyType }),
        auditRecord('issue', serverCert, now, { profile: 'server' }),
        crl.audit,
      ],
      caKeys.privateKey,
    );
    tx.commit();
    return {
      dir: store.display(store.root),
      ca: { ...summarize(caCert), keyEncrypted: o.caPassword !== null },
      server: summarize(serverCert),
      files: files.files,
      passwordFiles,
      ...(backup ? { backup: store.display(backup) } : {}),
    };
  });
}

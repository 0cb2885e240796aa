/**
 * `init`: a new CA, a server leaf for this machine, the server key store and both trust stores. The CA is its
 * own root, or with `intermediate` two: a root (pathLen 1) and the intermediate it signs (pathLen 0), which
 * issues — `ca/ca.crt` and `ca/ca.key` always mean the CA that issues. Both keys are encrypted with the CA
 * password, one secret to keep; the root's can then be taken offline (root-key.ts).
 */
import { KeyObject } from 'node:crypto';
import type { Certificate } from '../pki/certificate.js';
import { DEFAULT_CRL_DAYS, DEFAULT_ROOT_CRL_DAYS } from '../pki/crl-lifetime.js';
import { MtlsCaError } from '../pki/errors.js';
import { hostsToAltNames } from '../pki/general-names.js';
import { exportPrivateKeyPem, generateKeyPair, type KeyType, keyTypeOf, type Signer } from '../pki/keys.js';
import { assertCommonName } from '../pki/names.js';
import { createPkcs12, type Pkcs12Profile } from '../pki/pkcs12.js';
import {
  type CertificateAuthority,
  createIntermediateCa,
  createRootCa,
  issueServerCertificate,
} from '../pki/profiles.js';
import { MODE_PUBLIC, MODE_SECRET } from '../store/atomic.js';
import type { AuditRecord } from '../store/audit.js';
import type { CaKeyReference } from '../store/ca-state.js';
import type { CaStore, UsersFile } from '../store/ca-store.js';
import type { InventoryEntry, InventoryEvent } from '../store/inventory.js';
import { assertCaPasswordLength } from './ca-password.js';
import {
  assertDays,
  FileList,
  type StorePasswordChoice,
  stateFileListed,
  storePasswordFor,
  type WrittenFile,
} from './common.js';
import { stageCrls } from './crl.js';
import {
  checkPublishUrl,
  publishedRevocationUrls,
  type ResponderSummary,
  revocationUrlsFor,
} from './publishing.js';
import { auditRecord, type CertificateSummary, issueEvent, summarize } from './records.js';
import { hostCopies } from './state-mirror.js';
import { fullchainOf, stageCaBundle, stageTrustStores, type TrustedCa } from './trust-files.js';

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
  /**
   * A root named `caName` and an issuing intermediate below it (named by {@link intermediateName}), instead of
   * one CA that is its own root. Both are valid for `caDays`.
   */
  intermediate?: boolean;
  /**
   * The CA key password, for the root's key too; null stores the keys unencrypted (an explicit choice, for demos).
   * Unused with `tokenKey`.
   */
  caPassword: string | null;
  /**
   * A CA key already made in a PKCS#11 token: the CA signs with it, and the directory keeps its URI
   * (ca/ca-key.uri) where a key file would be. Its type must be `keyType`.
   */
  tokenKey?: TokenCaKey;
  store: StorePasswordChoice;
  /**
   * Where the CA will publish its CRL, OCSP responses and certificate (publishing.ts): the server
   * certificate and every certificate after it carry these URLs. Default: nothing is published.
   */
  publishUrl?: string;
  now?: Date;
}

/** A CA key in a token: it signs, and its URI (without a PIN) is what the CA's store keeps to find it again. */
export interface TokenCaKey extends Signer {
  readonly uri: string;
}

export interface InitResult {
  dir: string;
  /** The CA that issues: the intermediate, with one. */
  /** `keyUri`: where its key is when a token holds it. */
  ca: CertificateSummary & { keyEncrypted: boolean; keyUri?: string };
  /** The root that signed the intermediate, with one. */
  root?: CertificateSummary;
  server: CertificateSummary;
  files: WrittenFile[];
  passwordFiles: string[];
  backup?: string;
  /** The publish URL, normalised, when one was given; and the OCSP responder certificate issued for it. */
  publishUrl?: string;
  responder?: ResponderSummary;
}

/**
 * CA_EXISTS unless `force`: a CA key is never replaced by accident.
 * @param action - what the command does, for the message: `create CA in` (default), `import CA into`
 */
export function refuseExistingCa(store: CaStore, force: boolean, action = 'create CA in'): void {
  if (store.externalState && store.isInitialized()) {
    // A database's CA is shared by every host: never moved aside, whatever `force` says.
    throw new MtlsCaError('CA_EXISTS', `${action} ${store.location}: the database holds a CA already`, {
      detail: { kind: 'ca-exists-in-database' },
    });
  }
  if (store.isInitialized() && !force) {
    throw new MtlsCaError(
      'CA_EXISTS',
      `${action} ${store.display(store.root)}: a CA already exists (${store.display(store.paths.caCert)})`,
      { detail: { kind: 'ca-exists' } },
    );
  }
}

/**
 * The server certificate's names — {@link LOCAL_HOSTS} and `hosts` — after checking them and its days.
 * @param hosts - the names beyond LOCAL_HOSTS
 * @param serverDays - the server certificate's validity (checked: 1 to 36500)
 */
export function serverAltNames(hosts: string[], serverDays: number) {
  assertDays(serverDays, 'serverDays');
  return hostsToAltNames([...new Set([...LOCAL_HOSTS, ...hosts])]);
}

/** The CA name, trimmed, the server's subjectAltNames and the publish URL, after checking them (and the days). */
function checkOptions(o: Pick<InitOptions, 'caName' | 'hosts' | 'caDays' | 'serverDays' | 'publishUrl'>) {
  assertDays(o.caDays, 'caDays');
  assertDays(o.serverDays, 'serverDays');
  if (!o.caName.trim()) throw new MtlsCaError('INVALID_ARGUMENT', 'use caName "": the CA name is empty');
  assertCommonName(o.caName.trim(), 'CA name');
  const publishUrl = o.publishUrl === undefined ? undefined : checkPublishUrl(o.publishUrl);
  return { caName: o.caName.trim(), altNames: serverAltNames(o.hosts, o.serverDays), publishUrl };
}

/**
 * The checks {@link initCa} makes before it generates keys, without the lock: no CA yet (unless `force`), and
 * a valid CA name, hosts and days. What a command runs before it asks for passwords; initCa repeats them
 * (the CA's absence under the lock).
 */
export function checkInit(
  store: CaStore,
  o: Pick<InitOptions, 'caName' | 'hosts' | 'caDays' | 'serverDays' | 'force' | 'publishUrl'>,
): void {
  refuseExistingCa(store, o.force);
  checkOptions(o);
}

/**
 * The name of the first intermediate under a root named `rootName`. Rotation counts on from it
 * ({@link nextCaName}): the CAs of a directory are told apart by name, by servers matching a CRL to its CA
 * as by people reading `list`.
 */
export function intermediateName(rootName: string): string {
  return `${rootName} Intermediate 1`;
}

/**
 * The name of the CA that replaces one named `name`: its number one up (`Acme Intermediate 1` → `Acme
 * Intermediate 2`), or ` 2` added (`Acme` → `Acme 2`).
 */
export function nextCaName(name: string): string {
  const m = /^(.*\S) (\d{1,6})$/.exec(name);
  return m ? `${m[1]} ${Number(m[2]) + 1}` : `${name} 2`;
}

export async function initCa(store: CaStore, o: InitOptions): Promise<InitResult> {
  const now = o.now ?? new Date();
  const { caName, altNames, publishUrl } = checkOptions(o);
  const token = o.tokenKey;
  if (token && keyTypeOf(token.publicKey) !== o.keyType) {
    throw new MtlsCaError(
      'WRONG_KEY_TYPE',
      `create CA with the token key ${token.uri}: it is ${keyTypeOf(token.publicKey)}, not ${o.keyType}`,
    );
  }
  if (token && o.intermediate) {
    // the root's key would be a file, and with a token there is no CA password to encrypt it with
    throw new MtlsCaError(
      'UNSUPPORTED',
      `create CA with the token key ${token.uri}: a token key for a CA with an intermediate is not supported`,
    );
  }
  if (o.caPassword !== null && !token) assertCaPasswordLength(o.caPassword);
  refuseExistingCa(store, o.force);

  const [caKeys, serverKeys, rootKeys] = await Promise.all([
    token ? { privateKey: token, publicKey: token.publicKey } : generateKeyPair(o.keyType),
    generateKeyPair(o.keyType),
    o.intermediate ? generateKeyPair(o.keyType) : undefined,
  ]);
  let root: CertificateAuthority | undefined;
  let caCert: Certificate;
  if (rootKeys) {
    const rootCert = createRootCa({
      subject: { commonName: caName },
      ...rootKeys,
      pathLength: 1,
      days: o.caDays,
      now,
    });
    root = { certificate: rootCert, privateKey: rootKeys.privateKey };
    caCert = createIntermediateCa({
      root,
      subject: { commonName: intermediateName(caName) },
      ...caKeys,
      days: o.caDays,
      now,
    });
  } else {
    caCert = createRootCa({ subject: { commonName: caName }, ...caKeys, days: o.caDays, now });
  }
  const ca = { certificate: caCert, privateKey: caKeys.privateKey };
  const serverCert = issueServerCertificate({
    ca,
    publicKey: serverKeys.publicKey,
    altNames,
    days: o.serverDays,
    now,
    revocation: publishUrl === undefined ? undefined : revocationUrlsFor(publishUrl),
  });
  const written = await writeCaDirectory(store, {
    ca,
    root,
    caPassword: o.caPassword,
    ...(token ? { caKeyUri: token.uri } : {}),
    caAudit: root
      ? [
          auditRecord('init', root.certificate, now, {
            profile: 'ca',
            keyType: o.keyType,
            role: 'root',
            ...(publishUrl ? { publishUrl } : {}),
          }),
          auditRecord('issue', caCert, now, { profile: 'ca', role: 'intermediate' }),
        ]
      : [
          auditRecord('init', caCert, now, {
            profile: 'ca',
            keyType: o.keyType,
            ...(token ? { keyUri: token.uri } : {}),
            ...(publishUrl ? { publishUrl } : {}),
          }),
        ],
    publishUrl,
    caIssuedAt: now,
    server: { certificate: serverCert, privateKey: serverKeys.privateKey },
    p12Profile: o.p12Profile,
    store: o.store,
    force: o.force,
    now,
  });
  return {
    dir: store.display(store.root),
    ca: token
      ? { ...summarize(caCert), keyEncrypted: false, keyUri: token.uri }
      : { ...summarize(caCert), keyEncrypted: o.caPassword !== null },
    ...(root ? { root: summarize(root.certificate) } : {}),
    server: summarize(serverCert),
    ...written,
  };
}

/** Certificates a CA issued before mtls-ca held it (`import`), as they enter the directory. */
export interface CaHistory {
  /** Their inventory events (issues and revocations), in order. */
  events: InventoryEvent[];
  /** The audit lines of those events. */
  audit: AuditRecord[];
  /** Their records as the events fold them: the revoked ones go into the first CRL. */
  entries: InventoryEntry[];
  /** Files written for them (copies of their certificates), in the directory. */
  files: { path: string; data: string; what: string }[];
}

/** Everything {@link writeCaDirectory} writes: a CA held, and what it has already made. */
export interface NewCaDirectory {
  /** The CA that issues. */
  ca: CertificateAuthority;
  /** The root that signed `ca`, when `ca` is an intermediate. */
  root?: CertificateAuthority;
  /** The CA key password, for the root's key too; null stores the keys unencrypted. */
  caPassword: string | null;
  /** The URI of the CA key in a token (`ca.privateKey` is its signer): written instead of a key file. */
  caKeyUri?: string;
  /** The CA's audit lines: made here (`init`) or brought in (`import`). */
  caAudit: AuditRecord[];
  /** When the CA was issued, for its inventory record. */
  caIssuedAt: Date;
  /** The server leaf for this machine, and its key. */
  server: { certificate: Certificate; privateKey: KeyObject };
  p12Profile: Pkcs12Profile;
  store: StorePasswordChoice;
  /** Move an existing CA directory's contents to a backup folder first. */
  force: boolean;
  history?: CaHistory;
  /** Roles to merge into users.json, by user name. */
  users?: Map<string, string[]>;
  /** What the command does, for the message when a CA is there: see {@link refuseExistingCa}. */
  action?: string;
  /** The publish URL (checked), written to the CA's settings; the OCSP responder is then issued too. */
  publishUrl?: string;
  now: Date;
}

/**
 * Writes a CA directory in one commit (commit.ts), under the lock: the CA certificate and key, the server
 * certificate, key and key store, both trust stores, users.json, the inventory, a first CRL and the audit log —
 * moving an existing CA to a backup folder first with `force`, refusing it otherwise. What `init` and `import`
 * share; they differ in where the CA comes from and in its history.
 * @param store - the CA directory
 * @param d - the CA, its server certificate, and what else goes in
 */
export function writeCaDirectory(
  store: CaStore,
  d: NewCaDirectory,
): Promise<Pick<InitResult, 'files' | 'passwordFiles' | 'backup' | 'publishUrl' | 'responder'>> {
  const { ca, root, now } = d;
  const caCert = ca.certificate;
  const serverCert = d.server.certificate;
  const cas: TrustedCa[] = [
    { role: 'issuing', certificate: caCert },
    ...(root ? [{ role: 'root' as const, certificate: root.certificate }] : []),
  ];
  return store.lock(async () => {
    refuseExistingCa(store, d.force, d.action);
    const tx = store.newTransaction();
    // First: the logs the new CA starts are then empty ones, and the old CA's stay with it in the backup.
    const backup = d.force && store.isInitialized() ? store.stageBackup(tx, now) : undefined;
    if (d.publishUrl !== undefined) store.stageSettings(tx, { publishUrl: d.publishUrl });
    const files = new FileList(tx, (f) => store.display(f));
    const p = store.paths;
    const server = p.server();
    const encrypted = d.caPassword === null ? 'NOT encrypted' : 'encrypted';
    if (root) {
      // a root made here or imported: its key is in this process (a token CA has no root, see initCa)
      if (!(root.privateKey instanceof KeyObject))
        throw new Error('a root key held elsewhere cannot be written');
      store.stageRoot(tx, root.certificate, {
        kind: 'pem',
        pem: exportPrivateKeyPem(root.privateKey, d.caPassword ?? undefined),
      });
      files.files.push(
        { path: store.display(p.rootCert), mode: '0644', what: 'root CA certificate' },
        stateFileListed(store, p.rootKey, '0600', `root CA key (${encrypted}; keep it offline)`),
      );
    }
    const issuing = root ? 'issuing CA (intermediate)' : 'CA';
    if (d.caKeyUri === undefined && !(ca.privateKey instanceof KeyObject))
      throw new Error('a CA key held elsewhere needs its URI to be written');
    const key: CaKeyReference =
      d.caKeyUri !== undefined
        ? { kind: 'uri', uri: d.caKeyUri }
        : { kind: 'pem', pem: exportPrivateKeyPem(ca.privateKey as KeyObject, d.caPassword ?? undefined) };
    store.stageCa(tx, caCert, key);
    files.files.push(
      { path: store.display(p.caCert), mode: '0644', what: `${issuing} certificate` },
      key.kind === 'uri'
        ? stateFileListed(store, p.caKeyUri, '0644', `where the ${issuing} key is: a PKCS#11 token`)
        : stateFileListed(store, p.caKey, '0600', `${issuing} key (${encrypted})`),
    );
    stageCaBundle(store, files, cas);
    for (const f of d.history?.files ?? []) files.write(f.path, f.data, MODE_PUBLIC, f.what);
    const passwordFiles = stageServerFiles(store, files, {
      ca,
      cas,
      server: d.server,
      p12Profile: d.p12Profile,
      store: d.store,
      now,
    });
    // A users.json already there (and no CA) was written for this CA: it is kept, and gains the new roles.
    const fresh: UsersFile | undefined = store.exists(p.users) && !d.force ? undefined : { users: {} };
    if (d.users?.size) {
      store.mergeUsersRoles(tx, d.users, fresh);
      files.files.push({ path: store.display(p.users), mode: '0644', what: 'users and roles' });
    } else if (fresh) {
      files.write(p.users, `${JSON.stringify(fresh, null, 2)}\n`, MODE_PUBLIC, 'users and roles');
    }
    const caEvent = (cert: Certificate, files: string[]) =>
      issueEvent(
        cert,
        cert.commonName ?? 'ca',
        'ca',
        files.map((f) => store.relative(f)),
        d.caIssuedAt,
      );
    store.appendInventory(tx, [
      // The root's key is left out: it may leave the directory (root export), and the inventory never
      // names a file that is not there.
      ...(root ? [caEvent(root.certificate, [p.rootCert])] : []),
      caEvent(caCert, [p.caCert, d.caKeyUri !== undefined ? p.caKeyUri : p.caKey]),
      ...(d.history?.events ?? []),
      issueEvent(
        serverCert,
        'server',
        'server',
        [server.cert, ...(fullchainOf(serverCert, caCert) ? [server.fullchain] : []), server.key].map((f) =>
          store.relative(f),
        ),
        now,
      ),
    ]);

    // CRLs from the start — empty, or listing what the CA had revoked before — so servers (serve, nginx
    // ssl_crl) can point at them before any revocation here; a new CA directory starts with the default
    // lifetimes, whatever the CRLs it replaces said.
    const crls = stageCrls(store, tx, {
      cas,
      sign: root ? [ca, root] : [ca],
      entries: d.history?.entries ?? [],
      now,
      days: (c) => (c.role === 'root' ? DEFAULT_ROOT_CRL_DAYS : DEFAULT_CRL_DAYS),
    });
    files.files.push({
      path: crls.signed[0]!.file,
      mode: '0644',
      what: root ? 'the CRLs of the intermediate and the root' : 'certificate revocation list',
    });
    if (d.publishUrl !== undefined)
      files.files.push({ path: store.display(p.settings), mode: '0644', what: 'settings (publish URL)' });
    if (crls.responder) {
      files.files.push(
        { path: crls.responder.file, mode: '0644', what: 'OCSP responder certificate' },
        { path: store.display(p.ocspKey), mode: '0600', what: 'OCSP responder key (for publish)' },
      );
    }
    store.appendAudit(
      tx,
      [
        ...d.caAudit,
        ...(d.history?.audit ?? []),
        auditRecord('issue', serverCert, now, { profile: 'server' }),
        ...crls.audit,
      ],
      ca.privateKey,
    );
    await tx.commitAsync();
    return {
      files: files.files,
      passwordFiles,
      ...(backup ? { backup: store.display(backup) } : {}),
      ...(d.publishUrl ? { publishUrl: d.publishUrl } : {}),
      ...(crls.responder ? { responder: crls.responder } : {}),
    };
  });
}

/**
 * Stages the files of this host's server: its certificate (and, under an intermediate, the full chain) and
 * key, `keyStore.p12`, and the CAs in force in `trustStore.jks` and `trustStore.p12`. What `init`, `import`
 * and `init --join` write alike.
 * @returns the generated password files, as displayed
 */
function stageServerFiles(
  store: CaStore,
  files: FileList,
  d: Pick<NewCaDirectory, 'ca' | 'server' | 'p12Profile' | 'store' | 'now'> & { cas: readonly TrustedCa[] },
): string[] {
  const caCert = d.ca.certificate;
  const serverCert = d.server.certificate;
  const server = store.paths.server();
  files.write(server.cert, serverCert.toPem(), MODE_PUBLIC, 'server certificate');
  const fullchain = fullchainOf(serverCert, caCert);
  if (fullchain) files.write(server.fullchain, fullchain, MODE_PUBLIC, 'server certificate + intermediate');
  files.write(server.key, exportPrivateKeyPem(d.server.privateKey), MODE_SECRET, 'server key');
  const passwordFiles: string[] = [];
  const storePassword = (artifact: string) => {
    const r = storePasswordFor(artifact, d.store, files);
    if (r.passwordFile) passwordFiles.push(store.display(r.passwordFile));
    return r.password;
  };
  files.write(
    server.keyStore,
    createPkcs12({
      privateKey: d.server.privateKey,
      certificate: serverCert,
      chain: [caCert],
      friendlyName: 'server',
      password: storePassword(server.keyStore),
      profile: d.p12Profile,
    }),
    MODE_SECRET,
    'server key store (server.ssl.key-store)',
  );
  stageTrustStores(store, files, d.cas, { storePassword, p12Profile: d.p12Profile, now: d.now });
  return passwordFiles;
}

export interface JoinOptions {
  /** Extra server names beyond localhost, 127.0.0.1 and ::1. */
  hosts: string[];
  serverDays: number;
  p12Profile: Pkcs12Profile;
  /** The CA password, which signs this host's server certificate. */
  caPassword: string | undefined;
  store: StorePasswordChoice;
  now?: Date;
}

export interface JoinResult {
  dir: string;
  database: string;
  ca: CertificateSummary;
  server: CertificateSummary;
  files: WrittenFile[];
  passwordFiles: string[];
}

/**
 * Sets up this host's directory for a CA kept elsewhere (a database): a server certificate for this host
 * signed by the CA, its key store and the trust stores (the roots in force), and copies of the CA
 * certificates in force, the chain, their CRLs and users.json for its servers (state-mirror.ts). Recorded in the CA's inventory and audit chain like any issuance.
 * @param store - this host's directory, on the CA's state
 */
export async function joinCa(store: CaStore, o: JoinOptions): Promise<JoinResult> {
  const now = o.now ?? new Date();
  const altNames = serverAltNames(o.hosts, o.serverDays);
  if (!store.externalState) {
    throw new MtlsCaError(
      'INVALID_ARGUMENT',
      `join ${store.display(store.root)}: the CA is not kept in a database`,
    );
  }
  store.assertInitialized();
  if (store.exists(store.paths.caCert)) {
    throw new MtlsCaError(
      'CA_EXISTS',
      `join ${store.display(store.root)}: it holds a CA certificate already (${store.display(store.paths.caCert)})`,
      { hint: 'this directory has joined the CA already: set up another host in another directory' },
    );
  }
  const ca = store.loadCa(o.caPassword);
  const serverKeys = await generateKeyPair(keyTypeOf(ca.certificate.publicKey));
  const serverCert = issueServerCertificate({
    ca,
    publicKey: serverKeys.publicKey,
    altNames,
    days: o.serverDays,
    now,
    revocation: publishedRevocationUrls(store),
  });
  return store.lock(async () => {
    const tx = store.newTransaction();
    const files = new FileList(tx, (f) => store.display(f));
    const p = store.paths;
    // The chain as the database holds it: the root, CAs a rotation replaced and their CRLs come along.
    for (const copy of hostCopies(store)) files.write(copy.file, copy.data, MODE_PUBLIC, copy.what);
    const cas: TrustedCa[] = store.casInForce();
    const passwordFiles = stageServerFiles(store, files, {
      ca,
      cas,
      server: { certificate: serverCert, privateKey: serverKeys.privateKey },
      p12Profile: o.p12Profile,
      store: o.store,
      now,
    });
    const server = p.server();
    store.appendInventory(tx, [
      issueEvent(
        serverCert,
        'server',
        'server',
        [store.relative(server.cert), store.relative(server.key)],
        now,
      ),
    ]);
    store.appendAudit(
      tx,
      [auditRecord('issue', serverCert, now, { profile: 'server', joined: true })],
      ca.privateKey,
    );
    await tx.commitAsync();
    return {
      dir: store.display(store.root),
      database: store.location,
      ca: summarize(ca.certificate),
      server: summarize(serverCert),
      files: files.files,
      passwordFiles,
    };
  });
}

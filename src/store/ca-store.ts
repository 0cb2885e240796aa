/**
 * The CA directory, for the commands: every read and every write they make of it goes through here (the
 * operations in src/ops import no `node:fs`). Commands hand it finished artifacts inside a {@link Transaction};
 * it holds the lock, keeps modes right and refuses to lose a CA key. Every command that takes the lock first
 * finishes a commit a crash interrupted (commit.ts), and the readers here do the same before they trust the
 * files (see {@link CaStore.readFinished}). A failed read is IO_FAILED, naming the file, never an internal
 * error. (The server, a long-running reader of the files it serves, reads and watches them itself.)
 */

import { type KeyObject, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Certificate } from '../pki/certificate.js';
import { Crl } from '../pki/crl.js';
import * as der from '../pki/der.js';
import { MtlsCaError } from '../pki/errors.js';
import {
  isEncryptedPrivateKey,
  parsePrivateKey,
  type Signer,
  type SigningKey,
  sign,
  signatureAlgorithmFor,
  verify,
} from '../pki/keys.js';
import type { CertificateAuthority } from '../pki/profiles.js';
import { MODE_PUBLIC, MODE_SECRET, Transaction } from './atomic.js';
import {
  type AuditRecord,
  type AuditTail,
  type AuditVerification,
  auditTail,
  encodeAudit,
  GENESIS,
  verifyAuditLog,
} from './audit.js';
import { openCaKey } from './ca-key.js';
import type { CaKeyReference, CaState, StateCa, UsersFile } from './ca-state.js';
import { commitPending, INTENT_FILE, recoverCommit } from './commit.js';
import {
  type CertificateProfile,
  type InventoryEntry,
  type InventoryEvent,
  type InventoryRecords,
  readInventory,
} from './inventory.js';
import { encodeInventoryAppend, encodeInventoryIndex, inventoryIndexState } from './inventory-index.js';
import { findNamesLike, readInventoryIndex } from './inventory-index-reader.js';
import { describeErrno, ioFailure } from './io-error.js';
import { type CaFiles, type Layout, layout } from './layout.js';
import { holdsLock, withLock, withLockIfFree } from './lock.js';
import { encodeNameAppend, encodeNameIndex, findNamesInIndex, NAMES_HEADER } from './name-index.js';
import { type CaSettings, encodeSettings, parseSettings } from './settings.js';

export type { CaRole, UsersFile } from './ca-state.js';

export interface CaStoreOptions {
  /**
   * Read the files as they are: never finish or undo a commit that a killed command left (which writes), and
   * refuse the lock and transactions. For a reader that reports such a commit instead (`doctor`).
   */
  readOnly?: boolean;
  /**
   * Where the CA's state lives when not in the directory's files: a database (postgres/state.ts). The
   * directory then keeps what belongs to this host — its server and client files, the CA certificate, and
   * copies of the CRL and users.json for the servers that read them — and the state's methods below answer
   * from `state`.
   */
  state?: CaState;
}

/**
 * A CA in force in the directory: trusted, its CRL in `ca/crl.pem` — the CA that issues (`ca/ca.crt`), the
 * root that signed it (`ca/root.crt`, with an intermediate), or one that a rotation replaced and that stays
 * trusted until retired (`ca/previous/`). With the state in a database, the files are this host's copies of
 * the certificates, and the keys are there (see {@link CaStore.hasCaKey}).
 */
export interface CaInForce extends StateCa {
  certFile: string;
  /** Its key file, which may be missing: a root taken offline. */
  keyFile: string;
}

/** What a transaction has staged into the logs so far. */
interface StagedLogs {
  /** inventory.jsonl's byte length after the staged inventory lines. */
  inventoryBytes?: number;
  /** The audit log's tail after the staged audit lines. */
  audit?: AuditTail;
  /** The transaction moves the current CA away first ({@link CaStore.stageBackup}): its logs start empty. */
  fresh?: boolean;
  /** The settings it writes, if it writes them. */
  settings?: CaSettings;
}

/** A file or folder of the CA directory, as {@link CaStore.entries} lists it. */
export interface CaDirectoryEntry {
  /** Relative to the CA directory, with `/`. */
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'other';
  /** The permission bits (`0o644`). */
  mode: number;
}

/**
 * The CA directory, and the store contract ({@link CaState}) kept in its files — or, given a `state`, in that
 * store, with the directory holding this host's files.
 */
export class CaStore implements CaState {
  readonly paths: Layout;
  readonly readOnly: boolean;
  readonly #state: CaState | undefined;

  /**
   * @param root - the CA directory; relative paths resolve against the current directory
   * @param options - read-only access, and where the state lives when not in the directory's files
   */
  constructor(
    readonly root: string,
    options: CaStoreOptions = {},
  ) {
    this.paths = layout(root);
    this.readOnly = options.readOnly ?? false;
    this.#state = options.state;
  }

  /** Where the CA's state lives: the CA directory, or the database (its URL without a password). */
  get location(): string {
    return this.#state?.location ?? this.display(this.root);
  }

  /** The state's store when it is not the directory's files, for what only it can do (a database's). */
  get externalState(): CaState | undefined {
    return this.#state;
  }

  /** A path relative to the CA directory, for messages and inventory records. */
  relative(file: string): string {
    return path.relative(this.root, file);
  }

  /** A path as the user would type it from the current directory (for messages). */
  display(file: string): string {
    const rel = path.relative(process.cwd(), file);
    return rel && !rel.startsWith('..') ? rel : file;
  }

  isInitialized(): boolean {
    if (this.#state) return this.#state.isInitialized();
    this.#settle();
    return [this.paths.caCert, this.paths.caKey, this.paths.caKeyUri].some((f) => fs.existsSync(f));
  }

  assertInitialized(): void {
    if (this.#state) {
      this.#state.assertInitialized();
      return;
    }
    this.#settle();
    const hasKey = fs.existsSync(this.paths.caKey) || fs.existsSync(this.paths.caKeyUri);
    if (!fs.existsSync(this.paths.caCert) || !hasKey) {
      const missing = fs.existsSync(this.paths.caCert) ? this.paths.caKey : this.paths.caCert;
      throw new MtlsCaError(
        'CA_NOT_INITIALIZED',
        `read ${this.display(missing)}: no CA in ${this.display(this.root)}`,
        { detail: { kind: 'no-ca', dir: this.display(this.root) } },
      );
    }
  }

  readCaCertificate(): Certificate {
    if (this.#state) return this.#state.readCaCertificate();
    this.assertInitialized();
    return Certificate.from(this.#read(this.paths.caCert), this.display(this.paths.caCert));
  }

  /** The root that signed the issuing CA (`ca/root.crt`), or undefined for a CA that is its own root. */
  readRootCertificate(): Certificate | undefined {
    return this.readCertificate(this.paths.rootCert);
  }

  /**
   * Every CA in force, the issuing CA first, then its root (with an intermediate), then the CAs a rotation
   * replaced, newest first: the CAs servers trust and whose CRLs `ca/crl.pem` holds.
   */
  casInForce(): CaInForce[] {
    const p = this.paths;
    if (this.#state) {
      return this.#state.casInForce().map((ca) => {
        const files =
          ca.role === 'issuing'
            ? { cert: p.caCert, key: p.caKey }
            : ca.role === 'root'
              ? { cert: p.rootCert, key: p.rootKey }
              : p.previous(ca.certificate.serialHex);
        return { ...ca, certFile: files.cert, keyFile: files.key };
      });
    }
    // The issuing CA's certificate, its key there or not (a copy of the directory on a server has none).
    const issuing = this.readCertificate(p.caCert) ?? this.readCaCertificate();
    const cas: CaInForce[] = [
      { role: 'issuing', certificate: issuing, certFile: p.caCert, keyFile: p.caKey },
    ];
    const root = this.readRootCertificate();
    if (root) cas.push({ role: 'root', certificate: root, certFile: p.rootCert, keyFile: p.rootKey });
    for (const { certificate, files } of this.#casIn(p.previousDir, (serial) => p.previous(serial)))
      cas.push({ role: 'previous', certificate, certFile: files.cert, keyFile: files.key });
    return cas;
  }

  /** The CAs retired from trust (`ca/retired/`), newest first: they signed audit lines in their time. */
  retiredCas(): Certificate[] {
    if (this.#state) return this.#state.retiredCas();
    return this.#casIn(this.paths.retiredDir, (serial) => this.paths.retired(serial)).map(
      (c) => c.certificate,
    );
  }

  /** The CA certificates of the folders in `dir` (one per CA, named by its serial), newest first. */
  #casIn(dir: string, files: (serial: string) => CaFiles): { certificate: Certificate; files: CaFiles }[] {
    this.#settle();
    let entries: string[];
    try {
      entries = fs.readdirSync(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw ioFailure('read', this.display(dir), e);
    }
    return entries
      .flatMap((serial) => {
        const f = files(serial);
        const certificate = this.readCertificate(f.cert);
        return certificate ? [{ certificate, files: f }] : [];
      })
      .sort((a, b) => b.certificate.notBefore.getTime() - a.certificate.notBefore.getTime());
  }

  /**
   * The key of a CA in force other than through {@link loadCa}: the root's, or a previous CA's. It is
   * encrypted with the CA password, as the issuing CA's key is.
   * @param ca - from {@link casInForce}
   * @param password - the CA password; ignored for an unencrypted key
   * @throws MtlsCaError NOT_FOUND when the key is not in the directory (a root taken offline: detail
   *   `root-key-offline`), BAD_PASSWORD / PASSWORD_REQUIRED (detail `ca-password`)
   */
  loadCaKey(ca: StateCa, password: string | undefined): CertificateAuthority {
    if (this.#state) return this.#state.loadCaKey(ca, password);
    if (ca.role === 'issuing') return this.loadCa(password);
    const file = this.#keyFileOf(ca);
    const data = this.#readIfPresent(file);
    if (!data) throw this.#keyMissing(ca, file);
    return { certificate: ca.certificate, privateKey: this.#parseCaKey(data, file, password) };
  }

  /** Whether the key of a CA in force is held: in the directory, or in the state's store. */
  hasCaKey(ca: StateCa): boolean {
    if (this.#state) return this.#state.hasCaKey(ca);
    return ca.role === 'issuing' || this.exists(this.#keyFileOf(ca));
  }

  /**
   * Where the key of `ca` is kept, for messages: its file (`ssl/ca/root.key`), or, with the state elsewhere,
   * `in <the database>`.
   */
  caKeyPlace(ca: CaInForce): string {
    return this.#state ? `in ${this.#state.location}` : this.display(ca.keyFile);
  }

  /** The key file of a CA of the directory. */
  #keyFileOf(ca: StateCa): string {
    const p = this.paths;
    if (ca.role === 'issuing') return p.caKey;
    return ca.role === 'root' ? p.rootKey : p.previous(ca.certificate.serialHex).key;
  }

  #keyMissing(ca: StateCa, file: string): MtlsCaError {
    return new MtlsCaError(
      'NOT_FOUND',
      `read ${this.display(file)}: the key of ${ca.certificate.subjectName} is not in ${this.display(this.root)}`,
      { detail: ca.role === 'root' ? { kind: 'root-key-offline' } : { kind: 'ca-key-missing' } },
    );
  }

  /** A CA key file's key, with a wrong or missing password said to be the CA password's. */
  #parseCaKey(data: Buffer, file: string, password: string | undefined): KeyObject {
    return openCaKey(data, password, this.display(file));
  }

  readCaKey(ca?: StateCa): CaKeyReference {
    if (this.#state) return this.#state.readCaKey(ca);
    if (ca && ca.role !== 'issuing') {
      const file = this.#keyFileOf(ca);
      const data = this.#readIfPresent(file);
      if (!data) throw this.#keyMissing(ca, file);
      return { kind: 'pem', pem: data.toString('latin1') };
    }
    const uri = this.tokenKeyUri();
    if (uri !== undefined) return { kind: 'uri', uri };
    return { kind: 'pem', pem: this.#read(this.paths.caKey).toString('latin1') };
  }

  /** Whether the CA key file is encrypted; false for a CA whose key is in a token (see {@link tokenKeyUri}). */
  isCaKeyEncrypted(): boolean {
    if (this.#state) return this.#state.isCaKeyEncrypted();
    if (this.tokenKeyUri() !== undefined) return false;
    return isEncryptedPrivateKey(this.#read(this.paths.caKey).toString('latin1'));
  }

  /**
   * The PKCS#11 URI of the CA key when a token holds it (ca/ca-key.uri), or undefined for a key file. Whoever
   * opens the token hands its signer back with {@link useTokenKey} before {@link loadCa}.
   */
  tokenKeyUri(): string | undefined {
    if (this.#state) {
      const key = this.#state.readCaKey();
      return key.kind === 'uri' ? key.uri : undefined;
    }
    this.assertInitialized();
    const text = this.#readIfPresent(this.paths.caKeyUri)?.toString('utf8').trim();
    if (text === undefined) return undefined;
    if (!text.startsWith('pkcs11:')) {
      throw new MtlsCaError('PARSE_FAILED', `read ${this.display(this.paths.caKeyUri)}: not a pkcs11: URI`);
    }
    return text;
  }

  /** The signer of the CA's token key, once {@link useTokenKey} checked it. */
  #tokenKey: Signer | undefined;

  /**
   * Gives the store the signer of the CA key that {@link tokenKeyUri} names, which {@link loadCa} returns from
   * then on. It must sign for the CA certificate: a signature over a fresh challenge is verified with the
   * certificate's public key, so a token key of another CA (same label, another token) is refused here.
   * @param signer - the opened token key
   * @throws MtlsCaError KEY_MISMATCH when it is not the CA certificate's key
   */
  useTokenKey(signer: Signer): void {
    const certificate = this.readCaCertificate();
    const challenge = Buffer.concat([Buffer.from('mtls-ca key check '), randomBytes(32)]);
    const algorithm = der.readOid(der.decode(signatureAlgorithmFor(certificate.publicKey)).children[0]!);
    if (!verify(certificate.publicKey, algorithm, challenge, sign(signer, challenge))) {
      throw new MtlsCaError(
        'KEY_MISMATCH',
        `check the token key: it does not sign for ${this.#state ? `the CA certificate in ${this.location}` : this.display(this.paths.caCert)} (another CA's key)`,
      );
    }
    this.#tokenKey = signer;
  }

  /**
   * Loads the CA certificate and key: the key file, or the token key given to {@link useTokenKey}.
   * @param password - the CA key password; ignored for an unencrypted key and a token key
   */
  loadCa(password: string | undefined): CertificateAuthority {
    const certificate = this.readCaCertificate();
    if (this.tokenKeyUri() !== undefined) {
      // A programming error, not a user's: the command opens the token before it uses the CA.
      if (!this.#tokenKey) throw new Error('loadCa() of a CA whose key is in a token, before useTokenKey()');
      // As for a database's key in it (below): ca/ca.crt is then a host's copy, maybe still to come (--join).
      if (!this.#state) this.#loadedCa = certificate.der;
      return { certificate, privateKey: this.#tokenKey };
    }
    if (this.#state) return this.#state.loadCa(password);
    const privateKey = this.#parseCaKey(this.#read(this.paths.caKey), this.paths.caKey, password);
    this.#loadedCa = certificate.der;
    return { certificate, privateKey };
  }

  /**
   * A cheap identity of the inventory's content — inode, length and modification time of inventory.jsonl — so
   * that a check made from the inventory before the lock need not be repeated under it while this is unchanged:
   * every change appends to the log (or replaces it).
   */
  inventoryVersion(): string {
    if (this.#state) return this.#state.inventoryVersion();
    try {
      const st = fs.statSync(this.paths.inventory, { bigint: true });
      return `${st.ino}:${st.size}:${st.mtimeNs}`;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'none';
      throw e;
    }
  }

  /**
   * Whether a file exists: one of the CA directory, or one a transaction will write elsewhere (the `out` of
   * signCsr). One that cannot be looked at counts as missing: writing it then fails, saying why.
   * @param file - an absolute path, normally from {@link CaStore.paths}
   */
  exists(file: string): boolean {
    this.#settle();
    return fs.existsSync(file);
  }

  /**
   * A certificate file of the CA directory (a client's, a server's), or undefined when there is none.
   * @param file - from {@link CaStore.paths}
   * @throws MtlsCaError IO_FAILED when it cannot be read, PARSE_FAILED when it holds no certificate
   */
  readCertificate(file: string): Certificate | undefined {
    const data = this.#readIfPresent(file);
    return data && Certificate.from(data, this.display(file));
  }

  /**
   * An unencrypted private key file of the CA directory (a client's or a server's; never the CA key, which
   * {@link CaStore.loadCa} reads), or undefined when there is none.
   * @param file - from {@link CaStore.paths}
   */
  readPrivateKey(file: string): KeyObject | undefined {
    const data = this.#readIfPresent(file);
    return data && parsePrivateKey(data, undefined, this.display(file));
  }

  /**
   * The password mtls-ca generated for an artifact and wrote beside it (`<artifact>.pass`), or undefined when
   * there is none (the user gave the password).
   * @param artifact - the .p12 or key store, from {@link CaStore.paths}
   */
  readGeneratedPassword(artifact: string): string | undefined {
    return this.#readIfPresent(this.paths.passwordFile(artifact))?.toString('utf8').split(/\r?\n/)[0];
  }

  /**
   * The bytes of a file of the CA directory (a .p12, a trust store, the CA key), or undefined when there is none.
   * @param file - from {@link CaStore.paths}
   */
  readArtifact(file: string): Buffer | undefined {
    return this.#readIfPresent(file);
  }

  /**
   * Every file and folder under the CA directory, `backups/` left out, folders before what they hold: what a
   * check of names and modes walks. Symbolic links are listed, not followed.
   */
  entries(): CaDirectoryEntry[] {
    this.#settle();
    const out: CaDirectoryEntry[] = [];
    const walk = (dir: string) => {
      let names: string[];
      try {
        names = fs.readdirSync(dir).sort();
      } catch (e) {
        throw ioFailure('read', this.display(dir), e);
      }
      for (const name of names) {
        const file = path.join(dir, name);
        const rel = this.relative(file).split(path.sep).join('/');
        if (rel === 'backups') continue;
        let st: fs.Stats;
        try {
          st = fs.lstatSync(file);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed meanwhile
          throw ioFailure('read', this.display(file), e);
        }
        const type = st.isFile()
          ? 'file'
          : st.isDirectory()
            ? 'directory'
            : st.isSymbolicLink()
              ? 'symlink'
              : 'other';
        out.push({ path: rel, type, mode: st.mode & 0o7777 });
        if (type === 'directory') walk(file);
      }
    };
    walk(this.root);
    return out;
  }

  /**
   * What a killed command left: `pending` when its commit record is there (the files may disagree until the
   * next command finishes it), `abandoned` when only its intent is (temp files to remove), else undefined.
   */
  interruptedCommit(): 'pending' | 'abandoned' | undefined {
    if (commitPending(this.root)) return 'pending';
    return fs.existsSync(path.join(this.root, INTENT_FILE)) ? 'abandoned' : undefined;
  }

  /** The users with a browser bundle (`client/client_<name>.p12`), in the order the folder lists them. */
  clientBundles(): string[] {
    this.#settle();
    let entries: string[];
    try {
      entries = fs.readdirSync(this.paths.clientDir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw ioFailure('read', this.display(this.paths.clientDir), e);
    }
    return entries
      .filter((f) => /^client_.+\.p12$/.test(f))
      .map((f) => f.slice('client_'.length, -'.p12'.length));
  }

  /**
   * The issuing CA's current CRL, the first of ca/crl.pem (see {@link readCrls}), parsed but its signature
   * unchecked; `missing` when there is none, and `unreadable` when it cannot be read or is not a CRL (then it
   * is to be replaced, not trusted).
   */
  readCrl(): Crl | 'missing' | 'unreadable' {
    const crls = this.readCrls();
    return typeof crls === 'string' ? crls : crls[0]!;
  }

  /**
   * Every CRL of ca/crl.pem: one per CA in force, the issuing CA's first (a file nginx's `ssl_crl` and
   * `openssl verify -CRLfile` take whole), parsed but their signatures unchecked; `missing` or `unreadable`
   * as for {@link readCrl}.
   */
  readCrls(): Crl[] | 'missing' | 'unreadable' {
    if (this.#state) return this.#state.readCrls();
    this.#settle();
    let data: Buffer;
    try {
      data = fs.readFileSync(this.paths.crl);
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'unreadable';
    }
    try {
      return Crl.allFrom(data, this.display(this.paths.crl));
    } catch {
      return 'unreadable';
    }
  }

  readInventory(): InventoryEntry[] {
    if (this.#state) return this.#state.readInventory();
    this.#settle();
    try {
      return readInventory(this.paths.inventory);
    } catch (e) {
      throw ioFailure('read', this.display(this.paths.inventory), e);
    }
  }

  /**
   * The folded inventory from ca/inventory.idx when it is in step with the log, else undefined (read the log
   * with {@link readInventory}). Writes nothing (unless a killed command's commit must be finished first).
   */
  readInventoryIndex(): InventoryRecords | undefined {
    if (this.#state) return undefined;
    this.#settle();
    return readInventoryIndex(this.paths.inventoryIndex, this.paths.inventory);
  }

  findNamesLike(profile: CertificateProfile, keys: ReadonlySet<string>): string[] {
    if (this.#state) return this.#state.findNamesLike(profile, keys);
    this.#settle();
    // The name index answers in a small search; inventory.idx (a pass over its name fields) or the log when it
    // is not in step — until the next write rebuilds it.
    return (
      findNamesInIndex(this.paths.inventoryNames, this.paths.inventory, profile, keys) ??
      findNamesLike(this.paths.inventoryIndex, this.paths.inventory, profile, keys)
    );
  }

  #stagedLogs = new WeakMap<Transaction, StagedLogs>();

  #logs(tx: Transaction): StagedLogs {
    let logs = this.#stagedLogs.get(tx);
    if (!logs) {
      logs = {};
      this.#stagedLogs.set(tx, logs);
    }
    return logs;
  }

  /**
   * Stages inventory lines in a transaction (appended after the files, rolled back with them), and the same
   * events in ca/inventory.idx and their names in ca/inventory.names, appended just after. Called under the
   * lock. An index that is missing or out of step (an older CA, a crash between the appends, a hand edit of
   * the log) is first rewritten from the folded log — a one-off full read; a log that cannot be parsed gets
   * indexes that say "use the log".
   */
  appendInventory(tx: Transaction, events: InventoryEvent[]): void {
    if (this.#state) {
      this.#state.appendInventory(tx, events);
      return;
    }
    const { inventory, inventoryIndex, inventoryNames } = this.paths;
    const logs = this.#logs(tx);
    let before = logs.inventoryBytes;
    if (before === undefined && logs.fresh) {
      before = 0;
      tx.write(inventoryIndex, encodeInventoryIndex([], 0), MODE_PUBLIC);
      tx.write(inventoryNames, encodeNameIndex([], 0), MODE_PUBLIC);
    } else if (before === undefined) {
      const index = inventoryIndexState(inventoryIndex, inventory);
      const names = inventoryIndexState(inventoryNames, inventory, NAMES_HEADER);
      before = index.inventoryBytes;
      if (!index.inStep || !names.inStep) {
        let entries: InventoryEntry[] | undefined;
        try {
          entries = readInventory(inventory);
        } catch (e) {
          if (!(e instanceof MtlsCaError)) throw e;
        }
        if (!index.inStep) tx.write(inventoryIndex, encodeInventoryIndex(entries, before), MODE_PUBLIC);
        if (!names.inStep) tx.write(inventoryNames, encodeNameIndex(entries, before), MODE_PUBLIC);
      }
    }
    const batch = encodeInventoryAppend(events, before);
    // The log first: a crash between the appends leaves the indexes behind, which readers detect.
    tx.append(inventory, batch.jsonl);
    tx.append(inventoryIndex, batch.index);
    tx.append(inventoryNames, encodeNameAppend(events, batch.inventoryBytes));
    logs.inventoryBytes = batch.inventoryBytes;
  }

  /**
   * Stages signed, hash-chained audit lines in a transaction, and the log's new head (ca/audit.head, see
   * audit.ts) in the same commit.
   * @param caKey - the CA private key or its token's signer, which signs the lines and the head
   */
  appendAudit(tx: Transaction, records: AuditRecord[], caKey: SigningKey): void {
    if (this.#state) {
      this.#state.appendAudit(tx, records, caKey);
      return;
    }
    const logs = this.#logs(tx);
    const tail =
      logs.audit ??
      (logs.fresh
        ? { prev: GENESIS, lines: 0 }
        : auditTail(this.paths.auditLog, this.paths.auditHead, caKey, () =>
            this.#formerCas(this.casInForce()),
          ));
    const { lines, head, tail: next } = encodeAudit(tail, records, caKey);
    tx.append(this.paths.auditLog, lines);
    tx.write(this.paths.auditHead, head, MODE_PUBLIC);
    logs.audit = next;
  }

  /**
   * Verifies the audit log and its head (audit.ts) on a finished state of the directory. Each line was signed
   * by the issuing CA of its day: the current one, or one a rotation replaced (previous or retired).
   */
  verifyAudit(): Promise<AuditVerification> {
    if (this.#state) return this.#state.verifyAudit();
    return this.readFinished(() => {
      const cas = this.casInForce();
      const signers = [
        ...cas.filter((c) => c.role === 'issuing').map((c) => c.certificate),
        ...this.#formerCas(cas),
      ];
      return verifyAuditLog(this.paths.auditLog, this.paths.auditHead, signers);
    });
  }

  /** The CAs that signed audit lines before the issuing one: those a rotation replaced, in force or retired. */
  #formerCas(cas: CaInForce[]): Certificate[] {
    return [...cas.filter((c) => c.role === 'previous').map((c) => c.certificate), ...this.retiredCas()];
  }

  /** The CA's settings (settings.ts); none set when the file does not exist. */
  readSettings(): CaSettings {
    if (this.#state) return this.#state.readSettings();
    this.#settle();
    let text: string;
    try {
      text = fs.readFileSync(this.paths.settings, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw ioFailure('read', this.display(this.paths.settings), e);
    }
    return parseSettings(text, this.display(this.paths.settings));
  }

  /** Stages the CA's settings, replacing the file whole. */
  stageSettings(tx: Transaction, settings: CaSettings): void {
    if (this.#state) {
      this.#state.stageSettings(tx, settings);
      return;
    }
    tx.write(this.paths.settings, encodeSettings(settings), MODE_PUBLIC);
    this.#logs(tx).settings = settings;
  }

  /**
   * The settings as they will be once `tx` commits: those it stages, none after it moved the CA away
   * ({@link stageBackup}: a new CA starts without the old one's settings), else the file's.
   */
  settingsAfter(tx: Transaction): CaSettings {
    if (this.#state) return this.#state.settingsAfter(tx);
    const staged = this.#stagedLogs.get(tx);
    return staged?.settings ?? (staged?.fresh ? {} : this.readSettings());
  }

  /**
   * The audit log's lines and its head's text as stored, on a finished state of the directory (for moving the
   * chain elsewhere unchanged: its lines are signed as they are).
   */
  readAuditChain(): Promise<{ lines: string[]; head: string | undefined }> {
    return this.readFinished(() => {
      const lines = this.#read(this.paths.auditLog).toString('utf8').split('\n');
      if (lines[lines.length - 1] === '') lines.pop();
      return { lines, head: this.#readIfPresent(this.paths.auditHead)?.toString('utf8') };
    });
  }

  readUsers(): UsersFile {
    if (this.#state) return this.#state.readUsers();
    this.#settle();
    let text: string;
    try {
      text = fs.readFileSync(this.paths.users, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { users: {} };
      throw ioFailure('read', this.display(this.paths.users), e);
    }
    try {
      const parsed = JSON.parse(text) as UsersFile;
      if (typeof parsed !== 'object' || parsed === null || typeof parsed.users !== 'object')
        throw new Error();
      return parsed;
    } catch {
      throw new MtlsCaError(
        'PARSE_FAILED',
        `read ${this.display(this.paths.users)}: not a valid users file`,
        'it must look like {"users": {"pavel": {"roles": ["user"]}}}',
      );
    }
  }

  /** Stages users.json with `roles` added to `name` (created if absent); returns the user's roles. */
  mergeUserRoles(tx: Transaction, name: string, roles: string[]): string[] {
    return this.mergeUsersRoles(tx, new Map([[name, roles]])).get(name)!;
  }

  /**
   * Stages one users.json write adding roles to several users; returns each user's resulting roles.
   * @param base - the users to add to; default the current users.json
   */
  mergeUsersRoles(
    tx: Transaction,
    additions: Map<string, string[]>,
    base?: UsersFile,
  ): Map<string, string[]> {
    if (this.#state) {
      const result = this.#state.mergeUsersRoles(tx, additions, base);
      // This host's copy for the servers that read users.json; serve --database-url keeps it current.
      const users = structuredClone(base ?? this.#state.readUsers());
      for (const [name, roles] of result) users.users[name] = { ...users.users[name], roles };
      tx.write(this.paths.users, `${JSON.stringify(users, null, 2)}\n`, MODE_PUBLIC);
      return result;
    }
    const file = base ?? this.readUsers();
    const result = new Map<string, string[]>();
    for (const [name, roles] of additions) {
      const merged = [...new Set([...(file.users[name]?.roles ?? []), ...roles])];
      file.users[name] = { ...file.users[name], roles: merged };
      result.set(name, merged);
    }
    tx.write(this.paths.users, `${JSON.stringify(file, null, 2)}\n`, MODE_PUBLIC);
    return result;
  }

  /**
   * Runs `fn` holding the directory lock, after finishing a commit that a killed command left (commit.ts).
   */
  lock<T>(fn: () => Promise<T> | T): Promise<T> {
    this.#assertWritable();
    return withLock(this.paths.lock, () => {
      this.#recover();
      if (this.#state) return this.#state.lock(fn);
      this.#assertSameCa();
      return fn();
    });
  }

  /**
   * Runs `fn` holding the directory's lock only, not the state's: for writing this host's copies of a state
   * kept elsewhere (the CRL and users.json that `serve` keeps in step with a database), which must neither
   * wait for the CA's writers nor hold them up.
   */
  lockHostFiles<T>(fn: () => Promise<T> | T): Promise<T> {
    this.#assertWritable();
    return withLock(this.paths.lock, () => {
      this.#recover();
      return fn();
    });
  }

  /**
   * Stages the CA certificate and key: ca/ca.crt and ca/ca.key, or, with another store, the CA there and the
   * certificate's copy in ca/ca.crt (what this host's servers and trust stores use).
   */
  stageCa(tx: Transaction, certificate: Certificate, key: CaKeyReference): void {
    tx.write(this.paths.caCert, certificate.toPem(), MODE_PUBLIC);
    if (this.#state) {
      this.#state.stageCa(tx, certificate, key);
      return;
    }
    // A key in a token stays there: the directory keeps where it is (tokenKeyUri reads it back).
    if (key.kind === 'uri') tx.write(this.paths.caKeyUri, `${key.uri}\n`, MODE_PUBLIC);
    else tx.write(this.paths.caKey, key.pem, MODE_SECRET);
  }

  /**
   * Stages the root that signed the issuing CA: ca/root.crt and ca/root.key, or, with another store, the root
   * there and the certificate's copy in ca/root.crt.
   */
  stageRoot(tx: Transaction, certificate: Certificate, key: CaKeyReference): void {
    tx.write(this.paths.rootCert, certificate.toPem(), MODE_PUBLIC);
    if (this.#state) {
      this.#state.stageRoot(tx, certificate, key);
      return;
    }
    if (key.kind !== 'pem') throw new Error('a root key is kept in the directory as a file');
    tx.write(this.paths.rootKey, key.pem, MODE_SECRET);
  }

  /**
   * Stages a rotation: the issuing CA moves, key and all, to `ca/previous/<serial>/`, and `certificate` and
   * `key` become ca/ca.crt and ca/ca.key. With another store, the rotation is staged there and this host gets
   * the certificates' copies.
   */
  stageRotation(tx: Transaction, certificate: Certificate, key: CaKeyReference): void {
    const p = this.paths;
    const old = this.readCaCertificate();
    const previous = p.previous(old.serialHex);
    if (this.#state) {
      tx.write(previous.cert, old.toPem(), MODE_PUBLIC);
      tx.write(p.caCert, certificate.toPem(), MODE_PUBLIC);
      this.#state.stageRotation(tx, certificate, key);
      return;
    }
    if (key.kind !== 'pem') throw new Error('a rotation makes a key file');
    tx.move(p.caCert, previous.cert);
    tx.move(p.caKey, previous.key);
    tx.write(p.caCert, certificate.toPem(), MODE_PUBLIC);
    tx.write(p.caKey, key.pem, MODE_SECRET);
  }

  /**
   * Stages the retirement of a previous CA: `ca/previous/<serial>/` moves to `ca/retired/<serial>/` (with
   * another store: retired there, and this host's copy moved when it has one).
   */
  stageRetirement(tx: Transaction, ca: StateCa): void {
    const serial = ca.certificate.serialHex;
    const from = this.paths.previous(serial).dir;
    if (!this.#state || this.exists(from)) tx.move(from, this.paths.retired(serial).dir);
    this.#state?.stageRetirement(tx, ca);
  }

  /** Stages the root's key: back in ca/root.key (or the state's store), or, undefined, out of it. */
  stageRootKey(tx: Transaction, key: CaKeyReference | undefined): void {
    if (this.#state) {
      this.#state.stageRootKey(tx, key);
      return;
    }
    if (key === undefined) tx.remove(this.paths.rootKey);
    else if (key.kind === 'pem') tx.write(this.paths.rootKey, key.pem, MODE_SECRET);
    else throw new Error('a root key is kept in the directory as a file');
  }

  /**
   * Stages a new home for the CA key (moved into a token): ca/ca-key.uri in place of ca/ca.key, the file
   * removed by the commit, or, with another store, the key's reference there in place of its encrypted copy.
   */
  stageCaKey(tx: Transaction, key: CaKeyReference): void {
    if (this.#state) {
      this.#state.stageCaKey(tx, key);
      return;
    }
    // A key in a token cannot leave it: the only move there is.
    if (key.kind !== 'uri') throw new Error('stageCaKey(): a CA key moves only into a token');
    tx.write(this.paths.caKeyUri, `${key.uri}\n`, MODE_PUBLIC);
    tx.remove(this.paths.caKey);
  }

  /**
   * Stages ca/crl.pem: the CRL of every CA in force, the issuing CA's first (with another store: there, and
   * their copy in ca/crl.pem).
   */
  writeCrls(tx: Transaction, crls: readonly Crl[]): void {
    this.#state?.writeCrls(tx, crls);
    tx.write(this.paths.crl, crls.map((c) => c.toPem()).join(''), MODE_PUBLIC);
  }

  /** The CA certificate {@link loadCa} returned, which commands sign with after taking the lock. */
  #loadedCa: Buffer | undefined;

  /**
   * Refuses to go on when the CA this store loaded before the lock is no longer the directory's: replaced
   * meanwhile by another process, or by the recovery of an interrupted replacement. Certificates signed by
   * it would land in the new CA's inventory.
   */
  #assertSameCa(): void {
    if (!this.#loadedCa) return;
    let current: Buffer | undefined;
    try {
      current = Certificate.from(fs.readFileSync(this.paths.caCert)).der;
    } catch {
      current = undefined;
    }
    if (current?.equals(this.#loadedCa)) return;
    throw new MtlsCaError(
      'INVALID_ARGUMENT',
      `use the CA of ${this.display(this.root)}: it was replaced while this command ran`,
      'run the command again',
    );
  }

  /**
   * Runs `read` on a finished state of the directory, for readers that need files to agree with each other
   * (`list`, `audit verify`). Without the lock when no commit record is there before and after the read;
   * otherwise `read` runs again holding the lock, which waits for a live command to finish its commit or
   * finishes a dead one's. A commit that fails and is rolled back wholly within one read (a full disk, a
   * live writer) can go unseen; its lines are then shown as if read a moment before it was undone.
   * @param discard - releases what a read that is thrown away returned (an open index)
   */
  async readFinished<T>(read: () => T, discard?: (value: T) => void): Promise<T> {
    if (holdsLock(this.paths.lock)) return read();
    if (!commitPending(this.root)) {
      let value: T;
      try {
        value = read();
      } catch (e) {
        if (!commitPending(this.root)) throw e; // not a commit half seen: a real error
        return this.lock(read).catch((f) => this.#cannotFinish(f));
      }
      if (!commitPending(this.root)) return value;
      discard?.(value);
    }
    return this.lock(read).catch((e) => this.#cannotFinish(e));
  }

  /**
   * Before a read: if a commit record is there and the lock is free (its owner was killed), takes the lock and
   * finishes the commit. Held by a live command, the commit is finishing right now: the read goes ahead, and
   * a writer checks again what it read once it holds the lock itself.
   */
  #settle(): void {
    if (this.readOnly || holdsLock(this.paths.lock) || !commitPending(this.root)) return;
    try {
      withLockIfFree(this.paths.lock, () => this.#recover());
    } catch (e) {
      this.#cannotFinish(e);
    }
  }

  /** A pending commit this process cannot lock the directory to finish (read-only, not this user's). */
  #cannotFinish(e: unknown): never {
    if (!(e instanceof MtlsCaError) || e.code !== 'IO_FAILED' || !e.message.startsWith('lock ')) throw e;
    throw new MtlsCaError(
      'IO_FAILED',
      `finish the commit a killed command left in ${this.display(this.root)}: ${describeErrno(e.cause)}`,
      `its files disagree until then: make ${this.display(this.root)} writable and run the command again`,
      e.cause,
    );
  }

  #recover(): void {
    try {
      recoverCommit(this.root);
    } catch (e) {
      throw ioFailure('finish the interrupted commit in', this.display(this.root), e);
    }
  }

  /** A file of the CA directory; IO_FAILED (not an internal error) when it cannot be read. */
  #read(file: string): Buffer {
    try {
      return fs.readFileSync(file);
    } catch (e) {
      throw ioFailure('read', this.display(file), e);
    }
  }

  /** {@link CaStore.#read} after finishing an interrupted commit, and undefined for a file that is not there. */
  #readIfPresent(file: string): Buffer | undefined {
    this.#settle();
    try {
      return fs.readFileSync(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw ioFailure('read', this.display(file), e);
    }
  }

  /**
   * Stages moving the current CA to `backups/<time>/`, so that `init --force` and `import --force` never
   * destroy a CA key: every entry of the directory except earlier backups and the lock and commit files, and
   * the entries of ca/, server/ and client/ one by one (the new CA is written into those folders — `import`
   * copies client certificates — where its temp files are). Call it first in the transaction: the inventory
   * and audit log it then appends to start empty. Returns the backup folder.
   */
  stageBackup(tx: Transaction, now: Date = new Date()): string {
    if (this.#stagedLogs.has(tx)) throw new Error('stageBackup() after the logs were staged');
    const stamp = now.toISOString().replace(/[:.]/g, '-');
    const dest = path.join(this.root, 'backups', stamp);
    const refilled = new Set(
      [this.paths.caDir, this.paths.serverDir, this.paths.clientDir].map((d) => path.basename(d)),
    );
    let entries: string[];
    try {
      entries = fs.readdirSync(this.root);
    } catch (e) {
      throw ioFailure('read', this.display(this.root), e);
    }
    for (const entry of entries) {
      if (entry === 'backups' || entry === '.gitkeep' || entry.startsWith('.mtls-ca.')) continue;
      const from = path.join(this.root, entry);
      if (refilled.has(entry) && fs.statSync(from).isDirectory()) {
        for (const inner of fs.readdirSync(from))
          tx.move(path.join(from, inner), path.join(dest, entry, inner));
      } else {
        tx.move(from, path.join(dest, entry));
      }
    }
    this.#stagedLogs.set(tx, { fresh: true });
    return dest;
  }

  newTransaction(): Transaction {
    this.#assertWritable();
    return new Transaction(this.root);
  }

  #assertWritable(): void {
    if (this.readOnly) throw new Error('a read-only CaStore neither locks nor writes');
  }

  /** Releases what the state's store holds open (a database connection); the directory holds nothing. */
  async close(): Promise<void> {
    await this.#state?.close?.();
  }
}

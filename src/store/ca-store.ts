/**
 * The CA directory: the only code that reads or writes it. Commands hand it finished artifacts inside a
 * {@link Transaction}; it holds the lock, keeps modes right and refuses to lose a CA key.
 */

import type { KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Certificate } from '../pki/certificate.js';
import { MtlsCaError } from '../pki/errors.js';
import { isEncryptedPrivateKey, parsePrivateKey } from '../pki/keys.js';
import type { CertificateAuthority } from '../pki/profiles.js';
import { MODE_PUBLIC, Transaction } from './atomic.js';
import { type AuditRecord, auditLines } from './audit.js';
import {
  encodeInventoryAppend,
  encodeInventoryIndex,
  type InventoryEntry,
  type InventoryEvent,
  type InventoryRecords,
  inventoryIndexState,
  readInventory,
  readInventoryIndex,
} from './inventory.js';
import { type Layout, layout } from './layout.js';
import { withLock } from './lock.js';

export interface UsersFile {
  users: Record<string, { roles: string[] }>;
}

export class CaStore {
  readonly paths: Layout;

  /** @param root - the CA directory; relative paths resolve against the current directory */
  constructor(readonly root: string) {
    this.paths = layout(root);
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
    return fs.existsSync(this.paths.caCert) || fs.existsSync(this.paths.caKey);
  }

  assertInitialized(): void {
    if (!fs.existsSync(this.paths.caCert) || !fs.existsSync(this.paths.caKey)) {
      const missing = fs.existsSync(this.paths.caCert) ? this.paths.caKey : this.paths.caCert;
      throw new MtlsCaError(
        'CA_NOT_INITIALIZED',
        `read ${this.display(missing)}: no CA in ${this.display(this.root)}`,
        `create one with \`mtls-ca init --dir ${this.display(this.root)}\``,
      );
    }
  }

  readCaCertificate(): Certificate {
    this.assertInitialized();
    return Certificate.from(fs.readFileSync(this.paths.caCert), this.display(this.paths.caCert));
  }

  isCaKeyEncrypted(): boolean {
    this.assertInitialized();
    return isEncryptedPrivateKey(fs.readFileSync(this.paths.caKey, 'latin1'));
  }

  /**
   * Loads the CA certificate and key.
   * @param password - the CA key password; ignored for an unencrypted key
   */
  loadCa(password: string | undefined): CertificateAuthority {
    const certificate = this.readCaCertificate();
    const keyData = fs.readFileSync(this.paths.caKey);
    try {
      const privateKey = parsePrivateKey(keyData, password, this.display(this.paths.caKey));
      return { certificate, privateKey };
    } catch (e) {
      if (e instanceof MtlsCaError && (e.code === 'BAD_PASSWORD' || e.code === 'PASSWORD_REQUIRED')) {
        throw new MtlsCaError(
          e.code,
          e.message,
          'pass the CA password with --ca-password-file F or MTLS_CA_PASSWORD',
        );
      }
      throw e;
    }
  }

  readInventory(): InventoryEntry[] {
    return readInventory(this.paths.inventory);
  }

  /**
   * The folded inventory from ca/inventory.idx when it is in step with the log, else undefined (read the log
   * with {@link readInventory}). Never writes, so `list` stays a pure reader.
   */
  readInventoryIndex(): InventoryRecords | undefined {
    return readInventoryIndex(this.paths.inventoryIndex, this.paths.inventory);
  }

  /** inventory.jsonl's byte length after what each open transaction has staged so far. */
  #stagedInventoryBytes = new WeakMap<Transaction, number>();

  /**
   * Stages inventory lines in a transaction (appended after the files, rolled back with them), and the same
   * events in ca/inventory.idx, appended just after. Called under the lock. An index that is missing or out
   * of step (an older CA, a crash between the two appends, a hand edit) is first rewritten from the folded
   * log — a one-off full read; a log that cannot be parsed gets an index that says "use the log".
   */
  appendInventory(tx: Transaction, events: InventoryEvent[]): void {
    let before = this.#stagedInventoryBytes.get(tx);
    if (before === undefined) {
      const state = inventoryIndexState(this.paths.inventoryIndex, this.paths.inventory);
      before = state.inventoryBytes;
      if (!state.inStep) {
        let entries: InventoryEntry[] | undefined;
        try {
          entries = readInventory(this.paths.inventory);
        } catch (e) {
          if (!(e instanceof MtlsCaError)) throw e;
        }
        tx.write(this.paths.inventoryIndex, encodeInventoryIndex(entries, before), MODE_PUBLIC);
      }
    }
    const batch = encodeInventoryAppend(events, before);
    // The log first: a crash between the two appends leaves the index behind, which readers detect.
    tx.append(this.paths.inventory, batch.jsonl);
    tx.append(this.paths.inventoryIndex, batch.index);
    this.#stagedInventoryBytes.set(tx, batch.inventoryBytes);
  }

  /** Stages signed, hash-chained audit lines in a transaction. */
  appendAudit(tx: Transaction, records: AuditRecord[], caKey: KeyObject): void {
    tx.append(this.paths.auditLog, auditLines(this.paths.auditLog, records, caKey));
  }

  readUsers(): UsersFile {
    let text: string;
    try {
      text = fs.readFileSync(this.paths.users, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { users: {} };
      throw e;
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

  /** Stages one users.json write adding roles to several users; returns each user's resulting roles. */
  mergeUsersRoles(tx: Transaction, additions: Map<string, string[]>): Map<string, string[]> {
    const file = this.readUsers();
    const result = new Map<string, string[]>();
    for (const [name, roles] of additions) {
      const merged = [...new Set([...(file.users[name]?.roles ?? []), ...roles])];
      file.users[name] = { ...file.users[name], roles: merged };
      result.set(name, merged);
    }
    tx.write(this.paths.users, `${JSON.stringify(file, null, 2)}\n`, MODE_PUBLIC);
    return result;
  }

  /** Runs `fn` holding the directory lock. */
  lock<T>(fn: () => Promise<T> | T): Promise<T> {
    return withLock(this.paths.lock, fn);
  }

  /**
   * Moves everything in the CA directory (except earlier backups) to `backups/<timestamp>/`, so `init --force`
   * never destroys a CA key. Returns the backup folder.
   */
  backupContents(now: Date = new Date()): string {
    const stamp = now.toISOString().replace(/[:.]/g, '-');
    const dest = path.join(this.root, 'backups', stamp);
    fs.mkdirSync(dest, { recursive: true, mode: 0o700 });
    for (const entry of fs.readdirSync(this.root)) {
      if (entry === 'backups' || entry === '.gitkeep' || entry === path.basename(this.paths.lock)) continue;
      fs.renameSync(path.join(this.root, entry), path.join(dest, entry));
    }
    return dest;
  }

  newTransaction(): Transaction {
    return new Transaction();
  }
}

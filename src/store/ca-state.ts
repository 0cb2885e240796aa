/**
 * The store contract: what the operations need from wherever a CA's state lives — the CA itself, the
 * inventory (which also allocates serials: a serial it holds is never issued twice), revocations, the CRL and
 * its number, users and roles, the CA's settings, the audit chain — and how changes to it commit. Two stores keep it: the CA
 * directory ({@link CaStore}, files under a lock, ca-store.ts) and a PostgreSQL database (postgres/state.ts),
 * so that several hosts can issue from one CA. test/store/contract.ts holds the behaviours both must show.
 *
 * Reads are synchronous: a store reads the files each time, or answers from the state it last loaded (a
 * database store loads it when opened and again, fresh, inside {@link CaState.lock}). Changes are staged in a
 * {@link Transaction} and take effect together when it commits ({@link Transaction.commitAsync}); a store that
 * is not the directory's files commits its part first, before the commit point of the files, so that no file
 * is ever written for a change the state refused.
 */
import type { Certificate } from '../pki/certificate.js';
import type { Crl } from '../pki/crl.js';
import type { CertificateAuthority } from '../pki/profiles.js';
import type { Transaction } from './atomic.js';
import type { AuditRecord, AuditVerification } from './audit.js';
import type { CertificateProfile, InventoryEntry, InventoryEvent } from './inventory.js';
import type { CaSettings } from './settings.js';

export interface UsersFile {
  users: Record<string, { roles: string[] }>;
}

/**
 * The CA key as a store holds it. `pem`: a PKCS#8 PEM, encrypted with the CA password (a database store
 * refuses to hold one that is not; the CA directory may, for a demo CA). `uri`: a key that lives elsewhere — a
 * token named by a `pkcs11:` URI — and never leaves it: the store keeps only the reference.
 */
export type CaKeyReference = { kind: 'pem'; pem: string } | { kind: 'uri'; uri: string };

/**
 * What a CA is to the state: the CA that issues, the root that signed it (with an intermediate), or one that
 * a rotation replaced and that stays in force — trusted, its CRL current — until it is retired.
 */
export type CaRole = 'issuing' | 'root' | 'previous';

/** A CA in force: trusted, with a current CRL. */
export interface StateCa {
  role: CaRole;
  certificate: Certificate;
}

export interface CaState {
  /** Where the state lives, for messages: the CA directory, or the database's URL without its password. */
  readonly location: string;

  /** Whether a CA is there (its certificate or its key). */
  isInitialized(): boolean;
  /** @throws MtlsCaError CA_NOT_INITIALIZED (detail `no-ca`) when there is no CA */
  assertInitialized(): void;
  readCaCertificate(): Certificate;
  /**
   * The key of the issuing CA, or of `ca`, as stored: never decrypted here.
   * @throws MtlsCaError NOT_FOUND for a key that is not held (see {@link loadCaKey})
   */
  readCaKey(ca?: StateCa): CaKeyReference;
  isCaKeyEncrypted(): boolean;
  /**
   * The CA certificate and its key, decrypted.
   * @param password - the CA password; ignored for an unencrypted key
   * @throws MtlsCaError BAD_PASSWORD / PASSWORD_REQUIRED with detail `ca-password`
   */
  loadCa(password: string | undefined): CertificateAuthority;

  /**
   * Every CA in force: the issuing CA first, then its root (with an intermediate), then the CAs a rotation
   * replaced, newest first — the CAs servers trust, in the order of {@link readCrls}.
   */
  casInForce(): StateCa[];
  /** The CAs retired from trust, newest first: they signed audit lines in their time. */
  retiredCas(): Certificate[];
  /** Whether the key of `ca` is held: a root's may be offline. */
  hasCaKey(ca: StateCa): boolean;
  /**
   * The key of a CA in force other than through {@link loadCa} (the root's, a previous CA's), encrypted with
   * the CA password as the issuing CA's is.
   * @param ca - from {@link casInForce}
   * @param password - the CA password; ignored for an unencrypted key
   * @throws MtlsCaError NOT_FOUND when its key is not held (detail `root-key-offline` for a root),
   *   BAD_PASSWORD / PASSWORD_REQUIRED (detail `ca-password`)
   */
  loadCaKey(ca: StateCa, password: string | undefined): CertificateAuthority;

  /** Changes whenever the inventory does: a check made at one version holds while it is unchanged. */
  inventoryVersion(): string;
  /** Every certificate issued, folded (revocations and supersessions applied), in the order of issue. */
  readInventory(): InventoryEntry[];
  /**
   * The names the inventory holds for `profile` that read like one of `keys` (their `nameKey` is one of them),
   * each as often as it was issued.
   */
  findNamesLike(profile: CertificateProfile, keys: ReadonlySet<string>): string[];
  /** The current CRL, its signature unchecked; `missing`, or `unreadable` (to be replaced, not trusted). */
  readCrl(): Crl | 'missing' | 'unreadable';
  /** Every current CRL, one per CA in force in the order of {@link casInForce}; as {@link readCrl} otherwise. */
  readCrls(): Crl[] | 'missing' | 'unreadable';
  readUsers(): UsersFile;
  /** The CA's settings (settings.ts): where it publishes revocation; none set by default. */
  readSettings(): CaSettings;
  /** Checks the audit chain: every line's hash link and CA signature, and its end against the signed head. */
  verifyAudit(): Promise<AuditVerification>;

  /** Runs `fn` as the only writer of the state, reading it fresh first. */
  lock<T>(fn: () => Promise<T> | T): Promise<T>;
  /**
   * Stages the CA that issues: its certificate and key. A store holds one such CA; replacing it is a
   * rotation ({@link stageRotation}), or the directory's `force` (stageBackup first), never a database's.
   */
  stageCa(tx: Transaction, certificate: Certificate, key: CaKeyReference): void;
  /**
   * Stages the root that signed the CA of {@link stageCa} (`init --intermediate`), with its key (encrypted).
   */
  stageRoot(tx: Transaction, certificate: Certificate, key: CaKeyReference): void;
  /**
   * Stages a rotation: the issuing CA becomes a previous one, key and all (still in force), and `certificate`
   * with `key` the CA that issues.
   */
  stageRotation(tx: Transaction, certificate: Certificate, key: CaKeyReference): void;
  /** Stages the retirement of a previous CA: out of the CAs in force, its certificate and key kept. */
  stageRetirement(tx: Transaction, ca: StateCa): void;
  /** Stages the root's key coming back (`root import`), or leaving (undefined: `root export`). */
  stageRootKey(tx: Transaction, key: CaKeyReference | undefined): void;
  /**
   * Stages a new home for the CA's key (the same key: moved into a token), replacing the one held. The store
   * keeps the CA; a key that is not encrypted is refused as by {@link stageCa}.
   */
  stageCaKey(tx: Transaction, key: CaKeyReference): void;
  /**
   * Stages inventory events. An issue event for a serial the inventory holds is refused when the
   * transaction commits (DUPLICATE_SERIAL in a database, where writers on several hosts meet; in the CA
   * directory one writer holds the lock and serials are 127 random bits).
   */
  appendInventory(tx: Transaction, events: InventoryEvent[]): void;
  /**
   * Stages signed, hash-chained audit lines and the chain's new signed head.
   * @param caKey - the CA private key, which signs them
   */
  appendAudit(tx: Transaction, records: AuditRecord[], caKey: CertificateAuthority['privateKey']): void;
  /**
   * Stages the current CRLs: one per CA in force, the issuing CA's first (each number is the caller's: one
   * above the one it replaces).
   */
  writeCrls(tx: Transaction, crls: readonly Crl[]): void;
  /** Stages the CA's settings, replacing them whole. */
  stageSettings(tx: Transaction, settings: CaSettings): void;
  /** The settings as they will be once `tx` commits: those it stages, else the current ones. */
  settingsAfter(tx: Transaction): CaSettings;
  /**
   * Stages roles added to users (each created if absent); returns each user's resulting roles.
   * @param base - the users to add to; default {@link readUsers}
   */
  mergeUsersRoles(tx: Transaction, additions: Map<string, string[]>, base?: UsersFile): Map<string, string[]>;

  /** Releases what the store holds open (a database connection). */
  close?(): Promise<void>;
  /** Reads the state afresh: a store that answers from what it loaded (a database) has one. */
  refresh?(): Promise<void>;
  /** Tells of changes made by other processes as they commit: a store shared between hosts has one. */
  watch?(handlers: StateWatchHandlers): StateWatch;
}

export interface StateWatchHandlers {
  /** The state may have changed: a writer committed, or the connection came back (changes may have been missed). */
  changed(): void;
  /** The connection to the store was lost; it is tried again until it is back. */
  down(error: unknown): void;
  /** The connection is back (after {@link down}). */
  up(): void;
}

export interface StateWatch {
  close(): Promise<void>;
}

/**
 * Taking the root's key offline and bringing it back. With an intermediate (init.ts), the root's key signs
 * only the intermediates (rotate.ts) and the root's CRL, which lists the intermediates it revoked (revoke.ts,
 * retire.ts); everyday issuing needs the intermediate's key alone. So the root's key can leave the CA
 * directory — exported to a file (encrypted with the CA password, as it is stored) on a medium kept apart,
 * and removed in the same commit — and come back when one of those operations is due. The root's CRL lives
 * long (crl-lifetime.ts) so that it outlasts the time the key is away.
 */
import path from 'node:path';
import { MtlsCaError } from '../pki/errors.js';
import { exportPrivateKeyPem, isEncryptedPrivateKey, isKeyPair, parsePrivateKey } from '../pki/keys.js';
import { MODE_SECRET } from '../store/atomic.js';
import type { CaInForce, CaStore } from '../store/ca-store.js';
import { auditRecord, type CertificateSummary, summarize } from './records.js';

/** The root of an intermediate, or NOT_FOUND for a CA that is its own root (its key issues: it stays). */
function rootOf(store: CaStore, action: string): CaInForce {
  const root = store.casInForce().find((c) => c.role === 'root');
  if (!root) {
    throw new MtlsCaError(
      'NOT_FOUND',
      `${action}: the CA of ${store.display(store.root)} is its own root, and its key issues every certificate`,
      { detail: { kind: 'no-root' } },
    );
  }
  return root;
}

/** Says whether the root's key is (`held`) or is not where the CA keeps it: its file, or the database. */
function keyWhere(store: CaStore, root: CaInForce, held = false): string {
  const [key, place] = store.externalState
    ? ["the root's key", store.location]
    : [store.display(root.keyFile), store.display(store.root)];
  return `${key} is ${held ? '' : 'not '}in ${place}`;
}

/**
 * Refuses, before any work, an operation that needs the root's key while it is offline.
 * @param store - the CA directory
 * @param root - the root in force
 * @param action - leads the message (`rotate the CA of ssl`)
 * @param use - what the key does in the operation (`signs the new intermediate`)
 * @throws MtlsCaError NOT_FOUND (detail `root-key-offline`) when the key is not held
 */
export function assertRootKeyHeld(store: CaStore, root: CaInForce, action: string, use: string): void {
  if (store.hasCaKey(root)) return;
  throw new MtlsCaError(
    'NOT_FOUND',
    `${action}: the root's key ${store.caKeyPlace(root)} ${use}, and it is offline`,
    { detail: { kind: 'root-key-offline' } },
  );
}

export interface ExportRootKeyOptions {
  /** Where the key goes: a file outside the CA directory. */
  out: string;
  /** Replace `out` if it exists. */
  force: boolean;
  /** The CA password: checked to open the root's key (so that what leaves can be used again). */
  caPassword: string | undefined;
  now?: Date;
}

export interface ExportRootKeyResult {
  root: CertificateSummary;
  /** The file written, as the user would type it. */
  file: string;
  /** The key file removed from the CA directory (with the CA in a database: the key removed from it). */
  removed: string;
  encrypted: boolean;
}

/**
 * The checks {@link exportRootKey} makes before it needs the password: a root whose key is here, and a
 * destination outside the CA directory that is free (or `force`).
 */
export function checkRootKeyExport(
  store: CaStore,
  o: Pick<ExportRootKeyOptions, 'out' | 'force'>,
): CaInForce {
  const action = 'export the root key';
  const root = rootOf(store, action);
  if (!store.hasCaKey(root)) {
    throw new MtlsCaError('NOT_FOUND', `${action}: ${keyWhere(store, root)} (offline already)`, {
      detail: { kind: 'root-key-offline' },
    });
  }
  const out = path.resolve(o.out);
  const inside = path.relative(store.root, out);
  if (!inside.startsWith('..') && !path.isAbsolute(inside)) {
    throw new MtlsCaError(
      'INVALID_ARGUMENT',
      `${action} to ${store.display(out)}: that is inside the CA directory, which is what the key leaves`,
      'name a file on the medium you keep it on (a USB stick, a vault)',
    );
  }
  if (!o.force && store.exists(out)) {
    throw new MtlsCaError('ALREADY_EXISTS', `${action} to ${store.display(out)}: the file exists`, {
      detail: { kind: 'file-exists', choose: 'out' },
    });
  }
  return root;
}

/**
 * Writes the root's key to `out` (0600, as it is stored: encrypted with the CA password) and removes it from
 * the CA directory, in one commit. Nothing that issues needs it; what does says so and names the way back
 * ({@link importRootKey}).
 */
export async function exportRootKey(store: CaStore, o: ExportRootKeyOptions): Promise<ExportRootKeyResult> {
  const now = o.now ?? new Date();
  checkRootKeyExport(store, o);
  const ca = store.loadCa(o.caPassword);
  return store.lock(async () => {
    const root = checkRootKeyExport(store, o);
    // Opened once with the CA password, so the file that leaves is one that password opens.
    store.loadCaKey(root, o.caPassword);
    const key = store.readCaKey(root);
    if (key.kind !== 'pem') throw new Error('a root key is kept as a PEM');
    const pem = Buffer.from(key.pem, 'latin1');
    const out = path.resolve(o.out);
    const tx = store.newTransaction();
    tx.write(out, pem, MODE_SECRET);
    store.stageRootKey(tx, undefined);
    store.appendAudit(
      tx,
      [auditRecord('root-export', root.certificate, now, { file: store.display(out) })],
      ca.privateKey,
    );
    await tx.commitAsync();
    return {
      root: summarize(root.certificate),
      file: store.display(out),
      removed: store.externalState ? `the one in ${store.location}` : store.display(root.keyFile),
      encrypted: isEncryptedPrivateKey(pem.toString('latin1')),
    };
  });
}

export interface ImportRootKeyOptions {
  /** The key file, as the user named it, and its bytes. */
  file: string;
  data: Buffer;
  /** The CA password: opens the key (exported encrypted with it) and encrypts it again in the directory. */
  caPassword: string | undefined;
  now?: Date;
}

export interface ImportRootKeyResult {
  root: CertificateSummary;
  /** The key file written into the CA directory (with the CA in a database: the database). */
  file: string;
}

/** The checks {@link importRootKey} makes before it needs the password: a root, its key not here yet. */
export function checkRootKeyImport(store: CaStore): CaInForce {
  const action = 'import the root key';
  const root = rootOf(store, action);
  if (store.hasCaKey(root)) {
    throw new MtlsCaError('ALREADY_EXISTS', `${action}: ${keyWhere(store, root, true)} already`, {
      detail: { kind: 'root-key-online' },
    });
  }
  return root;
}

/**
 * Brings the root's key back into the CA directory (`ca/root.key`, encrypted with the CA password) after
 * checking that it is the root's.
 */
export async function importRootKey(store: CaStore, o: ImportRootKeyOptions): Promise<ImportRootKeyResult> {
  const now = o.now ?? new Date();
  checkRootKeyImport(store);
  let key: ReturnType<typeof parsePrivateKey>;
  try {
    key = parsePrivateKey(o.data, o.caPassword, o.file);
  } catch (e) {
    if (e instanceof MtlsCaError && (e.code === 'BAD_PASSWORD' || e.code === 'PASSWORD_REQUIRED')) {
      throw new MtlsCaError(e.code, e.message, { cause: e, detail: { kind: 'ca-password' } });
    }
    throw e;
  }
  const ca = store.loadCa(o.caPassword);
  return store.lock(async () => {
    const root = checkRootKeyImport(store);
    if (!isKeyPair(key, root.certificate.publicKey)) {
      throw new MtlsCaError(
        'INVALID_ARGUMENT',
        `import the root key ${o.file}: it is not the key of ${root.certificate.subjectName} (${store.display(root.certFile)})`,
        'name the file the root key of this CA was exported to',
      );
    }
    const tx = store.newTransaction();
    store.stageRootKey(tx, { kind: 'pem', pem: exportPrivateKeyPem(key, o.caPassword) });
    store.appendAudit(tx, [auditRecord('root-import', root.certificate, now)], ca.privateKey);
    await tx.commitAsync();
    const file = store.externalState ? store.location : store.display(root.keyFile);
    return { root: summarize(root.certificate), file };
  });
}

/**
 * `ca move-key`: the CA key leaves its file for a PKCS#11 token. The key is written into the token (sensitive,
 * not extractable), a signature by the token key is verified with the CA certificate, and only then does one
 * commit replace ca/ca.key with ca/ca-key.uri (the key file removed by the commit protocol, as `root export`
 * removes the root's) — for a CA in a database, the encrypted key in its row with the URI, in the database
 * transaction that records the audit line — with an audit line the token key signs. A failure before the commit leaves the directory
 * as it was and removes the key from the token again.
 */
import type { KeyObject } from 'node:crypto';
import { MtlsCaError } from '../pki/errors.js';
import { keyTypeName } from '../pki/keys.js';
import type { CaStore } from '../store/ca-store.js';
import type { TokenCaKey } from './init.js';
import { auditRecord } from './records.js';

/** A key just written into a token, which can be taken out again while nothing refers to it. */
export interface MovedKey extends TokenCaKey {
  /** Removes what was written into the token. */
  destroy(): void;
}

export interface MoveKeyOptions {
  /** The CA key password; ignored for an unencrypted key. */
  caPassword: string | undefined;
  /**
   * Writes the CA key into the token and returns it there (token-key.ts importTokenKey): the operation does
   * not load the token layer itself, so a library user may bring another key store.
   */
  writeKey(privateKey: KeyObject): Promise<MovedKey>;
  now?: Date;
}

export interface MoveKeyResult {
  /** The key's URI, now in ca/ca-key.uri or the database. */
  uri: string;
  keyType: string;
  /** The key file that was deleted (for a CA in a database: its encrypted key there). */
  removed: string;
  /** ca/ca-key.uri (for a CA in a database: its row there). */
  uriFile: string;
}

/**
 * Moves the CA key from its file into a token. Under the lock: writes the key into the token, checks a
 * signature of the token key against the CA certificate, then commits ca/ca-key.uri, the key file's removal and
 * the audit line.
 * @throws MtlsCaError INVALID_ARGUMENT when the key is in a token already; KEY_MISMATCH when the token key does not
 *   sign for the CA certificate (the key is removed from the token again)
 */
export async function moveCaKey(store: CaStore, o: MoveKeyOptions): Promise<MoveKeyResult> {
  const now = o.now ?? new Date();
  const inToken = store.tokenKeyUri();
  if (inToken !== undefined) {
    throw new MtlsCaError('INVALID_ARGUMENT', `move the CA key: it is in a token already (${inToken})`);
  }
  const ca = store.loadCa(o.caPassword);
  const key = ca.privateKey as KeyObject; // a key file: not a token's
  return store.lock(async () => {
    const moved = await o.writeKey(key);
    try {
      store.useTokenKey(moved); // a signature of the token key, verified with the CA certificate
      const tx = store.newTransaction();
      store.stageCaKey(tx, { kind: 'uri', uri: moved.uri });
      store.appendAudit(
        tx,
        [auditRecord('move-key', ca.certificate, now, { to: moved.uri, keyType: keyTypeName(key) })],
        moved,
      );
      await tx.commitAsync();
    } catch (e) {
      moved.destroy();
      throw e;
    }
    const held = store.externalState ? `the CA's row in ${store.location}` : undefined;
    return {
      uri: moved.uri,
      keyType: keyTypeName(key),
      removed: held ? `the encrypted key in ${held}` : store.display(store.paths.caKey),
      uriFile: held ?? store.display(store.paths.caKeyUri),
    };
  });
}

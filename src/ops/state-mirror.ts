/**
 * This host's copies of a CA state kept in a database — the CAs in force (ca/ca.crt, ca/root.crt,
 * ca/previous/<serial>/ca.crt, ca/chain.pem, ca/ca-bundle.pem), their CRLs (ca/crl.pem) and users.json, the
 * files `serve` reads (and nginx's `ssl_client_certificate` and `ssl_crl`, a Spring application's users) —
 * written by `init --join` and kept in step with the database while `serve --database-url` runs, so that a
 * rotation or a revocation made on another host reaches this one's servers. A commit anywhere NOTIFYs; the mirror reads the state and rewrites the copies that changed, and the
 * server applies them as it applies any new CRL or users file (file watches). While the database is away
 * the copies stay as they were — the last good state, which the server keeps serving with, refusing every
 * client once the CRL's time runs out as it always does — and the mirror says so once, and again when the
 * database is back.
 */
import { MtlsCaError } from '../pki/errors.js';
import { MODE_PUBLIC } from '../store/atomic.js';
import type { CaStore } from '../store/ca-store.js';
import { caBundleFiles } from './trust-files.js';

/** Where the mirror reports: the server's event log. */
export type MirrorLog = (
  level: 'info' | 'warn' | 'error',
  event: string,
  message: string,
  fields?: Record<string, string | number | boolean | undefined>,
) => void;

/** One of this host's copies: its file, its text, and what it is (for `init --join`'s list). */
export interface HostCopy {
  file: string;
  data: string;
  what: string;
  /** What it copies, for the mirror's log. */
  kind: 'cas' | 'crl' | 'users';
}

/**
 * This host's copies of the state the store read last (see the module comment); the CRLs only when the
 * state has them.
 */
export function hostCopies(store: CaStore): HostCopy[] {
  const p = store.paths;
  const cas = store.casInForce();
  const copies: HostCopy[] = cas.map((ca) => ({
    file: ca.certFile,
    data: ca.certificate.toPem(),
    what: `${ca.role === 'issuing' ? 'issuing CA' : ca.role === 'root' ? 'root CA' : 'previous CA'} certificate (copy)`,
    kind: 'cas',
  }));
  for (const f of caBundleFiles(store, cas)) copies.push({ ...f, kind: 'cas' });
  const crls = store.readCrls();
  if (typeof crls !== 'string') {
    const data = crls.map((c) => c.toPem()).join('');
    copies.push({ file: p.crl, data, what: 'the CRLs of the CAs in force (copy)', kind: 'crl' });
  }
  const users = `${JSON.stringify(store.readUsers(), null, 2)}\n`;
  copies.push({ file: p.users, data: users, what: 'users and roles (copy)', kind: 'users' });
  return copies;
}

/**
 * Rewrites this host's copies where they differ from the state the store read last.
 * @returns which kinds of copies were rewritten
 */
export async function writeHostCopies(
  store: CaStore,
): Promise<{ cas: boolean; crl: boolean; users: boolean }> {
  const stale = hostCopies(store).filter((c) => c.data !== store.readArtifact(c.file)?.toString('utf8'));
  const changed = {
    cas: stale.some((c) => c.kind === 'cas'),
    crl: stale.some((c) => c.kind === 'crl'),
    users: stale.some((c) => c.kind === 'users'),
  };
  if (stale.length === 0) return changed;
  await store.lockHostFiles(async () => {
    const tx = store.newTransaction();
    for (const c of stale) tx.write(c.file, c.data, MODE_PUBLIC);
    await tx.commitAsync();
  });
  return changed;
}

export interface StateMirror {
  /** Resolves once the copies reflect every change heard of so far (for tests and shutdown). */
  settled(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Writes the copies now, then keeps them in step (see the module comment).
 * @param store - this host's directory, on a state kept in a database
 * @param log - the server's event log
 */
export async function mirrorState(store: CaStore, log: MirrorLog): Promise<StateMirror> {
  const state = store.externalState;
  if (!state?.refresh || !state.watch) {
    throw new MtlsCaError(
      'INVALID_ARGUMENT',
      `mirror ${store.location}: the CA's state is not in a database`,
    );
  }
  await writeHostCopies(store);
  let running: Promise<void> = Promise.resolve();
  let queued = false;
  /** One sync at a time; changes heard during one make one more after it. */
  const sync = () => {
    if (queued) return;
    queued = true;
    running = running.then(async () => {
      queued = false;
      try {
        await state.refresh!();
        const changed = await writeHostCopies(store);
        if (changed.cas || changed.crl || changed.users) {
          log('info', 'state-synced', 'applied a change of the CA in the database', {
            cas: changed.cas,
            crl: changed.crl,
            users: changed.users,
          });
        }
      } catch (e) {
        log(
          'warn',
          'state-sync-failed',
          `could not read the CA in ${state.location}: serving with the last good state`,
          {
            error: e instanceof Error ? e.message : String(e),
          },
        );
      }
    });
  };
  const watch = state.watch({
    changed: sync,
    down: (e) =>
      log('warn', 'database-down', `lost ${state.location}: serving with the last good state, retrying`, {
        error: e instanceof Error ? e.message : String(e),
      }),
    up: () => log('info', 'database-up', `${state.location} is back: reading what changed meanwhile`),
  });
  return {
    settled: async () => {
      let seen: Promise<void>;
      do {
        seen = running;
        await seen;
      } while (seen !== running);
    },
    close: async () => {
      await watch.close();
      await running;
    },
  };
}

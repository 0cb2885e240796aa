/**
 * This host's copies of a CA state kept in a database — ca/crl.pem and users.json, the files `serve` reads
 * (and nginx's `ssl_crl`, a Spring application's users) — kept in step with it while `serve --database-url`
 * runs. A commit anywhere NOTIFYs; the mirror reads the state and rewrites the copies that changed, and the
 * server applies them as it applies any new CRL or users file (file watches). While the database is away
 * the copies stay as they were — the last good state, which the server keeps serving with, refusing every
 * client once the CRL's time runs out as it always does — and the mirror says so once, and again when the
 * database is back.
 */
import { MtlsCaError } from '../pki/errors.js';
import { MODE_PUBLIC } from '../store/atomic.js';
import type { CaStore } from '../store/ca-store.js';

/** Where the mirror reports: the server's event log. */
export type MirrorLog = (
  level: 'info' | 'warn' | 'error',
  event: string,
  message: string,
  fields?: Record<string, string | number | boolean | undefined>,
) => void;

/**
 * Rewrites this host's CRL and users.json where they differ from the state the store read last.
 * @returns which of the two were rewritten
 */
export async function writeHostCopies(store: CaStore): Promise<{ crl: boolean; users: boolean }> {
  const crl = store.readCrl();
  const crlPem = typeof crl === 'string' ? undefined : crl.toPem();
  const usersText = `${JSON.stringify(store.readUsers(), null, 2)}\n`;
  const changed = {
    crl: crlPem !== undefined && crlPem !== store.readArtifact(store.paths.crl)?.toString('latin1'),
    users: usersText !== store.readArtifact(store.paths.users)?.toString('utf8'),
  };
  if (!changed.crl && !changed.users) return changed;
  await store.lockHostFiles(async () => {
    const tx = store.newTransaction();
    if (changed.crl) tx.write(store.paths.crl, crlPem!, MODE_PUBLIC);
    if (changed.users) tx.write(store.paths.users, usersText, MODE_PUBLIC);
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
        if (changed.crl || changed.users) {
          log('info', 'state-synced', 'applied a change of the CA in the database', {
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

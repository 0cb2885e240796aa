/**
 * `issue-client`: the tutorial's client steps in one — key, CSR, certificate signed by the CA, and a
 * browser-importable `client_<name>.p12` with the full chain — plus the user's roles in users.json.
 * `issue-client --from FILE` does the same for many users with one lock, one inventory append and one
 * users.json write: the batch transaction. The requests are checked in client-request.ts; each client is
 * built by client-build.ts — for a big batch on worker threads, one per core (issue-client-worker.ts), while
 * this thread writes and fsyncs the finished files; for a small one in this thread, where starting workers
 * would cost more than they save.
 */
import { KeyObject } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { generateKeyPair, type KeyPair, type KeyType, sign } from '../pki/keys.js';
import type { Pkcs12Profile } from '../pki/pkcs12.js';
import { MODE_PUBLIC, MODE_SECRET } from '../store/atomic.js';
import type { AuditRecord } from '../store/audit.js';
import type { CaStore } from '../store/ca-store.js';
import type { InventoryEvent } from '../store/inventory.js';
import {
  type BuiltClient,
  buildClients,
  type ClientBuildSettings,
  type ClientJob,
  type ClientWorkerData,
} from './client-build.js';
import { type ClientRequest, validateClientRequest } from './client-request.js';
import {
  assertDays,
  FileList,
  generatePassword,
  type StorePasswordChoice,
  type WrittenFile,
} from './common.js';
import { claimClientNames, refuseLookalikes, supersedeEvents } from './names-in-use.js';
import { publishedRevocationUrls } from './publishing.js';
import type { CertificateSummary } from './records.js';
import { runInWorkers } from './worker-pool.js';

export interface IssueClientSettings {
  days: number;
  keyType: KeyType;
  p12Profile: Pkcs12Profile;
  /** Replace a still valid certificate for the same name (the old one is marked superseded). */
  force: boolean;
  caPassword: string | undefined;
  store: StorePasswordChoice;
  now?: Date;
  /**
   * What {@link checkClientRequests} returned, when the caller ran it: the inventory version at which no
   * requested name had a look-alike, so that the scan is not made again under the lock unless the inventory
   * changed since.
   */
  namesCheckedAt?: string;
  /** How a batch uses worker threads; defaults suit the CLI. */
  parallel?: ParallelOptions;
}

export interface ParallelOptions {
  /** Batches of at least this many clients go to worker threads; default {@link WORKER_THRESHOLD}. */
  threshold?: number;
  /**
   * Worker threads; default one per core (`os.availableParallelism()`), at most one per 100 clients. This
   * thread writes the files.
   */
  workers?: number;
  /**
   * The worker module; default issue-client-worker.js beside this file. Running from the TypeScript
   * sources (tests) there is none, and without `entry` every batch is built in this thread.
   */
  entry?: URL;
}

/**
 * From this many clients on, a batch goes to worker threads. Workers cost time before their first client
 * (start, module loading, each compiling the code again) and, on 2 cores, gain less than one would think:
 * building in this thread already overlaps with the fsyncs on libuv's pool. The break-even measured on
 * 2 vCPUs is in docs/performance.md ("Worker threads for a big batch").
 */
export const WORKER_THRESHOLD = 200;

/** Clients per message to a worker: enough to make messages cheap, few enough to balance the load. */
const WORKER_CHUNK = 8;

export type IssueClientOptions = ClientRequest & IssueClientSettings;

export interface IssueClientResult {
  name: string;
  roles: string[];
  certificate: CertificateSummary;
  files: WrittenFile[];
  p12: string;
  passwordFile?: string;
  /** The serial of the certificate this one replaced (with `force`). */
  superseded?: string;
  /** When the replaced certificate expires: until then it still authenticates unless revoked. */
  supersededNotAfter?: string;
}

/** Generates key pairs with at most `limit` in flight (libuv's pool has 4 threads by default). */
async function generateKeys(type: KeyType, count: number, limit = 16): Promise<KeyPair[]> {
  const out: KeyPair[] = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      out[i] = await generateKeyPair(type);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
  return out;
}

/**
 * The built worker module beside this one (dist/ops/ or dist/bundle/, whichever this file was built into),
 * or undefined when this runs from the TypeScript sources (tests), which have no .js to start a worker from.
 * A build without the worker fails loudly when a batch needs it; it never silently runs on one core.
 */
const DEFAULT_WORKER_ENTRY = import.meta.url.endsWith('.ts')
  ? undefined
  : new URL('./issue-client-worker.js', import.meta.url);

/** The worker module and thread count for a batch of `count`, or undefined to build it in this thread. */
function workerPlan(count: number, o: ParallelOptions = {}): { entry: URL; workers: number } | undefined {
  // Each worker first spends a while starting and compiling, and holds its own heap: one per core, but
  // not more than one per 100 clients (a 64-core machine need not start 64 for 1,000 clients).
  const workers = o.workers ?? Math.min(availableParallelism(), Math.max(1, Math.floor(count / 100)));
  const entry = o.entry ?? DEFAULT_WORKER_ENTRY;
  if (count < (o.threshold ?? WORKER_THRESHOLD) || workers < 1 || !entry) return undefined;
  return { entry, workers };
}

/**
 * The names' rules (see names-in-use.ts): no look-alike of a name the inventory holds, and no name with a
 * valid certificate unless `force`. Returns the valid certificates `force` replaces, by name.
 * @param o.lookalikesChecked - the look-alike rule held for this inventory already: skip its scan
 */
function claimNames(
  store: CaStore,
  requests: ClientRequest[],
  o: { now: Date; force: boolean; lookalikesChecked?: boolean },
): ReturnType<typeof claimClientNames> {
  const names = requests.map((r) => r.name);
  const action = (name: string) => `issue client ${name}`;
  if (!o.lookalikesChecked) refuseLookalikes(store, 'client', names, action);
  return claimClientNames(store, names, { now: o.now, force: o.force, action });
}

/**
 * The checks {@link issueClients} makes before it builds anything, without the lock and without the CA key:
 * every request valid, and the names free (or `force`). What a command runs before it asks for passwords;
 * issueClients repeats them under the lock.
 * @returns the inventory's version they were checked at: pass it as
 *   {@link IssueClientSettings.namesCheckedAt}
 */
export function checkClientRequests(
  store: CaStore,
  requests: ClientRequest[],
  o: { force: boolean; now?: Date },
): string {
  for (const r of requests) validateClientRequest(r);
  store.assertInitialized();
  const version = store.inventoryVersion(); // before reading it: a change meanwhile makes the lock check again
  claimNames(store, requests, { now: o.now ?? new Date(), force: o.force });
  return version;
}

/**
 * Issues certificates for every request, all or nothing: under the directory lock, refuses the batch if a
 * name still has a valid certificate (unless `force`), builds every client (on worker threads for a big
 * batch, see {@link ParallelOptions}), writes and fsyncs the files as they come, and commits them with one
 * users.json, inventory and audit update. On any failure the directory is left as it was.
 */
export async function issueClients(
  store: CaStore,
  requests: ClientRequest[],
  s: IssueClientSettings,
): Promise<IssueClientResult[]> {
  const now = s.now ?? new Date();
  for (const r of requests) validateClientRequest(r);
  assertDays(s.days, 'days');
  const ca = store.loadCa(s.caPassword);
  const build: ClientBuildSettings = {
    keyType: s.keyType,
    days: s.days,
    p12Profile: s.p12Profile,
    now,
    revocation: publishedRevocationUrls(store),
  };

  return store.lock(async () => {
    const existing = claimNames(store, requests, {
      now,
      force: s.force,
      // The look-alike check searches every name in the inventory (its name index, docs/performance.md): once
      // is enough while the inventory is as checkClientRequests saw it. The valid-certificate rule costs a
      // stat; it runs.
      lookalikesChecked: s.namesCheckedAt !== undefined && s.namesCheckedAt === store.inventoryVersion(),
    });

    const passwords = requests.map(() => s.store.given ?? generatePassword());
    /** The jobs, once their key pairs are made (a batch's workers start meanwhile). */
    const makeJobs = async (): Promise<ClientJob[]> => {
      const keys = await generateKeys(s.keyType, requests.length);
      return requests.map((r, i) => {
        const paths = store.paths.client(r.name);
        return {
          name: r.name,
          email: r.email,
          keys: keys[i]!,
          password: passwords[i]!,
          files: [paths.key, paths.csr, paths.cert, paths.p12].map((f) => store.relative(f)),
        };
      });
    };
    const tx = store.newTransaction();
    const results: IssueClientResult[] = new Array(requests.length);
    const events: InventoryEvent[][] = new Array(requests.length);
    const audit: AuditRecord[] = new Array(requests.length);
    /** Stages the files of built clients requests[first…]; the results are kept in request order. */
    const stage = (first: number, built: BuiltClient[]) => {
      for (const [k, b] of built.entries()) {
        const i = first + k;
        const { name } = requests[i]!;
        const password = passwords[i]!;
        const paths = store.paths.client(name);
        const files = new FileList(tx, (f) => store.display(f));
        files.write(paths.key, b.keyPem, MODE_SECRET, 'client key');
        files.write(paths.csr, b.csrPem, MODE_PUBLIC, 'certificate request');
        files.write(paths.cert, b.certPem, MODE_PUBLIC, 'client certificate');
        // as storePasswordFor() does, but the password had to go to the builder before the files were staged
        const passwordFile = s.store.given === undefined ? `${paths.p12}.pass` : undefined;
        if (passwordFile) files.write(passwordFile, `${password}\n`, MODE_SECRET, 'generated password');
        // a Buffer arrives from a worker as a plain Uint8Array (structured clone)
        const p12 = Buffer.from(b.p12.buffer, b.p12.byteOffset, b.p12.byteLength);
        files.write(paths.p12, p12, MODE_SECRET, 'key + certificate + CA for browsers and Java');
        const old = existing.get(name);
        events[i] = [b.event, ...supersedeEvents(old, b.event.serial, now)];
        audit[i] = b.audit;
        results[i] = {
          name,
          roles: [],
          certificate: b.certificate,
          files: files.files,
          p12: store.display(paths.p12),
          ...(passwordFile ? { passwordFile: store.display(passwordFile) } : {}),
          ...(old ? { superseded: old.serialHex, supersededNotAfter: old.notAfter.toISOString() } : {}),
        };
      }
    };

    try {
      const plan = workerPlan(requests.length, s.parallel);
      if (plan) {
        let flushFailure: unknown;
        // A CA key in a token signs only in this thread's session: the workers ask this thread for each
        // chunk's signatures and build the rest (docs/performance.md).
        const key = ca.privateKey;
        const signHere = !(key instanceof KeyObject);
        await runInWorkers<ClientJob, BuiltClient>({
          entry: plan.entry,
          workers: Math.min(plan.workers, Math.ceil(requests.length / WORKER_CHUNK)),
          workerData: {
            ...build,
            caCertificate: ca.certificate.der,
            ...(signHere ? {} : { caKey: key }),
          } satisfies ClientWorkerData,
          jobs: makeJobs(),
          chunkSize: WORKER_CHUNK,
          answer: (tbs) => (tbs as Uint8Array[]).map((t) => sign(key, Buffer.from(t))),
          onResults: (first, built) => {
            if (flushFailure) throw flushFailure; // a full disk stops the workers at the next chunk
            stage(first, built);
            // Written and fsynced while the workers build the next chunks; renamed only at the commit.
            tx.flush().catch((e: unknown) => {
              flushFailure ??= e;
            });
          },
        });
      } else {
        stage(0, buildClients(ca, build, await makeJobs()));
      }
      const roles = store.mergeUsersRoles(tx, new Map(requests.map((r) => [r.name, r.roles])));
      for (const r of results) r.roles = roles.get(r.name)!;
      store.appendInventory(tx, events.flat());
      store.appendAudit(tx, audit, ca.privateKey);
      await tx.commitAsync();
    } catch (e) {
      await tx.abort();
      throw e;
    }
    return results;
  });
}

export async function issueClient(store: CaStore, o: IssueClientOptions): Promise<IssueClientResult> {
  const [result] = await issueClients(store, [{ name: o.name, roles: o.roles, email: o.email }], o);
  return result!;
}

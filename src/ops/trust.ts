/**
 * Trusting the CA outside the CA directory: the NSS databases of the user's browsers, a Java trust store,
 * the operating system's store; and the client's key and certificate in the user's own store. The plans and
 * the writes are src/trust's; this module chooses the stores, makes every plan before anything runs (so a
 * store that needs root, another platform or a missing tool stops the run with nothing changed), runs them,
 * and undoes the stores it changed when a later one fails.
 */
import { MtlsCaError } from '../pki/errors.js';
import { parsePkcs12 } from '../pki/pkcs12-read.js';
import type { CaStore } from '../store/ca-store.js';
import { activeCacerts, DEFAULT_CACERTS_PASSWORD, javaPlan, javaStatus } from '../trust/java.js';
import {
  nssCaPlan,
  nssCaStatus,
  nssClientPlan,
  nssClientStatus,
  nssDatabases,
  type P12Password,
} from '../trust/nss.js';
import {
  type Platform,
  StepFailure,
  type StorePlan,
  type StoreStatus,
  type TrustStoreKind,
} from '../trust/plan.js';
import { clientImportCommands, currentPlatform, systemPlan, systemStatus } from '../trust/system.js';

export type TrustAction = 'install' | 'uninstall';

export interface TrustRequest {
  /** Which stores: the browsers' NSS databases, a Java trust store, the operating system's. */
  stores: { nss: boolean; java: boolean; system: boolean };
  /** A client whose key and certificate go into (or leave) the current user's store. */
  client?: string;
  /** The client's .p12 password, for an install (undefined: none known, pk12util would ask). */
  clientPassword?: P12Password;
  /** The user's home folder (the NSS databases, the login keychain). */
  home: string;
  /** The system whose store `system` and `client` mean; default the one this runs on. */
  platform?: Platform;
  /** The Java trust store; default the active JDK's cacerts. */
  keystore?: string;
  /** Its password; default `changeit`. */
  storePassword?: string;
  /** The file the password came from, for the printed keytool command. */
  storePasswordFile?: string;
  /** JAVA_HOME, to find the active JDK. */
  javaHome?: string;
}

export interface TrustPlans {
  plans: StorePlan[];
  /** The platform `system` and `client` were planned for. */
  platform?: Platform;
  /** The client's .p12 encryption profile, when its password was known: macOS and old Windows need compat. */
  clientProfile?: 'compat' | 'modern';
}

interface Context {
  store: CaStore;
  req: TrustRequest;
  here: Platform | undefined;
  platform: Platform | undefined;
}

async function context(store: CaStore, req: TrustRequest): Promise<Context> {
  const here = await currentPlatform();
  return { store, req, here, platform: req.platform ?? here };
}

/** The CA to trust: the root, when an intermediate issues (a chain is trusted through its root). */
function caOf(store: CaStore) {
  const root = store.readRootCertificate();
  if (root) return { ca: root, caFile: store.paths.rootCert };
  return { ca: store.readCaCertificate(), caFile: store.paths.caCert };
}

function clientOf(store: CaStore, name: string) {
  const files = store.paths.client(name);
  const certificate = store.readCertificate(files.cert);
  if (!certificate || !store.exists(files.p12)) {
    throw new MtlsCaError(
      'NOT_FOUND',
      `read ${store.display(store.exists(files.p12) ? files.cert : files.p12)}: no such client`,
      {
        detail: { kind: 'unknown-client', name },
      },
    );
  }
  return { certificate, p12: files.p12 };
}

/** Whether the client's store is NSS (Linux) rather than a keychain printed for another system. */
const nssClients = (c: Context) => c.platform !== 'macos' && c.platform !== 'windows';

/**
 * Every store's plan for `action`, without changing anything.
 * @param store - the CA directory (its CA certificate and clients)
 * @param action - install or uninstall
 * @param req - the stores and their settings
 */
export async function planTrust(store: CaStore, action: TrustAction, req: TrustRequest): Promise<TrustPlans> {
  const c = await context(store, req);
  const { ca, caFile } = caOf(store);
  const plans: StorePlan[] = [];
  if (req.stores.system) {
    if (!c.platform)
      throw new MtlsCaError(
        'UNSUPPORTED',
        'find the system trust store: this system is none of debian, rhel, macos, windows',
        { detail: { kind: 'trust-unknown-platform' } },
      );
    plans.push(await systemPlan(action, c.platform, c.here, ca, caFile));
  }
  if (req.stores.java) {
    const file = req.keystore ?? (await activeCacerts(req.javaHome));
    if (!file)
      throw new MtlsCaError(
        'NOT_FOUND',
        'find the Java trust store: no JDK (JAVA_HOME is not set and no java is on PATH)',
        { detail: { kind: 'trust-no-jdk' } },
      );
    plans.push(
      javaPlan(
        action,
        file,
        req.storePassword ?? DEFAULT_CACERTS_PASSWORD,
        req.storePasswordFile,
        ca,
        caFile,
      ),
    );
  }
  const client = req.client === undefined ? undefined : clientOf(store, req.client);
  const databases = nssDatabases(req.home);
  // A client certificate is of no use in a database that does not trust its CA: installing one adds the CA.
  if (req.stores.nss || (client && action === 'install' && nssClients(c))) {
    for (const d of databases) plans.push(await nssCaPlan(action, d, ca, caFile));
  }
  let clientProfile: TrustPlans['clientProfile'];
  if (client) {
    if (nssClients(c)) {
      for (const d of databases) {
        plans.push(
          await nssClientPlan(action, d, client.certificate, client.p12, req.clientPassword ?? { value: '' }),
        );
      }
    } else {
      const platform = c.platform as 'macos' | 'windows';
      plans.push({
        store: 'client',
        location: platform === 'macos' ? 'login keychain' : 'Cert:\\CurrentUser\\My',
        steps:
          action === 'install'
            ? clientImportCommands(platform, client.p12).map((command) => ({ command }))
            : [],
        note: action === 'uninstall' ? 'remove it in Keychain Access or certmgr.msc' : undefined,
        blocked: c.here === platform ? undefined : { kind: 'other-platform', platform },
      });
    }
    if (req.clientPassword) clientProfile = p12Profile(store, client.p12, req.clientPassword);
  }
  // Removing goes the other way: the client certificate before its CA.
  return { plans: action === 'install' ? plans : plans.reverse(), platform: c.platform, clientProfile };
}

function p12Profile(store: CaStore, p12: string, password: P12Password): 'compat' | 'modern' | undefined {
  const secret = 'value' in password ? password.value : store.readGeneratedPassword(p12);
  if (secret === undefined) return undefined;
  try {
    const data = store.readArtifact(p12);
    if (!data) return undefined;
    return /AES/.test(parsePkcs12(data, secret, store.display(p12)).keyEncryption ?? '')
      ? 'modern'
      : 'compat';
  } catch {
    return undefined;
  }
}

/** The first plan that cannot run, as the error that says why. */
function blocked(plans: StorePlan[], action: TrustAction): MtlsCaError | undefined {
  const p = plans.find((x) => x.blocked && x.steps.length > 0);
  if (!p?.blocked) return undefined;
  const what = `${action} ${action === 'install' ? 'into' : 'from'} the ${p.store} store ${p.location}`;
  const b = p.blocked;
  if (b.kind === 'needs-root') {
    return new MtlsCaError(
      'PERMISSION_DENIED',
      `${what}: ${b.path} can be changed by root only; nothing was changed`,
      {
        detail: { kind: 'trust-needs-root', store: p.store },
      },
    );
  }
  if (b.kind === 'other-platform') {
    return new MtlsCaError(
      'UNSUPPORTED',
      `${what}: that is the ${b.platform} store, changed on ${b.platform} only; nothing was changed`,
      {
        detail: { kind: 'trust-other-platform', platform: b.platform },
      },
    );
  }
  return new MtlsCaError('NOT_FOUND', `${what}: ${b.tool} is not installed; nothing was changed`, {
    detail: { kind: 'trust-missing-tool', tool: b.tool, packageName: b.packageName },
  });
}

/**
 * Runs the plans in order. A plan that cannot run stops everything before the first step; a step that
 * fails undoes the stores changed so far (by removing what was added) before the error is raised.
 * @param undo - makes the opposite plans of the stores changed so far (their kinds and locations)
 * @returns the plans that ran, for the report
 */
export async function applyTrust(
  plans: TrustPlans,
  action: TrustAction,
  undo: (changed: { store: TrustStoreKind; location: string }[]) => Promise<StorePlan[]>,
): Promise<StorePlan[]> {
  const refusal = blocked(plans.plans, action);
  if (refusal) throw refusal;
  const done: StorePlan[] = [];
  for (const plan of plans.plans) {
    try {
      for (const step of plan.steps) await step.run?.();
      if (plan.steps.length > 0) done.push(plan);
    } catch (e) {
      // Undo this store too: some of its steps may have run.
      const back = await undo([...done, plan].map((p) => ({ store: p.store, location: p.location })));
      for (const p of back.reverse()) {
        for (const step of p.steps) await step.run?.().catch(() => undefined);
      }
      const message = e instanceof StepFailure ? e.message : (e as Error).message;
      const what = plan.store === 'client' ? 'the client certificate' : 'the CA';
      throw new MtlsCaError(
        'IO_FAILED',
        `${action} ${what} in the ${plan.store} store ${plan.location}: ${message}; the stores changed before were restored`,
        { cause: e },
      );
    }
  }
  return done;
}

/** The plans that undo `changed` (the opposite action, for those stores only). */
export async function undoPlans(
  store: CaStore,
  action: TrustAction,
  req: TrustRequest,
  changed: { store: TrustStoreKind; location: string }[],
): Promise<StorePlan[]> {
  const opposite = action === 'install' ? 'uninstall' : 'install';
  const all = await planTrust(store, opposite, req);
  return all.plans.filter((p) => changed.some((x) => x.store === p.store && x.location === p.location));
}

/**
 * Where the CA stands in each store asked for (all when none is), and the client's certificate when one is
 * named.
 */
export async function trustStatus(store: CaStore, req: TrustRequest): Promise<StoreStatus[]> {
  const c = await context(store, req);
  const { ca, caFile } = caOf(store);
  const all = !req.stores.nss && !req.stores.java && !req.stores.system;
  const out: StoreStatus[] = [];
  if (all || req.stores.system) {
    out.push(
      c.platform
        ? systemStatus(c.platform, ca, caFile)
        : { store: 'system', location: '-', state: 'unknown', detail: 'no known system store' },
    );
  }
  if (all || req.stores.java) {
    const file = req.keystore ?? (await activeCacerts(req.javaHome));
    if (file) out.push(javaStatus(file, req.storePassword ?? DEFAULT_CACERTS_PASSWORD, ca));
    else if (!all) out.push({ store: 'java', location: '-', state: 'unknown', detail: 'no JDK' });
  }
  const databases = nssDatabases(req.home);
  if (all || req.stores.nss) for (const d of databases) out.push(await nssCaStatus(d, ca));
  if (req.client !== undefined) {
    const client = clientOf(store, req.client);
    if (nssClients(c)) for (const d of databases) out.push(await nssClientStatus(d, client.certificate));
  }
  return out;
}

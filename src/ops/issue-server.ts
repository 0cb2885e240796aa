/** `issue-server`: another server leaf (e.g. for a second host), with its key store for Java servers. */
import { MtlsCaError } from '../pki/errors.js';
import { hostsToAltNames } from '../pki/general-names.js';
import { exportPrivateKeyPem, generateKeyPair, type KeyType } from '../pki/keys.js';
import { assertSafeName } from '../pki/names.js';
import { createPkcs12, type Pkcs12Profile } from '../pki/pkcs12.js';
import { issueServerCertificate } from '../pki/profiles.js';
import { MODE_PUBLIC, MODE_SECRET } from '../store/atomic.js';
import type { CaStore } from '../store/ca-store.js';
import {
  assertDays,
  FileList,
  type StorePasswordChoice,
  storePasswordFor,
  type WrittenFile,
} from './common.js';
import { refuseLookalikes } from './names-in-use.js';
import { publishedRevocationUrls } from './publishing.js';
import { auditRecord, type CertificateSummary, issueEvent, summarize } from './records.js';
import { fullchainOf } from './trust-files.js';

export interface IssueServerOptions {
  hosts: string[];
  /** File base name in server/; default: the first host. */
  name?: string;
  days: number;
  keyType: KeyType;
  p12Profile: Pkcs12Profile;
  force: boolean;
  caPassword: string | undefined;
  store: StorePasswordChoice;
  now?: Date;
}

export interface IssueServerResult {
  name: string;
  certificate: CertificateSummary;
  files: WrittenFile[];
  passwordFile?: string;
}

/** The request's file name and subjectAltNames, after checking both (and the days). */
function serverRequest(o: Pick<IssueServerOptions, 'hosts' | 'name' | 'days'>) {
  if (o.hosts.length === 0) {
    throw new MtlsCaError('INVALID_ARGUMENT', 'issue server: no host given', { detail: { kind: 'no-host' } });
  }
  const altNames = hostsToAltNames(o.hosts);
  const name = o.name ?? o.hosts[0]!;
  if (o.name === undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw new MtlsCaError('INVALID_NAME', `use ${name} as file name: not a safe file name`, {
      detail: { kind: 'name-needed' },
    });
  }
  assertSafeName(name, 'server name');
  assertDays(o.days, 'days');
  return { name, altNames };
}

/** No look-alike of a server name in the inventory, and no existing server/<name>.crt unless `force`. */
function refuseTakenName(store: CaStore, name: string, force: boolean): void {
  refuseLookalikes(store, 'server', [name], (n) => `issue server ${n}`);
  const cert = store.paths.server(name).cert;
  if (!force && store.exists(cert)) {
    throw new MtlsCaError('ALREADY_EXISTS', `issue server ${name}: ${store.display(cert)} exists`, {
      detail: { kind: 'file-exists', choose: 'name' },
    });
  }
}

/**
 * The checks {@link issueServer} makes before it generates a key, without the lock and without the CA key:
 * what a command runs before it asks for passwords. issueServer repeats them under the lock.
 */
export function checkServerRequest(
  store: CaStore,
  o: Pick<IssueServerOptions, 'hosts' | 'name' | 'days' | 'force'>,
): void {
  const { name } = serverRequest(o);
  store.assertInitialized();
  refuseTakenName(store, name, o.force);
}

export async function issueServer(store: CaStore, o: IssueServerOptions): Promise<IssueServerResult> {
  const now = o.now ?? new Date();
  const { name, altNames } = serverRequest(o);
  const ca = store.loadCa(o.caPassword);
  const keys = await generateKeyPair(o.keyType);
  const cert = issueServerCertificate({
    ca,
    publicKey: keys.publicKey,
    altNames,
    days: o.days,
    now,
    revocation: publishedRevocationUrls(store),
  });
  return store.lock(async () => {
    refuseTakenName(store, name, o.force);
    const paths = store.paths.server(name);
    const tx = store.newTransaction();
    const files = new FileList(tx, (f) => store.display(f));
    files.write(paths.cert, cert.toPem(), MODE_PUBLIC, 'server certificate');
    const fullchain = fullchainOf(cert, ca.certificate);
    if (fullchain) files.write(paths.fullchain, fullchain, MODE_PUBLIC, 'server certificate + intermediate');
    files.write(paths.key, exportPrivateKeyPem(keys.privateKey), MODE_SECRET, 'server key');
    const { password, passwordFile } = storePasswordFor(paths.keyStore, o.store, files);
    files.write(
      paths.keyStore,
      createPkcs12({
        privateKey: keys.privateKey,
        certificate: cert,
        chain: [ca.certificate],
        friendlyName: name,
        password,
        profile: o.p12Profile,
      }),
      MODE_SECRET,
      'server key store',
    );
    store.appendInventory(tx, [
      issueEvent(
        cert,
        name,
        'server',
        [paths.cert, ...(fullchain ? [paths.fullchain] : []), paths.key, paths.keyStore].map((f) =>
          store.relative(f),
        ),
        now,
      ),
    ]);
    store.appendAudit(tx, [auditRecord('issue', cert, now, { profile: 'server' })], ca.privateKey);
    await tx.commitAsync();
    return {
      name,
      certificate: summarize(cert),
      files: files.files,
      ...(passwordFile ? { passwordFile: store.display(passwordFile) } : {}),
    };
  });
}

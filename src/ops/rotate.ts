/**
 * `ca rotate`: a new CA takes over issuing while the certificates of the old one stay valid until they
 * expire. With an intermediate the root signs a new intermediate (the root and the trust stores, which hold
 * the root, stay as they are); a CA that is its own root is followed by a new root, which the trust stores
 * then hold beside the old one. Either way:
 *
 * - the new CA becomes `ca/ca.crt` / `ca/ca.key`: everything issued from now on (`renew` included, which so
 *   moves a certificate over) comes from it;
 * - the old CA moves, key and all, to `ca/previous/<serial>/`: still in force — in `ca/ca-bundle.pem`, the
 *   trust stores (a root), and with its CRL in `ca/crl.pem`, where revoking its certificates still goes —
 *   until `ca retire` (retire.ts) takes it out once nothing it issued is in use;
 * - one commit (commit.ts) moves and writes all of it, with the new CA's inventory line and the audit line,
 *   which the old CA signs: the outgoing CA vouches for its successor, and the log's chain of signers stays
 *   unbroken.
 */
import { MtlsCaError } from '../pki/errors.js';
import { exportPrivateKeyPem, generateKeyPair, type KeyType } from '../pki/keys.js';
import { assertCommonName } from '../pki/names.js';
import type { Pkcs12Profile } from '../pki/pkcs12.js';
import { createIntermediateCa, createRootCa } from '../pki/profiles.js';
import type { CaInForce, CaStore } from '../store/ca-store.js';
import { type InventoryEntry, recordsOf } from '../store/inventory.js';
import {
  assertDays,
  defaultLeafKeyType,
  FileList,
  type StorePasswordChoice,
  stateFileListed,
  type WrittenFile,
} from './common.js';
import { type CrlSummary, crlLifetimeOf, loadCaKeys, stageCrls } from './crl.js';
import { nextCaName } from './init.js';
import { caUsage, type PreviousCa } from './list.js';
import { auditRecord, type CertificateSummary, issueEvent, summarize } from './records.js';
import { assertRootKeyHeld } from './root-key.js';
import { stageTrustFiles, type TrustedCa, trustStorePassword } from './trust-files.js';

export interface RotateOptions {
  /** The new CA's common name; default the old one's, numbered one up (init.ts nextCaName). */
  caName?: string;
  /** The new CA's validity in days (an intermediate ends no later than its root). */
  caDays: number;
  /** The new CA's key type; default the old CA's. */
  keyType?: KeyType;
  /** The encryption of trustStore.p12, when the trust stores are rewritten (a new root). */
  p12Profile: Pkcs12Profile;
  /** The CA password: opens the old CA's key (and the root's) and encrypts the new one. */
  caPassword: string | undefined;
  /** The trust stores' password when it was not generated (a new root is added to them). */
  store: StorePasswordChoice;
  now?: Date;
}

export interface RotateResult {
  dir: string;
  /** The new CA, which issues from now on. */
  ca: CertificateSummary;
  /** The CA it replaced, where it now lives, and what it still vouches for. */
  previous: CertificateSummary & Pick<PreviousCa, 'inUse' | 'lastNotAfter'> & { dir: string };
  /** The root that signed the new intermediate, with one. */
  root?: CertificateSummary;
  files: WrittenFile[];
  /** The new CA's first CRL. */
  crl: CrlSummary;
}

/** What a rotation starts from, checked. */
interface RotationPlan {
  name: string;
  issuing: CaInForce;
  root: CaInForce | undefined;
  /** What the checks read, for the rotation under the lock to use rather than read again. */
  cas: CaInForce[];
  entries: InventoryEntry[];
}

function planRotation(store: CaStore, o: Pick<RotateOptions, 'caName' | 'caDays'>): RotationPlan {
  const action = 'rotate the CA';
  const inToken = store.tokenKeyUri();
  if (inToken !== undefined) {
    // its key cannot move to previous/ as a file does, and the new CA's key would need a token label
    throw new MtlsCaError(
      'UNSUPPORTED',
      `${action}: its key is in a PKCS#11 token (${inToken}), and rotating such a CA is not supported`,
    );
  }
  const cas = store.casInForce();
  const issuing = cas[0]!;
  const root = cas.find((c) => c.role === 'root');
  const name = o.caName?.trim() ?? nextCaName(issuing.certificate.commonName ?? 'CA');
  if (!name) throw new MtlsCaError('INVALID_ARGUMENT', `${action}: the new CA name is empty`);
  assertCommonName(name, 'CA name');
  assertDays(o.caDays, 'caDays');
  // Servers match a CRL to its CA, and the inventory a certificate to its issuer, by name.
  const subject = `CN=${name}`;
  const entries = store.readInventory();
  const taken = [
    ...cas.map((c) => c.certificate.subjectName),
    ...store.retiredCas().map((c) => c.subjectName),
    ...entries.flatMap((e) => (e.profile === 'ca' ? [e.subject] : [])),
  ];
  if (taken.includes(subject)) {
    throw new MtlsCaError('ALREADY_EXISTS', `${action}: a CA of this directory is named ${name} already`, {
      detail: { kind: 'ca-name-taken' },
    });
  }
  if (store.exists(store.paths.previous(issuing.certificate.serialHex).dir)) {
    throw new MtlsCaError(
      'ALREADY_EXISTS',
      `${action}: ${store.display(store.paths.previous(issuing.certificate.serialHex).dir)} exists already`,
      'move it out of the way (it is not a CA this directory knows)',
    );
  }
  if (root) assertRootKeyHeld(store, root, action, 'signs the new intermediate');
  return { name, issuing, root, cas, entries };
}

/**
 * The checks {@link rotateCa} makes before it needs the CA password: a free name for the new CA, its days,
 * and (with an intermediate) the root's key in the directory. rotateCa repeats them under the lock.
 */
export function checkRotation(store: CaStore, o: Pick<RotateOptions, 'caName' | 'caDays'>): void {
  store.assertInitialized();
  planRotation(store, o);
}

export async function rotateCa(store: CaStore, o: RotateOptions): Promise<RotateResult> {
  const now = o.now ?? new Date();
  store.assertInitialized();
  const plan = planRotation(store, o);
  const [old, root] = loadCaKeys(store, plan.root ? [plan.issuing, plan.root] : [plan.issuing], o.caPassword);
  const oldCert = old!.certificate;
  const keyType = o.keyType ?? defaultLeafKeyType(store);
  const keys = await generateKeyPair(keyType);
  const subject = { commonName: plan.name };
  const certificate = root
    ? createIntermediateCa({ root, subject, ...keys, days: o.caDays, now })
    : createRootCa({ subject, ...keys, days: o.caDays, now });
  const encrypted = store.isCaKeyEncrypted();

  return store.lock(async () => {
    const { issuing, cas, entries } = planRotation(store, o);
    const p = store.paths;
    const previous = p.previous(oldCert.serialHex);
    const after: TrustedCa[] = [
      { role: 'issuing', certificate },
      ...cas.filter((c) => c.role === 'root'),
      { role: 'previous', certificate: oldCert },
      ...cas.filter((c) => c.role === 'previous'),
    ];
    const tx = store.newTransaction();
    store.stageRotation(tx, certificate, {
      kind: 'pem',
      pem: exportPrivateKeyPem(keys.privateKey, encrypted ? o.caPassword : undefined),
    });
    const files = new FileList(tx, (f) => store.display(f));
    const what = root ? 'issuing CA (intermediate)' : 'CA';
    files.files.push(
      { path: store.display(p.caCert), mode: '0644', what: `${what} certificate (new)` },
      stateFileListed(
        store,
        p.caKey,
        '0600',
        `${what} key (new, ${encrypted ? 'encrypted' : 'NOT encrypted'})`,
      ),
    );
    stageTrustFiles(store, files, after, {
      storePassword: (artifact) => trustStorePassword(store, artifact, o.store),
      p12Profile: o.p12Profile,
      now,
      // The trust stores hold roots: a new intermediate under the same root leaves them as they are.
      stores: !root,
    });
    const lifetime = crlLifetimeOf(store, issuing);
    const crls = stageCrls(store, tx, {
      cas: after,
      sign: [{ certificate, privateKey: keys.privateKey }],
      entries,
      now,
      days: (ca) => (ca.certificate === certificate ? lifetime : undefined),
    });
    files.files.push({ path: crls.signed[0]!.file, mode: '0644', what: "CRLs (the new CA's added)" });
    store.appendInventory(tx, [
      issueEvent(
        certificate,
        plan.name,
        'ca',
        [p.caCert, p.caKey].map((f) => store.relative(f)),
        now,
      ),
    ]);
    store.appendAudit(
      tx,
      [
        auditRecord('rotate', certificate, now, {
          profile: 'ca',
          keyType,
          replaces: oldCert.serialHex,
        }),
        ...crls.audit,
      ],
      // The outgoing CA signs: see the file comment.
      old!.privateKey,
    );
    await tx.commitAsync();
    const [usage] = caUsage(recordsOf(entries), [{ role: 'previous', certificate: oldCert }], now);
    return {
      dir: store.display(store.root),
      ca: summarize(certificate),
      previous: {
        ...summarize(oldCert),
        dir: store.display(previous.dir),
        inUse: usage!.inUse,
        ...(usage!.lastNotAfter ? { lastNotAfter: usage!.lastNotAfter } : {}),
      },
      ...(root ? { root: summarize(root.certificate) } : {}),
      files: files.files,
      crl: crls.signed[0]!,
    };
  });
}

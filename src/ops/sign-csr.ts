/** `sign-csr`: signs a CSR made elsewhere (e.g. `openssl req -new`) under the client or server profile. */
import path from 'node:path';
import { type Csr, parseCsr } from '../pki/csr.js';
import { MtlsCaError } from '../pki/errors.js';
import { assertAltNames } from '../pki/general-names.js';
import { assertCommonName, assertSafeName } from '../pki/names.js';
import { issueClientCertificate, issueServerCertificate } from '../pki/profiles.js';
import { MODE_PUBLIC } from '../store/atomic.js';
import type { CaStore } from '../store/ca-store.js';
import { assertDays, checkNames, FileList, type WrittenFile } from './common.js';
import {
  claimClientNames,
  refuseLookalikes,
  supersedeEvents,
  type ValidCertificate,
} from './names-in-use.js';
import { publishedRevocationUrls } from './publishing.js';
import { auditRecord, type CertificateSummary, issueEvent, summarize } from './records.js';

export interface SignCsrOptions {
  /** The request, PEM or DER. */
  csr: Buffer | string;
  /** Names the request in messages (its path, or `stdin`). */
  file: string;
  profile: 'client' | 'server';
  days: number;
  /** Where to write the certificate; default `client/<CN>.crt` or `server/<CN>.crt` in the CA directory. */
  out?: string;
  roles: string[];
  force: boolean;
  caPassword: string | undefined;
  now?: Date;
}

export interface SignCsrResult {
  name: string;
  profile: 'client' | 'server';
  certificate: CertificateSummary;
  files: WrittenFile[];
  roles?: string[];
  /** SANs in the request that the profile does not allow, or of a type we never issue, that were left out. */
  ignored: string[];
  /** The serial of the client certificate this one replaced (with `force`). */
  superseded?: string;
  /** When the replaced certificate expires: until then it still authenticates unless revoked. */
  supersededNotAfter?: string;
}

/** The request, parsed and checked (signature, names, days): what signCsr signs. */
interface CheckedRequest {
  csr: Csr;
  name: string;
  cn: string | undefined;
}

function checkRequest(o: Pick<SignCsrOptions, 'csr' | 'file' | 'profile' | 'days'>): CheckedRequest {
  assertDays(o.days, 'days');
  const csr = parseCsr(o.csr, o.file);
  return { csr, ...checkRequestedNames(csr, o.profile, o.file) };
}

/**
 * The same rules as issue-client and issue-server: no look-alike of an existing name; for a client, a still
 * valid certificate of the same name is replaced only with `force`, and then marked superseded (the old one is
 * returned); an existing file other than a client's own certificate is replaced only with `force`.
 */
function claimName(
  store: CaStore,
  o: Pick<SignCsrOptions, 'file' | 'profile' | 'out' | 'force'>,
  name: string,
  now: Date,
): { out: string; old: ValidCertificate | undefined } {
  refuseLookalikes(store, o.profile, [name], () => `sign ${o.file}`);
  const old =
    o.profile === 'client'
      ? claimClientNames(store, [name], {
          now,
          force: o.force,
          action: () => `sign ${o.file} for client ${name}`,
        }).get(name)
      : undefined;
  const defaultOut =
    o.profile === 'client' ? store.paths.client(name).cert : store.paths.server(safeServerName(name)).cert;
  const out = o.out ?? defaultOut;
  // A client's own certificate file is governed by the rule above (a revoked one may be replaced); any other
  // existing file only with --force.
  const replaceable = o.profile === 'client' && out === defaultOut;
  if (!replaceable && store.exists(out) && !o.force) {
    throw new MtlsCaError('ALREADY_EXISTS', `write ${store.display(out)}: the file exists`, {
      detail: { kind: 'file-exists', choose: 'out' },
    });
  }
  return { out, old };
}

/**
 * The checks {@link signCsr} makes before it signs, without the lock and without the CA key: the request's
 * signature and names, and the name free (or `force`). What a command runs before it asks for the CA
 * password; signCsr repeats them under the lock.
 */
export function checkCsrSigning(
  store: CaStore,
  o: Pick<SignCsrOptions, 'csr' | 'file' | 'profile' | 'days' | 'out' | 'force' | 'now'>,
): void {
  const { name } = checkRequest(o);
  store.assertInitialized();
  claimName(store, o, name, o.now ?? new Date());
}

export async function signCsr(store: CaStore, o: SignCsrOptions): Promise<SignCsrResult> {
  const now = o.now ?? new Date();
  const { csr, name, cn } = checkRequest(o);
  const san = csr.altNames;
  const ca = store.loadCa(o.caPassword);
  const ignored = [
    ...(o.profile === 'client'
      ? [...(san.dns ?? []).map((d) => `DNS:${d}`), ...(san.ip ?? []).map((i) => `IP:${i}`)]
      : [...(san.email ?? []).map((e) => `email:${e}`), ...(san.uri ?? []).map((u) => `URI:${u}`)]),
    ...csr.otherAltNames,
  ];
  const revocation = publishedRevocationUrls(store);
  const cert =
    o.profile === 'client'
      ? issueClientCertificate({
          ca,
          publicKey: csr.publicKey,
          commonName: name,
          email: san.email,
          uri: san.uri,
          days: o.days,
          now,
          revocation,
        })
      : issueServerCertificate({
          ca,
          publicKey: csr.publicKey,
          altNames: { dns: san.dns, ip: san.ip },
          commonName: cn,
          days: o.days,
          now,
          revocation,
        });
  return store.lock(async () => {
    const { out, old } = claimName(store, o, name, now);
    const tx = store.newTransaction();
    const files = new FileList(tx, (f) => store.display(f));
    files.write(path.resolve(out), cert.toPem(), MODE_PUBLIC, `${o.profile} certificate`);
    const roles =
      o.profile === 'client' && o.roles.length > 0 ? store.mergeUserRoles(tx, name, o.roles) : undefined;
    const event = issueEvent(cert, name, o.profile, [path.relative(store.root, path.resolve(out))], now);
    store.appendInventory(tx, [event, ...supersedeEvents(old, event.serial, now)]);
    store.appendAudit(tx, [auditRecord('sign', cert, now, { profile: o.profile })], ca.privateKey);
    await tx.commitAsync();
    return {
      name,
      profile: o.profile,
      certificate: summarize(cert),
      files: files.files,
      ignored,
      ...(roles ? { roles } : {}),
      ...(old ? { superseded: old.serialHex, supersededNotAfter: old.notAfter.toISOString() } : {}),
    };
  });
}

/**
 * Checks every name the request asks for before anything is signed — also the entries the profile leaves out,
 * since a request with a hostile name is not one to sign in part — and returns the certificate's name: the
 * CN (a client's user name), else for a server its first DNS name or IP address.
 * @throws MtlsCaError `INVALID_NAME` / `INVALID_ARGUMENT` quoting the entry, `INVALID_ARGUMENT` when the
 *   profile lacks the name it needs
 */
function checkRequestedNames(
  csr: Csr,
  profile: 'client' | 'server',
  file: string,
): { name: string; cn: string | undefined } {
  const cn = csr.commonName;
  const san = csr.altNames;
  checkNames(
    `sign ${file}: the request asks for`,
    'the request is refused as a whole; ask for a new one without that name',
    () => {
      if (profile === 'client' && cn !== undefined) assertSafeName(cn, 'client name (subject CN)');
      else if (cn !== undefined) assertCommonName(cn, 'common name');
      assertAltNames(san, true);
    },
  );
  if (profile === 'client') {
    if (!cn) {
      throw new MtlsCaError(
        'INVALID_ARGUMENT',
        `sign ${file}: the request has no subject CN, which names the client user`,
        'ask for a CSR made with -subj "/CN=<user>"',
      );
    }
    return { name: cn, cn };
  }
  if ((san.dns?.length ?? 0) + (san.ip?.length ?? 0) === 0) {
    throw new MtlsCaError(
      'INVALID_ARGUMENT',
      `sign ${file}: the request has no DNS or IP subjectAltName, which a server certificate needs`,
      'ask for a CSR made with -addext "subjectAltName=DNS:host.example.com"',
    );
  }
  return { name: cn ?? san.dns?.[0] ?? san.ip![0]!, cn };
}

function safeServerName(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[.-]+/, '');
  return safe || 'server-csr';
}

/**
 * The files that say which CAs to trust, written whenever the CAs in force change (init, import, rotate,
 * retire): `ca/ca-bundle.pem` — every CA certificate in force, what a server verifying our clients trusts
 * (serve, nginx's `ssl_client_certificate`), so that a client that sends its certificate alone still chains —
 * and the Java trust stores, which hold the roots only: the self-signed CAs in force (the root of an
 * intermediate, or both roots during the rotation of a CA that is its own root). A client under an
 * intermediate sends the intermediate itself, from its `.p12`. With an intermediate, `ca/chain.pem` holds the
 * issuing CA and its root, as `openssl verify -untrusted` and servers sending a chain take them.
 */
import type { Certificate } from '../pki/certificate.js';
import { MtlsCaError } from '../pki/errors.js';
import { createJks } from '../pki/jks.js';
import { createTrustStorePkcs12, type Pkcs12Profile } from '../pki/pkcs12.js';
import { MODE_PUBLIC } from '../store/atomic.js';
import type { CaInForce, CaStore } from '../store/ca-store.js';
import type { FileList, StorePasswordChoice } from './common.js';

/** A CA in force as the trust files see it. */
export type TrustedCa = Pick<CaInForce, 'role' | 'certificate'>;

/**
 * The trust stores' entries: the roots among the CAs in force, each under an alias that says what it is —
 * `ca` for a CA that is its own root, `root` for the root of an intermediate, `ca-<serial>` for a root a
 * rotation replaced.
 */
export function trustAnchors(cas: readonly TrustedCa[]): { alias: string; certificate: Certificate }[] {
  return cas
    .filter((c) => c.certificate.isSelfIssued)
    .map((c) => ({
      alias: c.role === 'previous' ? `ca-${c.certificate.serialHex}` : c.role === 'root' ? 'root' : 'ca',
      certificate: c.certificate,
    }));
}

/** PEM certificates one after the other. */
export function pemBundle(certificates: readonly Certificate[]): string {
  return certificates.map((c) => c.toPem()).join('');
}

/**
 * Stages the trust files for the CAs in force once the transaction commits: {@link stageCaBundle}, then
 * {@link stageTrustStores} unless `o.stores` is false.
 * @param o.stores - whether to write the trust stores (default true); they hold the roots only, so a change
 *   of intermediate leaves them as they are
 */
export function stageTrustFiles(
  store: CaStore,
  files: FileList,
  cas: readonly TrustedCa[],
  o: TrustStoreOptions & { stores?: boolean },
): void {
  stageCaBundle(store, files, cas);
  if (o.stores !== false) stageTrustStores(store, files, cas, o);
}

/**
 * Stages `ca/ca-bundle.pem` and, with an intermediate, `ca/chain.pem`.
 * @param cas - the CAs in force, the issuing CA first (as {@link CaStore.casInForce} lists them)
 */
export function stageCaBundle(store: CaStore, files: FileList, cas: readonly TrustedCa[]): void {
  for (const f of caBundleFiles(store, cas)) files.write(f.file, f.data, MODE_PUBLIC, f.what);
}

/**
 * What {@link stageCaBundle} writes, for a host that keeps copies of a CA kept elsewhere: with an
 * intermediate `ca/chain.pem`, then `ca/ca-bundle.pem`.
 * @param cas - the CAs in force, the issuing CA first
 */
export function caBundleFiles(
  store: CaStore,
  cas: readonly TrustedCa[],
): { file: string; data: string; what: string }[] {
  const p = store.paths;
  const issuing = cas[0]!.certificate;
  const root = cas.find((c) => c.role === 'root')?.certificate;
  return [
    ...(root
      ? [{ file: p.chain, data: pemBundle([issuing, root]), what: 'issuing CA + root, the chain' }]
      : []),
    {
      file: p.caBundle,
      data: pemBundle(cas.map((c) => c.certificate)),
      what: 'every CA in force, for servers to trust',
    },
  ];
}

export interface TrustStoreOptions {
  /** The password of a trust store (given, generated, or the one it had). */
  storePassword: (artifact: string) => string;
  /** The encryption of trustStore.p12's MAC. */
  p12Profile: Pkcs12Profile;
  /** The JKS entries' dates. */
  now: Date;
}

/**
 * Stages trustStore.jks and trustStore.p12 with the roots among the CAs in force ({@link trustAnchors}).
 * @param cas - the CAs in force
 */
export function stageTrustStores(
  store: CaStore,
  files: FileList,
  cas: readonly TrustedCa[],
  o: TrustStoreOptions,
): void {
  const p = store.paths;
  const anchors = trustAnchors(cas);
  files.write(
    p.trustStoreJks,
    createJks(anchors, o.storePassword(p.trustStoreJks), o.now),
    MODE_PUBLIC,
    'trust store, JKS (server.ssl.trust-store)',
  );
  files.write(
    p.trustStoreP12,
    createTrustStorePkcs12({
      entries: anchors,
      password: o.storePassword(p.trustStoreP12),
      profile: o.p12Profile,
    }),
    MODE_PUBLIC,
    'trust store, PKCS#12',
  );
}

/**
 * A server certificate and the intermediate that issued it, for nginx, HAProxy and Node (which send what the
 * file holds); undefined when the issuing CA is its own root, whose clients hold it already.
 * @param certificate - the server's certificate
 * @param issuing - the CA that signed it
 */
export function fullchainOf(certificate: Certificate, issuing: Certificate): string | undefined {
  return issuing.isSelfIssued ? undefined : pemBundle([certificate, issuing]);
}

/**
 * The password of a trust store being rewritten: the one mtls-ca generated for it (its `.pass` file), so
 * that whatever reads it keeps working; else the one given.
 * @throws MtlsCaError PASSWORD_REQUIRED (detail `store-password`) when it was the user's and none is given
 */
export function trustStorePassword(store: CaStore, artifact: string, choice: StorePasswordChoice): string {
  const password = choice.given === undefined ? store.readGeneratedPassword(artifact) : choice.given;
  if (password === undefined) {
    throw new MtlsCaError(
      'PASSWORD_REQUIRED',
      `rewrite ${store.display(artifact)}: its password was chosen when it was made, and none is given`,
      { detail: { kind: 'store-password' } },
    );
  }
  return password;
}

/**
 * Where everything lives in a CA directory (default `./ssl`). File names follow the tutorial mtls-ca replaces,
 * so its Spring Boot settings (`server.ssl.key-store=ssl/server/keyStore.p12`,
 * `server.ssl.trust-store=ssl/server/trustStore.jks`) work unchanged.
 */
import path from 'node:path';

export const DEFAULT_DIR = 'ssl';

/** The files of one CA certificate and its key (a previous or retired issuing CA, see {@link Layout}). */
export interface CaFiles {
  dir: string;
  cert: string;
  key: string;
}

/**
 * Where everything lives. The CA that issues is always `ca/ca.crt` and `ca/ca.key`; with an intermediate it
 * is signed by `ca/root.crt`, whose key `ca/root.key` may be taken offline. After a rotation the CA it
 * replaced lives on in `ca/previous/<serial>/` (its certificates stay valid), and once retired in
 * `ca/retired/<serial>/` (out of every trust file, its key kept: a CA key is never destroyed).
 */
export interface Layout {
  root: string;
  caDir: string;
  /** The issuing CA: the root itself, or the intermediate the root signed. */
  caCert: string;
  caKey: string;
  /** With an intermediate: the root CA, and its key while it is online. */
  rootCert: string;
  rootKey: string;
  /** With an intermediate: the issuing CA then the root, as `openssl verify -untrusted` and servers take it. */
  chain: string;
  /**
   * Every CA certificate a client certificate of this CA may chain to: the issuing CA, the root, and the CAs a
   * rotation replaced while they are in use. What servers trust (serve's default, nginx's
   * `ssl_client_certificate`).
   */
  caBundle: string;
  previousDir: string;
  /** A CA a rotation replaced, by its serial: still trusted, its certificates valid until they expire. */
  previous(serial: string): CaFiles;
  retiredDir: string;
  /** A CA retired from trust, by its serial. */
  retired(serial: string): CaFiles;
  /**
   * Where the CA key is when a PKCS#11 token holds it: one line, its RFC 7512 URI (never a PIN). A CA has
   * either this or {@link Layout.caKey}.
   */
  caKeyUri: string;
  /** Append-only JSON lines: one record per issued certificate, later lines update status. */
  inventory: string;
  /**
   * A compact, derived copy of what `list` needs from the inventory (see inventory-index.ts), appended in the
   * same transaction; ignored when out of step with the inventory and rebuilt by the next write.
   */
  inventoryIndex: string;
  /**
   * The name key of every certificate in the inventory, one short line each (see name-index.ts): what a new
   * name's look-alike check searches, so that it does not read every name of inventory.idx. Appended in the
   * same transaction, in step by the same rule as inventory.idx; ignored when out of step (the check then
   * asks inventory.idx or the log) and rebuilt by the next write.
   */
  inventoryNames: string;
  /** Held while a command changes the directory. */
  lock: string;
  crl: string;
  /** The CA's settings (settings.ts): where it publishes revocation. Absent until one is set. */
  settings: string;
  /**
   * The delegated OCSP responder's certificate and (unencrypted) key: the `publish` process signs OCSP
   * responses with them, so that the CA key can stay offline. Re-issued by the commands that sign a CRL.
   */
  ocspCert: string;
  ocspKey: string;
  auditLog: string;
  /** The audit log's signed head: its line count and last line's hash, kept outside it (see audit.ts). */
  auditHead: string;
  serverDir: string;
  clientDir: string;
  users: string;
  /**
   * Server leaf files for `name` (default `server`); `fullchain` (the leaf and the intermediate, for nginx,
   * HAProxy and Node) is written when the issuing CA is an intermediate.
   */
  server(name?: string): { cert: string; key: string; keyStore: string; fullchain: string };
  trustStoreJks: string;
  trustStoreP12: string;
  /** Client files for a user name. */
  client(name: string): { key: string; csr: string; cert: string; p12: string };
  /** `<artifact>.pass`: the generated password of a store, beside it. */
  passwordFile(artifact: string): string;
}

/** @param root - the CA directory (the CLI's default is `ssl`) */
export function layout(root: string): Layout {
  const caDir = path.join(root, 'ca');
  const serverDir = path.join(root, 'server');
  const clientDir = path.join(root, 'client');
  const previousDir = path.join(caDir, 'previous');
  const retiredDir = path.join(caDir, 'retired');
  const caFiles = (dir: string): CaFiles => ({
    dir,
    cert: path.join(dir, 'ca.crt'),
    key: path.join(dir, 'ca.key'),
  });
  return {
    root,
    caDir,
    caCert: path.join(caDir, 'ca.crt'),
    caKey: path.join(caDir, 'ca.key'),
    rootCert: path.join(caDir, 'root.crt'),
    rootKey: path.join(caDir, 'root.key'),
    chain: path.join(caDir, 'chain.pem'),
    caBundle: path.join(caDir, 'ca-bundle.pem'),
    previousDir,
    previous: (serial) => caFiles(path.join(previousDir, serial)),
    retiredDir,
    retired: (serial) => caFiles(path.join(retiredDir, serial)),
    caKeyUri: path.join(caDir, 'ca-key.uri'),
    inventory: path.join(caDir, 'inventory.jsonl'),
    inventoryIndex: path.join(caDir, 'inventory.idx'),
    inventoryNames: path.join(caDir, 'inventory.names'),
    lock: path.join(root, '.mtls-ca.lock'),
    crl: path.join(caDir, 'crl.pem'),
    settings: path.join(caDir, 'settings.json'),
    ocspCert: path.join(caDir, 'ocsp.crt'),
    ocspKey: path.join(caDir, 'ocsp.key'),
    auditLog: path.join(caDir, 'audit.log'),
    auditHead: path.join(caDir, 'audit.head'),
    serverDir,
    clientDir,
    users: path.join(root, 'users.json'),
    server: (name = 'server') => ({
      cert: path.join(serverDir, `${name}.crt`),
      key: path.join(serverDir, `${name}.key`),
      keyStore: path.join(serverDir, name === 'server' ? 'keyStore.p12' : `${name}.p12`),
      fullchain: path.join(serverDir, `${name}.fullchain.pem`),
    }),
    trustStoreJks: path.join(serverDir, 'trustStore.jks'),
    trustStoreP12: path.join(serverDir, 'trustStore.p12'),
    client: (name) => ({
      key: path.join(clientDir, `${name}.key`),
      csr: path.join(clientDir, `${name}.csr`),
      cert: path.join(clientDir, `${name}.crt`),
      p12: path.join(clientDir, `client_${name}.p12`),
    }),
    passwordFile: (artifact) => `${artifact}.pass`,
  };
}

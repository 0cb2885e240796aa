/**
 * Where everything lives in a CA directory (default `./ssl`). File names follow the tutorial mtls-ca replaces,
 * so its Spring Boot settings (`server.ssl.key-store=ssl/server/keyStore.p12`,
 * `server.ssl.trust-store=ssl/server/trustStore.jks`) work unchanged.
 */
import path from 'node:path';

export const DEFAULT_DIR = 'ssl';

export interface Layout {
  root: string;
  caDir: string;
  caCert: string;
  caKey: string;
  /** Append-only JSON lines: one record per issued certificate, later lines update status. */
  inventory: string;
  /**
   * A compact, derived copy of what `list` needs from the inventory (see inventory-index.ts), appended in the
   * same transaction; ignored when out of step with the inventory and rebuilt by the next write.
   */
  inventoryIndex: string;
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
  /** Server leaf files for `name` (default `server`). */
  server(name?: string): { cert: string; key: string; keyStore: string };
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
  return {
    root,
    caDir,
    caCert: path.join(caDir, 'ca.crt'),
    caKey: path.join(caDir, 'ca.key'),
    inventory: path.join(caDir, 'inventory.jsonl'),
    inventoryIndex: path.join(caDir, 'inventory.idx'),
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

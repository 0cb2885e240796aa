/**
 * What a configuration snippet needs to know about a CA directory: where its files are (absolute, so that a
 * snippet works from any working directory), which passwords were generated and where they are kept, who the
 * users are and their roles, and the names the server certificate answers to. Reads only; the snippets
 * themselves are words, written by the CLI.
 */
import path from 'node:path';
import { MtlsCaError } from '../pki/errors.js';
import { keyTypeOf } from '../pki/keys.js';
import type { CaStore } from '../store/ca-store.js';

/** Where a store's password comes from: the `.pass` file mtls-ca generated, or the user, who chose it. */
export interface PasswordSource {
  /** The generated password's file (absolute), or undefined when the user gave the password. */
  file?: string;
}

export interface SnippetFacts {
  /** The CA directory, absolute. */
  dir: string;
  /** The CA certificate's common name (or its subject when it has none). */
  caName: string;
  /**
   * The CA certificates to trust: ca/ca.crt, or with more than one CA in force (an intermediate and its root, a
   * previous CA after a rotation) ca/ca-bundle.pem, which holds them all.
   */
  caCert: string;
  crl: string;
  /** The CRL's next update (ISO 8601), when the CRL can be read: the date a snippet's server stops trusting it. */
  crlNextUpdate?: string;
  server: {
    /** `server`, or the name given to `issue-server --name`. */
    name: string;
    /** The server certificate, or with an intermediate the fullchain file (certificate + intermediate). */
    cert: string;
    key: string;
    /** The PKCS#12 key store with the server's key, certificate and the CA (alias `server`). */
    keyStore: string;
    keyStorePassword: PasswordSource;
    /** The key store's alias: the friendly name of the key entry. */
    alias: string;
    /** DNS names, then IP addresses, of the server certificate. */
    hosts: string[];
    keyType: string;
  };
  trustStoreJks: { file: string; password: PasswordSource };
  trustStoreP12: { file: string; password: PasswordSource };
  client?: {
    name: string;
    cert: string;
    key: string;
    p12: string;
    p12Password: PasswordSource;
    /** The user's roles in users.json (empty when the user is not there). */
    roles: string[];
  };
  /** users.json: every user and their roles, in the file's order. */
  users: { name: string; roles: string[] }[];
}

export interface SnippetOptions {
  /** The server whose files to use (`ssl/server/<name>.*`); default `server`. */
  server?: string;
  /** The client whose files to use (`ssl/client/<name>.*`); none: the snippet has no client part. */
  client?: string;
}

/**
 * Collects the facts of the CA directory for configuration snippets.
 * @param store - the CA directory
 * @param options - which server and client certificate to describe
 * @throws MtlsCaError `CA_NOT_INITIALIZED`; `NOT_FOUND` when a server or client file is missing
 */
export function snippetFacts(store: CaStore, options: SnippetOptions = {}): SnippetFacts {
  const ca = store.readCaCertificate();
  const p = store.paths;
  const abs = (file: string) => path.resolve(file);
  const password = (artifact: string): PasswordSource =>
    store.exists(p.passwordFile(artifact)) ? { file: abs(p.passwordFile(artifact)) } : {};

  const serverName = options.server ?? 'server';
  const serverFiles = p.server(serverName);
  for (const file of [serverFiles.cert, serverFiles.key, serverFiles.keyStore]) {
    if (!store.exists(file)) {
      throw new MtlsCaError('NOT_FOUND', `read ${store.display(file)}: no such server file`);
    }
  }
  const serverCert = store.readCertificate(serverFiles.cert)!;
  const serverKey = store.readPrivateKey(serverFiles.key)!;
  const san = serverCert.subjectAltNames;

  const usersFile = store.readUsers();
  const users = Object.entries(usersFile.users).map(([name, entry]) => ({
    name,
    roles: Array.isArray(entry?.roles) ? entry.roles.filter((r) => typeof r === 'string') : [],
  }));

  let client: SnippetFacts['client'];
  if (options.client !== undefined) {
    const files = p.client(options.client);
    for (const file of [files.cert, files.key, files.p12]) {
      if (!store.exists(file)) {
        throw new MtlsCaError(
          'NOT_FOUND',
          `read ${store.display(file)}: no such file for client ${JSON.stringify(options.client)}`,
        );
      }
    }
    client = {
      name: options.client,
      cert: abs(files.cert),
      key: abs(files.key),
      p12: abs(files.p12),
      p12Password: password(files.p12),
      roles: users.find((u) => u.name === options.client)?.roles ?? [],
    };
  }

  const crl = store.readCrl();
  // With an intermediate, servers send it with their certificate. With it, or after a rotation, they trust
  // every CA in force: ca.crt alone would refuse the clients of the root's other intermediates and of a
  // previous CA, which stays trusted until `ca retire`.
  const cas = store.casInForce();
  const intermediate = cas.some((c) => c.role === 'root');
  const bundle = cas.length > 1;
  return {
    dir: abs(store.root),
    caName: ca.commonName ?? ca.subjectName,
    caCert: abs(bundle ? p.caBundle : p.caCert),
    crl: abs(p.crl),
    crlNextUpdate: typeof crl === 'string' ? undefined : crl.nextUpdate.toISOString(),
    server: {
      name: serverName,
      cert: abs(
        intermediate && store.exists(serverFiles.fullchain) ? serverFiles.fullchain : serverFiles.cert,
      ),
      key: abs(serverFiles.key),
      keyStore: abs(serverFiles.keyStore),
      keyStorePassword: password(serverFiles.keyStore),
      alias: serverName,
      hosts: [...(san.dns ?? []), ...(san.ip ?? [])],
      keyType: keyTypeOf(serverKey),
    },
    trustStoreJks: { file: abs(p.trustStoreJks), password: password(p.trustStoreJks) },
    trustStoreP12: { file: abs(p.trustStoreP12), password: password(p.trustStoreP12) },
    client,
    users,
  };
}

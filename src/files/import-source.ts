/**
 * Where other tools keep a CA, and reading it for `import`: the CA certificate, its key, and — for tools that
 * keep one — the certificate database (`index.txt`) with the certificates it lists. Only reads, with the limits
 * of every file a user names (user-file.ts); what the files mean is checked in ops/import.ts.
 *
 * - mkcert: its CAROOT folder, `rootCA.pem` and `rootCA-key.pem` (unencrypted PKCS#8).
 * - easy-rsa 3: the `pki/` folder, `ca.crt`, `private/ca.key` (encrypted PKCS#8 — PBES2, PBKDF2-SHA256 and
 *   3DES in easy-rsa 3.1 — unless built with `nopass`), `index.txt`; the certificates of the index's rows in
 *   `issued/`, `certs_by_serial/`, and where `revoke`, `renew` and `expire` move them.
 * - cfssl: `ca.pem` and `ca-key.pem` (SEC1 or PKCS#1, unencrypted), as `cfssljson -bare ca` writes them.
 * - openssl: a certificate and key named one by one, or a folder in `openssl ca`'s layout (the `demoCA` of
 *   OpenSSL's CA.pl and default openssl.cnf): `cacert.pem`, `private/cakey.pem`, `index.txt`, `newcerts/`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { MtlsCaError } from '../pki/errors.js';
import { INPUT, InputError, type InputKind, readUserFile } from './user-file.js';

export const IMPORT_TOOLS = ['mkcert', 'easy-rsa', 'cfssl', 'openssl'] as const;
export type ImportTool = (typeof IMPORT_TOOLS)[number];

export interface SourceFile {
  /** The path as messages show it: as the user named it, joined with the tool's file names. */
  path: string;
  data: Buffer;
}

/** A CA as another tool left it. */
export interface ImportSource {
  tool: ImportTool;
  /** The folder the CA was found in (for the openssl tool named by files: the certificate's folder). */
  folder: string;
  certificate: SourceFile;
  key: SourceFile;
  /** The CA's certificate database, for tools that keep one (easy-rsa, `openssl ca`). */
  index?: SourceFile;
  /** Certificate files found where the tool keeps what the CA issued; the index's rows are looked up here. */
  issued: SourceFile[];
  /** The folders {@link issued} comes from (those that exist), for messages. */
  issuedFolders: string[];
}

/** Where to look, as the user said it. */
export interface SourcePaths {
  /** The tool's folder (the `-bare` name prefix for cfssl also works). */
  path?: string;
  /** openssl: the CA certificate. */
  cert?: string;
  /** openssl: the CA key. */
  key?: string;
  /** openssl: `openssl ca`'s index.txt. */
  index?: string;
  /** openssl: the folder holding the certificates of the index's rows (default: `newcerts/` beside it). */
  certs?: string;
}

/** Where easy-rsa 3 keeps issued certificates: first where it puts them, then where later commands move them. */
const EASY_RSA_ISSUED = [
  'issued',
  'certs_by_serial',
  'revoked/certs_by_serial',
  'renewed/issued',
  'renewed/certs_by_serial',
  'expired',
];

/** Where a tool's layout keeps each file. */
interface Layout {
  folder: string;
  cert: string;
  key: string;
  index?: string;
  /** The index is optional: read when it exists. */
  indexOptional?: boolean;
  issuedFolders: string[];
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function exists(p: string): boolean {
  return fs.existsSync(p);
}

function layoutOf(tool: ImportTool, p: SourcePaths): Layout {
  const folder = p.path;
  if (tool === 'openssl' && folder === undefined) {
    const index = p.index;
    return {
      folder: path.dirname(p.cert!),
      cert: p.cert!,
      key: p.key!,
      index,
      issuedFolders: index === undefined ? [] : [p.certs ?? path.join(path.dirname(index), 'newcerts')],
    };
  }
  if (folder === undefined) throw new Error(`import from ${tool}: no folder`); // the CLI always gives one
  if (tool === 'cfssl' && !isDirectory(folder) && exists(`${folder}.pem`)) {
    // `cfssljson -bare NAME` writes NAME.pem and NAME-key.pem: the prefix names the CA as well as a folder does.
    return {
      folder: path.dirname(folder),
      cert: `${folder}.pem`,
      key: `${folder}-key.pem`,
      issuedFolders: [],
    };
  }
  if (!isDirectory(folder)) {
    throw new MtlsCaError(
      exists(folder) ? 'INVALID_ARGUMENT' : 'NOT_FOUND',
      `import from ${tool} ${folder}: ${exists(folder) ? 'not a folder' : 'no such folder'}`,
      { detail: { kind: 'import-source', tool } },
    );
  }
  const at = (...parts: string[]) => path.join(folder, ...parts);
  switch (tool) {
    case 'mkcert':
      return {
        folder,
        cert: at('rootCA.pem'),
        key: at('rootCA-key.pem'),
        issuedFolders: [],
      };
    case 'cfssl':
      return {
        folder,
        cert: at('ca.pem'),
        key: at('ca-key.pem'),
        issuedFolders: [],
      };
    case 'easy-rsa': {
      // The folder easy-rsa works in holds pki/; either one names the PKI.
      const pki = !exists(at('ca.crt')) && isDirectory(at('pki')) ? at('pki') : folder;
      return {
        folder: pki,
        cert: path.join(pki, 'ca.crt'),
        key: path.join(pki, 'private', 'ca.key'),
        index: path.join(pki, 'index.txt'),
        issuedFolders: EASY_RSA_ISSUED.map((d) => path.join(pki, d)),
      };
    }
    case 'openssl':
      return {
        folder,
        cert: at('cacert.pem'),
        key: at('private', 'cakey.pem'),
        index: p.index ?? at('index.txt'),
        indexOptional: p.index === undefined,
        issuedFolders: [p.certs ?? (p.index ? path.join(path.dirname(p.index), 'newcerts') : at('newcerts'))],
      };
  }
}

function readSource(file: string, kind: InputKind, tool: ImportTool): SourceFile {
  try {
    return { path: file, data: readUserFile(file, kind) };
  } catch (e) {
    if (e instanceof InputError && e.failure === 'missing') {
      throw new MtlsCaError(e.code, `import from ${tool}: ${file} is missing`, {
        detail: { kind: 'import-source', tool },
        cause: e,
      });
    }
    throw e;
  }
}

/** The certificate files (`*.crt`, `*.pem`) in a folder; a missing folder has none. */
function certificatesIn(folder: string): SourceFile[] {
  let names: string[];
  try {
    names = fs.readdirSync(folder);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw new MtlsCaError('IO_FAILED', `read ${folder}: ${(e as Error).message}`, undefined, e);
  }
  return names
    .filter((n) => /\.(crt|pem)$/i.test(n))
    .sort()
    .map((n) => path.join(folder, n))
    .filter((f) => fs.statSync(f).isFile())
    .map((f) => ({ path: f, data: readUserFile(f, INPUT.certificate) }));
}

/**
 * Reads a CA another tool made.
 * @param tool - which tool made it
 * @param paths - where it is, as the user said (the CLI fills in mkcert's CAROOT when no folder is named)
 * @throws MtlsCaError `NOT_FOUND` naming a missing file and where the tool keeps it; the errors of
 *   readUserFile for a file that cannot be read
 */
export function readImportSource(tool: ImportTool, paths: SourcePaths): ImportSource {
  const layout = layoutOf(tool, paths);
  const certificate = readSource(layout.cert, INPUT.certificate, tool);
  const key = readSource(layout.key, INPUT.privateKey, tool);
  const index =
    layout.index !== undefined && !(layout.indexOptional && !exists(layout.index))
      ? readSource(layout.index, INPUT.certificateIndex, tool)
      : undefined;
  const issuedFolders = index ? layout.issuedFolders.filter(isDirectory) : [];
  return {
    tool,
    folder: layout.folder,
    certificate,
    key,
    ...(index ? { index } : {}),
    issued: issuedFolders.flatMap(certificatesIn),
    issuedFolders,
  };
}

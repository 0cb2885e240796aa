/**
 * CAs as teams already have them, for the tests of `mtls-ca import`: each made by its own tool — mkcert,
 * easy-rsa, cfssl, openssl (`req -x509`, `openssl ca`) — the way that tool's documentation makes one, never
 * written by hand. Every function makes its CA in a folder it is given and returns where the files are; they
 * run the tools asynchronously, so that a test file can make its CAs side by side.
 *
 * Each CA is made once and kept between runs under node_modules/.cache/mtls-ca-tests (test/helpers/cache.ts),
 * then copied into the folder given: easy-rsa alone runs openssl about 80 times and its shell tools and
 * subshells about 230, and the tools' runs were most of the import tests' CPU. A kept CA proves what a fresh one
 * would: its files are the bytes the installed tool wrote, by the recipe of this file, and the folder it is kept
 * under is named after a hash of that recipe (this file, the function and its arguments), of each tool's version
 * as the tool prints it (and OpenSSL's default configuration, from which `req -x509` takes its extensions), and
 * of the month. So a new tool, a changed recipe or another openssl.cnf makes the CA anew with the tools
 * installed now, and a new month does too, long before anything in it expires (the shortest lifetime here is the
 * 180 days of easy-rsa's CRL, then the 365 of `openssl ca`'s clients) — the imports see certificates in force,
 * as a team's would be. What a kept CA no longer varies from run to run is what the tool chooses at random
 * (keys, serials); no test depends on one draw of them. Nothing the tools wrote depends on the folder they ran
 * in, except two configuration files that name it, which no import reads: easy-rsa's own scratch
 * pki/safessl-easyrsa.cnf (it writes it anew at each run), and the ca.cnf of {@link makeOpensslCaFolder}, ours,
 * which is written again for the copy.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CACHE, cached, hash } from './cache.js';
import { haveTool } from './tools.js';

/** easy-rsa's script: on PATH, or where Debian's package puts it (/usr/share/easy-rsa, not on PATH). */
export const EASYRSA = ['easyrsa', '/usr/share/easy-rsa/easyrsa'].find((t) => haveTool(t)) ?? 'easyrsa';

/**
 * Runs a tool and resolves with its stdout, or rejects with its stderr unless it exits 0.
 * @param input - what the tool reads on stdin (default: nothing)
 */
function tool(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { cwd: opts.cwd, env: opts.env, timeout: 60_000 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${cmd} ${args.join(' ')}: ${error.message}\n${stderr}\n${stdout}`));
        else resolve(stdout);
      },
    );
    // A tool that exits without reading its input closes the pipe: its exit status says what went wrong.
    child.stdin!.on('error', () => {});
    child.stdin!.end(opts.input);
  });
}

/** A certificate and its key, as files. */
export interface Pair {
  cert: string;
  key: string;
}

/** Each version command's answer, asked once per process (`cmd args…` → its output). */
const versions = new Map<string, Promise<string>>();

/** What `cmd args` prints: a tool's version, part of the name of the CAs it keeps. */
function versionOf(cmd: string, ...args: string[]): Promise<string> {
  const key = [cmd, ...args].join(' ');
  if (!versions.has(key)) versions.set(key, tool(cmd, args));
  return versions.get(key)!;
}

/** OpenSSL's version and its default configuration file, which `req` and `ca` read (read once). */
let opensslText: Promise<string> | undefined;
const opensslVersion = (): Promise<string> => (opensslText ??= readOpensslVersion());

async function readOpensslVersion(): Promise<string> {
  const version = await versionOf('openssl', 'version', '-v', '-d');
  const dir = /OPENSSLDIR: "(.*)"/.exec(version)?.[1] ?? '';
  const conf = process.env.OPENSSL_CONF ?? path.join(dir, 'openssl.cnf');
  return `${version}${conf}\n${fs.existsSync(conf) ? fs.readFileSync(conf, 'utf8') : 'none'}`;
}

/** This file, the recipe of every CA (read once). */
const RECIPE = fs.readFileSync(import.meta.filename);

/**
 * What `make(folder)` makes, from the cache (made there first when it is not), copied into `dir`; the paths
 * it returns are those of the copy (see the file's comment for what names the kept folder).
 * @param recipe - what the CA is: the function's name and its arguments
 * @param tools - the tools' version texts
 */
async function kept<T>(
  dir: string,
  recipe: unknown[],
  tools: Promise<string>[],
  make: (folder: string) => Promise<T>,
): Promise<T> {
  const month = new Date().toISOString().slice(0, 7);
  const folder = path.join(
    CACHE,
    `source-ca-${hash(RECIPE, JSON.stringify(recipe), month, ...(await Promise.all(tools)))}`,
  );
  // The paths it returns are kept relative to the folder the tool ran in, a temporary one renamed when complete.
  const MADE = 'made';
  const IN_MADE = '<made>/';
  await cached(folder, async (tmp) => {
    const at = path.join(tmp, MADE);
    const made = await make(at);
    const relative = (_k: string, v: unknown) =>
      typeof v === 'string' && (v === at || v.startsWith(`${at}/`)) ? IN_MADE + path.relative(at, v) : v;
    fs.writeFileSync(path.join(tmp, 'made.json'), JSON.stringify(made ?? null, relative));
  });
  fs.cpSync(path.join(folder, MADE), dir, { recursive: true });
  const copied = (_k: string, v: unknown) =>
    typeof v === 'string' && v.startsWith(IN_MADE) ? path.join(dir, v.slice(IN_MADE.length)) : v;
  return JSON.parse(fs.readFileSync(path.join(folder, 'made.json'), 'utf8'), copied) as T;
}

export interface MkcertCa {
  /** What `mkcert -CAROOT` prints for it. */
  caroot: string;
  /** rootCA.pem: what clients that trust mkcert's CA have. */
  root: string;
}

/**
 * mkcert's CA in `dir/caroot`: made by its first certificate, as on a developer's machine — without
 * `-install`, which would add it to this machine's trust stores.
 */
export async function makeMkcertCa(dir: string): Promise<MkcertCa> {
  const caroot = path.join(dir, 'caroot');
  await kept(dir, ['mkcert'], [versionOf('mkcert', '-version')], async (folder) => {
    fs.mkdirSync(path.join(folder, 'caroot'), { recursive: true });
    const leaf = [
      '-cert-file',
      path.join(folder, 'leaf.pem'),
      '-key-file',
      path.join(folder, 'leaf-key.pem'),
    ];
    const env = { ...process.env, CAROOT: path.join(folder, 'caroot') };
    await tool('mkcert', [...leaf, 'example.test'], { env });
  });
  return {
    caroot: (await tool('mkcert', ['-CAROOT'], { env: { ...process.env, CAROOT: caroot } })).trim(),
    root: path.join(caroot, 'rootCA.pem'),
  };
}

export interface EasyRsaPki {
  /** The pki/ folder. */
  pki: string;
  /** pki/ca.crt. */
  root: string;
  /** A client built with `build-client-full alice nopass`, in use. */
  alice: Pair;
  /** A client revoked (keyCompromise), where `revoke` moved its files; serial as easy-rsa prints it. */
  bob: Pair & { serial: string };
  /** A server built with `build-server-full web nopass`. */
  web: Pair;
}

/**
 * An easy-rsa 3 PKI in `dir/pki`, as its README walks through: `init-pki`, `build-ca` (RSA-2048, its default;
 * the CA key encrypted with `password`), two clients and a server, one client revoked, a CRL.
 * @param password - the CA key's passphrase (easy-rsa takes it from EASYRSA_PASSIN/EASYRSA_PASSOUT)
 */
export function makeEasyRsaPki(dir: string, password: string): Promise<EasyRsaPki> {
  const tools = [versionOf(EASYRSA, '--version'), opensslVersion()];
  return kept(dir, ['easy-rsa', password], tools, (folder) => easyRsaPki(folder, password));
}

async function easyRsaPki(dir: string, password: string): Promise<EasyRsaPki> {
  const pki = path.join(dir, 'pki');
  fs.mkdirSync(dir, { recursive: true });
  const env = {
    ...process.env,
    EASYRSA_PKI: pki,
    EASYRSA_BATCH: '1',
    EASYRSA_TEST_PASSWORD: password,
    EASYRSA_PASSIN: 'env:EASYRSA_TEST_PASSWORD',
    EASYRSA_PASSOUT: 'env:EASYRSA_TEST_PASSWORD',
  };
  const easyrsa = (...args: string[]) => tool(EASYRSA, args, { cwd: dir, env });
  await easyrsa('init-pki');
  await easyrsa('--req-cn=Team Easy-RSA CA', 'build-ca');
  await easyrsa('build-client-full', 'alice', 'nopass');
  await easyrsa('build-client-full', 'bob', 'nopass');
  await easyrsa('build-server-full', 'web', 'nopass');
  const bob = path.join(pki, 'issued', 'bob.crt');
  const serial = (await tool('openssl', ['x509', '-in', bob, '-noout', '-serial']))
    .trim()
    .replace(/^serial=/, '');
  await easyrsa('revoke', 'bob', 'keyCompromise');
  await easyrsa('gen-crl');
  return {
    pki,
    root: path.join(pki, 'ca.crt'),
    alice: { cert: path.join(pki, 'issued', 'alice.crt'), key: path.join(pki, 'private', 'alice.key') },
    bob: {
      serial,
      cert: path.join(pki, 'revoked', 'certs_by_serial', `${serial}.crt`),
      key: path.join(pki, 'revoked', 'private_by_serial', `${serial}.key`),
    },
    web: { cert: path.join(pki, 'issued', 'web.crt'), key: path.join(pki, 'private', 'web.key') },
  };
}

export interface CfsslCa {
  /** The folder holding ca.pem and ca-key.pem. */
  folder: string;
  /** ca.pem. */
  root: string;
}

/** cfssl's CA in `dir`: `cfssl gencert -initca csr.json | cfssljson -bare ca` (ECDSA P-256, its default). */
export function makeCfsslCa(dir: string): Promise<CfsslCa> {
  // cfssljson prints no version; Debian ships it in cfssl's package (golang-cfssl)
  return kept(dir, ['cfssl'], [versionOf('cfssl', 'version')], cfsslCa);
}

async function cfsslCa(dir: string): Promise<CfsslCa> {
  fs.mkdirSync(dir, { recursive: true });
  const csr = path.join(dir, 'csr.json');
  const request = { CN: 'Team cfssl CA', key: { algo: 'ecdsa', size: 256 }, names: [{ O: 'Team' }] };
  fs.writeFileSync(csr, JSON.stringify(request));
  const json = await tool('cfssl', ['gencert', '-initca', csr]);
  await tool('cfssljson', ['-bare', 'ca'], { cwd: dir, input: json });
  return { folder: dir, root: path.join(dir, 'ca.pem') };
}

export interface OpensslCaOptions {
  /** The subject's CN. */
  cn: string;
  /** `openssl req -newkey` algorithm and its `-pkeyopt`s; default `ec` on P-256. */
  newkey?: string[];
  /** Encrypt the key with this password (PKCS#8, OpenSSL 3's default); default: unencrypted. */
  password?: string;
  /** With a password: the traditional PEM form with Proc-Type and DEK-Info (AES-256-CBC) instead. */
  traditional?: boolean;
  /** `-addext` values; default none: a CA as OpenSSL's `req -x509` makes one (basicConstraints CA:TRUE). */
  addext?: string[];
}

const EC_P256 = ['ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];

/** A CA made by hand with `openssl req -x509`: `dir/ca.crt` and `dir/ca.key`. */
export function makeOpensslCa(dir: string, o: OpensslCaOptions): Promise<Pair> {
  return kept(dir, ['openssl req -x509', o], [opensslVersion()], (folder) => opensslCa(folder, o));
}

async function opensslCa(dir: string, o: OpensslCaOptions): Promise<Pair> {
  fs.mkdirSync(dir, { recursive: true });
  const cert = path.join(dir, 'ca.crt');
  const key = path.join(dir, 'ca.key');
  const env = { ...process.env, CA_TEST_PASSWORD: o.password ?? '' };
  const encrypt = o.password && !o.traditional ? ['-passout', 'env:CA_TEST_PASSWORD'] : ['-noenc'];
  const extensions = (o.addext ?? []).flatMap((e) => ['-addext', e]);
  // The traditional form is written by `openssl pkey -traditional` from an unencrypted key.
  const keyout = o.password && o.traditional ? `${key}.plain` : key;
  await tool(
    'openssl',
    ['req', '-x509', '-newkey', ...(o.newkey ?? EC_P256), '-keyout', keyout, '-out', cert].concat([
      '-subj',
      `/CN=${o.cn}`,
      '-days',
      '3650',
      ...encrypt,
      ...extensions,
    ]),
    { env },
  );
  if (keyout !== key) {
    const pkey = [
      'pkey',
      '-in',
      keyout,
      '-out',
      key,
      '-traditional',
      '-aes256',
      '-passout',
      'env:CA_TEST_PASSWORD',
    ];
    await tool('openssl', pkey, { env });
    fs.rmSync(keyout);
  }
  return { cert, key };
}

export interface OpensslCaFolder {
  /** The folder in `openssl ca`'s layout (CA.pl's demoCA). */
  folder: string;
  /** cacert.pem. */
  root: string;
  /** A client signed by `openssl ca`, in use (serial 1001). */
  carol: Pair;
  /** A client signed and then revoked (`-crl_reason superseded`; serial 1002), whose CN is no file name. */
  dave: Pair;
}

/** The `openssl ca` configuration of {@link makeOpensslCaFolder}: the sections CA.pl uses, for clients. */
function caConfig(folder: string): string {
  return `[ ca ]
default_ca = CA_default
[ CA_default ]
dir = ${folder}
database = $dir/index.txt
new_certs_dir = $dir/newcerts
certificate = $dir/cacert.pem
private_key = $dir/private/cakey.pem
serial = $dir/serial
default_md = sha256
default_days = 365
policy = policy_any
unique_subject = no
x509_extensions = client_cert
[ policy_any ]
commonName = supplied
[ v3_ca ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ client_cert ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
`;
}

/**
 * A CA run with `openssl ca` in `dir/demoCA`, made the way OpenSSL's CA.pl `-newca` makes one (a request,
 * self-signed by `openssl ca -selfsign`, so the CA's own certificate is the index's first row), in the layout
 * of OpenSSL's default openssl.cnf: key encrypted with `password`, sequential serials from 1000 — the CA,
 * then two clients, one of them revoked.
 */
export async function makeOpensslCaFolder(dir: string, password: string): Promise<OpensslCaFolder> {
  const tools = [opensslVersion()];
  const made = await kept(dir, ['openssl ca', password], tools, (folder) =>
    opensslCaFolder(folder, password),
  );
  fs.writeFileSync(path.join(dir, 'ca.cnf'), caConfig(made.folder));
  return made;
}

async function opensslCaFolder(dir: string, password: string): Promise<OpensslCaFolder> {
  const folder = path.join(dir, 'demoCA');
  fs.mkdirSync(path.join(folder, 'private'), { recursive: true });
  fs.mkdirSync(path.join(folder, 'newcerts'));
  fs.writeFileSync(path.join(folder, 'index.txt'), '');
  fs.writeFileSync(path.join(folder, 'serial'), '1000\n');
  const config = path.join(dir, 'ca.cnf');
  fs.writeFileSync(config, caConfig(folder));
  const env = { ...process.env, CA_TEST_PASSWORD: password };
  const passin = ['-config', config, '-passin', 'env:CA_TEST_PASSWORD'];
  const root = path.join(folder, 'cacert.pem');
  const caKey = path.join(folder, 'private', 'cakey.pem');
  const caReq = path.join(folder, 'careq.pem');
  await tool(
    'openssl',
    [
      'req',
      '-new',
      '-newkey',
      ...EC_P256,
      '-keyout',
      caKey,
      '-out',
      caReq,
      '-subj',
      '/CN=Team OpenSSL CA',
    ].concat(['-passout', 'env:CA_TEST_PASSWORD']),
    { env },
  );
  await tool(
    'openssl',
    [
      'ca',
      '-batch',
      ...passin,
      '-selfsign',
      '-keyfile',
      caKey,
      '-extensions',
      'v3_ca',
      '-days',
      '3650',
    ].concat(['-in', caReq, '-out', root]),
    { env },
  );
  const sign = async (name: string, cn: string): Promise<Pair> => {
    const [key, csr, cert] = ['key', 'csr', 'crt'].map((ext) => path.join(dir, `${name}.${ext}`)) as [
      string,
      string,
      string,
    ];
    const newkey = ['-newkey', ...EC_P256, '-noenc', '-keyout', key];
    await tool('openssl', ['req', '-new', ...newkey, '-out', csr, '-subj', `/CN=${cn}`]);
    await tool('openssl', ['ca', '-batch', ...passin, '-in', csr, '-out', cert], { env });
    return { cert, key };
  };
  const carol = await sign('carol', 'carol');
  const dave = await sign('dave', 'Dave Smith');
  await tool('openssl', ['ca', ...passin, '-revoke', dave.cert, '-crl_reason', 'superseded'], { env });
  return { folder, root, carol, dave };
}

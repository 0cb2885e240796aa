/**
 * A Java trust store — the active JDK's `cacerts`, or a key store file the user names — changed in the format
 * it has (JKS or PKCS#12) by mtls-ca's own writers, without keytool. The file is replaced atomically (a temp
 * file beside it, fsynced, renamed), keeping its mode and owner; a symlink (Debian's JDK links cacerts to
 * /etc/ssl/certs/java/cacerts) is followed to the file it names.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Certificate } from '../pki/certificate.js';
import { MtlsCaError } from '../pki/errors.js';
import {
  addTrustedCertificate,
  removeTrustedCertificate,
  type TrustStoreFormat,
  trustedCertificates,
  trustStoreFormat,
} from '../pki/trust-store.js';
import { shortFingerprint } from './nss.js';
import { runProgram, type StorePlan, type StoreStatus, type TrustStep } from './plan.js';

/** The password of a JDK's cacerts unless someone changed it. */
export const DEFAULT_CACERTS_PASSWORD = 'changeit';

/** The alias mtls-ca gives its CA in a Java trust store. */
export function javaAlias(ca: Certificate): string {
  return `mtls-ca-${shortFingerprint(ca)}`;
}

/**
 * The active JDK's cacerts: under JAVA_HOME when it is set, else beside the `java` found on PATH; undefined
 * when there is no JDK.
 * @param javaHome - the JAVA_HOME environment variable
 */
export async function activeCacerts(javaHome: string | undefined): Promise<string | undefined> {
  let home = javaHome;
  if (!home) {
    const r = await runProgram(['sh', '-c', 'command -v java']);
    if (r.code !== 0) return undefined;
    // bin/java → the JDK folder, through the alternatives symlinks.
    home = path.dirname(path.dirname(fs.realpathSync(r.stdout.trim())));
  }
  const file = path.join(home, 'lib', 'security', 'cacerts');
  return fs.existsSync(file) ? file : undefined;
}

/** A key store as found: its real path, bytes and format. */
interface OpenedStore {
  file: string;
  data: Buffer;
  format: TrustStoreFormat;
}

function open(file: string): OpenedStore {
  let real: string;
  let data: Buffer;
  try {
    real = fs.realpathSync(file);
    data = fs.readFileSync(real);
  } catch (e) {
    throw new MtlsCaError(
      'NOT_FOUND',
      `read ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
    );
  }
  return { file: real, data, format: trustStoreFormat(data) };
}

/** Whether this process may replace `file` (write its folder, for the temp file and the rename). */
function writable(file: string): boolean {
  try {
    fs.accessSync(path.dirname(file), fs.constants.W_OK);
    fs.accessSync(file, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Replaces `file` with `data` atomically, keeping its mode and (as root) its owner. */
function replaceFile(file: string, data: Buffer): void {
  const st = fs.statSync(file);
  const temp = path.join(
    path.dirname(file),
    `.${path.basename(file)}.mtls-ca-${randomBytes(6).toString('hex')}`,
  );
  const fd = fs.openSync(temp, 'wx', st.mode & 0o7777);
  try {
    fs.writeFileSync(fd, data);
    fs.fchmodSync(fd, st.mode & 0o7777);
    if (process.geteuid?.() === 0) fs.fchownSync(fd, st.uid, st.gid);
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(temp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  fs.renameSync(temp, file);
}

/** The step that removes `alias` from the store, with the keytool command that would do the same. */
function removalStep(
  file: string,
  password: string,
  passwordFile: string | undefined,
  alias: string,
  format: TrustStoreFormat,
): TrustStep {
  const pass = passwordFile ? ['-storepass:file', passwordFile] : ['-storepass', password];
  return {
    command: ['keytool', '-delete', '-keystore', file, '-storetype', format, ...pass, '-alias', alias],
    equivalent: true,
    run: async () => {
      const changed = removeTrustedCertificate(open(file).data, password, alias, file);
      if (changed) replaceFile(file, changed);
    },
  };
}

/**
 * The step that removes `alias` from the store when that entry holds `ca`, else undefined.
 * @throws MtlsCaError when the store cannot be read with `password`
 */
export function javaRemovalStep(
  file: string,
  password: string,
  alias: string,
  ca: Certificate,
): TrustStep | undefined {
  const store = open(file);
  const entry = trustedCertificates(store.data, password, file).find(
    (e) => e.alias.toLowerCase() === alias.toLowerCase(),
  );
  return entry?.certificate.der.equals(ca.der)
    ? removalStep(store.file, password, undefined, entry.alias, store.format)
    : undefined;
}

/**
 * Whether the CA is trusted by the store: under mtls-ca's alias, or any other (a system store hook may
 * have added it).
 */
export function javaStatus(file: string, password: string, ca: Certificate): StoreStatus {
  const store = open(file);
  const entry = trustedCertificates(store.data, password, file).find((e) => e.certificate.der.equals(ca.der));
  return {
    store: 'java',
    location: store.file,
    state: entry ? 'trusted' : 'absent',
    detail: entry ? `"${entry.alias}" (${store.format})` : store.format,
  };
}

/**
 * Adding the CA to the store under {@link javaAlias}, or removing that entry. Nothing to do when the CA is
 * already trusted under any alias (install), or mtls-ca's entry is not there (uninstall): an entry someone
 * else added stays.
 * @param file - the key store
 * @param password - its password
 * @param passwordFile - where the password came from, for the keytool equivalent (undefined: the default)
 */
export function javaPlan(
  action: 'install' | 'uninstall',
  file: string,
  password: string,
  passwordFile: string | undefined,
  ca: Certificate,
  caFile: string,
): StorePlan {
  const store = open(file);
  const plan: StorePlan = { store: 'java', location: store.file, steps: [] };
  const alias = javaAlias(ca);
  const entries = trustedCertificates(store.data, password, file);
  const ours = entries.find((e) => e.alias.toLowerCase() === alias);
  const pass = passwordFile ? ['-storepass:file', passwordFile] : ['-storepass', password];
  const keytool = ['keytool', '-keystore', store.file, '-storetype', store.format, ...pass, '-alias', alias];
  if (action === 'install') {
    const other = entries.find((e) => e.certificate.der.equals(ca.der));
    if (other) {
      plan.note = `already trusted as "${other.alias}"`;
      return plan;
    }
    plan.steps.push({
      command: [keytool[0]!, '-importcert', '-noprompt', ...keytool.slice(1), '-file', caFile],
      equivalent: true,
      run: async () =>
        replaceFile(store.file, addTrustedCertificate(open(file).data, password, alias, ca, file)),
    });
  } else if (ours?.certificate.der.equals(ca.der)) {
    plan.steps.push(removalStep(store.file, password, passwordFile, alias, store.format));
  } else {
    plan.note = 'not there';
  }
  if (plan.steps.length > 0 && !writable(store.file)) plan.blocked = { kind: 'needs-root', path: store.file };
  return plan;
}

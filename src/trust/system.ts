/**
 * The operating system's trust store. Debian and Ubuntu: a PEM file in /usr/local/share/ca-certificates, then
 * update-ca-certificates; RHEL and Fedora: /etc/pki/ca-trust/source/anchors, then update-ca-trust; macOS:
 * the System keychain with `security`; Windows: the machine's Root store with `certutil`. Each is a list of
 * commands — what `--dry-run` prints, and on Linux exactly what runs. The other platforms' commands are
 * printed only: they run where that system is.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Certificate } from '../pki/certificate.js';
import { pemBlocks } from '../pki/pem.js';
import { DEFAULT_CACERTS_PASSWORD, javaRemovalStep } from './java.js';
import { shortFingerprint } from './nss.js';
import {
  commandStep,
  haveProgram,
  type Platform,
  type StorePlan,
  type StoreStatus,
  type TrustStep,
} from './plan.js';

interface LinuxStore {
  /** Where the CA file goes. */
  anchors: string;
  /** The file's extension (update-ca-certificates reads only `.crt`). */
  extension: string;
  /** The command that rebuilds the bundles from the anchors. */
  refresh: string[];
  /**
   * The command that rebuilds them after an anchor was removed, when the links the refresh made to it
   * cannot be removed one by one first (Debian, see {@link removalSteps}): update-ca-certificates counts a
   * removed local certificate as nothing changed, so its links in /etc/ssl/certs stay until `--fresh`.
   */
  refreshAfterRemoval: string[];
  /** The folder where the refresh links each anchor and its subject hash (Debian's /etc/ssl/certs). */
  links?: string;
  /**
   * A Java trust store the refresh keeps in step with the anchors, and the alias it gives ours; Debian's
   * ca-certificates-java adds local certificates there but never removes them, so uninstall does.
   */
  java?: { file: string; alias: (anchor: string) => string };
  /** The bundle that programs read (curl, OpenSSL), to tell whether the CA is trusted. */
  bundle: string;
  packageName: string;
}

const LINUX: Record<'debian' | 'rhel', LinuxStore> = {
  debian: {
    anchors: '/usr/local/share/ca-certificates',
    extension: '.crt',
    refresh: ['update-ca-certificates'],
    refreshAfterRemoval: ['update-ca-certificates', '--fresh'],
    links: '/etc/ssl/certs',
    java: {
      file: '/etc/ssl/certs/java/cacerts',
      alias: (anchor) => `debian:${path.basename(anchor, '.crt')}.pem`,
    },
    bundle: '/etc/ssl/certs/ca-certificates.crt',
    packageName: 'ca-certificates',
  },
  rhel: {
    anchors: '/etc/pki/ca-trust/source/anchors',
    extension: '.pem',
    refresh: ['update-ca-trust', 'extract'],
    refreshAfterRemoval: ['update-ca-trust', 'extract'],
    bundle: '/etc/pki/tls/certs/ca-bundle.crt',
    packageName: 'ca-certificates',
  },
};

const MACOS_KEYCHAIN = '/Library/Keychains/System.keychain';

/**
 * The platform this process runs on, for its system store; undefined where mtls-ca knows none (another
 * Linux family, a BSD).
 */
export async function currentPlatform(): Promise<Platform | undefined> {
  if (process.platform === 'darwin') return 'macos';
  if (process.platform === 'win32') return 'windows';
  if (process.platform !== 'linux') return undefined;
  if (await haveProgram('update-ca-certificates')) return 'debian';
  if (await haveProgram('update-ca-trust')) return 'rhel';
  return undefined;
}

/** The file mtls-ca puts the CA in, on a Linux system. */
export function anchorFile(platform: 'debian' | 'rhel', ca: Certificate): string {
  const s = LINUX[platform];
  return path.join(s.anchors, `mtls-ca-${shortFingerprint(ca)}${s.extension}`);
}

/** Whether the CA is in the system's bundle (Linux); elsewhere, the command that would tell. */
export function systemStatus(platform: Platform, ca: Certificate, caFile: string): StoreStatus {
  if (platform === 'macos') {
    return {
      store: 'system',
      location: MACOS_KEYCHAIN,
      state: 'unknown',
      detail: `on macOS: security verify-cert -c ${caFile}`,
    };
  }
  if (platform === 'windows') {
    return {
      store: 'system',
      location: 'Root',
      state: 'unknown',
      detail: `on Windows: certutil -verifystore Root ${ca.serialHex}`,
    };
  }
  const s = LINUX[platform];
  const file = anchorFile(platform, ca);
  let bundle = '';
  try {
    bundle = fs.readFileSync(s.bundle, 'latin1');
  } catch {
    // no bundle: nothing is trusted through it
  }
  const inBundle = pemBlocks(bundle).some((b) => b.label === 'CERTIFICATE' && b.der.equals(ca.der));
  const ours = fs.existsSync(file);
  return {
    store: 'system',
    location: s.bundle,
    state: inBundle ? 'trusted' : ours ? 'untrusted' : 'absent',
    detail: ours ? file : inBundle ? 'added by someone else' : undefined,
  };
}

/**
 * Installing the CA in the system store, or removing mtls-ca's file from it.
 * @param platform - whose store (the current one, or another to print its commands)
 * @param here - the platform this process runs on: only its store can be changed
 */
export async function systemPlan(
  action: 'install' | 'uninstall',
  platform: Platform,
  here: Platform | undefined,
  ca: Certificate,
  caFile: string,
): Promise<StorePlan> {
  const printOnly = platform !== here;
  const step = (command: string[]): TrustStep => (printOnly ? { command } : commandStep(command));
  if (platform === 'macos') {
    const steps =
      action === 'install'
        ? [step(['security', 'add-trusted-cert', '-d', '-r', 'trustRoot', '-k', MACOS_KEYCHAIN, caFile])]
        : [
            step(['security', 'remove-trusted-cert', '-d', caFile]),
            step([
              'security',
              'delete-certificate',
              '-Z',
              createHash('sha1').update(ca.der).digest('hex').toUpperCase(),
              MACOS_KEYCHAIN,
            ]),
          ];
    return {
      store: 'system',
      location: MACOS_KEYCHAIN,
      steps,
      blocked: printOnly ? { kind: 'other-platform', platform } : undefined,
    };
  }
  if (platform === 'windows') {
    const steps =
      action === 'install'
        ? [step(['certutil', '-addstore', '-f', 'Root', caFile])]
        : [step(['certutil', '-delstore', 'Root', ca.serialHex])];
    return {
      store: 'system',
      location: 'Root',
      steps,
      blocked: printOnly ? { kind: 'other-platform', platform } : undefined,
    };
  }
  const s = LINUX[platform];
  const file = anchorFile(platform, ca);
  const plan: StorePlan = { store: 'system', location: s.anchors, steps: [] };
  if (printOnly) plan.blocked = { kind: 'other-platform', platform };
  if (action === 'install') {
    if (!printOnly && systemStatus(platform, ca, caFile).state === 'trusted' && fs.existsSync(file)) {
      plan.note = `already trusted (${file})`;
      return plan;
    }
    plan.steps.push(step(['install', '-m', '0644', caFile, file]), step(s.refresh));
  } else if (printOnly || fs.existsSync(file)) {
    plan.steps.push(...removalSteps(s, file, printOnly).map(step));
    const javaStep = !printOnly && s.java ? debianJavaStep(s.java.file, s.java.alias(file), ca) : undefined;
    if (javaStep) plan.steps.push(javaStep);
  } else {
    plan.note = 'not there';
  }
  // The anchors and the bundles belong to root: checked before anything runs, so nothing is half done.
  if (!printOnly && plan.steps.length > 0 && process.geteuid?.() !== 0) {
    plan.blocked = { kind: 'needs-root', path: s.anchors };
  }
  if (!printOnly && !plan.blocked && !(await haveProgram(s.refresh[0]!))) {
    plan.blocked = { kind: 'missing-tool', tool: s.refresh[0]!, packageName: s.packageName };
  }
  return plan;
}

/**
 * The commands that take the anchor out. On Debian they first remove the links update-ca-certificates made to
 * it ({@link anchorLinks}), so that a plain refresh rebuilds the bundle. `--fresh` would get there by
 * re-linking every certificate of the system, rehashing the folder and feeding them all to the hooks (Debian's
 * Java hook then rewrites every entry of the JDK's cacerts): several times the work of the plain refresh, and
 * it also deletes dangling links that are not ours. `--fresh` stays for the commands printed for another
 * machine, whose links are not here to look at.
 */
function removalSteps(s: LinuxStore, anchor: string, printOnly: boolean): string[][] {
  if (printOnly || !s.links) return [['rm', '-f', anchor], s.refreshAfterRemoval];
  return [...unlinkCommands(s.links, anchor), s.refresh];
}

/**
 * The commands that remove `anchor` and the links update-ca-certificates made to it in `folder`
 * ({@link anchorLinks}), leaving the folder as `openssl rehash` would have left it without the anchor.
 * @param folder - the folder of links (Debian: /etc/ssl/certs)
 * @param anchor - the anchor file to remove
 */
export function unlinkCommands(folder: string, anchor: string): string[][] {
  const { links, moves, relinks } = anchorLinks(folder, anchor);
  return [
    ['rm', '-f', anchor, ...links],
    ...relinks.map(([link, to]) => ['ln', '-sfn', to, link]),
    ...moves.map(([from, to]) => ['mv', '-f', from, to]),
  ];
}

/**
 * The links update-ca-certificates made to `anchor` in `folder` — `<name>.pem` to the anchor, and the
 * subject-hash link (`1a2b3c4d.0`) to that — and the renames that keep each hash's numbering without a gap once
 * they are gone: OpenSSL looks a hash up as `.0`, `.1`, … and stops at the first missing number, so a
 * certificate after ours under the same hash (another CA of the same name) would no longer be found.
 *
 * A hash link whose certificate another entry of the folder also holds (the same CA installed under another
 * name) is pointed at that entry instead of removed: `openssl rehash` gives a certificate one hash link and
 * skips the later files holding the same certificate, so that entry has none; and the plain refresh rehashes
 * only when a file came or went, which removing the links ourselves hides from it. Removing the link would
 * leave the other CA untrusted by programs that look certificates up by hash. Pointing it at the entry rehash
 * would pick now (the first by name) gives the folder rehash would make, with one more command; `--fresh`
 * would get there too, but at the cost {@link removalSteps} avoids, for a case a folder read already tells.
 * @param folder - the folder of links (Debian: /etc/ssl/certs)
 * @param anchor - the anchor file the links lead to
 * @returns the links (full paths) to remove, the links (full paths) to point at another entry (its name)
 *   instead, `[link, to]`, and the renames, `[from, to]`, to run after removing them
 */
export function anchorLinks(
  folder: string,
  anchor: string,
): { links: string[]; relinks: [string, string][]; moves: [string, string][] } {
  let names: string[] = [];
  try {
    names = fs.readdirSync(folder);
  } catch {
    // no folder: nothing links to the anchor
  }
  const target = (name: string) => {
    try {
      return fs.readlinkSync(path.join(folder, name));
    } catch {
      return undefined; // not a link
    }
  };
  const hashOf = (name: string) => /^([0-9a-f]{8})\.\d+$/.exec(name)?.[1];
  // update-ca-certificates names the link after the anchor, .crt replaced by .pem.
  const pem = `${path.basename(anchor, path.extname(anchor))}.pem`;
  const ours = new Set(names.filter((n) => [anchor, pem].includes(target(n) ?? '')));
  const ourHashLinks = [...ours].filter((n) => hashOf(n) !== undefined);
  // The entries rehash would link, ours and those a hash link leads to already aside.
  const linked = new Set(names.filter((n) => hashOf(n) !== undefined && !ours.has(n)).map(target));
  const candidates = names
    .filter((n) => !ours.has(n) && !linked.has(n) && hashOf(n) === undefined && /\.(pem|crt|cer)$/i.test(n))
    .sort()
    .map((n) => path.join(folder, n));
  const twin = ourHashLinks.length > 0 ? sameCertificate(anchor, candidates) : undefined;
  const relinks: [string, string][] = twin ? ourHashLinks.map((n) => [path.join(folder, n), twin]) : [];
  const removed = new Set([...ours].filter((n) => !twin || hashOf(n) === undefined));
  const moves: [string, string][] = [];
  const hashes = new Set([...removed].flatMap((n) => hashOf(n) ?? []));
  for (const hash of hashes) {
    const numbered = names
      .filter((n) => hashOf(n) === hash)
      .map((name) => ({ name, n: Number(name.slice(9)) }))
      .sort((a, b) => a.n - b.n);
    const others = numbered.filter((e) => !removed.has(e.name));
    // The numbers below others.length that are ours are the gaps; the others above fill them.
    const gaps = numbered.filter((e) => removed.has(e.name) && e.n < others.length);
    for (const e of others.filter((o) => o.n >= others.length)) {
      const gap = gaps.shift();
      if (gap) moves.push([path.join(folder, e.name), path.join(folder, gap.name)]);
    }
  }
  return { links: [...removed].sort().map((n) => path.join(folder, n)), relinks, moves };
}

/**
 * The name of the first of `files` holding the anchor's certificate and nothing else (rehash links no other
 * file); undefined when there is none, or the anchor cannot be read.
 */
function sameCertificate(anchor: string, files: string[]): string | undefined {
  const onlyCertificate = (file: string) => {
    try {
      const blocks = pemBlocks(fs.readFileSync(file, 'latin1'));
      return blocks.length === 1 && blocks[0]!.label === 'CERTIFICATE' ? blocks[0]!.der : undefined;
    } catch {
      return undefined; // a dangling link, a folder
    }
  };
  const der = onlyCertificate(anchor);
  const file = der && files.find((f) => onlyCertificate(f)?.equals(der));
  return file ? path.basename(file) : undefined;
}

/** Removing the entry the system's Java hook made for our anchor, when it is there and holds our CA. */
function debianJavaStep(file: string, alias: string, ca: Certificate): TrustStep | undefined {
  if (!fs.existsSync(file)) return undefined;
  try {
    return javaRemovalStep(file, DEFAULT_CACERTS_PASSWORD, alias, ca);
  } catch {
    // Not readable with the default password: the hook's store is not one we can check.
    return undefined;
  }
}

/**
 * The current user's certificate store on macOS (the default keychain, login) and Windows (the user's My
 * store): commands printed to import the client's .p12. Both ask for its password themselves.
 */
export function clientImportCommands(platform: 'macos' | 'windows', p12: string): string[][] {
  return platform === 'macos'
    ? [['security', 'import', p12, '-f', 'pkcs12']]
    : [['certutil', '-user', '-importPFX', p12]];
}

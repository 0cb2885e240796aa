/** `sign-csr`: signs a CSR made elsewhere (e.g. `openssl req -new`) under the client or server profile. */
import fs from 'node:fs';
import path from 'node:path';
import { parseCsr } from '../pki/csr.js';
import { MtlsCaError } from '../pki/errors.js';
import { assertSafeName } from '../pki/names.js';
import { issueClientCertificate, issueServerCertificate } from '../pki/profiles.js';
import { MODE_PUBLIC } from '../store/atomic.js';
import type { CaStore } from '../store/ca-store.js';
import {
  assertDays,
  auditRecord,
  type CertificateSummary,
  FileList,
  issueEvent,
  summarize,
  type WrittenFile,
} from './common.js';

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
  /** SANs in the request that the profile does not allow and that were left out. */
  ignored: string[];
}

export async function signCsr(store: CaStore, o: SignCsrOptions): Promise<SignCsrResult> {
  const now = o.now ?? new Date();
  assertDays(o.days, '--days');
  const csr = parseCsr(o.csr, o.file);
  const ca = store.loadCa(o.caPassword);
  const cn = csr.commonName;
  const san = csr.altNames;
  const ignored: string[] = [];
  let name: string;
  let cert: ReturnType<typeof issueClientCertificate>;
  if (o.profile === 'client') {
    if (!cn) {
      throw new MtlsCaError(
        'INVALID_ARGUMENT',
        `sign ${o.file}: the request has no subject CN, which names the client user`,
        'ask for a CSR made with -subj "/CN=<user>"',
      );
    }
    assertSafeName(cn, 'client name (CSR subject CN)');
    name = cn;
    ignored.push(...(san.dns ?? []).map((d) => `DNS:${d}`), ...(san.ip ?? []).map((i) => `IP:${i}`));
    cert = issueClientCertificate({
      ca,
      publicKey: csr.publicKey,
      commonName: cn,
      email: san.email,
      uri: san.uri,
      days: o.days,
      now,
    });
  } else {
    if ((san.dns?.length ?? 0) + (san.ip?.length ?? 0) === 0) {
      throw new MtlsCaError(
        'INVALID_ARGUMENT',
        `sign ${o.file}: the request has no DNS or IP subjectAltName, which a server certificate needs`,
        'ask for a CSR made with -addext "subjectAltName=DNS:host.example.com"',
      );
    }
    name = cn ?? san.dns?.[0] ?? san.ip![0]!;
    ignored.push(...(san.email ?? []).map((e) => `email:${e}`), ...(san.uri ?? []).map((u) => `URI:${u}`));
    cert = issueServerCertificate({
      ca,
      publicKey: csr.publicKey,
      altNames: { dns: san.dns, ip: san.ip },
      commonName: cn,
      days: o.days,
      now,
    });
  }
  return store.lock(() => {
    const out =
      o.out ??
      (o.profile === 'client'
        ? store.paths.client(name).cert
        : store.paths.server(safeServerName(name)).cert);
    if (fs.existsSync(out) && !o.force) {
      throw new MtlsCaError(
        'ALREADY_EXISTS',
        `write ${store.display(out)}: the file exists`,
        'pass --out FILE, or --force to replace it',
      );
    }
    const tx = store.newTransaction();
    const files = new FileList(tx, (f) => store.display(f));
    files.write(path.resolve(out), cert.toPem(), MODE_PUBLIC, `${o.profile} certificate`);
    const roles =
      o.profile === 'client' && o.roles.length > 0 ? store.mergeUserRoles(tx, name, o.roles) : undefined;
    store.appendInventory(tx, [
      issueEvent(cert, name, o.profile, [path.relative(store.root, path.resolve(out))], now),
    ]);
    store.appendAudit(tx, [auditRecord('sign', cert, now, { profile: o.profile })], ca.privateKey);
    tx.commit();
    return {
      name,
      profile: o.profile,
      certificate: summarize(cert),
      files: files.files,
      ignored,
      ...(roles ? { roles } : {}),
    };
  });
}

function safeServerName(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[.-]+/, '');
  return safe || 'server-csr';
}

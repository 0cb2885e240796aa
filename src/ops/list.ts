/** `list`: the inventory, newest first, with each certificate's status and days left. */
import { MtlsCaError } from '../pki/errors.js';
import type { CaStore } from '../store/ca-store.js';
import { type CertificateProfile, type CertificateStatus, statusOf } from '../store/inventory.js';

export interface ListOptions {
  status?: CertificateStatus;
  profile?: CertificateProfile;
  /** Only certificates that are valid now and expire within this many days. */
  expiringDays?: number;
  now?: Date;
}

export interface ListedCertificate {
  name: string;
  profile: CertificateProfile;
  serial: string;
  subject: string;
  keyType: string;
  notBefore: string;
  notAfter: string;
  daysLeft: number;
  status: CertificateStatus;
  fingerprint: string;
  revokedAt?: string;
  revocationReason?: string;
}

const DAY_MS = 86_400_000;

/** Parses `30d`, `30` or `2w` into days. */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+)([dw]?)$/.exec(text.trim());
  if (!m)
    throw new MtlsCaError(
      'INVALID_ARGUMENT',
      `use ${flag} ${JSON.stringify(text)}: expected days like 30d or weeks like 4w`,
    );
  return Number(m[1]) * (m[2] === 'w' ? 7 : 1);
}

export function listCertificates(store: CaStore, o: ListOptions = {}): ListedCertificate[] {
  store.assertInitialized();
  const now = o.now ?? new Date();
  return store
    .readInventory()
    .map((e): ListedCertificate => {
      const status = statusOf(e, now);
      return {
        name: e.name,
        profile: e.profile,
        serial: e.serial,
        subject: e.subject,
        keyType: e.keyType,
        notBefore: e.notBefore,
        notAfter: e.notAfter,
        daysLeft: Math.floor((new Date(e.notAfter).getTime() - now.getTime()) / DAY_MS),
        status,
        fingerprint: e.fingerprint,
        ...(e.revokedAt ? { revokedAt: e.revokedAt, revocationReason: e.revocationReason } : {}),
      };
    })
    .filter((c) => !o.status || c.status === o.status)
    .filter((c) => !o.profile || c.profile === o.profile)
    .filter((c) => o.expiringDays === undefined || (c.status === 'valid' && c.daysLeft <= o.expiringDays))
    .sort((a, b) => b.notBefore.localeCompare(a.notBefore));
}

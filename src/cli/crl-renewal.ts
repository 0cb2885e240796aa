/**
 * `serve --crl-auto-renew` (and `demo`, whose CA key is unencrypted): the CA password, read once when the
 * server starts and checked then, and the renewal the server calls when its CRL is due — the same code as
 * `mtls-ca crl` (ops/crl.ts: under the directory lock, with an audit line, keeping the CA's CRL
 * lifetime) — with what happened logged as a server event.
 */
import type { CrlRenewalReason } from '../ops/crl.js';
import { MtlsCaError } from '../pki/errors.js';
import type { ServerLogger } from '../server/log.js';
import type { CaStore } from '../store/ca-store.js';
import type { Io } from './io.js';
import { caPasswordUnattended } from './passwords.js';

/** Why the CRL was re-signed, to follow "the one before". */
const REASON_TEXT: Readonly<Record<CrlRenewalReason, string>> = {
  missing: 'was missing',
  unreadable: 'could not be read or was not signed by this CA',
  expired: 'had expired',
  'not-yet-valid': 'was dated in the future',
  'half-life': 'was half through its lifetime',
};

/**
 * Reads the CA password without prompting and checks it by loading the CA key, then returns the function
 * that re-signs the CRL when it is due (`renewCrlIfDue`; else it does nothing) and logs the outcome:
 * `crl-renewed` (info) or `crl-renew-failed` (error). It never rejects.
 * @param flags - the command's `--ca-password-file`
 * @param logger - where the outcome goes
 * @param now - the time to judge and sign at; default the system clock
 * @throws MtlsCaError PASSWORD_REQUIRED (an encrypted key and no password), BAD_PASSWORD
 */
export async function prepareCrlRenewal(
  io: Io,
  store: CaStore,
  flags: { caPasswordFile?: string },
  logger: ServerLogger,
  now: () => Date = () => new Date(),
): Promise<() => Promise<void>> {
  const caPassword = await caPasswordUnattended(io, flags, store, 'serve --crl-auto-renew');
  const { renewCrlIfDue } = await import('../ops/crl.js');
  return async () => {
    try {
      const r = await renewCrlIfDue(store, { caPassword, now: now() });
      if (!r) return;
      for (const { crl, reason } of [r, ...(r.others ?? [])]) {
        // The issuing CA's CRL as ever; another CA's (a root's, a previous CA's) says whose it is.
        const whose = crl.role === 'issuing' ? '' : ` of ${crl.issuer}`;
        logger.event(
          'info',
          'crl-renewed',
          `CRL number ${crl.crlNumber}${whose} published: the one before ${REASON_TEXT[reason]}`,
          {
            file: crl.file,
            crlNumber: crl.crlNumber,
            revoked: crl.revoked,
            nextUpdate: crl.nextUpdate,
            reason,
            ...(whose ? { issuer: crl.issuer } : {}),
          },
        );
      }
    } catch (e) {
      const err = e instanceof MtlsCaError ? e : undefined;
      logger.event('error', 'crl-renew-failed', `renew the CRL: ${(e as Error)?.message ?? String(e)}`, {
        code: err?.code ?? 'INTERNAL',
        hint: err?.hint,
      });
    }
  };
}

/**
 * A CRL's lifetime and when to replace it. The CA keeps no setting for how long its CRLs live: the CRL it
 * published last says so itself (nextUpdate − thisUpdate), and the next CRL it signs keeps that lifetime
 * unless told otherwise. A CRL is the file every consumer already reads, is replaced atomically with the
 * inventory it reflects, and cannot disagree with itself, which a separate settings file could.
 */

import { DAY_MS } from './profiles.js';

const HOUR_MS = 3_600_000;

/** The CRL lifetime of a CA that has published none yet, in days; re-signing well before then is cron's job. */
export const DEFAULT_CRL_DAYS = 7;

/**
 * The CRL lifetime of a root that has published none yet, in days. A root that signs an intermediate is meant
 * to be kept offline, and its CRL (which lists the intermediates it revoked) can only be signed while its key
 * is brought back: half a year leaves room for that, while the intermediate's short-lived CRL covers the
 * certificates in daily use.
 */
export const DEFAULT_ROOT_CRL_DAYS = 180;

/** The longest lifetime mtls-ca signs (100 years, the bound of every validity it takes in days). */
const MAX_CRL_DAYS = 36_500;

/** The two dates of a CRL that say how long it lives. */
export interface CrlDates {
  thisUpdate: Date;
  nextUpdate: Date;
}

/**
 * The lifetime of `crl` in whole days (at least 1, at most {@link MAX_CRL_DAYS}): the days it was signed
 * for. A CRL signed elsewhere with a lifetime in hours rounds to the nearest day.
 * @param crl - the CRL's thisUpdate and nextUpdate
 */
export function crlLifetimeDays(crl: CrlDates): number {
  const days = Math.round((crl.nextUpdate.getTime() - crl.thisUpdate.getTime()) / DAY_MS);
  return Math.min(MAX_CRL_DAYS, Math.max(1, days));
}

/**
 * When `crl` is due to be replaced: half its lifetime after thisUpdate. A renewal that fails then (a full
 * disk, a CA directory being restored) leaves as much time to notice and fix it as had passed, and a CRL
 * renewed at that point never comes near its nextUpdate, after which every client is refused.
 * @param crl - the CRL's thisUpdate and nextUpdate
 */
export function crlRenewalTime(crl: CrlDates): Date {
  const from = crl.thisUpdate.getTime();
  return new Date(from + (crl.nextUpdate.getTime() - from) / 2);
}

/** How long before its nextUpdate a CRL is worth a warning (the server logs one, `doctor` reports one). */
export const CRL_WARNING_MS = 48 * HOUR_MS;

/**
 * When to start warning that `crl` will expire: {@link CRL_WARNING_MS} before its nextUpdate, or, for a CRL
 * that lives 4 days or less, once half its lifetime has passed — earlier, a short-lived CRL renewed on time
 * by cron would be warned about all its life, and a warning that never stops says nothing.
 * @param crl - the CRL's thisUpdate and nextUpdate
 */
export function crlWarningTime(crl: CrlDates): number {
  return Math.max(crl.nextUpdate.getTime() - CRL_WARNING_MS, crlRenewalTime(crl).getTime());
}

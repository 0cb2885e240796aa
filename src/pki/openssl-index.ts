/**
 * The certificate database of `openssl ca` (`index.txt`), which easy-rsa keeps too: one line per certificate the
 * CA issued, six tab-separated fields (OpenSSL's apps/ca.c, `DB_type` … `DB_name`):
 *
 * ```
 * V␉290309182147Z␉␉3048833167F262BF92D2373079B225B2␉unknown␉/CN=alice
 * R␉290309182148Z␉261205182151Z,keyCompromise␉1183380989036BB2C46D170A42232757␉unknown␉/CN=bob
 * E␉240101000000Z␉␉1000␉unknown␉/CN=carol
 * ```
 *
 * status (`V` valid, `R` revoked, `E` expired), expiry, revocation `time[,reason[,detail]]` (empty unless
 * revoked), serial in hex, file name (`unknown` in practice), subject in OpenSSL's one-line form. Times are
 * UTCTime `YYMMDDHHMMSSZ`, or GeneralizedTime `YYYYMMDDHHMMSSZ` from 2050 on.
 */
import { canonicalSerial } from './certificate.js';
import type { RevocationReason } from './crl.js';
import { MtlsCaError } from './errors.js';

export type IndexStatus = 'valid' | 'revoked' | 'expired';

export interface IndexRow {
  /** The line's number in the file, from 1 (for messages). */
  line: number;
  status: IndexStatus;
  expires: Date;
  /** When it was revoked (status `revoked` only). */
  revokedAt?: Date;
  /** Why (status `revoked` only); `unspecified` when the row names no reason. */
  reason?: RevocationReason;
  /** The serial as {@link canonicalSerial} writes it (certificate.ts). */
  serial: string;
  /** The serial as the row has it (`02BA…`: OpenSSL pads to whole octets), for messages about the row. */
  writtenSerial: string;
  /** The subject as OpenSSL wrote it: `/CN=alice/O=Team`. */
  subject: string;
}

const STATUS: Record<string, IndexStatus> = { V: 'valid', R: 'revoked', E: 'expired' };

/**
 * The reasons `openssl ca -revoke -crl_reason` writes, by the name it writes. `keyTime` and `CAkeyTime` are key
 * compromises with the time of compromise as a third field; `holdInstruction` is a hold with its instruction.
 * `removeFromCRL` is left out: it belongs to delta CRLs, which a full CRL cannot express.
 */
const REASONS: Record<string, RevocationReason> = {
  unspecified: 'unspecified',
  keyCompromise: 'keyCompromise',
  keyTime: 'keyCompromise',
  CACompromise: 'cACompromise',
  CAkeyTime: 'cACompromise',
  affiliationChanged: 'affiliationChanged',
  superseded: 'superseded',
  cessationOfOperation: 'cessationOfOperation',
  certificateHold: 'certificateHold',
  holdInstruction: 'certificateHold',
};

/** `YYMMDDHHMMSSZ` (years 1950–2049, RFC 5280 4.1.2.5.1) or `YYYYMMDDHHMMSSZ`; undefined when it is neither. */
function parseTime(text: string): Date | undefined {
  const m = /^(\d{2}|\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(text);
  if (!m) return undefined;
  let year = Number(m[1]);
  if (m[1]!.length === 2) year += year < 50 ? 2000 : 1900;
  const [month, day, hour, minute, second] = m.slice(2).map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  // Date.UTC rolls 31 February over into March: a date that does not exist is not a date.
  if (
    date.getUTCMonth() !== month - 1 ||
    date.getUTCDate() !== day ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  )
    return undefined;
  return date;
}

/**
 * Parses an `index.txt`. Empty lines are skipped; every other line must be a row OpenSSL writes, else the whole
 * file is refused — a row this reader does not understand could be a revocation it would otherwise drop.
 * @param text - the file's contents
 * @param what - names the file in errors (its path)
 * @throws MtlsCaError `PARSE_FAILED` naming the first line it cannot read, and why
 */
export function parseOpensslIndex(text: string, what: string): IndexRow[] {
  const rows: IndexRow[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.replace(/\r$/, '');
    if (raw === '') continue;
    const line = i + 1;
    const refuse = (cause: string): never => {
      throw new MtlsCaError(
        'PARSE_FAILED',
        `read ${what}: line ${line} ${cause}`,
        'every line must be a row `openssl ca` writes: V, R or E, expiry, revocation, serial, file, subject, separated by tabs',
      );
    };
    const fields = raw.split('\t');
    if (fields.length !== 6) refuse(`has ${fields.length} tab-separated fields, not 6`);
    const [type, expiry, revocation, serial, , subject] = fields as [
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    const status = STATUS[type];
    if (!status) refuse(`has the status ${JSON.stringify(type)}, not V, R or E`);
    const expires = parseTime(expiry);
    if (!expires) refuse(`has the expiry ${JSON.stringify(expiry)}, not a time like 290309182147Z`);
    if (!/^[0-9A-Fa-f]+$/.test(serial)) refuse(`has the serial ${JSON.stringify(serial)}, not hex digits`);
    const row: IndexRow = {
      line,
      status: status!,
      expires: expires!,
      serial: canonicalSerial(serial),
      writtenSerial: serial,
      subject,
    };
    if (status === 'revoked') {
      const [time = '', reasonName, ...rest] = revocation.split(',');
      const revokedAt = parseTime(time);
      if (!revokedAt)
        refuse(`has the revocation time ${JSON.stringify(time)}, not a time like 261205182151Z`);
      const reason = reasonName === undefined ? 'unspecified' : REASONS[reasonName];
      if (!reason)
        refuse(`has the revocation reason ${JSON.stringify(reasonName)}, which OpenSSL does not write`);
      // keyTime, CAkeyTime and holdInstruction carry one more field; nothing else does.
      const extra =
        reasonName === 'keyTime' || reasonName === 'CAkeyTime' || reasonName === 'holdInstruction';
      if (rest.length !== (extra ? 1 : 0))
        refuse(`has the revocation ${JSON.stringify(revocation)}, not time[,reason]`);
      row.revokedAt = revokedAt!;
      row.reason = reason!;
    } else if (revocation !== '') {
      refuse(`is ${status} but has a revocation time (${JSON.stringify(revocation)})`);
    }
    rows.push(row);
  }
  const seen = new Map<string, number>();
  for (const row of rows) {
    const first = seen.get(row.serial);
    if (first !== undefined) {
      throw new MtlsCaError(
        'PARSE_FAILED',
        `read ${what}: line ${row.line} repeats the serial ${row.serial} of line ${first}`,
        'a serial names one certificate: restore the file from a backup',
      );
    }
    seen.set(row.serial, row.line);
  }
  return rows;
}

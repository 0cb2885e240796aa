import { type Command, Option } from 'commander';
import type { CertificateListing, ListedCertificate } from '../../ops/list.js';
import type { CertificateProfile, CertificateStatus } from '../../store/inventory.js';
import { type CommandContext, ExitError, helpAfter } from '../context.js';
import type { Output } from '../output.js';
import { caLabel, day } from '../render.js';

interface Flags {
  status?: CertificateStatus;
  profile?: CertificateProfile;
  expiring?: string;
}

export function registerList(program: Command, ctx: CommandContext): void {
  program
    .command('list')
    .summary('list every certificate the CA issued, with status and expiry')
    .description(
      'Lists every certificate in the inventory (ca/inventory.jsonl), newest first: name, kind, status\n' +
        '(valid, expired, revoked, superseded), days left and serial. Filters combine; --json prints the\n' +
        'full records.',
    )
    .addOption(
      new Option('--status <status>', 'only this status').choices([
        'valid',
        'expired',
        'revoked',
        'superseded',
      ]),
    )
    .addOption(
      new Option('--profile <profile>', 'only this kind (ocsp: the responder of `publish`)').choices([
        'ca',
        'server',
        'client',
        'ocsp',
      ]),
    )
    .option(
      '--expiring <period>',
      'only valid certificates expiring within a period (30d, 4w); exit 3 if any (the OCSP responder, which renews itself, is never listed)',
    )
    .addHelpText(
      'after',
      helpAfter(
        [
          'mtls-ca list',
          'mtls-ca list --status valid --profile client --json',
          'mtls-ca list --expiring 30d || notify-admins',
        ],
        '\n  3   with --expiring: at least one certificate needs renewal',
      ),
    )
    .action(async (flags: Flags, cmd: Command) => {
      const out = await ctx.output(cmd);
      const store = await ctx.store(cmd);
      const { listInventory, parseDuration } = await import('../../ops/list.js');
      const expiringDays =
        flags.expiring === undefined ? undefined : parseDuration(flags.expiring, '--expiring');
      const listing = await listInventory(store, {
        status: flags.status,
        profile: flags.profile,
        expiringDays,
      });
      try {
        await out.resultInPieces(
          () => jsonPieces(listing),
          () => tableLines(listing, out),
        );
      } finally {
        listing.close();
      }
      if (expiringDays !== undefined && listing.length > 0) throw new ExitError(3);
    });
}

/** Strings JSON.stringify writes as `"${s}"`: no quote, backslash, control character or lone surrogate. */
const PLAIN = /^[^"\\\u0000-\u001f\ud800-\udfff]*$/;

/** A member value at depth 3 exactly as JSON.stringify(…, null, 2) writes it; undefined to omit the member. */
function jsonValue(value: unknown): string | undefined {
  if (typeof value === 'string') return PLAIN.test(value) ? `"${value}"` : JSON.stringify(value);
  if (typeof value !== 'object' || value === null) return JSON.stringify(value);
  return JSON.stringify(value, null, 2)?.replace(/\n/g, '\n      ');
}

/**
 * `{ certificates: [...] }` exactly as JSON.stringify(…, null, 2) writes it (test/cli/list-index.test.ts
 * compares the bytes), one certificate per piece, so the 45 MB document of 100,000 rows is never one string.
 */
function* jsonPieces(listing: CertificateListing): Generator<string> {
  // After a rotation, the CAs it replaced and what they still vouch for.
  const previous = listing.previous.length
    ? `,\n  "previous": ${JSON.stringify(listing.previous, null, 2).replace(/\n/g, '\n  ')}`
    : '';
  if (listing.length === 0) {
    yield `{\n  "certificates": []${previous}\n}`;
    return;
  }
  yield '{\n  "certificates": [';
  for (let k = 0; k < listing.length; k++) yield `${k ? ',' : ''}\n    {${jsonMembers(listing.at(k))}\n    }`;
  yield `\n  ]${previous}\n}`;
}

const REVOCATION_KEYS = ['revokedAt', 'revocationReason'];

/** A string member value as JSON.stringify writes it. */
function jsonString(s: string): string {
  return PLAIN.test(s) ? `"${s}"` : JSON.stringify(s);
}

/** The members of one certificate, in its own key order, as JSON.stringify(…, null, 2) writes them. */
function jsonMembers(row: ListedCertificate): string {
  const r = row as unknown as Record<string, unknown>;
  let members = '';
  let keys: readonly string[];
  // The usual row (always, from the index): eleven strings and a number in the order the listing builds them
  // (name … fingerprint, then revokedAt and revocationReason when revoked), so one template does; anything
  // else (a hand-edited log) goes member by member.
  if (
    typeof row.name === 'string' &&
    typeof row.profile === 'string' &&
    typeof row.serial === 'string' &&
    typeof row.subject === 'string' &&
    typeof row.issuer === 'string' &&
    typeof row.keyType === 'string' &&
    typeof row.notBefore === 'string' &&
    typeof row.notAfter === 'string' &&
    typeof row.daysLeft === 'number' &&
    typeof row.status === 'string' &&
    typeof row.fingerprint === 'string'
  ) {
    const {
      name,
      profile,
      serial,
      subject,
      issuer,
      keyType,
      notBefore,
      notAfter,
      daysLeft,
      status,
      fingerprint,
    } = row;
    // One test of all eleven strings (none has a character to escape, almost always) instead of eleven.
    const q = PLAIN.test(
      name + profile + serial + subject + issuer + keyType + notBefore + notAfter + status + fingerprint,
    )
      ? (s: string) => `"${s}"`
      : jsonString;
    members =
      `\n      "name": ${q(name)},\n      "profile": ${q(profile)},\n      "serial": ${q(serial)},` +
      `\n      "subject": ${q(subject)},\n      "issuer": ${q(issuer)},\n      "keyType": ${q(keyType)},` +
      `\n      "notBefore": ${q(notBefore)},` +
      `\n      "notAfter": ${q(notAfter)},\n      "daysLeft": ${Number.isFinite(daysLeft) ? daysLeft : 'null'},` +
      `\n      "status": ${q(status)},\n      "fingerprint": ${q(fingerprint)}`;
    keys = 'revokedAt' in r ? REVOCATION_KEYS : [];
  } else keys = Object.keys(r);
  for (const key of keys) {
    const value = jsonValue(r[key]);
    if (value !== undefined) members += `${members ? ',' : ''}\n      "${key}": ${value}`;
  }
  return members;
}

/**
 * The text table: columns as wide as their widest cell; revoked and expired rows red, superseded dim. The
 * ISSUER column appears when the rows come from more than one CA (an intermediate, a rotation); after a
 * rotation, a line per CA it replaced says what that CA still vouches for and when it can be retired.
 */
function* tableLines(listing: CertificateListing, out: Output): Generator<string> {
  if (listing.length === 0) {
    yield 'No certificates match.';
    yield* previousLines(listing);
    return;
  }
  const header = ['NAME', 'PROFILE', 'SERIAL', 'EXPIRES', 'DAYS', 'STATUS', 'ISSUER'];
  const w = header.map((h) => h.length);
  let issuer: string | undefined;
  let issuers = false;
  for (let k = 0; k < listing.length; k++) {
    const r = listing.at(k);
    w[0] = Math.max(w[0]!, r.name.length);
    w[1] = Math.max(w[1]!, r.profile.length);
    w[2] = Math.max(w[2]!, r.serial.length);
    w[3] = Math.max(w[3]!, day(r.notAfter).length);
    w[4] = Math.max(w[4]!, String(r.daysLeft).length);
    w[5] = Math.max(w[5]!, r.status.length);
    issuer ??= r.issuer;
    if (r.issuer !== issuer) issuers = true;
  }
  // Cells padded to their column and joined by two spaces; trailing padding trimmed.
  const fmt = (c0: string, c1: string, c2: string, c3: string, c4: string, c5: string, c6: string) =>
    `${c0.padEnd(w[0]!)}  ${c1.padEnd(w[1]!)}  ${c2.padEnd(w[2]!)}  ${c3.padEnd(w[3]!)}  ${c4.padEnd(w[4]!)}  ${c5.padEnd(w[5]!)}  ${c6}`.trimEnd();
  yield out.color.bold(
    fmt('NAME', 'PROFILE', 'SERIAL', 'EXPIRES', 'DAYS', 'STATUS', issuers ? 'ISSUER' : ''),
  );
  for (let k = 0; k < listing.length; k++) {
    const r = listing.at(k);
    const text = fmt(
      r.name,
      r.profile,
      r.serial,
      day(r.notAfter),
      String(r.daysLeft),
      r.status,
      issuers ? caLabel(r.issuer) : '',
    );
    yield r.status === 'valid'
      ? text
      : r.status === 'expired' || r.status === 'revoked'
        ? out.color.red(text)
        : out.color.dim(text);
  }
  yield* previousLines(listing);
}

/** For each CA a rotation replaced: what it still vouches for, and when it can be retired. */
function* previousLines(listing: CertificateListing): Generator<string> {
  for (const ca of listing.previous) {
    const it = `Previous CA "${caLabel(ca.subject)}" (serial ${ca.serial})`;
    const retire = `\`mtls-ca ca retire ${ca.serial}\``;
    yield '';
    yield ca.lastNotAfter
      ? `${it} still vouches for ${ca.inUse} certificate${ca.inUse === 1 ? '' : 's'} in use, the last until ${day(ca.lastNotAfter)}: renew them (\`mtls-ca renew <name>\` moves one to the new CA) or let them expire, then retire it: ${retire}.`
      : `${it} vouches for no certificate in use any more: retire it with ${retire}.`;
  }
}

import { type Command, Option } from 'commander';
import type { ResponderSummary } from '../../ops/publishing.js';
import type { RevocationReason } from '../../pki/crl.js';
import { type CommandContext, caPasswordFileOption, helpAfter, parseDays } from '../context.js';
import { caPasswordForUse } from '../passwords.js';
import { caLabel, crlLine, day } from '../render.js';
import { RECIPES } from '../revocation-notes.js';

/** The OCSP responder certificate a CRL signing re-issued, if it did. */
function responderLines(responder: ResponderSummary | undefined): string[] {
  return responder
    ? [`Re-issued the OCSP responder certificate ${responder.file} (valid until ${day(responder.notAfter)}).`]
    : [];
}

/** Who refuses the revoked certificate, and when. */
function revokedWhereLines(publishUrl: string | undefined): string[] {
  if (publishUrl === undefined) {
    return [
      '`mtls-ca serve` refuses it within 2 s; other servers (Tomcat, nginx, HAProxy, Go) once they',
      `load the new CRL file, or check a published one. Recipes: ${RECIPES}.`,
    ];
  }
  return [
    `\`mtls-ca publish\` at ${publishUrl} answers "revoked" within 1 s and serves the new CRL:`,
    'servers checking OCSP refuse it at once, Java checking the CRL within 30 s (its cache),',
    `\`mtls-ca serve\` within 2 s. Recipes: ${RECIPES}.`,
  ];
}

const REASONS = ['unspecified', 'keyCompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation'];

export function registerRevoke(program: Command, ctx: CommandContext): void {
  program
    .command('revoke')
    .summary('revoke a certificate and publish a new CRL')
    .description(
      'Marks the certificate with that serial, or of that name, revoked in the inventory and writes a new\n' +
        "ca/crl.pem (CRL number + 1, valid for the CA's CRL lifetime: see crl). A running `mtls-ca serve`\n" +
        'applies it within 2 s. A name with more than one certificate in use (after `renew` or `--force`)\n' +
        'lists them: choose one by its serial, or pass --all. A certificate goes into the CRL of the CA that\n' +
        'issued it (after `ca rotate`, maybe the previous one); an intermediate CA that no longer issues, by its\n' +
        "serial, into the root's CRL, which takes every certificate under it along (the root key is needed).",
    )
    .argument('<name|serial>', 'a client or server name, or a serial in hex (colons allowed)')
    .addOption(new Option('--reason <reason>', 'revocation reason').choices(REASONS).default('unspecified'))
    .option('--all', 'revoke every certificate of that name that is not revoked yet')
    .addOption(caPasswordFileOption())
    .addHelpText(
      'after',
      helpAfter([
        'mtls-ca revoke pavel --reason keyCompromise',
        'mtls-ca revoke 5f:3a:…:e1',
        'mtls-ca revoke alice --all      # the renewed one and the one it superseded',
      ]),
    )
    .action(
      async (
        target: string,
        flags: { reason: RevocationReason; all?: boolean; caPasswordFile?: string },
        cmd: Command,
      ) => {
        const out = await ctx.output(cmd);
        const store = await ctx.store(cmd);
        const { checkRevocation, revoke } = await import('../../ops/revoke.js');
        const all = Boolean(flags.all);
        checkRevocation(store, { target, all }); // before the password; repeated under the lock
        const caPassword = await caPasswordForUse(ctx.io, flags, store);
        const r = await revoke(store, { target, all, reason: flags.reason, caPassword });
        out.result(r, () => [
          ...r.revoked.map(
            (c) => `Revoked ${c.profile} certificate "${c.name}" (serial ${c.serial}), reason ${r.reason}.`,
          ),
          ...[r.crl, ...(r.others ?? [])].map(crlLine),
          ...responderLines(r.responder),
          ...revokedWhereLines(r.publishUrl),
        ]);
      },
    );

  program
    .command('crl')
    .summary('re-sign the CRL with a fresh next-update date (run it from cron)')
    .description(
      'Signs a new ca/crl.pem listing every revoked certificate, with CRL number + 1 and a next update\n' +
        "--days ahead. --days sets the CA's CRL lifetime: later CRLs (crl, revoke, renew --revoke-old,\n" +
        'serve --crl-auto-renew) keep the lifetime of the CRL they replace. Once the CRL in force is past its\n' +
        'next update, `mtls-ca serve` refuses every client (it can no longer tell who is revoked), so run this\n' +
        'daily from cron, or serve with --crl-auto-renew.\n\n' +
        "ca/crl.pem holds one CRL per CA in force: with an intermediate the root's CRL too (180 days for a new\n" +
        'root: its key may be offline; re-signed here while it is in the directory), and after `ca rotate` the\n' +
        "previous CA's until it is retired. Each keeps its own lifetime.",
    )
    .option(
      '--days <days>',
      "days until the CRL's nextUpdate (default: the lifetime of the current CRL; 7 for a new CA)",
      parseDays('--days'),
    )
    .option(
      '--root-days <days>',
      "days until the root CRL's nextUpdate, with an intermediate (default: its current lifetime)",
      parseDays('--root-days'),
    )
    .addOption(caPasswordFileOption())
    .addHelpText(
      'after',
      helpAfter([
        'mtls-ca crl',
        'mtls-ca crl --days 30   # this CRL and the ones after it: 30 days',
        '0 3 * * *  MTLS_CA_PASSWORD=… mtls-ca crl --dir /etc/mtls   # crontab',
      ]),
    )
    .action(async (flags: { days?: number; rootDays?: number; caPasswordFile?: string }, cmd: Command) => {
      const out = await ctx.output(cmd);
      const store = await ctx.store(cmd);
      const { resignCrl } = await import('../../ops/crl.js');
      const caPassword = await caPasswordForUse(ctx.io, flags, store);
      const r = await resignCrl(store, { days: flags.days, rootDays: flags.rootDays, caPassword });
      out.result(r, () => [
        crlLine(r),
        ...(r.others ?? []).map(crlLine),
        ...(r.keyOffline ?? []).map(
          (c) =>
            `Kept the CRL of the root "${caLabel(c.issuer)}" (next update ${day(c.nextUpdate)}): its key is offline; re-sign it before then, after \`mtls-ca root import FILE\`.`,
        ),
        ...responderLines(r.responder),
      ]);
    });
}

import { type Command, Option } from 'commander';
import type { CertificateProfile, CertificateStatus } from '../../store/inventory.js';
import { type CommandContext, ExitError, helpAfter } from '../context.js';
import { day } from '../render.js';

interface Flags {
  status?: CertificateStatus;
  profile?: CertificateProfile;
  expiring?: string;
}

export function registerList(program: Command, ctx: CommandContext): void {
  program
    .command('list')
    .summary('list every certificate the CA issued, with status and expiry')
    .addOption(
      new Option('--status <status>', 'only this status').choices([
        'valid',
        'expired',
        'revoked',
        'superseded',
      ]),
    )
    .addOption(new Option('--profile <profile>', 'only this kind').choices(['ca', 'server', 'client']))
    .option(
      '--expiring <period>',
      'only valid certificates expiring within a period (30d, 4w); exit 3 if any',
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
      const { listCertificates, parseDuration } = await import('../../ops/list.js');
      const expiringDays =
        flags.expiring === undefined ? undefined : parseDuration(flags.expiring, '--expiring');
      const rows = listCertificates(store, { status: flags.status, profile: flags.profile, expiringDays });
      out.result({ certificates: rows }, () => {
        if (rows.length === 0) return ['No certificates match.'];
        const header = ['NAME', 'PROFILE', 'SERIAL', 'EXPIRES', 'DAYS', 'STATUS'];
        const table = rows.map((r) => [
          r.name,
          r.profile,
          r.serial,
          day(r.notAfter),
          String(r.daysLeft),
          r.status,
        ]);
        const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
        const fmt = (row: string[]) =>
          row
            .map((c, i) => c.padEnd(widths[i]!))
            .join('  ')
            .trimEnd();
        const paint = (status: string, text: string) =>
          status === 'valid'
            ? text
            : status === 'expired' || status === 'revoked'
              ? out.color.red(text)
              : out.color.dim(text);
        return [out.color.bold(fmt(header)), ...table.map((row) => paint(row[5]!, fmt(row)))];
      });
      if (expiringDays !== undefined && rows.length > 0) throw new ExitError(3);
    });
}

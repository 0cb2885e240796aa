import type { Command } from 'commander';
import type { KeyType } from '../../pki/key-types.js';
import type { Pkcs12Profile } from '../../pki/pkcs12.js';
import {
  type CommandContext,
  caPasswordFileOption,
  ed25519Warning,
  helpAfter,
  leafKeyTypeOption,
  p12ProfileOption,
  parseDays,
  passwordFileOption,
} from '../context.js';
import { HOST_RULES } from '../name-rules-help.js';
import { caPasswordForUse, storePasswordChoice } from '../passwords.js';
import { day, fileLines, names } from '../render.js';

interface Flags {
  name?: string;
  days: number;
  keyType?: KeyType;
  p12Profile: Pkcs12Profile;
  force?: boolean;
  caPasswordFile?: string;
  passwordFile?: string;
}

export function registerIssueServer(program: Command, ctx: CommandContext): void {
  program
    .command('issue-server')
    .summary('issue another server certificate (serverAuth) for one or more hosts')
    .description('Creates server/<name>.crt, .key and .p12 for the given DNS names and IP addresses.')
    .argument('<host...>', 'DNS names and IP addresses for the subjectAltName')
    .option('--name <name>', 'file base name in server/ (default: the first host)')
    .option('--days <days>', 'validity in days (397: the most browsers accept)', parseDays('--days'), 397)
    .addOption(leafKeyTypeOption())
    .addOption(p12ProfileOption())
    .option('--force', 'replace existing files of that name')
    .addOption(caPasswordFileOption())
    .addOption(passwordFileOption())
    .addHelpText(
      'after',
      HOST_RULES +
        helpAfter([
          'mtls-ca issue-server api.example.com 10.0.0.5',
          'mtls-ca issue-server ::1 --name ipv6-only',
        ]),
    )
    .action(async (hosts: string[], flags: Flags, cmd: Command) => {
      const out = await ctx.output(cmd);
      const store = await ctx.store(cmd);
      const { checkServerRequest, issueServer } = await import('../../ops/issue-server.js');
      const { defaultLeafKeyType } = await import('../../ops/common.js');
      const force = Boolean(flags.force);
      // before any password; repeated under the lock
      checkServerRequest(store, { hosts, name: flags.name, days: flags.days, force });
      const keyType = flags.keyType ?? defaultLeafKeyType(store);
      if (keyType === 'ed25519') {
        const why = flags.keyType ? '' : " (the CA's key type)";
        out.warn(ed25519Warning(`server ${flags.name ?? hosts[0]} gets an Ed25519 key${why}`));
      }
      const caPassword = await caPasswordForUse(ctx.io, flags, store);
      const storeChoice = await storePasswordChoice(ctx.io, flags);
      const r = await out.spin(`Generating an ${keyType} key…`, () =>
        issueServer(store, {
          hosts,
          name: flags.name,
          days: flags.days,
          keyType,
          p12Profile: flags.p12Profile,
          force,
          caPassword,
          store: storeChoice,
        }),
      );
      out.result(r, () => [
        `Issued a server certificate "${r.name}" for ${names(r.certificate)}, valid until ${day(r.certificate.notAfter)}.`,
        '',
        ...fileLines(out, r.files),
      ]);
    });
}

import { type Command, Option } from 'commander';
import { KEY_TYPES, type KeyType } from '../../pki/key-types.js';
import type { Pkcs12Profile } from '../../pki/pkcs12.js';
import {
  type CommandContext,
  caPasswordFileOption,
  helpAfter,
  p12ProfileOption,
  parseDays,
  passwordFileOption,
} from '../context.js';
import { caPasswordForUse, givenStorePassword } from '../passwords.js';
import { crlLine, day, fileLines, stillAuthenticates } from '../render.js';

interface Flags {
  days?: number;
  rekey?: boolean;
  keyType?: KeyType;
  revokeOld?: boolean;
  p12Profile: Pkcs12Profile;
  caPasswordFile?: string;
  passwordFile?: string;
}

export function registerRenew(program: Command, ctx: CommandContext): void {
  program
    .command('renew')
    .summary('renew a client or server certificate (same subject, SANs and roles)')
    .description(
      'Issues a new certificate for <name> with the same subject and SANs — with the same key unless --rekey,\n' +
        'which also writes a new <name>.csr — and a new .p12 (reusing a generated .pass password). The old\n' +
        'certificate is marked superseded, but it still authenticates until it expires: with --revoke-old it is\n' +
        'also revoked and a new CRL is written.',
    )
    .argument('<name>', 'a client or server name from `mtls-ca list`')
    .option('--days <days>', 'validity in days (default: 365 client, 397 server)', parseDays('--days'))
    .option('--rekey', 'generate a new key instead of reusing the old one')
    .addOption(
      new Option('--key-type <type>', 'with --rekey: the new key type (default: the old one)').choices(
        KEY_TYPES,
      ),
    )
    .option('--revoke-old', 'revoke the old certificate (reason superseded)')
    .addOption(p12ProfileOption())
    .addOption(caPasswordFileOption())
    .addOption(passwordFileOption())
    .addHelpText(
      'after',
      helpAfter(['mtls-ca renew pavel', 'mtls-ca renew pavel --rekey --revoke-old --days 90']),
    )
    .action(async (name: string, flags: Flags, cmd: Command) => {
      const out = await ctx.output(cmd);
      const store = await ctx.store(cmd);
      const { checkRenewal, renew } = await import('../../ops/renew.js');
      // before the password; repeated by renew
      checkRenewal(store, { name, days: flags.days, rekey: Boolean(flags.rekey) });
      const caPassword = await caPasswordForUse(ctx.io, flags, store);
      const r = await renew(store, {
        name,
        days: flags.days,
        rekey: Boolean(flags.rekey),
        keyType: flags.keyType,
        revokeOld: Boolean(flags.revokeOld),
        p12Profile: flags.p12Profile,
        caPassword,
        store: await givenStorePassword(ctx.io, flags),
      });
      out.result(r, () => [
        `Renewed ${r.profile} certificate "${name}"${r.rekeyed ? ' with a new key' : ''}: serial ${r.certificate.serial}, valid until ${day(r.certificate.notAfter)}.`,
        r.old.stillAuthenticates
          ? `The old certificate ${r.old.serial} is superseded but ${stillAuthenticates(r.old.serial, r.old.notAfter)} (renew --revoke-old does both at once).`
          : `The old certificate ${r.old.serial} is ${r.old.status}.`,
        ...(r.crl ? [crlLine(r.crl)] : []),
        '',
        ...fileLines(out, r.files),
      ]);
    });
}

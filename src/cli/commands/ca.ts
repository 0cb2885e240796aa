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
import { caLabel, crlLine, day, fileLines } from '../render.js';
import { registerCaMoveKey } from './ca-move-key.js';

interface RotateFlags {
  caName?: string;
  caDays: number;
  keyType?: KeyType;
  p12Profile: Pkcs12Profile;
  caPasswordFile?: string;
  passwordFile?: string;
}

interface RetireFlags {
  force?: boolean;
  p12Profile: Pkcs12Profile;
  caPasswordFile?: string;
  passwordFile?: string;
}

/** Printed as is (commander does not re-wrap 'after' text): at most 80 columns. */
const ROTATION_HELP = `
Rotation, step by step:
  1. mtls-ca ca rotate       a new CA issues; the old one stays trusted
  2. mtls-ca renew <name>    moves a certificate to the new CA (serve,
                             nginx and Java accept old and new meanwhile)
  3. mtls-ca list            says what the old CA still vouches for
  4. mtls-ca ca retire       the old CA leaves every trust file
`;

export function registerCa(program: Command, ctx: CommandContext): void {
  const ca = program
    .command('ca')
    .summary('replace the CA that issues (rotate), retire the one it replaced, move its key to a token')
    .description(
      'A CA is replaced in two steps: `ca rotate` makes a new CA that issues from then on while the old one\n' +
        'stays trusted, and `ca retire` takes the old one out of trust once nothing it issued is in use.\n' +
        '`ca move-key` moves the key of the CA that issues from its file into a PKCS#11 token (an HSM).',
    );

  ca.command('rotate')
    .summary('make a new CA that issues from now on; the old one stays trusted')
    .description(
      'Makes a new issuing CA: with an intermediate (init --intermediate) a new intermediate signed by the\n' +
        'root, whose key must be in the directory; else a new root. The new CA becomes ca/ca.crt and ca.key;\n' +
        'the old one moves to ca/previous/<serial>/ and stays trusted — in ca/ca-bundle.pem, the trust stores\n' +
        '(a root) and ca/crl.pem, where revoking its certificates still goes — so certificates it issued keep\n' +
        'working until they expire. `renew` moves one to the new CA; `list` shows what the old CA still vouches\n' +
        'for; `ca retire` ends it. The server certificate too is renewed with `mtls-ca renew server`.',
    )
    .option('--ca-name <name>', "the new CA's common name (default: the old one's, numbered one up)")
    .option(
      '--ca-days <days>',
      'validity in days (an intermediate ends with its root)',
      parseDays('--ca-days'),
      3650,
    )
    .addOption(new Option('--key-type <type>', "key algorithm (default: the old CA's)").choices(KEY_TYPES))
    .addOption(p12ProfileOption())
    .addOption(caPasswordFileOption())
    .addOption(passwordFileOption())
    .addHelpText(
      'after',
      ROTATION_HELP +
        helpAfter([
          'mtls-ca ca rotate',
          'mtls-ca ca rotate --ca-name "Acme Issuing 2026" --key-type ecdsa-p384',
        ]),
    )
    .action(async (flags: RotateFlags, cmd: Command) => {
      const out = await ctx.output(cmd);
      const store = await ctx.store(cmd);
      const { checkRotation, rotateCa } = await import('../../ops/rotate.js');
      checkRotation(store, flags); // before the password; repeated under the lock
      const caPassword = await caPasswordForUse(ctx.io, flags, store);
      const r = await out.spin('Generating the new CA key…', async () =>
        rotateCa(store, {
          caName: flags.caName,
          caDays: flags.caDays,
          keyType: flags.keyType,
          p12Profile: flags.p12Profile,
          caPassword,
          store: await givenStorePassword(ctx.io, flags),
        }),
      );
      const old = r.previous;
      out.result(r, () => [
        `Created ${r.root ? `the intermediate "${caLabel(r.ca.subject)}" under the root "${caLabel(r.root.subject)}"` : `CA "${caLabel(r.ca.subject)}"`} (${r.ca.keyType}), valid until ${day(r.ca.notAfter)}: it issues from now on.`,
        `The previous CA "${caLabel(old.subject)}" moved to ${old.dir} and stays trusted: ${
          old.lastNotAfter
            ? `${old.inUse} certificate${old.inUse === 1 ? '' : 's'} it issued ${old.inUse === 1 ? 'is' : 'are'} in use, the last until ${day(old.lastNotAfter)}.`
            : 'nothing it issued is in use.'
        }`,
        crlLine(r.crl),
        '',
        ...fileLines(out, r.files),
        '',
        `Next: mtls-ca renew <name> for each certificate (the server's too: mtls-ca renew server), then mtls-ca ca retire ${old.serial}`,
      ]);
    });

  ca.command('retire')
    .summary('take a CA that a rotation replaced out of every trust file')
    .description(
      'Takes a previous CA out of ca/ca-bundle.pem, the trust stores (a root) and ca/crl.pem, and moves it,\n' +
        "key and all, to ca/retired/<serial>/. An intermediate is also revoked by the root (the root's key\n" +
        'must be in the directory): servers that trust the root alone refuse its certificates then too. A CA\n' +
        'whose certificates are still in use (valid, or superseded and not expired) is refused without --force.\n' +
        'The serial may be left out while there is one previous CA.',
    )
    .argument('[serial]', 'the serial of the previous CA (see `mtls-ca list`)')
    .option('--force', 'retire it even though certificates it issued are in use: they stop working')
    .addOption(p12ProfileOption())
    .addOption(caPasswordFileOption())
    .addOption(passwordFileOption())
    .addHelpText('after', helpAfter(['mtls-ca ca retire', 'mtls-ca ca retire 5f3a…e1 --force']))
    .action(async (serial: string | undefined, flags: RetireFlags, cmd: Command) => {
      const out = await ctx.output(cmd);
      const store = await ctx.store(cmd);
      const { checkRetirement, retireCa } = await import('../../ops/retire.js');
      const force = Boolean(flags.force);
      checkRetirement(store, { serial, force }); // before the password; repeated under the lock
      const caPassword = await caPasswordForUse(ctx.io, flags, store);
      const r = await retireCa(store, {
        serial,
        force,
        p12Profile: flags.p12Profile,
        caPassword,
        store: await givenStorePassword(ctx.io, flags),
      });
      const it = r.retired;
      out.result(r, () => [
        `Retired CA "${caLabel(it.subject)}" (serial ${it.serial}): moved to ${it.dir}, trusted no more${r.revoked ? ', and revoked by the root' : ''}.`,
        ...(it.inUse > 0
          ? [
              `${it.inUse} certificate${it.inUse === 1 ? '' : 's'} it issued stop${it.inUse === 1 ? 's' : ''} working (--force).`,
            ]
          : []),
        ...(r.crl ? [crlLine(r.crl)] : []),
        '',
        ...fileLines(out, r.files),
      ]);
    });
  registerCaMoveKey(ca, ctx);
}

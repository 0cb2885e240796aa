import type { Command } from 'commander';
import { type CommandContext, caPasswordFileOption, helpAfter } from '../context.js';
import { INPUT, inputName, readInput } from '../input.js';
import { caPasswordForUse } from '../passwords.js';
import { caLabel } from '../render.js';

export function registerRoot(program: Command, ctx: CommandContext): void {
  const root = program
    .command('root')
    .summary("take the root's key offline, and bring it back (init --intermediate)")
    .description(
      "With an intermediate, the root's key signs only new intermediates (`ca rotate`, `ca retire`) and the\n" +
        "root's CRL (`revoke` of an intermediate, `crl`). Everyday issuing needs the intermediate alone, so\n" +
        "the root's key can leave the CA directory and come back when one of those is due. The commands that\n" +
        "need it say so. The root's CRL lives 180 days: re-sign it (`crl`) while the key is here.",
    );

  root
    .command('export')
    .summary("write the root's key to a file and remove it from the CA directory")
    .description(
      'Writes ca/root.key to --out (0600, encrypted with the CA password as it is stored) and removes it\n' +
        'from the CA directory, in one step. Keep the file on a medium of its own (a USB stick in a safe, a\n' +
        'vault), and `root import` it when the root must sign.',
    )
    .requiredOption('--out <file>', 'where the key goes: a file outside the CA directory')
    .option('--force', 'replace --out if it exists')
    .addOption(caPasswordFileOption())
    .addHelpText('after', helpAfter(['mtls-ca root export --out /media/usb/root.key']))
    .action(async (flags: { out: string; force?: boolean; caPasswordFile?: string }, cmd: Command) => {
      const out = await ctx.output(cmd);
      const store = await ctx.store(cmd);
      const { checkRootKeyExport, exportRootKey } = await import('../../ops/root-key.js');
      const force = Boolean(flags.force);
      store.assertInitialized();
      checkRootKeyExport(store, { out: flags.out, force }); // before the password; repeated under the lock
      const caPassword = await caPasswordForUse(ctx.io, flags, store);
      const r = await exportRootKey(store, { out: flags.out, force, caPassword });
      if (!r.encrypted) out.warn(`${r.file} is NOT encrypted (the CA was made with --no-ca-password)`);
      out.result(r, () => [
        `Wrote the key of root CA "${caLabel(r.root.subject)}" to ${r.file} and removed ${r.removed}.`,
        `Bring it back when the root must sign: mtls-ca root import ${r.file}`,
      ]);
    });

  root
    .command('import')
    .summary("bring the root's key back into the CA directory")
    .description(
      "Checks that the file holds the root's key (opened with the CA password), and writes it as ca/root.key,\n" +
        'encrypted with the CA password. Take it offline again with `root export` when done.',
    )
    .argument('<file>', 'the key file `root export` wrote (- for stdin)')
    .addOption(caPasswordFileOption())
    .addHelpText('after', helpAfter(['mtls-ca root import /media/usb/root.key', 'mtls-ca crl   # then']))
    .action(async (file: string, flags: { caPasswordFile?: string }, cmd: Command) => {
      const out = await ctx.output(cmd);
      const store = await ctx.store(cmd);
      const { checkRootKeyImport, importRootKey } = await import('../../ops/root-key.js');
      store.assertInitialized();
      checkRootKeyImport(store); // before the password; repeated under the lock
      const data = await readInput(ctx.io, file, INPUT.privateKey);
      const caPassword = await caPasswordForUse(ctx.io, flags, store);
      const r = await importRootKey(store, { file: inputName(file), data, caPassword });
      out.result(r, () => [
        `Wrote the key of root CA "${caLabel(r.root.subject)}" to ${r.file}.`,
        'Take it offline again when done: mtls-ca root export --out FILE',
      ]);
    });
}

import type { Command } from 'commander';
import { MtlsCaError } from '../../pki/errors.js';
import { type CommandContext, caPasswordFileOption, helpAfter } from '../context.js';
import { closeWhenDone } from '../open-tokens.js';
import { caPasswordForUse } from '../passwords.js';
import { ENV_PKCS11_MODULE, ENV_PKCS11_PIN, parseTokenUri, tokenAccess, withTokenHints } from '../token.js';

interface MoveKeyFlags {
  to: string;
  caPasswordFile?: string;
}

/**
 * `ca move-key`: the CA key from its file into a PKCS#11 token (ops/move-key.ts).
 * @param ca - the `ca` command it belongs to
 */
export function registerCaMoveKey(ca: Command, ctx: CommandContext): void {
  ca.command('move-key')
    .summary('move the CA key from its file into a PKCS#11 token (HSM)')
    .description(
      'Writes the CA key into a PKCS#11 token as a sensitive, non-extractable key, checks that the token key\n' +
        'signs for the CA certificate, then records its URI in ca/ca-key.uri and deletes the encrypted\n' +
        'ca/ca.key. Certificates, CRLs and audit lines are signed in the token from then on; commands need the\n' +
        `module (${ENV_PKCS11_MODULE}) and the PIN (${ENV_PKCS11_PIN}, or pin-source=file:F in the URI).\n` +
        'Copies of ca.key made before (backups of your own) are not touched: delete them yourself.\n' +
        'For a CA in a database (--database-url), the URI replaces the encrypted key in its row there, in the\n' +
        'transaction that records the move; every host then needs the token.',
    )
    .requiredOption('--to <uri>', 'the token and the key label: pkcs11:token=LABEL;object=KEY-LABEL')
    .addOption(caPasswordFileOption())
    .addHelpText(
      'after',
      helpAfter([
        `export ${ENV_PKCS11_MODULE}=/usr/lib/softhsm/libsofthsm2.so`,
        "mtls-ca ca move-key --to 'pkcs11:token=CA;object=ca-key'",
        "mtls-ca ca move-key \\\n      --to 'pkcs11:token=CA;object=ca-key?pin-source=file:/etc/mtls-ca/pin'",
        "MTLS_CA_DATABASE_URL=… mtls-ca ca move-key \\\n      --to 'pkcs11:token=CA;object=ca-key'   # a CA in PostgreSQL",
      ]),
    )
    .action(async (flags: MoveKeyFlags, cmd: Command) => {
      const out = await ctx.output(cmd);
      const store = await ctx.store(cmd);
      const uri = await parseTokenUri(flags.to, '--to');
      const { moveCaKey } = await import('../../ops/move-key.js');
      store.assertInitialized();
      const inToken = store.tokenKeyUri();
      if (inToken !== undefined) {
        throw new MtlsCaError(
          'INVALID_ARGUMENT',
          `move the CA key: it is in a token already (${inToken})`,
          'nothing to do; a key in a token cannot be moved out of it',
        );
      }
      const caPassword = await caPasswordForUse(ctx.io, flags, store);
      const r = await withTokenHints(async () => {
        const access = await tokenAccess(ctx.io, uri, { prompt: true });
        const { importTokenKey } = await import('../../token/token-key.js');
        return moveCaKey(store, {
          caPassword,
          writeKey: async (key) => {
            const moved = await importTokenKey(uri, key, access);
            closeWhenDone(moved);
            return moved;
          },
        });
      });
      out.result(r, () => [
        `Moved the CA key (${r.keyType}) into the token: ${r.uri}`,
        `A signature by the token key was verified with the CA certificate; ${r.removed} is deleted, ${r.uriFile} says where the key is.`,
        `From now on commands that sign need ${ENV_PKCS11_MODULE} and the PIN (${ENV_PKCS11_PIN} or pin-source=).`,
      ]);
    });
}

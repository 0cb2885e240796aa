import type { Command } from 'commander';
import { MtlsCaError } from '../../pki/errors.js';
import { type CommandContext, helpAfter } from '../context.js';

export function registerAudit(program: Command, ctx: CommandContext): void {
  const audit = program
    .command('audit')
    .summary('check the audit log of CA operations')
    .description(
      'Every CA operation (init, issue, sign, revoke, renew, crl) appends one JSON line to ca/audit.log with the\n' +
        'SHA-256 of the previous line and a signature by the CA key; ca/audit.head, signed too, counts the lines.',
    );
  audit
    .command('verify')
    .summary('verify the hash chain and signatures; report the first tampered line')
    .description(
      'Checks every line of ca/audit.log: that it carries the SHA-256 of the line before (no line removed,\n' +
        'changed or inserted) and a valid signature by the CA key, and that the log ends where its signed head\n' +
        '(ca/audit.head) says (no line removed from the end). Names the first line that fails.',
    )
    .addHelpText('after', helpAfter(['mtls-ca audit verify', 'mtls-ca audit verify --json']))
    .action(async (_flags: unknown, cmd: Command) => {
      const out = await ctx.output(cmd);
      const store = await ctx.store(cmd);
      const r = await store.verifyAudit();
      const where = store.externalState
        ? `the audit chain in ${store.location}`
        : store.display(store.paths.auditLog);
      if (!r.ok) {
        throw new MtlsCaError(
          'TAMPERED',
          `verify ${where}: ${r.firstBadLine ? `line ${r.firstBadLine} ` : ''}${r.reason}`,
          r.headMissing
            ? 'a CA made before audit heads existed gets one with its next operation; otherwise restore ca/audit.log and ca/audit.head from a backup'
            : 'restore the log from a backup and find out who changed it',
        );
      }
      out.result(r, () => [`${where}: ${r.lines} lines, chain and signatures intact.`]);
    });
}

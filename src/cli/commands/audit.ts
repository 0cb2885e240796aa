import type { Command } from 'commander';
import { MtlsCaError } from '../../pki/errors.js';
import { type CommandContext, helpAfter } from '../context.js';

export function registerAudit(program: Command, ctx: CommandContext): void {
  const audit = program
    .command('audit')
    .summary('check the audit log of CA operations')
    .description(
      'Every CA operation (init, issue, sign, revoke, renew, crl) appends one JSON line to ca/audit.log with the\n' +
        'SHA-256 of the previous line and a signature by the CA key.',
    );
  audit
    .command('verify')
    .summary('verify the hash chain and signatures; report the first tampered line')
    .description(
      'Checks every line of ca/audit.log: that it carries the SHA-256 of the line before (no line removed,\n' +
        'changed or inserted) and a valid signature by the CA key. Names the first line that fails.',
    )
    .addHelpText('after', helpAfter(['mtls-ca audit verify', 'mtls-ca audit verify --json']))
    .action(async (_flags: unknown, cmd: Command) => {
      const out = await ctx.output(cmd);
      const store = await ctx.store(cmd);
      const { verifyAuditLog } = await import('../../store/audit.js');
      const r = verifyAuditLog(store.paths.auditLog, store.readCaCertificate());
      if (!r.ok) {
        throw new MtlsCaError(
          'TAMPERED',
          `verify ${store.display(store.paths.auditLog)}: line ${r.firstBadLine} ${r.reason}`,
          'restore the log from a backup and find out who changed it',
        );
      }
      out.result(r, () => [
        `${store.display(store.paths.auditLog)}: ${r.lines} lines, chain and signatures intact.`,
      ]);
    });
}

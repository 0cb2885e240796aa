import path from 'node:path';
import type { Command } from 'commander';
import { MtlsCaError } from '../../pki/errors.js';
import { type CommandContext, ENV_DATABASE_URL, helpAfter } from '../context.js';

/** The database URL a `db` command works on; USAGE when there is none. */
function databaseUrl(ctx: CommandContext, cmd: Command, action: string): string {
  const url = ctx.globals(cmd).databaseUrl;
  if (url) return url;
  throw new MtlsCaError(
    'USAGE',
    `${action}: no database named`,
    `pass --database-url URL or set ${ENV_DATABASE_URL}`,
  );
}

export function registerDb(program: Command, ctx: CommandContext): void {
  const db = program
    .command('db')
    .summary("the PostgreSQL database holding a CA's state: schema, status, import")
    .description(
      "With --database-url (or MTLS_CA_DATABASE_URL) every command reads and changes the CA's state in a\n" +
        'PostgreSQL database instead of the CA directory: inventory, serials, revocations, CRLs, users and roles,\n' +
        'the audit chain and the CA keys (encrypted with the CA password), with an intermediate and its root (whose\n' +
        'key can go offline) and the CAs a rotation keeps in force. The directory keeps what belongs to its host:\n' +
        'server and client files, and copies of the CA certificates in force, their CRLs and users.json. A password\n' +
        'belongs in MTLS_CA_DATABASE_URL, PGPASSWORD or ~/.pgpass, never in --database-url.',
    );
  db.command('migrate')
    .summary("create or update mtls-ca's tables in the database")
    .description(
      "Creates mtls-ca's tables (schema mtls_ca) in the database, or brings them to this version's schema;\n" +
        'safe to run again, and from several hosts at once. init --database-url does it for a new CA.',
    )
    .addHelpText('after', helpAfter([`${ENV_DATABASE_URL}=postgres://ca@db/ca mtls-ca db migrate`]))
    .action(async (_flags: unknown, cmd: Command) => {
      const out = await ctx.output(cmd);
      const url = databaseUrl(ctx, cmd, 'migrate the database');
      const { migrateDatabase } = await import('../../ops/database.js');
      const r = await migrateDatabase(url);
      out.result(r, () => [
        r.from === r.to
          ? `${r.database}: schema version ${r.to}, up to date.`
          : `${r.database}: schema version ${r.from} → ${r.to}.`,
      ]);
    });
  db.command('status')
    .summary('the schema version, the CA and what the database holds')
    .description(
      'Shows the schema version of the database against the one this mtls-ca uses, the CA it holds, the\n' +
        'number of certificates and revocations, and the length of the audit chain.',
    )
    .addHelpText('after', helpAfter(['mtls-ca db status', 'mtls-ca db status --json']))
    .action(async (_flags: unknown, cmd: Command) => {
      const out = await ctx.output(cmd);
      const url = databaseUrl(ctx, cmd, 'read the database');
      const { databaseStatus } = await import('../../ops/database.js');
      const r = await databaseStatus(url);
      const { version, expected } = r.schema;
      out.result(r, () => [
        `${r.database}: schema version ${version}${
          version === expected
            ? ''
            : version === 0
              ? ' (no tables of mtls-ca: run mtls-ca db migrate, or init --database-url)'
              : version < expected
                ? ` (this mtls-ca uses ${expected}: run mtls-ca db migrate)`
                : ` (newer than this mtls-ca, which uses ${expected})`
        }.`,
        ...(r.ca
          ? [
              `CA: ${r.ca.subject}, valid until ${r.ca.notAfter.slice(0, 10)}, key ${r.ca.key === 'encrypted' ? 'encrypted with the CA password' : `in a PKCS#11 token: ${r.ca.keyUri}`}.`,
              ...(r.chain?.root
                ? [
                    `Root: ${r.chain.root.subject}, key ${r.chain.root.key === 'held' ? 'in the database' : 'offline'}.`,
                  ]
                : []),
              ...(r.chain?.previous.length
                ? [
                    `Still in force after a rotation: ${r.chain.previous.join(', ')} (mtls-ca ca retire takes it out).`,
                  ]
                : []),
            ]
          : version === expected
            ? ['No CA yet: create it with mtls-ca init --database-url URL, or mtls-ca db import --dir DIR.']
            : []),
        ...(r.certificates
          ? [
              `Certificates: ${r.certificates.total} (${r.certificates.revoked} revoked); audit chain: ${r.auditLines} lines; state version ${r.stateVersion}.`,
            ]
          : []),
      ]);
    });
  db.command('import')
    .summary('move a CA directory into the database, verified, all or nothing')
    .description(
      'Moves the CA of the directory (--dir) into an empty database: the CA certificate and its key (as encrypted in\n' +
        'the directory, or its URI for a key in a PKCS#11 token) with the rest of its chain (root, CAs a rotation\n' +
        'replaced, retired ones; a root key taken offline stays so), the inventory with every revocation, each CRL\n' +
        'and its number, users and roles, and the audit log line for line. The audit log must verify first; the\n' +
        'import is read back and checked before it commits, and a failure leaves the database as it was. The\n' +
        "directory is only read; it then serves as this host's directory with --database-url.",
    )
    .addHelpText('after', helpAfter([`${ENV_DATABASE_URL}=postgres://ca@db/ca mtls-ca db import --dir ssl`]))
    .action(async (_flags: unknown, cmd: Command) => {
      const out = await ctx.output(cmd);
      const url = databaseUrl(ctx, cmd, 'import into the database');
      const { CaStore } = await import('../../store/ca-store.js');
      const { importIntoDatabase } = await import('../../ops/database.js');
      const source = new CaStore(path.resolve(ctx.globals(cmd).dir));
      const r = await importIntoDatabase(source, url);
      out.result(r, () => [
        `Moved ${r.ca}${r.cas > 1 ? ` and ${r.cas - 1} other CA${r.cas > 2 ? 's' : ''} of its chain` : ''} from ${source.display(source.root)} into ${r.database}: ${r.certificates} certificates (${r.revoked} revoked), ${r.users} users, ${r.auditLines} audit lines${r.crlNumber ? `, CRL number ${r.crlNumber}` : ''}; verified.`,
        `Next: use it with --database-url (or ${ENV_DATABASE_URL}); ${source.display(source.root)} stays as it was.`,
      ]);
    });
}

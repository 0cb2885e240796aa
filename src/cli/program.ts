/** Builds the commander program. Tests build it too, with their own Io. */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { registerAudit } from './commands/audit.js';
import { registerCa } from './commands/ca.js';
import { registerDb } from './commands/db.js';
import { registerDemo } from './commands/demo.js';
import { registerDoctor } from './commands/doctor.js';
import { registerImport } from './commands/import.js';
import { registerInit } from './commands/init.js';
import { registerInspect } from './commands/inspect.js';
import { registerIssueClient } from './commands/issue-client.js';
import { registerIssueServer } from './commands/issue-server.js';
import { registerList } from './commands/list.js';
import { registerPublish } from './commands/publish.js';
import { registerPublishUrl } from './commands/publish-url.js';
import { registerRenew } from './commands/renew.js';
import { registerRevoke } from './commands/revoke.js';
import { registerRoot } from './commands/root.js';
import { registerServe } from './commands/serve.js';
import { registerSignCsr } from './commands/sign-csr.js';
import { registerSnippet } from './commands/snippet.js';
import { registerTrust } from './commands/trust.js';
import { CommandContext, EXIT_CODES } from './context.js';
import type { Io } from './io.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/**
 * @param io - streams and environment
 * @param ctx - the commands' context; main() passes its own, to close what the command opened
 */
export function buildProgram(io: Io, ctx: CommandContext = new CommandContext(io)): Command {
  const program = new Command('mtls-ca')
    .description(
      'A private CA for mutual TLS: server and client certificates, browser-importable .p12 files,\n' +
        'Java trust stores, and an mTLS demo API — the openssl + keytool recipe, done right.',
    )
    .version(version(), '-V, --version')
    .option('-d, --dir <dir>', 'the CA directory (env MTLS_CA_DIR)', undefined)
    .option('--json', 'print one JSON document to stdout')
    .option(
      '--database-url <url>',
      "the PostgreSQL database holding the CA's state, postgres://user@host/db (env MTLS_CA_DATABASE_URL)",
    )
    .showSuggestionAfterError()
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .addHelpText(
      'after',
      `
Quick start:
  $ MTLS_CA_PASSWORD=… mtls-ca init        # CA, server certificate and stores
  $ mtls-ca issue-client pavel --role user  # client_pavel.p12: browsers, curl
  $ mtls-ca serve                           # the API on https://localhost:8443

Environment:
  MTLS_CA_DIR             the CA directory (default ./ssl)
  MTLS_CA_DATABASE_URL    the database holding the CA's state (see mtls-ca db)
  MTLS_CA_PASSWORD        the CA key password
  MTLS_CA_STORE_PASSWORD  the password for .p12 files and key stores
  MTLS_CA_PKCS11_MODULE   the PKCS#11 module of a CA key in a token
  MTLS_CA_PKCS11_PIN      the PIN of that token
  NO_COLOR                no colours
  MTLS_CA_DEBUG=1         stack traces for internal errors
${EXIT_CODES}
`,
    );
  registerInit(program, ctx);
  registerImport(program, ctx);
  registerIssueClient(program, ctx);
  registerIssueServer(program, ctx);
  registerSignCsr(program, ctx);
  registerInspect(program, ctx);
  registerList(program, ctx);
  registerRevoke(program, ctx);
  registerRenew(program, ctx);
  registerCa(program, ctx);
  registerRoot(program, ctx);
  registerAudit(program, ctx);
  registerDoctor(program, ctx);
  registerServe(program, ctx);
  registerPublishUrl(program, ctx);
  registerPublish(program, ctx);
  registerDemo(program, ctx);
  registerSnippet(program, ctx);
  registerTrust(program, ctx);
  registerDb(program, ctx);
  const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
  for (const cmd of all(program)) {
    // Descriptions are written as lines of source; commander wraps them to the terminal, so single line
    // breaks become spaces (a blank line still starts a paragraph) — else the help reads ragged.
    cmd.description(cmd.description().replace(/([^\n])\n(?=[^\n])/g, '$1 '));
    if (cmd === program) continue;
    cmd.exitOverride().configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    });
  }
  return program;
}

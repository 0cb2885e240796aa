import { type Command, Option } from 'commander';
import { type CommandContext, caPasswordFileOption, collect, helpAfter, parseDays } from '../context.js';
import { INPUT, inputName, readInput } from '../input.js';
import { ALT_NAME_RULES, HOST_RULES, REQUEST_RULES, USER_NAME_RULES } from '../name-rules-help.js';
import { caPasswordForUse } from '../passwords.js';
import { day, fileLines, names, stillAuthenticates } from '../render.js';

interface Flags {
  profile: 'client' | 'server';
  days?: number;
  out?: string;
  role?: string[];
  force?: boolean;
  caPasswordFile?: string;
}

export function registerSignCsr(program: Command, ctx: CommandContext): void {
  program
    .command('sign-csr')
    .summary('sign a certificate request made elsewhere (e.g. by openssl req)')
    .description(
      "Verifies the CSR's signature, takes its subject CN and subjectAltNames, and issues a certificate under the\n" +
        'client profile (CN required, clientAuth only) or the server profile (a DNS/IP SAN required, serverAuth only).',
    )
    .argument('<file>', 'the CSR, PEM or DER (- for stdin)')
    .addOption(
      new Option('--profile <profile>', 'certificate profile')
        .choices(['client', 'server'])
        .default('client'),
    )
    .option('--days <days>', 'validity in days (default: 365 client, 397 server)', parseDays('--days'))
    .option('--out <file>', 'where to write the certificate (default: client/<CN>.crt or server/<CN>.crt)')
    .option('--role <role>', 'client profile: a role for users.json (repeatable)', collect)
    .option(
      '--force',
      'replace a still valid certificate for this client (the old one is marked superseded), or an existing --out file',
    )
    .addOption(caPasswordFileOption())
    .addHelpText(
      'after',
      REQUEST_RULES +
        USER_NAME_RULES +
        HOST_RULES +
        ALT_NAME_RULES +
        helpAfter([
          'openssl req -new -newkey rsa:2048 -nodes -keyout bob.key \\\n      -subj /CN=bob -out bob.csr',
          'mtls-ca sign-csr bob.csr --role user',
          'mtls-ca sign-csr web.csr --profile server --out web.crt',
        ]),
    )
    .action(async (file: string, flags: Flags, cmd: Command) => {
      const out = await ctx.output(cmd);
      const store = await ctx.store(cmd);
      const { checkCsrSigning, signCsr } = await import('../../ops/sign-csr.js');
      store.assertInitialized();
      const request = {
        csr: await readInput(ctx.io, file, INPUT.certificateRequest),
        file: inputName(file),
        profile: flags.profile,
        days: flags.days ?? (flags.profile === 'server' ? 397 : 365),
        out: flags.out,
        roles: flags.role ?? [],
        force: Boolean(flags.force),
      };
      checkCsrSigning(store, request); // before the password; repeated under the lock
      const caPassword = await caPasswordForUse(ctx.io, flags, store);
      const r = await signCsr(store, { ...request, caPassword });
      if (r.ignored.length) out.warn(`left out of the ${r.profile} certificate: ${r.ignored.join(', ')}`);
      out.result(r, () => [
        `Signed a ${r.profile} certificate for "${r.name}"${names(r.certificate) ? ` (${names(r.certificate)})` : ''}, valid until ${day(r.certificate.notAfter)}, serial ${r.certificate.serial}.`,
        ...(r.superseded
          ? [
              `It supersedes serial ${r.superseded}, which ${stillAuthenticates(r.superseded, r.supersededNotAfter!)}.`,
            ]
          : []),
        ...(r.roles ? [`Roles: ${r.roles.join(', ')}`] : []),
        '',
        ...fileLines(out, r.files),
      ]);
    });
}

import type { Command } from 'commander';
import { MtlsCaError } from '../../pki/errors.js';
import type { KeyType } from '../../pki/key-types.js';
import type { Pkcs12Profile } from '../../pki/pkcs12.js';
import {
  type CommandContext,
  caPasswordFileOption,
  collect,
  ed25519Warning,
  helpAfter,
  leafKeyTypeOption,
  p12ProfileOption,
  parseDays,
  passwordFileOption,
} from '../context.js';
import { INPUT, inputName, readInput } from '../input.js';
import { ALT_NAME_RULES, USER_NAME_RULES } from '../name-rules-help.js';
import { caPasswordForUse, storePasswordChoice } from '../passwords.js';
import { day, fileLines, shellWord, stillAuthenticates } from '../render.js';

interface Flags {
  from?: string;
  role?: string[];
  email?: string[];
  days: number;
  keyType?: KeyType;
  p12Profile: Pkcs12Profile;
  force?: boolean;
  caPasswordFile?: string;
  passwordFile?: string;
}

export function registerIssueClient(program: Command, ctx: CommandContext): void {
  program
    .command('issue-client')
    .summary('issue a client certificate and a browser-importable .p12 for a user')
    .description(
      'Creates a key, a CSR and a certificate for <name> (subject CN=<name>, clientAuth only), signed by the CA,\n' +
        'and client/client_<name>.p12 with the key, certificate and CA for browsers, curl and Java. The roles are\n' +
        'added to users.json, which `mtls-ca serve` reads.',
    )
    .argument('[name]', "the user name; becomes the certificate's CN and part of file names")
    .option(
      '--from <file>',
      'issue for every user in a file (- for stdin): one per line, "name [role …]"; all or nothing',
    )
    .option('--role <role>', 'a role for users.json (repeatable)', collect)
    .option('--email <address>', 'an email subjectAltName (repeatable)', collect)
    .option('--days <days>', 'validity in days', parseDays('--days'), 365)
    .addOption(leafKeyTypeOption())
    .addOption(p12ProfileOption())
    .option('--force', 'replace a still valid certificate for this name (the old one is marked superseded)')
    .addOption(caPasswordFileOption())
    .addOption(passwordFileOption())
    .addHelpText(
      'after',
      USER_NAME_RULES +
        ALT_NAME_RULES +
        helpAfter([
          'mtls-ca issue-client pavel --role user',
          'mtls-ca issue-client alice --role user --role admin \\\n      --email alice@example.com --days 90',
          'mtls-ca issue-client --from team.txt      # lines like: bob user,admin',
          'cd ssl && curl --cacert ca/ca.crt --cert-type P12 \\\n      --cert client/client_pavel.p12:"$(cat client/client_pavel.p12.pass)" \\\n      https://localhost:8443/customer/1',
        ]),
    )
    .action(async (name: string | undefined, flags: Flags, cmd: Command) => {
      const out = await ctx.output(cmd);
      const store = await ctx.store(cmd);
      const [ops, request, { defaultLeafKeyType }] = await Promise.all([
        import('../../ops/issue-client.js'),
        import('../../ops/client-request.js'),
        import('../../ops/common.js'),
      ]);
      if ((name === undefined) === (flags.from === undefined)) {
        throw new MtlsCaError(
          'USAGE',
          'issue-client: give either a <name> or --from FILE',
          'see `mtls-ca issue-client --help`',
        );
      }
      if (flags.from !== undefined && (flags.role || flags.email)) {
        throw new MtlsCaError('USAGE', 'issue-client --from: put roles in the file, not in --role/--email');
      }
      const requests =
        flags.from !== undefined
          ? request.parseClientList(
              (await readInput(ctx.io, flags.from, INPUT.clientList, '--from')).toString('utf8'),
              inputName(flags.from),
            )
          : [{ name: name!, roles: flags.role ?? [], email: flags.email ?? [] }];
      const force = Boolean(flags.force);
      // before any password; repeated under the lock (the look-alike scan only if the inventory changed)
      const namesCheckedAt = ops.checkClientRequests(store, requests, { force });
      const keyType = flags.keyType ?? defaultLeafKeyType(store);
      if (keyType === 'ed25519') {
        const who =
          requests.length === 1 ? `client ${requests[0]!.name}` : `each of the ${requests.length} clients`;
        const why = flags.keyType ? '' : " (the CA's key type)";
        out.warn(ed25519Warning(`${who} gets an Ed25519 key${why}`));
      }
      const caPassword = await caPasswordForUse(ctx.io, flags, store);
      const storeChoice = await storePasswordChoice(ctx.io, flags);
      const settings = {
        days: flags.days,
        keyType,
        p12Profile: flags.p12Profile,
        force,
        caPassword,
        store: storeChoice,
        namesCheckedAt,
      };
      if (flags.from !== undefined) {
        const rs = await out.spin(`Issuing ${requests.length} client certificates…`, () =>
          ops.issueClients(store, requests, settings),
        );
        out.result({ clients: rs }, () => {
          const roles = rs.map((r) => r.roles.join(',') || '(no roles)');
          const nameWidth = Math.max(...rs.map((r) => r.name.length));
          const rolesWidth = Math.max(...roles.map((x) => x.length));
          return [
            `Issued ${rs.length} client certificates (${keyType}), valid until ${day(rs[0]!.certificate.notAfter)}:`,
            ...rs.map(
              (r, i) =>
                `  ${r.name.padEnd(nameWidth)}  ${r.certificate.serial}  ${roles[i]!.padEnd(rolesWidth)}  ${r.p12}`,
            ),
          ];
        });
        return;
      }
      const r = await out.spin(`Generating an ${keyType} key for ${name}…`, () =>
        ops.issueClient(store, { ...requests[0]!, ...settings }),
      );
      if (r.roles.length === 0) {
        out.warn(
          `${name} has no roles yet; \`mtls-ca serve\` answers 403 until users.json gives one (--role user)`,
        );
      }
      out.result(r, () => [
        `Issued a client certificate for "${name}" (${r.certificate.keyType}), valid until ${day(r.certificate.notAfter)}, serial ${r.certificate.serial}.`,
        ...(r.superseded
          ? [
              `It supersedes serial ${r.superseded}, which ${stillAuthenticates(r.superseded, r.supersededNotAfter!)}.`,
            ]
          : []),
        `Roles: ${r.roles.length ? r.roles.join(', ') : '(none)'}`,
        '',
        ...fileLines(out, r.files),
        '',
        `Import ${r.p12} into a browser or OS key store${r.passwordFile ? `; its password is in ${r.passwordFile}` : ''}.`,
        `For this user's Chromium and Firefox: mtls-ca trust install --client ${shellWord(r.name)}`,
      ]);
    });
}

import path from 'node:path';
import { type Command, Option } from 'commander';
import type { ImportTool } from '../../files/import-source.js';
import { MtlsCaError } from '../../pki/errors.js';
import { KEY_TYPES, type KeyType } from '../../pki/key-types.js';
import type { Pkcs12Profile } from '../../pki/pkcs12.js';
import {
  type CommandContext,
  caPasswordFileOption,
  collect,
  ed25519Warning,
  helpAfter,
  hostOption,
  p12ProfileOption,
  passwordFileOption,
  serverDaysOption,
} from '../context.js';
import type { Io } from '../io.js';
import { HOST_RULES } from '../name-rules-help.js';
import { importPasswords, storePasswordChoice } from '../passwords.js';
import { caDirectoryLines, day } from '../render.js';

interface Flags {
  from: ImportTool;
  cert?: string;
  key?: string;
  index?: string;
  certs?: string;
  host?: string[];
  serverDays: number;
  keyType?: KeyType;
  p12Profile: Pkcs12Profile;
  role?: string[];
  force?: boolean;
  caPasswordFile?: string;
  sourcePasswordFile?: string;
  passwordFile?: string;
}

/** The tools `--from` takes (files/import-source.ts IMPORT_TOOLS, spelled out so `--help` loads nothing more). */
const TOOLS: ImportTool[] = ['mkcert', 'easy-rsa', 'cfssl', 'openssl'];

/**
 * Where mkcert keeps its CA when `CAROOT` does not say: what `mkcert -CAROOT` prints (mkcert's getCAROOT).
 * @param env - the environment: CAROOT, XDG_DATA_HOME, HOME, LocalAppData
 * @param platform - `process.platform`
 */
export function mkcertCaRoot(env: Io['env'], platform: NodeJS.Platform): string | undefined {
  if (env.CAROOT) return env.CAROOT;
  const base =
    platform === 'win32'
      ? env.LocalAppData
      : env.XDG_DATA_HOME
        ? env.XDG_DATA_HOME
        : env.HOME === undefined
          ? undefined
          : platform === 'darwin'
            ? path.join(env.HOME, 'Library', 'Application Support')
            : path.join(env.HOME, '.local', 'share');
  return base === undefined ? undefined : path.join(base, 'mkcert');
}

const SOURCES = `
Sources (PATH):
  mkcert    the CAROOT folder (default: what \`mkcert -CAROOT\` prints):
            rootCA.pem, rootCA-key.pem
  easy-rsa  the pki/ folder (or the one holding it): ca.crt, private/ca.key,
            index.txt, and issued/, certs_by_serial/, revoked/ for its rows
  cfssl     a folder with ca.pem and ca-key.pem (\`cfssljson -bare ca\`), or
            the -bare name
  openssl   --cert F --key F [--index F [--certs DIR]], or a folder in
            \`openssl ca\` layout: cacert.pem, private/cakey.pem, index.txt,
            newcerts/
`;

/** The usage rules of the source options; exit 2 when broken. */
function checkSourceUsage(folder: string | undefined, f: Flags): void {
  const usage = (message: string) => new MtlsCaError('USAGE', message, 'see `mtls-ca import --help`');
  const fileFlags = (['cert', 'key', 'index', 'certs'] as const).filter((k) => f[k] !== undefined);
  if (f.from !== 'openssl') {
    if (fileFlags.length > 0)
      throw usage(
        `import --from ${f.from}: --${fileFlags[0]} is for --from openssl; name the ${f.from} folder`,
      );
    if (folder === undefined && f.from !== 'mkcert')
      throw usage(`import --from ${f.from}: name the folder the CA is in`);
    return;
  }
  if (folder !== undefined && (f.cert !== undefined || f.key !== undefined))
    throw usage('import --from openssl: give a folder or --cert and --key, not both');
  if (folder === undefined && (f.cert === undefined || f.key === undefined))
    throw usage('import --from openssl: give a folder, or the CA files with --cert F --key F');
  if (folder === undefined && f.certs !== undefined && f.index === undefined)
    throw usage('import --from openssl: --certs goes with --index');
}

export function registerImport(program: Command, ctx: CommandContext): void {
  program
    .command('import')
    .summary('create the CA directory from a CA made by mkcert, easy-rsa, cfssl or openssl')
    .description(
      'Creates a CA directory around a CA you already have, as init does for a new one: the CA certificate and\n' +
        'key (the key encrypted with the CA password), a server certificate, keyStore.p12, trustStore.jks and\n' +
        'trustStore.p12, users.json, the inventory, a CRL and the audit log. The CA keeps its certificate and\n' +
        'key, so certificates issued from now on chain to the root file the other tool made: clients that\n' +
        'already trust it need nothing new.\n\n' +
        'What the CA issued before, when the tool kept its index.txt (easy-rsa, openssl ca), enters the\n' +
        'inventory with its serial: revoked certificates stay revoked and are in the first CRL, and a client\n' +
        'certificate in use is copied to client/<name>.crt. An encrypted source key is opened with the CA\n' +
        'password unless --source-password-file gives its own.',
    )
    .argument('[path]', "the folder holding the CA (see Sources; mkcert's defaults to its CAROOT)")
    .addOption(new Option('--from <tool>', 'the tool that made the CA').choices(TOOLS).makeOptionMandatory())
    .option('--cert <file>', 'openssl: the CA certificate (PEM or DER)')
    .option('--key <file>', 'openssl: the CA key (PEM or DER; encrypted or not)')
    .option('--index <file>', "openssl: `openssl ca`'s index.txt, for what the CA issued")
    .option('--certs <dir>', 'openssl: the certificates of the index (default: newcerts/ beside it)')
    .addOption(hostOption())
    .addOption(serverDaysOption())
    .addOption(
      new Option('--key-type <type>', "the server key's algorithm (default: the CA's key type)").choices(
        KEY_TYPES,
      ),
    )
    .addOption(p12ProfileOption())
    .option(
      '--role <role>',
      'a role in users.json for each user of an imported client certificate in use (repeatable)',
      collect,
    )
    .option('--force', 'move an existing CA to ssl/backups/<time>/ and import over it')
    .addOption(caPasswordFileOption())
    .option(
      '--source-password-file <file>',
      "the source key's password, first line of a file or - for stdin (default: the CA password)",
    )
    .addOption(passwordFileOption())
    .addHelpText(
      'after',
      SOURCES +
        HOST_RULES +
        helpAfter([
          'MTLS_CA_PASSWORD=… mtls-ca import --from mkcert',
          'mtls-ca import --from easy-rsa ~/easy-rsa/pki --role user  # its CA password',
          'mtls-ca import --from cfssl ./ca --ca-password-file ca.pass',
          'mtls-ca import --from openssl --cert ca.crt --key ca.key \\\n' +
            '      --index db/index.txt --source-password-file old.pass',
        ]),
    )
    .action(async (folder: string | undefined, flags: Flags, cmd: Command) => {
      const out = await ctx.output(cmd);
      const store = await ctx.store(cmd, { create: true });
      checkSourceUsage(folder, flags);
      const { refuseExistingCa } = await import('../../ops/init.js');
      const force = Boolean(flags.force);
      refuseExistingCa(store, force, 'import CA into'); // before anything is read; repeated under the lock
      const { readImportSource } = await import('../../files/import-source.js');
      const { checkImport, importCa, openSourceKey } = await import('../../ops/import.js');
      let sourceFolder = folder;
      if (flags.from === 'mkcert' && sourceFolder === undefined) {
        sourceFolder = mkcertCaRoot(ctx.io.env, process.platform);
        if (sourceFolder === undefined) {
          throw new MtlsCaError(
            'USAGE',
            'import --from mkcert: no CAROOT and no HOME to find its folder in',
            'name the folder `mkcert -CAROOT` prints',
          );
        }
      }
      const source = readImportSource(flags.from, { ...flags, path: sourceFolder });
      const options = {
        source,
        hosts: flags.host ?? [],
        serverDays: flags.serverDays,
        keyType: flags.keyType,
        p12Profile: flags.p12Profile,
        roles: flags.role ?? [],
        force,
      };
      const plan = checkImport(store, options); // every check that needs no password; repeated by importCa
      if (!plan.signsCrls) {
        out.warn(
          `${source.certificate.path} may not sign CRLs (its keyUsage lacks cRLSign): mtls-ca serve checks revocation itself, but nginx ssl_crl and openssl -crl_check refuse its CRLs`,
        );
      }
      const serverKeyType = flags.keyType ?? plan.keyType;
      if (serverKeyType === 'ed25519') {
        const why = flags.keyType ? '' : " (the CA's key type)";
        out.warn(ed25519Warning(`the server certificate gets an Ed25519 key${why}`));
      }
      const passwords = await importPasswords(
        ctx.io,
        flags,
        {
          path: source.key.path,
          encrypted: plan.keyEncrypted,
          open: (password) => openSourceKey(plan, password),
        },
        (text) => out.warn(text),
      );
      const storeChoice = await storePasswordChoice(ctx.io, flags);
      const r = await out.spin(`Generating a ${serverKeyType} server key…`, () =>
        importCa(store, {
          ...options,
          sourcePassword: passwords.source,
          caPassword: passwords.ca,
          store: storeChoice,
        }),
      );
      const revoked = r.imported.filter((c) => c.status === 'revoked').length;
      const copied = r.imported.filter((c) => c.file).map((c) => c.name);
      const withoutRoles = r.users.length === 0 && copied.length > 0;
      const dirFlag = r.dir === 'ssl' ? '' : ` --dir ${r.dir}`;
      out.result(r, () => [
        ...(r.backup ? [`Moved the previous CA to ${r.backup}`] : []),
        `Imported CA "${r.ca.subject.replace(/^CN=/, '')}" (${r.ca.keyType}) from ${r.from} ${r.source} into ${r.dir}, valid until ${day(r.ca.notAfter)}.`,
        ...(r.imported.length
          ? [
              `The ${r.imported.length} certificate${r.imported.length === 1 ? '' : 's'} it issued before ${r.imported.length === 1 ? 'is' : 'are'} in the inventory` +
                `${revoked ? ` (${revoked} revoked, in the CRL)` : ''}; see \`mtls-ca list${dirFlag}\`.`,
            ]
          : []),
        ...caDirectoryLines(out, r),
        `Clients that trust ${source.certificate.path} trust what mtls-ca issues now: nothing new to install.`,
        ...(withoutRoles
          ? [
              `Imported clients (${copied.join(', ')}) have no roles in ${r.dir}/users.json yet: serve answers them 403`,
              `until you add them there, e.g. "${copied[0]}": {"roles": ["user"]} (or import with --role user).`,
            ]
          : []),
        `Next: mtls-ca issue-client pavel --role user${dirFlag}`,
      ]);
    });
}

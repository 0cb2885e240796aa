import os from 'node:os';
import { type Command, Option } from 'commander';
import type { InitResult } from '../../ops/init.js';
import { MtlsCaError } from '../../pki/errors.js';
import type { KeyType } from '../../pki/key-types.js';
import type { Pkcs12Profile } from '../../pki/pkcs12.js';
import {
  type CommandContext,
  caPasswordFileOption,
  ENV_DATABASE_URL,
  ed25519Warning,
  helpAfter,
  hostOption,
  keyTypeOption,
  p12ProfileOption,
  parseDays,
  passwordFileOption,
  serverDaysOption,
} from '../context.js';
import { type Io, isInteractive } from '../io.js';
import { HOST_RULES } from '../name-rules-help.js';
import { closeWhenDone } from '../open-tokens.js';
import type { Output } from '../output.js';
import { caPasswordForCreate, caPasswordForUse, storePasswordChoice } from '../passwords.js';
import { askText } from '../prompts.js';
import { caDirectoryLines, caLabel, day } from '../render.js';
import { enforcementLines } from '../revocation-notes.js';
import { ENV_PKCS11_MODULE, ENV_PKCS11_PIN, parseTokenUri, tokenAccess, withTokenHints } from '../token.js';

interface InitFlags {
  caName: string;
  keyType: KeyType;
  caDays: number;
  host?: string[];
  serverDays: number;
  p12Profile: Pkcs12Profile;
  force?: boolean;
  intermediate?: boolean;
  caPasswordFile?: string;
  caPassword?: boolean;
  caKey?: string;
  passwordFile?: string;
  publishUrl?: string;
  join?: boolean;
}

export const DEFAULT_CA_NAME = `mtls-ca CA (${os.userInfo().username}@${os.hostname()})`;

export function registerInit(program: Command, ctx: CommandContext): void {
  program
    .command('init')
    .summary('create the CA, a server certificate, the server key store and trust stores')
    .description(
      'Creates a private CA and everything a server needs for mutual TLS: the CA certificate and (encrypted) key,\n' +
        'a server certificate for localhost, 127.0.0.1 and ::1 (plus each --host), keyStore.p12 for\n' +
        'Tomcat/Spring Boot, and the CA as trusted entry in trustStore.jks and trustStore.p12.\n\n' +
        'With --intermediate, two CAs: a root (ca/root.crt) and an intermediate it signs (ca/ca.crt), which\n' +
        'issues every certificate; both keys are encrypted with the CA password. The trust stores hold the\n' +
        'root; keyStore.p12 and client .p12 files carry the intermediate; server/server.fullchain.pem is the\n' +
        'server certificate and the intermediate, for nginx, HAProxy and Node.',
    )
    .option('--ca-name <name>', "the CA certificate's common name", DEFAULT_CA_NAME)
    .addOption(keyTypeOption())
    .option('--ca-days <days>', 'CA validity in days', parseDays('--ca-days'), 3650)
    .addOption(hostOption())
    .addOption(serverDaysOption())
    .addOption(p12ProfileOption())
    .option(
      '--publish-url <url>',
      'where `mtls-ca publish` will serve the CRL and OCSP (http://host:port): certificates carry these URLs',
    )
    .option(
      '--intermediate',
      'a root CA (ca/root.crt, its key can go offline) and an intermediate below it that issues (ca/ca.crt)',
    )
    .option('--force', 'move an existing CA to ssl/backups/<time>/ and start over')
    .addOption(caPasswordFileOption())
    .addOption(new Option('--no-ca-password', 'store the CA key UNENCRYPTED (0600) — for demos only'))
    .option(
      '--ca-key <uri>',
      `generate the CA key in a PKCS#11 token, not encrypted in a file or the database: pkcs11:token=LABEL;object=KEY-LABEL (module from ${ENV_PKCS11_MODULE}, PIN from ${ENV_PKCS11_PIN} or pin-source=file:F)`,
    )
    .addOption(passwordFileOption())
    .option(
      '--join',
      "with --database-url: set up this host's directory (server certificate, stores) from the CA there",
    )
    .addHelpText(
      'after',
      HOST_RULES +
        helpAfter([
          'MTLS_CA_PASSWORD=… mtls-ca init',
          'mtls-ca init --ca-password-file ca.pass \\\n      --host api.example.com --host 10.0.0.5',
          'mtls-ca init --publish-url http://ca.example.com:8080   # CRL + OCSP URLs',
          'mtls-ca init --no-ca-password --key-type rsa-4096     # a throw-away demo CA',
          'mtls-ca init --intermediate && mtls-ca root export --out /media/usb/root.key',
          "mtls-ca init --ca-key 'pkcs11:token=CA;object=ca-key'  # the key in an HSM",
          'MTLS_CA_DATABASE_URL=postgres://ca@db/ca mtls-ca init  # in PostgreSQL',
          'MTLS_CA_DATABASE_URL=… mtls-ca init --join --host b.example.com',
          "MTLS_CA_DATABASE_URL=… mtls-ca init \\\n      --ca-key 'pkcs11:token=CA;object=ca-key'  # PostgreSQL + an HSM",
        ]),
    )
    .action(async (flags: InitFlags, cmd: Command) => {
      const out = await ctx.output(cmd);
      const { databaseUrl } = ctx.globals(cmd);
      if (flags.join) return join(ctx, cmd, flags, out);
      if (databaseUrl && flags.force) {
        throw new MtlsCaError(
          'USAGE',
          'use --force with --database-url: a CA in a database is never replaced',
          'leave --force out; to set up another host from the CA there, pass --join',
        );
      }
      if (databaseUrl && flags.caPassword === false && flags.caKey === undefined) {
        throw new MtlsCaError(
          'USAGE',
          'use --no-ca-password with --database-url: a database holds the CA key only encrypted',
          'leave --no-ca-password out and give the CA password',
        );
      }
      if (flags.caKey !== undefined && flags.intermediate) {
        throw new MtlsCaError(
          'USAGE',
          'use --ca-key with --intermediate: a token key for a CA with an intermediate is not supported',
          'leave out --intermediate (the CA key in the token is the root that issues)',
        );
      }
      if (flags.caKey !== undefined && (flags.caPasswordFile !== undefined || flags.caPassword === false)) {
        throw new MtlsCaError(
          'USAGE',
          `use --ca-key with ${flags.caPasswordFile !== undefined ? '--ca-password-file' : '--no-ca-password'}: a key in a token has no password`,
          "leave it out: the token's PIN protects the key",
        );
      }
      // For a CA in a database the token comes first: opening the store makes mtls-ca's tables there, and a
      // wrong PIN, a missing token or module must leave the database as it was. A key made for a database
      // that holds a CA already is taken out of the token again below.
      const token: MadeTokenKey = {};
      if (databaseUrl && flags.caKey !== undefined)
        token.key = await generateCaTokenKey(ctx.io, flags.caKey, flags.keyType);
      try {
        await initWithStore(ctx, cmd, flags, out, token);
      } catch (e) {
        token.key?.destroy(); // nothing written: the key made for this CA goes with it
        throw e;
      }
    });
}

/** The CA key `init` made in a token, once it has: taken out again if init then fails. */
type MadeTokenKey = { key?: Awaited<ReturnType<typeof generateCaTokenKey>> };

/**
 * The rest of `init` once the flags passed their checks.
 * @param token - the CA key in a token: made already (a CA in a database), or made here when `--ca-key` asks
 */
async function initWithStore(
  ctx: CommandContext,
  cmd: Command,
  flags: InitFlags,
  out: Output,
  token: MadeTokenKey,
): Promise<void> {
  const { databaseUrl } = ctx.globals(cmd);
  const store = await ctx.store(cmd, { create: Boolean(databaseUrl) });
  const { checkInit, initCa, refuseExistingCa } = await import('../../ops/init.js');
  refuseExistingCa(store, Boolean(flags.force)); // before any question; repeated under the lock
  let caName = flags.caName;
  let hosts = flags.host ?? [];
  const interactive = isInteractive(ctx.io) && !out.json;
  if (interactive && cmd.getOptionValueSource('caName') === 'default') {
    caName = await askText(ctx.io, 'CA name', caName);
  }
  if (interactive && flags.host === undefined) {
    const extra = await askText(
      ctx.io,
      'Server names besides localhost, 127.0.0.1, ::1 (space separated)',
      '',
    );
    hosts = extra.split(/[\s,]+/).filter(Boolean);
  }
  if (!caName.trim()) {
    throw new MtlsCaError(
      'INVALID_ARGUMENT',
      'use --ca-name "": the CA name is empty',
      'pass --ca-name "My CA"',
    );
  }
  // before the passwords; repeated by initCa
  checkInit(store, { ...flags, caName, hosts, force: Boolean(flags.force) });
  if (flags.keyType === 'ed25519' && flags.caKey === undefined) {
    out.warn(ed25519Warning('the CA, its server certificate and (by default) every client get Ed25519 keys'));
  }
  if (!token.key && flags.caKey !== undefined)
    token.key = await generateCaTokenKey(ctx.io, flags.caKey, flags.keyType);
  const tokenKey = token.key;
  const caPassword = tokenKey ? null : await caPasswordForCreate(ctx.io, flags, (text) => out.warn(text));
  const storeChoice = await storePasswordChoice(ctx.io, flags);
  if (caPassword === null && !tokenKey)
    out.warn(
      'the CA key is stored UNENCRYPTED (--no-ca-password); anyone who can read it can issue certificates',
    );
  const r = await out.spin(`Generating ${flags.keyType} keys…`, () =>
    initCa(store, {
      caName,
      keyType: flags.keyType,
      caDays: flags.caDays,
      hosts,
      serverDays: flags.serverDays,
      p12Profile: flags.p12Profile,
      force: Boolean(flags.force),
      caPassword,
      intermediate: Boolean(flags.intermediate),
      ...(tokenKey ? { tokenKey } : {}),
      store: storeChoice,
      publishUrl: flags.publishUrl,
    }),
  );
  printInit(out, r);
}

/** Generates the CA key in the token `text` names, closed when the command ends. */
async function generateCaTokenKey(io: Io, text: string, keyType: KeyType) {
  return withTokenHints(async () => {
    const uri = await parseTokenUri(text, '--ca-key');
    const access = await tokenAccess(io, uri, { prompt: true });
    const { generateTokenKey } = await import('../../token/token-key.js');
    const key = await generateTokenKey(uri, keyType, access);
    closeWhenDone(key);
    return key;
  });
}

function printInit(out: Output, r: InitResult): void {
  out.result(r, () => [
    ...(r.backup ? [`Moved the previous CA to ${r.backup}`] : []),
    r.root
      ? `Created root CA "${caLabel(r.root.subject)}" and below it the intermediate "${caLabel(r.ca.subject)}" that issues (${r.ca.keyType}) in ${r.dir}, valid until ${day(r.ca.notAfter)}.`
      : `Created CA "${r.ca.subject.replace(/^CN=/, '')}" (${r.ca.keyType}) in ${r.dir}, valid until ${day(r.ca.notAfter)}.`,
    ...(r.root
      ? [
          `The root's key is needed only for a new intermediate (\`mtls-ca ca rotate\`) and the root's CRL: take it offline with \`mtls-ca root export --out FILE\`.`,
        ]
      : []),
    ...(r.ca.keyUri ? [`Its key was generated in the token and cannot leave it: ${r.ca.keyUri}`] : []),
    ...caDirectoryLines(out, r),
    ...enforcementLines(r.publishUrl),
    '',
    `Next: mtls-ca issue-client pavel --role user${r.dir === 'ssl' ? '' : ` --dir ${r.dir}`}`,
  ]);
}

/** `init --join`: this host's directory for the CA in the database. */
async function join(ctx: CommandContext, cmd: Command, flags: InitFlags, out: Output): Promise<void> {
  if (!ctx.globals(cmd).databaseUrl) {
    throw new MtlsCaError(
      'USAGE',
      'use --join with a database: it sets up this host from the CA kept there',
      `pass --database-url URL or set ${ENV_DATABASE_URL}`,
    );
  }
  const store = await ctx.store(cmd);
  const { joinCa, serverAltNames } = await import('../../ops/init.js');
  store.assertInitialized();
  serverAltNames(flags.host ?? [], flags.serverDays); // before the passwords; repeated by joinCa
  const caPassword = await caPasswordForUse(ctx.io, flags, store);
  const storeChoice = await storePasswordChoice(ctx.io, flags);
  const r = await out.spin('Joining…', () =>
    joinCa(store, {
      hosts: flags.host ?? [],
      serverDays: flags.serverDays,
      p12Profile: flags.p12Profile,
      caPassword,
      store: storeChoice,
    }),
  );
  out.result(r, () => [
    `Set up ${r.dir} for CA "${r.ca.subject.replace(/^CN=/, '')}" in ${r.database}.`,
    ...caDirectoryLines(out, r),
    `Next: mtls-ca serve --database-url URL${r.dir === 'ssl' ? '' : ` --dir ${r.dir}`} (or set ${ENV_DATABASE_URL})`,
  ]);
}

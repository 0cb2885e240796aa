import { type Command, Option } from 'commander';
import type { TrustAction, TrustPlans, TrustRequest } from '../../ops/trust.js';
import { MtlsCaError } from '../../pki/errors.js';
import type { CaStore } from '../../store/ca-store.js';
import type { P12Password } from '../../trust/nss.js';
import type { Platform, StorePlan, StoreStatus } from '../../trust/plan.js';
import { type CommandContext, helpAfter } from '../context.js';
import { isInteractive } from '../io.js';
import type { Output } from '../output.js';
import { givenStorePassword, readPasswordFile } from '../passwords.js';
import { askPassword } from '../prompts.js';
import { shellWord } from '../render.js';

interface Flags {
  nss?: boolean;
  java?: boolean;
  system?: boolean;
  client?: string;
  dryRun?: boolean;
  platform?: Platform;
  keystore?: string;
  storepassFile?: string;
  passwordFile?: string;
}

const STORES = `Stores:
  --nss     the NSS databases of Chromium/Chrome (~/.pki/nssdb, created if
            missing) and of every Firefox profile: certutil, as you
  --java    the active JDK's cacerts (JAVA_HOME, else the java on PATH;
            password changeit unless --storepass-file), or --keystore F;
            written in its own format (JKS or PKCS#12) without keytool
  --system  Debian/Ubuntu (update-ca-certificates) or RHEL/Fedora
            (update-ca-trust) as root; macOS (security) and Windows
            (certutil) print their commands with --dry-run
  --client  the client's key and certificate for the current user: NSS
            (pk12util, with the CA), or the macOS/Windows commands
`;

/** The systems whose store `--platform` names (trust/plan.ts's Platform; a literal here keeps --help from loading it). */
const PLATFORMS: Platform[] = ['debian', 'rhel', 'macos', 'windows'];

function storeOptions(cmd: Command): Command {
  return cmd
    .option('--nss', "the browsers' NSS databases (Chromium, Firefox)")
    .option('--java', 'a Java trust store (default: the active JDK’s cacerts)')
    .option('--system', "the operating system's trust store")
    .option('--client <name>', "a client's .p12, for the current user")
    .addOption(
      new Option('--platform <system>', 'whose system store (default: this one)').choices([...PLATFORMS]),
    )
    .option('--keystore <file>', 'with --java: this key store instead of cacerts')
    .option('--storepass-file <file>', 'with --java: its password, first line (default: changeit)');
}

function request(ctx: CommandContext, flags: Flags): Omit<TrustRequest, 'clientPassword'> {
  return {
    stores: { nss: Boolean(flags.nss), java: Boolean(flags.java), system: Boolean(flags.system) },
    client: flags.client,
    home: ctx.io.env.HOME ?? '',
    platform: flags.platform,
    keystore: flags.keystore,
    javaHome: ctx.io.env.JAVA_HOME,
  };
}

async function storePassword(ctx: CommandContext, flags: Flags) {
  if (flags.storepassFile === undefined) return {};
  return {
    storePassword: await readPasswordFile(ctx.io, flags.storepassFile, '--storepass-file'),
    storePasswordFile: flags.storepassFile,
  };
}

/** The client .p12's generated password file, if it has one (a dry run asks for nothing). */
function generatedPassword(store: CaStore, client: string): P12Password | undefined {
  const file = store.paths.passwordFile(store.paths.client(client).p12);
  return store.exists(file) ? { file } : undefined;
}

/** The client .p12's password: its generated .pass file, the one given, or a prompt on a terminal. */
async function clientPassword(ctx: CommandContext, store: CaStore, flags: Flags): Promise<P12Password> {
  const p12 = store.paths.client(flags.client!).p12;
  const generated = store.paths.passwordFile(p12);
  if (store.exists(generated)) return { file: generated };
  const given = await givenStorePassword(ctx.io, { passwordFile: flags.passwordFile });
  if (given.given !== undefined) return { value: given.given };
  if (isInteractive(ctx.io)) return { value: await askPassword(ctx.io, `Password of ${store.display(p12)}`) };
  throw new MtlsCaError(
    'PASSWORD_REQUIRED',
    `import ${store.display(p12)}: its password is needed`,
    'pass --password-file F or set MTLS_CA_STORE_PASSWORD',
  );
}

function checkFlags(action: TrustAction, flags: Flags): void {
  if (!flags.nss && !flags.java && !flags.system && flags.client === undefined) {
    throw new MtlsCaError(
      'USAGE',
      `trust ${action}: which stores? none was named`,
      `name one or more: mtls-ca trust ${action} --nss --java --system, or --client NAME`,
    );
  }
  if ((flags.keystore !== undefined || flags.storepassFile !== undefined) && !flags.java) {
    throw new MtlsCaError(
      'USAGE',
      `trust ${action}: --keystore and --storepass-file go with --java`,
      'add --java',
    );
  }
}

export function registerTrust(program: Command, ctx: CommandContext): void {
  const trust = program
    .command('trust')
    .summary('install the CA (and a client certificate) in browsers, Java and the OS')
    .description(
      'Makes browsers, Java and the operating system trust the CA, so that the server certificate is\n' +
        "accepted without --cacert or a security warning, and puts a client's certificate where the\n" +
        "user's browser finds it. Only what mtls-ca added is ever removed.",
    );

  for (const action of ['install', 'uninstall'] as const) {
    const cmd = trust
      .command(action)
      .summary(
        action === 'install'
          ? 'add the CA (and --client NAME) to the stores named'
          : 'remove from the stores named exactly what install added',
      )
      .description(
        action === 'install'
          ? 'Adds the CA certificate to each store named, and with --client NAME the client’s key and\n' +
              'certificate to the current user’s store. Every store is checked first: one that needs root,\n' +
              'another system or a missing tool stops the run before anything changes. --dry-run prints the\n' +
              'commands instead (for macOS and Windows, the commands to run there).'
          : 'Removes what install added — the CA under mtls-ca’s own name, the client certificate and key —\n' +
              'and nothing else: a CA trusted by other means stays trusted. A JKS trust store and the\n' +
              'Debian store come back byte for byte.',
      );
    storeOptions(cmd)
      .option('--dry-run', 'print the commands, change nothing')
      .option(
        '--password-file <file>',
        "with --client: the .p12's password when it was not generated (or MTLS_CA_STORE_PASSWORD)",
      )
      .addHelpText(
        'after',
        `\n${STORES}${helpAfter(
          action === 'install'
            ? [
                'mtls-ca trust install --nss --client pavel   # Chromium, Firefox',
                'sudo mtls-ca trust install --system --java',
                'mtls-ca trust install --java --keystore app-truststore.jks \\\n      --storepass-file store.pass',
                'mtls-ca trust install --system --platform macos --client pavel --dry-run',
              ]
            : [
                'mtls-ca trust uninstall --nss --client pavel',
                'sudo mtls-ca trust uninstall --system --java',
              ],
        )}`,
      )
      .action(async (flags: Flags, c: Command) => {
        const out = await ctx.output(c);
        const store = await ctx.store(c);
        checkFlags(action, flags);
        store.assertInitialized();
        const ops = await import('../../ops/trust.js');
        const req: TrustRequest = { ...request(ctx, flags), ...(await storePassword(ctx, flags)) };
        if (flags.client !== undefined && action === 'install')
          req.clientPassword = flags.dryRun
            ? generatedPassword(store, flags.client)
            : await clientPassword(ctx, store, flags);
        const plans = await withJavaHint(flags, ops.planTrust(store, action, req));
        if (flags.dryRun) {
          out.result(dryRunJson(plans), () => dryRunLines(out, plans));
          return;
        }
        const done = await withJavaHint(
          flags,
          ops.applyTrust(plans, action, (changed) => ops.undoPlans(store, action, req, changed)),
        );
        out.result(
          { action, stores: plans.plans.map((p) => ({ ...planJson(p), changed: done.includes(p) })) },
          () => reportLines(out, action, plans, done),
        );
      });
  }

  storeOptions(
    trust
      .command('status')
      .summary('whether each store trusts the CA (and has the client certificate)')
      .description(
        'For each store — every store when none is named — says whether the CA certificate is there and\n' +
          'trusted, and under which name; with --client NAME, whether that client’s certificate and key are\n' +
          'in the user’s NSS databases. Changes nothing.',
      ),
  )
    .addHelpText(
      'after',
      `\n${STORES}${helpAfter(['mtls-ca trust status', 'mtls-ca trust status --nss --client pavel --json'])}`,
    )
    .action(async (flags: Flags, c: Command) => {
      const out = await ctx.output(c);
      const store = await ctx.store(c);
      store.assertInitialized();
      const ops = await import('../../ops/trust.js');
      const req: TrustRequest = { ...request(ctx, flags), ...(await storePassword(ctx, flags)) };
      const stores = await withJavaHint(flags, ops.trustStatus(store, req));
      out.result({ stores }, () => statusLines(out, stores));
    });
}

/** A wrong Java store password gets the flag that gives the right one, or names the file it came from. */
async function withJavaHint<T>(flags: Flags, p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof MtlsCaError && e.code === 'BAD_PASSWORD' && !e.hint && !e.detail) {
      const hint =
        flags.storepassFile === undefined
          ? 'it is not changeit: pass the key store’s password with --storepass-file F'
          : `the password came from --storepass-file ${flags.storepassFile}; check its first line`;
      throw new MtlsCaError(e.code, e.message, hint, e.cause);
    }
    throw e;
  }
}

function commandLine(step: StorePlan['steps'][number]): string {
  return `${step.command.map(shellWord).join(' ')}${step.stdinFile ? ` < ${shellWord(step.stdinFile)}` : ''}`;
}

function planJson(p: StorePlan) {
  return {
    store: p.store,
    location: p.location,
    commands: p.steps.map(commandLine),
    ...(p.note ? { note: p.note } : {}),
    ...(p.blocked ? { blocked: p.blocked } : {}),
  };
}

function dryRunJson(plans: TrustPlans) {
  return {
    dryRun: true,
    platform: plans.platform,
    clientProfile: plans.clientProfile,
    stores: plans.plans.map(planJson),
  };
}

const PLATFORM_NAMES: Record<Platform, string> = {
  debian: 'Debian or Ubuntu',
  rhel: 'RHEL or Fedora',
  macos: 'macOS',
  windows: 'Windows',
};

const STORE_NAMES = { nss: 'NSS', java: 'Java', system: 'system', client: 'client certificate' } as const;

function blockedLine(p: StorePlan): string | undefined {
  const b = p.blocked;
  if (!b) return undefined;
  if (b.kind === 'needs-root') return `needs root: ${b.path}`;
  if (b.kind === 'other-platform') {
    return `run on ${PLATFORM_NAMES[b.platform as Platform]}${p.store === 'system' ? ', as an administrator' : ''}`;
  }
  return `needs ${b.tool} (Debian package ${b.packageName})`;
}

function profileNote(plans: TrustPlans): string[] {
  const system = plans.platform === 'macos' || plans.platform === 'windows';
  if (!system || !plans.plans.some((p) => p.store === 'client' && p.steps.length > 0)) return [];
  return plans.clientProfile === 'modern'
    ? [
        'warning: the .p12 uses the modern profile (AES); macOS Keychain and Windows before 10 1709 cannot',
        '  import it: reissue it with `mtls-ca issue-client NAME --force --p12-profile compat`',
      ]
    : ['# the .p12 must use the compat profile (3DES, the default) for macOS Keychain and older Windows'];
}

function dryRunLines(out: Output, plans: TrustPlans): string[] {
  const lines: string[] = [];
  for (const p of plans.plans) {
    lines.push(out.color.bold(`# ${STORE_NAMES[p.store]}: ${p.location}`));
    if (p.steps.length === 0) lines.push(`# nothing to do: ${p.note ?? 'already done'}`);
    const why = blockedLine(p);
    if (why && p.steps.length > 0) lines.push(`# ${why}`);
    for (const step of p.steps) {
      if (step.equivalent) lines.push('# done by mtls-ca itself, without keytool; the keytool equivalent:');
      lines.push(commandLine(step));
    }
  }
  return [...lines, ...profileNote(plans)];
}

function reportLines(out: Output, action: TrustAction, plans: TrustPlans, done: StorePlan[]): string[] {
  const verb = action === 'install' ? 'Added the CA to' : 'Removed the CA from';
  const client =
    action === 'install' ? 'Imported the client certificate into' : 'Removed the client certificate from';
  const lines = plans.plans.map((p) =>
    done.includes(p)
      ? `${out.color.green('✓')} ${p.store === 'client' ? `${client} NSS` : `${verb} ${STORE_NAMES[p.store]}`} ${p.location}`
      : `  ${STORE_NAMES[p.store]} ${p.location}: nothing to do, ${p.note ?? 'already done'}`,
  );
  if (action === 'install' && done.some((p) => p.store === 'nss' || p.store === 'client')) {
    lines.push('Restart the browsers for them to see it.');
  }
  return lines;
}

function statusLines(out: Output, stores: StoreStatus[]): string[] {
  const width = Math.max(...stores.map((s) => STORE_NAMES[s.store].length));
  return stores.map((s) => {
    const padded = s.state.padEnd(9);
    const state =
      s.state === 'trusted'
        ? out.color.green(padded)
        : s.state === 'absent'
          ? padded
          : out.color.yellow(padded);
    return `${STORE_NAMES[s.store].padEnd(width)}  ${state}  ${s.location}${s.detail ? `  (${s.detail})` : ''}`;
  });
}

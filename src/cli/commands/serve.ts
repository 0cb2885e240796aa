import type { Cluster } from 'node:cluster';
import path from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { MtlsCaError } from '../../pki/errors.js';
import type { PrimaryServices } from '../../server/cluster.js';
import type { ServerLogger } from '../../server/log.js';
import type { CaStore } from '../../store/ca-store.js';
import { type CommandContext, caPasswordFileOption, helpAfter, parsePort } from '../context.js';
import { prepareCrlRenewal } from '../crl-renewal.js';
import { serverHints } from '../hints.js';
import type { Io } from '../io.js';
import type { Output } from '../output.js';
import { ENV_CA_PASSWORD } from '../passwords.js';
import { shellWord } from '../render.js';
import { serveUntilStopped } from '../signals.js';
import { ENV_PKCS11_PIN } from '../token.js';

export interface ServeFlags {
  port: number;
  listen: string;
  clientAuth: 'need' | 'want';
  users?: string;
  workers: number;
  logFormat: 'text' | 'json';
  crlAutoRenew?: boolean;
  caPasswordFile?: string;
}

function parseWorkers(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 64)
    throw new InvalidArgumentError('--workers takes a number from 1 to 64.');
  return n;
}

/** Text safe inside a double-quoted shell string. */
function inDoubleQuotes(s: string): string {
  return s.replace(/[\\"$`]/g, '\\$&');
}

/** A curl command for the first client with a .p12 (pavel preferred), ready to paste into a POSIX shell. */
function curlHint(store: CaStore, url: string): string {
  const names = store.clientBundles();
  const name = names.includes('pavel') ? 'pavel' : names.sort()[0];
  if (!name) return `mtls-ca issue-client pavel --role user   # then call ${url}/customer/1 with its .p12`;
  const c = store.paths.client(name);
  const p12 = inDoubleQuotes(store.display(c.p12));
  const password = store.exists(store.paths.passwordFile(c.p12))
    ? `$(cat ${shellWord(store.display(store.paths.passwordFile(c.p12)))})`
    : '<password>';
  // The server's certificate chains to the root, with an intermediate (serve sends the fullchain).
  const anchor = store.exists(store.paths.rootCert) ? store.paths.rootCert : store.paths.caCert;
  return `curl --cacert ${shellWord(store.display(anchor))} --cert-type P12 --cert "${p12}:${password}" ${url}/customer/1`;
}

/**
 * Starts the server(s) and resolves when they have shut down (SIGINT/SIGTERM). With `crlAutoRenew` the CA
 * password is read and checked first, a CRL that is due already is re-signed before the server reads it,
 * and the server re-signs it whenever it falls due; with workers, the primary does that for all of them.
 */
export async function runServe(store: CaStore, flags: ServeFlags, out: Output, io: Io): Promise<void> {
  store.assertInitialized();
  if (flags.caPasswordFile !== undefined && !flags.crlAutoRenew) {
    throw new MtlsCaError(
      'USAGE',
      'use --ca-password-file with --crl-auto-renew: serve reads the CA key only to renew the CRL',
      'add --crl-auto-renew, or leave --ca-password-file out',
    );
  }
  const { createLogger } = await import('../../server/index.js');
  const cluster = flags.workers > 1 ? (await import('node:cluster')).default : undefined;
  const hints = serverHints(Boolean(flags.crlAutoRenew));
  const logger = createLogger({ format: flags.logFormat, hints: hints.eventHints });
  // A worker asks the primary instead (cluster.ts): it reads no password and holds no CA key.
  const renewCrl =
    flags.crlAutoRenew && !cluster?.isWorker ? await prepareCrlRenewal(io, store, flags, logger) : undefined;
  // A CRL that is missing, unreadable or out of date would keep the server from starting or refuse everyone.
  await renewCrl?.();
  // With the CA in a database, this host's CRL and users.json follow it (the primary keeps them for workers).
  const mirror =
    store.externalState && !cluster?.isWorker
      ? await (await import('../../ops/state-mirror.js')).mirrorState(
          store,
          (level, event, message, fields) => logger.event(level, event, message, fields),
        )
      : undefined;
  try {
    await listenUntilStopped(store, flags, out, { cluster, logger, hints, renewCrl });
  } finally {
    await mirror?.close();
  }
}

/** {@link runServe} once the CRL and the host's copies are in place: listens until SIGINT or SIGTERM. */
async function listenUntilStopped(
  store: CaStore,
  flags: ServeFlags,
  out: Output,
  s: {
    cluster: Cluster | undefined;
    logger: ServerLogger;
    hints: ReturnType<typeof serverHints>;
    renewCrl: (() => Promise<void>) | undefined;
  },
): Promise<void> {
  const { createMtlsServer, runClustered } = await import('../../server/index.js');
  const { cluster, logger, hints, renewCrl } = s;
  const start = async (primary?: PrimaryServices) => {
    const server = createMtlsServer({
      dir: store.root,
      usersFile: flags.users ? path.resolve(flags.users) : undefined,
      host: flags.listen,
      port: flags.port,
      clientAuth: flags.clientAuth,
      logFormat: flags.logFormat,
      ...hints,
      renewCrl: flags.crlAutoRenew ? (primary?.renewCrl ?? renewCrl) : undefined,
    });
    const address = await server.listen();
    return { server, address };
  };
  const banner = (url: string) => {
    if (flags.logFormat === 'json') return;
    // One write: with --workers, another worker's log line could otherwise land inside the banner.
    out.line(
      [
        `mtls-ca serve: ${url} (client certificates: ${flags.clientAuth}, users: ${store.display(flags.users ?? store.paths.users)})`,
        'Try it:',
        `  ${curlHint(store, url)}`,
      ].join('\n'),
    );
  };

  if (cluster) {
    await runClustered(
      flags.workers,
      async (primary) => {
        const { server, address } = await start(primary);
        if (cluster.worker?.id === 1) banner(address.url);
        return server;
      },
      // The workers face the network and never use the CA key: they get neither its password nor a token's PIN.
      { logger, renewCrl, workerEnv: { [ENV_CA_PASSWORD]: undefined, [ENV_PKCS11_PIN]: undefined } },
    );
    return;
  }

  const { server, address } = await start();
  banner(address.url);
  await serveUntilStopped(server);
}

/** Printed as is (commander does not re-wrap 'after' text): at most 80 columns. */
const REVOCATION_HELP = `
Revocation:
  <dir>/ca/crl.pem is checked against the CA, then watched: a new CRL (from
  revoke, crl or renew --revoke-old) applies to new connections within 2 s,
  and open connections of a newly revoked certificate are closed. A CRL that
  is unreadable, signed by another CA or older than the one in force is
  refused (log: crl-rejected) and the one in force stays.
  An EXPIRED CRL (past its next update) cannot prove anything unrevoked, so
  EVERY client of its CA is refused (reason REVOCATION_UNAVAILABLE, detail
  CRL_HAS_EXPIRED; want mode: 401) until a fresh one appears; the log says
  crl-expired at level error, and crl-expiring (warn) every hour from 48 h
  before. To avoid the lock-out, either run \`mtls-ca crl\` daily from cron,
  or serve with --crl-auto-renew: the server then re-signs the CRL itself
  (log: crl-renewed) once half its lifetime has passed, with the CA password
  from MTLS_CA_PASSWORD or --ca-password-file (checked at start; never a
  prompt). With --workers, the primary process alone renews.`;

export function serveOptions(cmd: Command): Command {
  return cmd
    .option('--port <port>', 'TCP port (0: any free port)', parsePort(0), 8443)
    .option('--listen <address>', 'address to bind (:: is every interface, IPv6 and IPv4)', '::')
    .addOption(
      new Option(
        '--client-auth <mode>',
        'need: refuse clients without a valid certificate in TLS; want: answer 401',
      )
        .choices(['need', 'want'])
        .default('need'),
    )
    .option('--users <file>', 'users and roles (default: <dir>/users.json); edits apply without a restart')
    .option('--workers <n>', 'processes sharing the port (node:cluster)', parseWorkers, 1)
    .addOption(
      new Option('--log-format <format>', 'access and event log lines')
        .choices(['text', 'json'])
        .default('text'),
    )
    .option(
      '--crl-auto-renew',
      're-sign ca/crl.pem when half its lifetime has passed (and at start when it is out of date); the CA password comes from MTLS_CA_PASSWORD or --ca-password-file, never a prompt',
    )
    .addOption(caPasswordFileOption());
}

export function registerServe(program: Command, ctx: CommandContext): void {
  serveOptions(
    program
      .command('serve')
      .summary('serve the mTLS customer API (GET /customer/:id, /whoami, /health)')
      .description(
        'HTTPS with the server certificate from <dir>/server, TLS 1.2+, trusting only your CA. The user is the\n' +
          'client certificate\'s CN and must be in users.json; GET /customer/:id needs role "user". A replaced\n' +
          'server certificate or key (renew server) is picked up on its own; SIGHUP reloads the certificate, key,\n' +
          'CA and CRL; SIGINT/SIGTERM shut down gracefully.',
      ),
  )
    .addHelpText('after', REVOCATION_HELP)
    .addHelpText(
      'after',
      helpAfter([
        'mtls-ca serve',
        'mtls-ca serve --port 9443 --listen 127.0.0.1 \\\n      --client-auth want --log-format json',
        'mtls-ca serve --workers 2',
        'MTLS_CA_PASSWORD=… mtls-ca serve --crl-auto-renew   # no cron job needed',
      ]),
    )
    .action(async (flags: ServeFlags, cmd: Command) => {
      await runServe(await ctx.store(cmd), flags, await ctx.output(cmd), ctx.io);
    });
}

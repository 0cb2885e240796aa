import fs from 'node:fs';
import path from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { CaStore } from '../../store/ca-store.js';
import { type CommandContext, helpAfter } from '../context.js';
import type { Output } from '../output.js';

export interface ServeFlags {
  port: number;
  listen: string;
  clientAuth: 'need' | 'want';
  users?: string;
  workers: number;
  logFormat: 'text' | 'json';
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65_535)
    throw new InvalidArgumentError('--port takes a number from 0 to 65535.');
  return n;
}

function parseWorkers(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 64)
    throw new InvalidArgumentError('--workers takes a number from 1 to 64.');
  return n;
}

/** A word for a POSIX shell: bare when it is safe, else single-quoted. */
function shellWord(s: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/** Text safe inside a double-quoted shell string. */
function inDoubleQuotes(s: string): string {
  return s.replace(/[\\"$`]/g, '\\$&');
}

/** A curl command for the first client with a .p12 (pavel preferred), ready to paste into a POSIX shell. */
export function curlHint(store: CaStore, url: string): string {
  const names = fs.existsSync(store.paths.clientDir)
    ? fs
        .readdirSync(store.paths.clientDir)
        .filter((f) => /^client_.+\.p12$/.test(f))
        .map((f) => f.slice('client_'.length, -'.p12'.length))
    : [];
  const name = names.includes('pavel') ? 'pavel' : names.sort()[0];
  if (!name) return `mtls-ca issue-client pavel --role user   # then call ${url}/customer/1 with its .p12`;
  const c = store.paths.client(name);
  const p12 = inDoubleQuotes(store.display(c.p12));
  const password = fs.existsSync(`${c.p12}.pass`)
    ? `$(cat ${shellWord(store.display(`${c.p12}.pass`))})`
    : '<password>';
  return `curl --cacert ${shellWord(store.display(store.paths.caCert))} --cert-type P12 --cert "${p12}:${password}" ${url}/customer/1`;
}

/** Starts the server(s) and resolves when they have shut down (SIGINT/SIGTERM). */
export async function runServe(store: CaStore, flags: ServeFlags, out: Output): Promise<void> {
  store.assertInitialized();
  const { createMtlsServer, runClustered, createLogger } = await import('../../server/index.js');
  const logger = createLogger({ format: flags.logFormat });
  const start = async () => {
    const server = createMtlsServer({
      dir: store.root,
      usersFile: flags.users ? path.resolve(flags.users) : undefined,
      host: flags.listen,
      port: flags.port,
      clientAuth: flags.clientAuth,
      logFormat: flags.logFormat,
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

  if (flags.workers > 1) {
    const cluster = (await import('node:cluster')).default;
    await runClustered(
      flags.workers,
      async () => {
        const { server, address } = await start();
        if (cluster.worker?.id === 1) banner(address.url);
        return server;
      },
      { logger },
    );
    return;
  }

  const { server, address } = await start();
  banner(address.url);
  await new Promise<void>((resolve) => {
    const onHup = () => {
      server.reload().catch(() => {
        // The server logged why (reload-failed); it keeps serving with what it had.
      });
    };
    const onStop = () => {
      process.off('SIGHUP', onHup);
      process.off('SIGINT', onStop);
      process.off('SIGTERM', onStop);
      server.close().then(resolve, resolve);
    };
    process.on('SIGHUP', onHup);
    process.on('SIGINT', onStop);
    process.on('SIGTERM', onStop);
  });
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
  crl-expired at level error. Run \`mtls-ca crl\` daily from cron.`;

export function serveOptions(cmd: Command): Command {
  return cmd
    .option('--port <port>', 'TCP port (0: any free port)', parsePort, 8443)
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
    );
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
      ]),
    )
    .action(async (flags: ServeFlags, cmd: Command) => {
      await runServe(await ctx.store(cmd), flags, await ctx.output(cmd));
    });
}

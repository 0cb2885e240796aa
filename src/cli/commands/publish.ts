import { type Command, Option } from 'commander';
import { MtlsCaError } from '../../pki/errors.js';
import type { CertificateStatusSource } from '../../server/index.js';
import type { ServerLogger } from '../../server/log.js';
import type { CaStore } from '../../store/ca-store.js';
import { type CommandContext, caPasswordFileOption, helpAfter, parsePort } from '../context.js';
import { hintFor } from '../hints.js';
import type { Io } from '../io.js';
import type { Output } from '../output.js';
import { caPasswordUnattended } from '../passwords.js';
import { RECIPES } from '../revocation-notes.js';
import { serveUntilStopped } from '../signals.js';

interface PublishFlags {
  port?: number;
  listen: string;
  logFormat: 'text' | 'json';
  autoRenew?: boolean;
  caPasswordFile?: string;
}

/** The hints of the publish server's warnings, in the CLI's words. */
function eventHints(autoRenew: boolean): Record<string, string> {
  const renew = autoRenew
    ? 'renewing it failed (see renew-failed): fix that, or run `mtls-ca crl`'
    : 'run `mtls-ca crl` now and daily from cron, or publish with --auto-renew';
  return {
    'crl-expiring': renew,
    'crl-expired': renew,
    'crl-missing': 'write one with `mtls-ca crl`',
    'ocsp-responder-expiring': renew,
    'ocsp-responder-expired': renew,
    'ocsp-responder-missing':
      'run `mtls-ca crl`: it issues the responder certificate of a CA that has a publish URL',
  };
}

/**
 * The renewal `publish --auto-renew` calls at start and when something is due: a new CRL, and with it a new
 * responder certificate if that is due, logged as `renewed` or `renew-failed`. It never rejects.
 */
async function prepareRenewal(
  io: Io,
  store: CaStore,
  flags: PublishFlags,
  logger: ServerLogger,
): Promise<() => Promise<void>> {
  const caPassword = await caPasswordUnattended(io, flags, store, 'publish --auto-renew');
  const { renewPublishingIfDue } = await import('../../ops/publishing.js');
  return async () => {
    try {
      const r = await renewPublishingIfDue(store, { caPassword });
      if (!r) return;
      logger.event(
        'info',
        'renewed',
        `CRL number ${r.crl.crlNumber} published${r.responder ? ' and the OCSP responder certificate re-issued' : ''} (${r.reason})`,
        {
          crlNumber: r.crl.crlNumber,
          nextUpdate: r.crl.nextUpdate,
          responder: r.responder?.serial,
          responderNotAfter: r.responder?.notAfter,
          reason: r.reason,
        },
      );
    } catch (e) {
      const err = e instanceof MtlsCaError ? e : undefined;
      logger.event(
        'error',
        'renew-failed',
        `renew the CRL and OCSP responder: ${(e as Error)?.message ?? String(e)}`,
        {
          code: err?.code ?? 'INTERNAL',
          hint: err && hintFor(err),
        },
      );
    }
  };
}

/** Starts the publish server and resolves when it has shut down (SIGINT/SIGTERM); SIGHUP re-reads everything. */
async function runPublish(store: CaStore, flags: PublishFlags, out: Output, io: Io): Promise<void> {
  store.assertInitialized();
  if (flags.caPasswordFile !== undefined && !flags.autoRenew) {
    throw new MtlsCaError(
      'USAGE',
      'use --ca-password-file with --auto-renew: publish reads the CA key only to renew',
      'add --auto-renew, or leave --ca-password-file out',
    );
  }
  const { publishUrl } = store.readSettings();
  if (publishUrl === undefined) {
    throw new MtlsCaError(
      'NOT_FOUND',
      `publish ${store.display(store.root)}: the CA has no publish URL, so no certificate names this server`,
      'set one first: `mtls-ca publish-url http://<this host>:8080` (then renew the certificates that should carry it)',
    );
  }
  const { createLogger } = await import('../../server/index.js');
  const { readCertificateStatuses } = await import('../../ops/publishing.js');
  const hints = eventHints(Boolean(flags.autoRenew));
  const logger = createLogger({ format: flags.logFormat, hints });
  const renew = flags.autoRenew ? await prepareRenewal(io, store, flags, logger) : undefined;
  // Before the server reads anything: a CRL or responder that is missing or out of date is made now.
  await renew?.();
  // With the CA in a database, this host's CRL copy follows it, and the statuses are the state the mirror
  // reads again on every commit: a revocation made on any host reaches /crl and the OCSP answers.
  const state = store.externalState;
  const mirror = state
    ? await (await import('../../ops/state-mirror.js')).mirrorState(store, (level, event, message, fields) =>
        logger.event(level, event, message, fields),
      )
    : undefined;
  try {
    await listenUntilStopped(store, flags, out, {
      publishUrl,
      hints,
      renew,
      statuses: state
        ? { files: [], version: () => state.inventoryVersion(), load: () => readCertificateStatuses(store) }
        : { files: [store.paths.inventory], load: () => readCertificateStatuses(store) },
    });
  } finally {
    await mirror?.close();
  }
}

/** {@link runPublish} once the CRL and the statuses are in place: listens until SIGINT or SIGTERM. */
async function listenUntilStopped(
  store: CaStore,
  flags: PublishFlags,
  out: Output,
  s: {
    publishUrl: string;
    hints: Record<string, string>;
    renew: (() => Promise<void>) | undefined;
    statuses: CertificateStatusSource;
  },
): Promise<void> {
  const { createPublishServer } = await import('../../server/index.js');
  const url = new URL(s.publishUrl);
  const server = await createPublishServer({
    dir: store.root,
    basePath: url.pathname,
    host: flags.listen,
    port: flags.port ?? Number(url.port || 80),
    logFormat: flags.logFormat,
    eventHints: s.hints,
    errorHint: hintFor,
    renew: s.renew,
    statuses: s.statuses,
  });
  const address = await server.listen();
  if (flags.logFormat !== 'json') {
    const base = `${address.url}${url.pathname.replace(/\/$/, '')}`;
    out.line(
      [
        `mtls-ca publish: ${base} (certificates name ${s.publishUrl})`,
        `  ${base}/crl      the CRL, DER (conditional GET)`,
        `  ${base}/ca.crt   the CA certificate, DER`,
        `  ${base}/ocsp     the OCSP responder`,
        'Try it:',
        `  openssl ocsp -issuer ${store.display(store.paths.caCert)} -cert <client.crt> -url ${base}/ocsp -CAfile ${store.display(store.paths.caCert)}`,
        `Server recipes: ${RECIPES}`,
      ].join('\n'),
    );
  }
  await serveUntilStopped(server);
}

/** Printed as is (commander does not re-wrap 'after' text): at most 80 columns. */
const PUBLISH_HELP = `
What it serves, under the path of the publish URL:
  GET  /crl            ca/crl.pem as DER (application/pkix-crl); ETag and
                       Last-Modified, so pollers get 304 until it changes
  GET  /ca.crt         the CA certificate, DER (application/pkix-cert)
  POST /ocsp           OCSP (RFC 6960), and GET /ocsp/<base64 request>
                       (RFC 5019): good, revoked (time, reason) or unknown,
                       signed by the responder certificate ca/ocsp.crt, the
                       request's nonce echoed. A malformed request gets 400 +
                       malformedRequest; another CA's certificate, unauthorized;
                       no valid responder certificate, tryLater.
A revoke reaches the OCSP answers within 1 s and /crl within 1 s (the files
are watched). The CA key stays offline: the responder signs with its own key,
which crl, revoke and renew --revoke-old re-issue once half its lifetime (the
CRL's) has passed. Run \`mtls-ca crl\` daily from cron, or publish with
--auto-renew: it then re-signs the CRL and re-issues the responder itself, at
start and whenever they fall due, with the CA password from MTLS_CA_PASSWORD
or --ca-password-file (a token's PIN from MTLS_CA_PKCS11_PIN or pin-source=;
never a prompt). SIGHUP re-reads every file; SIGINT/SIGTERM shut down
gracefully.
With --database-url, publish hears every commit to the database (LISTEN/
NOTIFY): a revoke on any host reaches the answers and /crl within 1 s. The
responder's key stays on this host (ca/ocsp.key, never in the database), so
each host that publishes has a responder certificate of its own, which that
host's crl, revoke or --auto-renew issues and renews.`;

export function registerPublish(program: Command, ctx: CommandContext): void {
  program
    .command('publish')
    .summary('serve the CRL, the CA certificate and an OCSP responder over HTTP')
    .description(
      'Plain HTTP for the servers that check client certificates (Java, nginx ssl_ocsp, curl-based CRL\n' +
        'pollers): what the publish URL promises in every certificate issued under it. Needs a publish URL\n' +
        '(init --publish-url, or publish-url); listens on its port unless --port says otherwise.',
    )
    .addOption(
      new Option('--port <port>', "TCP port (default: the publish URL's; 0: any free port)").argParser(
        parsePort(0),
      ),
    )
    .option('--listen <address>', 'address to bind (:: is every interface, IPv6 and IPv4)', '::')
    .addOption(
      new Option('--log-format <format>', 'access and event log lines')
        .choices(['text', 'json'])
        .default('text'),
    )
    .option(
      '--auto-renew',
      're-sign the CRL and re-issue the OCSP responder when due (at start and while running); the CA password comes from MTLS_CA_PASSWORD or --ca-password-file, never a prompt',
    )
    .addOption(caPasswordFileOption())
    .addHelpText('after', PUBLISH_HELP)
    .addHelpText(
      'after',
      helpAfter([
        'mtls-ca publish',
        'mtls-ca publish --port 9080 --listen 127.0.0.1 --log-format json',
        'MTLS_CA_PASSWORD=… mtls-ca publish --auto-renew   # no cron job needed',
        'MTLS_CA_DATABASE_URL=… mtls-ca publish   # follows the CA in PostgreSQL',
      ]),
    )
    .action(async (flags: PublishFlags, cmd: Command) => {
      await runPublish(await ctx.store(cmd), flags, await ctx.output(cmd), ctx.io);
    });
}

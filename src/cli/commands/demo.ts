import type { Command } from 'commander';
import { type CommandContext, helpAfter } from '../context.js';
import { runServe, type ServeFlags, serveOptions } from './serve.js';

export function registerDemo(program: Command, ctx: CommandContext): void {
  serveOptions(
    program
      .command('demo')
      .summary('set up a demo CA and client "pavel" (once), then serve the API — what `npm start` runs')
      .description(
        'If the CA directory has no CA, creates one with an UNENCRYPTED key (a demo) and generated store\n' +
          'passwords; if client "pavel" has no certificate, issues one with role "user"; then serves. With\n' +
          'an unencrypted CA key it keeps its CRL fresh itself, as serve --crl-auto-renew: at start it\n' +
          're-signs a CRL that is missing, unreadable, expired or half through its lifetime, and while it\n' +
          'serves, each CRL once half its lifetime has passed, so `npm start` works on any later day.',
      ),
  )
    .addHelpText('after', helpAfter(['npm start', 'mtls-ca demo --dir /tmp/demo-ssl --port 9443']))
    .action(async (flags: ServeFlags, cmd: Command) => {
      const out = await ctx.output(cmd);
      const store = await ctx.store(cmd);
      if (!store.isInitialized()) {
        const { initCa } = await import('../../ops/init.js');
        const { DEFAULT_CA_NAME } = await import('./init.js');
        out.warn('creating a demo CA whose key is NOT encrypted; use `mtls-ca init` for a real one');
        const r = await initCa(store, {
          caName: DEFAULT_CA_NAME,
          keyType: 'ecdsa-p256',
          caDays: 3650,
          hosts: [],
          serverDays: 397,
          p12Profile: 'compat',
          force: false,
          caPassword: null,
          store: {},
        });
        out.line(`Created a demo CA in ${r.dir} (server certificate for localhost, 127.0.0.1, ::1).`);
      }
      if (!store.exists(store.paths.client('pavel').p12)) {
        const { issueClient } = await import('../../ops/issue-client.js');
        const r = await issueClient(store, {
          name: 'pavel',
          roles: ['user'],
          email: [],
          days: 365,
          keyType: 'ecdsa-p256',
          p12Profile: 'compat',
          force: false,
          caPassword: ctx.io.env.MTLS_CA_PASSWORD,
          store: {},
        });
        out.line(`Issued client "pavel" (role user): ${r.p12}, password in ${r.passwordFile}.`);
      }
      // The demo key needs no password, so nothing stands in the way of renewing: a demo directory made
      // last week must not refuse pavel because its CRL expired meanwhile.
      const crlAutoRenew = flags.crlAutoRenew || !store.isCaKeyEncrypted();
      await runServe(store, { ...flags, crlAutoRenew }, out, ctx.io);
    });
}

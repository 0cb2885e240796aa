import type { Command } from 'commander';
import { MtlsCaError } from '../../pki/errors.js';
import { type CommandContext, caPasswordFileOption, helpAfter } from '../context.js';
import { caPasswordForUse } from '../passwords.js';
import { day } from '../render.js';
import { RECIPES } from '../revocation-notes.js';

export function registerPublishUrl(program: Command, ctx: CommandContext): void {
  program
    .command('publish-url')
    .summary('show or set where the CA publishes its CRL and OCSP responder (for `publish`)')
    .description(
      "With a URL, sets the CA's publish URL (http://host[:port][/path]): certificates issued from now on\n" +
        'carry a CRL distribution point (<url>/crl), an OCSP responder (<url>/ocsp) and the CA certificate\n' +
        '(<url>/ca.crt), which `mtls-ca publish` serves there; the OCSP responder certificate is issued.\n' +
        'Certificates issued before keep what they carry: renew them to add the URLs. Without a URL, shows\n' +
        'the current one. The change is recorded in the audit log (the CA password is needed).',
    )
    .argument('[url]', 'the base URL, e.g. http://ca.example.com:8080')
    .option('--clear', 'publish nothing: certificates issued from now on carry no URLs')
    .addOption(caPasswordFileOption())
    .addHelpText(
      'after',
      helpAfter([
        'mtls-ca publish-url',
        'mtls-ca publish-url http://ca.example.com:8080',
        'mtls-ca publish-url http://pki.example.com/mtls   # behind a reverse proxy',
        'mtls-ca publish-url --clear',
      ]),
    )
    .action(
      async (url: string | undefined, flags: { clear?: boolean; caPasswordFile?: string }, cmd: Command) => {
        const out = await ctx.output(cmd);
        const store = await ctx.store(cmd);
        store.assertInitialized();
        const ops = await import('../../ops/publishing.js');
        if (url !== undefined && flags.clear) {
          throw new MtlsCaError(
            'USAGE',
            'use publish-url: a URL and --clear exclude each other',
            'give one of them',
          );
        }
        if (url === undefined && !flags.clear) {
          const { publishUrl } = store.readSettings();
          const urls = publishUrl === undefined ? undefined : ops.revocationUrlsFor(publishUrl);
          out.result({ publishUrl: publishUrl ?? null, ...(urls ? { urls } : {}) }, () =>
            urls
              ? [
                  `Publish URL: ${publishUrl}`,
                  `  CRL distribution point  ${urls.crl}`,
                  `  OCSP responder          ${urls.ocsp}`,
                  `  CA issuers              ${urls.caIssuers}`,
                ]
              : [
                  'Publish URL: none — certificates carry no CRL or OCSP URLs.',
                  'Set one with `mtls-ca publish-url http://<this host>:8080`, then run `mtls-ca publish`.',
                ],
          );
          return;
        }
        if (url !== undefined) ops.checkPublishUrl(url); // before the password
        const caPassword = await caPasswordForUse(ctx.io, flags, store);
        const r = await ops.setPublishUrl(store, { url: url ?? null, caPassword });
        out.result(r, () => {
          if (!r.urls) {
            return [
              `Publishing turned off${r.previous ? ` (it was ${r.previous})` : ''}: new certificates carry no CRL or OCSP URLs.`,
              'Certificates issued before still name it: keep `mtls-ca publish` running there until they expire or',
              'are renewed.',
            ];
          }
          return [
            `Publish URL: ${r.publishUrl}${r.previous && r.previous !== r.publishUrl ? ` (was ${r.previous})` : ''}`,
            'Certificates issued from now on carry:',
            `  CRL distribution point  ${r.urls.crl}`,
            `  OCSP responder          ${r.urls.ocsp}`,
            `  CA issuers              ${r.urls.caIssuers}`,
            ...(r.responder
              ? [
                  `Issued the OCSP responder certificate ${r.responder.file} (valid until ${day(r.responder.notAfter)}); crl, revoke`,
                  'and `publish --auto-renew` re-issue it with each CRL once half its lifetime has passed.',
                ]
              : []),
            'Certificates issued before carry no URLs: `mtls-ca renew <name>` adds them.',
            `Next: mtls-ca publish   # serves them; server recipes: ${RECIPES}`,
          ];
        });
      },
    );
}

/**
 * The CLI's words for what the layers below report as data: an {@link ErrorDetail} becomes a hint naming the
 * commands and flags that resolve it. The library, the store and the operations have no flags, so they say
 * what happened and leave the advice to the interface the user is in.
 */
import { quote } from '../pki/characters.js';
import type { ErrorDetail, MtlsCaError } from '../pki/errors.js';
import type { MtlsServerOptions } from '../server/server-options.js';
import { ENV_CA_PASSWORD, ENV_PKCS11_PIN, ENV_STORE_PASSWORD } from './passwords.js';

/** Where each tool of `import --from` keeps its CA, for an import that found none where it looked. */
const IMPORT_SOURCES: Record<string, string> = {
  mkcert: 'name the folder `mkcert -CAROOT` prints (it holds rootCA.pem and rootCA-key.pem)',
  'easy-rsa': 'name the pki/ folder easy-rsa made (it holds ca.crt, private/ca.key and index.txt)',
  cfssl: 'name the folder holding ca.pem and ca-key.pem (`cfssljson -bare ca`), or the -bare name',
  openssl:
    "name the CA's files with --cert F --key F, or a folder in `openssl ca`'s layout (cacert.pem, private/cakey.pem)",
};

/** Where a token's PIN may come from (never argv). */
export const PIN_HINT = `set ${ENV_PKCS11_PIN}, or add pin-source=file:PATH to the URI (a file whose first line is the PIN)`;

/** The hint for a detail, in the CLI's words. */
function hintForDetail(d: ErrorDetail): string {
  switch (d.kind) {
    case 'no-ca':
      return `create one with \`mtls-ca init --dir ${d.dir}\``;
    case 'ca-exists':
      return 'keep using it, or pass --force to move it to a backup folder and start over';
    case 'ca-expired':
      return 'create a new CA with `mtls-ca init --force` (the old one is kept in a backup folder)';
    case 'ca-password':
      return `pass the CA password with --ca-password-file F or ${ENV_CA_PASSWORD}`;
    case 'root-key-offline':
      return 'bring the root key back with `mtls-ca root import FILE` (and take it offline again after with `mtls-ca root export`)';
    case 'root-key-online':
      return 'nothing to bring back; `mtls-ca root export --out FILE` takes it offline';
    case 'ca-key-missing':
      return 'restore it from a backup of the CA directory';
    case 'nothing-to-retire':
      return 'see the CAs in force at the end of `mtls-ca list`; a CA replaced by `mtls-ca ca rotate` is retired';
    case 'ca-in-use':
      return `renew them (\`mtls-ca renew <name>\` issues from the new CA) or wait until they expire; --force retires it now and cuts ${d.count === 1 ? 'it' : 'them'} off`;
    case 'several-previous-cas':
      return 'name one by its serial: `mtls-ca ca retire <serial>`';
    case 'ca-name-taken':
      return 'pass --ca-name with a name no CA of this directory has had';
    case 'store-password':
      return `pass the stores' password with --password-file F or ${ENV_STORE_PASSWORD}`;
    case 'no-root':
      return 'a CA made with `mtls-ca init --intermediate` has a root whose key can go offline';
    case 'name-has-valid-certificate':
      return 'pass --force to replace it (the old one is marked superseded)';
    case 'lookalike-name':
      return `use ${quote(d.existing)} (and --force to replace its certificate), or choose another name`;
    case 'file-exists':
      return d.choose === 'name'
        ? 'pass --name to choose another name, or --force to replace it'
        : 'pass --out FILE, or --force to replace it';
    case 'no-host':
      return 'pass one or more hosts: mtls-ca issue-server api.example.com 10.0.0.5';
    case 'name-needed':
      return 'pass --name NAME';
    case 'no-current-certificate':
      return d.issued
        ? `issue a new one with \`mtls-ca issue-client ${d.name} --force\``
        : 'see `mtls-ca list`';
    case 'key-unusable':
      return 'pass --rekey for a new key';
    case 'unknown-certificate':
      return 'see `mtls-ca list`';
    case 'ca-certificate':
      return 'to replace the CA, run `mtls-ca ca rotate` (or start over with `mtls-ca init --force`)';
    case 'ocsp-responder-certificate':
      return 'to replace the responder now, remove ca/ocsp.key and run `mtls-ca crl`';
    case 'issuing-ca':
      return 'issue from a new intermediate first (`mtls-ca ca rotate`), then revoke this one by its serial';
    case 'all-expired':
      return 'see `mtls-ca list --status expired`';
    case 'crl-unusable':
      return {
        missing: 'write one with `mtls-ca crl`',
        damaged: 'publish a new CRL with `mtls-ca crl`',
        foreign: 'publish a CRL of this CA with `mtls-ca crl`',
        older: 'publish a new CRL with `mtls-ca crl`',
      }[d.problem];
    case 'not-a-ca-directory':
      return `is ${d.dir} a CA directory? create one with \`mtls-ca init\``;
    case 'import-source':
      return IMPORT_SOURCES[d.tool] ?? 'see `mtls-ca import --help`';
    case 'unknown-client':
      return `issue one with \`mtls-ca issue-client ${d.name} --role user\``;
    case 'trust-needs-root':
      return d.store === 'java'
        ? 'run it as root (sudo), or pass --keystore F to change a trust store of your own'
        : `run it as root (sudo), or leave out --${d.store}`;
    case 'trust-other-platform':
      return `add --dry-run to print the commands, and run them on ${d.platform}`;
    case 'trust-missing-tool':
      return `install ${d.tool} (Debian package ${d.packageName})`;
    case 'trust-unknown-platform':
      return 'pass --platform debian|rhel|macos|windows with --dry-run to print the commands for one';
    case 'trust-no-jdk':
      return 'set JAVA_HOME, or pass --keystore F';
    case 'no-ca-in-database':
      return `create it with \`mtls-ca init --database-url URL\`, or move a CA directory there with \`mtls-ca db import --dir DIR\``;
    case 'database-schema':
      return d.found < d.expected
        ? 'bring its tables up to date with `mtls-ca db migrate`'
        : `this mtls-ca is older than the database (schema ${d.found}): upgrade mtls-ca`;
    case 'ca-exists-in-database':
      return 'set up this host from it with `mtls-ca init --join`; a CA in a database is never replaced';
    case 'pkcs11-binding-missing':
      return 'install it beside mtls-ca: npm install -g pkcs11js (it needs a C++ compiler, make and python3)';
    case 'pin-locked':
      return "unlock the user PIN with the token's security officer PIN (softhsm2-util, pkcs11-tool --init-pin)";
    case 'pin-in-uri':
      return `leave pin-value out: ${PIN_HINT}`;
    case 'several-certificates':
      return `revoke one by its serial (\`mtls-ca revoke <serial>\`), or all ${d.count} with \`mtls-ca revoke ${d.name} --all\``;
  }
}

/**
 * The hint to show with an error: the CLI's words for its detail, else the hint it carries.
 * @param e - the error
 */
export function hintFor(e: MtlsCaError): string | undefined {
  return e.detail ? hintForDetail(e.detail) : e.hint;
}

/**
 * What `serve` tells the server to say in its log lines: the hints of its CRL events, and of the errors it
 * logs (a CRL it rejects), in the CLI's words.
 * @param autoRenew - whether the server re-signs its CRL itself (`--crl-auto-renew`)
 */
export function serverHints(
  autoRenew: boolean,
): Required<Pick<MtlsServerOptions, 'eventHints' | 'errorHint'>> {
  return {
    eventHints: {
      'crl-missing': 'write one with `mtls-ca crl`',
      'crl-expiring': autoRenew
        ? 'renewing it failed (see crl-renew-failed): fix that, or run `mtls-ca crl`'
        : 'run `mtls-ca crl` now and daily from cron, or serve with --crl-auto-renew',
      'crl-expired': 'run `mtls-ca crl` now, and daily from cron',
    },
    errorHint: hintFor,
  };
}

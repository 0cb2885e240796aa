import fs from 'node:fs';
import type { Command } from 'commander';
import type { CertificateDetails, InspectResult, ProtectedKind } from '../../ops/inspect.js';
import { MtlsCaError } from '../../pki/errors.js';
import { type CommandContext, helpAfter } from '../context.js';
import { INPUT, inputName, readInput, STDIN } from '../input.js';
import { type Io, isInteractive } from '../io.js';
import type { Output } from '../output.js';
import { ENV_CA_PASSWORD, ENV_STORE_PASSWORD, readPasswordFile } from '../passwords.js';
import { askPassword } from '../prompts.js';
import { day, names } from '../render.js';

interface Flags {
  passwordFile?: string;
}

export function registerInspect(program: Command, ctx: CommandContext): void {
  program
    .command('inspect')
    .summary('show what a certificate, CSR, key, .p12, JKS or CRL file contains')
    .description(
      'Prints subject, issuer, SANs, key type, validity with days left, key usages, serial and SHA-256\n' +
        'fingerprint. Never prints secret key material. Passwords come from --password-file, then for a .p12\n' +
        `or .jks ${ENV_STORE_PASSWORD} or the generated <file>.pass beside it, for an encrypted key (the CA\n` +
        `key) ${ENV_CA_PASSWORD}; on a terminal a prompt.`,
    )
    .argument('<file>', 'PEM or DER file, .p12/.pfx or .jks (- for stdin)')
    .option(
      '--password-file <file>',
      'password for a .p12, .jks or encrypted key (first line of the file, - for stdin)',
    )
    .addHelpText(
      'after',
      helpAfter([
        'mtls-ca inspect ssl/client/pavel.crt',
        'mtls-ca inspect ssl/client/client_pavel.p12 --json',
        'openssl x509 -in cert.pem | mtls-ca inspect -',
      ]),
    )
    .action(async (file: string, flags: Flags, cmd: Command) => {
      const out = await ctx.output(cmd);
      const data = await readInput(ctx.io, file, INPUT.anyArtifact);
      const { inspectData } = await import('../../ops/inspect.js');
      const passwords = new InspectPasswords(ctx.io, flags.passwordFile, file !== STDIN);
      let r: InspectResult;
      try {
        r = await inspectData(inputName(file), data, (f, kind) => passwords.find(f, kind));
      } catch (e) {
        const hint = e instanceof MtlsCaError ? passwords.hintFor(e) : undefined;
        if (hint && e instanceof MtlsCaError) throw new MtlsCaError(e.code, e.message, hint, e.cause);
        throw e;
      }
      out.result(r, () => renderInspect(out, r));
    });
}

/**
 * Where inspect finds a password, and what to tell the user when it is missing or wrong: the source that was
 * used, and the ones that would be.
 */
class InspectPasswords {
  private kind: ProtectedKind | undefined;
  private source: string | undefined;

  constructor(
    private readonly io: Io,
    private readonly passwordFile: string | undefined,
    /** A `.pass` file beside the inspected one is looked for only when it is a file, not stdin. */
    private readonly besideFile: boolean,
  ) {}

  async find(file: string, kind: ProtectedKind): Promise<string | undefined> {
    this.kind = kind;
    if (this.passwordFile !== undefined) {
      this.source = `--password-file ${this.passwordFile}`;
      return readPasswordFile(this.io, this.passwordFile, '--password-file');
    }
    // mtls-ca encrypts one key, the CA's, with the CA password; stores have the store password.
    const env = kind === 'private-key' ? ENV_CA_PASSWORD : ENV_STORE_PASSWORD;
    const fromEnv = this.io.env[env];
    if (fromEnv) {
      this.source = env;
      return fromEnv;
    }
    const passFile = `${file}.pass`;
    if (kind !== 'private-key' && this.besideFile && fs.existsSync(passFile)) {
      this.source = passFile;
      return readPasswordFile(this.io, passFile, 'password file');
    }
    if (isInteractive(this.io)) {
      this.source = 'the prompt';
      return askPassword(this.io, `Password for ${file}`);
    }
    return undefined;
  }

  hintFor(e: MtlsCaError): string | undefined {
    if (this.kind === undefined) return undefined;
    const env = this.kind === 'private-key' ? ENV_CA_PASSWORD : ENV_STORE_PASSWORD;
    if (e.code === 'PASSWORD_REQUIRED') return `pass --password-file F or set ${env}`;
    if (e.code === 'BAD_PASSWORD' && this.source) {
      return this.passwordFile !== undefined
        ? `the password came from ${this.source}; check its first line`
        : `the password came from ${this.source}; pass the right one with --password-file F`;
    }
    return undefined;
  }
}

function certLines(out: Output, c: CertificateDetails, indent = ''): string[] {
  const status =
    c.status === 'valid'
      ? out.color.green(`valid, ${c.daysLeft} days left`)
      : out.color.red(c.status === 'expired' ? `EXPIRED ${-c.daysLeft} days ago` : 'not yet valid');
  const san = names(c);
  return [
    `${indent}Subject:      ${c.subject}`,
    `${indent}Issuer:       ${c.issuer}`,
    ...(san ? [`${indent}SANs:         ${san}`] : []),
    `${indent}Key:          ${c.keyType}`,
    `${indent}Validity:     ${day(c.notBefore)} → ${day(c.notAfter)} (${status})`,
    `${indent}Usage:        ${[c.isCa ? 'CA' : 'end entity', ...c.keyUsage, ...c.extendedKeyUsage].join(', ')}`,
    ...(c.revocationUrls?.crl.length ? [`${indent}CRL:          ${c.revocationUrls.crl.join(', ')}`] : []),
    ...(c.revocationUrls?.ocsp.length ? [`${indent}OCSP:         ${c.revocationUrls.ocsp.join(', ')}`] : []),
    `${indent}Serial:       ${c.serial}`,
    `${indent}SHA-256:      ${c.fingerprint}`,
    `${indent}Signature:    ${c.signatureAlgorithm}`,
  ];
}

function renderInspect(out: Output, r: InspectResult): string[] {
  switch (r.type) {
    case 'certificate':
      return r.certificates.flatMap((c, i) => [
        ...(r.certificates.length > 1
          ? [`Certificate ${i + 1} of ${r.certificates.length}`]
          : [`Certificate ${r.file}`]),
        ...certLines(out, c, '  '),
      ]);
    case 'csr': {
      const san = [...r.dns, ...r.ip, ...r.email, ...r.uri].join(', ');
      return [
        `Certificate request ${r.file} (signature valid)`,
        `  Subject:      ${r.subject}`,
        ...(san ? [`  SANs:         ${san}`] : []),
        `  Key:          ${r.keyType}`,
        `  Signature:    ${r.signatureAlgorithm}`,
      ];
    }
    case 'private-key':
      return [
        `Private key ${r.file}`,
        `  Key:          ${r.keyType}`,
        `  Encrypted:    ${r.encrypted ? 'yes' : out.color.yellow('no')}`,
        `  Public key SHA-256: ${r.publicKeyFingerprint}`,
      ];
    case 'pkcs12':
      return [
        `PKCS#12 ${r.file}`,
        `  MAC:          ${r.macAlgorithm}, ${r.iterations} iterations`,
        ...(r.keyEncryption
          ? [
              `  Key:          ${r.privateKey?.keyType ?? '?'}, encrypted with ${r.keyEncryption}${r.privateKey?.matchesCertificate ? ', matches the first certificate' : ''}`,
            ]
          : []),
        ...(r.certEncryption ? [`  Certificates: encrypted with ${r.certEncryption}`] : []),
        ...r.certificates.flatMap((c, i) => [
          `  Certificate ${i + 1}${c.friendlyName ? ` "${c.friendlyName}"` : ''}${c.trusted ? ' (trusted for Java)' : ''}`,
          ...certLines(out, c, '    '),
        ]),
      ];
    case 'jks':
      return [
        `JKS ${r.file}: ${r.entries.length} trusted certificate${r.entries.length === 1 ? '' : 's'}`,
        ...r.entries.flatMap((e) => [
          `  Alias "${e.alias}", added ${day(e.date)}`,
          ...certLines(out, e, '    '),
        ]),
      ];
    case 'crl': {
      // A file of several CRLs (ca/crl.pem with an intermediate or after a rotation): each, numbered.
      const all = [r, ...(r.others ?? [])];
      return all.flatMap((c, i) => [
        ...(i ? [''] : []),
        all.length > 1 ? `CRL ${r.file} (${i + 1} of ${all.length})` : `CRL ${r.file}`,
        `  Issuer:       ${c.issuer}`,
        `  Number:       ${c.crlNumber}`,
        `  Updated:      ${c.thisUpdate}`,
        `  Next update:  ${c.nextUpdate}${c.expired ? out.color.red(' (EXPIRED: re-sign it with `mtls-ca crl`)') : ''}`,
        `  Revoked:      ${c.revoked.length}`,
        ...c.revoked.map((x) => `    ${x.serial}  ${x.revokedAt}${x.reason ? `  ${x.reason}` : ''}`),
      ]);
    }
  }
}

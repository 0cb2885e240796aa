import fs from 'node:fs';
import type { Command } from 'commander';
import type { CertificateDetails, InspectResult } from '../../ops/inspect.js';
import { MtlsCaError } from '../../pki/errors.js';
import { type CommandContext, helpAfter } from '../context.js';
import { isInteractive } from '../io.js';
import type { Output } from '../output.js';
import { ENV_STORE_PASSWORD, readPasswordFile } from '../passwords.js';
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
        'fingerprint. Never prints secret key material. Store passwords come from --password-file,\n' +
        'MTLS_CA_STORE_PASSWORD, the generated <file>.pass beside the store, or a prompt.',
    )
    .argument('<file>', 'PEM or DER file, .p12/.pfx or .jks')
    .option('--password-file <file>', 'password for a .p12 or .jks (first line of the file)')
    .addHelpText(
      'after',
      helpAfter([
        'mtls-ca inspect ssl/client/pavel.crt',
        'mtls-ca inspect ssl/client/client_pavel.p12 --json',
      ]),
    )
    .action(async (file: string, flags: Flags, cmd: Command) => {
      const out = await ctx.output(cmd);
      let data: Buffer;
      try {
        data = fs.readFileSync(file);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new MtlsCaError('NOT_FOUND', `read ${file}: ${code === 'ENOENT' ? 'no such file' : code}`);
      }
      const { inspectData } = await import('../../ops/inspect.js');
      const r = await inspectData(file, data, async (f) => {
        if (flags.passwordFile !== undefined) return readPasswordFile(flags.passwordFile, '--password-file');
        const env = ctx.io.env[ENV_STORE_PASSWORD];
        if (env) return env;
        if (fs.existsSync(`${f}.pass`)) return readPasswordFile(`${f}.pass`, 'password file');
        if (isInteractive(ctx.io)) return askPassword(ctx.io, `Password for ${f}`);
        return undefined;
      });
      out.result(r, () => renderInspect(out, r));
    });
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
    `${indent}Serial:       ${c.serial}`,
    `${indent}SHA-256:      ${c.fingerprint}`,
    `${indent}Signature:    ${c.signatureAlgorithm}`,
  ];
}

export function renderInspect(out: Output, r: InspectResult): string[] {
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
    case 'crl':
      return [
        `CRL ${r.file}`,
        `  Issuer:       ${r.issuer}`,
        `  Number:       ${r.crlNumber}`,
        `  Updated:      ${r.thisUpdate}`,
        `  Next update:  ${r.nextUpdate}${r.expired ? out.color.red(' (EXPIRED: re-sign it with `mtls-ca crl`)') : ''}`,
        `  Revoked:      ${r.revoked.length}`,
        ...r.revoked.map((x) => `    ${x.serial}  ${x.revokedAt}${x.reason ? `  ${x.reason}` : ''}`),
      ];
  }
}

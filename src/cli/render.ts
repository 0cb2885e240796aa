/** Text renderings shared by commands. */
import type { WrittenFile } from '../ops/common.js';
import type { CrlSummary } from '../ops/crl.js';
import type { CertificateSummary } from '../ops/records.js';
import type { Output } from './output.js';

export function day(iso: string): string {
  return iso.slice(0, 10);
}

export function fileLines(out: Output, files: WrittenFile[]): string[] {
  const width = Math.max(...files.map((f) => f.path.length));
  return files.map(
    (f) => `  ${f.path.padEnd(width)}  ${f.mode === '0600' ? out.color.yellow(f.mode) : f.mode}  ${f.what}`,
  );
}

/** A CA's name as people say it: its CN, when that is all its subject holds. */
export function caLabel(subject: string): string {
  return /^CN=[^,]*$/.test(subject) ? subject.slice(3) : subject;
}

/**
 * The CRL a command wrote, as revoke, crl, renew --revoke-old, rotate and retire report it; the CRL of a CA
 * other than the one that issues (a root's, a previous CA's; all are in ca/crl.pem) says whose it is.
 */
export function crlLine(crl: CrlSummary): string {
  const numbers = `(CRL number ${crl.crlNumber}, ${crl.revoked} revoked, next update ${day(crl.nextUpdate)})`;
  if (crl.role === 'issuing') return `Wrote ${crl.file} ${numbers}.`;
  const whose = crl.role === 'root' ? 'the root' : 'previous CA';
  return `Wrote the CRL of ${whose} "${caLabel(crl.issuer)}" to ${crl.file} ${numbers}.`;
}

/**
 * What a replaced certificate still does: "superseded" is the inventory's word, not the CRL's, so servers that
 * trust the CA keep accepting the old certificate until it expires or is revoked.
 */
export function stillAuthenticates(serial: string, notAfter: string): string {
  return `still authenticates until ${day(notAfter)}: revoke it with \`mtls-ca revoke ${serial}\``;
}

export function names(c: CertificateSummary): string {
  return [...c.dns, ...c.ip, ...c.email, ...c.uri].join(', ');
}

/** The Spring Boot settings for the server stores of a CA directory. */
function springBootSettings(dir: string, generated: boolean): string[] {
  const password = (store: string) =>
    generated ? `<first line of ${dir}/server/${store}.pass>` : '<your store password>';
  return [
    'Spring Boot (application.properties):',
    `  server.ssl.key-store=${dir}/server/keyStore.p12`,
    '  server.ssl.key-store-type=PKCS12',
    `  server.ssl.key-store-password=${password('keyStore.p12')}`,
    '  server.ssl.key-alias=server',
    `  server.ssl.trust-store=${dir}/server/trustStore.jks`,
    '  server.ssl.trust-store-type=JKS',
    `  server.ssl.trust-store-password=${password('trustStore.jks')}`,
    '  server.ssl.client-auth=need',
  ];
}

/**
 * What `init` and `import` say about the CA directory they wrote: its server certificate, every file with its
 * mode, and the Spring Boot settings for its stores; a blank line after.
 * @param r - the command's result: the directory as the user typed it, the server certificate, the files and
 *   the generated password files
 */
export function caDirectoryLines(
  out: Output,
  r: { dir: string; server: CertificateSummary; files: WrittenFile[]; passwordFiles: string[] },
): string[] {
  return [
    `Server certificate for ${names(r.server)}, valid until ${day(r.server.notAfter)}.`,
    '',
    ...fileLines(out, r.files),
    '',
    ...(r.passwordFiles.length
      ? ['Store passwords were generated; each is in the .pass file beside its store.', '']
      : []),
    ...springBootSettings(r.dir, r.passwordFiles.length > 0),
    '',
  ];
}

/** Rows of equal fields as a table: a header of the field names, then the values, in padded columns. */
export function table(rows: Record<string, string>[]): string[] {
  const columns = Object.keys(rows[0] ?? {});
  const width = columns.map((c) => Math.max(c.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => cell.padEnd(width[i]!))
      .join('  ')
      .trimEnd();
  return [line(columns), ...rows.map((r) => line(columns.map((c) => r[c] ?? '')))];
}

/** A word for a POSIX shell: bare when it is safe, else single-quoted. */
export function shellWord(s: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

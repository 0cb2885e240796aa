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

/** The CRL a command wrote, as revoke, crl and renew --revoke-old report it. */
export function crlLine(crl: CrlSummary): string {
  return `Wrote ${crl.file} (CRL number ${crl.crlNumber}, ${crl.revoked} revoked, next update ${day(crl.nextUpdate)}).`;
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

/** PEM armour (RFC 7468): encode DER under a label, find and decode blocks. */
import { MtlsCaError } from './errors.js';

export function toPem(label: string, der: Buffer): string {
  const b64 = der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

export interface PemBlock {
  label: string;
  der: Buffer;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g;

/** Every PEM block in the text, in order. Headers (Proc-Type etc.) are kept out of the DER. */
export function pemBlocks(text: string): PemBlock[] {
  const out: PemBlock[] = [];
  for (const m of text.matchAll(BLOCK)) {
    const body = m[2]!
      .split(/\r?\n/)
      .filter((l) => !l.includes(':'))
      .join('');
    if (!/^[A-Za-z0-9+/=\s]*$/.test(body)) continue;
    out.push({ label: m[1]!, der: Buffer.from(body, 'base64') });
  }
  return out;
}

export function isPem(data: Buffer | string): boolean {
  // Text before the armour is allowed (RFC 7468 section 5.2): `openssl x509 -text` and `req -text` write it.
  const head = typeof data === 'string' ? data : data.subarray(0, 65_536).toString('latin1');
  return /(^|\n)-----BEGIN [A-Z0-9 ]+-----\r?\n/.test(head);
}

/**
 * DER of the first block with one of the labels; DER input is passed through.
 * @param what - names the input in the error (e.g. the file)
 */
export function pemOrDer(data: Buffer | string, labels: string[], what: string): Buffer {
  if (!isPem(data)) {
    if (typeof data === 'string') throw new MtlsCaError('PARSE_FAILED', `read ${what}: not PEM or DER`);
    return data;
  }
  const text = typeof data === 'string' ? data : data.toString('latin1');
  const block = pemBlocks(text).find((b) => labels.includes(b.label));
  if (!block) {
    throw new MtlsCaError('PARSE_FAILED', `read ${what}: no ${labels.join(' or ')} PEM block found`);
  }
  return block.der;
}

/**
 * The audit log `ca/audit.log`: one JSON line per CA operation, each carrying the SHA-256 of the line before
 * it (`prev`) and a signature by the CA key over the line (`sig`). Editing, inserting or deleting a line breaks
 * the chain at that point, and an edited last line (which no later hash covers) fails its signature; only
 * someone holding the CA key could forge lines. It is appended in the same transaction as the operation's
 * files: an operation that failed left no line.
 */
import { createHash, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import type { Certificate } from '../pki/certificate.js';
import * as der from '../pki/der.js';
import { MtlsCaError } from '../pki/errors.js';
import { sign, signatureAlgorithmFor, verify } from '../pki/keys.js';

export type AuditOperation = 'init' | 'issue' | 'sign' | 'revoke' | 'renew' | 'crl';

export interface AuditRecord {
  time: string;
  op: AuditOperation;
  subject?: string;
  serial?: string;
  fingerprint?: string;
  result: 'ok';
  /** Free-form details (profile, reason, CRL number). */
  detail?: Record<string, string | number | boolean>;
}

/** `prev` of the first line: there is nothing before it. */
export const GENESIS = '0'.repeat(64);

export function lineHash(line: string): string {
  return createHash('sha256').update(line, 'utf8').digest('hex');
}

/** The last line of a file, read from its end (the log can grow large). */
function lastLine(file: string): string | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const size = fs.fstatSync(fd).size;
    let chunk = 4096;
    for (;;) {
      const start = Math.max(0, size - chunk);
      const buf = Buffer.alloc(size - start);
      fs.readSync(fd, buf, 0, buf.length, start);
      const text = buf.toString('utf8').replace(/\n$/, '');
      const nl = text.lastIndexOf('\n');
      if (nl >= 0 || start === 0) return text.slice(nl + 1) || undefined;
      chunk *= 4;
    }
  } finally {
    fs.closeSync(fd);
  }
}

const SIG_SUFFIX = /,"sig":"([A-Za-z0-9_-]+)"}$/;

/**
 * The text to append for `records`, chained to the file's current last line and signed by the CA key.
 * @param caKey - the CA private key (every audited operation has it loaded)
 */
export function auditLines(file: string, records: AuditRecord[], caKey: KeyObject): string {
  const last = lastLine(file);
  let prev = last === undefined ? GENESIS : lineHash(last);
  let out = '';
  for (const r of records) {
    const body = JSON.stringify({ ...r, prev });
    const sig = sign(caKey, Buffer.from(body, 'utf8')).toString('base64url');
    const line = `${body.slice(0, -1)},"sig":"${sig}"}`;
    out += `${line}\n`;
    prev = lineHash(line);
  }
  return out;
}

export interface AuditVerification {
  ok: boolean;
  lines: number;
  /** 1-based number of the first line whose chain is broken. */
  firstBadLine?: number;
  /** What is wrong with that line, worded to follow "line N": `is not valid JSON`, `does not start the chain`. */
  reason?: string;
}

/**
 * Checks the chain and every line's signature.
 * @param ca - the CA certificate whose key signed the lines
 */
export function verifyAuditLog(file: string, ca: Certificate): AuditVerification {
  const algorithm = der.readOid(der.decode(signatureAlgorithmFor(ca.publicKey)).children[0]!);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new MtlsCaError(
        'NOT_FOUND',
        `read ${file}: no audit log`,
        'it is written by every CA operation since init',
      );
    }
    throw e;
  }
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  let prev = GENESIS;
  for (const [i, line] of lines.entries()) {
    let record: { prev?: unknown };
    try {
      record = JSON.parse(line) as { prev?: unknown };
    } catch {
      return { ok: false, lines: lines.length, firstBadLine: i + 1, reason: 'is not valid JSON' };
    }
    const sig = SIG_SUFFIX.exec(line);
    const body = sig ? `${line.slice(0, sig.index)}}` : '';
    if (
      !sig ||
      !verify(ca.publicKey, algorithm, Buffer.from(body, 'utf8'), Buffer.from(sig[1]!, 'base64url'))
    ) {
      return {
        ok: false,
        lines: lines.length,
        firstBadLine: i + 1,
        reason: 'carries no valid CA signature (edited)',
      };
    }
    if (record.prev !== prev) {
      return {
        ok: false,
        lines: lines.length,
        firstBadLine: i + 1,
        reason:
          i === 0
            ? 'does not start the chain'
            : 'does not match the hash of the line before (edited, inserted or removed)',
      };
    }
    prev = lineHash(line);
  }
  return { ok: true, lines: lines.length };
}

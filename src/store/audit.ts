/**
 * The audit log `ca/audit.log`: one JSON line per CA operation, each carrying the SHA-256 of the line before
 * it (`prev`) and a signature by the CA key over the line (`sig`). Editing, inserting or deleting a line breaks
 * the chain at that point, and an edited last line (which no later hash covers) fails its signature; only
 * someone holding the CA key could forge lines. It is appended in the same commit as the operation's files:
 * an operation that failed left no line.
 *
 * What no line can show is that lines were cut off the end. The log's head is therefore kept outside it, in
 * `ca/audit.head`: `{"lines":N,"last":"<SHA-256 of line N>","sig":"…"}`, signed by the CA key and replaced in
 * the same commit as each append, and `verify` checks the log against it. The count only grows: a writer
 * extends the count of a valid head even when the log has fewer lines, so a removal stays visible after later
 * operations. Deleting the head as well is seen by `verify` until the next operation, which, finding no head,
 * starts one from the lines present (as it does once for a CA from before heads existed).
 */
import { createHash, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Certificate } from '../pki/certificate.js';
import * as der from '../pki/der.js';
import { MtlsCaError } from '../pki/errors.js';
import { publicKeyOf, type SigningKey, sign, signatureAlgorithmFor, verify } from '../pki/keys.js';
import { ioFailure } from './io-error.js';

/**
 * `settings`: a change of the CA's settings (settings.ts), with what it was set to. `rotate`: a new issuing CA
 * took over (the line names it); `retire`: a CA a rotation replaced left the trust files; `root-export` /
 * `root-import`: the root's key left the directory or came back; `move-key`: the CA key moved from its file
 * into a PKCS#11 token.
 */
export type AuditOperation =
  | 'init'
  | 'import'
  | 'issue'
  | 'sign'
  | 'revoke'
  | 'renew'
  | 'crl'
  | 'settings'
  | 'rotate'
  | 'retire'
  | 'root-export'
  | 'root-import'
  | 'move-key';

export interface AuditRecord {
  time: string;
  op: AuditOperation;
  subject?: string;
  /** The CA that issued the certificate the line is about, or that signed the CRL. */
  issuer?: string;
  serial?: string;
  fingerprint?: string;
  result: 'ok';
  /** Free-form details (profile, reason, CRL number). */
  detail?: Record<string, string | number | boolean>;
}

/** `prev` of the first line: there is nothing before it. */
export const GENESIS = '0'.repeat(64);

function lineHash(line: string): string {
  return createHash('sha256').update(line, 'utf8').digest('hex');
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw ioFailure('read', file, e);
  }
}

/** The last line of a file, read from its end (the log can grow large). */
function lastLine(file: string): string | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw ioFailure('read', file, e);
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

function lineCount(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return text.length > 0 && !text.endsWith('\n') ? n + 1 : n;
}

const SIG_SUFFIX = /,"sig":"([A-Za-z0-9_-]+)"}$/;

/** `body` (a JSON object) with the CA's signature over it as its last member. */
function signed(body: string, caKey: SigningKey): string {
  const sig = sign(caKey, Buffer.from(body, 'utf8')).toString('base64url');
  return `${body.slice(0, -1)},"sig":"${sig}"}`;
}

/** Whether a signed line's signature is the CA's; the OID of the CA's signature algorithm is `algorithm`. */
function signatureHolds(line: string, publicKey: KeyObject, algorithm: string): boolean {
  const sig = SIG_SUFFIX.exec(line);
  if (!sig) return false;
  const body = `${line.slice(0, sig.index)}}`;
  return verify(publicKey, algorithm, Buffer.from(body, 'utf8'), Buffer.from(sig[1]!, 'base64url'));
}

function algorithmOf(publicKey: KeyObject): string {
  return der.readOid(der.decode(signatureAlgorithmFor(publicKey)).children[0]!);
}

interface AuditHead {
  lines: number;
  last: string;
}

/**
 * The head record of the head's text if its signature is a CA's; `missing` (no text), or `invalid` when
 * garbled or forged.
 * @param signed - whether a CA key signed the head's text
 */
function parseHead(
  headText: string | undefined,
  signed: (text: string) => boolean,
): AuditHead | 'missing' | 'invalid' {
  const text = headText?.trimEnd();
  if (text === undefined) return 'missing';
  try {
    const head = JSON.parse(text) as AuditHead;
    if (!Number.isSafeInteger(head.lines) || typeof head.last !== 'string') return 'invalid';
    return signed(text) ? head : 'invalid';
  } catch {
    return 'invalid';
  }
}

/** Where the next lines go: the hash they chain to, and the count of lines before them. */
export interface AuditTail {
  prev: string;
  lines: number;
}

/**
 * The tail a writer extends: the hash of the log's last line, and the count of the valid head — or, when there
 * is none, of the log itself (a one-off full read).
 * @param caKey - the CA private key (its public half checks the head)
 * @param formerCas - the CAs that may have signed the head before `caKey`'s CA (a rotation replaced them);
 *   asked for only when the head is not signed by `caKey`
 */
export function auditTail(
  logFile: string,
  headFile: string,
  caKey: SigningKey,
  formerCas: () => readonly Certificate[] = () => [],
): AuditTail {
  const last = lastLine(logFile);
  return auditTailOf(last, readText(headFile), () => lineCount(readText(logFile) ?? ''), caKey, formerCas);
}

/**
 * {@link auditTail} of a log kept elsewhere (a database): its last line, its head's text, and its line count
 * (asked for only when the head is missing or not the CA's).
 * @param caKey - the CA private key (its public half checks the head)
 * @param formerCas - as for {@link auditTail}
 */
export function auditTailOf(
  last: string | undefined,
  headText: string | undefined,
  count: () => number,
  caKey: SigningKey,
  formerCas: () => readonly Certificate[] = () => [],
): AuditTail {
  const publicKey = publicKeyOf(caKey);
  const algorithm = algorithmOf(publicKey);
  const head = parseHead(
    headText,
    (text) => signatureHolds(text, publicKey, algorithm) || new Signers(formerCas()).signed(text),
  );
  const lines = typeof head === 'object' ? head.lines : count();
  return { prev: last === undefined ? GENESIS : lineHash(last), lines };
}

/**
 * The lines to append for `records` after `tail`, and the new head; both signed by the CA key.
 * @param caKey - the CA private key, or its token's signer (every audited operation has it loaded)
 */
export function encodeAudit(
  tail: AuditTail,
  records: AuditRecord[],
  caKey: SigningKey,
): { lines: string; head: string; tail: AuditTail } {
  let prev = tail.prev;
  let out = '';
  for (const r of records) {
    const line = signed(JSON.stringify({ ...r, prev }), caKey);
    out += `${line}\n`;
    prev = lineHash(line);
  }
  const next = { prev, lines: tail.lines + records.length };
  const head = signed(JSON.stringify({ lines: next.lines, last: next.prev }), caKey);
  return { lines: out, head: `${head}\n`, tail: next };
}

export interface AuditVerification {
  ok: boolean;
  lines: number;
  /** 1-based number of the first line that is wrong (or missing). */
  firstBadLine?: number;
  /**
   * What is wrong, worded to follow "line N" (`is not valid JSON`, `does not start the chain`), or said of
   * the log when there is no line to name (`has no head …`).
   */
  reason?: string;
  /** The head is missing: lines removed from the end cannot be told. */
  headMissing?: boolean;
}

/** Public keys that may have signed lines, each with its signature algorithm; the last one that did is tried first. */
class Signers {
  readonly #keys: { key: KeyObject; algorithm: string }[];
  constructor(cas: readonly Certificate[]) {
    this.#keys = cas.map((ca) => ({ key: ca.publicKey, algorithm: algorithmOf(ca.publicKey) }));
  }

  /** Whether one of the keys signed the line (or head); that key moves to the front. */
  signed(line: string): boolean {
    const i = this.#keys.findIndex((k) => signatureHolds(line, k.key, k.algorithm));
    if (i > 0) this.#keys.unshift(...this.#keys.splice(i, 1));
    return i >= 0;
  }
}

/**
 * Checks the chain, every line's signature, and the log's end against its head.
 * @param file - ca/audit.log
 * @param headFile - ca/audit.head
 * @param cas - the CA certificates whose keys may have signed lines and the head: the issuing CA, and the CAs
 *   it replaced (each signed the lines of its day)
 */
export function verifyAuditLog(
  file: string,
  headFile: string,
  cas: Certificate | readonly Certificate[],
): AuditVerification {
  const text = readText(file);
  if (text === undefined) {
    throw new MtlsCaError(
      'NOT_FOUND',
      `read ${file}: no audit log`,
      'it is written by every CA operation since init',
    );
  }
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return verifyAuditLines(lines, readText(headFile), path.basename(headFile), cas);
}

/**
 * {@link verifyAuditLog} of lines however they are kept (a database keeps one per row).
 * @param lines - the log's lines in order, without their newlines
 * @param headText - the signed head's text; undefined when there is none
 * @param name - what the head is called in the reasons (`audit.head`)
 * @param cas - the CA certificates whose keys may have signed lines and the head
 */
export function verifyAuditLines(
  lines: string[],
  headText: string | undefined,
  name: string,
  cas: Certificate | readonly Certificate[],
): AuditVerification {
  const signers = new Signers(Array.isArray(cas) ? cas : [cas as Certificate]);
  const bad = (i: number, reason: string) => ({
    ok: false,
    lines: lines.length,
    firstBadLine: i + 1,
    reason,
  });
  let prev = GENESIS;
  for (const [i, line] of lines.entries()) {
    let record: { prev?: unknown };
    try {
      record = JSON.parse(line) as { prev?: unknown };
    } catch {
      return bad(i, 'is not valid JSON');
    }
    if (!signers.signed(line)) return bad(i, 'carries no valid CA signature (edited)');
    if (record.prev !== prev) {
      return bad(
        i,
        i === 0
          ? 'does not start the chain'
          : 'does not match the hash of the line before (edited, inserted or removed)',
      );
    }
    prev = lineHash(line);
  }
  const head = parseHead(headText, (text) => signers.signed(text));
  if (head === 'missing') {
    return {
      ok: false,
      lines: lines.length,
      reason: `has no head (${name}): lines removed from its end could not be told`,
      headMissing: true,
    };
  }
  if (head === 'invalid') {
    return {
      ok: false,
      lines: lines.length,
      reason: `has a head (${name}) that carries no valid CA signature (edited)`,
    };
  }
  if (head.lines > lines.length) {
    return bad(
      lines.length,
      `is missing: ${name} counts ${head.lines} lines, the log ends after ${lines.length} (lines removed from its end)`,
    );
  }
  if (head.lines < lines.length) return bad(head.lines, `is not counted by ${name} (added after it)`);
  if (head.last !== prev) {
    return bad(lines.length - 1, `is not the last line ${name} records (the log was replaced)`);
  }
  return { ok: true, lines: lines.length };
}

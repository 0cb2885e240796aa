/**
 * `ca/inventory.idx`: what `list` shows of inventory.jsonl, one short ASCII line per event, appended in the
 * same transaction as the log: reading 100,000 certificates from it takes a fraction of parsing 47 MB of
 * JSON (docs/performance.md, "The list index"). The JSON log stays the source of truth; the index is used
 * only while it is provably in step:
 *
 * ```
 * # mtls-ca inventory index v2 ...        header (exactly {@link INDEX_HEADER})
 * i␉serial␉profile␉notBefore␉notAfter␉name␉keyType␉fingerprint␉subject␉issuer (issuer empty: unknown)
 * r␉serial␉at␉reason                      a revoke event
 * s␉serial␉at␉by                          a supersede event
 * !                                       the log holds something the index cannot express: use the log
 * =␉47185920                              end of one append: inventory.jsonl is 47,185,920 bytes here
 * ```
 *
 * Fields are escaped (`\\`, `\t`, `\n`, `\r`, and `\uXXXX` for every other control or non-ASCII UTF-16 code
 * unit) so a tab or newline in a subject cannot break a line and the file decodes as Latin-1. The index is in
 * step when its last line is `=` with the current byte length of inventory.jsonl and it was modified no earlier
 * than the log (a hand edit of the log that keeps its length still shows as a newer log). Otherwise — missing,
 * written by an older version, edited, or unreadable — readers use the log, and the next write transaction
 * rebuilds the index from the folded log.
 *
 * This module writes the index and decides whether it is in step; inventory-index-reader.ts reads it.
 */
import fs from 'node:fs';
import type { InventoryEntry, InventoryEvent, IssueEvent } from './inventory.js';
import { encodeEvents } from './inventory.js';

/** The first line of inventory.idx; a different one (another version) means "not usable". */
export const INDEX_HEADER =
  '# mtls-ca inventory index v2: derived from inventory.jsonl; safe to delete, the next write rebuilds it';

const UNSAFE = /[\\\u0000-\u001f\u007f-\uffff]/;
const UNSAFE_ALL = new RegExp(UNSAFE.source, 'g');

/** Escapes one field (see the file comment); undefined when the value is not a string. */
export function escapeField(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  if (!UNSAFE.test(value)) return value;
  return value.replace(UNSAFE_ALL, (c) => {
    if (c === '\\') return '\\\\';
    if (c === '\t') return '\\t';
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}

/** `op␉f1␉f2…\n`, or the "use the log" line when a value is not a string (a hand-edited log). */
function line(op: string, values: unknown[]): string {
  let text = op;
  for (const v of values) {
    const f = escapeField(v);
    if (f === undefined) return '!\n';
    text += `\t${f}`;
  }
  return `${text}\n`;
}

/** What `list` filters and sorts on comes first, so that {@link InventoryRecords.keys} decodes only that. */
function issueLine(e: Omit<IssueEvent, 'op'>): string {
  return line('i', [
    e.serial,
    e.profile,
    e.notBefore,
    e.notAfter,
    e.name,
    e.keyType,
    e.fingerprint,
    e.subject,
    // Empty for a line written before the field existed (readInventory fills it in, an append has it).
    e.issuer ?? '',
  ]);
}

function eventLine(e: InventoryEvent): string {
  switch (e.op) {
    case 'issue':
      return issueLine(e);
    case 'revoke':
      return line('r', [e.serial, e.at, e.reason]);
    case 'supersede':
      return line('s', [e.serial, e.at, e.by]);
    default:
      return ''; // an op the fold ignores changes nothing `list` shows
  }
}

/** The line that ends one append: the log is `inventoryBytes` long once it is applied. */
export function trailer(inventoryBytes: number): string {
  return `=\t${inventoryBytes}\n`;
}

/** What one append adds to inventory.jsonl and to inventory.idx. */
export interface InventoryAppend {
  /** The JSON lines for inventory.jsonl. */
  jsonl: string;
  /** The index lines, ending with the trailer that records `inventoryBytes`. */
  index: string;
  /** The byte length of inventory.jsonl after the append. */
  inventoryBytes: number;
}

/**
 * Encodes one batch of events for both files: the one encoder every writer uses (and the scale benchmark,
 * which builds a 100,000-certificate inventory one issuance at a time).
 * @param events - the batch, in order
 * @param inventoryBytes - the byte length of inventory.jsonl before the batch
 */
export function encodeInventoryAppend(events: InventoryEvent[], inventoryBytes: number): InventoryAppend {
  const jsonl = encodeEvents(events);
  const after = inventoryBytes + Buffer.byteLength(jsonl);
  return { jsonl, index: events.map(eventLine).join('') + trailer(after), inventoryBytes: after };
}

/**
 * A whole index for a folded log: the header, each entry with its current revoke/supersede state, and the
 * trailer. Writing the fold rather than the events keeps serials unique in the index, as in the fold.
 * @param entries - {@link readInventory} of the log, or undefined when the log cannot be read
 * @param inventoryBytes - the byte length of inventory.jsonl the entries come from
 */
export function encodeInventoryIndex(entries: InventoryEntry[] | undefined, inventoryBytes: number): string {
  const lines = [`${INDEX_HEADER}\n`];
  if (entries === undefined) lines.push('!\n');
  else {
    for (const e of entries) {
      lines.push(issueLine(e));
      if (e.revokedAt !== undefined || e.revocationReason !== undefined)
        lines.push(line('r', [e.serial, e.revokedAt, e.revocationReason]));
      if (e.supersededAt !== undefined || e.supersededBy !== undefined)
        lines.push(line('s', [e.serial, e.supersededAt, e.supersededBy]));
    }
  }
  lines.push(trailer(inventoryBytes));
  return lines.join('');
}

export interface FileState {
  size: number;
  mtimeNs: bigint;
}

export function stateOf(file: string): FileState | undefined {
  try {
    const st = fs.statSync(file, { bigint: true });
    return { size: Number(st.size), mtimeNs: st.mtimeNs };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** The in-step rule: the trailer names the log's length, and the log was not modified after the index. */
function inStep(index: FileState, covered: number | undefined, log: FileState | undefined): boolean {
  return covered === (log?.size ?? 0) && (log === undefined || log.mtimeNs <= index.mtimeNs);
}

/** The count of a trailer line `=␉<digits>` (without its newline), else undefined. */
function trailerCount(lastLine: string): number | undefined {
  const m = /^=\t(\d{1,15})$/.exec(lastLine);
  return m ? Number(m[1]) : undefined;
}

/**
 * Whether the open index `fd` is in step with the log: its header, then its last line (a trailer with the log's
 * length) and modification time. Two short reads; the lines in between are not looked at.
 * @param header - the first line the index must have: {@link INDEX_HEADER}, or the name index's (name-index.ts)
 */
export function indexInStep(
  fd: number,
  log: FileState | undefined,
  header: string = INDEX_HEADER,
): { inStep: boolean; size: number } {
  const st = fs.fstatSync(fd, { bigint: true });
  const index = { size: Number(st.size), mtimeNs: st.mtimeNs };
  const head = Buffer.alloc(Math.min(index.size, header.length + 1));
  fs.readSync(fd, head, 0, head.length, 0);
  // The header precedes any trailer, so these bytes hold the newline before a trailer (at most 18 bytes).
  const tail = Buffer.alloc(Math.min(index.size, 64));
  fs.readSync(fd, tail, 0, tail.length, index.size - tail.length);
  const end = tail.toString('latin1');
  const ok =
    head.toString('latin1') === `${header}\n` &&
    end.endsWith('\n') &&
    inStep(index, trailerCount(end.slice(end.lastIndexOf('\n', end.length - 2) + 1, -1)), log);
  return { inStep: ok, size: index.size };
}

/**
 * Whether inventory.idx is in step with inventory.jsonl, from a stat of each and two short reads: what a write
 * transaction checks before appending.
 * @param header - the index's first line: {@link INDEX_HEADER}, or the name index's for inventory.names
 * @returns the log's byte length, and whether the index covers exactly that
 */
export function inventoryIndexState(
  indexFile: string,
  inventoryFile: string,
  header: string = INDEX_HEADER,
): { inventoryBytes: number; inStep: boolean } {
  const log = stateOf(inventoryFile);
  const inventoryBytes = log?.size ?? 0;
  let fd: number;
  try {
    fd = fs.openSync(indexFile, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { inventoryBytes, inStep: false };
    throw e;
  }
  try {
    return { inventoryBytes, inStep: indexInStep(fd, log, header).inStep };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The inventory of everything the CA issued: `ca/inventory.jsonl`, append-only JSON lines. An `issue` line
 * records a certificate; later `revoke` / `supersede` lines change its status. Appending (never rewriting)
 * keeps issuance O(1) however large the inventory grows; a crash mid-append is finished or undone by the next
 * command (commit.ts).
 *
 * Beside it, `ca/inventory.idx` holds what `list` shows, one short ASCII line per event, appended in the same
 * transaction: reading 100,000 certificates from it takes a fraction of parsing 47 MB of JSON (the scale
 * benchmark, bench/README.md). The JSON log stays the source of truth; the index is used only while it is
 * provably in step:
 *
 * ```
 * # mtls-ca inventory index v1 ...        header (exactly {@link INDEX_HEADER})
 * i␉serial␉profile␉notBefore␉notAfter␉name␉keyType␉fingerprint␉subject
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
 */
import fs from 'node:fs';
import { MtlsCaError } from '../pki/errors.js';

export type CertificateProfile = 'ca' | 'server' | 'client';

export interface IssueEvent {
  op: 'issue';
  serial: string;
  name: string;
  profile: CertificateProfile;
  subject: string;
  keyType: string;
  notBefore: string;
  notAfter: string;
  fingerprint: string;
  issuedAt: string;
  /** Files written for it, relative to the CA directory. */
  files: string[];
}
export interface RevokeEvent {
  op: 'revoke';
  serial: string;
  at: string;
  reason: string;
}
export interface SupersedeEvent {
  op: 'supersede';
  serial: string;
  at: string;
  by: string;
}
export type InventoryEvent = IssueEvent | RevokeEvent | SupersedeEvent;

export type CertificateStatus = 'valid' | 'expired' | 'revoked' | 'superseded';

export interface InventoryEntry extends Omit<IssueEvent, 'op'> {
  revokedAt?: string;
  revocationReason?: string;
  supersededAt?: string;
  supersededBy?: string;
}

/** What the index keeps of an entry: what `list` shows and what decides its status. */
export type InventoryRecord = Pick<
  InventoryEntry,
  | 'serial'
  | 'name'
  | 'profile'
  | 'subject'
  | 'keyType'
  | 'notBefore'
  | 'notAfter'
  | 'fingerprint'
  | 'revokedAt'
  | 'revocationReason'
  | 'supersededAt'
  | 'supersededBy'
>;

/** What `list` filters and sorts a record on, computed once (see {@link keysOf}). */
export interface InventoryKeys {
  profile: string;
  /** `new Date(notAfter).getTime()`: NaN when it is not a date. */
  notAfterMs: number;
  /**
   * notBefore as two integers, YYYYMMDD and HHMMSSmmm, when it has the toISOString form: then comparing them
   * orders exactly as comparing the strings (and as `localeCompare`, which list used to call). -1 otherwise.
   */
  notBeforeDay: number;
  notBeforeTime: number;
  revoked: boolean;
  superseded: boolean;
}

/** The folded inventory by position, in the order {@link readInventory} returns it. */
export interface InventoryRecords {
  readonly size: number;
  /**
   * The record at `i` (0 ≤ i < size). From the index it is read and decoded on each call, so that 100,000
   * records never sit in memory (the index checked every line when it was opened).
   */
  record(i: number): InventoryRecord;
  /** What `list` filters and sorts the record at `i` on: from the index, computed while it was read. */
  keys(i: number): InventoryKeys;
  /** Releases the open index file, if any; `record` must not be called after. */
  close(): void;
}

/** A malformed line in inventory.idx: the reader falls back to the JSON log. */
class InventoryIndexError extends Error {}

/** The first line of inventory.idx; a different one (another version) means "not usable". */
export const INDEX_HEADER =
  '# mtls-ca inventory index v1: derived from inventory.jsonl; safe to delete, the next write rebuilds it';

export function encodeEvents(events: InventoryEvent[]): string {
  return events.map((e) => `${JSON.stringify(e)}\n`).join('');
}

/** Reads and folds the inventory; a missing file is an empty inventory. */
export function readInventory(file: string): InventoryEntry[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const bySerial = new Map<string, InventoryEntry>();
  let lineNo = 0;
  for (const line of text.split('\n')) {
    lineNo++;
    if (!line) continue;
    let e: InventoryEvent;
    try {
      e = JSON.parse(line) as InventoryEvent;
    } catch {
      throw new MtlsCaError(
        'PARSE_FAILED',
        `read ${file}: line ${lineNo} is not valid JSON`,
        'restore the file from a backup; every line is one JSON record',
      );
    }
    if (e.op === 'issue') {
      // The parsed record itself (its `op` included), not a copy: 100,000 spreads cost ~200 ms.
      bySerial.set(e.serial, e as unknown as InventoryEntry);
    } else {
      const entry = bySerial.get(e.serial);
      if (!entry) continue;
      if (e.op === 'revoke') {
        entry.revokedAt = e.at;
        entry.revocationReason = e.reason;
      } else if (e.op === 'supersede') {
        entry.supersededAt = e.at;
        entry.supersededBy = e.by;
      }
    }
  }
  return [...bySerial.values()];
}

/** Revoked beats superseded beats expired. */
export function statusOf(entry: InventoryEntry, now: Date = new Date()): CertificateStatus {
  if (entry.revokedAt) return 'revoked';
  if (entry.supersededAt) return 'superseded';
  if (new Date(entry.notAfter) < now) return 'expired';
  return 'valid';
}

/** `YYYY-MM-DDTHH:MM:SS.sssZ`, the only form our writers produce (toISOString). */
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

function digits(s: string, from: number, to: number): number {
  let n = 0;
  for (let k = from; k < to; k++) n = n * 10 + s.charCodeAt(k) - 48;
  return n;
}

/** {@link InventoryKeys.notBeforeDay}. */
function isoDay(s: unknown): number {
  return typeof s === 'string' && ISO.test(s)
    ? digits(s, 0, 4) * 10_000 + digits(s, 5, 7) * 100 + digits(s, 8, 10)
    : -1;
}

/** {@link InventoryKeys.notBeforeTime}, for a string {@link isoDay} accepted. */
function isoTime(s: string): number {
  return (
    digits(s, 11, 13) * 10_000_000 +
    digits(s, 14, 16) * 100_000 +
    digits(s, 17, 19) * 1000 +
    digits(s, 20, 23)
  );
}

/** `new Date(value).getTime()` without the Date object for a string. */
function timeOf(value: unknown): number {
  return typeof value === 'string' ? Date.parse(value) : new Date(value as string).getTime();
}

/** The keys of a record. */
export function keysOf(r: InventoryRecord): InventoryKeys {
  const day = isoDay(r.notBefore);
  return {
    profile: r.profile,
    notAfterMs: timeOf(r.notAfter),
    notBeforeDay: day,
    notBeforeTime: day < 0 ? -1 : isoTime(r.notBefore),
    revoked: Boolean(r.revokedAt),
    superseded: Boolean(r.supersededAt),
  };
}

/** Folded entries as {@link InventoryRecords} (the JSON path). */
export function recordsOf(entries: InventoryEntry[]): InventoryRecords {
  return {
    size: entries.length,
    record: (i) => entries[i]!,
    keys: (i) => keysOf(entries[i]!),
    close: () => {},
  };
}

// ---------------------------------------------------------------------------------------------------------
// the index: writing

const UNSAFE = /[\\\u0000-\u001f\u007f-\uffff]/;
const UNSAFE_ALL = new RegExp(UNSAFE.source, 'g');

/** Escapes one field (see the file comment); undefined when the value is not a string. */
function field(value: unknown): string | undefined {
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
    const f = field(v);
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

function trailer(inventoryBytes: number): string {
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

interface FileState {
  size: number;
  mtimeNs: bigint;
}

function stateOf(file: string): FileState | undefined {
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
 */
function indexInStep(fd: number, log: FileState | undefined): { inStep: boolean; size: number } {
  const st = fs.fstatSync(fd, { bigint: true });
  const index = { size: Number(st.size), mtimeNs: st.mtimeNs };
  const head = Buffer.alloc(Math.min(index.size, INDEX_HEADER.length + 1));
  fs.readSync(fd, head, 0, head.length, 0);
  // The header precedes any trailer, so these bytes hold the newline before a trailer (at most 18 bytes).
  const tail = Buffer.alloc(Math.min(index.size, 64));
  fs.readSync(fd, tail, 0, tail.length, index.size - tail.length);
  const end = tail.toString('latin1');
  const ok =
    head.toString('latin1') === `${INDEX_HEADER}\n` &&
    end.endsWith('\n') &&
    inStep(index, trailerCount(end.slice(end.lastIndexOf('\n', end.length - 2) + 1, -1)), log);
  return { inStep: ok, size: index.size };
}

/**
 * Whether inventory.idx is in step with inventory.jsonl, from a stat of each and two short reads: what a write
 * transaction checks before appending.
 * @returns the log's byte length, and whether the index covers exactly that
 */
export function inventoryIndexState(
  indexFile: string,
  inventoryFile: string,
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
    return { inventoryBytes, inStep: indexInStep(fd, log).inStep };
  } finally {
    fs.closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------------------
// the index: reading

/**
 * The index is read through a window of this many bytes, decoded to a short-lived string: keeping 23 MB of
 * index in memory would cost more than reading it twice, since first-touching fresh memory is slow (≈ 5 ms
 * per MB in our VMs) while a 64 KB string is young-generation garbage the next window reuses. Larger windows
 * (over V8's 128 KB regular-object limit) are much slower for the same reason.
 */
const WINDOW = 1 << 16;
/** Extra bytes read past a window, so a line that starts in it ends in it. */
const SLACK = 1 << 12;
const TAB = 9;
const NL = 10;
const OP_ISSUE = 0x69; // i
const OP_REVOKE = 0x72; // r
const OP_SUPERSEDE = 0x73; // s
const OP_TRAILER = 0x3d; // =

function unescapeField(text: string): string {
  return text.replace(/\\(u[0-9a-f]{4}|[\s\S]?)/g, (_, e: string) => {
    if (e === '\\') return '\\';
    if (e === 't') return '\t';
    if (e === 'n') return '\n';
    if (e === 'r') return '\r';
    if (e.length === 5) return String.fromCharCode(Number.parseInt(e.slice(1), 16));
    throw new InventoryIndexError(`bad escape \\${e}`);
  });
}

/** The tab-separated fields of the line at `start` (after its op and tab), unescaped; `count` expected. */
function fieldsAt(text: string, start: number, count: number): string[] {
  const body = text.slice(start + 2, text.indexOf('\n', start));
  const fields = body.split('\t');
  if (fields.length !== count) throw new InventoryIndexError(`expected ${count} fields: ${body}`);
  if (body.includes('\\')) for (let k = 0; k < count; k++) fields[k] = unescapeField(fields[k]!);
  return fields;
}

/** The serial of the line at `start`: its first field as written (compared only with other written serials). */
function serialAt(text: string, start: number): string {
  return text.slice(start + 2, text.indexOf('\t', start + 2));
}

interface Marks {
  revokedAt?: string;
  revocationReason?: string;
  supersededAt?: string;
  supersededBy?: string;
}

/** Reads lines of the open index by byte offset through one {@link WINDOW}-sized window. */
class IndexFile {
  readonly #buffer: Buffer;
  #start = -1;
  #text = '';

  constructor(
    readonly fd: number,
    readonly size: number,
  ) {
    this.#buffer = Buffer.allocUnsafe(Math.min(size, WINDOW + SLACK));
  }

  /** The decoded window holding the whole line at byte `offset`, and the line's position in it. */
  lineAt(offset: number): [text: string, start: number] {
    let local = offset - this.#start;
    if (this.#start < 0 || local < 0 || local >= this.#text.length || this.#text.indexOf('\n', local) < 0) {
      // Aligned windows serve a run of lines in either direction (list prints newest first).
      this.#load(offset - (offset % WINDOW));
      local = offset - this.#start;
      if (this.#text.indexOf('\n', local) < 0) {
        this.#load(offset);
        local = 0;
        if (this.#text.indexOf('\n') < 0) throw new InventoryIndexError(`no line end after byte ${offset}`);
      }
    }
    return [this.#text, local];
  }

  #load(start: number): void {
    const n = fs.readSync(this.fd, this.#buffer, 0, Math.min(this.#buffer.length, this.size - start), start);
    this.#start = start;
    this.#text = this.#buffer.toString('latin1', 0, n);
  }

  /** Calls `line(text, start, offset)` for every line, in order, by whole lines; false if a line has no end. */
  forEachLine(line: (text: string, start: number, offset: number) => boolean): boolean {
    let position = 0;
    while (position < this.size) {
      const n = fs.readSync(this.fd, this.#buffer, 0, Math.min(WINDOW, this.size - position), position);
      const end = this.#buffer.lastIndexOf(NL, n - 1);
      if (n <= 0 || end < 0) return false; // truncated while read, or a line longer than a window
      const text = this.#buffer.toString('latin1', 0, end + 1);
      for (let start = 0; start < text.length; start = text.indexOf('\n', start) + 1) {
        if (!line(text, start, position + start)) return false;
      }
      position += end + 1;
    }
    this.#start = -1;
    return true;
  }
}

/** Growable columns of numbers, over-allocated once: untouched capacity costs no memory. */
class Column<T extends Int32Array | Float64Array> {
  constructor(public values: T) {}
  push(i: number, v: number): void {
    if (i === this.values.length) {
      const bigger = new (this.values.constructor as new (n: number) => T)(i * 2);
      bigger.set(this.values);
      this.values = bigger;
    }
    this.values[i] = v;
  }
}

class IndexedInventory implements InventoryRecords {
  constructor(
    private readonly file: IndexFile,
    private readonly rows: Float64Array,
    readonly size: number,
    private readonly profiles: string[],
    private readonly profile: Int32Array,
    private readonly notAfterMs: Float64Array,
    private readonly notBeforeDay: Int32Array,
    private readonly notBeforeTime: Int32Array,
    private readonly marks: Map<number, Marks>,
  ) {}

  record(i: number): InventoryRecord {
    const [text, start] = this.file.lineAt(this.rows[i]!);
    const f = fieldsAt(text, start, 8);
    const m = this.marks.get(i);
    return {
      serial: f[0]!,
      profile: f[1] as CertificateProfile,
      notBefore: f[2]!,
      notAfter: f[3]!,
      name: f[4]!,
      keyType: f[5]!,
      fingerprint: f[6]!,
      subject: f[7]!,
      revokedAt: m?.revokedAt,
      revocationReason: m?.revocationReason,
      supersededAt: m?.supersededAt,
      supersededBy: m?.supersededBy,
    };
  }

  keys(i: number): InventoryKeys {
    const m = this.marks.get(i);
    return {
      profile: this.profiles[this.profile[i]!]!,
      notAfterMs: this.notAfterMs[i]!,
      notBeforeDay: this.notBeforeDay[i]!,
      notBeforeTime: this.notBeforeTime[i]!,
      revoked: Boolean(m?.revokedAt),
      superseded: Boolean(m?.supersededAt),
    };
  }

  close(): void {
    fs.closeSync(this.file.fd);
  }
}

/** FNV-1a of the serial field of the issue line at `start` (up to its tab): to find event serials in one pass. */
function serialHash(text: string, start: number): number {
  let h = 0x811c9dc5;
  for (let k = start + 2; ; k++) {
    const c = text.charCodeAt(k);
    if (c === TAB || c === NL || Number.isNaN(c)) return h;
    h = Math.imul(h ^ c, 0x01000193);
  }
}

/**
 * The folded inventory from inventory.idx, or undefined when the index is missing, out of step with
 * inventory.jsonl, marked "use the log" or malformed — then read the log with {@link readInventory}. Never
 * writes. Keeps the index open until {@link InventoryRecords.close} (so a writer replacing it meanwhile does
 * not matter) and reads records from it when asked: a malformed issue line is found by `record`.
 * @param indexFile - inventory.idx
 * @param inventoryFile - inventory.jsonl, whose length and modification time decide whether the index is in step
 */
export function readInventoryIndex(indexFile: string, inventoryFile: string): InventoryRecords | undefined {
  const log = stateOf(inventoryFile);
  let fd: number;
  try {
    fd = fs.openSync(indexFile, 'r');
  } catch {
    return undefined; // missing or unreadable: the log is the source of truth anyway
  }
  let records: InventoryRecords | undefined;
  try {
    records = scanIndex(fd, log);
  } catch {
    records = undefined;
  } finally {
    if (records === undefined) fs.closeSync(fd);
  }
  return records;
}

/**
 * The names of the certificates of `profile` for which `wanted(name)` holds, each as often as it was issued:
 * from inventory.idx when it is in step — one pass over its name fields, no record decoded, ≈ 40 ms for
 * 100,000 certificates — else from the log. What a command about to issue a new name compares it with.
 * @param wanted - called once per certificate of the profile; keep it cheap
 */
export function findInventoryNames(
  indexFile: string,
  inventoryFile: string,
  profile: CertificateProfile,
  wanted: (name: string) => boolean,
): string[] {
  return (
    scanNames(indexFile, inventoryFile, profile, wanted) ??
    readInventory(inventoryFile)
      .filter((e) => e.profile === profile && wanted(e.name))
      .map((e) => e.name)
  );
}

function scanNames(
  indexFile: string,
  inventoryFile: string,
  profile: CertificateProfile,
  wanted: (name: string) => boolean,
): string[] | undefined {
  let fd: number;
  try {
    fd = fs.openSync(indexFile, 'r');
  } catch {
    return undefined; // the log is the source of truth anyway
  }
  try {
    const state = indexInStep(fd, stateOf(inventoryFile));
    if (!state.inStep) return undefined;
    const found: string[] = [];
    const ok = new IndexFile(fd, state.size).forEachLine((text, start, offset) => {
      if (offset === 0) return true; // the header, checked by indexInStep
      const op = text.charCodeAt(start);
      if (text.charCodeAt(start + 1) !== TAB) return false; // `!` ("use the log"), an empty line, …
      if (op !== OP_ISSUE) return op === OP_REVOKE || op === OP_SUPERSEDE || op === OP_TRAILER;
      // i␉serial␉profile␉notBefore␉notAfter␉name␉…: the profile is field 2, the name field 5
      const afterSerial = text.indexOf('\t', start + 2);
      const afterProfile = text.indexOf('\t', afterSerial + 1);
      if (afterSerial < 0 || text.slice(afterSerial + 1, afterProfile) !== profile) return afterProfile > 0;
      const nameStart = text.indexOf('\t', text.indexOf('\t', afterProfile + 1) + 1) + 1;
      const nameEnd = text.indexOf('\t', nameStart);
      if (nameStart <= 0 || nameEnd < 0 || nameEnd > text.indexOf('\n', start)) return false;
      let name = text.slice(nameStart, nameEnd);
      if (name.includes('\\')) name = unescapeField(name);
      // a copy, not a slice that would keep the whole 64 KB window alive
      if (wanted(name)) found.push(Buffer.from(name, 'utf16le').toString('utf16le'));
      return true;
    });
    return ok ? found : undefined;
  } catch {
    return undefined; // a malformed line: the log decides
  } finally {
    fs.closeSync(fd);
  }
}

function scanIndex(fd: number, log: FileState | undefined): InventoryRecords | undefined {
  const state = indexInStep(fd, log);
  if (!state.inStep) return undefined;
  const file = new IndexFile(fd, state.size);

  // One pass: each issue line is checked, and where it is, its serial's hash and its keys are kept in columns;
  // events (rare) are decoded on the spot.
  const capacity = Math.ceil(state.size / 128) + 16;
  const rows = new Column(new Float64Array(capacity));
  const hashes = new Column(new Int32Array(capacity));
  const profile = new Column(new Int32Array(capacity));
  const notAfterMs = new Column(new Float64Array(capacity));
  const notBeforeDay = new Column(new Int32Array(capacity));
  const notBeforeTime = new Column(new Int32Array(capacity));
  const profiles: string[] = [];
  const profileCodes = new Map<string, number>();
  const tabAt = new Int32Array(8);
  let n = 0;
  const events = new Map<string, { at: number; op: number; when: string; detail: string }[]>();
  const ok = file.forEachLine((text, start, offset) => {
    if (offset === 0) return text.startsWith(`${INDEX_HEADER}\n`);
    const op = text.charCodeAt(start);
    if (text.charCodeAt(start + 1) !== TAB) return false; // `!`, an empty line, anything else
    if (op === OP_ISSUE) {
      const end = text.indexOf('\n', start);
      let tabs = 0;
      for (let t = start + 1; t >= 0 && t < end; t = text.indexOf('\t', t + 1)) {
        if (tabs === 8) return false; // a ninth field
        tabAt[tabs++] = t;
      }
      if (tabs !== 8) return false;
      let p = text.slice(tabAt[1]! + 1, tabAt[2]);
      let nb = text.slice(tabAt[2]! + 1, tabAt[3]);
      let na = text.slice(tabAt[3]! + 1, tabAt[4]);
      if (text.slice(start, end).includes('\\')) {
        const f = fieldsAt(text, start, 8); // checks every escape, so record() cannot fail later
        p = f[1]!;
        nb = f[2]!;
        na = f[3]!;
      }
      let code = profileCodes.get(p);
      if (code === undefined) {
        code = profiles.push(Buffer.from(p, 'latin1').toString('latin1')) - 1; // not a slice of the window
        profileCodes.set(profiles[code]!, code);
      }
      const day = isoDay(nb);
      rows.push(n, offset);
      hashes.push(n, serialHash(text, start));
      profile.push(n, code);
      notAfterMs.push(n, Date.parse(na));
      notBeforeDay.push(n, day);
      notBeforeTime.push(n, day < 0 ? -1 : isoTime(nb));
      n++;
    } else if (op === OP_REVOKE || op === OP_SUPERSEDE) {
      // A copy of the line: substrings of the window would keep all 64 KB of it alive, and with an event
      // every few windows, the whole index (which is then copied into the old generation: 4x slower).
      const own = Buffer.from(text.slice(start, text.indexOf('\n', start) + 1), 'latin1').toString('latin1');
      const [when, detail] = fieldsAt(own, 0, 3).slice(1) as [string, string];
      const event = { at: offset, op, when, detail };
      const serial = serialAt(own, 0); // as written, as it is compared with issue lines
      const list = events.get(serial);
      if (list) list.push(event);
      else events.set(serial, [event]);
    } else if (op !== OP_TRAILER) return false;
    return true;
  });
  if (!ok) return undefined;

  // As in the fold, an event changes the entry issued before it. Serials of issue lines are unique: the
  // rebuild writes the fold, and new certificates get random 127-bit serials.
  const marks = new Map<number, Marks>();
  if (events.size > 0) {
    const wanted = new Set<number>();
    for (const serial of events.keys()) wanted.add(serialHash(`i\t${serial}\t`, 0));
    for (let i = 0; i < n; i++) {
      if (!wanted.has(hashes.values[i]!)) continue;
      const at = rows.values[i]!;
      const [text, start] = file.lineAt(at);
      const later = events.get(serialAt(text, start));
      if (!later) continue; // another serial with the same hash
      const m: Marks = {};
      for (const e of later) {
        if (e.at < at) continue;
        if (e.op === OP_REVOKE) {
          m.revokedAt = e.when;
          m.revocationReason = e.detail;
        } else {
          m.supersededAt = e.when;
          m.supersededBy = e.detail;
        }
      }
      marks.set(i, m);
    }
  }
  return new IndexedInventory(
    file,
    rows.values,
    n,
    profiles,
    profile.values,
    notAfterMs.values,
    notBeforeDay.values,
    notBeforeTime.values,
    marks,
  );
}

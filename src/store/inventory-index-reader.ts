/**
 * Reads ca/inventory.idx (its format: inventory-index.ts) without holding it in memory: {@link
 * readInventoryIndex} for `list`, which decodes each record when it is shown, and {@link findNamesLike}
 * for the look-alike check of a new name when the name index (name-index.ts) is not in step, which reads
 * only the name fields. Both check first that the index is in step with the log, and answer undefined (use
 * the log) for anything unexpected in it.
 */
import fs from 'node:fs';
import { nameKey } from '../pki/names.js';
import {
  type CertificateProfile,
  type InventoryKeys,
  type InventoryRecord,
  type InventoryRecords,
  isoDay,
  isoTime,
  namesLike,
  readInventory,
} from './inventory.js';
import { type FileState, INDEX_HEADER, indexInStep, stateOf } from './inventory-index.js';

/** A malformed line in inventory.idx: the reader falls back to the JSON log. */
class InventoryIndexError extends Error {}

/**
 * The index is read through a window of this many bytes, decoded to a short-lived string: keeping 23 MB of
 * index in memory would cost more than reading it twice, since first-touching fresh memory is slow, while a
 * 64 KB string is young-generation garbage the next window reuses. Larger windows (over V8's 128 KB
 * regular-object limit) are much slower for the same reason (docs/performance.md, "The list index").
 */
const WINDOW = 1 << 16;
/** Extra bytes read past a window, so a line that starts in it ends in it. */
const SLACK = 1 << 12;
const TAB = 9;
const NL = 10;
const BACKSLASH = 0x5c;
const OP_ISSUE = 0x69; // i
const OP_REVOKE = 0x72; // r
const OP_SUPERSEDE = 0x73; // s
const OP_TRAILER = 0x3d; // =
/** The fields of an issue line (inventory-index.ts). */
const ISSUE_FIELDS = 9;

/** Undoes the escaping of inventory-index.ts; throws on an escape it never writes (a damaged index). */
export function unescapeField(text: string): string {
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
    const f = fieldsAt(text, start, ISSUE_FIELDS);
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
      issuer: f[8] || undefined,
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
 * The names of the certificates of `profile` that read like one of `keys` (their {@link nameKey} is one of
 * them), each as often as it was issued: from inventory.idx when it is in step — one pass over its name
 * fields, no record decoded — else from the log. What a command about to issue a new name compares it with.
 * @param keys - the {@link nameKey}s of the names about to be issued
 */
export function findNamesLike(
  indexFile: string,
  inventoryFile: string,
  profile: CertificateProfile,
  keys: ReadonlySet<string>,
): string[] {
  if (keys.size === 0) return [];
  return (
    scanNames(indexFile, inventoryFile, profile, keys) ??
    namesLike(readInventory(inventoryFile), profile, keys)
  );
}

function scanNames(
  indexFile: string,
  inventoryFile: string,
  profile: CertificateProfile,
  keys: ReadonlySet<string>,
): string[] | undefined {
  // A name written without an escape is printable ASCII, whose nameKey is its lower case, as long as it is:
  // only one as long as a key can match, so nearly every line is passed over without a string made of it.
  // Still a pass over the whole index: what the name index spares the look-alike check while it is in step.
  const lengths = new Set([...keys].map((k) => k.length));
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
      if (afterSerial < 0 || afterProfile < 0) return false;
      if (afterProfile - afterSerial - 1 !== profile.length || !text.startsWith(profile, afterSerial + 1))
        return true;
      const nameStart = text.indexOf('\t', text.indexOf('\t', afterProfile + 1) + 1) + 1;
      const nameEnd = text.indexOf('\t', nameStart);
      if (nameStart <= 0 || nameEnd < 0 || nameEnd > text.indexOf('\n', start)) return false;
      let escaped = false;
      for (let k = nameStart; k < nameEnd && !escaped; k++) escaped = text.charCodeAt(k) === BACKSLASH;
      if (!escaped && !lengths.has(nameEnd - nameStart)) return true;
      const written = text.slice(nameStart, nameEnd);
      const name = escaped ? unescapeField(written) : written;
      if (!keys.has(escaped ? nameKey(name) : name.toLowerCase())) return true;
      // a copy, not a slice that would keep the whole 64 KB window alive
      found.push(Buffer.from(name, 'utf16le').toString('utf16le'));
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
  const tabAt = new Int32Array(ISSUE_FIELDS);
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
        if (tabs === ISSUE_FIELDS) return false; // a field too many
        tabAt[tabs++] = t;
      }
      if (tabs !== ISSUE_FIELDS) return false;
      let p = text.slice(tabAt[1]! + 1, tabAt[2]);
      let nb = text.slice(tabAt[2]! + 1, tabAt[3]);
      let na = text.slice(tabAt[3]! + 1, tabAt[4]);
      if (text.slice(start, end).includes('\\')) {
        const f = fieldsAt(text, start, ISSUE_FIELDS); // checks every escape, so record() cannot fail later
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

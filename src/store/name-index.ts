/**
 * `ca/inventory.names`: the name key ({@link nameKey}) of every certificate in the inventory, one short ASCII
 * line each, appended in the same commit as inventory.jsonl and inventory.idx. What a new name is compared
 * with to refuse a look-alike (`Pavel` beside `pavel`): finding a key there is a native byte search of a file
 * a tenth the size of inventory.idx, instead of a pass over every name field of it (docs/performance.md, "The
 * name index").
 *
 * ```
 * # mtls-ca name index v1 ...     header (exactly {@link NAMES_HEADER})
 * pavel␉client␉                   an issued certificate: its name's key, its profile, and its name when that
 * pavel␉client␉Pavel              is not the key itself (empty: the name is its key)
 * !                               the log holds something this index cannot express: use the log
 * =␉47185920                      end of one append, as in inventory.idx
 * ```
 *
 * Fields are escaped as in inventory.idx, and the index is in step with the log by the same rule (its last
 * line is a trailer with the log's length, and it is no older than the log): otherwise readers ask
 * inventory.idx or the log, and the next write transaction rebuilds it from the folded log. Unlike
 * inventory.idx, the lines between the header and the trailer are not checked one by one: a search looks
 * only at the lines of the keys it asks for.
 */
import fs from 'node:fs';
import { nameKey } from '../pki/names.js';
import type { CertificateProfile, InventoryEntry, InventoryEvent } from './inventory.js';
import { escapeField, indexInStep, stateOf, trailer } from './inventory-index.js';
import { unescapeField } from './inventory-index-reader.js';

/** The first line of inventory.names; a different one (another version) means "not usable". */
export const NAMES_HEADER =
  '# mtls-ca name index v1: derived from inventory.jsonl; safe to delete, the next write rebuilds it';

const USE_THE_LOG = '!\n';
const USE_THE_LOG_BYTES = Buffer.from(USE_THE_LOG, 'latin1');
const NL = 10;
/** The file is searched through a window of this many bytes (as inventory.idx is read, and for the same reason). */
const WINDOW = 1 << 16;
/**
 * Up to this many keys, each is searched for in every window with Buffer.indexOf (native, a few hundred µs
 * for 100,000 names); more (a batch) are looked up line by line in a Map, one pass whatever their number.
 */
const MAX_SEARCHES = 8;

function nameLine(name: unknown, profile: unknown): string {
  if (typeof name !== 'string' || typeof profile !== 'string') return USE_THE_LOG;
  const key = escapeField(nameKey(name))!;
  const written = escapeField(name)!;
  return `${key}\t${escapeField(profile)}\t${written === key ? '' : written}\n`;
}

/**
 * The lines one inventory append adds to inventory.names: one per issued certificate, then the trailer.
 * @param events - the batch, as given to encodeInventoryAppend
 * @param inventoryBytes - the byte length of inventory.jsonl after the batch (InventoryAppend.inventoryBytes)
 */
export function encodeNameAppend(events: InventoryEvent[], inventoryBytes: number): string {
  let lines = '';
  for (const e of events) if (e.op === 'issue') lines += nameLine(e.name, e.profile);
  return lines + trailer(inventoryBytes);
}

/**
 * A whole inventory.names for a folded log: the header, a line per entry, the trailer.
 * @param entries - readInventory of the log, or undefined when the log cannot be read
 * @param inventoryBytes - the byte length of inventory.jsonl the entries come from
 */
export function encodeNameIndex(entries: InventoryEntry[] | undefined, inventoryBytes: number): string {
  const lines = [`${NAMES_HEADER}\n`];
  if (entries === undefined) lines.push(USE_THE_LOG);
  else for (const e of entries) lines.push(nameLine(e.name, e.profile));
  lines.push(trailer(inventoryBytes));
  return lines.join('');
}

/** A malformed line found by a search: the caller asks inventory.idx or the log instead. */
class NameIndexError extends Error {}

/**
 * The names of the certificates of `profile` whose {@link nameKey} is one of `keys`, in inventory order, each
 * as often as it was issued — from inventory.names, or undefined when it is missing, out of step with the
 * log, marked "use the log" or malformed where a search looked. Never writes.
 * @param namesFile - inventory.names
 * @param inventoryFile - inventory.jsonl, whose length and modification time decide whether the index is in step
 * @param keys - the {@link nameKey}s of the names about to be issued
 */
export function findNamesInIndex(
  namesFile: string,
  inventoryFile: string,
  profile: CertificateProfile,
  keys: ReadonlySet<string>,
): string[] | undefined {
  if (keys.size === 0) return [];
  let fd: number;
  try {
    fd = fs.openSync(namesFile, 'r');
  } catch {
    return undefined;
  }
  try {
    const state = indexInStep(fd, stateOf(inventoryFile), NAMES_HEADER);
    return state.inStep ? search(fd, state.size, profile, keys) : undefined;
  } catch {
    return undefined; // unreadable, or a malformed line (NameIndexError)
  } finally {
    fs.closeSync(fd);
  }
}

/** A found name: its line's byte offset (to keep file order), and the name, unescaped. */
type Hit = [offset: number, name: string];

function search(
  fd: number,
  size: number,
  profile: CertificateProfile,
  keys: ReadonlySet<string>,
): string[] | undefined {
  // key as written → key
  const wanted = new Map([...keys].map((k) => [escapeField(k)!, k]));
  const find = keys.size <= MAX_SEARCHES ? searchEach(wanted, profile) : lookUpLines(wanted, profile);
  const buffer = Buffer.allocUnsafe(Math.min(size, WINDOW));
  const found: string[] = [];
  // Each window after the first starts at the newline that ends the last whole line of the one before: a line
  // lies whole in one window together with the newline before it, which tells a line's start.
  for (let position = 0; ; ) {
    const n = fs.readSync(fd, buffer, 0, Math.min(buffer.length, size - position), position);
    const end = buffer.lastIndexOf(NL, n - 1);
    if (end <= 0) return undefined; // a line longer than a window
    const view = buffer.subarray(0, end + 1);
    if (lineAt(view, USE_THE_LOG_BYTES, 0) >= 0) return undefined;
    const hits = find(view);
    if (hits.length > 1) hits.sort((a, b) => a[0] - b[0]);
    for (const [, name] of hits) found.push(name);
    if (position + n >= size) return found;
    position += end;
  }
}

/**
 * Where the next line that starts with `bytes` is in `view`, from `from`; -1 if none. A search for the bytes
 * alone, each find then checked to follow a newline: Buffer.indexOf scans for the first byte of what it is
 * given, and a newline is in every line, the first byte of a key seldom.
 */
function lineAt(view: Buffer, bytes: Buffer, from: number): number {
  for (let at = view.indexOf(bytes, from); at >= 0; at = view.indexOf(bytes, at + 1))
    if (at > 0 && view[at - 1] === NL) return at;
  return -1;
}

/** The name field of the line whose fields before it end at `start`; `key` when it is empty. */
function nameAt(view: Buffer, start: number, key: string): string {
  const end = view.indexOf(NL, start);
  if (end === start) return key;
  const written = view.toString('latin1', start, end);
  if (written.includes('\t')) throw new NameIndexError(`a field too many: ${written}`);
  return unescapeField(written);
}

/** Searches a window for the lines that start `<key>␉<profile>␉`, key by key, with Buffer.indexOf. */
function searchEach(wanted: Map<string, string>, profile: string): (view: Buffer) => Hit[] {
  const searches = [...wanted].map(([written, key]) => ({
    bytes: Buffer.from(`${written}\t${profile}\t`, 'latin1'),
    key,
  }));
  return (view) => {
    const hits: Hit[] = [];
    for (const { bytes, key } of searches) {
      for (let at = lineAt(view, bytes, 0); at >= 0; at = lineAt(view, bytes, at + 1))
        hits.push([at, nameAt(view, at + bytes.length, key)]);
    }
    return hits;
  };
}

/** Reads a window line by line, looking each key up: for many keys, one pass instead of one per key. */
function lookUpLines(wanted: Map<string, string>, profile: string): (view: Buffer) => Hit[] {
  const lengths = new Set([...wanted.keys()].map((w) => w.length));
  return (view) => {
    const hits: Hit[] = [];
    const text = view.toString('latin1');
    // Every line that follows a newline (not the header, which follows none); the view ends with a newline, so
    // each line's end is found once and is where the next line starts.
    for (let nl = text.indexOf('\n'), lineEnd = nl; nl >= 0 && nl < text.length - 1; nl = lineEnd) {
      lineEnd = text.indexOf('\n', nl + 1);
      const keyEnd = text.indexOf('\t', nl + 1);
      if (keyEnd < 0 || keyEnd > lineEnd || !lengths.has(keyEnd - nl - 1)) continue;
      const key = wanted.get(text.slice(nl + 1, keyEnd));
      if (key === undefined || !text.startsWith(`${profile}\t`, keyEnd + 1)) continue;
      hits.push([nl, nameAt(view, keyEnd + profile.length + 2, key)]);
    }
    return hits;
  };
}

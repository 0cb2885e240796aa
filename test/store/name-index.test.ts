/**
 * ca/inventory.names: its exact encoding, that its search finds what a full scan of the log finds (one key,
 * a few, a batch; across its read windows; look-alikes in every form), that CaStore asks it first, and that
 * a missing, short, stale or damaged one is passed over and rebuilt by the next write.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { nameKey } from '../../src/pki/names.js';
import { CaStore } from '../../src/store/ca-store.js';
import {
  type CertificateProfile,
  type InventoryEvent,
  type IssueEvent,
  namesLike,
  readInventory,
} from '../../src/store/inventory.js';
import {
  encodeInventoryAppend,
  encodeInventoryIndex,
  inventoryIndexState,
} from '../../src/store/inventory-index.js';
import { findNamesLike } from '../../src/store/inventory-index-reader.js';
import {
  encodeNameAppend,
  encodeNameIndex,
  findNamesInIndex,
  NAMES_HEADER,
} from '../../src/store/name-index.js';
import { encodeBatches, issueEvent } from '../helpers/inventory.js';
import { tempDir } from '../helpers/tools.js';

const root = tempDir();
let n = 0;

function issue(serial: string, name: string, profile: CertificateProfile = 'client'): IssueEvent {
  return issueEvent(serial, name, { profile, files: [] });
}

interface Files {
  log: string;
  idx: string;
  names: string;
}

/** A CA folder whose log and indexes were appended batch by batch, as the CLI does. */
function written(batches: InventoryEvent[][]): Files {
  const dir = path.join(root, `ca-${n++}`);
  fs.mkdirSync(dir);
  const f = {
    log: path.join(dir, 'inventory.jsonl'),
    idx: path.join(dir, 'inventory.idx'),
    names: path.join(dir, 'inventory.names'),
  };
  const lines = encodeBatches(batches, 0);
  // The log first, as a commit appends them.
  fs.writeFileSync(f.log, lines.log);
  fs.writeFileSync(f.idx, encodeInventoryIndex([], 0) + lines.index);
  fs.writeFileSync(f.names, encodeNameIndex([], 0) + lines.names);
  return f;
}

/** What the look-alike check must answer: the folded log, every entry's key computed. */
function fullScan(log: string, profile: CertificateProfile, keys: Iterable<string>): string[] {
  const wanted = new Set(keys);
  return readInventory(log)
    .filter((e) => e.profile === profile && wanted.has(nameKey(e.name)))
    .map((e) => e.name);
}

const search = (f: Files, keys: Iterable<string>, profile: CertificateProfile = 'client') =>
  findNamesInIndex(f.names, f.log, profile, new Set(keys));

describe('encoding', () => {
  test('one line per issued certificate: key, profile, and the name where it is not its key; then the trailer', () => {
    const events: InventoryEvent[] = [
      issue('01', 'pavel'),
      issue('02', 'Pavel'),
      issue('03', 'ｐａｖｅｌ', 'server'),
      issue('04', 'a\tb'),
      { op: 'revoke', serial: '01', at: 'T', reason: 'r' },
    ];
    const after = encodeInventoryAppend(events, 100).inventoryBytes;
    expect(encodeNameAppend(events, after)).toBe(
      'pavel\tclient\t\n' +
        'pavel\tclient\tPavel\n' +
        'pavel\tserver\t\\uff50\\uff41\\uff56\\uff45\\uff4c\n' +
        'a\\tb\tclient\t\n' +
        `=\t${after}\n`,
    );
    expect(encodeNameAppend([{ op: 'revoke', serial: '01', at: 'T', reason: 'r' }], 7)).toBe('=\t7\n');
  });

  test('a name that is not a string (a hand-edited log) makes a "use the log" line; a rebuild writes the fold', () => {
    const odd = { ...issue('05', 'x'), name: 5 } as unknown as InventoryEvent;
    expect(encodeNameAppend([odd], 9)).toBe('!\n=\t9\n');
    expect(encodeNameIndex([issue('01', 'Zoë')], 42)).toBe(
      `${NAMES_HEADER}\nzo\\u00eb\tclient\tZo\\u00eb\n=\t42\n`,
    );
    expect(encodeNameIndex(undefined, 42)).toBe(`${NAMES_HEADER}\n!\n=\t42\n`);
  });
});

describe('the search finds what a full scan of the log finds', () => {
  /** Look-alikes in every form the key folds, in both profiles, between plain names; serials unique. */
  function inventory(count: number): Files {
    const forms = (i: number) => [`user${i}`, `User${i}`, `ＵＳＥＲ${i}`, `user${i}\t`, `ﬁ${i}`, `fi${i}`];
    const batches: InventoryEvent[][] = [];
    for (let i = 0; i < count; i++) {
      const batch: InventoryEvent[] = [issue(`a${i}`, `user${i}`)];
      if (i % 97 === 0)
        batch.push(...forms(i).map((name, k) => issue(`b${i}-${k}`, name, k % 2 ? 'client' : 'server')));
      if (i % 31 === 0) batch.push({ op: 'revoke', serial: `a${i}`, at: 'T', reason: 'r' });
      batches.push(batch);
    }
    return written(batches);
  }

  test('one key at a time: the look-alikes, a sample, and every line near the edge of a read window', () => {
    const f = inventory(9_000);
    const text = fs.readFileSync(f.names, 'latin1');
    expect(text.length).toBeGreaterThan(2 * 65_536);
    // The full scan once, by key and profile.
    const expected = new Map<string, string[]>();
    for (const e of readInventory(f.log)) {
      const at = `${e.profile} ${nameKey(e.name)}`;
      expected.set(at, [...(expected.get(at) ?? []), e.name]);
    }
    // Windows are 64 KiB, each starting at the last line end of the one before: near each multiple of it.
    const keys = new Set(['nobody', 'user8999', 'user0']);
    for (let at = text.indexOf('\n') + 1, i = 0; at < text.length; at = text.indexOf('\n', at) + 1, i++) {
      const key = nameKey(text.slice(at, text.indexOf('\t', at)).replace('\\t', '\t'));
      const edge = Math.abs(at - Math.round(at / 65_536) * 65_536) < 400;
      if (edge || i % 50 === 0 || !/^user\d+$/.test(key)) keys.add(key);
    }
    expect(keys.size).toBeGreaterThan(200);
    for (const key of keys)
      for (const profile of ['client', 'server'] as const)
        expect(search(f, [key], profile), `${JSON.stringify(key)} ${profile}`).toEqual(
          expected.get(`${profile} ${key}`) ?? [],
        );
  });

  test('a few keys (searched one by one) and a batch (looked up line by line), in inventory order', () => {
    const f = inventory(12_000);
    const few = ['user0', 'user97', 'fi194', 'user291\t', 'user5000', 'nobody', 'user11982', 'user7'];
    expect(search(f, few)).toEqual(fullScan(f.log, 'client', few));
    expect(search(f, few)).toContain('User97');
    expect(search(f, few, 'server')).toContain('ＵＳＥＲ97');
    const batch = Array.from({ length: 1_000 }, (_, i) => nameKey(`USER${i * 19}`)).concat(few);
    expect(search(f, batch)).toEqual(fullScan(f.log, 'client', batch));
    expect(search(f, batch, 'server')).toEqual(fullScan(f.log, 'server', batch));
    // As namesLike finds them in memory (the log, a database's snapshot), skipping by length what it can.
    const entries = readInventory(f.log);
    for (const keys of [few, batch, ['fi97', 'user97\t']])
      expect(namesLike(entries, 'server', new Set(keys))).toEqual(fullScan(f.log, 'server', keys));
    expect(namesLike(entries, 'server', new Set(['fi97']))).toEqual(['ﬁ97']);
    // And as inventory.idx answered before the name index existed.
    expect(search(f, batch)).toEqual(findNamesLike(f.idx, f.log, 'client', new Set(batch)));
    expect(search(f, [])).toEqual([]);
  });
});

describe('used while in step with the log; otherwise passed over (inventory.idx, then the log)', () => {
  const base = (): Files =>
    written([
      [issue('01', 'pavel'), issue('02', 'web', 'server')],
      [issue('03', 'Müller')],
      [issue('04', 'PAVEL')],
    ]);
  const both = ['pavel', 'müller'];

  /** A CaStore whose ca/ holds the files of {@link base}. */
  function store(): { s: CaStore; f: Files } {
    const s = new CaStore(path.join(root, `store-${n++}`));
    fs.mkdirSync(s.paths.caDir, { recursive: true });
    const f = { log: s.paths.inventory, idx: s.paths.inventoryIndex, names: s.paths.inventoryNames };
    const made = base();
    for (const k of ['log', 'idx', 'names'] as const) fs.copyFileSync(made[k], f[k]);
    return { s, f };
  }

  test('in step: CaStore answers from it (an edit of it shows in the answer)', () => {
    const { s, f } = store();
    expect(search(f, both)).toEqual(['pavel', 'Müller', 'PAVEL']);
    expect(inventoryIndexState(f.names, f.log, NAMES_HEADER).inStep).toBe(true);
    const text = fs.readFileSync(f.names, 'latin1');
    fs.writeFileSync(f.names, text.replace('pavel\tclient\t\n', 'pavel\tclient\tpaveL\n'));
    expect(s.findNamesLike('client', new Set(['pavel']))).toEqual(['paveL', 'PAVEL']);
  });

  /** The lines of an index but its trailers, which mark where each append ended. */
  const entryLines = (text: string) => text.split('\n').filter((l) => !l.startsWith('=\t'));
  const write = (s: CaStore, name: string) => {
    const tx = s.newTransaction();
    s.appendInventory(tx, [issue(`w-${name}`, name)]);
    tx.commit();
  };

  test.each<[string, (f: Files) => void]>([
    ['missing', (f) => fs.rmSync(f.names)],
    [
      'cut short in its last append (a crash between the appends)',
      (f) => fs.truncateSync(f.names, fs.statSync(f.names).size - 4),
    ],
    ['behind the log', (f) => fs.appendFileSync(f.log, `${JSON.stringify(issue('05', 'Pavel'))}\n`)],
    [
      'older than the log, which was edited by hand to the same length',
      (f) => {
        fs.writeFileSync(f.log, fs.readFileSync(f.log, 'utf8').replace('"name":"PAVEL"', '"name":"PAVOL"'));
        const later = new Date(fs.statSync(f.names).mtimeMs + 5_000);
        fs.utimesSync(f.log, later, later);
      },
    ],
    [
      'of another version (header)',
      (f) => fs.writeFileSync(f.names, fs.readFileSync(f.names, 'latin1').replace(NAMES_HEADER, '# v0')),
    ],
  ])('%s: not used, and the next write rebuilds it from the log', (_, damage) => {
    const { s, f } = store();
    damage(f);
    expect(inventoryIndexState(f.names, f.log, NAMES_HEADER).inStep).toBe(false);
    expect(search(f, both)).toBeUndefined();
    expect(s.findNamesLike('client', new Set(both))).toEqual(fullScan(f.log, 'client', both));

    write(s, 'pAvEl');
    expect(inventoryIndexState(f.names, f.log, NAMES_HEADER).inStep).toBe(true);
    expect(entryLines(fs.readFileSync(f.names, 'latin1'))).toEqual(
      entryLines(encodeNameIndex(readInventory(f.log), 0)),
    );
    expect(search(f, both)).toEqual(fullScan(f.log, 'client', both));
    expect(search(f, both)).toContain('pAvEl');
  });

  // As for inventory.idx, a write checks only the header, the trailer and the times: a damaged middle line
  // passes, so the index stays unused (the look-alike check asks inventory.idx) until it is deleted.
  test.each<[string, (f: Files) => void]>([
    [
      'marked "use the log"',
      (f) => fs.writeFileSync(f.names, fs.readFileSync(f.names, 'latin1').replace('=', '!\n=')),
    ],
    [
      'holding a bad escape where a search looks',
      (f) => fs.writeFileSync(f.names, fs.readFileSync(f.names, 'latin1').replace('\tPAVEL', '\tPA\\qVEL')),
    ],
    [
      'holding a field too many where a search looks',
      (f) => fs.writeFileSync(f.names, fs.readFileSync(f.names, 'latin1').replace('\tPAVEL', '\tPA\tVEL')),
    ],
  ])('%s: not used, before and after a write; deleted, rebuilt', (_, damage) => {
    const { s, f } = store();
    damage(f);
    expect(search(f, both)).toBeUndefined();
    write(s, 'pAvEl');
    expect(inventoryIndexState(f.names, f.log, NAMES_HEADER).inStep).toBe(true);
    expect(search(f, both)).toBeUndefined();
    expect(s.findNamesLike('client', new Set(both))).toEqual(fullScan(f.log, 'client', both));
    fs.rmSync(f.names);
    write(s, 'PaVeL');
    expect(search(f, both)).toEqual(fullScan(f.log, 'client', both));
  });

  test('a log that does not parse: the name index says "use the log", and writing still works', () => {
    const s = new CaStore(path.join(root, `store-${n++}`));
    fs.mkdirSync(s.paths.caDir, { recursive: true });
    fs.writeFileSync(s.paths.inventory, 'not json\n');
    const tx = s.newTransaction();
    s.appendInventory(tx, [issue('01', 'a')]);
    tx.commit();
    expect(fs.readFileSync(s.paths.inventoryNames, 'latin1').split('\n')[1]).toBe('!');
    expect(inventoryIndexState(s.paths.inventoryNames, s.paths.inventory, NAMES_HEADER).inStep).toBe(true);
    expect(
      findNamesInIndex(s.paths.inventoryNames, s.paths.inventory, 'client', new Set(['a'])),
    ).toBeUndefined();
  });

  test('a new CA, then appends: header, a line per issue, a trailer per append, in step after each', () => {
    const s = new CaStore(path.join(root, `store-${n++}`));
    fs.mkdirSync(s.paths.caDir, { recursive: true });
    for (const events of [
      [issue('01', 'a'), issue('02', 'B')],
      [{ op: 'revoke', serial: '01', at: 'T', reason: 'r' } as const],
    ]) {
      const tx = s.newTransaction();
      s.appendInventory(tx, events);
      tx.commit();
      expect(inventoryIndexState(s.paths.inventoryNames, s.paths.inventory, NAMES_HEADER).inStep).toBe(true);
    }
    const lines = fs.readFileSync(s.paths.inventoryNames, 'latin1').split('\n');
    expect(lines.slice(2, 4)).toEqual(['a\tclient\t', 'b\tclient\tB']);
    expect(lines.map((l) => l.split('\t')[0])).toEqual([NAMES_HEADER, '=', 'a', 'b', '=', '=', '']);
  });
});

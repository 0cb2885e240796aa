/** ca/inventory.idx: its exact encoding, and that it is used only while provably in step with the log. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { CaStore } from '../../src/store/ca-store.js';
import {
  type InventoryEvent,
  type InventoryRecords,
  keysOf,
  readInventory,
} from '../../src/store/inventory.js';
import {
  encodeInventoryAppend,
  encodeInventoryIndex,
  INDEX_HEADER,
  inventoryIndexState,
} from '../../src/store/inventory-index.js';
import { findNamesLike, readInventoryIndex } from '../../src/store/inventory-index-reader.js';
import { issueEvent } from '../helpers/inventory.js';
import { tempDir } from '../helpers/tools.js';

const root = tempDir();
let n = 0;

const issue = issueEvent;

/** A CA folder whose log and index were appended batch by batch, as the CLI does. */
function written(batches: InventoryEvent[][]): { log: string; idx: string } {
  const dir = path.join(root, `ca-${n++}`);
  fs.mkdirSync(dir);
  const log = path.join(dir, 'inventory.jsonl');
  const idx = path.join(dir, 'inventory.idx');
  fs.writeFileSync(log, '');
  fs.writeFileSync(idx, encodeInventoryIndex([], 0));
  let bytes = 0;
  for (const events of batches) {
    const batch = encodeInventoryAppend(events, bytes);
    fs.appendFileSync(log, batch.jsonl);
    fs.appendFileSync(idx, batch.index);
    bytes = batch.inventoryBytes;
  }
  return { log, idx };
}

function all(records: InventoryRecords): unknown[] {
  return Array.from({ length: records.size }, (_, i) => ({ ...records.record(i), keys: records.keys(i) }));
}

/** What the JSON fold says, in the same shape. */
function folded(log: string): unknown[] {
  return readInventory(log).map((e) => ({
    serial: e.serial,
    name: e.name,
    profile: e.profile,
    subject: e.subject,
    issuer: e.issuer,
    keyType: e.keyType,
    notBefore: e.notBefore,
    notAfter: e.notAfter,
    fingerprint: e.fingerprint,
    revokedAt: e.revokedAt,
    revocationReason: e.revocationReason,
    supersededAt: e.supersededAt,
    supersededBy: e.supersededBy,
    keys: keysOf(e),
  }));
}

function indexed(files: { log: string; idx: string }): InventoryRecords | undefined {
  return readInventoryIndex(files.idx, files.log);
}

describe('encoding', () => {
  test('one batch: the JSON lines, the index lines and a trailer with the log length after it', () => {
    const a = issue('0a', 'alice');
    const batch = encodeInventoryAppend([a, { op: 'supersede', serial: '09', at: 'T1', by: '0a' }], 100);
    const json = `${JSON.stringify(a)}\n{"op":"supersede","serial":"09","at":"T1","by":"0a"}\n`;
    expect(batch).toEqual({
      jsonl: json,
      index:
        'i\t0a\tclient\t2026-01-02T03:04:05.000Z\t2027-01-02T03:04:05.000Z\talice\tecdsa-p256\tAB:CD\tCN=alice\tCN=ca\n' +
        's\t09\tT1\t0a\n' +
        `=\t${100 + Buffer.byteLength(json)}\n`,
      inventoryBytes: 100 + Buffer.byteLength(json),
    });
  });

  test('tabs, newlines, backslashes and non-ASCII are escaped to printable ASCII and read back exactly', () => {
    const subject = 'CN=a\tb\nc\\d\re "Zoë" 😀 \ud800 \u007f';
    const files = written([[issue('0b', 'zoë', { subject })]]);
    const line = fs.readFileSync(files.idx, 'latin1').split('\n')[2]!;
    expect(line).toBe(
      'i\t0b\tclient\t2026-01-02T03:04:05.000Z\t2027-01-02T03:04:05.000Z\tzo\\u00eb\tecdsa-p256\tAB:CD\t' +
        'CN=a\\tb\\nc\\\\d\\re "Zo\\u00eb" \\ud83d\\ude00 \\ud800 \\u007f\tCN=ca',
    );
    const records = indexed(files)!;
    expect(records.record(0)).toMatchObject({ name: 'zoë', subject });
    expect(all(records)).toEqual(folded(files.log));
  });

  test('a value that is not a string (a hand-edited log) makes a "use the log" line', () => {
    const odd = { ...issue('0c', 'carol'), subject: 5 } as unknown as InventoryEvent;
    expect(encodeInventoryAppend([odd], 0).index).toBe(
      `!\n=\t${encodeInventoryAppend([odd], 0).inventoryBytes}\n`,
    );
  });
});

describe('reading folds as readInventory does', () => {
  test('revoke, supersede, a second revoke, an event before its issue and one for an unknown serial', () => {
    const files = written([
      [issue('01', 'ca', { profile: 'ca' }), issue('02', 'server', { profile: 'server' })],
      [{ op: 'revoke', serial: '03', at: 'early', reason: 'x' }], // before 03 exists: ignored
      [issue('03', 'alice')],
      [issue('04', 'alice', { notBefore: '2026-02-01T00:00:00.000Z' })],
      [{ op: 'supersede', serial: '03', at: '2026-02-01T00:00:00.000Z', by: '04' }],
      [{ op: 'revoke', serial: '04', at: '2026-03-01T00:00:00.000Z', reason: 'keyCompromise' }],
      [{ op: 'revoke', serial: '04', at: '2026-03-02T00:00:00.000Z', reason: 'superseded' }],
      [{ op: 'revoke', serial: 'ff', at: '2026-03-03T00:00:00.000Z', reason: 'unspecified' }],
    ]);
    const records = indexed(files)!;
    expect(records.size).toBe(4);
    expect(records.record(2)).toMatchObject({
      serial: '03',
      supersededAt: '2026-02-01T00:00:00.000Z',
      supersededBy: '04',
    });
    expect(records.record(2).revokedAt).toBeUndefined();
    expect(records.record(3)).toMatchObject({
      revokedAt: '2026-03-02T00:00:00.000Z',
      revocationReason: 'superseded',
    });
    expect(records.keys(3)).toEqual({
      profile: 'client',
      notAfterMs: Date.parse('2027-01-02T03:04:05.000Z'),
      notBeforeDay: 20260201,
      notBeforeTime: 0,
      revoked: true,
      superseded: false,
    });
    expect(all(records)).toEqual(folded(files.log));
    records.close();
  });

  test('a rebuilt index (the fold itself) reads as the log', () => {
    const files = written([
      [issue('01', 'a'), issue('02', 'b')],
      [{ op: 'revoke', serial: '01', at: 'T', reason: 'r' }],
      [{ op: 'supersede', serial: '02', at: 'U', by: '01' }],
    ]);
    const bytes = fs.statSync(files.log).size;
    fs.writeFileSync(files.idx, encodeInventoryIndex(readInventory(files.log), bytes));
    expect(fs.readFileSync(files.idx, 'latin1').split('\n').slice(1)).toEqual([
      'i\t01\tclient\t2026-01-02T03:04:05.000Z\t2027-01-02T03:04:05.000Z\ta\tecdsa-p256\tAB:CD\tCN=a\tCN=ca',
      'r\t01\tT\tr',
      'i\t02\tclient\t2026-01-02T03:04:05.000Z\t2027-01-02T03:04:05.000Z\tb\tecdsa-p256\tAB:CD\tCN=b\tCN=ca',
      's\t02\tU\t01',
      `=\t${bytes}`,
      '',
    ]);
    expect(all(indexed(files)!)).toEqual(folded(files.log));
  });

  test('notBefore keys: the toISOString form gives ordered integers, anything else -1', () => {
    expect(keysOf(issue('1', 'a', { notBefore: '2026-12-31T23:59:58.999Z' }))).toMatchObject({
      notBeforeDay: 20261231,
      notBeforeTime: 235958999,
    });
    expect(keysOf(issue('1', 'a', { notBefore: '2026-12-31' }))).toMatchObject({
      notBeforeDay: -1,
      notBeforeTime: -1,
    });
    expect(keysOf(issue('1', 'a', { notAfter: 'never' })).notAfterMs).toBeNaN();
  });
});

describe('used only while in step with the log; otherwise undefined (read the log)', () => {
  const base = (): { log: string; idx: string } =>
    written([[issue('01', 'a')], [{ op: 'revoke', serial: '01', at: 'T', reason: 'r' }]]);

  test('in step', () => {
    const files = base();
    expect(indexed(files)?.size).toBe(1);
    expect(inventoryIndexState(files.idx, files.log)).toEqual({
      inventoryBytes: fs.statSync(files.log).size,
      inStep: true,
    });
  });

  // The third column: what a write transaction sees (header, trailer and times only). A damaged middle line
  // passes that check, so writes keep appending and `list` keeps reading the log until the index is deleted.
  test.each<[string, (f: { log: string; idx: string }) => void, boolean]>([
    ['missing', (f) => fs.rmSync(f.idx), false],
    [
      'behind the log (a crash between the two appends, or an older version wrote)',
      (f) => fs.appendFileSync(f.log, `${JSON.stringify(issue('02', 'b'))}\n`),
      false,
    ],
    [
      'older than the log, which was edited by hand to the same length',
      (f) => {
        fs.writeFileSync(f.log, fs.readFileSync(f.log, 'utf8').replace('"name":"a"', '"name":"z"'));
        const later = new Date(fs.statSync(f.idx).mtimeMs + 5_000);
        fs.utimesSync(f.log, later, later);
      },
      false,
    ],
    [
      'of another version (header)',
      (f) => fs.writeFileSync(f.idx, fs.readFileSync(f.idx, 'latin1').replace(INDEX_HEADER, '# v2')),
      false,
    ],
    [
      'cut short in its last append (no trailer)',
      (f) => fs.truncateSync(f.idx, fs.statSync(f.idx).size - 3),
      false,
    ],
    [
      'marked "use the log"',
      (f) => fs.writeFileSync(f.idx, fs.readFileSync(f.idx, 'latin1').replace('r\t01', '!\nr\t01')),
      true,
    ],
    [
      'missing a field in an issue line',
      (f) => fs.writeFileSync(f.idx, fs.readFileSync(f.idx, 'latin1').replace('\tecdsa-p256', '')),
      true,
    ],
    [
      'holding a bad escape',
      (f) => fs.writeFileSync(f.idx, fs.readFileSync(f.idx, 'latin1').replace('\ta\t', '\ta\\q\t')),
      true,
    ],
    [
      'holding an empty line',
      (f) => fs.writeFileSync(f.idx, fs.readFileSync(f.idx, 'latin1').replace('=', '\n=')),
      true,
    ],
  ])('%s', (_, damage, writersSeeInStep) => {
    const files = base();
    damage(files);
    expect(indexed(files)).toBeUndefined();
    expect(inventoryIndexState(files.idx, files.log).inStep).toBe(writersSeeInStep);
  });
});

describe('CaStore.appendInventory keeps the index in step, rebuilding it when it is not', () => {
  function store(): CaStore {
    const s = new CaStore(path.join(root, `store-${n++}`));
    fs.mkdirSync(s.paths.caDir, { recursive: true });
    return s;
  }
  function append(s: CaStore, events: InventoryEvent[]): void {
    const tx = s.newTransaction();
    s.appendInventory(tx, events);
    tx.commit();
  }
  const read = (s: CaStore) => s.readInventoryIndex();
  const view = (s: CaStore) => ({ log: s.paths.inventory, idx: s.paths.inventoryIndex });

  test('a new CA: header, batches, trailers; two appends in one transaction', () => {
    const s = store();
    append(s, [issue('01', 'a')]);
    const tx = s.newTransaction();
    s.appendInventory(tx, [issue('02', 'b')]);
    s.appendInventory(tx, [{ op: 'revoke', serial: '01', at: 'T', reason: 'r' }]);
    tx.commit();
    expect(
      fs
        .readFileSync(s.paths.inventoryIndex, 'latin1')
        .split('\n')
        .map((l) => l.split('\t')[0]),
    ).toEqual([INDEX_HEADER, '=', 'i', '=', 'i', '=', 'r', '=', '']);
    expect(all(read(s)!)).toEqual(folded(s.paths.inventory));
  });

  test('an older CA without an index, and one left behind by a crash: the next write rebuilds it', () => {
    const s = store();
    fs.writeFileSync(s.paths.inventory, `${JSON.stringify(issue('01', 'a'))}\n`);
    append(s, [issue('02', 'b')]);
    expect(all(read(s)!)).toEqual(folded(s.paths.inventory));
    fs.appendFileSync(
      s.paths.inventory,
      `${JSON.stringify({ op: 'revoke', serial: '02', at: 'T', reason: 'r' })}\n`,
    );
    expect(read(s)).toBeUndefined();
    append(s, [issue('03', 'c')]);
    const records = read(s)!;
    expect(records.record(1).revokedAt).toBe('T');
    expect(all(records)).toEqual(folded(s.paths.inventory));
    expect(inventoryIndexState(view(s).idx, view(s).log).inStep).toBe(true);
  });

  test('a log that does not parse: the index says "use the log", and writing still works', () => {
    const s = store();
    fs.writeFileSync(s.paths.inventory, 'not json\n');
    append(s, [issue('01', 'a')]);
    expect(fs.readFileSync(s.paths.inventoryIndex, 'latin1').split('\n')[1]).toBe('!');
    expect(inventoryIndexState(view(s).idx, view(s).log).inStep).toBe(true);
    expect(read(s)).toBeUndefined();
  });
});

describe('findNamesLike: the names of a profile that read like a key, from the index while in step, else from the log', () => {
  const batches = (): InventoryEvent[][] => [
    [issue('01', 'pavel'), issue('02', 'web', { profile: 'server' })],
    [issue('03', 'müller\tx'), { op: 'revoke', serial: '01', at: 'T', reason: 'r' }],
    [issue('04', 'pavel')],
  ];
  const names = (f: { log: string; idx: string }, keys = ['pavel', 'müller\tx', 'mallory', 'zoe']) =>
    findNamesLike(f.idx, f.log, 'client', new Set(keys));
  /** The index says "mallory" where the log says "pavel": which of the two was read shows in the result. */
  const edited = (f: { log: string; idx: string }) =>
    fs.writeFileSync(f.idx, fs.readFileSync(f.idx, 'latin1').replace('\tpavel\t', '\tmallory\t'));

  test('in step: every issue of the profile whose name reads like a key, escapes undone', () => {
    const f = written(batches());
    expect(names(f)).toEqual(['pavel', 'müller\tx', 'pavel']);
    expect(findNamesLike(f.idx, f.log, 'server', new Set(['web']))).toEqual(['web']);
    expect(findNamesLike(f.idx, f.log, 'server', new Set(['pavel']))).toEqual([]);
    expect(names(f, ['müller\tx'])).toEqual(['müller\tx']);
    expect(names(f, [])).toEqual([]);
    edited(f);
    expect(names(f)).toEqual(['mallory', 'müller\tx', 'pavel']);
  });

  test('look-alikes: another case, and compatibility forms the index writes escaped (longer than the key)', () => {
    const f = written([
      [issue('01', 'PaVeL'), issue('02', 'ｐａｖｅｌ'), issue('03', 'pavel2'), issue('04', 'ﬁona')],
    ]);
    expect(names(f, ['pavel'])).toEqual(['PaVeL', 'ｐａｖｅｌ']);
    expect(names(f, ['fiona'])).toEqual(['ﬁona']);
  });

  test.each<[string, (f: { log: string; idx: string }) => void, string[]]>([
    ['missing', (f) => fs.rmSync(f.idx), ['pavel', 'müller\tx', 'pavel']],
    [
      'marked "use the log"',
      (f) => {
        edited(f);
        fs.writeFileSync(f.idx, fs.readFileSync(f.idx, 'latin1').replace('r\t01', '!\nr\t01'));
      },
      ['pavel', 'müller\tx', 'pavel'],
    ],
    [
      'behind the log',
      (f) => fs.appendFileSync(f.log, `${JSON.stringify(issue('05', 'zoe'))}\n`),
      ['pavel', 'müller\tx', 'pavel', 'zoe'],
    ],
    [
      'holding a bad escape',
      (f) => {
        edited(f);
        fs.writeFileSync(f.idx, fs.readFileSync(f.idx, 'latin1').replace('\\t', '\\q'));
      },
      ['pavel', 'müller\tx', 'pavel'],
    ],
  ])('%s: the log', (_, damage, expected) => {
    const f = written(batches());
    damage(f);
    expect(names(f)).toEqual(expected);
  });
});

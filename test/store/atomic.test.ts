import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { MODE_PUBLIC, MODE_SECRET, Transaction } from '../../src/store/atomic.js';
import { snapshot } from '../cli/snapshot.js';
import { errorOf } from '../helpers/errors.js';
import { tempDir } from '../helpers/tools.js';

const root = tempDir();
let n = 0;
/** A fresh folder with `old.txt` (0600) and `log.txt` in it. */
function fixture(): string {
  const dir = path.join(root, `case-${n++}`);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'old.txt'), 'old\n', { mode: MODE_SECRET });
  fs.writeFileSync(path.join(dir, 'log.txt'), 'line 1\n');
  return dir;
}

/** Stages: a new file in a new folder, a replacement of old.txt, an append to log.txt. */
function stage(tx: Transaction, dir: string): void {
  tx.write(path.join(dir, 'new/a.key'), 'secret\n', MODE_SECRET);
  tx.write(path.join(dir, 'old.txt'), 'new\n', MODE_PUBLIC);
  tx.append(path.join(dir, 'log.txt'), 'line 2\n');
}

function expectCommitted(dir: string): void {
  expect(snapshot(dir)).toEqual({
    'new/': 'dir',
    'new/a.key': `600 ${sha256('secret\n')}`,
    'old.txt': `644 ${sha256('new\n')}`,
    'log.txt': `644 ${sha256('line 1\nline 2\n')}`,
  });
}

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

describe('Transaction', () => {
  test('commit: writes, replaces with the new mode, appends, creates folders, leaves no temp files', () => {
    const dir = fixture();
    const tx = new Transaction(dir);
    stage(tx, dir);
    tx.commit();
    expectCommitted(dir);
  });

  test('commitAsync after flushes: the same files; nothing is visible before the commit but temp files and the intent', async () => {
    const dir = fixture();
    const before = snapshot(dir);
    const tx = new Transaction(dir);
    tx.write(path.join(dir, 'new/a.key'), 'secret\n', MODE_SECRET);
    await tx.flush();
    const names = fs.readdirSync(path.join(dir, 'new'));
    expect(names).toHaveLength(1);
    expect(names[0]).toMatch(/^\.a\.key\.[0-9a-f]{12}-0\.tmp$/);
    expect(fs.statSync(path.join(dir, 'new', names[0]!)).mode & 0o777).toBe(MODE_SECRET);
    expect(fs.readFileSync(path.join(dir, 'old.txt'), 'utf8')).toBe('old\n');
    expect(Object.keys(snapshot(dir)).filter((k) => !k.startsWith('new/'))).toEqual([
      '.mtls-ca.txn',
      ...Object.keys(before),
    ]);
    tx.write(path.join(dir, 'old.txt'), 'new\n', MODE_PUBLIC);
    tx.append(path.join(dir, 'log.txt'), 'line 2\n');
    const pending = tx.flush(); // still running when the commit starts
    await tx.commitAsync();
    await pending;
    expectCommitted(dir);
  });

  test('a failing rename rolls back everything: replaced files, appends, new files and folders', async () => {
    const dir = fixture();
    const before = snapshot(dir);
    fs.mkdirSync(path.join(dir, 'in-the-way.txt')); // a folder where a file must go
    const tx = new Transaction(dir);
    stage(tx, dir);
    tx.write(path.join(dir, 'in-the-way.txt'), 'x');
    const e = errorOf(() => tx.commit());
    expect(e.code).toBe('IO_FAILED');
    fs.rmdirSync(path.join(dir, 'in-the-way.txt'));
    expect(snapshot(dir)).toEqual(before);
  });

  test('the same rollback after flush() and commitAsync()', async () => {
    const dir = fixture();
    const before = snapshot(dir);
    fs.mkdirSync(path.join(dir, 'in-the-way.txt'));
    const tx = new Transaction(dir);
    stage(tx, dir);
    await tx.flush();
    tx.write(path.join(dir, 'in-the-way.txt'), 'x');
    const e = await errorOf(() => tx.commitAsync());
    expect(e.code).toBe('IO_FAILED');
    expect(e.message).toMatch(/^write .*in-the-way\.txt: (is a folder|operation not permitted)$/);
    fs.rmdirSync(path.join(dir, 'in-the-way.txt'));
    expect(snapshot(dir)).toEqual(before);
  });

  test('remove: the file is gone after the commit, with no backup left beside it', () => {
    const dir = fixture();
    const tx = new Transaction(dir);
    tx.write(path.join(dir, 'elsewhere.txt'), 'copy\n', MODE_SECRET);
    tx.remove(path.join(dir, 'old.txt'));
    tx.commit();
    expect(snapshot(dir)).toEqual({
      'elsewhere.txt': `600 ${sha256('copy\n')}`,
      'log.txt': `644 ${sha256('line 1\n')}`,
    });
  });

  test('a commit that fails after a remove brings the removed file back, mode and bytes', () => {
    const dir = fixture();
    fs.mkdirSync(path.join(dir, 'log-folder')); // appends come after removes: this one fails
    const before = snapshot(dir);
    const tx = new Transaction(dir);
    tx.write(path.join(dir, 'elsewhere.txt'), 'copy\n', MODE_SECRET);
    tx.remove(path.join(dir, 'old.txt'));
    tx.append(path.join(dir, 'log-folder'), 'line\n');
    expect(errorOf(() => tx.commit()).code).toBe('IO_FAILED');
    expect(snapshot(dir)).toEqual(before);
  });

  test('abort() after flushes removes the temp files and the folders it created, and only those', async () => {
    const dir = fixture();
    const before = snapshot(dir);
    const tx = new Transaction(dir);
    for (let i = 0; i < 40; i++) tx.write(path.join(dir, `new/deeper/f${i}`), `${i}`);
    const first = tx.flush();
    tx.write(path.join(dir, 'old.txt'), 'new\n');
    const second = tx.flush();
    await tx.abort(); // waits for both flushes
    await Promise.all([first, second]);
    expect(snapshot(dir)).toEqual(before);
    await tx.abort(); // a second abort is harmless
    expect(() => tx.write(path.join(dir, 'x'), 'x')).toThrow('Transaction used after commit or abort');
  });

  test('a folder created by a rolled-back transaction stays when someone else put a file in it', async () => {
    const dir = fixture();
    const tx = new Transaction(dir);
    tx.write(path.join(dir, 'shared/mine'), 'x');
    await tx.flush();
    fs.writeFileSync(path.join(dir, 'shared/theirs'), 'y');
    await tx.abort();
    expect(fs.readdirSync(path.join(dir, 'shared'))).toEqual(['theirs']);
  });

  test('a failed flush rejects with IO_FAILED and leaves no temp file behind after abort()', async () => {
    const dir = fixture();
    const before = snapshot(dir);
    fs.writeFileSync(path.join(dir, 'not-a-folder'), 'z');
    const tx = new Transaction(dir);
    tx.write(path.join(dir, 'ok.txt'), 'ok');
    tx.write(path.join(dir, 'not-a-folder/x'), 'x');
    const e = await errorOf(() => tx.flush());
    expect(e.code).toBe('IO_FAILED');
    await tx.abort();
    fs.rmSync(path.join(dir, 'not-a-folder'));
    expect(snapshot(dir)).toEqual(before);
  });

  test('files get their mode even when the umask would narrow it (sync and flushed writes)', async () => {
    const dir = fixture();
    const old = process.umask(0o077);
    try {
      const tx = new Transaction(dir);
      tx.write(path.join(dir, 'flushed.crt'), 'a', MODE_PUBLIC);
      await tx.flush();
      tx.write(path.join(dir, 'late.crt'), 'b', MODE_PUBLIC);
      tx.commit();
    } finally {
      process.umask(old);
    }
    expect(fs.statSync(path.join(dir, 'flushed.crt')).mode & 0o777).toBe(MODE_PUBLIC);
    expect(fs.statSync(path.join(dir, 'late.crt')).mode & 0o777).toBe(MODE_PUBLIC);
  });

  test('commit() refuses to run while a flush is in progress', async () => {
    const dir = fixture();
    const tx = new Transaction(dir);
    tx.write(path.join(dir, 'a'), 'a');
    const pending = tx.flush();
    expect(() => tx.commit()).toThrow('Transaction.commit() while flush() runs: use commitAsync()');
    await pending;
    tx.commit();
    expect(fs.readFileSync(path.join(dir, 'a'), 'utf8')).toBe('a');
  });
});

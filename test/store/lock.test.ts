import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { OWNERLESS_STALE_MS, withLock } from '../../src/store/lock.js';
import { errorOf } from '../helpers/errors.js';
import { tempDir } from '../helpers/tools.js';

const root = tempDir();
let n = 0;
const lockIn = () => {
  const dir = path.join(root, `case-${n++}`);
  fs.mkdirSync(dir);
  return path.join(dir, '.mtls-ca.lock');
};

/** The pid of a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
    encoding: 'utf8',
  });
  return Number(r.stdout);
}

/** Sets a file's times `ms` into the past. */
function age(file: string, ms: number): void {
  const t = new Date(Date.now() - ms);
  fs.utimesSync(file, t, t);
}

const lockError = (lock: string, timeoutMs: number) => errorOf(() => withLock(lock, () => {}, timeoutMs));

describe('withLock', () => {
  test('an empty lock file left by a killed command is taken over, not waited on for a minute', async () => {
    const lock = lockIn();
    fs.writeFileSync(lock, '');
    age(lock, OWNERLESS_STALE_MS + 1000);
    // a timeout far below the minute a user waited: taken over at once, or this fails LOCKED
    expect(await withLock(lock, () => fs.readFileSync(lock, 'utf8'), 1000)).toContain(`"pid":${process.pid}`);
    expect(fs.existsSync(lock)).toBe(false);
  });

  test('a garbled lock file is judged the same way; a fresh empty one may be being written, and is waited for', async () => {
    const garbled = lockIn();
    fs.writeFileSync(garbled, '{"pid":');
    age(garbled, OWNERLESS_STALE_MS + 1000);
    await withLock(garbled, () => {}, 1000);

    const fresh = lockIn();
    fs.writeFileSync(fresh, '');
    const e = await lockError(fresh, 300);
    expect(e.code).toBe('LOCKED');
    expect(e.message).toBe(`lock ${fresh}: held by another process`);
  });

  test("a dead owner's lock is taken over, a live owner's is not; a claim left by a killed takeover is removed", async () => {
    const lock = lockIn();
    const dead = deadPid();
    fs.writeFileSync(lock, JSON.stringify({ pid: dead, host: os.hostname(), since: 'then' }));
    fs.writeFileSync(`${lock}.${dead}.stale`, '');
    await withLock(lock, () => {}, 1000);
    expect(fs.readdirSync(path.dirname(lock))).toEqual([]);

    fs.writeFileSync(lock, JSON.stringify({ pid: process.pid, host: os.hostname(), since: 'now' }));
    const e = await lockError(lock, 300);
    expect(e.code).toBe('LOCKED');
    expect(e.message).toBe(`lock ${lock}: held by process ${process.pid} on ${os.hostname()} since now`);
    fs.rmSync(lock);
  });

  test('the lock file is readable by others (who holds it is no secret) and removed after', async () => {
    const lock = lockIn();
    const mode = await withLock(lock, () => fs.statSync(lock).mode & 0o777);
    expect(mode).toBe(0o644 & ~process.umask());
    expect(fs.existsSync(lock)).toBe(false);
  });

  test('a lock folder that cannot be created is IO_FAILED naming the lock, not an internal error', async () => {
    const file = path.join(root, `not-a-folder-${n++}`);
    fs.writeFileSync(file, '');
    const e = await lockError(path.join(file, 'ssl', '.mtls-ca.lock'), 300);
    expect(e.code).toBe('IO_FAILED');
    expect(e.message).toBe(
      `lock ${path.join(file, 'ssl', '.mtls-ca.lock')}: a part of the path is not a folder`,
    );
  });

  test('a folder created for the lock is removed again when nothing was written into it', async () => {
    const dir = path.join(root, `new-${n++}`, 'ssl');
    await withLock(path.join(dir, '.mtls-ca.lock'), () => {});
    expect(fs.existsSync(path.dirname(dir))).toBe(false);
  });
});

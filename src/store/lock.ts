/**
 * An exclusive lock on the CA directory, so that concurrent issuers never interleave inventory records or
 * overwrite each other's files.
 *
 * The lock is a file created with O_EXCL that holds its owner `{pid, host, since}`. It is mode 0644: who holds
 * it is no secret, and another user sharing the directory must be able to read it to judge it. A lock is
 * stale, and is taken over, when its owner process is gone (same host), or when it holds no readable owner
 * record (empty, garbled or unreadable: a process killed between creating and writing it, or an older version
 * on a full disk) and is older than {@link OWNERLESS_STALE_MS} — a younger one may be being written right now.
 *
 * Creating the lock is the first write of every command that changes the directory, so a full, read-only or
 * unwritable directory fails here: IO_FAILED naming the lock, and no lock file (nor a folder made for it)
 * left behind.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MtlsCaError } from '../pki/errors.js';
import { missingLevels } from './atomic.js';
import { ioFailure } from './io-error.js';

interface LockOwner {
  pid: number;
  host: string;
  since: string;
}

/**
 * How old a lock file without an owner record must be to count as stale. Its writer creates it and writes the
 * record in two consecutive system calls, microseconds apart; seconds leave room for a machine under load.
 */
export const OWNERLESS_STALE_MS = 5_000;

/** Lock files this process holds (resolved paths). */
const held = new Set<string>();

/**
 * Whether a process with id `pid` exists: EPERM means one does, of another user.
 * @param pid - the process id
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const o = JSON.parse(text) as LockOwner;
    return Number.isInteger(o.pid) && typeof o.host === 'string' ? o : undefined;
  } catch {
    return undefined;
  }
}

/** The owner record of the lock file and the file's identity; owner undefined when it has none readable. */
function readLock(lockPath: string): { owner?: LockOwner; ino: number; mtimeMs: number } | undefined {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(lockPath);
  } catch {
    return undefined; // removed meanwhile
  }
  let text = '';
  try {
    text = fs.readFileSync(lockPath, 'utf8');
  } catch {
    // unreadable: judged like an empty one
  }
  return { owner: parseOwner(text), ino: st.ino, mtimeMs: st.mtimeMs };
}

/** The claim a process made on a stale lock: `<lock>.<pid>.stale`, renamed away before it is removed. */
function claimPath(lockPath: string, pid: number): string {
  return `${lockPath}.${pid}.stale`;
}

/**
 * Removes the lock file if it is stale (see the module comment). It is first renamed to a name only this
 * process uses, then checked to be the file judged: another process may have taken the same stale lock over
 * and created its own in the meantime, which is put back. IO_FAILED when it cannot be removed.
 */
function removeIfStale(lockPath: string): void {
  const lock = readLock(lockPath);
  if (!lock) return;
  if (lock.owner) {
    if (lock.owner.host !== os.hostname() || isAlive(lock.owner.pid)) return;
  } else if (Date.now() - lock.mtimeMs < OWNERLESS_STALE_MS) {
    return;
  }
  const claimed = claimPath(lockPath, process.pid);
  try {
    fs.renameSync(lockPath, claimed);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // taken over by someone else first
    throw ioFailure('lock', lockPath, e); // a read-only folder, or not this user's: waiting cannot help
  }
  try {
    if (fs.lstatSync(claimed).ino !== lock.ino) fs.linkSync(claimed, lockPath);
  } catch {
    // a third process holds the lock by now: the one moved here was not the stale one, and is gone
  }
  fs.rmSync(claimed, { force: true });
}

/** Removes claims on stale locks (see {@link removeIfStale}) left by processes killed in between. */
function removeDeadClaims(lockPath: string): void {
  const prefix = `${path.basename(lockPath)}.`;
  let names: string[];
  try {
    names = fs.readdirSync(path.dirname(lockPath));
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.stale')) continue;
    const pid = Number(name.slice(prefix.length, -'.stale'.length));
    if (Number.isInteger(pid) && !isAlive(pid)) fs.rmSync(claimPath(lockPath, pid), { force: true });
  }
}

/**
 * One attempt to create the lock: true when taken. A stale lock in the way is removed (the next attempt
 * takes it). Throws IO_FAILED, leaving no lock file, when the directory cannot be written.
 */
function tryAcquire(lockPath: string): boolean {
  let fd: number;
  try {
    fd = fs.openSync(lockPath, 'wx', 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw ioFailure('lock', lockPath, e);
    removeIfStale(lockPath);
    return false;
  }
  const owner: LockOwner = { pid: process.pid, host: os.hostname(), since: new Date().toISOString() };
  try {
    try {
      fs.writeSync(fd, JSON.stringify(owner));
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    // A full disk: the file was created, its content not written. It is ours: remove it.
    fs.rmSync(lockPath, { force: true });
    throw ioFailure('lock', lockPath, e);
  }
  held.add(path.resolve(lockPath));
  return true;
}

function release(lockPath: string): void {
  held.delete(path.resolve(lockPath));
  fs.rmSync(lockPath, { force: true });
}

/** Whether this process holds the lock at `lockPath` right now. */
export function holdsLock(lockPath: string): boolean {
  return held.has(path.resolve(lockPath));
}

/**
 * Runs `fn` while holding the lock at `lockPath`, creating the lock's folder if needed (and removing it again
 * if it is still empty afterwards).
 * @param timeoutMs - how long to wait for another process's lock before failing with LOCKED (default 60 s)
 */
export async function withLock<T>(
  lockPath: string,
  fn: () => Promise<T> | T,
  timeoutMs = 60_000,
): Promise<T> {
  const dir = path.dirname(lockPath);
  // One level at a time: a recursive mkdir reports ENOENT, not EROFS, on a read-only file system.
  const levels = missingLevels(dir);
  const created = levels[0];
  try {
    for (const level of levels) fs.mkdirSync(level, { mode: 0o755 });
  } catch (e) {
    if (created !== undefined) removeEmptyFolders(dir, created);
    throw ioFailure('lock', lockPath, e);
  }
  try {
    const deadline = Date.now() + timeoutMs;
    let delay = 10;
    while (!tryAcquire(lockPath)) {
      if (Date.now() > deadline) {
        const o = readLock(lockPath)?.owner;
        const who = o ? `process ${o.pid} on ${o.host} since ${o.since}` : 'another process';
        throw new MtlsCaError(
          'LOCKED',
          `lock ${lockPath}: held by ${who}`,
          `wait for it to finish, or remove ${lockPath} if that process is gone`,
        );
      }
      await sleep(delay);
      delay = Math.min(delay * 2, 200);
    }
    try {
      removeDeadClaims(lockPath);
      return await fn();
    } finally {
      release(lockPath);
    }
  } finally {
    if (created !== undefined) removeEmptyFolders(dir, created);
  }
}

/**
 * Runs `fn` holding the lock if it can be taken at once (free, or stale); undefined when a live process holds
 * it. For readers that repair on the way and must not wait.
 */
export function withLockIfFree<T>(lockPath: string, fn: () => T): { value: T } | undefined {
  // A stale lock is removed by one attempt and taken by the next.
  for (let attempt = 0; attempt < 3; attempt++) {
    if (!tryAcquire(lockPath)) continue;
    try {
      removeDeadClaims(lockPath);
      return { value: fn() };
    } finally {
      release(lockPath);
    }
  }
  return undefined;
}

/** rmdir from `dir` up to `top` (both included) while the folders are empty. */
function removeEmptyFolders(dir: string, top: string): void {
  for (let d = dir; d.length >= top.length; d = path.dirname(d)) {
    try {
      fs.rmdirSync(d);
    } catch {
      return;
    }
  }
}

/**
 * An exclusive lock on the CA directory, so that concurrent issuers never interleave inventory records or
 * overwrite each other's files. The lock is a file created with O_EXCL holding the owner's pid and host; a
 * lock whose owner process is gone (same host) is stale and is taken over.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MtlsCaError } from '../pki/errors.js';

interface LockOwner {
  pid: number;
  host: string;
  since: string;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function tryAcquire(lockPath: string): boolean {
  const owner: LockOwner = { pid: process.pid, host: os.hostname(), since: new Date().toISOString() };
  try {
    fs.writeFileSync(lockPath, JSON.stringify(owner), { flag: 'wx', mode: 0o600 });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  let current: LockOwner | undefined;
  try {
    current = JSON.parse(fs.readFileSync(lockPath, 'utf8')) as LockOwner;
  } catch {
    // Being written right now, or removed since: try again on the next round.
    return false;
  }
  if (current.host === os.hostname() && !isAlive(current.pid)) {
    // Stale: remove it only if it is still the same stale lock (rename is atomic; unlink-then-create is not).
    const claimed = `${lockPath}.${process.pid}.stale`;
    try {
      fs.renameSync(lockPath, claimed);
      fs.rmSync(claimed, { force: true });
    } catch {
      return false;
    }
  }
  return false;
}

/**
 * Runs `fn` while holding the lock at `lockPath`.
 * @param timeoutMs - how long to wait for another process's lock before failing with LOCKED (default 60 s)
 */
export async function withLock<T>(
  lockPath: string,
  fn: () => Promise<T> | T,
  timeoutMs = 60_000,
): Promise<T> {
  fs.mkdirSync(path.dirname(lockPath), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  let delay = 10;
  while (!tryAcquire(lockPath)) {
    if (Date.now() > deadline) {
      let who = 'another process';
      try {
        const o = JSON.parse(fs.readFileSync(lockPath, 'utf8')) as LockOwner;
        who = `process ${o.pid} on ${o.host} since ${o.since}`;
      } catch {
        // keep the generic text
      }
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
    return await fn();
  } finally {
    fs.rmSync(lockPath, { force: true });
  }
}

/**
 * Crash-safe writes. Each file is written to a temp file in its own folder, fsynced, then renamed over the
 * target, so a reader sees the old or the new file, never half of one. A {@link Transaction} groups the
 * files of one command: on any failure every renamed file is put back and new files are removed, so a
 * failed command leaves the directory as it was.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { MtlsCaError } from '../pki/errors.js';

export const MODE_SECRET = 0o600;
export const MODE_PUBLIC = 0o644;

/**
 * Temp files {@link Transaction.flush} writes at once. Each is open → write → chmod → fsync → close on
 * libuv's thread pool (4 threads by default); a few more than the pool keeps it busy while one file waits
 * for its fsync, and bounds the open descriptors of a 100,000-file batch.
 */
const FLUSH_CONCURRENCY = 16;

function fsyncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // Some filesystems cannot fsync a directory; the rename is still atomic there.
  }
}

function tempPathFor(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
}

function writeTemp(target: string, data: Buffer | string, mode: number): string {
  const tmp = tempPathFor(target);
  writeTempAt(tmp, data, mode);
  return tmp;
}

function writeTempAt(tmp: string, data: Buffer | string, mode: number): void {
  // The mode is set at creation, so a secret is never readable by others, not even for a moment.
  const fd = fs.openSync(tmp, 'wx', mode);
  try {
    fs.writeFileSync(fd, data);
    fs.fchmodSync(fd, mode); // umask may have narrowed the creation mode
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * {@link writeTempAt} with the fsync on libuv's thread pool, so that many files wait for the disk at the
 * same time. Creating and writing a small file is tens of µs in the kernel and cheaper done right here than
 * as three more pool round trips with their callbacks (measured on a 1,000-client batch: ≈ 0.1 ms of this
 * thread per file, which competed with the workers for the cores); only the fsync waits for the device.
 */
function writeTempAtAsync(tmp: string, data: Buffer | string, mode: number): Promise<void> {
  // The mode is set at creation, so a secret is never readable by others, not even for a moment.
  const fd = fs.openSync(tmp, 'wx', mode);
  try {
    fs.writeFileSync(fd, data);
    fs.fchmodSync(fd, mode); // umask may have narrowed the creation mode
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
  return new Promise((resolve, reject) => {
    fs.fsync(fd, (syncError) => {
      try {
        fs.closeSync(fd);
      } catch (closeError) {
        return reject(syncError ?? closeError);
      }
      if (syncError) reject(syncError);
      else resolve();
    });
  });
}

/** Writes one file atomically with the given mode. */
export function writeFileAtomic(target: string, data: Buffer | string, mode: number = MODE_PUBLIC): void {
  fs.mkdirSync(path.dirname(target), { recursive: true, mode: 0o755 });
  const tmp = writeTemp(target, data, mode);
  try {
    fs.renameSync(tmp, target);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(path.dirname(target));
}

interface StagedWrite {
  kind: 'write';
  target: string;
  data: Buffer | string;
  mode: number;
  /** Its temp file, once a flush or the commit has started writing it (it may exist only partly). */
  tmp?: string;
  /** The temp file is complete and fsynced. */
  written?: boolean;
}
interface StagedAppend {
  kind: 'append';
  target: string;
  data: string;
}

/** IO_FAILED naming the file: the error's, else `target` (the one being written when it happened). */
function ioError(e: unknown, target?: string): MtlsCaError {
  if (e instanceof MtlsCaError) return e;
  const err = e as NodeJS.ErrnoException;
  return new MtlsCaError(
    'IO_FAILED',
    `write ${err.path ?? target ?? 'files'}: ${err.code ?? err.message}`,
    undefined,
    e,
  );
}

/**
 * A set of writes that all happen or none do. Stage with {@link write} and {@link append}, then
 * {@link commit} (or {@link commitAsync}). A long batch may {@link flush} as it goes, so that temp files are
 * written and fsynced while the rest is still being computed; if it then fails before committing, it must
 * call {@link abort} to remove them.
 */
export class Transaction {
  #staged: (StagedWrite | StagedAppend)[] = [];
  /** Folders this transaction created, outermost first; removed on rollback when empty again. */
  #createdDirs: string[] = [];
  #flushing = new Set<Promise<void>>();
  #slots = FLUSH_CONCURRENCY;
  #waiting: (() => void)[] = [];
  #backups: string[] = [];
  #finished = false;
  /** Staged entries before this index have been claimed by a flush. */
  #unflushed = 0;
  #tempId: string | undefined;
  #tempCount = 0;
  /** Folders known to exist (checked or created). */
  #knownDirs = new Set<string>();
  /** Names in a folder, listed once per commit. */
  #listings = new Map<string, Set<string>>();

  /** Stages a whole-file write (created or replaced). */
  write(target: string, data: Buffer | string, mode: number = MODE_PUBLIC): this {
    this.#assertOpen();
    this.#staged.push({ kind: 'write', target, data, mode });
    return this;
  }

  /** Stages an append (for the append-only inventory and audit log); rolled back by truncation. */
  append(target: string, data: string): this {
    this.#assertOpen();
    this.#staged.push({ kind: 'append', target, data });
    return this;
  }

  get targets(): string[] {
    return this.#staged.map((s) => s.target);
  }

  /**
   * Writes and fsyncs the temp files of every write staged so far that has none yet, {@link FLUSH_CONCURRENCY}
   * at a time on libuv's thread pool. Nothing appears under a target's name before the commit. Rejects with
   * IO_FAILED on the first failure (the transaction can then only be aborted).
   */
  flush(): Promise<void> {
    this.#assertOpen();
    const todo: StagedWrite[] = [];
    for (; this.#unflushed < this.#staged.length; this.#unflushed++) {
      const s = this.#staged[this.#unflushed]!;
      if (s.kind === 'write' && s.tmp === undefined) todo.push(s);
    }
    const run = (async () => {
      try {
        for (const s of todo) {
          this.#ensureDir(path.dirname(s.target));
          // Claimed before the first await, so a concurrent flush or the commit never writes it twice.
          s.tmp = this.#tempPath(s.target);
        }
        // allSettled: this flush is over only when none of its files is still being written, so that an
        // abort() after a failure removes every temp file and none appears after it.
        const results = await Promise.allSettled(
          todo.map(async (s) => {
            await this.#acquire();
            try {
              await writeTempAtAsync(s.tmp!, s.data, s.mode);
              s.written = true;
              s.data = ''; // on disk now: a 100,000-client batch must not keep every file in memory
            } finally {
              this.#release();
            }
          }),
        );
        const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed) throw failed.reason;
      } catch (e) {
        throw ioError(e);
      }
    })();
    this.#flushing.add(run);
    void run.then(
      () => this.#flushing.delete(run),
      () => this.#flushing.delete(run),
    );
    return run;
  }

  /**
   * {@link commit} after letting running flushes finish and writing the remaining temp files concurrently.
   * On failure the directory is restored (temp files removed) and IO_FAILED is thrown.
   */
  async commitAsync(): Promise<void> {
    try {
      await this.#settleFlushes(true);
      await this.flush();
    } catch (e) {
      await this.abort();
      throw ioError(e);
    }
    this.#commitWritten();
  }

  /**
   * Writes everything: all temp files first (so a full disk fails before anything changed), then renames,
   * then appends. Any failure restores the previous state and rethrows as IO_FAILED. Use
   * {@link commitAsync} while a {@link flush} may still be running.
   */
  commit(): void {
    this.#assertOpen();
    if (this.#flushing.size > 0)
      throw new Error('Transaction.commit() while flush() runs: use commitAsync()');
    try {
      for (const s of this.#staged) {
        if (s.kind !== 'write' || s.written) continue;
        if (s.tmp !== undefined) fs.rmSync(s.tmp, { force: true }); // left by a failed flush
        this.#ensureDir(path.dirname(s.target));
        s.tmp = this.#tempPath(s.target);
        writeTempAt(s.tmp, s.data, s.mode);
        s.written = true;
        s.data = '';
      }
    } catch (e) {
      this.#rollback([]);
      throw ioError(e);
    }
    this.#commitWritten();
  }

  /**
   * Gives up an uncommitted transaction: waits for running flushes, then removes every temp file and every
   * folder it created. Does nothing after a commit (successful or rolled back).
   */
  async abort(): Promise<void> {
    if (this.#finished) return;
    await this.#settleFlushes(false);
    this.#rollback([]);
  }

  /** Renames the (complete) temp files over their targets, appends, fsyncs the folders; all or nothing. */
  #commitWritten(): void {
    const undo: (() => void)[] = [];
    const dirs = new Set<string>(this.#createdDirs.map((d) => path.dirname(d)));
    let current: string | undefined;
    try {
      for (const s of this.#staged) {
        current = s.target;
        dirs.add(path.dirname(s.target));
        if (s.kind !== 'write') continue;
        const { tmp, target } = s as Required<StagedWrite>;
        if (this.#exists(target)) {
          const backup = this.#backup(target);
          undo.push(() => fs.renameSync(backup, target));
          fs.renameSync(tmp, target);
        } else {
          fs.renameSync(tmp, target);
          undo.push(() => fs.rmSync(target, { force: true }));
          this.#listings.get(path.dirname(target))!.add(path.basename(target));
        }
        s.tmp = undefined;
      }
      for (const s of this.#staged) {
        if (s.kind !== 'append') continue;
        current = s.target;
        const before = fs.existsSync(s.target) ? fs.statSync(s.target).size : -1;
        const fd = fs.openSync(s.target, 'a', MODE_PUBLIC);
        undo.push(() =>
          before < 0 ? fs.rmSync(s.target, { force: true }) : fs.truncateSync(s.target, before),
        );
        try {
          fs.writeSync(fd, s.data);
          fs.fsyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
      }
      current = undefined;
      for (const d of dirs) fsyncDir(d);
    } catch (e) {
      this.#rollback(undo);
      throw ioError(e, current);
    }
    this.#finished = true;
    for (const b of this.#backups) fs.rmSync(b, { force: true });
    this.#backups = [];
  }

  /**
   * Keeps the current `target` beside it until the transaction has succeeded: a hard link (the old file
   * itself, no copy to write), or a fsynced copy where the filesystem has no hard links.
   */
  #backup(target: string): string {
    let backup = this.#tempPath(target);
    try {
      fs.linkSync(target, backup);
    } catch {
      backup = writeTemp(target, fs.readFileSync(target), fs.statSync(target).mode & 0o777);
    }
    this.#backups.push(backup);
    return backup;
  }

  /** Undoes renames and appends (newest first), removes temp files and created folders. Best effort. */
  #rollback(undo: (() => void)[]): void {
    for (const u of undo.reverse()) {
      try {
        u();
      } catch {
        // best effort: keep undoing the rest
      }
    }
    const remove = (file: string) => {
      try {
        fs.rmSync(file, { force: true });
      } catch {
        // its folder is gone or not a folder: nothing to remove
      }
    };
    for (const s of this.#staged) {
      if (s.kind !== 'write') continue;
      if (s.tmp !== undefined) remove(s.tmp);
      s.tmp = undefined;
      s.written = false;
    }
    for (const b of this.#backups) remove(b);
    this.#backups = [];
    for (const d of [...this.#createdDirs].reverse()) {
      try {
        fs.rmdirSync(d); // only when empty: never takes anything it did not create
      } catch {
        // not empty or already gone
      }
    }
    this.#createdDirs = [];
    this.#finished = true;
  }

  /**
   * `.<name>.<random>-<n>.tmp` beside `target`: one random part per transaction (not 6 random bytes per
   * file: a batch names thousands) and a counter. Created with O_EXCL, so a clash fails instead of sharing.
   */
  #tempPath(target: string): string {
    this.#tempId ??= randomBytes(6).toString('hex');
    return path.join(
      path.dirname(target),
      `.${path.basename(target)}.${this.#tempId}-${this.#tempCount++}.tmp`,
    );
  }

  /**
   * Whether `target` exists, from one listing of its folder per commit instead of a stat per file (the lock
   * keeps other issuers out of the folder meanwhile).
   */
  #exists(target: string): boolean {
    const dir = path.dirname(target);
    let names = this.#listings.get(dir);
    if (!names) {
      try {
        names = new Set(fs.readdirSync(dir));
      } catch {
        names = new Set();
      }
      this.#listings.set(dir, names);
    }
    return names.has(path.basename(target));
  }

  #ensureDir(dir: string): void {
    if (this.#knownDirs.has(dir)) return;
    this.#knownDirs.add(dir);
    if (fs.existsSync(dir)) return;
    const first = fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    if (first === undefined) return;
    // every level from the first one created down to `dir`
    const levels: string[] = [];
    for (let d = dir; d.length >= first.length; d = path.dirname(d)) levels.unshift(d);
    this.#createdDirs.push(...levels);
  }

  async #settleFlushes(throwFirst: boolean): Promise<void> {
    const results = await Promise.allSettled([...this.#flushing]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (throwFirst && failed) throw failed.reason;
  }

  #acquire(): Promise<void> {
    if (this.#slots > 0) {
      this.#slots--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  #release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#slots++;
  }

  #assertOpen(): void {
    if (this.#finished) throw new Error('Transaction used after commit or abort');
  }
}

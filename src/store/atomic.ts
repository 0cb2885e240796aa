/**
 * Crash-safe writes of the CA directory. A {@link Transaction} stages what one command changes — files written
 * whole, logs appended, entries moved — and commits it all or nothing by the commit protocol of commit.ts:
 * temp files beside their targets, fsynced; a durable commit record; then renames and appends. A reader sees
 * each file old or new, never half of one; a failure leaves the directory as it was, and a crash leaves what
 * the next command finishes or undoes.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  applyCommit,
  type CommitIntent,
  type CommitRecord,
  finishCommit,
  INTENT_FILE,
  JOURNAL_FILE,
  recordPath,
  removeIntent,
  rollBackCommit,
  tempPath,
  writeCommitRecord,
  writeIntent,
} from './commit.js';
import { ioFailure } from './io-error.js';

export const MODE_SECRET = 0o600;
export const MODE_PUBLIC = 0o644;

/**
 * Temp files {@link Transaction.flush} writes at once. Each is open → write → chmod → fsync → close on
 * libuv's thread pool (4 threads by default); a few more than the pool keeps it busy while one file waits
 * for its fsync, and bounds the open descriptors of a 100,000-file batch.
 */
const FLUSH_CONCURRENCY = 16;

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
 * same time. Creating and writing a small file is cheaper done right here than as three more pool round
 * trips with their callbacks, whose cost in this thread competed with the workers for the cores (measured on
 * a 1,000-client batch, docs/performance.md); only the fsync waits for the device.
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

interface StagedWrite {
  kind: 'write';
  target: string;
  data: Buffer | string;
  mode: number;
  /** The byte length of `data` (kept when `data` is released after its temp file is written). */
  size: number;
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

/** The folders from the outermost missing one down to `dir` (empty when `dir` exists). */
export function missingLevels(dir: string): string[] {
  const levels: string[] = [];
  for (let d = dir; !fs.existsSync(d); d = path.dirname(d)) {
    levels.unshift(d);
    if (path.dirname(d) === d) break;
  }
  return levels;
}

/**
 * A set of changes that all happen or none do. Stage with {@link write}, {@link append} and {@link move},
 * then {@link commit} (or {@link commitAsync}). A long batch may {@link flush} as it goes, so that temp files
 * are written and fsynced while the rest is still being computed; if it then fails before committing, it must
 * call {@link abort} to remove them.
 */
export class Transaction {
  readonly #root: string;
  /** Part of every temp file's name, so recovery can tell this transaction's temp files apart. */
  readonly #id = randomBytes(6).toString('hex');
  #tempCount = 0;
  #staged: (StagedWrite | StagedAppend)[] = [];
  #moves: { from: string; to: string }[] = [];
  #removes: string[] = [];
  /** Folders the intent names. */
  #intentDirs = new Set<string>();
  /** Folders this transaction created, outermost first; removed on rollback when empty again. */
  #createdDirs: string[] = [];
  #flushing = new Set<Promise<void>>();
  #slots = FLUSH_CONCURRENCY;
  #waiting: (() => void)[] = [];
  #finished = false;
  /** Staged entries before this index have been claimed by a flush. */
  #unflushed = 0;
  /** Names in a folder, listed once per commit. */
  #listings = new Map<string, Set<string>>();
  /** What must commit elsewhere before this transaction's commit point: see {@link beforeCommit}. */
  #beforeCommit: (() => Promise<void>)[] = [];

  /** @param root - the CA directory, which must exist: the commit's intent and record are kept in it */
  constructor(root: string) {
    this.#root = path.resolve(root);
  }

  /** Stages a whole-file write (created or replaced). */
  write(target: string, data: Buffer | string, mode: number = MODE_PUBLIC): this {
    this.#assertOpen();
    this.#staged.push({ kind: 'write', target, data, mode, size: Buffer.byteLength(data) });
    return this;
  }

  /**
   * Stages an append (for the append-only inventory and audit log), applied after every write; rolled back
   * by truncation. Appends to one file join in order; after a write to the same file, they follow its data.
   */
  append(target: string, data: string): this {
    this.#assertOpen();
    this.#staged.push({ kind: 'append', target, data });
    return this;
  }

  /**
   * Stages a rename of a file or folder, applied before every write; missing folders of `to` are created
   * private (0700: what is moved may hold keys). No write may target a path inside a moved folder.
   */
  move(from: string, to: string): this {
    this.#assertOpen();
    this.#moves.push({ from, to });
    return this;
  }

  /**
   * Stages the removal of a file, applied after every write: it is kept as a backup until the commit is done,
   * so that a rollback (or recovery before the end) brings it back.
   */
  remove(target: string): this {
    this.#assertOpen();
    this.#removes.push(target);
    return this;
  }

  /**
   * Adds work that must succeed before the commit point — the part of the change kept outside the directory
   * (the CA's state in a database). {@link commitAsync} runs it once every temp file is written and fsynced;
   * when it fails, the transaction is aborted and nothing in the directory changes. When it succeeds and the
   * files' commit then fails (or the process dies), the outside change stands: it is the record, and these
   * files are this host's copies of it.
   */
  beforeCommit(hook: () => Promise<void>): this {
    this.#assertOpen();
    this.#beforeCommit.push(hook);
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
      this.#prepare(todo.map((s) => path.dirname(s.target)));
      // Claimed before the first await, so a concurrent flush or the commit never writes it twice.
      for (const s of todo) s.tmp = this.#tempPath(s.target);
      // allSettled: this flush is over only when none of its files is still being written, so that an
      // abort() after a failure removes every temp file and none appears after it.
      const results = await Promise.allSettled(
        todo.map(async (s) => {
          await this.#acquire();
          try {
            await writeTempAtAsync(s.tmp!, s.data, s.mode);
            s.written = true;
            s.data = ''; // on disk now: a 100,000-client batch must not keep every file in memory
          } catch (e) {
            throw ioFailure('write', s.target, e);
          } finally {
            this.#release();
          }
        }),
      );
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
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
    this.#assertOpen();
    try {
      await this.#settleFlushes(true);
      await this.flush();
    } catch (e) {
      await this.abort();
      throw ioFailure('write', this.#root, e);
    }
    try {
      for (const hook of this.#beforeCommit) await hook();
    } catch (e) {
      await this.abort();
      throw e;
    }
    this.#commitPrepared();
  }

  /**
   * Commits: all temp files first (so a full disk fails before anything changed), then the commit record,
   * then moves, renames and appends (commit.ts). Any failure restores the previous state and throws
   * IO_FAILED. Use {@link commitAsync} while a {@link flush} may still be running.
   */
  commit(): void {
    this.#assertOpen();
    if (this.#flushing.size > 0)
      throw new Error('Transaction.commit() while flush() runs: use commitAsync()');
    if (this.#beforeCommit.length > 0)
      throw new Error('Transaction.commit() with work before the commit point: use commitAsync()');
    try {
      const todo = this.#staged.filter((s): s is StagedWrite => s.kind === 'write' && !s.written);
      this.#prepare(todo.map((s) => path.dirname(s.target)));
      for (const s of todo) {
        if (s.tmp !== undefined) fs.rmSync(s.tmp, { force: true }); // left by a failed flush
        s.tmp = this.#tempPath(s.target);
        try {
          writeTempAt(s.tmp, s.data, s.mode);
        } catch (e) {
          throw ioFailure('write', s.target, e);
        }
        s.written = true;
        s.data = '';
      }
    } catch (e) {
      this.#discard();
      throw ioFailure('write', this.#root, e);
    }
    this.#commitPrepared();
  }

  /**
   * Gives up an uncommitted transaction: waits for running flushes, then removes every temp file and every
   * folder it created. Does nothing after a commit (successful or rolled back).
   */
  async abort(): Promise<void> {
    if (this.#finished) return;
    await this.#settleFlushes(false);
    this.#discard();
  }

  /** Steps 3 to 5 of the protocol, once every temp file is written; rolls back on failure. */
  #commitPrepared(): void {
    if (this.#staged.length === 0 && this.#moves.length === 0 && this.#removes.length === 0) {
      this.#discard();
      return;
    }
    let record: CommitRecord;
    try {
      record = this.#record();
      writeCommitRecord(this.#root, record);
    } catch (e) {
      this.#discard();
      throw ioFailure('write', path.join(this.#root, JOURNAL_FILE), e);
    }
    this.#finished = true;
    try {
      applyCommit(this.#root, record, false);
    } catch (e) {
      try {
        rollBackCommit(this.#root, record);
        finishCommit(this.#root, record, false);
      } catch {
        // The record (renamed .mtls-ca.undo) stays; the next command finishes the rollback.
      }
      throw e;
    }
    try {
      finishCommit(this.#root, record, false);
    } catch {
      // Committed; the next command removes what is left (applying the record again changes nothing).
    }
  }

  /** The commit record: paths as recorded, each replaced file's backup name, each log's length before. */
  #record(): CommitRecord {
    const rel = (file: string) => recordPath(this.#root, file);
    // Whether a file exists at each point of the commit, as moves and writes come and go.
    const after = new Map<string, boolean>();
    const present = (file: string) => after.get(file) ?? this.#exists(file);
    const moves = this.#moves.map((m) => {
      after.set(m.from, false).set(m.to, true);
      return { from: rel(m.from), to: rel(m.to) };
    });
    const sizes = new Map<string, number>();
    const writes: CommitRecord['writes'] = [];
    const appends = new Map<string, CommitRecord['appends'][number]>();
    for (const s of this.#staged) {
      if (s.kind === 'write') {
        if (this.#moves.some((m) => s.target.startsWith(`${m.from}${path.sep}`)))
          throw new Error(`Transaction: ${s.target} is inside a folder the transaction moves`);
        writes.push({
          target: rel(s.target),
          tmp: rel(s.tmp!),
          ...(present(s.target) ? { backup: rel(this.#tempPath(s.target)) } : {}),
        });
        after.set(s.target, true);
        sizes.set(s.target, s.size);
        continue;
      }
      const joined = appends.get(s.target);
      if (joined) {
        joined.data += s.data;
        continue;
      }
      const written = sizes.get(s.target);
      const existed = written === undefined && present(s.target);
      appends.set(s.target, {
        target: rel(s.target),
        offset: written ?? (existed ? fs.statSync(s.target).size : 0),
        data: s.data,
        created: written === undefined && !existed,
      });
    }
    const created = [...this.#createdDirs];
    for (const m of this.#moves)
      for (const d of missingLevels(path.dirname(m.to))) if (!created.includes(d)) created.push(d);
    const removes = this.#removes.map((target) => ({
      target: rel(target),
      backup: rel(this.#tempPath(target)),
    }));
    return {
      tx: this.#id,
      // The folders of removed files hold their backups until the end: recovery sweeps them too.
      dirs: [...new Set([this.#root, ...this.#intentDirs, ...this.#removes.map((f) => path.dirname(f))])].map(
        rel,
      ),
      created: created.map(rel),
      moves,
      writes,
      appends: [...appends.values()],
      ...(removes.length ? { removes } : {}),
    };
  }

  /**
   * Step 1 for the folders of the temp files about to be written: the intent names them (rewritten when a
   * batch reaches a folder it did not name yet) before any missing one is created and any temp file appears.
   */
  #prepare(dirs: string[]): void {
    const fresh = [...new Set(dirs)].filter((d) => !this.#intentDirs.has(d));
    if (fresh.length === 0) return;
    const creating: string[] = [];
    for (const d of fresh)
      for (const level of missingLevels(d)) if (!creating.includes(level)) creating.push(level);
    for (const d of [this.#root, ...fresh]) this.#intentDirs.add(d);
    const rel = (file: string) => recordPath(this.#root, file);
    const intent: CommitIntent = {
      tx: this.#id,
      dirs: [...this.#intentDirs].map(rel),
      created: [...this.#createdDirs, ...creating].map(rel),
    };
    try {
      writeIntent(this.#root, intent);
    } catch (e) {
      throw ioFailure('write', path.join(this.#root, INTENT_FILE), e);
    }
    for (const d of creating) {
      try {
        fs.mkdirSync(d, { mode: 0o755 });
      } catch (e) {
        throw ioFailure('create', d, e);
      }
      this.#createdDirs.push(d);
    }
  }

  /** Removes the temp files, the folders created and the intent of a transaction that did not commit. */
  #discard(): void {
    for (const s of this.#staged) {
      if (s.kind !== 'write') continue;
      if (s.tmp !== undefined) {
        try {
          fs.rmSync(s.tmp, { force: true });
        } catch {
          // its folder is gone or not a folder: nothing to remove
        }
      }
      s.tmp = undefined;
      s.written = false;
    }
    for (const d of [...this.#createdDirs].reverse()) {
      try {
        fs.rmdirSync(d); // only when empty: never takes anything it did not create
      } catch {
        // not empty or already gone
      }
    }
    this.#createdDirs = [];
    try {
      if (this.#intentDirs.size > 0) removeIntent(this.#root);
    } catch {
      // the next command removes it
    }
    this.#finished = true;
  }

  /**
   * `.<name>.<id>-<n>.tmp` beside `target`: one random id per transaction (not random bytes per file: a batch
   * names thousands) and a counter. Created with O_EXCL, so a clash fails instead of sharing.
   */
  #tempPath(target: string): string {
    return tempPath(target, this.#id, this.#tempCount++);
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

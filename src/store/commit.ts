/**
 * The commit protocol of the CA directory: how the files of one command change together, and how the next
 * command finishes or undoes a commit that a crash (a kill, a power cut) interrupted.
 *
 * Three files in the CA directory's root keep the state of a commit (each absent when there is none):
 *
 * - `.mtls-ca.txn` — the intent: the transaction's id, the folders it writes temp files in, the folders it
 *   creates. Written before its first temp file.
 * - `.mtls-ca.journal` — the commit record: every move, file and log append of the commit, with what undoes
 *   it. Its presence is the commit point.
 * - `.mtls-ca.undo` — the commit record again, renamed so while the commit is being rolled back.
 *
 * A commit ({@link Transaction} in atomic.ts stages it; every command that changes the directory uses one),
 * all under the directory lock:
 *
 * 1. Intent: `.mtls-ca.txn` is written.
 * 2. Files, prepared: every new file content goes to a temp file beside its target, `.<name>.<id>-<n>.tmp`,
 *    written and fsynced. Nothing a reader looks at has changed yet; a full disk fails here.
 * 3. Commit point: the commit record is written to `.mtls-ca.journal.tmp`, fsynced and renamed to
 *    `.mtls-ca.journal`, and the root folder fsynced. It lists each file's temp file, target and, when the
 *    target exists, the name of its backup; each file to remove and the name of its backup; each log's
 *    length before the commit and the bytes it gains; the moves of `init --force`, `import --force` and
 *    `ca rotate`.
 * 4. Apply ({@link applyCommit}), in this order: moves; files — each replaced file is hard-linked to its
 *    backup, then the temp file renamed over it (the CRL, users.json and ca/audit.head are among them); files
 *    removed — each hard-linked to its backup, then unlinked (`root export`); then the logs grow: the
 *    inventory (inventory.jsonl, inventory.idx, inventory.names), then the audit log. Each log is written at its recorded
 *    length and cut after the new bytes, so that applying twice is applying once. The folders are fsynced.
 * 5. Done ({@link finishCommit}): the backups are removed (a removed file's last link with them), then the
 *    commit record (the root folder fsynced, so that no later commit can find it again), then the intent.
 *
 * When a step of 4 fails in the process (a full disk as a log grows, a folder where a file must go), the
 * commit is rolled back ({@link rollBackCommit}): the record is renamed to `.mtls-ca.undo`, logs are cut back
 * to their recorded length (or removed when the commit created them), backups renamed back over their files,
 * new files removed, moves reversed and created folders removed; the command fails with IO_FAILED and the
 * directory is as it was. A rollback needs no free space.
 *
 * Recovery ({@link recoverCommit}) runs first in every command that takes the lock, and readers take the lock
 * for it when they find a commit record (CaStore):
 *
 * - `.mtls-ca.undo`: the rollback is finished.
 * - `.mtls-ca.journal`: the commit is applied again — rolled forward — or rolled back when that fails (the disk
 *   filled up since).
 * - `.mtls-ca.txn` alone: the crash came before the commit point; the transaction's temp files are removed —
 *   rolled back.
 *
 * Every step only renames, links, removes, or writes bytes at a recorded place, so recovery interrupted again
 * is recovered by the next command in turn.
 *
 * Why this keeps the CA directory's promises:
 *
 * - A signed certificate reaches its name only in step 4, after the record holding its inventory and audit
 *   lines is durable: once the next command has run, it is in the inventory — listed and revocable — or it was
 *   removed again by a rollback. Never on disk and unknown.
 * - The CRL, the inventory and the audit log change in one commit, so after recovery they agree, and every
 *   inventory change has its audit line. The audit head, which anchors the log's length outside it, is one of
 *   the commit's files, so it always counts the lines of finished commits.
 * - Temp files and backups carry the transaction's id and live only in the folders its intent and record name,
 *   so recovery finds each one — temp files holding private keys included.
 * - Between steps 3 and 5 the files may disagree (a CRL newer than the inventory, a log half written). A reader
 *   without the lock that finds the commit record waits for the lock instead (which finishes the commit)
 *   before it trusts what it read; see CaStore.readFinished.
 */
import fs from 'node:fs';
import path from 'node:path';
import { MtlsCaError } from '../pki/errors.js';
import { ioFailure } from './io-error.js';

/** Mode of a log a commit creates (the inventory and audit log are public). */
const MODE_LOG = 0o644;

export const INTENT_FILE = '.mtls-ca.txn';
export const JOURNAL_FILE = '.mtls-ca.journal';
const UNDO_FILE = '.mtls-ca.undo';
/** Where the intent and the commit record are written before being renamed into place. */
const INTENT_TEMP = `${INTENT_FILE}.tmp`;
const JOURNAL_TEMP = `${JOURNAL_FILE}.tmp`;

/**
 * What recovery needs to remove a transaction's temp files. Paths are relative to the CA directory, or
 * absolute outside it (`sign-csr --out`).
 */
export interface CommitIntent {
  /** The transaction's id, part of the name of each of its temp files. */
  tx: string;
  /** Folders holding its temp files and backups. */
  dirs: string[];
  /** Folders it created (or is about to), outermost first: removed again by a rollback when empty. */
  created: string[];
}

/** The commit record: an intent plus everything the commit changes. */
export interface CommitRecord extends CommitIntent {
  /** Renames done first (CaStore.stageBackup moving the old CA to a backup folder). */
  moves: { from: string; to: string }[];
  /** Files created or replaced: `tmp` is renamed over `target`; `backup` keeps a replaced target until done. */
  writes: { target: string; tmp: string; backup?: string }[];
  /** Logs that grow by `data` at byte `offset`; `created` when the log did not exist before. */
  appends: { target: string; offset: number; data: string; created: boolean }[];
  /**
   * Files removed (a root key taken offline): each kept as `backup` until the commit is done, so that a
   * rollback brings it back. Absent in records written before removals existed.
   */
  removes?: { target: string; backup: string }[];
}

/** `file` as a commit record holds it: relative to `root` when inside it, else absolute. */
export function recordPath(root: string, file: string): string {
  const rel = path.relative(root, file);
  return rel === '' ? '.' : rel.startsWith('..') || path.isAbsolute(rel) ? path.resolve(file) : rel;
}

/** A transaction's temp file name for `target`: `.<name>.<tx>-<n>.tmp` beside it. */
export function tempPath(target: string, tx: string, n: number): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${tx}-${n}.tmp`);
}

function fsyncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // Some file systems cannot fsync a folder; the rename is still atomic there.
  }
}

function exists(file: string): boolean {
  try {
    fs.lstatSync(file);
    return true;
  } catch {
    return false;
  }
}

/** Writes the intent (replacing an earlier one of the same transaction). Not fsynced: it only serves cleanup. */
export function writeIntent(root: string, intent: CommitIntent): void {
  const tmp = path.join(root, INTENT_TEMP);
  fs.writeFileSync(tmp, JSON.stringify(intent));
  fs.renameSync(tmp, path.join(root, INTENT_FILE));
}

/** Step 3, the commit point: the record, durable under its final name. */
export function writeCommitRecord(root: string, record: CommitRecord): void {
  const tmp = path.join(root, JOURNAL_TEMP);
  try {
    const fd = fs.openSync(tmp, 'w', 0o600);
    try {
      fs.writeSync(fd, JSON.stringify(record));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, path.join(root, JOURNAL_FILE));
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw ioFailure('write', path.join(root, JOURNAL_FILE), e);
  }
  fsyncDir(root);
}

/**
 * Keeps `target` as `backup` until the commit is done: a hard link (the same file, nothing copied), or where
 * the file system has none, the file itself renamed (its name is then briefly empty until the new one lands).
 */
function keepBackup(target: string, backup: string): void {
  try {
    fs.linkSync(target, backup);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EMLINK', 'EXDEV'].includes(code ?? '')) throw e;
    // Linux refuses to link a folder with EPERM too: a folder where a file must go is an error, not replaced.
    if (fs.lstatSync(target).isDirectory())
      throw Object.assign(new Error(`EISDIR: ${target}`), { code: 'EISDIR' });
    fs.renameSync(target, backup);
  }
}

/** Whether `fd` holds `bytes` at `offset`. */
function holds(fd: number, offset: number, bytes: Buffer): boolean {
  const found = Buffer.alloc(bytes.length);
  return fs.readSync(fd, found, 0, bytes.length, offset) === bytes.length && found.equals(bytes);
}

/** A log's append: `data` at `offset`, then the file cut after it; fsynced. */
function writeLogAt(file: string, offset: number, data: string, created: boolean, again: boolean): void {
  const bytes = Buffer.from(data, 'utf8');
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, MODE_LOG);
  try {
    const size = fs.fstatSync(fd).size;
    if (size < offset || (!again && size !== offset)) {
      throw new MtlsCaError(
        'IO_FAILED',
        `append ${file}: it is ${size} bytes where this commit began at ${offset} (changed by something else)`,
      );
    }
    if (again && size >= offset + bytes.length && holds(fd, offset, bytes)) return;
    if (created) fs.fchmodSync(fd, MODE_LOG); // the umask may have narrowed the mode
    fs.writeSync(fd, bytes, 0, bytes.length, offset);
    if (size > offset + bytes.length) fs.ftruncateSync(fd, offset + bytes.length);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Step 4: applies a commit record. Idempotent: with `again` (recovery) it skips what an earlier run did.
 * Throws IO_FAILED naming the file it failed on.
 * @param again - whether an earlier run may have applied part of it (recovery), or this is the first
 */
export function applyCommit(root: string, record: CommitRecord, again: boolean): void {
  const at = (p: string) => path.resolve(root, p);
  const touched = new Set<string>();
  let file = root;
  try {
    for (const m of record.moves) {
      const from = at(m.from);
      const to = at(m.to);
      file = from;
      // Done when `to` exists: `from` may exist again by then, as one of the commit's new files.
      if (again && exists(to)) continue;
      // The backup folder is private: it holds keys.
      fs.mkdirSync(path.dirname(to), { recursive: true, mode: 0o700 });
      fs.renameSync(from, to);
      touched.add(path.dirname(from)).add(path.dirname(to));
    }
    for (const w of record.writes) {
      const tmp = at(w.tmp);
      const target = at(w.target);
      file = target;
      if (again && !exists(tmp)) continue; // renamed by an earlier run
      if (w.backup && !(again && exists(at(w.backup)))) keepBackup(target, at(w.backup));
      fs.renameSync(tmp, target);
      touched.add(path.dirname(target));
    }
    for (const r of record.removes ?? []) {
      const target = at(r.target);
      file = target;
      if (again && !exists(target)) continue; // removed by an earlier run
      if (!(again && exists(at(r.backup)))) keepBackup(target, at(r.backup));
      fs.rmSync(target, { force: true });
      touched.add(path.dirname(target));
    }
    for (const a of record.appends) {
      file = at(a.target);
      writeLogAt(file, a.offset, a.data, a.created, again);
    }
  } catch (e) {
    throw ioFailure('write', file, e);
  }
  for (const d of touched) fsyncDir(d);
}

/**
 * Rolls a commit back (see the module comment); needs no free space. Idempotent, and safe at any point of
 * {@link applyCommit}: what was not applied yet is left alone.
 */
export function rollBackCommit(root: string, record: CommitRecord): void {
  const at = (p: string) => path.resolve(root, p);
  const journal = path.join(root, JOURNAL_FILE);
  let file = journal;
  try {
    // Marked first: a rollback interrupted must be finished as a rollback, never applied again.
    if (exists(journal)) {
      fs.renameSync(journal, path.join(root, UNDO_FILE));
      fsyncDir(root);
    }
    for (const a of [...record.appends].reverse()) {
      file = at(a.target);
      if (a.created) fs.rmSync(file, { force: true });
      else if (exists(file) && fs.statSync(file).size > a.offset) fs.truncateSync(file, a.offset);
    }
    for (const r of [...(record.removes ?? [])].reverse()) {
      file = at(r.target);
      if (exists(at(r.backup))) {
        fs.renameSync(at(r.backup), file);
        fs.rmSync(at(r.backup), { force: true }); // still there when it was a link to the target itself
      }
    }
    for (const w of [...record.writes].reverse()) {
      const tmp = at(w.tmp);
      const target = at(w.target);
      file = target;
      if (w.backup) {
        const backup = at(w.backup);
        if (exists(backup)) {
          fs.renameSync(backup, target);
          fs.rmSync(backup, { force: true }); // still there when it was a link to the target itself
        }
      } else if (!exists(tmp)) {
        fs.rmSync(target, { force: true }); // a new file that was renamed into place
      }
      fs.rmSync(tmp, { force: true });
    }
    for (const m of [...record.moves].reverse()) {
      const from = at(m.from);
      const to = at(m.to);
      file = from;
      if (exists(to) && !exists(from)) fs.renameSync(to, from);
    }
  } catch (e) {
    throw ioFailure('roll back', file, e);
  }
  for (const d of [...record.created].reverse()) {
    try {
      fs.rmdirSync(at(d)); // only when empty: never takes anything it did not create
    } catch {
      // not empty, or never created
    }
  }
  for (const d of new Set([...record.dirs, ...record.moves.map((m) => path.dirname(m.from))]))
    fsyncDir(at(d));
}

/** Removes the temp files and backups of transaction `tx` in its folders (recovery's sweep). */
function removeTempFiles(root: string, intent: CommitIntent): void {
  const suffix = new RegExp(`^\\..+\\.${intent.tx}-\\d+\\.tmp$`);
  for (const d of intent.dirs) {
    const dir = path.resolve(root, d);
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      continue; // removed meanwhile, or never created
    }
    for (const name of names) if (suffix.test(name)) fs.rmSync(path.join(dir, name), { force: true });
  }
}

/**
 * Step 5: removes the backups, the commit record (applied or rolled back) and the intent.
 * @param again - also sweep the transaction's folders for temp files an interrupted run left (recovery)
 */
export function finishCommit(root: string, record: CommitRecord, again: boolean): void {
  for (const w of record.writes) if (w.backup) fs.rmSync(path.resolve(root, w.backup), { force: true });
  for (const r of record.removes ?? []) fs.rmSync(path.resolve(root, r.backup), { force: true });
  if (again) removeTempFiles(root, record);
  fs.rmSync(path.join(root, JOURNAL_FILE), { force: true });
  fs.rmSync(path.join(root, UNDO_FILE), { force: true });
  fsyncDir(root);
  removeIntent(root);
}

/** Removes the intent (the transaction ended without a commit record, or its record is gone). */
export function removeIntent(root: string): void {
  fs.rmSync(path.join(root, INTENT_FILE), { force: true });
  fs.rmSync(path.join(root, INTENT_TEMP), { force: true });
  fs.rmSync(path.join(root, JOURNAL_TEMP), { force: true });
}

/** Whether a commit is past its commit point and not finished: files may disagree until it is. */
export function commitPending(root: string): boolean {
  return exists(path.join(root, JOURNAL_FILE)) || exists(path.join(root, UNDO_FILE));
}

function readJson<T>(file: string): T | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw ioFailure('read', file, e);
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new MtlsCaError(
      'IO_FAILED',
      `read ${file}: not a commit record of mtls-ca (damaged, or edited by hand)`,
      'restore the CA directory from a backup',
    );
  }
}

/**
 * Finishes what an interrupted commit left (see the module comment). Call it holding the lock, before
 * reading anything else. Returns whether there was anything to do.
 */
export function recoverCommit(root: string): boolean {
  const undo = readJson<CommitRecord>(path.join(root, UNDO_FILE));
  if (undo) {
    rollBackCommit(root, undo);
    finishCommit(root, undo, true);
    return true;
  }
  const record = readJson<CommitRecord>(path.join(root, JOURNAL_FILE));
  if (record) {
    try {
      applyCommit(root, record, true);
    } catch {
      rollBackCommit(root, record); // the disk filled up since, or a file went missing
    }
    finishCommit(root, record, true);
    return true;
  }
  let intent: CommitIntent | undefined;
  try {
    intent = readJson<CommitIntent>(path.join(root, INTENT_FILE));
  } catch {
    intent = undefined; // written by rename, so never torn; damaged by hand: nothing to clean up after
  }
  if (intent) {
    removeTempFiles(root, intent);
    for (const d of [...intent.created].reverse()) {
      try {
        fs.rmdirSync(path.resolve(root, d));
      } catch {
        // not empty, or never created
      }
    }
  }
  const leftovers = [INTENT_FILE, INTENT_TEMP, JOURNAL_TEMP].some((f) => exists(path.join(root, f)));
  removeIntent(root);
  return intent !== undefined || leftovers;
}

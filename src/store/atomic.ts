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

function writeTemp(target: string, data: Buffer | string, mode: number): string {
  const tmp = path.join(
    path.dirname(target),
    `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`,
  );
  // The mode is set at creation, so a secret is never readable by others, not even for a moment.
  const fd = fs.openSync(tmp, 'wx', mode);
  try {
    fs.writeFileSync(fd, data);
    fs.fchmodSync(fd, mode); // umask may have narrowed the creation mode
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return tmp;
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
}
interface StagedAppend {
  kind: 'append';
  target: string;
  data: string;
}

/** A set of writes that all happen or none do. */
export class Transaction {
  #staged: (StagedWrite | StagedAppend)[] = [];

  /** Stages a whole-file write (created or replaced). */
  write(target: string, data: Buffer | string, mode: number = MODE_PUBLIC): this {
    this.#staged.push({ kind: 'write', target, data, mode });
    return this;
  }

  /** Stages an append (for the append-only inventory and audit log); rolled back by truncation. */
  append(target: string, data: string): this {
    this.#staged.push({ kind: 'append', target, data });
    return this;
  }

  get targets(): string[] {
    return this.#staged.map((s) => s.target);
  }

  /**
   * Writes everything: all temp files first (so a full disk fails before anything changed), then renames,
   * then appends. Any failure restores the previous state and rethrows as IO_FAILED.
   */
  commit(): void {
    const temps: { tmp: string; target: string }[] = [];
    const undo: (() => void)[] = [];
    const dirs = new Set<string>();
    try {
      for (const s of this.#staged) {
        const dir = path.dirname(s.target);
        if (!fs.existsSync(dir)) {
          fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
          undo.push(() => fs.rmSync(dir, { recursive: true, force: true }));
        }
        dirs.add(dir);
        if (s.kind === 'write') temps.push({ tmp: writeTemp(s.target, s.data, s.mode), target: s.target });
      }
      for (const { tmp, target } of temps) {
        if (fs.existsSync(target)) {
          const backup = writeTemp(target, fs.readFileSync(target), fs.statSync(target).mode & 0o777);
          undo.push(() => {
            fs.renameSync(backup, target);
          });
          // the backup is kept until the whole transaction has succeeded
          this.#backups.push(backup);
          fs.renameSync(tmp, target);
        } else {
          fs.renameSync(tmp, target);
          undo.push(() => fs.rmSync(target, { force: true }));
        }
      }
      temps.length = 0;
      for (const s of this.#staged) {
        if (s.kind !== 'append') continue;
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
      for (const d of dirs) fsyncDir(d);
    } catch (e) {
      for (const { tmp } of temps) fs.rmSync(tmp, { force: true });
      for (const u of undo.reverse()) {
        try {
          u();
        } catch {
          // best effort: keep undoing the rest
        }
      }
      this.#backups = [];
      const err = e as NodeJS.ErrnoException;
      throw new MtlsCaError(
        'IO_FAILED',
        `write ${err.path ?? 'files'}: ${err.code ?? err.message}`,
        undefined,
        e,
      );
    }
    for (const b of this.#backups) fs.rmSync(b, { force: true });
    this.#backups = [];
  }

  #backups: string[] = [];
}

/**
 * How the server notices that a file it serves from (users.json, the CRL, its certificate and key) changed:
 * a version string from `stat`, and a watch on the file's directory plus, where a promise depends on it, a
 * poll. The CA store replaces files by rename (a new inode), which a watch on the file itself would lose, so
 * the directory is watched; inotify can still miss a change (a directory swapped underneath, network file
 * systems), which is what the poll and the callers' own time-based rechecks are for.
 */
import fs from 'node:fs';
import path from 'node:path';

/** {@link fileVersion} of a file that does not exist. */
export const MISSING = 'missing';

/**
 * Changes whenever the file is replaced (rename: new inode), rewritten or touched; {@link MISSING} when it
 * does not exist. Any other stat failure is a version of its own (`error:<errno code>`), so a caller that
 * remembers the versions it has looked at reports it once, not on every check.
 * @param file - the file to stat
 */
export function fileVersion(file: string): string {
  try {
    const st = fs.statSync(file);
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? MISSING : `error:${code}`;
  }
}

/** The errno code of a {@link fileVersion} that is a stat failure, else undefined. */
export function statFailure(version: string): string | undefined {
  return version.startsWith('error:') ? version.slice('error:'.length) : undefined;
}

export interface FileWatch {
  close(): void;
}

export interface WatchOptions {
  /** Also call `onChange` every this many ms, whatever the watch reports; default: never. */
  pollMs?: number;
  /**
   * fs.watch reports one rename as several events: with a value above 0, a burst of events makes one call
   * this many ms after its last event; default 0, a call per event.
   */
  settleMs?: number;
}

/**
 * Calls `onChange` when anything happens to one of `files` (a watch on each one's directory) and, with
 * `pollMs`, regularly regardless. `onChange` decides whether a file really changed ({@link fileVersion}).
 * Nothing here keeps the process alive.
 * @param files - the files to watch; files in one directory share its watch
 * @param onChange - called with no arguments; it must not throw
 */
export function watchFiles(
  files: readonly string[],
  onChange: () => void,
  options: WatchOptions = {},
): FileWatch {
  const { pollMs, settleMs = 0 } = options;
  let settle: NodeJS.Timeout | undefined;
  const notify =
    settleMs > 0
      ? () => {
          clearTimeout(settle);
          settle = setTimeout(onChange, settleMs);
          settle.unref();
        }
      : onChange;
  const watchers: fs.FSWatcher[] = [];
  const byDirectory = new Map<string, Set<string>>();
  for (const file of files) {
    const dir = path.dirname(file);
    if (!byDirectory.has(dir)) byDirectory.set(dir, new Set());
    byDirectory.get(dir)!.add(path.basename(file));
  }
  for (const [dir, names] of byDirectory) {
    try {
      const watcher = fs.watch(dir, { persistent: false }, (_event, changed) => {
        if (changed === null || names.has(changed)) notify();
      });
      // The directory went away or the watch broke: the poll (or the caller's recheck) still covers it.
      watcher.on('error', () => watcher.close());
      watchers.push(watcher);
    } catch {
      // No directory yet, or no inotify here: polling alone.
    }
  }
  const poll = pollMs === undefined ? undefined : setInterval(onChange, pollMs);
  poll?.unref();
  return {
    close() {
      clearInterval(poll);
      clearTimeout(settle);
      for (const watcher of watchers) watcher.close();
    },
  };
}

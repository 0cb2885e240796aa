/**
 * users.json — who may do what. The tutorial's `UserDetailsService`, as a file that takes effect without a
 * restart: the file is re-read when its identity, size or times change (file-watch.ts). A lookup stats it
 * when a watch on its directory saw something happen to it, and at least once a second regardless (a watch
 * can miss a change: another inode after a directory swap, network file systems) — not on every request: a
 * stat is a noticeable share of serving a request (docs/performance.md). A file caught
 * half-written by an editor must not take the server down, so a version that fails to parse is reported
 * once and the last good version stays in force.
 *
 * Format: `{ "users": { "pavel": { "roles": ["user"] } } }`.
 */
import { INPUT, readUserFile } from '../files/user-file.js';
import { MtlsCaError } from '../pki/errors.js';
import { type FileWatch, fileVersion, MISSING, statFailure, watchFiles } from './file-watch.js';
import type { ServerLogger } from './log.js';

export interface UserRecord {
  readonly roles: readonly string[];
}

export interface UserDirectory {
  /** The users file this directory reads. */
  readonly file: string;
  /**
   * The user's record, re-reading the file first if it changed; undefined for an unknown name.
   * @param name - the certificate's common name
   */
  find(name: string): UserRecord | undefined;
  /** Stops watching the file. */
  close(): void;
}

export interface UserDirectoryOptions {
  /** Receives `users-*` events; each problem is reported once per file version. */
  logger?: ServerLogger;
  /**
   * Stat the file on a lookup at least this often (ms), watch or not; default 1000. 0: on every lookup,
   * and no watch (a change applies to the very next lookup).
   */
  recheckMs?: number;
}

const EXAMPLE = 'it must look like {"users": {"pavel": {"roles": ["user"]}}}';

/**
 * Parses the users file. A Map, not an object, so names like `__proto__` or `constructor` are plain keys.
 * @param text - the file contents
 * @param what - names the file in errors
 */
export function parseUsersFile(text: string, what: string): Map<string, UserRecord> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new MtlsCaError(
      'PARSE_FAILED',
      `read ${what}: not valid JSON (${(e as Error).message})`,
      EXAMPLE,
      e,
    );
  }
  const invalid = (cause: string) => new MtlsCaError('PARSE_FAILED', `read ${what}: ${cause}`, EXAMPLE);
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(parsed) || !isObject(parsed.users)) throw invalid('no "users" object');
  const out = new Map<string, UserRecord>();
  for (const [name, entry] of Object.entries(parsed.users)) {
    if (name.length === 0) throw invalid('a user name is empty');
    if (!isObject(entry) || !Array.isArray(entry.roles)) {
      throw invalid(`user ${JSON.stringify(name)} has no "roles" list`);
    }
    const roles = entry.roles as unknown[];
    if (!roles.every((r): r is string => typeof r === 'string' && r.length > 0)) {
      throw invalid(`user ${JSON.stringify(name)} has a role that is not a non-empty string`);
    }
    out.set(name, Object.freeze({ roles: Object.freeze([...roles]) }));
  }
  return out;
}

/**
 * Opens the users file. At start-up a malformed file is an error (the operator is watching); a missing
 * file means nobody is allowed in, and says so. While running, a missing file also denies everyone (deleting
 * users.json revokes access), while a malformed or unreadable one keeps the last good version.
 * @param file - path to users.json
 */
export function openUserDirectory(file: string, options: UserDirectoryOptions = {}): UserDirectory {
  const { logger, recheckMs = 1000 } = options;
  let users = new Map<string, UserRecord>();
  let version: string;
  let reported: string | undefined;
  const reportOnce = (key: string, level: 'warn' | 'error', event: string, message: string) => {
    if (reported === key) return;
    reported = key;
    logger?.event(level, event, message, { file });
  };

  const read = () => parseUsersFile(readUserFile(file, INPUT.users).toString('utf8'), file);

  version = fileVersion(file);
  const failure = statFailure(version);
  if (failure !== undefined) {
    throw new MtlsCaError('IO_FAILED', `read ${file}: cannot stat it (${failure})`);
  }
  if (version === MISSING) {
    reportOnce(MISSING, 'warn', 'users-missing', 'users file not found: every client is denied');
  } else {
    try {
      users = read();
    } catch (e) {
      if (e instanceof MtlsCaError) throw e;
      throw new MtlsCaError('IO_FAILED', `read ${file}: ${(e as Error).message}`, undefined, e);
    }
  }

  const refresh = (): void => {
    const next = fileVersion(file);
    if (next === version) return;
    const failure = statFailure(next);
    if (failure !== undefined) {
      reportOnce(next, 'error', 'users-unreadable', `read ${file}: cannot stat it (${failure})`);
      return;
    }
    if (next === MISSING) {
      users = new Map();
      version = MISSING;
      reportOnce(MISSING, 'warn', 'users-missing', 'users file not found: every client is denied');
      return;
    }
    try {
      users = read();
      version = next;
      reported = undefined;
      logger?.event('info', 'users-loaded', `users file loaded: ${users.size} user(s)`, { file });
    } catch (e) {
      // Leave `version` alone: the next request looks again, and an editor's final write is picked up.
      const message = e instanceof MtlsCaError ? e.message : `read ${file}: ${(e as Error).message}`;
      reportOnce(next, 'error', 'users-invalid', `${message}; keeping the last good version`);
    }
  };

  let stale = false;
  let checkedAt = Date.now();
  // No poll: a lookup rechecks on its own schedule (recheckMs), so a quiet server stats nothing.
  const watch: FileWatch | undefined =
    recheckMs > 0
      ? watchFiles([file], () => {
          stale = true;
        })
      : undefined;

  return {
    file,
    find(name) {
      const now = Date.now();
      if (stale || now - checkedAt >= recheckMs) {
        stale = false;
        checkedAt = now;
        refresh();
      }
      return users.get(name);
    },
    close() {
      watch?.close();
    },
  };
}

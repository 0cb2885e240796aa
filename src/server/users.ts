/**
 * users.json — who may do what. The tutorial's `UserDetailsService`, as a file that takes effect without a
 * restart: every lookup stats the file (one cheap syscall) and re-reads it when its identity, size or times
 * change. A file caught half-written by an editor must not take the server down, so a version that fails to
 * parse is reported once and the last good version stays in force.
 *
 * Format: `{ "users": { "pavel": { "roles": ["user"] } } }`.
 */
import fs from 'node:fs';
import { MtlsCaError } from '../pki/errors.js';
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
  find(name: string): Promise<UserRecord | undefined>;
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

/** Changes whenever the file is replaced (atomic rename: new inode), rewritten or touched. */
function versionOf(st: fs.Stats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
}

const MISSING = 'missing';

/**
 * Opens the users file. At start-up a malformed file is an error (the operator is watching); a missing
 * file means nobody is allowed in, and says so. While running, a missing file also denies everyone (deleting
 * users.json revokes access), while a malformed or unreadable one keeps the last good version.
 * @param file - path to users.json
 * @param logger - receives `users-*` events; each problem is reported once per file version
 */
export function openUserDirectory(file: string, logger?: ServerLogger): UserDirectory {
  let users = new Map<string, UserRecord>();
  let version: string | undefined;
  let reported: string | undefined;
  let refreshing: Promise<void> | undefined;

  const reportOnce = (key: string, level: 'warn' | 'error', event: string, message: string) => {
    if (reported === key) return;
    reported = key;
    logger?.event(level, event, message, { file });
  };

  try {
    const st = fs.statSync(file);
    users = parseUsersFile(fs.readFileSync(file, 'utf8'), file);
    version = versionOf(st);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      if (e instanceof MtlsCaError) throw e;
      throw new MtlsCaError('IO_FAILED', `read ${file}: ${(e as Error).message}`, undefined, e);
    }
    version = MISSING;
    reportOnce(MISSING, 'warn', 'users-missing', 'users file not found: every client is denied');
  }

  const refresh = async (): Promise<void> => {
    let st: fs.Stats;
    try {
      st = await fs.promises.stat(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        if (version !== MISSING) {
          users = new Map();
          version = MISSING;
          reportOnce(MISSING, 'warn', 'users-missing', 'users file not found: every client is denied');
        }
        return;
      }
      reportOnce(`stat:${(e as Error).message}`, 'error', 'users-unreadable', (e as Error).message);
      return;
    }
    const next = versionOf(st);
    if (next === version) return;
    try {
      users = parseUsersFile(await fs.promises.readFile(file, 'utf8'), file);
      version = next;
      reported = undefined;
      logger?.event('info', 'users-loaded', `users file loaded: ${users.size} user(s)`, { file });
    } catch (e) {
      // Leave `version` alone: the next request looks again, and an editor's final write is picked up.
      const message = e instanceof MtlsCaError ? e.message : `read ${file}: ${(e as Error).message}`;
      reportOnce(next, 'error', 'users-invalid', `${message}; keeping the last good version`);
    }
  };

  return {
    file,
    async find(name) {
      // Concurrent requests share one refresh instead of each reading the file.
      refreshing ??= refresh().finally(() => {
        refreshing = undefined;
      });
      await refreshing;
      return users.get(name);
    },
  };
}

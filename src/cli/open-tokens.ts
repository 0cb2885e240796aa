/**
 * Token sessions a command opened, closed when it ends ({@link main}): the token logs the process out with
 * its last session, so a later command in the same process (a test, a library user) must log in again — with
 * the right PIN. A module of its own, without imports, so that main.ts loads no token code for it.
 */

const open = new Set<{ close(): void }>();

/** Closes `key` when the command ends. */
export function closeWhenDone(key: { close(): void }): void {
  open.add(key);
}

/** Closes every token key the command opened. */
export function closeOpenTokens(): void {
  for (const key of open) key.close();
  open.clear();
}

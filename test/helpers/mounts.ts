/**
 * Real file systems in trouble, for the disk-error tests: a tiny tmpfs that fills up, a read-only bind mount,
 * another user. They need root: CI runs as root; locally, without it, the suite is skipped with a reason.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, test } from 'vitest';
import { inCi, runOk } from './tools.js';

export const isRoot = process.getuid?.() === 0;

/** A describe block that needs root: skipped with a reason locally, failing under CI=true. */
export function describeAsRoot(name: string, fn: () => void): void {
  if (isRoot) describe(name, fn);
  else if (inCi) {
    describe(name, () => {
      test('runs as root', () => {
        throw new Error('these tests mount file systems and switch users: CI must run them as root');
      });
    });
  } else {
    console.warn(`[skip] ${name}: needs root (mount, setpriv)`);
    describe.skip(name, fn);
  }
}

/** Mounts made by the tests of a describe block, unmounted (newest first) after them. */
export function useMounts() {
  const mounted: string[] = [];
  afterAll(() => {
    for (const m of mounted.reverse()) runOk('umount', [m]);
  });
  return {
    /** An empty tmpfs of `sizeKb` KiB at `at` (created if missing). */
    tmpfs(at: string, sizeKb: number): string {
      fs.mkdirSync(at, { recursive: true });
      runOk('mount', ['-t', 'tmpfs', '-o', `size=${sizeKb}k`, 'tmpfs', at]);
      mounted.push(at);
      return at;
    },
    /** `source` seen read-only at `at`. */
    readOnlyBind(source: string, at: string): string {
      fs.mkdirSync(at, { recursive: true });
      runOk('mount', ['--bind', source, at]);
      mounted.push(at);
      runOk('mount', ['-o', 'remount,ro,bind', at]);
      return at;
    },
  };
}

/**
 * Fills the file system of `dir` until `pages` pages of 4 KiB are left, with a file `filler` in it.
 * @returns the filler's path, to remove again
 */
export function fillUntil(dir: string, pages: number, filler = path.join(dir, 'filler')): string {
  fs.rmSync(filler, { force: true });
  const st = fs.statfsSync(dir);
  const free = st.bavail * st.bsize;
  fs.writeFileSync(filler, Buffer.alloc(Math.max(0, free - pages * 4096)));
  return filler;
}

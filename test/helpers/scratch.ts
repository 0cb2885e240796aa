/**
 * The run's scratch folder: every temp folder of the run lives in one folder, on a tmpfs (/dev/shm) when the
 * machine has one, made by test/global-setup.ts before any test file starts and removed at the end.
 *
 * Why a tmpfs: the tests write tens of thousands of small files (a CA directory per case, its copies, logs,
 * keystores) and every CA command fsyncs its commit — the product's durability, which no test here can
 * observe: a test kills a process, not the machine, and the kernel keeps what a killed process wrote either
 * way (the crash-safety tests still see every fsync in their traces; a tmpfs answers them at once). On a disk
 * file system those flushes, journal commits and deletes cost kernel time and waits that moved from run to run
 * with the disk; on the 2-core CI machine they were about a tenth of the suite (docs/performance.md, "The test
 * suite"). What the tests check — file contents, modes, renames, links, the order of calls — is the same on
 * both file systems.
 *
 * How: the folder becomes TMPDIR, which os.tmpdir() (so tempDir() and every helper's mkdtemp) reads at each
 * call, and which the vitest workers and the programs the tests start (Chromium, gcc, go) inherit. A TMPDIR
 * set by whoever runs the suite is left alone (they chose where scratch goes); so is a machine without a
 * writable tmpfs at /dev/shm with room for it (the suite then writes where it always did). The folder is world-writable with
 * the sticky bit, like /tmp, because tests run commands as other users (setpriv) and PostgreSQL runs as
 * `postgres`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isAlive } from '../../src/store/lock.js';

/** statfs(2)'s f_type of a tmpfs. */
export const TMPFS_MAGIC = 0x01021994;
const SHM = '/dev/shm';
/** `mtls-ca-run-<pid of the vitest process>-<random>`: the pid tells a later run whether its owner is gone. */
const PREFIX = 'mtls-ca-run-';

/**
 * Free space /dev/shm must have: a run's scratch peaks at about 320 MB (measured at the end of 2026); a
 * container's default /dev/shm of 64 MB would fill up, and the suite then writes to the usual temp folder.
 */
const MIN_FREE = 1024 * 1024 * 1024;

/** Whether /dev/shm is a tmpfs this process may write with room for a run's scratch. */
export function shmCanHoldScratch(): boolean {
  try {
    fs.accessSync(SHM, fs.constants.W_OK | fs.constants.X_OK);
    const st = fs.statfsSync(SHM);
    return st.type === TMPFS_MAGIC && st.bavail * st.bsize >= MIN_FREE;
  } catch {
    return false;
  }
}

/**
 * Folders of earlier runs whose vitest process is gone (killed before its teardown): a tmpfs keeps them in
 * memory until removed.
 */
function removeOrphans(): void {
  for (const name of fs.readdirSync(SHM)) {
    const pid = name.startsWith(PREFIX) ? Number.parseInt(name.slice(PREFIX.length), 10) : 0;
    if (pid && pid !== process.pid && !isAlive(pid))
      fs.rmSync(path.join(SHM, name), { recursive: true, force: true });
  }
}

/**
 * Points TMPDIR at a new scratch folder on /dev/shm (see the file comment), for this process and every process
 * it starts afterwards.
 * @returns where scratch goes and a function that removes the folder and restores TMPDIR; `folder` is
 * undefined when TMPDIR was set already or there is no writable tmpfs, and the function then does nothing
 */
export function useScratchFolder(): { folder: string | undefined; remove: () => void } {
  if (process.env.TMPDIR || !shmCanHoldScratch()) return { folder: undefined, remove: () => {} };
  removeOrphans();
  const folder = fs.mkdtempSync(path.join(SHM, `${PREFIX}${process.pid}-`));
  fs.chmodSync(folder, 0o1777);
  process.env.TMPDIR = folder;
  return {
    folder,
    remove: () => {
      delete process.env.TMPDIR;
      fs.rmSync(folder, { recursive: true, force: true });
    },
  };
}

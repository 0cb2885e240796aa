/**
 * The run's scratch folder (test/helpers/scratch.ts): where test/global-setup.ts made one, every temp folder of
 * the tests and of the programs they start is inside it, on a tmpfs. On CI (no TMPDIR of its own) there must
 * be one wherever /dev/shm has room for it: the suite's time in the README is measured that way. Locally a
 * TMPDIR of the caller's leaves the run without one, and this test has nothing to check.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, inject, test } from 'vitest';
import { shmCanHoldScratch, TMPFS_MAGIC } from './helpers/scratch.js';
import { inCi, tempDir } from './helpers/tools.js';

const scratch = inject('scratch');
const required = inCi && shmCanHoldScratch();

test.runIf(scratch !== null || required)(
  'temp folders of the tests and their programs are in the run’s scratch folder, on a tmpfs',
  () => {
    expect(scratch).toMatch(/^\/dev\/shm\/mtls-ca-run-\d+-/);
    const folder = scratch as string;
    expect((fs.statSync(folder).mode & 0o7777).toString(8)).toBe('1777');
    expect(os.tmpdir()).toBe(folder);
    const dir = tempDir();
    expect(path.dirname(dir)).toBe(folder);
    expect(fs.statfsSync(dir).type).toBe(TMPFS_MAGIC);
    // a program started by a test gets the same TMPDIR (mktemp reads it)
    const made = spawnSync('mktemp', ['-d'], { encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
    expect(path.dirname(made.stdout.trim())).toBe(folder);
  },
);

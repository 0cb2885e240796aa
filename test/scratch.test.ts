/**
 * The run's scratch folder (test/helpers/scratch.ts): where test/global-setup.ts made one, every temp folder of
 * the tests and of the programs they start is inside it, on a tmpfs. On CI (a Debian machine with /dev/shm and
 * no TMPDIR of its own) there must be one: the suite's time in the README is measured that way.
 */

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, inject, test } from 'vitest';
import { tempDir } from './helpers/tools.js';

const TMPFS_MAGIC = 0x01021994;
const scratch = inject('scratch');

test('on CI the run has a scratch folder on /dev/shm', () => {
  if (process.env.CI !== 'true' && scratch === null) return; // a TMPDIR of the caller's, or no tmpfs: allowed here
  expect(scratch).toMatch(/^\/dev\/shm\/mtls-ca-run-\d+-/);
});

test.runIf(scratch !== null)(
  'temp folders of the tests and their programs are in the scratch folder, on a tmpfs',
  () => {
    const folder = scratch as string;
    expect(os.tmpdir()).toBe(folder);
    const dir = tempDir();
    expect(path.dirname(dir)).toBe(folder);
    expect(fs.statfsSync(dir).type).toBe(TMPFS_MAGIC);
    // a program started by a test gets the same TMPDIR (mktemp reads it)
    const made = spawnSync('mktemp', ['-d'], { encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
    expect(path.dirname(made.stdout.trim())).toBe(folder);
    expect((fs.statSync(folder).mode & 0o7777).toString(8)).toBe('1777');
  },
);

/**
 * A command killed at any point leaves what the next command repairs (src/store/commit.ts): the real binary
 * gets SIGKILL at one system call (write, pwrite64, fsync, fchmod, rename, link, unlink) while it holds the
 * lock, before the call is made, from test/helpers/kill-at.c, a library preloaded into it that counts the calls
 * of their libc wrappers as the trace below counts them (strace, which stopped the process at every system
 * call, cost a third of each run); then what every next command does first (take the lock, recover) runs, and
 * the directory must be either exactly as before (rolled back) or in the shape an uninterrupted run leaves
 * (rolled forward), sound by every rule of caProblems — no certificate on disk unknown to the inventory,
 * inventory, CRL and audit log in agreement, the audit log whole against its head, no temp file or private key
 * left — and a next issue-client and list must succeed.
 *
 * What is covered, and why it is enough: each command is traced once by strace without injection, and every
 * call it makes on the main thread while holding the lock is a kill point (the pool threads only fsync temp
 * files, which the main thread's temp writes already cover; before the lock nothing is changed). The points are
 * classed by protocol step — intent, temp files, commit record, commit (its rename), moves, file renames and
 * their backups, removed files, inventory, audit log, folder fsyncs, clean-up — and the first and the last call
 * of every run of one step are killed at: every boundary between steps, from both sides. Within one step the
 * state differs only by how many of the same kind of call were made, and the recovery code is the same for all
 * commands; the per-command runs check that each command stages its files so that the protocol applies. A kill
 * at an fsync leaves the files a kill at the next call leaves (a killed process loses nothing the kernel
 * holds; fsync matters only when the machine stops), unless a call that changes a file comes between — the
 * trace follows those too (mkdir, a file created or truncated, …) — so such points are killed at once, at the
 * later call, and count for both steps. Every kill is checked to have stopped the very call the trace found
 * there: the library writes down the call it kills at (its name and files), and a call it did not count would
 * move the kill to another call and fail that check (libuv's wake-ups of its event loop, writes to an eventfd
 * whose number varies with timing, are counted by neither the trace nor the library). The test asserts that
 * every step of every command was hit (killed at, or at a call that leaves the same files) and that each
 * command was seen both rolled back and rolled forward. A kill rolled back leaves the directory byte for byte as before, so what caProblems and the next
 * commands find there is the same at each such point: they are checked at the first.
 *
 * The commands that replace or move the CA itself (init --force, import --force, ca rotate, root export) are
 * killed the same way in crash-safety-ca.test.ts; the machinery is kill-and-recover.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, expect, test } from 'vitest';
import { caProblems } from '../helpers/ca-invariants.js';
import { cli } from '../helpers/cli.js';
import { killAtFirst, runInjected } from '../helpers/strace.js';
import { describeWithTools, tempDir } from '../helpers/tools.js';
import { describeKilledCommands, env } from './kill-and-recover.js';

describeKilledCommands(
  'a command that adds to the CA, killed at any system call: the next command repairs it',
  [
    { name: 'issue-client', args: ['issue-client', 'bob', '--role', 'user'] },
    { name: 'issue-client --from', args: ['issue-client', '--from', 'BATCH'] },
    { name: 'revoke', args: ['revoke', 'alice', '--reason', 'keyCompromise'] },
    { name: 'renew --revoke-old', args: ['renew', 'pavel', '--revoke-old'] },
    { name: 'crl', args: ['crl'] },
  ],
);

describeWithTools(['strace'], 'after a kill, readers and the next command see the finished commit', () => {
  const root = tempDir();
  let template: string;
  let n = 0;
  const copy = () => {
    const dir = path.join(root, `ca-${n++}`);
    fs.cpSync(template, dir, { recursive: true });
    return dir;
  };
  beforeAll(async () => {
    template = path.join(root, 'template');
    for (const args of [['init'], ['issue-client', 'alice', '--role', 'user']]) {
      const r = await cli([...args, '--dir', template], env);
      expect(r.code, r.stderr).toBe(0);
    }
  });

  test('list, killed revoke: alice is revoked as the CRL says (the commit is finished first), not valid', async () => {
    const dir = copy();
    const killed = await killAtFirst(
      ['revoke', 'alice', '--dir', dir],
      env,
      'pwrite64',
      `${dir}/ca/inventory.jsonl`,
    );
    expect(killed.signal).toBe('SIGKILL');
    expect(fs.existsSync(path.join(dir, '.mtls-ca.journal'))).toBe(true); // past the commit point
    const list = await cli(['list', '--json', '--profile', 'client', '--dir', dir]);
    expect(list.json<{ certificates: { name: string; status: string }[] }>().certificates).toMatchObject([
      { name: 'alice', status: 'revoked' },
    ]);
    expect(caProblems(dir)).toEqual([]);
  });

  test('audit verify, killed crl: the log and its head agree (the commit is finished first)', async () => {
    const dir = copy();
    const killed = await killAtFirst(['crl', '--dir', dir], env, 'pwrite64', `${dir}/ca/audit.log`);
    expect(killed.signal).toBe('SIGKILL');
    const audit = await cli(['audit', 'verify', '--json', '--dir', dir]);
    expect(audit.code, audit.stderr).toBe(0);
    expect(caProblems(dir)).toEqual([]);
  });

  test('issue-client, killed init --force halfway through moving the old CA: issued by the new CA', async () => {
    const dir = copy();
    // renames: the intent, the commit record, then the moves
    const killed = await runInjected(['init', '--force', '--dir', dir], env, {
      syscall: 'rename',
      when: 4,
      action: 'kill',
    });
    expect(killed.signal).toBe('SIGKILL');
    const r = await cli(['issue-client', 'bob', '--dir', dir], env);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readdirSync(path.join(dir, 'backups'))).toHaveLength(1);
    expect(caProblems(dir)).toEqual([]);
  });
});

/**
 * A command killed at any point leaves what the next command repairs (src/store/commit.ts): the real binary,
 * run under strace, gets SIGKILL at one system call (write, pwrite64, fsync, fchmod, rename, link, unlink)
 * while it holds the lock; then what every next command does first (take the lock, recover) runs, and the directory
 * must be either exactly as before (rolled back) or in the shape an uninterrupted run leaves (rolled
 * forward), sound by every rule of caProblems — no certificate on disk unknown to the inventory, inventory,
 * CRL and audit log in agreement, the audit log whole against its head, no temp file or private key left —
 * and a next issue-client and list must succeed.
 *
 * What is covered, and why it is enough: each command is traced once without injection, and every call it
 * makes on the main thread while holding the lock is a kill point (the pool threads only fsync temp files,
 * which the main thread's temp writes already cover; before the lock nothing is changed). The points are
 * classed by protocol step — intent, temp files, commit record, commit (its rename), moves, file renames and
 * their backups, removed files, inventory, audit log, folder fsyncs, clean-up — and the first and the last call
 * of every run of one step are killed at: every boundary between steps, from both sides. Within one step the
 * state differs only by how many of the same kind of call were made, and the recovery code is the same for all
 * commands; the per-command runs check that each command stages its files so that the protocol applies. A kill
 * at an fsync leaves the files as a kill at the next call that changes one does (a killed process loses
 * nothing the kernel holds; fsync matters only when the machine stops), so two such points are killed at
 * once, at the later call. Every kill is checked to have stopped the very call the trace found there. The test
 * asserts that every step of every command was hit and that each command was seen both rolled back and rolled
 * forward. A kill rolled back leaves the directory byte for byte as before, so what caProblems and the next
 * commands find there is the same at each such point: they are checked at the first.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, expect, test } from 'vitest';
import { CaStore } from '../../src/store/ca-store.js';
import { caProblems } from '../helpers/ca-invariants.js';
import { cli } from '../helpers/cli.js';
import { makeOpensslCaFolder } from '../helpers/source-cas.js';
import {
  injectionAt,
  killAtFirst,
  killInjected,
  runInjected,
  straceWorks,
  type TraceEvent,
  traceCommand,
} from '../helpers/strace.js';
import { describeWithTools, tempDir } from '../helpers/tools.js';
import { snapshot } from './snapshot.js';

const env = { MTLS_CA_PASSWORD: 'pw-ca-crash', MTLS_CA_STORE_PASSWORD: 'pw-store' };
/** strace'd processes at once: one per core of the CI machine. */
const PARALLEL = 2;

/** `template`: the CA directory it runs on — the template CA, or one made with an intermediate. */
const COMMANDS: { name: string; args: string[]; template?: 'intermediate' }[] = [
  { name: 'issue-client', args: ['issue-client', 'bob', '--role', 'user'] },
  { name: 'issue-client --from', args: ['issue-client', '--from', 'BATCH'] },
  { name: 'revoke', args: ['revoke', 'alice', '--reason', 'keyCompromise'] },
  { name: 'renew --revoke-old', args: ['renew', 'pavel', '--revoke-old'] },
  { name: 'crl', args: ['crl'] },
  { name: 'init --force', args: ['init', '--force'] },
  { name: 'import --force', args: ['import', '--from', 'openssl', 'SOURCE', '--force'] },
  { name: 'ca rotate', args: ['ca', 'rotate'] },
  { name: 'root export', args: ['root', 'export', '--out', 'OUT'], template: 'intermediate' },
];

/** strace injects the kills; openssl makes the CA that import --force brings in. */
const TOOLS = ['strace', 'openssl'];

/** A transaction's temp files and backups: `.<name>.<12 hex>-<n>.tmp`. */
const TEMP = /\/\.[^/]+\.[0-9a-f]{12}-\d+\.tmp$/;

/**
 * The protocol step a call belongs to (see src/store/commit.ts). A folder fsync closes the step before it:
 * the commit (the commit record's rename), the clean-up's removal of the record, or the renames and appends.
 */
function stepOf(e: TraceEvent, previous: string | undefined): string {
  const [first = ''] = e.paths;
  const name = path.basename(first);
  if (name.startsWith('.mtls-ca.txn')) return e.syscall === 'unlink' ? 'clean-up' : 'intent';
  if (name.startsWith('.mtls-ca.journal')) {
    if (e.syscall === 'unlink') return 'clean-up';
    // The commit point is a step of its own, so that a kill just before it (the record whole, not in place) is one.
    return e.syscall === 'rename' ? 'commit' : 'commit record';
  }
  if (name === '.mtls-ca.lock') return 'unlock';
  if (e.syscall === 'rename') return TEMP.test(first) ? 'files' : 'moves';
  if (e.syscall === 'link') return 'files'; // a replaced file's backup, just before its rename
  // A file the commit removes (root export); the clean-up unlinks backups and temp files only.
  if (e.syscall === 'unlink') return TEMP.test(first) ? 'clean-up' : 'removes';
  if (/inventory\.(jsonl|idx|names)$/.test(first)) return 'inventory';
  if (first.endsWith('audit.log')) return 'audit log';
  if (TEMP.test(first)) return 'temp files';
  if (fs.existsSync(first) && fs.statSync(first).isDirectory())
    return previous === 'commit' || previous === 'clean-up' ? previous : 'folder fsyncs';
  return `other: ${e.syscall} ${first}`;
}

interface KillPoint {
  step: string;
  injection: NonNullable<ReturnType<typeof injectionAt>>;
  /** The call, as the trace saw it. */
  event: TraceEvent;
  /** For the failure message: the call, relative to the CA directory. */
  call: string;
}

/** A call that changes no file a killed process leaves behind: an fsync, or libuv's eventfd wake-up. */
const leavesNoTrace = (e: TraceEvent) =>
  e.syscall === 'fsync' || /^(anon_inode|pipe|socket):/.test(e.paths[0] ?? '');

/** The kill points of one traced run (see the file comment), and every step seen. */
function killPoints(events: TraceEvent[], dir: string): { points: KillPoint[]; steps: Set<string> } {
  const lock = path.join(dir, '.mtls-ca.lock');
  const locked = events.findIndex((e) => e.syscall === 'write' && e.paths[0] === lock);
  const unlocked = events.findIndex((e) => e.syscall === 'unlink' && e.paths[0] === lock);
  expect(locked, 'the trace shows the lock taken').toBeGreaterThan(0);
  const main = events[locked]!.tid;
  const candidates: (KillPoint & { i: number })[] = [];
  for (let i = locked + 1; i <= unlocked; i++) {
    const e = events[i]!;
    if (e.tid !== main) continue;
    // libuv wakes its event loop by writing to an eventfd (more often when the machine is busy and a thread-pool
    // job ends mid-commit): not a file, so a kill there leaves the disk as the call before it did.
    if (/^(anon_inode|pipe|socket):/.test(e.paths[0] ?? '')) continue;
    const step = stepOf(e, candidates.at(-1)?.step);
    const injection = injectionAt(events, i, 'kill');
    if (!injection) continue;
    candidates.push({
      step,
      injection,
      event: e,
      call: `${e.syscall}(${e.paths.map((p) => path.relative(dir, p)).join(', ')})`,
      i,
    });
  }
  // The first and the last point of every run of one step.
  const ends = candidates.filter(
    (c, k) => c.step !== candidates[k - 1]?.step || c.step !== candidates[k + 1]?.step,
  );
  // Points that leave the same files, kept once: the latest, which is the call that changes a file when that
  // call is itself one of the ends.
  const byState = new Map<number, KillPoint>();
  for (const c of ends) {
    let state = c.i;
    while (state < unlocked && leavesNoTrace(events[state]!)) state++;
    byState.set(state, c);
  }
  return { points: [...byState.values()], steps: new Set(ends.map((c) => c.step)) };
}

/**
 * The same call in another run: its paths moved from `from` to `to` (a temp file beside the directory too), with
 * what differs from run to run (temp files' random ids, the backup folder's time) left out.
 */
function sameCall(a: TraceEvent, b: TraceEvent, from: string, to: string): boolean {
  const norm = (e: TraceEvent, dir: string) =>
    `${e.syscall} ${e.paths
      .map((p) =>
        p
          .split(path.basename(dir))
          .join('<dir>')
          .replace(/\.[0-9a-f]{12}-(\d+)\.tmp$/, '.*-$1.tmp')
          .replace(/\/backups\/[^/]+/, '/backups/*'),
      )
      .join(' ')}`;
  return norm(a, from) === norm(b, to);
}

/** File names and modes, without contents, with the backup folder's time stamp left out. */
function shape(snap: Record<string, string>): string[] {
  return Object.entries(snap)
    .map(([f, v]) => `${f.replace(/^backups\/[^/]+/, 'backups/*')} ${v.split(' ')[0]}`)
    .sort();
}

/** Runs `fn` over `items`, `limit` at a time. */
async function pool<T>(items: T[], limit: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

describeWithTools(TOOLS, 'a command killed at any system call: the next command repairs it', () => {
  const root = tempDir();
  const template = path.join(root, 'template');
  let skip: string | undefined;
  let n = 0;

  const intermediate = path.join(root, 'template-intermediate');
  /** A fresh copy of the template CA (or of the one with an intermediate). */
  function copy(kind?: 'intermediate'): string {
    const dir = path.join(root, `ca-${n++}`);
    fs.cpSync(kind ? intermediate : template, dir, { recursive: true });
    return dir;
  }
  const argsFor = (args: string[], dir: string) => [
    ...args.map((a) =>
      a === 'BATCH'
        ? path.join(root, 'batch.txt')
        : a === 'SOURCE'
          ? path.join(root, 'source', 'demoCA')
          : // beside the CA directory: a key taken offline leaves it
            a === 'OUT'
            ? `${dir}-root.key`
            : a,
    ),
    '--dir',
    dir,
  ];

  beforeAll(async () => {
    skip = await straceWorks();
    if (skip && process.env.CI === 'true') throw new Error(skip);
    for (const args of [
      ['init'],
      ['issue-client', 'pavel', '--role', 'user'],
      ['issue-client', 'alice', '--role', 'user'],
      ['issue-client', 'mallory'],
      ['revoke', 'mallory'],
    ]) {
      const r = await cli([...args, '--dir', template], env);
      expect(r.code, r.stderr).toBe(0);
    }
    for (const args of [
      ['init', '--intermediate'],
      ['issue-client', 'pavel', '--role', 'user'],
    ]) {
      const r = await cli([...args, '--dir', intermediate], env);
      expect(r.code, r.stderr).toBe(0);
    }
    fs.writeFileSync(path.join(root, 'batch.txt'), 'carol user\ndave user admin\nerin\n');
    // openssl ca's CA, its key under the CA password: what import --force brings in, with a client to copy
    await makeOpensslCaFolder(path.join(root, 'source'), env.MTLS_CA_PASSWORD);
    expect(caProblems(template)).toEqual([]);
    expect(caProblems(intermediate)).toEqual([]);
  });

  for (const command of COMMANDS) {
    test(`${command.name}: every protocol step killed, then recovered`, async (ctx) => {
      if (skip) {
        console.warn(`[skip] ${skip}`);
        ctx.skip();
      }
      const dry = copy(command.template);
      const traced = await traceCommand(argsFor(command.args, dry), env);
      expect(traced.result.code, traced.result.stderr).toBe(0);
      const finished = shape(snapshot(dry));
      const { points, steps } = killPoints(traced.events, dry);
      const expected = [
        'intent',
        'temp files',
        'commit record',
        'commit',
        'files',
        'audit log',
        'folder fsyncs',
      ];
      const noInventory = command.name === 'crl' || command.name === 'root export';
      expected.push('clean-up', 'unlock', ...(noInventory ? [] : ['inventory']));
      if (command.name.endsWith(' --force') || command.name === 'ca rotate') expected.push('moves');
      if (command.name === 'root export') expected.push('removes');
      for (const step of expected)
        expect(steps, `${command.name} has a kill point in ${step}`).toContain(step);
      expect(
        [...steps].filter((s) => s.startsWith('other')),
        'every call is classed',
      ).toEqual([]);

      const outcomes = { back: 0, forward: 0 };
      let backChecked = false;
      const failures: string[] = [];
      await pool(points, PARALLEL, async (point) => {
        const dir = copy(command.template);
        const before = snapshot(dir);
        const injection = {
          ...point.injection,
          action: 'kill' as const,
          path: point.injection.path?.replace(dry, dir),
        };
        const where = `killed at ${point.step}: ${point.call} (${injection.syscall} #${injection.when})`;
        const run = await killInjected(argsFor(command.args, dir), env, injection);
        if (run.signal !== 'SIGKILL') {
          failures.push(`${where}: not killed (exit ${run.code}) ${run.stderr}`);
          return;
        }
        if (!run.killedAt || !sameCall(point.event, run.killedAt, dry, dir))
          failures.push(
            `${where}: the kill stopped ${run.killedAt ? `${run.killedAt.syscall}(${run.killedAt.paths})` : 'no call of the trace'} instead`,
          );
        await new CaStore(dir).lock(() => {}); // what every next command does first
        const after = snapshot(dir);
        if (JSON.stringify(after) === JSON.stringify(before)) {
          outcomes.back++;
          // byte for byte as before: the checks below would find what they found at the first such point
          if (backChecked) return fs.rmSync(dir, { recursive: true, force: true });
          backChecked = true;
        } else if (JSON.stringify(shape(after)) === JSON.stringify(finished)) outcomes.forward++;
        else failures.push(`${where}: neither as before nor finished: ${shape(after).join(', ')}`);
        for (const problem of caProblems(dir)) failures.push(`${where}: ${problem}`);
        const next = await cli(['issue-client', 'after', '--dir', dir], env);
        const list = await cli(['list', '--json', '--dir', dir], env);
        if (next.code !== 0 || list.code !== 0)
          failures.push(`${where}: the next commands failed: ${next.stderr}${list.stderr}`);
        for (const problem of caProblems(dir)) failures.push(`${where}, after the next command: ${problem}`);
        fs.rmSync(dir, { recursive: true, force: true });
      });
      expect(failures).toEqual([]);
      expect(outcomes.back, 'some kills rolled back').toBeGreaterThan(0);
      expect(outcomes.forward, 'some kills rolled forward').toBeGreaterThan(0);
    });
  }
});

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

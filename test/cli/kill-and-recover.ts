/**
 * Kills a command of the real binary at every point of its commit protocol and checks what the next command
 * makes of it: the machinery of crash-safety.test.ts and crash-safety-ca.test.ts, whose first file comment
 * says what is checked and why it is enough. Two files, so that the two halves run side by side.
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
  isWakeUp,
  type KilledCall,
  killInjected,
  straceWorks,
  type TraceEvent,
  traceCommand,
} from '../helpers/strace.js';
import { describeWithTools, tempDir } from '../helpers/tools.js';
import { snapshot } from './snapshot.js';

export const env = { MTLS_CA_PASSWORD: 'pw-ca-crash', MTLS_CA_STORE_PASSWORD: 'pw-store' };
/** Killed processes at once: one per core of the CI machine. */
const PARALLEL = 2;

/**
 * A command to kill. `args` may hold BATCH (a three-line batch file), SOURCE (an `openssl ca` CA folder) and
 * OUT (a file beside the CA directory); `template` is the CA directory it runs on: the template CA (a client
 * pavel, a client alice, a revoked mallory), or one made with an intermediate (and pavel).
 */
export interface KilledCommand {
  name: string;
  args: string[];
  template?: 'intermediate';
}

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
    if (isWakeUp(e)) continue;
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
  // A kill at an fsync (or at libuv's eventfd wake-up) leaves the files a kill at the next call leaves, unless a
  // call that changes a file comes between (a folder made, a file created empty: changedAfter). Such points are
  // killed at once, at the later call.
  const byState = new Map<number, KillPoint>();
  for (const c of ends) {
    let state = c.i;
    while (state < unlocked && leavesNoTrace(events[state]!) && !events[state]!.changedAfter) state++;
    byState.set(state, c);
  }
  return { points: [...byState.values()], steps: new Set(ends.map((c) => c.step)) };
}

/** A call that changes no file a killed process leaves behind: an fsync, or libuv's eventfd wake-up. */
const leavesNoTrace = (e: TraceEvent) => e.syscall === 'fsync' || isWakeUp(e);

/**
 * The same call in another run: its paths moved from `from` to `to` (a temp file beside the directory too), with
 * what differs from run to run (temp files' random ids, the backup folder's time) left out.
 */
function sameCall(a: KilledCall, b: KilledCall, from: string, to: string): boolean {
  const norm = (e: KilledCall, dir: string) =>
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

/**
 * Each of `commands` traced, then killed at every kill point and recovered (see crash-safety.test.ts for what
 * is checked and why it is enough).
 * @param title - the describe block's name
 */
export function describeKilledCommands(title: string, commands: KilledCommand[]): void {
  const needsSource = commands.some((c) => c.args.includes('SOURCE'));
  // strace traces each command once; cc compiled the library that kills it (test/global-setup.ts); openssl
  // makes the CA that import --force brings in
  const tools = ['strace', 'cc', ...(needsSource ? ['openssl'] : [])];
  describeWithTools(tools, title, () => {
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
      expect(caProblems(template)).toEqual([]);
      if (commands.some((c) => c.template === 'intermediate')) {
        for (const args of [
          ['init', '--intermediate'],
          ['issue-client', 'pavel', '--role', 'user'],
        ]) {
          const r = await cli([...args, '--dir', intermediate], env);
          expect(r.code, r.stderr).toBe(0);
        }
        expect(caProblems(intermediate)).toEqual([]);
      }
      fs.writeFileSync(path.join(root, 'batch.txt'), 'carol user\ndave user admin\nerin\n');
      // openssl ca's CA, its key under the CA password: what import --force brings in, with a client to copy
      if (needsSource) await makeOpensslCaFolder(path.join(root, 'source'), env.MTLS_CA_PASSWORD);
    });

    for (const command of commands) {
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
          for (const problem of caProblems(dir))
            failures.push(`${where}, after the next command: ${problem}`);
          fs.rmSync(dir, { recursive: true, force: true });
        });
        expect(failures).toEqual([]);
        expect(outcomes.back, 'some kills rolled back').toBeGreaterThan(0);
        expect(outcomes.forward, 'some kills rolled forward').toBeGreaterThan(0);
      });
    }
  });
}

/**
 * strace for the crash-safety tests: trace which system calls the real binary makes, and run it again with a
 * fault injected at one of them — SIGKILL (a crash at exactly that point) or an errno (a full disk). The kills
 * of crash-safety's many points come from a preloaded library instead ({@link killInjected}), counted the same.
 *
 * How strace 6 counts: `-e inject=SYSCALL:…:when=N` fires at the N-th call of SYSCALL *per thread*, so in a
 * process with libuv's pool threads it fires at whichever thread first makes its N-th call; with `-P PATH` it
 * counts only calls on that path (fd-based calls included, through `-y`). `-P` does not match `rename` here,
 * so renames are counted without it.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inject } from 'vitest';
import { BIN, baseEnv } from './cli.js';

/**
 * The system calls the tests kill or fail at. `fchmod` follows the write of each temp file; unlike `write` it
 * is never made by libuv's pool threads (whose eventfd writes make a temp file's write impossible to single
 * out by count), so it gives exact kill points among the temp files.
 */
export const INJECTED_SYSCALLS = [
  'write',
  'pwrite64',
  'fsync',
  'fchmod',
  'rename',
  'link',
  'unlink',
] as const;
export type InjectedSyscall = (typeof INJECTED_SYSCALLS)[number];

/**
 * Calls that change files but are not among {@link INJECTED_SYSCALLS}: the trace of a command follows them too,
 * so that two kill points with only an fsync between them are known to leave the same files.
 */
const OTHER_CHANGES = [
  'mkdir',
  'mkdirat',
  'rmdir',
  'open',
  'openat',
  'creat',
  'symlink',
  'symlinkat',
  'truncate',
  'ftruncate',
  'fallocate',
  'chmod',
  'fchmodat',
  'utimensat',
  'unlinkat',
  'renameat',
  'renameat2',
  'linkat',
] as const;

export interface TraceEvent {
  /** Position in the trace (all threads, in the order strace saw the calls start). */
  seq: number;
  tid: number;
  syscall: InjectedSyscall;
  /** The file of an fd-based call, or the path arguments of rename, link, unlink. */
  paths: string[];
  /**
   * A call that changes a file, not one of these events, came after this one and before the next (in a trace
   * of {@link traceCommand}; an open counts when it creates or truncates).
   */
  changedAfter?: boolean;
}

/** Where to inject, and what: SIGKILL, or the system call failing with an errno. */
export interface Injection {
  syscall: InjectedSyscall;
  when: number;
  /** Count only calls on this path (`-P`); absolute. */
  path?: string;
  action: 'kill' | { errno: string };
}

export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function runProcess(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolve({ code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }),
    );
  });
}

/** `"…"` string literals of strace output, unescaped enough for our (plain ASCII) paths. */
function quoted(args: string): string[] {
  return [...args.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!.replace(/\\(.)/g, '$1'));
}

/**
 * Parses `strace -f -y` output into the calls of {@link INJECTED_SYSCALLS}, in order, each marked when a call of
 * OTHER_CHANGES followed it.
 */
export function parseTrace(text: string): TraceEvent[] {
  const events: TraceEvent[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+) +(\w+)\((.*)$/.exec(line);
    if (!m) continue;
    if ((OTHER_CHANGES as readonly string[]).includes(m[2]!)) {
      const opens = m[2] === 'open' || m[2] === 'openat';
      if ((!opens || /O_CREAT|O_TRUNC/.test(m[3]!)) && events.length > 0) events.at(-1)!.changedAfter = true;
      continue;
    }
    if (!(INJECTED_SYSCALLS as readonly string[]).includes(m[2]!)) continue;
    const syscall = m[2] as InjectedSyscall;
    const args = m[3]!;
    let paths: string[];
    if (syscall === 'rename' || syscall === 'link') paths = quoted(args).slice(0, 2);
    else if (syscall === 'unlink') paths = quoted(args).slice(0, 1);
    else paths = [/^\d+<([^>]*)>/.exec(args)?.[1] ?? ''];
    events.push({ seq: events.length, tid: Number(m[1]), syscall, paths });
  }
  return events;
}

/**
 * Runs `node bin/mtls-ca.js …args` under `strace -f -y` with `options`, the trace written to a file that is read
 * and removed again.
 */
async function traced(
  options: string[],
  args: string[],
  env: Record<string, string>,
): Promise<{ result: ProcessResult; trace: string }> {
  const log = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mtls-ca-strace-')), 'trace');
  try {
    const result = await runProcess(
      'strace',
      ['-f', '-y', '-qq', '-o', log, ...options, process.execPath, BIN, ...args],
      baseEnv(env),
    );
    return { result, trace: fs.readFileSync(log, 'utf8') };
  } finally {
    fs.rmSync(path.dirname(log), { recursive: true, force: true });
  }
}

/** Runs `node bin/mtls-ca.js …args` under `strace -f`, returning its result and the calls it made. */
export async function traceCommand(
  args: string[],
  env: Record<string, string>,
): Promise<{ result: ProcessResult; events: TraceEvent[] }> {
  const { result, trace } = await traced(
    ['-e', `trace=${[...INJECTED_SYSCALLS, ...OTHER_CHANGES].join(',')}`],
    args,
    env,
  );
  return { result, events: parseTrace(trace) };
}

/** Runs `node bin/mtls-ca.js …args` under strace with `injection`. */
export function runInjected(
  args: string[],
  env: Record<string, string>,
  injection: Injection,
): Promise<ProcessResult> {
  const action = injection.action === 'kill' ? 'signal=KILL' : `error=${injection.action.errno}`;
  return runProcess(
    'strace',
    [
      '-f',
      '-qq',
      '-o',
      '/dev/null',
      ...(injection.path ? ['-P', injection.path] : []),
      '-e',
      `inject=${injection.syscall}:${action}:when=${injection.when}`,
      process.execPath,
      BIN,
      ...args,
    ],
    baseEnv(env),
  );
}

/** The compiled test/helpers/kill-at.c (throws when there was no cc at the start). */
function killAtLibrary(): string {
  const library = inject('fixtures').killAt;
  if (!library) throw new Error('test/helpers/kill-at.c was not compiled: no cc when the run started');
  return library;
}

/** The call a kill stopped: what kill-at.c wrote down of it. */
export type KilledCall = Pick<TraceEvent, 'syscall' | 'paths'>;

/**
 * Runs `node bin/mtls-ca.js …args` killed (SIGKILL) as `injection` says, and reports the call the kill stopped.
 * The kill comes from test/helpers/kill-at.c, preloaded: it counts the libc calls of the injected system call
 * as {@link injectionAt} does (those on the injection's path over all threads, else each thread's own) and, at
 * the `when`-th, writes the call down (its file as /proc/self/fd shows it, as strace's `-y` does) and kills
 * the process before making it. Unlike strace, which stops the process at every system call of every thread
 * (strace 6.1 delivers no injected signal under `--seccomp-bpf`), it costs the run next to nothing. A call the
 * library does not see (one made without the libc wrapper) shifts its count: the reported call is then not the
 * one the trace found there, which the caller checks.
 */
export async function killInjected(
  args: string[],
  env: Record<string, string>,
  injection: Injection & { action: 'kill' },
): Promise<ProcessResult & { killedAt: KilledCall | undefined }> {
  const report = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mtls-ca-kill-at-')), 'killed');
  try {
    const result = await runProcess(
      process.execPath,
      [BIN, ...args],
      baseEnv({
        ...env,
        LD_PRELOAD: killAtLibrary(),
        KILL_AT_SYSCALL: injection.syscall,
        KILL_AT_WHEN: String(injection.when),
        KILL_AT_REPORT: report,
        ...(injection.path ? { KILL_AT_PATH: injection.path } : {}),
      }),
    );
    // the call's name and its paths, one a line
    const [syscall, ...paths] = fs.existsSync(report)
      ? fs.readFileSync(report, 'utf8').split('\n').slice(0, -1)
      : [];
    const killedAt = syscall !== undefined ? { syscall: syscall as InjectedSyscall, paths } : undefined;
    return { ...result, killedAt };
  } finally {
    fs.rmSync(path.dirname(report), { recursive: true, force: true });
  }
}

/** Runs the binary with `args` and kills it (SIGKILL) at its first `syscall` on `file`. */
export function killAtFirst(
  args: string[],
  env: Record<string, string>,
  syscall: InjectedSyscall,
  file: string,
): Promise<ProcessResult> {
  return runInjected(args, env, { syscall, when: 1, path: file, action: 'kill' });
}

/**
 * Paths that are not the same in the next run: temp files carry a random transaction id, backup folders the
 * time of `init --force`.
 */
const RUN_SPECIFIC = /\.[0-9a-f]{12}-\d+\.tmp$|\/backups\/\d{4}-\d\d-\d\dT[\d-]+Z(\/|$)/;

/**
 * A call on no file: a write to a pipe, a socket or an eventfd — libuv waking an event loop, as many times as
 * thread-pool jobs happen to end. test/helpers/kill-at.c does not count these either.
 */
export const isWakeUp = (e: TraceEvent): boolean => /^(anon_inode|pipe|socket):/.test(e.paths[0] ?? '');

/**
 * An injection that fires at `events[i]` in a run that makes the same calls: counted on the event's path
 * when it has one that is the same from run to run (fd-based calls, link, unlink), else by its number among
 * its thread's calls on files ({@link isWakeUp} calls left out) — undefined when, in this trace, another
 * thread would reach that number first.
 */
export function injectionAt(
  events: TraceEvent[],
  i: number,
  action: Injection['action'],
): Injection | undefined {
  const e = events[i]!;
  if (isWakeUp(e)) return undefined;
  const stable =
    e.syscall !== 'rename' ? e.paths.find((p) => p.startsWith('/') && !RUN_SPECIFIC.test(p)) : undefined;
  if (stable) {
    const when = events
      .slice(0, i + 1)
      .filter((x) => x.syscall === e.syscall && x.paths.includes(stable)).length;
    return { syscall: e.syscall, when, path: stable, action };
  }
  const count = new Map<number, number>();
  let when = 0;
  for (const x of events.slice(0, i + 1)) {
    if (x.syscall !== e.syscall || isWakeUp(x)) continue;
    const n = (count.get(x.tid) ?? 0) + 1;
    count.set(x.tid, n);
    if (x === e) when = n;
  }
  // another thread's call with the same number, before this one, would take the injection
  for (const [tid, n] of count) if (tid !== e.tid && n >= when) return undefined;
  return { syscall: e.syscall, when, action };
}

/** Whether strace can inject here (root or ptrace allowed); the reason when it cannot. */
export async function straceWorks(): Promise<string | undefined> {
  const r = await runProcess(
    'strace',
    ['-f', '-qq', '-o', '/dev/null', process.execPath, '-e', '0'],
    process.env,
  );
  return r.code === 0 ? undefined : `strace cannot trace here: ${r.stderr.trim()}`;
}

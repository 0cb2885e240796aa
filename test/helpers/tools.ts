/**
 * Helpers for tests that run real tools (openssl, keytool, java, pk12util, curl, chromium).
 * Locally a missing tool skips its suite with a printed reason; under CI=true it fails the suite.
 */
import { type SpawnSyncOptions, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, test } from 'vitest';

const found = new Map<string, boolean>();

export function haveTool(bin: string): boolean {
  if (!found.has(bin)) {
    const r = spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' });
    found.set(bin, r.status === 0);
  }
  return found.get(bin)!;
}

export const inCi = process.env.CI === 'true' || process.env.CI === '1';

let python3OnPath: string | undefined;

/**
 * The interpreter `python3` on PATH runs, by its own path, found once per process: a version manager's shim
 * (pyenv's is a bash script that works out the version on every start) can cost seconds per start, and
 * spawnSync blocks this worker while it does. `python3` itself when there is none to ask.
 */
export function python3(): string {
  if (python3OnPath === undefined) {
    const r = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' });
    python3OnPath = r.status === 0 && r.stdout.trim() ? r.stdout.trim() : 'python3';
  }
  return python3OnPath;
}

/**
 * A describe block that needs external tools. Missing tools: skipped with a reason locally, a failing test
 * under CI=true (CI must never silently skip an interop check).
 */
export function describeWithTools(tools: string[], name: string, fn: () => void): void {
  const missing = tools.filter((t) => !haveTool(t));
  if (missing.length === 0) {
    describe(name, fn);
  } else if (inCi) {
    describe(name, () => {
      test('required tools are installed', () => {
        throw new Error(`missing tool(s) under CI: ${missing.join(', ')} — .ci/run must install them`);
      });
    });
  } else {
    console.warn(`[skip] ${name}: missing tool(s) ${missing.join(', ')}`);
    describe.skip(name, fn);
  }
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a tool synchronously, capturing text output; never throws on a non-zero exit. */
export function run(cmd: string, args: string[], opts: SpawnSyncOptions = {}): RunResult {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000, ...opts });
  if (r.error) throw r.error;
  return { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** Runs a tool and throws with its stderr unless it exits 0. */
export function runOk(cmd: string, args: string[], opts: SpawnSyncOptions = {}): RunResult {
  return succeeded(run(cmd, args, opts), `${cmd} ${args.join(' ')}`);
}

/** `r` when it exited 0; else throws naming `what` with its output. */
export function succeeded(r: RunResult, what: string): RunResult {
  if (r.status !== 0) throw new Error(`${what} exited ${r.status}\n${r.stderr}\n${r.stdout}`);
  return r;
}

/** A temp folder removed after the file's tests. */
export function tempDir(prefix = 'mtls-ca-test-'): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * The environment that runs a process under libfaketime (what the `faketime` wrapper sets, without the wrapper):
 * `spec` as FAKETIME takes it — `+4d`, four days from now; `2020-01-01 00:00:00`, a clock stopped then. The
 * process and its children keep it. The wrapper would stay as the parent, and, killed, it leaves its semaphore
 * and shared memory in /dev/shm; a later wrapper that gets the same process id then fails to start.
 */
export function faketimeEnv(spec: string): Record<string, string> {
  const dirs = ['/usr/lib/faketime', ...readdirSync('/usr/lib').map((d) => `/usr/lib/${d}/faketime`)];
  const lib = dirs.map((d) => `${d}/libfaketime.so.1`).find((f) => existsSync(f));
  if (!lib) throw new Error('libfaketime.so.1 not found under /usr/lib (Debian package faketime)');
  return { LD_PRELOAD: lib, FAKETIME: spec };
}

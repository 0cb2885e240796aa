/**
 * Running `mtls-ca snippet` output as a user would: each part written to a file under its suggested name, the
 * snippet's environment lines and the part's run line executed by bash in that folder, verbatim. Plus what
 * the server snippets need around them: free ports, a tiny upstream that answers the customer API, and
 * daemons in their own process groups, always stopped.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { afterAll } from 'vitest';
import type { Snippet } from '../../src/cli/snippets/index.js';
import { cli, exitedZero } from './cli.js';
import { within } from './poll.js';
import { accepts } from './ports.js';
import { python3 } from './tools.js';

/** `mtls-ca snippet <args> --json` in-process; throws unless it exits 0. */
export async function snippetOf(dir: string, args: string[]): Promise<Snippet> {
  const r = await cli(['snippet', ...args, '--dir', dir, '--json']);
  return exitedZero(`snippet ${args.join(' ')}`, r).json<Snippet>();
}

/** Writes every part of `snippet` into `folder` (created) under its suggested file name. */
export function writeParts(snippet: Snippet, folder: string): void {
  mkdirSync(folder, { recursive: true });
  for (const part of snippet.parts) writeFileSync(path.join(folder, part.file), part.text);
}

/** The snippet's environment lines, as the user pastes them before running anything. */
export function environmentLines(snippet: Snippet): string {
  return snippet.environment.map((v) => v.set).join('\n');
}

export interface ShellResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * bash -c `<environment lines>\n<command>` in `cwd` (without blocking the event loop: a server of this process
 * may be the one answering).
 * @param env - the environment (default: PATH and HOME of this process)
 */
export function bash(
  script: string,
  cwd: string,
  env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME },
  timeoutMs = 120_000,
): Promise<ShellResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Runs one part of a snippet the way it says: its environment lines, then its run line, in `folder`. */
export function runPart(
  snippet: Snippet,
  file: string,
  folder: string,
  env?: NodeJS.ProcessEnv,
): Promise<ShellResult> {
  const part = snippet.parts.find((p) => p.file === file);
  if (!part?.run) throw new Error(`${snippet.target} has no runnable part ${file}`);
  return bash(`set -e\n${environmentLines(snippet)}\n${part.run}`, folder, env);
}

export interface Daemon {
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts a long-running program in its own process group and waits (bounded) until 127.0.0.1:`port`
 * accepts connections. Stopped in the file's afterAll whatever happens; SIGKILL after 10 s.
 */
export function daemons(): {
  start(command: string, port: number, cwd: string, env?: NodeJS.ProcessEnv): Promise<Daemon>;
} {
  const running = new Set<ChildProcess>();
  const stop = async (child: ChildProcess) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const kill = (signal: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        // already gone
      }
    };
    kill('SIGTERM');
    const timer = setTimeout(() => kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  afterAll(async () => {
    await Promise.all([...running].map(stop));
  });
  return {
    async start(command, port, cwd, env = { PATH: process.env.PATH, HOME: process.env.HOME }) {
      const child = spawn('bash', ['-c', command], {
        cwd,
        env,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      running.add(child);
      let output = '';
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        output += d;
      });
      child.stderr!.setEncoding('utf8').on('data', (d: string) => {
        output += d;
      });
      try {
        await within(60_000, `${command} listening on ${port}`, async () => {
          if (child.exitCode !== null) throw new Error(`${command} exited ${child.exitCode}:\n${output}`);
          return accepts(port);
        });
      } catch (e) {
        await stop(child);
        throw e;
      }
      return { output: () => output, stop: () => stop(child) };
    },
  };
}

export interface Upstream {
  url: string;
  /** The headers of every request it answered, in order. */
  requests: http.IncomingHttpHeaders[];
}

/** A plain-HTTP upstream on 127.0.0.1 answering `{"id":1,"name":"Customer1"}`, closed after the file's tests. */
export async function customerUpstream(): Promise<Upstream> {
  const requests: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req.headers);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"id":1,"name":"Customer1"}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  afterAll(() => new Promise((resolve) => server.close(resolve)));
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, requests };
}

/** {@link pythonWith}'s answers, one python3 start per interpreter and set of modules. */
const pythons = new Map<string, string | undefined>();

/**
 * A python3 that has `modules` (Debian's python3-requests, -httpx, -yaml live in /usr/bin/python3, which
 * another python3 earlier on PATH lacks), or undefined; looked up once per set of modules.
 * @returns the folder to put first on PATH so that `python3` is that one
 */
export function pythonWith(modules: string[]): string | undefined {
  const key = modules.join(', ');
  if (!pythons.has(key)) pythons.set(key, findPython(modules));
  return pythons.get(key);
}

/**
 * Finds the modules without importing them: importing requests and httpx costs half a CPU-second, finding
 * them a twentieth; a module found but broken fails the snippet that imports it, which says why.
 */
function findPython(modules: string[]): string | undefined {
  const find = `import importlib.util, sys; sys.exit(0 if all(importlib.util.find_spec(m) for m in sys.argv[1:]) else 1)`;
  for (const python of [python3(), '/usr/bin/python3']) {
    const r = spawnSync(python, ['-c', find, ...modules], { stdio: 'ignore' });
    if (r.status === 0 && path.isAbsolute(python)) return path.dirname(python);
  }
  return undefined;
}

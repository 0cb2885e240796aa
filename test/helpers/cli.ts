/** Runs the CLI in-process (main()) or as the real binary, capturing exit code, stdout and stderr. */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { main } from '../../src/cli/main.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON (throws if it is not). */
  json<T = Record<string, unknown>>(): T;
}

function result(code: number, stdout: string, stderr: string): CliResult {
  return {
    code,
    stdout,
    stderr,
    json<T>() {
      try {
        return JSON.parse(stdout) as T;
      } catch {
        throw new Error(`stdout is not JSON (exit ${code}):\n${stdout}\nstderr:\n${stderr}`);
      }
    },
  };
}

/**
 * `r` when its command exited 0; else throws with its exit code and stderr.
 * @param what - the command as the error names it, e.g. `mtls-ca init`
 */
export function exitedZero(what: string, r: CliResult): CliResult {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}\n${r.stderr}`);
  return r;
}

/** Environment for tests: no colours, no TTY, passwords only where the test gives them. */
export function baseEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', ...extra };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  return env;
}

/**
 * main() in this process with non-TTY streams.
 * @param stdin - what the command reads on stdin (default: nothing)
 */
export async function cli(
  args: string[],
  env: Record<string, string | undefined> = {},
  stdin: NodeJS.ReadableStream = Readable.from([]),
): Promise<CliResult> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const chunks = { out: [] as Buffer[], err: [] as Buffer[] };
  stdout.on('data', (c: Buffer) => chunks.out.push(c));
  stderr.on('data', (c: Buffer) => chunks.err.push(c));
  const code = await main(args, { stdout, stderr, stdin, env: baseEnv(env) });
  return result(code, Buffer.concat(chunks.out).toString(), Buffer.concat(chunks.err).toString());
}

export const BIN = path.resolve(import.meta.dirname, '../../bin/mtls-ca.js');

export interface CliProcessOptions {
  /** What the process reads on stdin: a file opened for it (`/dev/zero` is endless), or text; default none. */
  stdin?: { file: string } | { text: string };
  /** Kill it after this long (a command that blocks on its input); default never. */
  timeoutMs?: number;
  /** Run it as another user (when root): `setpriv --reuid … --regid … --clear-groups`. */
  asUser?: { uid: number; gid: number };
}

/** The real binary (needs `npm run build`), as a separate process; a killed process has code -1. */
export function cliProcess(
  args: string[],
  env: Record<string, string | undefined> = {},
  cwd?: string,
  options: CliProcessOptions = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const stdinFd =
      options.stdin && 'file' in options.stdin ? fs.openSync(options.stdin.file, 'r') : undefined;
    const [command, commandArgs] = options.asUser
      ? [
          'setpriv',
          [
            `--reuid=${options.asUser.uid}`,
            `--regid=${options.asUser.gid}`,
            '--clear-groups',
            process.execPath,
            BIN,
            ...args,
          ],
        ]
      : [process.execPath, [BIN, ...args]];
    const child = spawn(command, commandArgs, {
      env: baseEnv(env),
      cwd,
      stdio: [stdinFd ?? (options.stdin ? 'pipe' : 'ignore'), 'pipe', 'pipe'],
      timeout: options.timeoutMs,
    });
    if (stdinFd !== undefined) fs.closeSync(stdinFd);
    if (options.stdin && 'text' in options.stdin) child.stdin!.end(options.stdin.text);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (c: Buffer) => out.push(c));
    child.stderr!.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve(result(code ?? -1, Buffer.concat(out).toString(), Buffer.concat(err).toString())),
    );
  });
}

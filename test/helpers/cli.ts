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
  return nodeProcess([BIN, ...args], env, cwd, options);
}

/** The bundle's main(), which bin/mtls-ca.js runs. */
const BUNDLE_MAIN = path.join(path.dirname(BIN), '../dist/bundle/main.js');
/**
 * A module run by `node -e EACH <main> <JSON commands>`: each command's result, as JSON on the last line of
 * stdout (what a command writes to the process's own stdout, such as the server's log, comes before it).
 */
const EACH = `
import { PassThrough, Readable } from 'node:stream';
const { main } = await import(process.argv[1]);
const results = [];
for (const args of JSON.parse(process.argv[2])) {
  const text = { stdout: '', stderr: '' };
  const streams = {};
  for (const name of ['stdout', 'stderr']) {
    streams[name] = new PassThrough();
    streams[name].on('data', (c) => { text[name] += c; });
  }
  const code = await main(args, { ...streams, stdin: Readable.from([]), env: process.env });
  results.push({ code, ...text });
}
process.stdout.write('\\n' + JSON.stringify(results) + '\\n');
`;

/**
 * Several commands in one process of the built CLI: main() of the bundle that bin/mtls-ca.js runs, once per
 * command, in order, each with streams of its own and nothing on stdin. For commands that must run outside
 * the test process (as another user; on inputs that would block it or exhaust its memory) but whose own
 * process proves nothing: a Node start costs more than such a command. The process ends by itself, so a
 * command that blocks, or leaves something running, keeps it alive until `timeoutMs`, when it is killed
 * (SIGKILL: a server would stop gracefully on SIGTERM) and the call throws.
 * @param commands - the command lines after `mtls-ca`
 * @param env - the environment of every command (see {@link baseEnv})
 * @param cwd - the working directory of the process
 * @param options - a time limit, another user; stdin is not given
 */
export async function cliProcessEach(
  commands: string[][],
  env: Record<string, string | undefined> = {},
  cwd?: string,
  options: Omit<CliProcessOptions, 'stdin'> = {},
): Promise<CliResult[]> {
  const args = ['--input-type=module', '-e', EACH, BUNDLE_MAIN, JSON.stringify(commands)];
  const r = await nodeProcess(args, env, cwd, { ...options, killSignal: 'SIGKILL' });
  if (r.code !== 0) throw new Error(`the commands' process exited ${r.code}:\n${r.stderr}\n${r.stdout}`);
  const results: { code: number; stdout: string; stderr: string }[] = JSON.parse(
    r.stdout.trimEnd().split('\n').at(-1)!,
  );
  return results.map(({ code, stdout, stderr }) => result(code, stdout, stderr));
}

/** `node <args>` (as another user: setpriv), capturing its exit code and output. */
function nodeProcess(
  args: string[],
  env: Record<string, string | undefined>,
  cwd: string | undefined,
  options: CliProcessOptions & { killSignal?: NodeJS.Signals },
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
            ...args,
          ],
        ]
      : [process.execPath, args];
    const child = spawn(command, commandArgs, {
      env: baseEnv(env),
      cwd,
      stdio: [stdinFd ?? (options.stdin ? 'pipe' : 'ignore'), 'pipe', 'pipe'],
      timeout: options.timeoutMs,
      killSignal: options.killSignal,
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

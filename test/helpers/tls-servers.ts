/**
 * Other software's TLS servers as the doctor tests meet them: spawned on free ports of 127.0.0.1, ready when
 * they accept connections (or print that they listen), and always stopped — killed by their own process id.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { within } from './poll.js';
import { accepts } from './ports.js';

export interface SpawnedServer {
  child: ChildProcess;
  /** What it wrote to stdout and stderr so far, for a failure message. */
  output(): string;
  /** Kills it (SIGTERM, then SIGKILL after 5 s) and waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * Starts `cmd` and waits until it is ready: every port in `ports` accepts connections, or, with `line`, a
 * line of its stdout matches (then the match is returned, for servers that choose their own ports).
 * A process that exits first fails with its output.
 */
export async function spawnServer(
  cmd: string,
  args: string[],
  ready: { ports: number[] } | { line: RegExp },
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<SpawnedServer & { match?: RegExpMatchArray }> {
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let exited: number | null | undefined;
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code) => {
      exited = code;
      resolve();
    }),
  );
  child.once('error', (e) => {
    out += `spawn error: ${e.message}`;
    exited = -1;
  });
  const server: SpawnedServer = {
    child,
    output: () => out,
    async stop() {
      if (exited !== undefined) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exit;
      clearTimeout(timer);
    },
  };
  let match: RegExpMatchArray | undefined;
  try {
    await within(30_000, `${cmd} ready`, async () => {
      if (exited !== undefined) throw new Error(`${cmd} exited (${exited}) before it was ready:\n${out}`);
      if ('line' in ready) {
        match = ready.line.exec(out) ?? undefined;
        return match !== undefined;
      }
      return (await Promise.all(ready.ports.map((port) => accepts(port)))).every(Boolean);
    });
  } catch (e) {
    await server.stop();
    throw e;
  }
  return { ...server, match };
}

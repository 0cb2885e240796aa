/** What a command may touch of the outside world; tests pass their own. */
export interface Io {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

export function processIo(): Io {
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env };
}

/** Interactive means a person is at a terminal: only then do we prompt or animate. */
export function isInteractive(io: Io): boolean {
  return Boolean(io.stdin.isTTY && io.stderr.isTTY) && io.env.CI !== 'true';
}

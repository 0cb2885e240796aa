/**
 * `mtls-ca publish` as the real binary (needs `npm run build`), for the interop tests whose consumers —
 * openssl, nginx, Java, Tomcat — fetch from it as they would in production; a free port to put in a publish
 * URL before the certificates that carry it are issued; and curl as the client those servers judge.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { BIN, baseEnv } from './cli.js';
import { waitForPort } from './ports.js';
import { type RunResult, run } from './tools.js';

/**
 * One HTTPS request by curl with the PEM certificate and key of client `name` of the CA in `dir`, trusting
 * that CA; synchronous (the server is another process).
 * @param extra - more curl options (`-w`, `-o` …)
 */
export function curlAs(dir: string, name: string, url: string, extra: string[] = []): RunResult {
  const p = (f: string) => path.join(dir, f);
  return run('curl', [
    '-s',
    '--max-time',
    '30',
    ...extra,
    '--cacert',
    p('ca/ca.crt'),
    '--cert',
    p(`client/${name}.crt`),
    '--key',
    p(`client/${name}.key`),
    url,
  ]);
}

export interface PublishProcess {
  child: ChildProcess;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  /** SIGTERM, then its exit code once it has shut down. */
  stop(): Promise<number | null>;
}

/**
 * Starts `mtls-ca publish --dir <dir> --listen 127.0.0.1 [...extra]` and resolves once it listens.
 * @param env - its environment (a CA password for `--auto-renew`)
 */
export async function startPublish(
  dir: string,
  port: number,
  extra: string[] = [],
  env: Record<string, string> = {},
): Promise<PublishProcess> {
  const child = spawn(
    process.execPath,
    [BIN, 'publish', '--dir', dir, '--listen', '127.0.0.1', '--port', String(port), ...extra],
    { env: baseEnv(env), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let text = '';
  child.stdout!.on('data', (c: Buffer) => {
    text += c.toString();
  });
  child.stderr!.on('data', (c: Buffer) => {
    text += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const started = waitForPort(port);
  const early = exited.then((code) => {
    throw new Error(`mtls-ca publish exited ${code} before listening:\n${text}`);
  });
  await Promise.race([started, early]);
  early.catch(() => {});
  return {
    child,
    output: () => text,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

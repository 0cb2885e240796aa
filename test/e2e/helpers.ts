/**
 * End-to-end helpers: the real binary's `mtls-ca serve` / `demo` as child processes (each in its own process
 * group, always stopped), and bounded, asynchronous runs of curl and java. Nothing here builds a certificate
 * outside the CLI except {@link issueExpiredClient}, which the CLI cannot make.
 *
 * The commands that set up or change a CA directory (init, issue-client, revoke, crl, audit verify) run
 * in-process, through `mtlsCa` and `makeCa` of test/helpers/ca-setup.ts: what these files test is the server process and the clients, which see the same files whoever
 * wrote them, and a Node start costs about half a CPU second per command. The binary's own init, issue-client
 * and revoke, as processes racing each other, are tested in test/cli/concurrency.test.ts.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll } from 'vitest';
import { exportPrivateKeyPem, generateKeyPair } from '../../src/pki/keys.js';
import { issueClientCertificate } from '../../src/pki/profiles.js';
import { CaStore } from '../../src/store/ca-store.js';
import { CA_PASSWORD } from '../helpers/ca-setup.js';
import { BIN, baseEnv } from '../helpers/cli.js';
import { within } from '../helpers/poll.js';
import { faketimeEnv } from '../helpers/tools.js';

export const CUSTOMER_1 = '{"id":1,"name":"Customer1"}';

/** The generated password beside a store (`<file>.pass`, first line). */
export function readPass(file: string): string {
  return readFileSync(`${file}.pass`, 'utf8').split('\n')[0]!;
}

/** The `client_<name>.p12` the CLI wrote, and its password. */
export function clientP12(dir: string, name: string): { file: string; password: string } {
  const file = path.join(dir, 'client', `client_${name}.p12`);
  return { file, password: readPass(file) };
}

/**
 * Removes users from `users.json` (an unknown user: a certificate our CA signed, a CN the server does not
 * know). Written whole and renamed, as an editor or config tool would.
 */
export function removeUsers(dir: string, names: string[]): void {
  const file = path.join(dir, 'users.json');
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as { users: Record<string, unknown> };
  for (const n of names) delete parsed.users[n];
  writeFileSync(file, `${JSON.stringify(parsed, null, 2)}\n`);
}

/**
 * A client certificate for `commonName` signed by the CA in `dir` (key loaded with {@link CA_PASSWORD}) that
 * expired long ago: issued 400 days ago for 30 days. No CLI option back-dates a certificate, so this one is
 * made with the pki functions; key and certificate are PEM files in `outDir`.
 */
export async function issueExpiredClient(
  dir: string,
  commonName: string,
  outDir: string,
): Promise<{ cert: string; key: string; notAfter: Date }> {
  const ca = new CaStore(dir).loadCa(CA_PASSWORD);
  const keys = await generateKeyPair('ecdsa-p256');
  const certificate = issueClientCertificate({
    ca,
    publicKey: keys.publicKey,
    commonName,
    days: 30,
    now: new Date(Date.now() - 400 * 86_400_000),
  });
  const cert = path.join(outDir, `${commonName}-expired.crt`);
  const key = path.join(outDir, `${commonName}-expired.key`);
  writeFileSync(cert, certificate.toPem());
  writeFileSync(key, exportPrivateKeyPem(keys.privateKey), { mode: 0o600 });
  return { cert, key, notAfter: certificate.notAfter };
}

export interface ExecResult {
  /** The exit code; -1 when the process was killed (timeout). */
  exit: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a program without blocking the event loop (the server's output keeps flowing into our buffers) and
 * never for longer than `timeoutMs`; never throws on a non-zero exit.
 */
export function exec(
  cmd: string,
  args: string[],
  opts: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<ExecResult> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { cwd: opts.cwd, env: opts.env, encoding: 'utf8', timeout: opts.timeoutMs ?? 30_000 },
      (error, stdout, stderr) => {
        const code = (error as { code?: unknown } | null)?.code;
        resolve({ exit: error ? (typeof code === 'number' ? code : -1) : 0, stdout, stderr });
      },
    );
  });
}

export interface CurlAnswer extends ExecResult {
  /** The HTTP status; 0 when no HTTP answer arrived (refused in the TLS handshake). */
  status: number;
  body: string;
}

/** curl `url` with `args` (certificate options), JSON accepted; the status is read from `-w`. */
export async function curl(url: string, args: string[], cwd?: string): Promise<CurlAnswer> {
  const r = await exec('curl', ['-sS', '--max-time', '20', ...args, '-w', '\n%{http_code}', url], { cwd });
  const cut = r.stdout.lastIndexOf('\n');
  return { ...r, body: r.stdout.slice(0, cut), status: Number(r.stdout.slice(cut + 1)) };
}

export interface ServeProcess {
  /** The URL from the banner line `mtls-ca serve: <url> (…)`. */
  url: string;
  port: number;
  /** The command printed under "Try it:", as printed. */
  curlLine: string;
  /** Everything the process has written to stdout so far (banner, access and event log). */
  stdout(): string;
  stderr(): string;
  /** SIGTERM to the process group; resolves with how it ended (SIGKILL after 10 s). */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const BANNER = /^mtls-ca serve: (https:\/\/\S+) \(/m;
const TRY_IT = /^Try it:\n {2}(.+)$/m;

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    // The child leads its own process group (detached), so this reaches it and anything it spawned.
    process.kill(-child.pid!, signal);
  } catch {
    // already gone
  }
}

export interface StartOptions {
  /** The working directory; the banner prints paths relative to it. */
  cwd: string;
  /** Environment beyond PATH, HOME and NO_COLOR; default `MTLS_CA_PASSWORD` = {@link CA_PASSWORD}. */
  env?: Record<string, string | undefined>;
  /** How long to wait for the banner; default 30 s. */
  timeoutMs?: number;
  /**
   * Runs it under libfaketime with FAKETIME=SPEC (`+4d`: four days from now, for it and its workers) —
   * the clock of a server that has been running, or started, days later.
   */
  faketime?: string;
}

/**
 * Starts the real binary (`serve`, `demo`, …) and waits, at most `timeoutMs`, for its banner. Servers started
 * through a pool are stopped in the pool's `afterAll`, whatever the tests did.
 */
export function serverPool(): {
  start(args: string[], opts: StartOptions): Promise<ServeProcess>;
} {
  const running = new Set<ServeProcess>();
  afterAll(async () => {
    await Promise.all([...running].map((s) => s.stop()));
  });

  async function start(args: string[], opts: StartOptions): Promise<ServeProcess> {
    const env = opts.env ?? { MTLS_CA_PASSWORD: CA_PASSWORD };
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: opts.cwd,
      env: baseEnv(opts.faketime ? { ...env, ...faketimeEnv(opts.faketime) } : env),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    let err = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.on('exit', (code, signal) => resolve({ code, signal }));
    });
    let stopping: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;
    const stop = () => {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) killGroup(child, 'SIGTERM');
        const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 10_000);
        const how = await exited;
        clearTimeout(timer);
        running.delete(server);
        return how;
      })();
      return stopping;
    };
    const server: ServeProcess = {
      url: '',
      port: 0,
      curlLine: '',
      stdout: () => out,
      stderr: () => err,
      stop,
    };
    running.add(server);

    let ended = false;
    void exited.then(() => {
      ended = true;
    });
    try {
      await within(opts.timeoutMs ?? 30_000, 'the banner', () => {
        if (ended) throw new Error('it exited');
        return BANNER.test(out) && TRY_IT.test(out);
      });
    } catch (e) {
      await stop();
      throw new Error(
        `mtls-ca ${args.join(' ')}: no banner (${(e as Error).message})\nstdout:\n${out}\nstderr:\n${err}`,
      );
    }
    server.url = BANNER.exec(out)![1]!;
    server.port = Number(new URL(server.url).port);
    server.curlLine = TRY_IT.exec(out)![1]!;
    return server;
  }

  return { start };
}

/**
 * Runs a printed command line through `sh -c`, as a user pasting it would, in `cwd` (the printed paths are
 * relative to the server's working directory).
 */
export function runPrinted(line: string, cwd: string): Promise<ExecResult> {
  return exec('sh', ['-c', line], { cwd, env: baseEnv() });
}

/** The server's text log lines for one event, e.g. `… warn tls-refused: refused client: … reason=EXPIRED …`. */
export function eventLines(stdout: string, event: string): string[] {
  return stdout.split('\n').filter((l) => l.includes(` ${event}: `));
}

/**
 * Whether `server` has logged `event` since this call: for a test that waits for the server to apply a change
 * (a CRL: `crl-loaded`), to send its real request once the server says it has, and every few milliseconds
 * after that only if the first was too early. Asking costs a text search of what the process has already
 * written; a TLS handshake every 10 ms while waiting cost both processes a few milliseconds of CPU each.
 * Take it before the change is made, or a line logged in between is missed.
 */
export function loggedSince(server: ServeProcess, event: string): () => boolean {
  const from = server.stdout().length;
  return () => server.stdout().includes(` ${event}: `, from);
}

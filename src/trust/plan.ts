/**
 * What installing or removing a CA (or a client certificate) in a trust store takes, as data: the steps —
 * each the command a person would type for it, and how this process carries it out — or why it cannot be
 * done here and now. A plan is made in full before anything runs, so that a store that needs root, another
 * platform or a missing tool stops the whole run before any store is changed.
 */
import { execFile } from 'node:child_process';

/** The stores mtls-ca manages. `client` is the current user's certificate store (NSS on Linux). */
export type TrustStoreKind = 'nss' | 'java' | 'system' | 'client';

/** The operating system's trust store family. */
export type Platform = 'debian' | 'rhel' | 'macos' | 'windows';

export interface TrustStep {
  /** The command that does it, as argv: what `--dry-run` prints, and, for most steps, what runs. */
  command: string[];
  /** A file the command reads on its standard input (a generated password), shown as `< file`. */
  stdinFile?: string;
  /** The command is the equivalent of what this process does itself (the Java store, written without keytool). */
  equivalent?: boolean;
  /** Carries the step out; absent for a step that is only printed (another platform). */
  run?: () => Promise<void>;
}

/** Why a store's plan cannot be carried out. */
export type TrustBlocker =
  /** Writing `path` needs root (the system store, the JDK's cacerts). */
  | { kind: 'needs-root'; path: string }
  /** The store belongs to another operating system: its commands can only be printed. */
  | { kind: 'other-platform'; platform: Platform }
  /** A program the steps run is not installed. */
  | { kind: 'missing-tool'; tool: string; packageName: string };

export interface StorePlan {
  store: TrustStoreKind;
  /** Where: an NSS database folder, a key store file, an anchors folder, a keychain. */
  location: string;
  blocked?: TrustBlocker;
  /** Empty when there is nothing to do (already installed, or already absent). */
  steps: TrustStep[];
  /** Why there is nothing to do, when that is so: `already trusted as "debian:…"`. */
  note?: string;
}

export interface StoreStatus {
  store: TrustStoreKind;
  location: string;
  /**
   * `trusted`: the CA is there and trusted; `present`: the client's certificate and key are there;
   * `absent`; `untrusted`: the CA is there without trust; `unknown`: it cannot be looked at here (another
   * platform, no tool).
   */
  state: 'trusted' | 'present' | 'absent' | 'untrusted' | 'unknown';
  /** More: the alias or nickname it is under, or the command that would tell. */
  detail?: string;
}

export interface CommandResult {
  code: number;
  stdout: string;
  /** stdout as bytes (a DER certificate). */
  raw: Buffer;
  stderr: string;
}

/**
 * Runs a program (no shell), its output captured; never throws on a non-zero exit.
 * @param argv - the program and its arguments
 * @param input - what it reads on its standard input
 */
export function runProgram(argv: string[], input?: string | Buffer): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = execFile(
      argv[0]!,
      argv.slice(1),
      { encoding: 'buffer', timeout: 120_000, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        const code = (error as { code?: unknown } | null)?.code;
        resolve({
          code: error ? (typeof code === 'number' ? code : 127) : 0,
          stdout: stdout.toString('utf8'),
          raw: stdout,
          stderr: error && typeof code !== 'number' ? String(error.message) : stderr.toString('utf8'),
        });
      },
    );
    child.stdin?.end(input);
  });
}

/** Whether a program is on PATH. */
export async function haveProgram(name: string): Promise<boolean> {
  return (await runProgram(['sh', '-c', `command -v ${name}`])).code === 0;
}

/** A step that runs its own command and fails, with the program's message, unless it exits 0. */
export function commandStep(
  command: string[],
  options: { stdinFile?: string; input?: () => Buffer } = {},
): TrustStep {
  return {
    command,
    stdinFile: options.stdinFile,
    run: async () => {
      const r = await runProgram(command, options.input?.());
      if (r.code !== 0) {
        throw new StepFailure(command, r);
      }
    },
  };
}

/** A command of a plan that failed; the operation turns it into an MtlsCaError naming the store. */
export class StepFailure extends Error {
  constructor(
    readonly command: string[],
    readonly result: CommandResult,
  ) {
    super(
      `${command[0]} exited ${result.code}: ${(result.stderr || result.stdout).trim().split('\n').at(-1)}`,
    );
  }
}

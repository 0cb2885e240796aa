/**
 * A CA directory for tests about what is done with it (trust stores, snippets, servers), made by main()
 * in-process with the commands a user runs. Spawning the binary for each would cost a quarter of a CPU second
 * and half a second of waiting per command, for the same files; the binary's own commands are tested where the
 * process is the point (test/cli/concurrency.test.ts).
 */
import { cli, exitedZero } from './cli.js';

/** The CA key password every CA of {@link makeCa} (and every e2e CA) is created with (`MTLS_CA_PASSWORD`). */
export const CA_PASSWORD = 'e2e-ca-password';

/**
 * Runs a command through main() in this process with `MTLS_CA_PASSWORD` = {@link CA_PASSWORD}; its stdout,
 * or throws with its exit code and stderr unless it exits 0.
 * @param args - the command line after `mtls-ca`; paths absolute (the command runs in this process's cwd)
 * @param env - more environment (e.g. `MTLS_CA_STORE_PASSWORD`)
 */
export async function mtlsCa(args: string[], env: Record<string, string> = {}): Promise<string> {
  return exitedZero(`mtls-ca ${args.join(' ')}`, await cli(args, { MTLS_CA_PASSWORD: CA_PASSWORD, ...env }))
    .stdout;
}

/**
 * `init --dir dir` (the key encrypted with CA_PASSWORD, generated store passwords), one `issue-client` per
 * entry of `clients`, then `revoke` of each of `revoked`; throws with the command's stderr unless each exits 0.
 * @param clients - extra `issue-client` arguments after the name, e.g. `{ pavel: ['--role', 'user'] }`
 * @param revoked - names among `clients` to revoke
 * @param env - more environment for every command (e.g. `MTLS_CA_STORE_PASSWORD`)
 */
export async function makeCa(
  dir: string,
  clients: Record<string, string[]>,
  revoked: string[] = [],
  env: Record<string, string> = {},
): Promise<void> {
  const commands = [
    ['init'],
    ...Object.entries(clients).map(([name, args]) => ['issue-client', name, ...args]),
    ...revoked.map((name) => ['revoke', name]),
  ];
  for (const args of commands) await mtlsCa([...args, '--dir', dir], env);
}

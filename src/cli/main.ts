/**
 * The one place that turns a run into an exit code and renders errors:
 * 0 ok, 1 a user-facing error, 2 usage, 3 `list --expiring` found something, 70 internal,
 * 130 cancelled at a prompt (Ctrl-C; 128 + SIGINT, as shells report an interrupted command).
 */
import { CommanderError } from 'commander';
import { AmbiguousError, MtlsCaError } from '../pki/errors.js';
import { CommandContext, ExitError } from './context.js';
import { hintFor } from './hints.js';
import { type Io, processIo } from './io.js';
import { closeOpenTokens } from './open-tokens.js';
import { Output } from './output.js';
import { buildProgram } from './program.js';
import { table } from './render.js';

const EXIT_OK = 0;
const EXIT_ERROR = 1;
const EXIT_USAGE = 2;
const EXIT_INTERNAL = 70;
const EXIT_CANCELLED = 130;

/**
 * Runs the CLI.
 * @param argv - arguments after the program name
 * @param io - streams and environment (default: the process's)
 */
export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  const json = argv.includes('--json');
  const out = await Output.create(io, json);
  const ctx = new CommandContext(io);
  try {
    await buildProgram(io, ctx).parseAsync(argv, { from: 'user' });
    return EXIT_OK;
  } catch (e) {
    return renderError(e, io, out, json);
  } finally {
    closeOpenTokens();
    await ctx.close();
  }
}

/** The exit code of a failed run, after rendering its error. */
function renderError(e: unknown, io: Io, out: Output, json: boolean): number {
  if (e instanceof ExitError) return e.exitCode;
  if (e instanceof CommanderError) {
    // help and version exit 0; commander has already printed its usage message on stderr
    if (e.exitCode === 0) return EXIT_OK;
    if (json) out.printJson({ error: { code: 'USAGE', message: e.message.replace(/^error: /, '') } });
    return EXIT_USAGE;
  }
  if (e instanceof MtlsCaError) {
    const matches = e instanceof AmbiguousError ? e.matches : undefined;
    const hint = hintFor(e);
    out.error(e.message, e.code, hint, matches ? table(matches) : []);
    if (json)
      out.printJson({
        error: {
          code: e.code,
          message: e.message,
          ...(hint ? { hint } : {}),
          ...(matches ? { matches } : {}),
        },
      });
    if (io.env.MTLS_CA_DEBUG === '1' && e.cause) io.stderr.write(`${(e.cause as Error).stack ?? e.cause}\n`);
    return e.code === 'USAGE' ? EXIT_USAGE : EXIT_ERROR;
  }
  const name = (e as { name?: string })?.name;
  if (name === 'ExitPromptError' || name === 'AbortPromptError') {
    // After Ctrl-C inquirer leaves the half-answered question on screen and moves to the next line: erase
    // that question (cursor up one line, clear it), so what remains is one line saying what happened.
    if (io.stderr.isTTY) io.stderr.write('\x1b[1A\x1b[2K');
    out.error('cancelled at the prompt');
    if (json) out.printJson({ error: { code: 'CANCELLED', message: 'cancelled' } });
    return EXIT_CANCELLED;
  }
  out.error('unexpected error — re-run with MTLS_CA_DEBUG=1 for details', 'INTERNAL');
  if (io.env.MTLS_CA_DEBUG === '1') io.stderr.write(`${(e as Error)?.stack ?? e}\n`);
  if (json) out.printJson({ error: { code: 'INTERNAL', message: 'unexpected error' } });
  return EXIT_INTERNAL;
}

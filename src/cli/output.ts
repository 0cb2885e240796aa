/**
 * All terminal output: the only chalk import. Colour only on a TTY and never with NO_COLOR
 * (https://no-color.org); `--json` prints exactly one JSON document to stdout.
 */
import { once } from 'node:events';
import type { Io } from './io.js';

/** The few styles we use; plain identity functions when colour is off. */
export interface Paint {
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
  dim(s: string): string;
  bold(s: string): string;
}

const plain: Paint = { red: String, green: String, yellow: String, cyan: String, dim: String, bold: String };

function wantsColor(io: Io, stream: { isTTY?: boolean }): boolean {
  const noColor = io.env.NO_COLOR !== undefined && io.env.NO_COLOR !== '';
  return !noColor && Boolean(stream.isTTY) && io.env.TERM !== 'dumb';
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export class Output {
  /**
   * @param color - styles for stdout
   * @param err - styles for stderr
   */
  constructor(
    private readonly io: Io,
    readonly json: boolean,
    readonly color: Paint = plain,
    readonly err: Paint = plain,
  ) {}

  /** An Output for `io`; chalk is loaded only when a stream will really be coloured (start-up time). */
  static async create(io: Io, json: boolean): Promise<Output> {
    const outColor = wantsColor(io, io.stdout);
    const errColor = wantsColor(io, io.stderr);
    if (!outColor && !errColor) return new Output(io, json);
    const { Chalk } = await import('chalk');
    return new Output(
      io,
      json,
      outColor ? new Chalk({ level: 1 }) : plain,
      errColor ? new Chalk({ level: 1 }) : plain,
    );
  }

  /** A line of human output on stdout (suppressed with --json). */
  line(text = ''): void {
    if (!this.json) this.io.stdout.write(`${text}\n`);
  }

  /** The one JSON document of a --json run. */
  printJson(value: unknown): void {
    this.io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** A result: JSON document with --json, else the text lines. */
  result(value: unknown, text: () => string[]): void {
    if (this.json) this.printJson(value);
    else this.io.stdout.write(`${text().join('\n')}\n`); // one write: a 100k-row list is one syscall, not 100k
  }

  /**
   * A result too large to build as one string (100,000 certificates are 45 MB of JSON): the JSON document or
   * the text lines, written about 64 KB at a time as they are produced, waiting for the stream to drain in
   * between, so memory stays small — first-touching fresh memory was a large part of such a run's time.
   * @param json - yields consecutive pieces of the JSON document (without its final newline)
   * @param lines - yields the text lines (without newlines)
   */
  async resultInPieces(json: () => Iterable<string>, lines: () => Iterable<string>): Promise<void> {
    let pending = '';
    const flush = async () => {
      const ok = this.io.stdout.write(pending);
      pending = '';
      if (!ok) await once(this.io.stdout, 'drain');
    };
    if (this.json) {
      for (const piece of json()) {
        pending += piece;
        if (pending.length >= 65_536) await flush();
      }
      pending += '\n';
    } else {
      for (const line of lines()) {
        pending += `${line}\n`;
        if (pending.length >= 65_536) await flush();
      }
    }
    await flush();
  }

  warn(text: string): void {
    this.io.stderr.write(`${this.err.yellow('warning:')} ${text}\n`);
  }

  info(text: string): void {
    this.io.stderr.write(`${text}\n`);
  }

  /**
   * The error line, then `details` (indented lines, e.g. the choices of an ambiguous name), then the hint.
   */
  error(message: string, code?: string, hint?: string, details: string[] = []): void {
    this.io.stderr.write(`${this.err.red('error:')} ${message}${code ? ` (${code})` : ''}\n`);
    for (const line of details) this.io.stderr.write(`  ${line}\n`);
    if (hint) this.io.stderr.write(`${this.err.dim('hint:')} ${hint}\n`);
  }

  /** Runs `work` with a spinner on an interactive stderr; silent otherwise. */
  async spin<T>(text: string, work: () => Promise<T>): Promise<T> {
    if (!this.io.stderr.isTTY || this.json || this.io.env.CI === 'true') return work();
    let i = 0;
    const draw = () => this.io.stderr.write(`\r${this.err.cyan(FRAMES[i++ % FRAMES.length])} ${text}`);
    draw();
    const timer = setInterval(draw, 80);
    try {
      return await work();
    } finally {
      clearInterval(timer);
      this.io.stderr.write('\r\x1b[K');
    }
  }
}

/**
 * All terminal output: the only chalk import. Colour only on a TTY and never with NO_COLOR
 * (https://no-color.org); `--json` prints exactly one JSON document to stdout.
 */
import { Chalk, type ChalkInstance } from 'chalk';
import type { Io } from './io.js';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export class Output {
  readonly color: ChalkInstance;
  readonly err: ChalkInstance;

  constructor(
    private readonly io: Io,
    readonly json: boolean,
  ) {
    const noColor = io.env.NO_COLOR !== undefined && io.env.NO_COLOR !== '';
    const level = (tty?: boolean) => (noColor || !tty || io.env.TERM === 'dumb' ? 0 : 1);
    this.color = new Chalk({ level: level(io.stdout.isTTY) });
    this.err = new Chalk({ level: level(io.stderr.isTTY) });
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
    else for (const l of text()) this.line(l);
  }

  warn(text: string): void {
    this.io.stderr.write(`${this.err.yellow('warning:')} ${text}\n`);
  }

  info(text: string): void {
    this.io.stderr.write(`${text}\n`);
  }

  error(message: string, code?: string, hint?: string): void {
    this.io.stderr.write(`${this.err.red('error:')} ${message}${code ? ` (${code})` : ''}\n`);
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

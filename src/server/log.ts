/**
 * The server's log: one line per request (access) and one line per server event (a refused TLS client, a
 * users file that failed to parse, a reload). Lines go to an injected sink so that tests capture them and
 * the CLI chooses the stream. Nothing secret is ever passed in: no keys, no query strings, no headers.
 */

/**
 * Receives one complete log line, without the trailing newline, and whether it is an access line (a sink may
 * batch those: there is one per request) or an event line (rare, and wanted at once).
 */
export type LogSink = (line: string, kind: 'access' | 'event') => void;

/** `text`: space-separated, for people; `json`: one JSON object a line, for log shippers. */
export type LogFormat = 'text' | 'json';

export const LOG_FORMATS: readonly LogFormat[] = ['text', 'json'];

export type LogLevel = 'info' | 'warn' | 'error';

export type LogFields = Record<string, string | number | boolean | undefined>;

export interface AccessEntry {
  time: Date;
  /** The certificate's user name, or undefined when the client had no verified certificate. */
  user: string | undefined;
  method: string;
  /** The path without its query string (query strings can carry tokens). */
  path: string;
  status: number;
  /**
   * Milliseconds from the request's arrival to the end of the response; undefined for a request Node's HTTP
   * parser refused before it had arrived whole (its start is unknown): `-` in text, null in JSON.
   */
  ms: number | undefined;
  /** True when the client went away before the response was complete. */
  aborted?: boolean;
}

export interface ServerLogger {
  readonly format: LogFormat;
  access(entry: AccessEntry): void;
  /**
   * @param event - a stable kebab-case name (`tls-refused`, `users-invalid`, `reloaded`)
   * @param message - one human sentence
   * @param fields - extra key/values; undefined values are left out
   */
  event(level: LogLevel, event: string, message: string, fields?: LogFields): void;
}

let pending: string[] = [];
let flushTimer: NodeJS.Timeout | undefined;
let exitHooked = false;

/**
 * How long a line may wait to be written with the next ones: a write per request was a measurable share of
 * a keep-alive request (docs/performance.md).
 */
const FLUSH_MS = 50;

function flushStdout(): void {
  clearTimeout(flushTimer);
  flushTimer = undefined;
  if (pending.length === 0) return;
  const text = `${pending.join('\n')}\n`;
  pending = [];
  process.stdout.write(text);
}

/**
 * Writes lines to stdout; the default sink. Access lines are collected and written together at most 50 ms
 * after the first of them (under load one write carries hundreds of lines instead of one per request;
 * nginx's `access_log … flush=` does the same). An event line is written at once, after whatever access
 * lines are pending, so the order stays. Pending lines are written on exit too; only a kill -9 can lose
 * the access lines of the last 50 ms.
 */
export const stdoutSink: LogSink = (line, kind) => {
  pending.push(line);
  if (kind === 'event') {
    flushStdout();
    return;
  }
  if (flushTimer) return;
  // Unref'd: a pending line never keeps the process alive; the exit hook writes it.
  flushTimer = setTimeout(flushStdout, FLUSH_MS).unref();
  if (!exitHooked) {
    exitHooked = true;
    process.once('exit', flushStdout);
  }
};

/**
 * A value for a text line: bare when it is a plain token, JSON-quoted otherwise, so a certificate name with
 * a space, quote or newline can neither split a field nor forge a second log line.
 */
export function textValue(value: string | number | boolean): string {
  const s = String(value);
  return s.length > 0 && /^[\x21\x23-\x3c\x3e-\x7e]+$/.test(s) ? s : JSON.stringify(s);
}

function roundMs(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/**
 * @param options.format - default `text`
 * @param options.sink - where lines go; default stdout
 * @param options.now - the clock for event lines (tests); access lines carry their own time
 * @param options.hints - a `hint` field for event lines by event name, for lines that carry none: what to do
 *   next, in the words of the program that runs the server (the CLI names its own commands and flags)
 */
export function createLogger(
  options: {
    format?: LogFormat;
    sink?: LogSink;
    now?: () => Date;
    hints?: Readonly<Record<string, string>>;
  } = {},
): ServerLogger {
  const format = options.format ?? 'text';
  const sink = options.sink ?? stdoutSink;
  const now = options.now ?? (() => new Date());
  const hints = options.hints ?? {};
  return {
    format,
    access(e) {
      const ms = e.ms === undefined ? null : roundMs(e.ms);
      if (format === 'json') {
        sink(
          JSON.stringify({
            time: e.time.toISOString(),
            type: 'access',
            user: e.user ?? null,
            method: e.method,
            path: e.path,
            status: e.status,
            ms,
            ...(e.aborted ? { aborted: true } : {}),
          }),
          'access',
        );
      } else {
        const user = e.user === undefined ? '-' : textValue(e.user);
        const tail = e.aborted ? ' aborted' : '';
        const took = ms === null ? '-' : `${ms}ms`;
        sink(
          `${e.time.toISOString()} ${user} ${textValue(e.method)} ${textValue(e.path)} ${e.status} ${took}${tail}`,
          'access',
        );
      }
    },
    event(level, event, message, fields = {}) {
      const hint = fields.hint ?? (Object.hasOwn(hints, event) ? hints[event] : undefined);
      const defined = Object.entries({ ...fields, hint }).filter(([, v]) => v !== undefined) as [
        string,
        string | number | boolean,
      ][];
      const time = now().toISOString();
      if (format === 'json') {
        sink(
          JSON.stringify({ time, type: 'event', level, event, message, ...Object.fromEntries(defined) }),
          'event',
        );
      } else {
        const kv = defined.map(([k, v]) => ` ${k}=${textValue(v)}`).join('');
        sink(`${time} ${level} ${event}: ${message}${kv}`, 'event');
      }
    },
  };
}

/**
 * The real binary on a real pseudo-terminal (python3's pty module), driven by a script of "wait for this text"
 * and "type these keys" steps, as a person at a keyboard would: inquirer reads keys in raw mode, so Enter is
 * `\r` and Ctrl-C the byte 0x03. Needs `npm run build` (it runs bin/mtls-ca.js) and python3.
 */
import { spawnSync } from 'node:child_process';
import { BIN, baseEnv } from './cli.js';
import { python3 } from './tools.js';

/** One step of a terminal session. */
export type PtyStep =
  /** Read until `text` appears in what the program wrote after the previous wait's match. */
  | { waitFor: string }
  /** Type these characters (`\r` is Enter, `\x03` Ctrl-C). */
  | { send: string };

export interface PtySession {
  /** The exit code: a signal's number + 128 as a shell reports it. */
  status: number;
  /** Everything the program wrote to the terminal (stdout and stderr together, `\n` as `\r\n`). */
  screen: string;
}

/** Exit status of the driver when a wait timed out; the screen so far is on its stdout. */
const WAIT_TIMED_OUT = 99;
/** Exit status of the driver when the program did not exit after the last step (it was killed). */
const DID_NOT_EXIT = 98;

const DRIVER = `
import json, os, pty, select, sys, time
script = json.loads(sys.argv[1])
steps, seconds = script['steps'], script['seconds']
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
out = b''
seen = 0
closed = False
def read_until(text, seconds):
    global out, closed
    end = time.time() + seconds
    while time.time() < end:
        if text is not None and out.find(text, seen) >= 0:
            return True
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b''
            if not chunk:
                closed = True
                break
            out += chunk
    return text is not None and out.find(text, seen) >= 0
for step in steps:
    if 'send' in step:
        os.write(fd, step['send'].encode())
        continue
    text = step['waitFor'].encode()
    if not read_until(text, seconds):
        sys.stdout.buffer.write(out)
        why = 'the program ended before' if closed else 'timed out waiting for'
        sys.stderr.write('%s %r' % (why, step['waitFor']))
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        sys.exit(${WAIT_TIMED_OUT})
    seen = out.find(text, seen) + len(text)
read_until(None, seconds)
if not closed:
    sys.stdout.buffer.write(out)
    sys.stderr.write('the program did not exit after the last step (a question nobody answered?)')
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    sys.exit(${DID_NOT_EXIT})
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
sys.exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
`;

/**
 * Runs `mtls-ca <args>` on a pseudo-terminal through `steps`, then until it exits; one that is still running
 * then (waiting at a question the steps did not answer) is killed and fails the call.
 * @param args - the command line after `mtls-ca`
 * @param steps - waits and keystrokes, in order; a wait that never matches fails with the screen so far
 * @param env - environment beyond PATH, HOME, TERM=xterm and NO_COLOR=1
 * @param waitSeconds - how long one wait, and the wait for the exit after the last step, may take before the
 *   session is abandoned (a generous bound for a loaded machine, not a measurement)
 */
export function runOnPty(
  args: string[],
  steps: PtyStep[],
  env: Record<string, string | undefined> = {},
  waitSeconds = 30,
): PtySession {
  const script = JSON.stringify({ steps, seconds: waitSeconds });
  // -S: the driver needs only the standard library, and the site module (site-packages, .pth files) is half
  // of python3's start-up (0.15 CPU-seconds with it, 0.07 without, for pyenv's 3.11)
  const r = spawnSync(python3(), ['-S', '-c', DRIVER, script, process.execPath, BIN, ...args], {
    encoding: 'utf8',
    env: baseEnv({ TERM: 'xterm', ...env }),
    timeout: (steps.length + 2) * waitSeconds * 1000,
  });
  if (r.error) throw r.error;
  if (r.status === WAIT_TIMED_OUT || r.status === DID_NOT_EXIT)
    throw new Error(`${r.stderr}; the screen:\n${r.stdout}`);
  return { status: r.status ?? -1, screen: r.stdout };
}

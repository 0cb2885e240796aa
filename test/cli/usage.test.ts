/**
 * One rule for every command line that is wrong: exit 2, and with --json one JSON document on stdout whatever
 * found the mistake (commander's parser or our own checks). Ctrl-C at a prompt exits 130.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { BIN, cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tools.js';

describe('usage errors exit 2, and --json gets its JSON document', () => {
  const dir = path.join(tempDir(), 'ssl');

  test.each([
    [['list', '--status', 'bogus'], "option '--status <status>' argument 'bogus' is invalid"],
    [['frobnicate'], "unknown command 'frobnicate'"],
    [['list', '--bogus'], "unknown option '--bogus'"],
    [['issue-client', 'x', '--days', 'soon'], "option '--days <days>' argument 'soon' is invalid"],
  ])('%j --json (commander) → exit 2 and {"error": {"code": "USAGE"}}', async (args, message) => {
    const r = await cli([...args, '--dir', dir, '--json']);
    expect(r.code).toBe(2);
    const doc = r.json<{ error: { code: string; message: string } }>();
    expect(doc.error.code).toBe('USAGE');
    expect(doc.error.message).toContain(message);
    expect(r.stderr).toContain(message); // the person at the terminal still reads it
  });

  test('issue-client without a name or --from → exit 2 (it was 1), JSON with the hint', async () => {
    const r = await cli(['issue-client', '--dir', dir, '--json']);
    expect(r.code).toBe(2);
    expect(r.json()).toEqual({
      error: {
        code: 'USAGE',
        message: 'issue-client: give either a <name> or --from FILE',
        hint: 'see `mtls-ca issue-client --help`',
      },
    });
    expect(fs.existsSync(dir)).toBe(false);
  });

  test('--no-ca-password with --ca-password-file → exit 2', async () => {
    const r = await cli(['init', '--dir', dir, '--no-ca-password', '--ca-password-file', '/nonexistent']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('error: use --no-ca-password with --ca-password-file: choose one (USAGE)\n');
    expect(fs.existsSync(dir)).toBe(false);
  });
});

/**
 * The real binary on a real pseudo-terminal (python3's pty module): inquirer reads keys in raw mode, so Ctrl-C
 * arrives as the byte 0x03, exactly as from a person's keyboard.
 */
const PTY_DRIVER = String.raw`
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out = b''
def read_for(seconds, until=None):
    global out
    end = time.time() + seconds
    while time.time() < end and not (until and until in out):
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                out += os.read(fd, 65536)
            except OSError:
                return
read_for(20, b'CA name')
os.write(fd, b'half an answer')
read_for(1, b'answer')
os.write(fd, b'\x03')
read_for(20)
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
sys.exit(os.waitstatus_to_exitcode(status))
`;

describe('Ctrl-C at a prompt', () => {
  test('exits 130, erases the abandoned question, says so in one line, writes nothing', () => {
    const dir = path.join(tempDir(), 'ssl');
    const r = spawnSync('python3', ['-c', PTY_DRIVER, process.execPath, BIN, 'init', '--dir', dir], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: process.env.HOME, TERM: 'xterm', NO_COLOR: '1' },
      timeout: 60_000,
    });
    expect(r.status).toBe(130);
    const screen = r.stdout;
    expect(screen).toContain('CA name');
    // after the question: cursor up one line and clear it, then the one line of what happened
    expect(screen).toMatch(/\x1b\[1A\x1b\[2Kerror: cancelled at the prompt\r\n$/);
    expect(fs.existsSync(dir)).toBe(false);
  });
});

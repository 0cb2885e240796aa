/**
 * One rule for every command line that is wrong: exit 2, and with --json one JSON document on stdout whatever
 * found the mistake (commander's parser or our own checks). Ctrl-C at a prompt exits 130.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { cli } from '../helpers/cli.js';
import { runOnPty } from '../helpers/pty.js';
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

describe('Ctrl-C at a prompt', () => {
  test('exits 130, erases the abandoned question, says so in one line, writes nothing', () => {
    const dir = path.join(tempDir(), 'ssl');
    const r = runOnPty(
      ['init', '--dir', dir],
      [{ waitFor: 'CA name' }, { send: 'half an answer' }, { waitFor: 'answer' }, { send: '\x03' }],
    );
    expect(r.status).toBe(130);
    const { screen } = r;
    expect(screen).toContain('CA name');
    // after the question: cursor up one line and clear it, then the one line of what happened
    expect(screen).toMatch(/\x1b\[1A\x1b\[2Kerror: cancelled at the prompt\r\n$/);
    expect(fs.existsSync(dir)).toBe(false);
  });
});

/**
 * Files the user names (inspect, sign-csr, issue-client --from, --password-file, --ca-password-file,
 * serve --users) are read bounded: only regular files, a size limit per kind, `-` for stdin. The hostile ones
 * (the real /dev/zero, a real FIFO) run the built CLI in a process of its own with a time limit: before the fix
 * they read until memory ran out or blocked forever, which would take an in-process test runner down with
 * them. The commands of one test share that process (cliProcessEach): a command that blocks, or leaves
 * something running, still keeps it from ending and fails the test.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { beforeAll, describe, expect, test } from 'vitest';
import { cli, cliProcess, cliProcessEach } from '../helpers/cli.js';
import { haveTool, inCi, runOk, tempDir } from '../helpers/tools.js';
import { snapshot } from './snapshot.js';

const env = { MTLS_CA_PASSWORD: 'ca-secret-1', MTLS_CA_STORE_PASSWORD: 'store-secret-1' };
/** Far longer than any of these commands takes; only a command that blocks on its input reaches it. */
const BLOCKED_MS = 20_000;

const ANY = 'a certificate, CSR, key, PKCS#12, JKS or CRL file';

describe('files the user names: regular files only, a size limit per kind, - for stdin', () => {
  const root = tempDir();
  const dir = path.join(root, 'ssl');
  const fifo = path.join(root, 'fifo');

  beforeAll(async () => {
    expect((await cli(['init', '--dir', dir], env)).code).toBe(0);
    expect((await cli(['issue-client', 'bob', '--role', 'user', '--dir', dir], env)).code).toBe(0);
    runOk('mkfifo', [fifo]);
  });

  test('inspect and sign-csr of /dev/zero are refused at once instead of reading until memory runs out', async () => {
    const before = snapshot(dir);
    const [i, s] = await cliProcessEach(
      [
        ['inspect', '/dev/zero'],
        ['sign-csr', '/dev/zero', '--dir', dir],
      ],
      env,
      root,
      { timeoutMs: BLOCKED_MS },
    );
    expect(i.code, i.stderr).toBe(1);
    expect(i.stderr).toBe(
      'error: read /dev/zero: it is a character device, not a regular file (INVALID_ARGUMENT)\n' +
        `hint: name a regular file, or pass - and pipe ${ANY} to stdin\n`,
    );
    expect(s.code, s.stderr).toBe(1);
    expect(s.stderr.split('\n')[0]).toBe(
      'error: read /dev/zero: it is a character device, not a regular file (INVALID_ARGUMENT)',
    );
    expect(snapshot(dir)).toEqual(before);
  });

  test('a FIFO nobody writes to is refused, not waited on: inspect, --from, --ca-password-file, serve --users, crl.pem', async () => {
    const before = snapshot(dir);
    // serve re-reads ca/crl.pem: a copy of the CA whose CRL is a FIFO
    const fifoCrlDir = path.join(root, 'fifo-crl');
    fs.cpSync(dir, fifoCrlDir, { recursive: true });
    const fifoCrl = path.join(fifoCrlDir, 'ca/crl.pem');
    fs.rmSync(fifoCrl);
    runOk('mkfifo', [fifoCrl]);
    // crl is given no CA password but the FIFO (a process of its own, without env): the one in env must not be
    // what it reads. The two processes run side by side.
    const [[crl], [inspect, from, serveUsers, serveCrl]] = await Promise.all([
      cliProcessEach([['crl', '--ca-password-file', fifo, '--dir', dir]], {}, root, {
        timeoutMs: BLOCKED_MS,
      }),
      cliProcessEach(
        [
          ['inspect', fifo],
          ['issue-client', '--from', fifo, '--dir', dir],
          ['serve', '--users', fifo, '--port', '0', '--dir', dir],
          ['serve', '--port', '0', '--dir', fifoCrlDir],
        ],
        env,
        root,
        { timeoutMs: BLOCKED_MS },
      ),
    ]);
    const runs = [inspect!, from!, crl!, serveUsers!, serveCrl!];
    expect(runs.map((r) => [r.code, r.stderr.split('\n')[0]])).toEqual([
      [1, `error: read ${fifo}: it is a FIFO (named pipe), not a regular file (INVALID_ARGUMENT)`],
      [1, `error: read --from ${fifo}: it is a FIFO (named pipe), not a regular file (INVALID_ARGUMENT)`],
      [
        1,
        `error: read --ca-password-file ${fifo}: it is a FIFO (named pipe), not a regular file (INVALID_ARGUMENT)`,
      ],
      [1, `error: read ${fifo}: it is a FIFO (named pipe), not a regular file (INVALID_ARGUMENT)`],
      [1, `error: read CRL ${fifoCrl}: it is a FIFO (named pipe), not a regular file (INVALID_ARGUMENT)`],
    ]);
    expect(runs[4]!.stderr.split('\n')[1]).toBe('hint: write one with `mtls-ca crl`');
    expect(runs[2]!.stderr.split('\n')[1]).toBe(
      'hint: name a regular file, or pass - and pipe a password file to stdin',
    );
    expect(snapshot(dir)).toEqual(before);
  });

  test('a directory is named as one, not "NOT_FOUND EISDIR"', async () => {
    const r = await cli(['inspect', root]);
    expect([r.code, r.stderr]).toEqual([
      1,
      `error: read ${root}: it is a directory, not a regular file (INVALID_ARGUMENT)\n` +
        `hint: name a regular file holding ${ANY}\n`,
    ]);
  });

  test('a sparse file larger than its kind allows is refused before it is read', async () => {
    const big = path.join(root, 'big.csr');
    const huge = path.join(root, 'huge.crl');
    fs.closeSync(fs.openSync(big, 'w'));
    fs.truncateSync(big, 2 * 1024 * 1024);
    fs.closeSync(fs.openSync(huge, 'w'));
    fs.truncateSync(huge, 3 * 1024 ** 3);
    const before = snapshot(dir);
    const s = await cli(['sign-csr', big, '--dir', dir], env);
    expect([s.code, s.stderr]).toEqual([
      1,
      `error: read ${big}: 2 MiB is too large for a certificate request (at most 1 MiB) (INVALID_ARGUMENT)\n` +
        'hint: check that this is the right file; a certificate request is far smaller\n',
    ]);
    const i = await cli(['inspect', huge]);
    expect(i.stderr.split('\n')[0]).toBe(
      `error: read ${huge}: 3 GiB is too large for ${ANY} (at most 64 MiB) (INVALID_ARGUMENT)`,
    );
    expect(snapshot(dir)).toEqual(before);
  });

  test('a file whose size stat reports as 0 (procfs) is still read to its end', async () => {
    const r = await cli(['inspect', '/proc/self/status']);
    expect(r.stderr.split('\n')[0]).toBe(
      'error: read /proc/self/status: not a certificate, CSR, private key, PKCS#12, JKS or CRL (PARSE_FAILED)',
    );
  });

  test('a file the user may not read says "permission denied" (IO_FAILED), not NOT_FOUND', async () => {
    const isRoot = process.getuid?.() === 0;
    if (isRoot && !haveTool('setpriv')) {
      if (inCi) throw new Error('setpriv is missing under CI: .ci/run must install util-linux');
      console.warn('[skip] permission test: running as root without setpriv, so no user to lack permission');
      return;
    }
    const open = path.join(root, 'open');
    fs.mkdirSync(open, { mode: 0o755 });
    fs.chmodSync(root, 0o755); // nobody may walk to the file, only not read it
    const secret = path.join(open, 'secret.pem');
    fs.copyFileSync(path.join(dir, 'client/bob.crt'), secret);
    fs.chmodSync(secret, 0o600);
    // As root nothing is unreadable: run the real binary as nobody; another user loses the read bit instead.
    if (!isRoot) fs.chmodSync(secret, 0o000);
    const r = isRoot
      ? await cliProcess(['inspect', secret], {}, root, { asUser: { uid: 65534, gid: 65534 } })
      : await cli(['inspect', secret]);
    expect([r.code, r.stderr]).toEqual([
      1,
      `error: read ${secret}: permission denied (IO_FAILED)\n` +
        'hint: check the owner and mode of the file and of its directories (ls -l), or run as a user who may read it\n',
    ]);
  });

  test('- reads stdin: sign-csr -, inspect -, issue-client --from -, --ca-password-file -', async () => {
    const csr = fs.readFileSync(path.join(dir, 'client/bob.csr'));
    const out = path.join(root, 'bob-again.crt');
    // bob's certificate is still valid: signing his request again replaces it only with --force
    const s = await cli(
      ['sign-csr', '-', '--out', out, '--force', '--dir', dir, '--json'],
      env,
      Readable.from([csr]),
    );
    expect(s.code, s.stderr).toBe(0);
    expect(s.json()).toMatchObject({ name: 'bob', profile: 'client' });

    const i = await cli(['inspect', '-'], {}, Readable.from([fs.readFileSync(out)]));
    expect(i.code, i.stderr).toBe(0);
    expect(i.stdout.split('\n')[0]).toBe('Certificate stdin');

    const f = await cli(
      ['issue-client', '--from', '-', '--dir', dir, '--json'],
      env,
      Readable.from(['carol user\ndave user admin\n']),
    );
    expect(f.code, f.stderr).toBe(0);

    const c = await cli(
      ['crl', '--ca-password-file', '-', '--dir', dir],
      {},
      Readable.from(['ca-secret-1\n']),
    );
    expect(c.code, c.stderr).toBe(0);
  });

  test('stdin is read once: a second - is an error that names the first', async () => {
    const before = snapshot(dir);
    const r = await cli(
      ['sign-csr', '-', '--ca-password-file', '-', '--dir', dir],
      {},
      Readable.from([fs.readFileSync(path.join(dir, 'client/bob.csr'))]),
    );
    expect([r.code, r.stderr]).toEqual([
      1,
      'error: read --ca-password-file -: stdin is already read for the file argument (INVALID_ARGUMENT)\n' +
        'hint: only one input can come from stdin; name a file for the other\n',
    ]);
    expect(snapshot(dir)).toEqual(before);
  });

  test('an endless stdin (/dev/zero) stops at the limit', async () => {
    const r = await cliProcess(['crl', '--ca-password-file', '-', '--dir', dir], {}, root, {
      stdin: { file: '/dev/zero' },
      timeoutMs: BLOCKED_MS,
    });
    expect([r.code, r.stderr.split('\n')[0]]).toEqual([
      1,
      'error: read --ca-password-file stdin: more than 1 MiB is too large for a password file (at most 1 MiB) (INVALID_ARGUMENT)',
    ]);
  });
});

/**
 * A full, read-only or unwritable CA directory: every command that writes exits 1 with IO_FAILED and a hint
 * (never 70), leaves the directory byte for byte as it was and no lock behind, and works again once the disk
 * has room. On real file systems: a 200 KiB tmpfs filled page by page, a read-only bind mount, the user
 * nobody (setpriv); and a disk that fills up after the commit point, by strace failing the log appends.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, expect, test } from 'vitest';
import { encodeCsr } from '../../src/pki/csr.js';
import { generateKeyPair } from '../../src/pki/keys.js';
import { toPem } from '../../src/pki/pem.js';
import { caProblems } from '../helpers/ca-invariants.js';
import { type CliResult, cli, cliProcessEach } from '../helpers/cli.js';
import { describeAsRoot, fillUntil, useMounts } from '../helpers/mounts.js';
import { killAtFirst, type ProcessResult, runInjected } from '../helpers/strace.js';
import { describeWithTools, haveTool, inCi, tempDir } from '../helpers/tools.js';
import { snapshot } from './snapshot.js';

const env = { MTLS_CA_PASSWORD: 'pw-ca-disk', MTLS_CA_STORE_PASSWORD: 'pw-store' };
const root = tempDir();
const template = path.join(root, 'template');
const batch = path.join(root, 'batch.txt');
const csr = path.join(root, 'carol.csr');

/** The commands that write, with their arguments after `--dir DIR`. */
const WRITERS: [string, string[]][] = [
  ['issue-client', ['issue-client', 'newbie', '--role', 'user']],
  ['issue-client --from', ['issue-client', '--from', batch]],
  ['revoke', ['revoke', 'alice']],
  ['renew --revoke-old', ['renew', 'pavel', '--revoke-old']],
  ['crl', ['crl']],
  ['issue-server', ['issue-server', 'api.example.com']],
  ['sign-csr', ['sign-csr', csr, '--profile', 'client']],
  ['init --force', ['init', '--force']],
];

beforeAll(async () => {
  for (const args of [['init'], ['issue-client', 'pavel', '--role', 'user'], ['issue-client', 'alice']]) {
    const r = await cli([...args, '--dir', template], env);
    expect(r.code, r.stderr).toBe(0);
  }
  fs.writeFileSync(batch, 'dora user\neve\n');
  const { privateKey } = await generateKeyPair('ecdsa-p256');
  fs.writeFileSync(
    csr,
    toPem('CERTIFICATE REQUEST', encodeCsr({ privateKey, subject: { commonName: 'carol' } })),
  );
});

/** The error line and hint of a failed run, with `dir` written as DIR. */
function failure(stderr: string, dir: string): [string, string] {
  const [line = '', hint = ''] = stderr.trimEnd().split('\n');
  return [line.replaceAll(dir, 'DIR'), hint.replaceAll(dir, 'DIR')];
}

describeAsRoot('a full disk: a 200 KiB tmpfs with 0, 1, 2, … pages left', () => {
  const mounts = useMounts();
  let disk: string;
  beforeAll(() => {
    disk = mounts.tmpfs(path.join(root, 'tmpfs'), 200);
  });

  /**
   * Runs `args` on a copy of the template CA (or, for a new CA, on nothing) with 0, 1, 2, … pages free until
   * it succeeds; returns the error lines of the levels that failed.
   */
  async function sweep(args: string[], fresh = false): Promise<string[]> {
    const dir = path.join(disk, 'ssl');
    const failed: string[] = [];
    for (let pages = 0; pages <= 40; pages++) {
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(path.join(disk, 'filler'), { force: true });
      if (!fresh) fs.cpSync(template, dir, { recursive: true });
      fillUntil(disk, pages);
      const before = snapshot(dir);
      const r = await cli([...args, '--dir', dir], env);
      if (r.code === 0) {
        fs.rmSync(path.join(disk, 'filler'));
        expect(caProblems(dir)).toEqual([]);
        return failed;
      }
      const [line, hint] = failure(r.stderr, dir);
      expect(r.code, `${pages} pages free: ${r.stderr}`).toBe(1);
      expect(line).toMatch(/^error: [a-z]+ DIR\/\S+: no space left on the device \(IO_FAILED\)$/);
      expect(hint).toBe(
        `hint: free space on the file system of ${path.dirname(line.split(' ')[2]!)} and run the command again; nothing was changed`,
      );
      expect(snapshot(dir), `${pages} pages free: ${line}`).toEqual(before);
      failed.push(line);
    }
    throw new Error(`${args.join(' ')} did not fit in the tmpfs`);
  }

  test.each(WRITERS)(
    '%s: exit 1 IO_FAILED and nothing changed at every level, first at the lock',
    async (_, args) => {
      const failed = await sweep(args);
      expect(failed[0]).toBe('error: lock DIR/.mtls-ca.lock: no space left on the device (IO_FAILED)');
      expect(failed.length).toBeGreaterThan(2); // the lock, the intent, temp files, …
    },
  );

  test('init of a new CA: the same, and not even an empty folder is left', async () => {
    const failed = await sweep(['init'], true);
    expect(failed[0]).toBe('error: lock DIR/.mtls-ca.lock: no space left on the device (IO_FAILED)');
    expect(failed.length).toBeGreaterThan(5);
  });
});

describeAsRoot('a read-only CA directory (read-only bind mount)', () => {
  const mounts = useMounts();
  let ro: string;
  beforeAll(() => {
    const source = path.join(root, 'ro-source');
    fs.cpSync(template, source, { recursive: true });
    ro = mounts.readOnlyBind(source, path.join(root, 'ro'));
  });

  test.each([...WRITERS, ['init (new CA)', ['init']] as [string, string[]]])(
    '%s: exit 1 IO_FAILED at the lock, with a hint',
    async (name, args) => {
      const dir = name === 'init (new CA)' ? path.join(ro, 'new') : ro;
      const before = snapshot(ro);
      const r = await cli([...args, '--dir', dir], env);
      expect(r.code, r.stderr).toBe(1);
      expect(failure(r.stderr, ro)).toEqual([
        `error: lock DIR${dir === ro ? '' : '/new'}/.mtls-ca.lock: read-only file system (IO_FAILED)`,
        `hint: DIR${dir === ro ? '' : '/new'} is on a read-only file system: remount it read-write, or work on a writable copy`,
      ]);
      expect(snapshot(ro)).toEqual(before);
    },
  );

  test('readers still work: list, audit verify', async () => {
    expect((await cli(['list', '--dir', ro])).code).toBe(0);
    const audit = await cli(['audit', 'verify', '--dir', ro]);
    expect(audit.code, audit.stderr).toBe(0);
  });

  test.skipIf(!haveTool('strace') && !inCi)(
    'a commit a killed command left, seen read-only: list says it must be finished first, not half of it',
    async () => {
      const source = path.join(root, 'ro-pending-source');
      fs.cpSync(template, source, { recursive: true });
      const killed = await killAtFirst(
        ['revoke', 'alice', '--dir', source],
        env,
        'pwrite64',
        `${source}/ca/inventory.jsonl`,
      );
      expect(killed.signal).toBe('SIGKILL');
      const pending = mounts.readOnlyBind(source, path.join(root, 'ro-pending'));
      const r = await cli(['list', '--dir', pending]);
      expect(r.code).toBe(1);
      expect(failure(r.stderr, pending)).toEqual([
        'error: finish the commit a killed command left in DIR: read-only file system (IO_FAILED)',
        'hint: its files disagree until then: make DIR writable and run the command again',
      ]);
    },
  );
});

describeAsRoot('a CA directory this user may not write (nobody, through setpriv)', () => {
  /** Three copies of the CA: as it was made; with the CA key root's; with a certificate root's. */
  const dirs = { plain: '', key: '', cert: '' };
  let before: Record<string, string>;
  /** The writers and `list` on `plain`, `issue-client` on `key`, `renew` on `cert`. */
  let results: CliResult[];
  beforeAll(async () => {
    // folders root's (0755: nobody reads, cannot write), files nobody's (its keys readable to it)
    fs.chmodSync(root, 0o755);
    for (const name of Object.keys(dirs) as (keyof typeof dirs)[]) {
      const base = fs.mkdtempSync(path.join(root, 'nobody-'));
      fs.chmodSync(base, 0o755);
      const dir = path.join(base, 'ssl');
      fs.cpSync(template, dir, { recursive: true });
      for (const f of Object.keys(snapshot(dir)).filter((k) => !k.endsWith('/')))
        fs.chownSync(path.join(dir, f), 65534, 65534);
      dirs[name] = dir;
    }
    fs.chownSync(path.join(dirs.key, 'ca/ca.key'), 0, 0);
    const cert = path.join(dirs.cert, 'client/pavel.crt');
    fs.chownSync(cert, 0, 0);
    fs.chmodSync(cert, 0o600);
    before = snapshot(dirs.plain);
    // Every command as nobody in one process (a Node start per command costs more than the command): what
    // is proved is what each command does as that user, which runs it whatever process it is in.
    results = await cliProcessEach(
      [
        ...WRITERS.map(([, args]) => [...args, '--dir', dirs.plain]),
        ['list', '--dir', dirs.plain],
        ['issue-client', 'zed', '--dir', dirs.key],
        ['renew', 'pavel', '--dir', dirs.cert],
      ],
      env,
      undefined,
      { asUser: { uid: 65534, gid: 65534 } },
    );
  });

  test('every command that writes: exit 1 IO_FAILED at the lock, with a hint; nothing changed', () => {
    for (const [i, [name]] of WRITERS.entries()) {
      const r = results[i]!;
      expect(r.code, `${name}: ${r.stderr}`).toBe(1);
      expect(failure(r.stderr, dirs.plain), name).toEqual([
        'error: lock DIR/.mtls-ca.lock: permission denied (IO_FAILED)',
        'hint: this user may not write in DIR: run as the user who owns it, or change its permissions',
      ]);
    }
    expect(snapshot(dirs.plain)).toEqual(before);
    expect(results[WRITERS.length]!.code).toBe(0);
  });

  test('a CA key this user may not read: IO_FAILED naming it, not an internal error', () => {
    const r = results[WRITERS.length + 1]!;
    expect(r.code).toBe(1);
    expect(failure(r.stderr, dirs.key)[0]).toBe('error: read DIR/ca/ca.key: permission denied (IO_FAILED)');
  });

  test('a certificate this user may not read: renew says IO_FAILED naming it, not an internal error', () => {
    const r = results[WRITERS.length + 2]!;
    expect(r.code, r.stderr).toBe(1);
    expect(failure(r.stderr, dirs.cert)[0]).toBe(
      'error: read DIR/client/pavel.crt: permission denied (IO_FAILED)',
    );
  });
});

describeWithTools(['strace'], 'the disk fills up after the commit point: the commit is rolled back', () => {
  const cases: [string, string, string, string, string[]][] = [
    ['issue-client', 'pwrite64', 'ca/audit.log', 'ENOSPC', ['issue-client', 'newbie']],
    ['revoke', 'pwrite64', 'ca/inventory.jsonl', 'ENOSPC', ['revoke', 'alice']],
    ['renew --revoke-old', 'pwrite64', 'ca/inventory.idx', 'EDQUOT', ['renew', 'pavel', '--revoke-old']],
    ['crl', 'fsync', 'ca/audit.log', 'EIO', ['crl']],
    ['init --force', 'pwrite64', 'ca/audit.log', 'ENOSPC', ['init', '--force']],
  ];
  const causes: Record<string, string> = {
    ENOSPC: 'no space left on the device',
    EDQUOT: 'disk quota exceeded',
    EIO: 'input/output error',
  };
  // The five runs are independent (a copy of the template each): started at once, so that one's start-up
  // overlaps another's work.
  const runs = new Map<string, Promise<{ dir: string; before: Record<string, string>; r: ProcessResult }>>();
  beforeAll(() => {
    for (const [i, [name, syscall, file, errno, args]] of cases.entries()) {
      const dir = path.join(root, `rollback-${i}`);
      fs.cpSync(template, dir, { recursive: true });
      const before = snapshot(dir);
      const r = runInjected([...args, '--dir', dir], env, {
        syscall: syscall as 'pwrite64' | 'fsync',
        when: 1,
        path: path.join(dir, file),
        action: { errno },
      });
      runs.set(
        name,
        r.then((r) => ({ dir, before, r })),
      );
    }
  });

  test.each(cases)('%s: %s of %s fails with %s', async (name, _syscall, file, errno) => {
    const { dir, before, r } = await runs.get(name)!;
    expect(r.code, r.stderr).toBe(1);
    expect(failure(r.stderr, dir)[0]).toBe(`error: write DIR/${file}: ${causes[errno]} (IO_FAILED)`);
    expect(snapshot(dir)).toEqual(before);
  });
});

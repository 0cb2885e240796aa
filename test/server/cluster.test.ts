/**
 * `runClustered` with two real worker processes sharing one port: both answer, a killed worker is replaced,
 * SIGHUP reloads every worker, SIGTERM stops them all, and a worker that cannot start stops the cluster.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { within } from '../helpers/poll.js';
import { describeWithTools, tempDir } from '../helpers/tools.js';
import { type ClientFiles, createCaDir, curl, type TestCaDir } from './helpers.js';

interface Line {
  pid: number;
  [key: string]: unknown;
}

class ClusterProcess {
  readonly lines: Line[] = [];
  readonly child: ChildProcess;
  private buffer = '';

  constructor(script: string, env: Record<string, string>) {
    this.child = spawn(process.execPath, [script], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (chunk: string) => {
      this.buffer += chunk;
      let nl = this.buffer.indexOf('\n');
      while (nl >= 0) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        const space = line.indexOf(' ');
        this.lines.push({ pid: Number(line.slice(0, space)), ...JSON.parse(line.slice(space + 1)) });
        nl = this.buffer.indexOf('\n');
      }
    });
  }

  events(event: string): Line[] {
    return this.lines.filter((l) => l.event === event);
  }

  /** Waits (polling, bounded) until `probe` holds over the lines seen so far. */
  async until(probe: () => boolean, what: string): Promise<void> {
    const lines = () => this.lines.map((l) => JSON.stringify(l)).join('\n');
    await within(10_000, what, probe).catch((e: Error) => {
      throw new Error(`${e.message}; lines:\n${lines()}`);
    });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describeWithTools(['curl'], 'runClustered (2 workers)', () => {
  const root = tempDir('mtls-ca-cluster-');
  let ca: TestCaDir;
  let pavel: ClientFiles;
  let script: string;
  const started: ClusterProcess[] = [];

  beforeAll(async () => {
    ca = await createCaDir(path.join(root, 'ssl'), { pavel: { roles: ['user'] } });
    pavel = await ca.issueClient('pavel');
    script = path.join(root, 'cluster-main.cjs');
    // Bundled so node runs it without a TypeScript loader; CommonJS because express is CommonJS.
    await build({
      entryPoints: [path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'cluster-main.ts')],
      outfile: script,
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      logLevel: 'error',
    });
  });

  afterAll(() => {
    for (const c of started) {
      if (c.child.exitCode === null) c.child.kill('SIGKILL');
      for (const pid of new Set(c.lines.map((l) => l.pid))) if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  });

  test('both workers answer on one port; a killed worker is replaced; SIGHUP reloads; SIGTERM stops all', async () => {
    const c = new ClusterProcess(script, { MTLS_TEST_DIR: ca.dir, MTLS_TEST_WORKERS: '2' });
    started.push(c);
    const primary = c.child.pid!;
    await c.until(() => c.events('worker-started').length === 2, 'two workers');
    const listening = c.events('listening');
    expect(listening).toHaveLength(2);
    const urls = new Set(listening.map((l) => String(l.message).replace('listening on ', '')));
    expect(urls.size).toBe(1);
    const url = [...urls][0]!;
    const workers = c.events('worker-started').map((l) => Number(l.pid));
    expect(workers).not.toContain(primary);

    const answeredBy = () => new Set(c.lines.filter((l) => l.type === 'access').map((l) => l.pid));
    await within(20_000, 'both workers answer', async () => {
      const r = await curl(`${url}/customer/1`, { caFile: ca.caFile, client: pavel });
      expect(r.body).toBe('{"id":1,"name":"Customer1"}');
      return answeredBy().size === 2;
    });
    expect([...answeredBy()].sort()).toEqual([...workers].sort());

    // A crash: the primary notices and forks a replacement after its backoff.
    process.kill(workers[0]!, 'SIGKILL');
    await c.until(() => c.events('worker-started').length === 3, 'a replacement worker');
    expect(c.events('worker-exited')[0]).toMatchObject({ pid: workers[0], signal: 'SIGKILL', level: 'warn' });
    const replacement = Number(c.events('worker-started')[2]!.pid);
    const current = [workers[1]!, replacement];
    await within(20_000, 'the replacement answers', async () => {
      await curl(`${url}/health`, { caFile: ca.caFile, client: pavel });
      return answeredBy().has(replacement);
    });

    process.kill(primary, 'SIGHUP');
    await c.until(() => c.events('reloaded').length === 2, 'both workers to reload');
    expect(
      c
        .events('reloaded')
        .map((l) => l.pid)
        .sort(),
    ).toEqual([...current].sort());

    process.kill(primary, 'SIGTERM');
    const [code] = (await once(c.child, 'exit')) as [number | null];
    expect(code).toBe(0);
    expect(c.events('cluster-stopped')).toHaveLength(1);
    expect(current.filter(alive)).toEqual([]);
  });

  test('a worker that cannot start stops the cluster with its error instead of restarting forever', async () => {
    const missing = path.join(root, 'no-such-dir');
    const c = new ClusterProcess(script, { MTLS_TEST_DIR: missing, MTLS_TEST_WORKERS: '2' });
    started.push(c);
    const [code] = (await once(c.child, 'exit')) as [number | null];
    expect(code).toBe(1);
    const fatal = c.lines.find((l) => l.type === 'fatal');
    expect(fatal).toMatchObject({
      pid: c.child.pid,
      code: 'NOT_FOUND',
      message: `read server certificate ${path.join(missing, 'server', 'server.crt')}: no such file`,
    });
    expect(c.events('worker-exited')).toEqual([]);
  });
});

/**
 * Shared pieces of the benchmark harness: statistics, timed child processes, process-group clean-up, temp
 * directories, free ports, RSS of a process tree. Plain ESM so that `node bench/run.js` needs no build step
 * of its own; the code under test is imported from dist/ (built by `npm run bench`).
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(ROOT, 'bin/mtls-ca.js');
export const NODE = process.execPath;

/** Passwords for the benchmark CAs; they only ever protect throw-away files in a temp directory. */
export const CA_PASSWORD = 'bench-ca-password';
export const STORE_PASSWORD = 'bench-store-password';
export const CLI_ENV = {
  ...process.env,
  MTLS_CA_PASSWORD: CA_PASSWORD,
  MTLS_CA_STORE_PASSWORD: STORE_PASSWORD,
  NO_COLOR: '1',
};

// ---------------------------------------------------------------------------------------------------------
// statistics

export function median(values) {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function round(x, digits = 2) {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Median, min, max and the raw samples, rounded for the JSON file. */
export function summarize(values, digits = 2) {
  return {
    median: round(median(values), digits),
    min: round(Math.min(...values), digits),
    max: round(Math.max(...values), digits),
    n: values.length,
    samples: values.map((v) => round(v, digits)),
  };
}

/**
 * A server comparison passes only when both the measured rate and the server-CPU ratio reach `min` and no
 * request failed: on a shared 2-core machine the measured rate alone can pass on noise.
 * @returns met (null when there is no target) and a note naming the measure that failed
 */
export function verdict({ ratio, ratioByCpu, min, errors }) {
  if (!min) return { met: null };
  const failed = [];
  if (!(ratio >= min)) failed.push('measured rate');
  if (ratioByCpu !== undefined && !(ratioByCpu >= min)) failed.push('server CPU');
  if (errors > 0) failed.push(`${errors} errors`);
  if (failed.length === 0) return { met: true };
  const passed = [ratio >= min ? 'measured rate' : undefined, ratioByCpu >= min ? 'server CPU' : undefined]
    .filter(Boolean)
    .map((m) => `${m} ok`);
  return { met: false, metNote: [...failed.map((f) => `${f} short`), ...passed].join(', ') };
}

// ---------------------------------------------------------------------------------------------------------
// temp directories and clean-up that also runs on failure and Ctrl-C

const cleanups = new Set();

/** Registers `fn` to run at the end of the run (also on an exception or SIGINT); returns an unregister. */
export function onCleanup(fn) {
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

export async function cleanupAll() {
  for (const fn of [...cleanups].reverse()) {
    cleanups.delete(fn);
    try {
      await fn();
    } catch (e) {
      process.stderr.write(`bench: clean-up failed: ${e.message}\n`);
    }
  }
}

/** Process groups still alive; killed synchronously if the harness itself dies. */
const liveGroups = new Set();
process.on('exit', () => {
  for (const pid of liveGroups) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {}
  }
});

export function tempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mtls-bench-${prefix}-`));
  onCleanup(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// ---------------------------------------------------------------------------------------------------------
// child processes

/**
 * Runs a command to completion and returns its wall time in ms. Output is discarded unless it fails.
 * @param opts.env, opts.cwd - as for spawnSync
 * @param opts.stdoutFile - stdout goes to this file (as `> file` would) instead of a pipe this process reads:
 *   collecting tens of MB through a pipe costs the harness, not the command, ≈ 0.5 s here
 */
export function timeRun(cmd, args, opts = {}) {
  const out = opts.stdoutFile === undefined ? 'pipe' : fs.openSync(opts.stdoutFile, 'w');
  const start = process.hrtime.bigint();
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', out, 'pipe'],
    maxBuffer: 256 * 1024 * 1024,
  });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (typeof out === 'number') {
    fs.closeSync(out);
    r.stdout = fs.readFileSync(opts.stdoutFile);
  }
  if (r.status !== 0) {
    throw new Error(
      `${path.basename(cmd)} ${args.join(' ')} failed (exit ${r.status}${r.signal ? `, ${r.signal}` : ''}):\n${r.stderr}${r.stdout}`,
    );
  }
  return { ms, stdout: r.stdout.toString() };
}

/** Runs a command, throwing with its output if it fails; returns stdout. */
export function runOk(cmd, args, opts = {}) {
  return timeRun(cmd, args, opts).stdout;
}

/** The mtls-ca CLI, with the bench passwords in the environment. */
export function cli(args, opts = {}) {
  return timeRun(NODE, [BIN, ...args], { env: CLI_ENV, ...opts });
}

const TASKSET = '/usr/bin/taskset';

/**
 * Single-process servers and their load generator each get a core of their own (`taskset`, util-linux), so
 * that they do not take turns on both cores at the scheduler's whim: unpinned, the same server's CPU per
 * request varied by ±25 % from run to run on this VM; pinned, by a few %. Multi-process servers (`--workers
 * 2`, nginx with 2 workers) and their load generator stay unpinned: they share both cores, as
 * the targets of bench/README.md are set.
 */
export const SERVER_CPU = '1';
export const CLIENT_CPU = '0';
export const canPin = os.cpus().length >= 2 && fs.existsSync(TASKSET);

/** `cmd args`, run on `cpu` when one is given and pinning is possible. */
function pinned(cpu, cmd, args) {
  return cpu !== undefined && canPin ? [TASKSET, ['-c', cpu, cmd, ...args]] : [cmd, args];
}

/**
 * Starts a long-running process in its own process group (so that cluster workers and nginx workers die
 * with it), stdout/stderr to `logFile`. `stop()` sends SIGTERM to the group, then SIGKILL after 5 s.
 * @param opts.cpu - the core to run it on (taskset execs the command, so `pid` is the command's own)
 */
export function startProcess(cmd, args, { env = process.env, cwd, logFile, cpu }) {
  const fd = fs.openSync(logFile, 'a');
  const [file, argv] = pinned(cpu, cmd, args);
  const child = spawn(file, argv, { env, cwd, detached: true, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  liveGroups.add(child.pid);
  let exited = false;
  const exitPromise = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      exited = true;
      resolve({ code, signal });
    });
  });
  const stop = async () => {
    if (!exited) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {}
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {}
      }, 5_000);
      await exitPromise;
      clearTimeout(timer);
    }
    // Whatever the leader left behind in its group (a worker that ignored SIGTERM) goes too.
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {}
    liveGroups.delete(child.pid);
  };
  const unregister = onCleanup(stop);
  return {
    pid: child.pid,
    child,
    get exited() {
      return exited;
    },
    exitPromise,
    async stop() {
      unregister();
      await stop();
    },
  };
}

/**
 * Runs a Node script as a separate process (the load generators) and resolves with its JSON on stdout.
 * It gets its own process group and is killed at clean-up like a server.
 * @param opts.cpu - the core to run it on
 */
export function runJsonChild(script, args, { timeoutMs, cpu }) {
  return new Promise((resolve, reject) => {
    const [file, argv] = pinned(cpu, NODE, [script, ...args]);
    const child = spawn(file, argv, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    liveGroups.add(child.pid);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    const kill = () => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
    };
    const unregister = onCleanup(kill);
    const timer = setTimeout(kill, timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      unregister();
      liveGroups.delete(child.pid);
      if (code !== 0) {
        reject(new Error(`${path.basename(script)} exited ${code ?? signal}: ${err.slice(-2000)}`));
        return;
      }
      try {
        resolve(JSON.parse(out));
      } catch {
        reject(new Error(`${path.basename(script)} printed no JSON: ${out.slice(-500)} ${err.slice(-500)}`));
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------------------
// network

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resolves once a TCP connection to 127.0.0.1:port succeeds. */
export async function waitForPort(port, { timeoutMs = 15_000, proc } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc?.exited) throw new Error(`server exited before listening on ${port}`);
    const ok = await new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** Resolves once `file` contains `pattern` at least `count` times. */
export async function waitForLog(file, pattern, count, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    if ((text.match(pattern) ?? []).length >= count) return;
    if (Date.now() > deadline)
      throw new Error(`${file} never showed ${pattern} x${count}:\n${text.slice(-2000)}`);
    await sleep(50);
  }
}

// ---------------------------------------------------------------------------------------------------------
// memory

function childrenOf(pid) {
  try {
    const tasks = fs.readdirSync(`/proc/${pid}/task`);
    return tasks.flatMap((t) =>
      fs
        .readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8')
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map(Number),
    );
  } catch {
    return [];
  }
}

/** A process and all its descendants. */
export function processTree(pid) {
  const out = [pid];
  for (let i = 0; i < out.length; i++) out.push(...childrenOf(out[i]));
  return out;
}

function rssKb(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** RSS of a process tree in MB (shared pages counted in each process, as `ps` does). */
export function treeRssMb(pid) {
  return processTree(pid).reduce((sum, p) => sum + rssKb(p), 0) / 1024;
}

const CLOCK_TICKS_PER_SECOND = 100; // getconf CLK_TCK on Linux x86-64

/** CPU time (user + system) used so far by a process tree, in ms. */
export function treeCpuMs(pid) {
  let ticks = 0;
  for (const p of processTree(pid)) {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      // Fields after the command name (which may contain spaces): state is field 3, utime 14, stime 15.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {}
  }
  return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
}

/** Samples the peak RSS of a process tree every 250 ms until `stop()`. */
export function sampleRss(pid) {
  let peak = treeRssMb(pid);
  const timer = setInterval(() => {
    peak = Math.max(peak, treeRssMb(pid));
  }, 250);
  return {
    stop() {
      clearInterval(timer);
      peak = Math.max(peak, treeRssMb(pid));
      return peak;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// background load: the machine is shared, so each benchmark waits for a quiet moment and records the load

function cpuTimes() {
  const [, ...fields] = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  const n = fields.map(Number);
  const idle = n[3] + (n[4] ?? 0);
  return { idle, total: n.reduce((a, b) => a + b, 0) };
}

/** Share of all cores busy over the next `ms`, in % (everything on the machine, us included). */
export async function cpuBusyPercent(ms = 1_000) {
  const a = cpuTimes();
  await sleep(ms);
  const b = cpuTimes();
  return round(100 * (1 - (b.idle - a.idle) / (b.total - a.total)) || 0, 0);
}

/**
 * Waits (at most `maxMs`) until the machine is nearly idle before a benchmark starts, so that other
 * people's test runs on the same 2 cores do not land in one side of a comparison.
 * @returns the busy % last seen and how long we waited
 */
export async function waitForQuiet({ thresholdPercent = 15, maxMs = 60_000 } = {}) {
  if (process.env.BENCH_NO_WAIT === '1') maxMs = 0;
  const start = Date.now();
  let busy = await cpuBusyPercent();
  while (busy > thresholdPercent && Date.now() - start < maxMs) busy = await cpuBusyPercent(2_000);
  return { busyPercent: busy, waitedS: Math.round((Date.now() - start) / 1000) };
}

// ---------------------------------------------------------------------------------------------------------
// fixtures

/**
 * A CA made by our CLI (`init` + one client `pavel` with role user) in a fresh temp directory.
 * @returns paths of the files the servers and clients use
 */
export function makeCa(label, keyType = 'ecdsa-p256', clients = ['pavel']) {
  const dir = path.join(tempDir(label), 'ssl');
  cli(['init', '--dir', dir, '--ca-name', `bench ${label}`, '--key-type', keyType]);
  for (const name of clients) cli(['issue-client', name, '--role', 'user', '--dir', dir]);
  return caFiles(dir);
}

export function caFiles(dir) {
  return {
    dir,
    caCert: path.join(dir, 'ca/ca.crt'),
    caKey: path.join(dir, 'ca/ca.key'),
    inventory: path.join(dir, 'ca/inventory.jsonl'),
    serverCert: path.join(dir, 'server/server.crt'),
    serverKey: path.join(dir, 'server/server.key'),
    users: path.join(dir, 'users.json'),
    client: (name) => ({
      cert: path.join(dir, `client/${name}.crt`),
      key: path.join(dir, `client/${name}.key`),
    }),
  };
}

/** The machine, for the README and the JSON. */
export function machine() {
  const cpus = os.cpus();
  const version = (cmd, args) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    return `${r.stdout}${r.stderr}`.split('\n').find((l) => l.trim()) ?? 'not found';
  };
  return {
    cpu: `${cpus.length} x ${cpus[0]?.model ?? 'unknown'}`,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    openssl: version('openssl', ['version']),
    java: version('java', ['-version']),
    nginx: version('/usr/sbin/nginx', ['-v']),
    pinning: canPin ? `servers on core ${SERVER_CPU}, clients on core ${CLIENT_CPU} (taskset)` : 'none',
  };
}

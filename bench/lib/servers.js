/**
 * The servers under test, each started as its own process group bound to 127.0.0.1 on a fresh port and
 * stopped (group SIGTERM, then SIGKILL) by `stop()` or at the end of the run.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  BIN,
  CLI_ENV,
  CLIENT_CPU,
  canPin,
  freePort,
  NODE,
  SERVER_CPU,
  sleep,
  startProcess,
  tempDir,
  waitForLog,
  waitForPort,
} from './util.js';

const SERVERS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../servers');
export const NGINX = '/usr/sbin/nginx';

/**
 * @param cpu - the core the server was pinned to, if any; its load generator then runs on `clientCpu`
 */
async function started(name, port, proc, logFile, cpu) {
  try {
    await waitForPort(port, { proc });
  } catch (e) {
    await proc.stop();
    const log = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').slice(-2000) : '';
    throw new Error(`${name}: ${e.message}\n${log}`);
  }
  const clientCpu = cpu !== undefined && canPin ? CLIENT_CPU : undefined;
  return { name, port, pid: proc.pid, logFile, proc, clientCpu, stop: () => proc.stop() };
}

/** `mtls-ca serve` through the real CLI, access log (text) to a file as a service manager would keep it. */
export async function startServe(ca, workers = 1) {
  const port = await freePort();
  const logFile = path.join(tempDir('serve-log'), 'serve.log');
  const args = [BIN, 'serve', '--dir', ca.dir, '--port', String(port), '--listen', '127.0.0.1'];
  if (workers > 1) args.push('--workers', String(workers));
  const cpu = workers === 1 ? SERVER_CPU : undefined;
  const proc = startProcess(NODE, args, { env: CLI_ENV, logFile, cpu });
  const s = await started(
    workers > 1 ? `mtls-ca serve --workers ${workers}` : 'mtls-ca serve',
    port,
    proc,
    logFile,
    cpu,
  );
  // The cluster primary accepts as soon as the first worker listens; wait for every worker.
  if (workers > 1) await waitForLog(logFile, /is serving/g, workers);
  return s;
}

/** A script from bench/servers: `node script PORT CA_DIR ...extra`. */
export async function startScript(name, script, ca, extra = [], env = {}) {
  const port = await freePort();
  const logFile = path.join(tempDir(`${script}-log`), 'server.log');
  const proc = startProcess(NODE, [path.join(SERVERS, script), String(port), ca.dir, ...extra], {
    logFile,
    env: { ...process.env, ...env },
    cpu: SERVER_CPU,
  });
  return started(name, port, proc, logFile, SERVER_CPU);
}

export const startExpress = (ca) => startScript('minimal Express 5', 'express.js', ca);
export const startBare = (ca, crlFile) =>
  startScript(crlFile ? 'bare node:https + CRL' : 'bare node:https', 'bare.js', ca, crlFile ? [crlFile] : []);
/**
 * createMtlsServer (bench/servers/mtls.js).
 * @param o.crlFile - a CRL to rename over the watched one once the server runs (timed)
 */
export const startMtls = (ca, o = {}) =>
  startScript(
    o.name ?? (o.crlFile ? 'createMtlsServer + CRL' : 'createMtlsServer'),
    'mtls.js',
    ca,
    o.crlFile ? [o.crlFile] : [],
  );

/**
 * An nginx prefix under the OS temp dir and its nginx.conf: in the foreground, `workers` worker processes,
 * every file it writes inside the prefix, and `http`, the rest of its http block.
 * @param label - the temp directory's name
 * @param workers - worker processes
 * @param http - the directives of the http block besides the temp paths, given the prefix
 * @returns the prefix and nginx's arguments to run on it
 */
export function nginxPrefix(label, workers, http) {
  const prefix = tempDir(label);
  for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) fs.mkdirSync(path.join(prefix, d));
  const conf = path.join(prefix, 'nginx.conf');
  fs.writeFileSync(
    conf,
    `daemon off;
master_process on;
worker_processes ${workers};
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 1024; }
http {
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
${http(prefix)}}
`,
  );
  return { prefix, args: ['-p', prefix, '-c', conf, '-e', `${prefix}/error.log`] };
}

/**
 * nginx with `ssl_verify_client on`, our server certificate and CA, `workers` worker processes, an access
 * log like serve's, and the customer JSON as a static `return 200`.
 */
export async function startNginx(ca, workers = 1) {
  const port = await freePort();
  const { prefix, args } = nginxPrefix(
    'nginx',
    workers,
    (dir) => `  access_log ${dir}/access.log;
  # Node closes no keep-alive connection after N requests; nginx would after 1000 (a new handshake each).
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${ca.serverCert};
    ssl_certificate_key ${ca.serverKey};
    ssl_client_certificate ${ca.caCert};
    ssl_verify_client on;
    ssl_protocols TLSv1.2 TLSv1.3;
    location = /customer/1 {
      default_type application/json;
      return 200 '{"id":1,"name":"Customer1"}';
    }
  }
`,
  );
  const logFile = path.join(prefix, 'stderr.log');
  // One worker is pinned with its master (the worker inherits the master's core).
  const cpu = workers === 1 ? SERVER_CPU : undefined;
  const proc = startProcess(NGINX, args, { logFile, cpu });
  const s = await started(`nginx (${workers} worker${workers > 1 ? 's' : ''})`, port, proc, logFile, cpu);
  await sleep(200); // workers fork after the master binds
  return s;
}

/**
 * Starts every server of `starters` ([key, start] pairs), then runs `rounds` rounds visiting them in turn
 * so that drift on the shared machine hits all alike, and stops them all at the end, also on failure.
 * @param measure - (server) => Promise<result> for one run
 * @param describe - (server, result) => the progress line printed to stderr
 * @returns the results by key, one per round
 */
export async function roundRobin(starters, rounds, measure, describe) {
  const servers = {};
  const runs = {};
  try {
    for (const [key, start] of starters) {
      servers[key] = await start();
      runs[key] = [];
    }
    for (let pass = 0; pass < rounds; pass++) {
      for (const [key] of starters) {
        const r = await measure(servers[key]);
        runs[key].push(r);
        process.stderr.write(describe(servers[key], r));
      }
    }
  } finally {
    for (const s of Object.values(servers)) await s.stop();
  }
  return { servers, runs };
}

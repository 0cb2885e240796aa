/**
 * Our server (createMtlsServer from dist/ with the customer API), in variants that price its parts:
 *
 * - CRL_FILE: a CRL installed the way reload() installs new material, server.setSecureContext() with the
 *   complete options, timed. This works whether or not createMtlsServer reads <dir>/ca/crl.pem itself (the
 *   revocation work in progress does, and re-applies it only when that file changes), and it leaves the CA
 *   directory untouched.
 * - BENCH_LOG=stdout (default, as `serve`: one synchronous write per access line) | buffered (lines joined
 *   and written asynchronously once per event-loop turn, one write in flight) | off (no access log).
 * - BENCH_USERS=live (default: users.json is stat()ed on every request) | cached (lookups answered from a
 *   copy refreshed at most once a second — the same live-reload promise with a 1 s delay).
 *
 * Prints one JSON line `{"bench":"ready",…}` with the time setSecureContext took.
 * Usage: node mtls.js PORT CA_DIR [CRL_FILE]
 */
import fs from 'node:fs';
import { createApp, createLogger, createMtlsServer, openUserDirectory } from '../../dist/server/index.js';
import { loadTlsMaterial, secureContextOptions } from '../../dist/server/tls-context.js';

const [port, dir, crlFile] = process.argv.slice(2);
const logMode = process.env.BENCH_LOG ?? 'stdout';
const usersMode = process.env.BENCH_USERS ?? 'live';

function bufferedStdout() {
  let pending = [];
  let writing = false;
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (writing || pending.length === 0) return;
    const text = `${pending.join('\n')}\n`;
    pending = [];
    writing = true;
    fs.write(1, text, () => {
      writing = false;
      flush();
    });
  };
  return (line) => {
    pending.push(line);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
}

function cachedUsers(inner) {
  const cache = new Map();
  let stamp = 0;
  return {
    file: inner.file,
    async find(name) {
      const now = Date.now();
      if (now - stamp > 1_000) {
        cache.clear();
        stamp = now;
      }
      if (!cache.has(name)) cache.set(name, await inner.find(name));
      return cache.get(name);
    },
  };
}

const sink = logMode === 'off' ? () => {} : logMode === 'buffered' ? bufferedStdout() : undefined;
let handler;
if (usersMode === 'cached') {
  const logger = createLogger({ sink });
  const users = cachedUsers(openUserDirectory(`${dir}/users.json`, logger));
  handler = createApp({ users, logger });
}
const mtls = createMtlsServer({ dir, host: '127.0.0.1', port: Number(port), log: sink, handler });
let setSecureContextMs;
if (crlFile) {
  const material = loadTlsMaterial({
    certFile: `${dir}/server/server.crt`,
    keyFile: `${dir}/server/server.key`,
    caFile: `${dir}/ca/ca.crt`,
  });
  const crlPem = fs.readFileSync(crlFile, 'utf8');
  const start = process.hrtime.bigint();
  mtls.server.setSecureContext(secureContextOptions({ ...material, crlPem }));
  setSecureContextMs = Number(process.hrtime.bigint() - start) / 1e6;
}
await mtls.listen();
process.stdout.write(`${JSON.stringify({ bench: 'ready', setSecureContextMs })}\n`);
process.on('SIGTERM', () => mtls.close().then(() => process.exit(0)));

/**
 * Our server: createMtlsServer from dist/ with the customer API and its access log on stdout, as `serve`
 * runs it. With CRL_FILE, a big CRL is applied the way `mtls-ca revoke` gets one into a running server: the
 * server starts watching a copy of the CA's own crl.pem, then CRL_FILE is renamed over that copy and the time
 * until the server has it in force (`crl()` reports its number) is measured — file watch, parse, signature
 * check.
 *
 * Prints one JSON line `{"bench":"ready",…}`, with the time the CRL took to come into force when one was given.
 * Usage: node mtls.js PORT CA_DIR [CRL_FILE]
 */
import fs from 'node:fs';
import path from 'node:path';
import { createMtlsServer } from '../../dist/server/index.js';

const [port, dir, crlFile] = process.argv.slice(2);

let watched;
if (crlFile) {
  watched = path.join(fs.mkdtempSync(path.join(path.dirname(crlFile), 'watched-')), 'crl.pem');
  fs.copyFileSync(`${dir}/ca/crl.pem`, watched);
}
const mtls = createMtlsServer({
  dir,
  host: '127.0.0.1',
  port: Number(port),
  ...(watched ? { crlFile: watched } : {}),
});
await mtls.listen();
let crlAppliedMs;
if (watched) {
  const before = mtls.crl()?.crlNumber;
  const start = process.hrtime.bigint();
  fs.copyFileSync(crlFile, `${watched}.new`);
  fs.renameSync(`${watched}.new`, watched);
  while (mtls.crl()?.crlNumber === before) await new Promise((r) => setTimeout(r, 2));
  crlAppliedMs = Number(process.hrtime.bigint() - start) / 1e6;
  if (mtls.crl().revoked === 0) throw new Error(`${crlFile} was not applied`);
}
process.stdout.write(`${JSON.stringify({ bench: 'ready', crlAppliedMs })}\n`);
process.on('SIGTERM', () => mtls.close().then(() => process.exit(0)));

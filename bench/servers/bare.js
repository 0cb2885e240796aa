/**
 * The floor: a bare `node:https` server with the TLS options of `mtls-ca serve` (our server certificate and
 * key, our CA as the only trust anchor, TLS 1.2+, a client certificate required) answering
 * GET /customer/:id with the same JSON. Node does the certificate check itself (rejectUnauthorized).
 * Usage: node bare.js PORT CA_DIR [CRL_FILE]
 */
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';

const [port, dir, crlFile] = process.argv.slice(2);
const read = (f) => fs.readFileSync(path.join(dir, f), 'utf8');
const ROUTE = /^\/customer\/([1-9][0-9]*)$/;

const server = https.createServer(
  {
    cert: read('server/server.crt'),
    key: read('server/server.key'),
    ca: read('ca/ca.crt'),
    ...(crlFile ? { crl: fs.readFileSync(crlFile, 'utf8') } : {}),
    minVersion: 'TLSv1.2',
    requestCert: true,
    rejectUnauthorized: true,
  },
  (req, res) => {
    const m = req.method === 'GET' ? ROUTE.exec(req.url) : null;
    if (!m) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":"not_found"}');
      return;
    }
    const body = JSON.stringify({ id: Number(m[1]), name: `Customer${m[1]}` });
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
    res.end(body);
  },
);
server.listen(Number(port), '127.0.0.1', () => process.stdout.write(`listening on ${port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));

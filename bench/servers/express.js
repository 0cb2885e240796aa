/**
 * A minimal Express 5 app with the same TLS options, certificates and route as `mtls-ca serve`, and the same
 * Express settings as our createApp (no x-powered-by, no ETag, no query parser), so that the difference to
 * `serve` is what serve adds: identity from the certificate, users.json lookup, role check, access log,
 * security headers. Usage: node express.js PORT CA_DIR
 */
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import express from 'express';

const [port, dir] = process.argv.slice(2);
const read = (f) => fs.readFileSync(path.join(dir, f), 'utf8');

const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.set('query parser', false);
app.get('/customer/:id', (req, res) => {
  const id = Number(req.params.id);
  res.json({ id, name: `Customer${id}` });
});

const server = https.createServer(
  {
    cert: read('server/server.crt'),
    key: read('server/server.key'),
    ca: read('ca/ca.crt'),
    minVersion: 'TLSv1.2',
    requestCert: true,
    rejectUnauthorized: true,
  },
  app,
);
server.listen(Number(port), '127.0.0.1', () => process.stdout.write(`listening on ${port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));

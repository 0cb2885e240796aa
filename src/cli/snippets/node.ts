/**
 * Node.js: an https server that requires and checks client certificates (the customer API of `serve`, as a
 * template), a client with node:https, and one with fetch and an undici Agent.
 */
import {
  clientOf,
  clientVariable,
  crlDeadline,
  type SnippetBuilders,
  type SnippetInput,
  str,
} from './model.js';

function server({ facts: f, port }: SnippetInput): string {
  const users = f.users.filter((u) => u.roles.length > 0);
  return `// Mutual TLS with node:https: the customer API of \`mtls-ca serve\`, as a template for your own.
// Run it as it is: node server.mjs
import { readFileSync } from 'node:fs';
import https from 'node:https';

// One CRL per CA in force, each block on its own: given the file whole, Node reads its first CRL alone and
// OpenSSL refuses every client of the other CAs (UNABLE_TO_GET_CRL). Given none, Node checks no revocation at
// all, so an empty or cut-short file stops the server here. Read once: past a CRL's next update (the issuing
// CA's: ${crlDeadline(f)}) OpenSSL refuses the clients under its CA (CRL_HAS_EXPIRED); when the file changes,
// call server.setSecureContext() with the same options.
const CRLS = readFileSync(${str(f.crl)}, 'utf8').match(/-----BEGIN X509 CRL-----[^-]+-----END X509 CRL-----/g);
if (!CRLS) throw new Error('no CRL in ' + ${str(f.crl)} + ': run mtls-ca crl');

// users.json: certificate CN -> roles
const ROLES = new Map([
${users.map((u) => `  [${str(u.name)}, [${u.roles.map(str).join(', ')}]],`).join('\n')}
]);

const server = https.createServer(
  {
    key: readFileSync(${str(f.server.key)}),
    cert: readFileSync(${str(f.server.cert)}),
    ca: readFileSync(${str(f.caCert)}),
    crl: CRLS,
    requestCert: true,
    // requestCert alone asks for a certificate but lets any client in, with or without one.
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
  },
  (req, res) => {
    // Verified by the handshake (rejectUnauthorized). A subject with several CNs gives an array.
    const cn = req.socket.getPeerCertificate().subject?.CN;
    const roles = (typeof cn === 'string' && ROLES.get(cn)) || [];
    res.setHeader('content-type', 'application/json');
    const match = /^\\/customer\\/(\\d+)$/.exec(req.url ?? '');
    if (req.method !== 'GET' || !match) {
      res.writeHead(404).end('{"error":"not found"}');
    } else if (!roles.includes('user')) {
      res.writeHead(403).end('{"error":"access denied"}');
    } else {
      const id = Number(match[1]);
      res.end(JSON.stringify({ id, name: \`Customer\${id}\` }));
    }
  },
);
server.listen(${port}, () => console.log('listening on port ${port}'));
`;
}

function httpsClient({ facts: f, url }: SnippetInput): string {
  const c = clientOf(f);
  return `// node:https with ${c.name}'s .p12. Run it as it is: node client-https.mjs
// Never NODE_TLS_REJECT_UNAUTHORIZED=0: give the CA instead.
import { readFileSync } from 'node:fs';
import https from 'node:https';

const request = https.get(
  ${str(url)},
  {
    pfx: readFileSync(${str(c.p12)}),
    passphrase: process.env.MTLS_CLIENT_PASSWORD,
    // The CA replaces Node's bundled roots for this request.
    ca: readFileSync(${str(f.caCert)}),
    headers: { accept: 'application/json' },
  },
  (response) => {
    let body = '';
    response.setEncoding('utf8');
    response.on('data', (chunk) => {
      body += chunk;
    });
    response.on('end', () => {
      console.log(body);
      if (response.statusCode !== 200) process.exitCode = 1;
    });
  },
);
// A refused certificate shows here as ECONNRESET or "socket hang up": the server's log says why.
request.on('error', (error) => {
  console.error(error.message);
  process.exitCode = 1;
});
`;
}

function fetchClient({ facts: f, url }: SnippetInput): string {
  const c = clientOf(f);
  return `// fetch with ${c.name}'s certificate. fetch() ignores an \`agent\` option without a word: the TLS options
// go in an undici Agent, passed as \`dispatcher\`.
// npm install undici@6 — the major of Node's own fetch (node -p process.versions.undici); a dispatcher
// of another major may fail with Node's fetch (or import fetch from 'undici' too).
// Run it as it is: node client-fetch.mjs
import { readFileSync } from 'node:fs';
import { Agent } from 'undici';

const dispatcher = new Agent({
  connect: {
    ca: readFileSync(${str(f.caCert)}),
    cert: readFileSync(${str(c.cert)}),
    key: readFileSync(${str(c.key)}),
  },
});
const response = await fetch(${str(url)}, { dispatcher, headers: { accept: 'application/json' } });
console.log(await response.text());
if (!response.ok) process.exitCode = 1;
await dispatcher.close();
`;
}

export const builders: SnippetBuilders = {
  node: (input) => ({
    target: 'node',
    title: `Node.js: a server on port ${input.port}; ${clientOf(input.facts).name} calls ${input.url}`,
    environment: [clientVariable(input.facts)],
    parts: [
      {
        file: 'server.mjs',
        about: 'an https server (ES module)',
        text: server(input),
        run: 'node server.mjs',
      },
      {
        file: 'client-https.mjs',
        about: 'a client with node:https and the .p12',
        text: httpsClient(input),
        run: 'node client-https.mjs',
      },
      {
        file: 'client-fetch.mjs',
        about: 'a client with fetch and an undici Agent (npm install undici@6)',
        text: fetchClient(input),
        run: 'node client-fetch.mjs',
      },
    ],
  }),
};

/**
 * The floor of any OCSP responder on node:http: it reads each POST body and answers it with the same bytes
 * every time (an answer `mtls-ca publish` signed), with the headers `publish` sends — no parsing, no lookup,
 * no signature, no log. What `publish` costs beyond this is its own; what this costs is Node's HTTP server
 * and the kernel's loopback TCP.
 * Usage: node ocsp-fixed.js PORT ANSWER_FILE
 */
import fs from 'node:fs';
import http from 'node:http';

const [port, answerFile] = process.argv.slice(2);
const answer = fs.readFileSync(answerFile);
const headers = {
  'Content-Type': 'application/ocsp-response',
  'Content-Length': answer.length,
  'Cache-Control': 'no-cache',
};

http
  .createServer((req, res) => {
    req.on('data', () => {});
    req.on('end', () => {
      res.writeHead(200, headers);
      res.end(answer);
    });
  })
  .listen(Number(port), '127.0.0.1');

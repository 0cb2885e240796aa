/**
 * The live diagnosis where no real mTLS server is needed: every step's time-out (a server that accepts and
 * never speaks TLS, one that completes the handshake and never answers), a port that speaks HTTP, the
 * probe's HTTP reading, and the client identities the CLI hands it. Time-outs are set short through the
 * `timeouts` option; the tests assert what the diagnosis says, never how long it took.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  alertOfNodeError,
  clientFromFiles,
  clientFromPkcs12,
  clientFromStore,
  diagnose,
  parseTarget,
} from '../../src/ops/doctor-live.js';
import { parseHttpAnswer } from '../../src/ops/doctor-probe.js';
import { Certificate } from '../../src/pki/certificate.js';
import { CaStore } from '../../src/store/ca-store.js';
import { layout } from '../../src/store/layout.js';
import { cli } from '../helpers/cli.js';
import { errorOf } from '../helpers/errors.js';
import { opensslArgs } from '../helpers/openssl.js';
import { runOk, tempDir } from '../helpers/tools.js';

const root = tempDir('mtls-ca-doctor-live-');
const dir = path.join(root, 'ssl');
const l = layout(dir);
const servers: net.Server[] = [];
let ca: Certificate;

const connections = new Set<net.Socket>();

/** Listens on 127.0.0.1:0; the server and the connections it accepted are closed after the file. */
async function listen(server: net.Server): Promise<number> {
  servers.push(server);
  server.on('connection', (socket: net.Socket) => connections.add(socket));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as net.AddressInfo).port;
}

beforeAll(async () => {
  for (const args of [
    ['init', '--no-ca-password'],
    ['issue-client', 'alice', '--role', 'user'],
  ]) {
    const r = await cli([...args, '--dir', dir]);
    expect(r.code, r.stderr).toBe(0);
  }
  ca = Certificate.from(fs.readFileSync(l.caCert));
});
afterAll(async () => {
  for (const socket of connections) socket.destroy();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

const short = { connectMs: 2000, handshakeMs: 300, answerMs: 300 };
const trust = () => ({ value: [ca], source: 'ca.crt' });

describe('time-outs and servers that are no TLS server', () => {
  test('a server that accepts and never answers the ClientHello: UNREACHABLE, silent', async () => {
    const port = await listen(net.createServer());
    const d = await diagnose({ url: `https://127.0.0.1:${port}/`, serverCa: trust(), timeouts: short });
    expect(d.verdict).toBe('UNREACHABLE');
    expect(d.evidence.connect.ok).toBe(true);
    expect(d.evidence.reaction).toEqual({ kind: 'silent' });
    expect(d.evidence.tls).toBeUndefined();
  });

  test('a TLS server that never answers the GET: UNREACHABLE after a complete handshake', async () => {
    const server = tls.createServer({
      key: fs.readFileSync(l.server().key),
      cert: fs.readFileSync(l.server().cert),
      ca: fs.readFileSync(l.caCert),
      requestCert: true,
    });
    const port = await listen(server);
    const d = await diagnose({
      url: `https://127.0.0.1:${port}/`,
      serverCa: trust(),
      client: clientFromStore(new CaStore(dir, { readOnly: true }), 'alice'),
      timeouts: short,
    });
    expect(d.verdict).toBe('UNREACHABLE');
    expect(d.evidence.tls?.version).toBe('TLSv1.3');
    expect(d.evidence.clientAuth?.requested).toBe(true);
    expect(d.evidence.reaction).toEqual({ kind: 'silent' });
  });

  test('a port that answers HTTP to a ClientHello: UNREACHABLE, not TLS', async () => {
    const port = await listen(
      net.createServer((s) =>
        s.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'),
      ),
    );
    const d = await diagnose({ url: `https://127.0.0.1:${port}/`, serverCa: trust(), timeouts: short });
    expect(d.verdict).toBe('UNREACHABLE');
    expect(d.evidence.unread?.server).toBe('the server sent no TLS record');
  });
});

describe('reading the answer', () => {
  const answer = (text: string) => Buffer.from(text.replaceAll('\n', '\r\n'));

  test('Content-Length: complete once all of it is there', () => {
    const head = 'HTTP/1.1 401 Unauthorized\nContent-Type: application/json\nContent-Length: 17\n\n';
    expect(parseHttpAnswer(answer(`${head}{"reason":"EXP`), false)?.complete).toBe(false);
    expect(parseHttpAnswer(answer(`${head}{"reason":"EXPIRED"}`), false)).toEqual({
      status: 401,
      headers: { 'content-type': 'application/json', 'content-length': '17' },
      body: '{"reason":"EXPIRED"}'.slice(0, 17),
      complete: true,
    });
  });

  test('chunked: the chunks joined, complete at the last one; no length: complete when the connection ends', () => {
    const chunked = answer('HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n2\nok\n0\n\n');
    expect(parseHttpAnswer(chunked, false)).toMatchObject({ status: 200, body: 'ok', complete: true });
    const unbounded = answer('HTTP/1.0 200 ok\nContent-type: text/html\n\n<html>');
    expect(parseHttpAnswer(unbounded, false)?.complete).toBe(false);
    expect(parseHttpAnswer(unbounded, true)).toMatchObject({ body: '<html>', complete: true });
    expect(parseHttpAnswer(Buffer.from('SSH-2.0-OpenSSH\r\n\r\n'), true)).toBeUndefined();
  });

  test("Node's alert errors name the alert", () => {
    expect(alertOfNodeError('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED')).toBe('certificate_required');
    expect(alertOfNodeError('ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE')).toBe('bad_certificate');
    expect(alertOfNodeError('ECONNRESET')).toBeUndefined();
  });

  test('the URL: host, port (443 by default), path; an IPv6 address without brackets', () => {
    expect(parseTarget('https://[::1]:8443/customer/1?x=1')).toEqual({
      host: '::1',
      port: 8443,
      path: '/customer/1?x=1',
    });
    expect(parseTarget('https://api.example.com')).toEqual({ host: 'api.example.com', port: 443, path: '/' });
  });
});

describe('client identities', () => {
  test('a .p12 made by openssl, with the CA after the leaf: the leaf is presented, the root left out', () => {
    const pass = path.join(root, 'p12.pass');
    fs.writeFileSync(pass, 'openssl-made\n');
    const p12 = path.join(root, 'openssl.p12');
    runOk(
      'openssl',
      opensslArgs.pkcs12Export({
        key: l.client('alice').key,
        cert: l.client('alice').cert,
        chain: l.caCert,
        out: p12,
        passFile: pass,
      }),
    );
    const id = clientFromPkcs12(fs.readFileSync(p12), 'openssl-made', 'openssl.p12');
    expect(id.certificate.subjectName).toBe('CN=alice');
    expect(id.chain).toEqual([]);
    expect(id.source).toBe('openssl.p12');
  });

  test('a client without its key in the directory is presented from its .p12 and generated .pass', () => {
    const copy = path.join(root, 'no-key');
    fs.cpSync(dir, copy, { recursive: true });
    fs.rmSync(layout(copy).client('alice').key);
    const id = clientFromStore(new CaStore(copy, { readOnly: true }), 'alice');
    expect(id.certificate.subjectName).toBe('CN=alice');
    expect(id.source).toBe(layout(copy).client('alice').p12.replace(`${process.cwd()}/`, ''));
  });

  test('a certificate file with its chain after it: the intermediates are sent, not the root', () => {
    const bundle = path.join(root, 'bundle.pem');
    fs.writeFileSync(
      bundle,
      fs.readFileSync(l.client('alice').cert, 'utf8') + fs.readFileSync(l.caCert, 'utf8'),
    );
    const id = clientFromFiles(
      { data: fs.readFileSync(bundle), label: 'bundle.pem' },
      { data: fs.readFileSync(l.client('alice').key), label: 'alice.key' },
    );
    expect(id.chain).toEqual([]);
    const e = errorOf(() =>
      clientFromFiles(
        { data: Buffer.from('no certificate here'), label: 'x.pem' },
        { data: fs.readFileSync(l.client('alice').key), label: 'k' },
      ),
    );
    expect(e.code).toBe('PARSE_FAILED');
  });
});

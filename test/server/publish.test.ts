/**
 * The publish server in this process, on a CA directory made by our operations with a publish URL: what /crl,
 * /ca.crt and the OCSP responder answer (read back with our parsers), conditional GET, how revocations and a
 * new responder reach it while it runs, every kind of bad request, and the renewal schedule on a manual clock.
 * The real consumers (openssl, nginx, Java, Tomcat) are in test/interop.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { resignCrl } from '../../src/ops/crl.js';
import { issueClients } from '../../src/ops/issue-client.js';
import { readCertificateStatuses } from '../../src/ops/publishing.js';
import { revoke } from '../../src/ops/revoke.js';
import { Certificate } from '../../src/pki/certificate.js';
import { Crl } from '../../src/pki/crl.js';
import { generateKeyPair } from '../../src/pki/keys.js';
import {
  isOcspResponseSignedBy,
  OCSP_MAX_CERTIFICATES,
  type ParsedOcspResponse,
  parseOcspResponse,
} from '../../src/pki/ocsp.js';
import { createRootCa } from '../../src/pki/profiles.js';
import { createPublishServer, type PublishServer } from '../../src/server/publish-server.js';
import { CaStore } from '../../src/store/ca-store.js';
import { manualClock } from '../helpers/clock.js';
import { certIdFor, ocspRequest } from '../helpers/ocsp.js';
import { within } from '../helpers/poll.js';
import { tempDir } from '../helpers/tools.js';
import { initPublishingCa } from './helpers.js';

const DAY = 86_400_000;

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One HTTP request with full control of method, headers and body (a Buffer, or chunks sent one by one). */
function request(
  url: string,
  o: { method?: string; headers?: Record<string, string>; body?: Buffer; chunks?: Buffer[] } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: o.method ?? 'GET', headers: o.headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    if (o.chunks) {
      for (const c of o.chunks) req.write(c);
      req.end();
    } else {
      req.end(o.body);
    }
  });
}

describe('the publish server', () => {
  const root = tempDir('mtls-ca-publish-');
  const dir = path.join(root, 'ssl');
  const store = new CaStore(dir);
  const lines: string[] = [];
  let server: PublishServer;
  let base: string;
  let ca: Certificate;
  const serial: Record<string, string> = {};

  const post = (body: Buffer) =>
    request(`${base}/ocsp`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/ocsp-request' },
      body,
    });
  const ask = async (names: string[], nonce?: Buffer): Promise<ParsedOcspResponse> => {
    const r = await post(
      ocspRequest(
        names.map((n) => certIdFor(ca, serial[n] ?? n)),
        nonce,
      ),
    );
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/ocsp-response');
    return parseOcspResponse(r.body);
  };
  const responder = () => Certificate.from(fs.readFileSync(store.paths.ocspCert));

  beforeAll(async () => {
    const init = await initPublishingCa(store, 'http://127.0.0.1:9/pki/');
    expect(init.publishUrl).toBe('http://127.0.0.1:9/pki');
    const issued = await issueClients(
      store,
      ['alice', 'bob', 'carol'].map((name) => ({ name, roles: [], email: [] })),
      {
        days: 30,
        keyType: 'ecdsa-p256',
        p12Profile: 'compat',
        force: false,
        caPassword: undefined,
        store: { given: 'p' },
      },
    );
    for (const r of issued) serial[r.name] = r.certificate.serial;
    await revoke(store, { target: 'alice', reason: 'keyCompromise', caPassword: undefined });
    ca = store.readCaCertificate();
    server = await createPublishServer({
      dir,
      basePath: '/pki',
      port: 0,
      log: (line) => lines.push(line),
      statuses: { files: [store.paths.inventory], load: () => readCertificateStatuses(store) },
    });
    base = `${(await server.listen()).url}/pki`;
  });

  afterAll(async () => {
    await server?.close();
  });

  test('the issued certificates name the publish URL: CRL /pki/crl, OCSP /pki/ocsp, CA /pki/ca.crt', () => {
    const alice = Certificate.from(fs.readFileSync(store.paths.client('alice').cert));
    expect(alice.revocationUrls).toEqual({
      crl: ['http://127.0.0.1:9/pki/crl'],
      ocsp: ['http://127.0.0.1:9/pki/ocsp'],
      caIssuers: ['http://127.0.0.1:9/pki/ca.crt'],
    });
  });

  test('GET /pki/crl is ca/crl.pem as DER (application/pkix-crl) with ETag and Last-Modified', async () => {
    const r = await request(`${base}/crl`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/pkix-crl');
    expect(r.headers['cache-control']).toBe('no-cache');
    const onDisk = Crl.from(fs.readFileSync(store.paths.crl), 'crl.pem');
    expect(r.body).toEqual(onDisk.der);
    expect(r.headers.etag).toMatch(/^"[\w-]{32}"$/);
    expect(new Date(r.headers['last-modified']!).getTime()).toBe(
      Math.floor(onDisk.thisUpdate.getTime() / 1000) * 1000,
    );
    const head = await request(`${base}/crl`, { method: 'HEAD' });
    expect([head.status, head.body.length, head.headers['content-length']]).toEqual([
      200,
      0,
      String(r.body.length),
    ]);
    // Not under the root when the publish URL has a path.
    expect((await request(base.replace('/pki', '/crl'))).status).toBe(404);
  });

  test('conditional GET: If-None-Match or If-Modified-Since of the CRL served → 304 with no body', async () => {
    const first = await request(`${base}/crl`);
    const byTag = await request(`${base}/crl`, { headers: { 'If-None-Match': first.headers.etag! } });
    expect([byTag.status, byTag.body.length, byTag.headers.etag]).toEqual([304, 0, first.headers.etag]);
    const byDate = await request(`${base}/crl`, {
      headers: { 'If-Modified-Since': first.headers['last-modified']! },
    });
    expect([byDate.status, byDate.body.length]).toEqual([304, 0]);
    // If-None-Match decides when both are there (RFC 9110 13.2.2): another tag means a new body.
    const other = await request(`${base}/crl`, {
      headers: { 'If-None-Match': '"older"', 'If-Modified-Since': first.headers['last-modified']! },
    });
    expect(other.status).toBe(200);
  });

  test('regression: two CRLs signed in the same second were served with the same Last-Modified, which Java takes for "not modified"', async () => {
    const second = new Date(Math.ceil(Date.now() / 1000) * 1000 + 5000);
    await resignCrl(store, { caPassword: undefined, now: second });
    server.reload();
    const a = await request(`${base}/crl`);
    await resignCrl(store, { caPassword: undefined, now: new Date(second.getTime() + 300) });
    server.reload();
    const b = await request(`${base}/crl`);
    expect(Crl.from(b.body, 'b').crlNumber).toBe(Crl.from(a.body, 'a').crlNumber + 1n);
    expect(new Date(b.headers['last-modified']!).getTime()).toBeGreaterThan(
      new Date(a.headers['last-modified']!).getTime(),
    );
    // Java's fetcher sends the date it has: the new CRL is not "not modified".
    const java = await request(`${base}/crl`, {
      headers: { 'If-Modified-Since': a.headers['last-modified']! },
    });
    expect(java.status).toBe(200);
  });

  test('GET /pki/ca.crt is the CA certificate as DER (application/pkix-cert)', async () => {
    const r = await request(`${base}/ca.crt`);
    expect([r.status, r.headers['content-type']]).toEqual([200, 'application/pkix-cert']);
    expect(r.body).toEqual(ca.der);
  });

  test('OCSP: good, revoked with time and reason, unknown — signed by the responder, nonce echoed', async () => {
    const nonce = crypto.randomBytes(32);
    const r = await ask(['bob', 'alice', '1234'], nonce);
    expect(r.status).toBe('successful');
    expect(r.responses.map((s) => s.certId.serialHex)).toEqual([serial.bob, serial.alice, '1234']);
    expect(r.responses[0]!.status).toEqual({ status: 'good' });
    expect(r.responses[1]!.status).toMatchObject({ status: 'revoked', reason: 'keyCompromise' });
    expect(r.responses[2]!.status).toEqual({ status: 'unknown' });
    const inventory = store.readInventory().find((e) => e.serial === serial.alice)!;
    expect((r.responses[1]!.status as { revokedAt: Date }).revokedAt.getTime()).toBe(
      Math.floor(new Date(inventory.revokedAt!).getTime() / 1000) * 1000,
    );
    expect(r.nonce?.subarray(2)).toEqual(nonce);
    expect(r.certificates).toEqual([responder().der]);
    expect(isOcspResponseSignedBy(r, responder())).toBe(true);
    expect(responder().isIssuedBy(ca)).toBe(true);
    const lifetime = r.responses[0]!.nextUpdate.getTime() - r.responses[0]!.thisUpdate.getTime();
    expect(lifetime).toBe(3_600_000);
  });

  test('OCSP GET (RFC 5019): the base64 request in the path, percent-encoded or with bare slashes', async () => {
    // A nonce that makes the base64 hold both '/' and '+': the characters clients encode differently.
    let der: Buffer;
    do der = ocspRequest([certIdFor(ca, serial.bob!)], crypto.randomBytes(16));
    while (!der.toString('base64').includes('/') || !der.toString('base64').includes('+'));
    const b64 = der.toString('base64');
    for (const encoded of [encodeURIComponent(b64), b64]) {
      const r = await request(`${base}/ocsp/${encoded}`);
      expect(r.status).toBe(200);
      expect(parseOcspResponse(r.body).responses[0]!.status).toEqual({ status: 'good' });
    }
  });

  test('a request without a nonce, repeated, gets the same signed bytes; a revocation replaces them', async () => {
    const carol = ocspRequest([certIdFor(ca, serial.carol!)]);
    const first = (await post(carol)).body;
    expect(parseOcspResponse(first).responses[0]!.status).toEqual({ status: 'good' });
    // ECDSA signs with a fresh random k: equal bytes mean the answer was kept, not signed again.
    expect((await post(carol)).body).toEqual(first);
    await revoke(store, { target: 'carol', reason: 'cessationOfOperation', caPassword: undefined });
    // the promise: a revocation reaches the answers within a second
    await within(
      1_000,
      'carol revoked by OCSP',
      async () => (await ask(['carol'])).responses[0]!.status.status === 'revoked',
    );
    expect((await ask(['carol'])).responses[0]!.status).toMatchObject({ reason: 'cessationOfOperation' });
    expect(lines.some((l) => l.includes('ocsp-statuses-loaded'))).toBe(true);
  });

  test('a request with a nonce is never answered from the kept answers: the same bytes twice, two signatures', async () => {
    const nonce = crypto.randomBytes(16);
    const asked = ocspRequest([certIdFor(ca, serial.bob!)], nonce);
    const [a, b] = [(await post(asked)).body, (await post(asked)).body];
    expect(a.equals(b)).toBe(false);
    for (const body of [a, b]) {
      const r = parseOcspResponse(body);
      expect(r.responses[0]!.status).toEqual({ status: 'good' });
      expect(r.nonce?.subarray(2)).toEqual(nonce);
      expect(isOcspResponseSignedBy(r, responder())).toBe(true);
    }
  });

  test('another CA’s certificate → unauthorized, HTTP 200', async () => {
    const keys = await generateKeyPair('ecdsa-p256');
    const other = createRootCa({ subject: { commonName: 'Another CA' }, ...keys, days: 30 });
    const r = await post(ocspRequest([certIdFor(other, serial.bob!)]));
    expect(r.status).toBe(200);
    expect(r.body).toEqual(Buffer.from([0x30, 0x03, 0x0a, 0x01, 0x06]));
  });

  test.each([
    ['not DER', () => Buffer.from('this is not an OCSP request')],
    ['an empty body', () => Buffer.alloc(0)],
    [
      `${OCSP_MAX_CERTIFICATES + 1} certificates`,
      () =>
        ocspRequest(
          Array.from({ length: OCSP_MAX_CERTIFICATES + 1 }, (_, i) => certIdFor(ca, (i + 16).toString(16))),
        ),
    ],
    ['an MD5 CertID', () => ocspRequest([certIdFor(ca, serial.bob!, 'md5', '1.2.840.113549.2.5')])],
    ['a 129-octet nonce', () => ocspRequest([certIdFor(ca, serial.bob!)], Buffer.alloc(129, 1))],
  ])('%s → HTTP 400 with malformedRequest', async (_, body) => {
    const r = await post(body());
    expect(r.status).toBe(400);
    expect(r.body).toEqual(Buffer.from([0x30, 0x03, 0x0a, 0x01, 0x01]));
  });

  test('a body over 16 KiB → 413, announced or chunked; the server keeps answering', async () => {
    const big = Buffer.alloc(16 * 1024 + 1, 0x30);
    expect((await post(big)).status).toBe(413);
    const chunked = await request(`${base}/ocsp`, {
      method: 'POST',
      headers: { 'Transfer-Encoding': 'chunked' },
      chunks: Array.from({ length: 40 }, () => Buffer.alloc(1024, 0x30)),
    }).catch((e: Error) => e);
    // Answered 413 before the body ended, or the connection closed under the rest of it.
    if (!(chunked instanceof Error)) expect(chunked.status).toBe(413);
    expect((await ask(['bob'])).responses[0]!.status).toEqual({ status: 'good' });
  });

  test('GET of a path that is not base64, or not percent-encoding → 400 malformedRequest', async () => {
    for (const bad of ['%zz', '!!!!', 'AAAA']) {
      const r = await request(`${base}/ocsp/${bad}`);
      expect([r.status, r.body]).toEqual([400, Buffer.from([0x30, 0x03, 0x0a, 0x01, 0x01])]);
    }
  });

  test('wrong methods → 405 with Allow; unknown paths → 404', async () => {
    const crl = await request(`${base}/crl`, { method: 'POST', body: Buffer.from('x') });
    expect([crl.status, crl.headers.allow]).toEqual([405, 'GET, HEAD']);
    const ocsp = await request(`${base}/ocsp`);
    expect([ocsp.status, ocsp.headers.allow]).toEqual([405, 'POST']);
    expect((await request(`${base}/ocsp/x`, { method: 'PUT' })).status).toBe(405);
    expect((await request(`${base}/nothing`)).status).toBe(404);
  });

  test('the access log has a line per request; an OCSP request in the path is shortened', async () => {
    await request(`${base}/ocsp/${ocspRequest([certIdFor(ca, serial.bob!)]).toString('base64')}`);
    await within(5_000, 'the access line', () =>
      lines.some((l) => l.includes('GET /pki/ocsp/<request> 200')),
    );
    expect(lines.some((l) => / - POST \/pki\/ocsp 200 /.test(l))).toBe(true);
  });

  test('no usable responder certificate → tryLater; the one the next CRL issues is picked up', async () => {
    const key = fs.readFileSync(store.paths.ocspKey);
    const old = responder();
    fs.rmSync(store.paths.ocspKey);
    // Twice: a pair that does not match is taken only when it still fails at the next look.
    server.reload();
    server.reload();
    const r = await post(ocspRequest([certIdFor(ca, serial.bob!)]));
    expect([r.status, r.body]).toEqual([200, Buffer.from([0x30, 0x03, 0x0a, 0x01, 0x03])]);
    expect(lines.some((l) => l.includes('ocsp-responder-missing'))).toBe(true);
    const signed = await resignCrl(store, { caPassword: undefined });
    expect(signed.responder?.reason).toBe('key-missing');
    server.reload();
    const answer = await ask(['bob']);
    expect(isOcspResponseSignedBy(answer, responder())).toBe(true);
    expect(responder().serialHex).not.toBe(old.serialHex);
    expect(key.equals(fs.readFileSync(store.paths.ocspKey))).toBe(false);
    // The replaced responder is superseded in the inventory, the new one issued.
    const entries = store.readInventory().filter((e) => e.profile === 'ocsp');
    expect(entries.map((e) => [e.serial, Boolean(e.supersededAt)])).toEqual([
      [old.serialHex, true],
      [responder().serialHex, false],
    ]);
  });
});

describe('the publish schedule on a manual clock', () => {
  const root = tempDir('mtls-ca-publish-clock-');
  const store = new CaStore(path.join(root, 'ssl'));
  const start = new Date('2030-01-01T00:00:00.000Z');

  beforeAll(async () => {
    await initPublishingCa(store, 'http://127.0.0.1:9', { now: start });
  });

  const open = (o: { clock: ReturnType<typeof manualClock>; renew?: () => Promise<void> }) => {
    const lines: string[] = [];
    const created = createPublishServer({
      dir: store.root,
      port: 0,
      log: (line) => lines.push(line),
      statuses: { files: [store.paths.inventory], load: () => readCertificateStatuses(store) },
      clock: o.clock,
      renew: o.renew,
    });
    return { created, lines };
  };

  test('without a renew hook: crl-expiring and ocsp-responder-expiring, then both expired', async () => {
    const clock = manualClock(start);
    const { created, lines } = open({ clock });
    const server = await created;
    await server.listen();
    try {
      const events = () => lines.map((l) => / (info|warn|error) ([\w-]+):/.exec(l)?.[2]).filter(Boolean);
      // 48 h before the end of a 7-day lifetime
      clock.advance(5 * DAY - 60_000);
      expect(events()).not.toContain('crl-expiring');
      clock.advance(120_000);
      expect(events()).toContain('crl-expiring');
      expect(events()).toContain('ocsp-responder-expiring');
      clock.advance(2 * DAY);
      expect(events()).toContain('crl-expired');
      expect(events()).toContain('ocsp-responder-expired');
    } finally {
      await server.close();
    }
  });

  test('with a renew hook: asked once half the lifetime has passed; what it signs is served', async () => {
    const clock = manualClock(start);
    let calls = 0;
    let renewed: Promise<unknown> | undefined;
    const { created, lines } = open({
      clock,
      renew: async () => {
        calls++;
        renewed = resignCrl(store, { caPassword: undefined, now: new Date(clock.now()) });
        await renewed;
      },
    });
    const server = await created;
    const url = (await server.listen()).url;
    try {
      const number = async () => Crl.from((await request(`${url}/crl`)).body, 'crl').crlNumber;
      const before = await number();
      clock.advance(3 * DAY);
      expect(calls).toBe(0);
      clock.advance(0.6 * DAY);
      expect(calls).toBe(1);
      await renewed;
      await within(5_000, 'the renewed CRL', async () => (await number()) === before + 1n);
      expect(calls).toBe(1);
      expect(lines.filter((l) => l.includes('crl-loaded')).length).toBe(2);
      expect(responderOf(store).notBefore.getTime()).toBeGreaterThan(start.getTime() + 3 * DAY);
    } finally {
      await server.close();
    }
  });
});

function responderOf(store: CaStore): Certificate {
  return Certificate.from(fs.readFileSync(store.paths.ocspCert));
}

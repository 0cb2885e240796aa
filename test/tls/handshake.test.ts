/**
 * The handshake reader (src/tls) on bytes built here to the letter of RFC 5246 and RFC 8446 — every length
 * checked, every malformed vector refused — and on real handshakes captured from openssl s_server in its
 * client-authentication variants: TLS 1.3 under each of its three default suites and after a
 * HelloRetryRequest, TLS 1.2, the CA list from -CAfile, from -verifyCAfile's other file, none with
 * -no_ca_names, and a client that sends no certificate.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type ProbeResult, probe } from '../../src/ops/doctor-probe.js';
import { Certificate } from '../../src/pki/certificate.js';
import { exportPrivateKeyPem } from '../../src/pki/keys.js';
import { issueServerCertificate } from '../../src/pki/profiles.js';
import { type Conversation, readConversation } from '../../src/tls/conversation.js';
import {
  alertName,
  parseCertificate,
  parseCertificateRequest,
  parseServerHello,
  signatureSchemeName,
  TLS12,
  TLS13,
  versionName,
} from '../../src/tls/messages.js';
import { parseKeyLog, RecordOpener, tls13Suite, trafficKeys } from '../../src/tls/record-protection.js';
import { HandshakeReassembler, parseAlert, splitRecords } from '../../src/tls/records.js';
import { errorOf } from '../helpers/errors.js';
import { fixtureKeys } from '../helpers/fixtures.js';
import { makeIdentity } from '../helpers/pki.js';
import { freePorts } from '../helpers/ports.js';
import { type SpawnedServer, spawnServer } from '../helpers/tls-servers.js';
import { describeWithTools, tempDir } from '../helpers/tools.js';

const u8 = (n: number) => Buffer.from([n]);
const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
const u24 = (n: number) => Buffer.from([n >> 16, (n >> 8) & 0xff, n & 0xff]);
const vec = (size: 1 | 2 | 3, ...parts: Buffer[]) => {
  const body = Buffer.concat(parts);
  return Buffer.concat([
    size === 1 ? u8(body.length) : size === 2 ? u16(body.length) : u24(body.length),
    body,
  ]);
};
const extension = (type: number, data: Buffer) => Buffer.concat([u16(type), vec(2, data)]);
const record = (type: number, fragment: Buffer) => Buffer.concat([u8(type), u16(0x0303), vec(2, fragment)]);
const message = (type: number, body: Buffer) => Buffer.concat([u8(type), vec(3, body)]);

const identity = makeIdentity('ecdsa-p256');
const nameA = identity.ca.subjectDer;
const nameB = identity.leaf.subjectDer;
const schemes = vec(2, u16(0x0403), u16(0x0804));

describe('CertificateRequest', () => {
  test('TLS 1.2: certificate types, signature algorithms and two CA names', () => {
    const body = Buffer.concat([vec(1, u8(1), u8(64)), schemes, vec(2, vec(2, nameA), vec(2, nameB))]);
    expect(parseCertificateRequest(body, TLS12)).toEqual({
      certificateTypes: [1, 64],
      signatureAlgorithms: [0x0403, 0x0804],
      caNames: [nameA, nameB],
    });
  });

  test('TLS 1.2: an empty CA list is allowed (the client may send any certificate)', () => {
    const body = Buffer.concat([vec(1, u8(64)), schemes, vec(2)]);
    expect(parseCertificateRequest(body, TLS12).caNames).toEqual([]);
  });

  test('TLS 1.3: the certificate_authorities and signature_algorithms extensions', () => {
    const body = Buffer.concat([
      vec(1),
      vec(2, extension(13, schemes), extension(47, vec(2, vec(2, nameA)))),
    ]);
    expect(parseCertificateRequest(body, TLS13)).toEqual({
      caNames: [nameA],
      signatureAlgorithms: [0x0403, 0x0804],
    });
  });

  test('TLS 1.3 without certificate_authorities, or with it empty (OpenSSL -no_ca_names), names no CA', () => {
    const without = Buffer.concat([vec(1, Buffer.from('ctx')), vec(2, extension(13, schemes))]);
    const empty = Buffer.concat([vec(1), vec(2, extension(13, schemes), extension(47, vec(2)))]);
    expect(parseCertificateRequest(without, TLS13).caNames).toEqual([]);
    expect(parseCertificateRequest(empty, TLS13).caNames).toEqual([]);
  });

  test.each([
    [
      'TLS 1.3 without signature_algorithms',
      Buffer.concat([vec(1), vec(2, extension(47, vec(2, vec(2, nameA))))]),
      TLS13,
      'no signature_algorithms',
    ],
    [
      'a name longer than what is left',
      Buffer.concat([vec(1, u8(64)), schemes, vec(2, u16(500), nameA)]),
      TLS12,
      'truncated',
    ],
    [
      'an empty DistinguishedName',
      Buffer.concat([vec(1, u8(64)), schemes, vec(2, u16(0))]),
      TLS12,
      'at least 1',
    ],
    ['no certificate types', Buffer.concat([vec(1), schemes, vec(2)]), TLS12, 'at least 1'],
    [
      'an extension twice',
      Buffer.concat([vec(1), vec(2, extension(13, schemes), extension(13, schemes))]),
      TLS13,
      'twice',
    ],
    [
      'bytes after the message',
      Buffer.concat([vec(1, u8(64)), schemes, vec(2), u8(0)]),
      TLS12,
      'unexpected bytes',
    ],
  ])('%s is PARSE_FAILED', (_what, body, version, cause) => {
    const e = errorOf(() => parseCertificateRequest(body, version));
    expect(e.code).toBe('PARSE_FAILED');
    expect(e.message).toMatch(/^read TLS /);
    expect(e.message).toContain(cause);
  });
});

describe('ServerHello and Certificate', () => {
  const hello = (random: Buffer, extensions?: Buffer) =>
    Buffer.concat([
      u16(0x0303),
      random,
      vec(1),
      u16(0x1301),
      u8(0),
      ...(extensions ? [vec(2, extensions)] : []),
    ]);

  test('a TLS 1.2 ServerHello may end without extensions', () => {
    expect(parseServerHello(hello(Buffer.alloc(32, 7)))).toEqual({
      version: TLS12,
      cipherSuite: 0x1301,
      helloRetryRequest: false,
    });
  });

  test('a HelloRetryRequest is the ServerHello whose random is SHA-256("HelloRetryRequest")', () => {
    const random = Buffer.from('cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c', 'hex');
    const h = parseServerHello(hello(random, extension(43, u16(TLS13))));
    expect(h).toEqual({ version: TLS13, cipherSuite: 0x1301, helloRetryRequest: true });
  });

  test('TLS 1.3 certificate entries carry extensions; TLS 1.2 ones do not', () => {
    const der = [identity.leaf.der, identity.ca.der];
    const tls13 = Buffer.concat([vec(1), vec(3, ...der.map((d) => Buffer.concat([vec(3, d), vec(2)])))]);
    const tls12 = vec(3, ...der.map((d) => vec(3, d)));
    expect(parseCertificate(tls13, TLS13)).toEqual(der);
    expect(parseCertificate(tls12, TLS12)).toEqual(der);
    expect(errorOf(() => parseCertificate(tls12, TLS13)).code).toBe('PARSE_FAILED');
  });

  test('names of versions, alerts and schemes', () => {
    expect([versionName(TLS12), versionName(TLS13), versionName(0x7f1c)]).toEqual([
      'TLSv1.2',
      'TLSv1.3',
      '0x7f1c',
    ]);
    expect([alertName(116), alertName(48), alertName(199)]).toEqual([
      'certificate_required',
      'unknown_ca',
      'alert 199',
    ]);
    expect(signatureSchemeName(0x0807)).toBe('ed25519');
  });
});

describe('records', () => {
  test('a message across three records is joined; the rest of a cut record is kept apart', () => {
    const m = message(11, Buffer.alloc(40_000, 1));
    const stream = Buffer.concat([
      record(22, m.subarray(0, 16_384)),
      record(22, m.subarray(16_384, 32_768)),
      record(22, m.subarray(32_768)),
      record(21, Buffer.from([2, 42])).subarray(0, 6),
    ]);
    const { records, rest } = splitRecords(stream);
    expect(records).toHaveLength(3);
    expect(rest.length).toBe(6);
    const r = new HandshakeReassembler();
    expect(r.push(records[0]!.fragment)).toEqual([]);
    expect(r.midMessage).toBe(true);
    expect(r.push(records[1]!.fragment)).toEqual([]);
    const [joined] = r.push(records[2]!.fragment);
    expect(joined?.type).toBe(11);
    expect(joined?.body.length).toBe(40_000);
    expect(r.midMessage).toBe(false);
  });

  test('bytes that are no TLS record (an HTTP answer) are PARSE_FAILED, naming where', () => {
    const e = errorOf(() => splitRecords(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n')));
    expect(e.code).toBe('PARSE_FAILED');
    expect(e.message).toContain('byte 0 starts no TLS record');
    expect(errorOf(() => splitRecords(Buffer.from([23, 3, 3, 0xff, 0xff]))).message).toContain('65535 bytes');
  });

  test('an alert is two bytes', () => {
    expect(parseAlert(Buffer.from([2, 45]))).toEqual({ level: 2, description: 45 });
    expect(errorOf(() => parseAlert(Buffer.from([2]))).code).toBe('PARSE_FAILED');
  });

  test('the key log: labels and secrets, other lines skipped', () => {
    const random = 'ab'.repeat(32);
    const log = parseKeyLog([
      '# a comment',
      `SERVER_HANDSHAKE_TRAFFIC_SECRET ${random} ${'01'.repeat(48)}\n`,
      Buffer.from(`CLIENT_RANDOM ${random} ${'02'.repeat(48)}`),
      'SERVER_TRAFFIC_SECRET_0 not-hex 00',
    ]);
    expect([...log.keys()]).toEqual(['SERVER_HANDSHAKE_TRAFFIC_SECRET', 'CLIENT_RANDOM']);
    expect(log.get('SERVER_HANDSHAKE_TRAFFIC_SECRET')).toEqual(Buffer.alloc(48, 1));
  });
});

describe('record protection: every default TLS 1.3 suite, and the sequence number in the nonce', () => {
  /** Seals content as TLS 1.3 does (RFC 8446 §5.2), with node:crypto, to open it with the reader. */
  function seal(
    suiteId: number,
    secret: Buffer,
    sequence: number,
    type: number,
    content: Buffer,
    padding = 0,
  ) {
    const suite = tls13Suite(suiteId)!;
    const { key, iv } = trafficKeys(suite, secret);
    const nonce = Buffer.from(iv);
    nonce.writeUInt32BE((nonce.readUInt32BE(8) ^ sequence) >>> 0, 8);
    const inner = Buffer.concat([content, u8(type), Buffer.alloc(padding)]);
    const header = Buffer.concat([u8(23), u16(0x0303), u16(inner.length + 16)]);
    const cipher = crypto.createCipheriv(suite.cipher as 'aes-128-gcm', key, nonce, { authTagLength: 16 });
    cipher.setAAD(header, { plaintextLength: inner.length });
    const body = Buffer.concat([cipher.update(inner), cipher.final(), cipher.getAuthTag()]);
    return Buffer.concat([header, body]);
  }

  test.each([
    [0x1301, 32],
    [0x1302, 48],
    [0x1303, 32],
  ])(
    'suite 0x%s: records 0 and 1 open, padding is stripped, the inner type is read',
    (suiteId, hashLength) => {
      const secret = crypto.randomBytes(hashLength);
      const bytes = Buffer.concat([
        seal(suiteId, secret, 0, 22, message(13, Buffer.from('first'))),
        seal(suiteId, secret, 1, 21, Buffer.from([2, 116]), 7),
      ]);
      const { records } = splitRecords(bytes);
      const opener = new RecordOpener(tls13Suite(suiteId)!, secret);
      const first = opener.open(records[0]!);
      expect(first.type).toBe(22);
      expect(first.content.subarray(4).toString()).toBe('first');
      expect(opener.open(records[1]!)).toEqual({ type: 21, content: Buffer.from([2, 116]) });
    },
  );

  test('a record opened out of order does not authenticate', () => {
    const secret = crypto.randomBytes(32);
    const { records } = splitRecords(seal(0x1301, secret, 1, 23, Buffer.from('x')));
    expect(errorOf(() => new RecordOpener(tls13Suite(0x1301)!, secret).open(records[0]!)).code).toBe(
      'BAD_SIGNATURE',
    );
  });
});

describeWithTools(['openssl'], 'real handshakes captured from openssl s_server', () => {
  const root = tempDir('mtls-ca-tls-capture-');
  const ca = identity.ca;
  const caFile = path.join(root, 'ca.crt');
  const otherFile = path.join(root, 'other.crt');
  const servers: SpawnedServer[] = [];
  const ports: Record<string, number> = {};
  const client = { certificatePem: identity.leaf.toPem(), keyPem: exportPrivateKeyPem(identity.key) };

  /** Variants of s_server, each asking for a client certificate (-verify 1 accepts any, so the handshake ends). */
  const VARIANTS: Record<string, string[]> = {
    'tls13-aes256': ['-CAfile', caFile],
    'tls13-aes128': ['-CAfile', caFile, '-ciphersuites', 'TLS_AES_128_GCM_SHA256'],
    'tls13-chacha': ['-CAfile', caFile, '-ciphersuites', 'TLS_CHACHA20_POLY1305_SHA256'],
    'tls13-hrr': ['-CAfile', caFile, '-groups', 'P-384'],
    tls12: ['-CAfile', caFile, '-tls1_2'],
    'other-names': ['-CAfile', otherFile, '-verifyCAfile', caFile],
    'no-names': ['-CAfile', caFile, '-no_ca_names'],
    'no-names-tls12': ['-CAfile', caFile, '-no_ca_names', '-tls1_2'],
    plain: [],
  };

  beforeAll(async () => {
    fs.writeFileSync(caFile, ca.toPem());
    fs.writeFileSync(otherFile, identity.leaf.toPem());
    // A server certificate of the CA for the run's fixture key 2.
    const serverKey = path.join(root, 'server.key');
    const serverCert = path.join(root, 'server.crt');
    const keys = fixtureKeys('ecdsa-p256', 2);
    fs.writeFileSync(serverKey, exportPrivateKeyPem(keys.privateKey));
    fs.writeFileSync(
      serverCert,
      issueServerCertificate({
        ca: { certificate: ca, privateKey: fixtureKeys('ecdsa-p256', 0).privateKey },
        publicKey: keys.publicKey,
        altNames: { ip: ['127.0.0.1'] },
        days: 10,
      }).toPem(),
    );
    const names = Object.keys(VARIANTS);
    const free = await freePorts(names.length);
    await Promise.all(
      names.map(async (name, i) => {
        const verify = name === 'plain' ? [] : ['-verify', '1'];
        servers.push(
          await spawnServer(
            'openssl',
            [
              's_server',
              '-accept',
              `127.0.0.1:${free[i]}`,
              '-cert',
              serverCert,
              '-key',
              serverKey,
              ...verify,
              ...VARIANTS[name]!,
              '-www',
              '-quiet',
            ],
            { ports: [free[i]!] },
          ),
        );
        ports[name] = free[i]!;
      }),
    );
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
  });

  async function capture(variant: string, withClient = true): Promise<{ p: ProbeResult; c: Conversation }> {
    const p = await probe({
      host: '127.0.0.1',
      port: ports[variant]!,
      servername: '127.0.0.1',
      path: '/',
      ...(withClient ? { client } : {}),
      ...(variant.endsWith('tls12') ? { maxVersion: 'TLSv1.2' as const } : {}),
    });
    return {
      p,
      c: readConversation({ client: p.clientBytes, server: p.serverBytes, keyLog: parseKeyLog(p.keyLog) }),
    };
  }

  test.each([
    ['tls13-aes256', 0x1302],
    ['tls13-aes128', 0x1301],
    ['tls13-chacha', 0x1303],
  ])(
    '%s: the CA name, the chain as sent and our one certificate, all read through the encryption',
    async (variant, suite) => {
      const { p, c } = await capture(variant);
      expect(p.answer?.status).toBe(200);
      expect(c.server.hello).toEqual({ version: TLS13, cipherSuite: suite, helloRetryRequest: false });
      expect(c.server.certificateRequest?.caNames).toEqual([ca.subjectDer]);
      expect(c.server.certificateRequest?.signatureAlgorithms).toContain(0x0403);
      expect(c.server.certificates?.map((d) => new Certificate(d).subjectName)).toEqual([
        'CN=127.0.0.1',
        ca.subjectName,
      ]);
      expect(c.server.flightComplete).toBe(true);
      // After the handshake the reader moves to the application secret: the answer and close_notify are read.
      expect(c.server.applicationRecords).toBeGreaterThan(0);
      expect(c.server.alerts.map((a) => a.name)).toEqual(['close_notify']);
      expect(c.client.certificatesSent).toBe(1);
      expect(c.server.unread).toBeUndefined();
      expect(c.client.unread).toBeUndefined();
    },
  );

  test('after a HelloRetryRequest (the server wants P-384), the second ServerHello and its flight are read', async () => {
    const { c } = await capture('tls13-hrr');
    expect(c.server.helloRetryRequest).toBe(true);
    expect(c.server.hello?.version).toBe(TLS13);
    expect(c.server.certificateRequest?.caNames).toEqual([ca.subjectDer]);
    expect(c.client.certificatesSent).toBe(1);
    expect([c.server.unread, c.client.unread]).toEqual([undefined, undefined]);
  });

  test('TLS 1.2: the CertificateRequest in the clear, with certificate types; reading stops at ChangeCipherSpec', async () => {
    const { c } = await capture('tls12');
    expect(c.server.hello?.version).toBe(TLS12);
    expect(c.server.certificateRequest).toEqual({
      caNames: [ca.subjectDer],
      signatureAlgorithms: expect.arrayContaining([0x0403]),
      certificateTypes: expect.arrayContaining([64]),
    });
    expect(c.client.certificatesSent).toBe(1);
    // close_notify after the answer is encrypted under keys not derived here
    expect(c.server.alerts.map((a) => a.name)).toEqual(['encrypted']);
  });

  test('-verifyCAfile verifies with one file while -CAfile names the other: the names are the other', async () => {
    const { c } = await capture('other-names');
    expect(c.server.certificateRequest?.caNames.map((n) => n.toString('hex'))).toEqual([
      identity.leaf.subjectDer.toString('hex'),
    ]);
  });

  test.each(['no-names', 'no-names-tls12'])('%s: a request that names no CA', async (variant) => {
    const { c } = await capture(variant);
    expect(c.server.certificateRequest?.caNames).toEqual([]);
  });

  test('no client certificate: an empty Certificate message goes out (TLS 1.3, encrypted)', async () => {
    const { c } = await capture('tls13-aes256', false);
    expect(c.server.certificateRequest).toBeDefined();
    expect(c.client.certificatesSent).toBe(0);
  });

  test('a server that asks for nothing: no CertificateRequest, the flight still complete', async () => {
    const { c } = await capture('plain');
    expect(c.server.certificateRequest).toBeUndefined();
    expect(c.server.flightComplete).toBe(true);
    expect(c.client.certificatesSent).toBeUndefined();
  });

  test('a capture cut short, or read with another secret, reports what it could not read and keeps the rest', async () => {
    const { p } = await capture('tls13-aes256');
    const keyLog = parseKeyLog(p.keyLog);
    const cut = readConversation({ client: p.clientBytes, server: p.serverBytes.subarray(0, 300), keyLog });
    expect(cut.server.hello?.version).toBe(TLS13);
    expect(cut.server.unread).toMatch(/^the last record is cut off/);
    const swapped = new Map(keyLog);
    swapped.set('SERVER_HANDSHAKE_TRAFFIC_SECRET', keyLog.get('CLIENT_HANDSHAKE_TRAFFIC_SECRET')!);
    const wrong = readConversation({ client: p.clientBytes, server: p.serverBytes, keyLog: swapped });
    expect(wrong.server.certificateRequest).toBeUndefined();
    expect(wrong.server.unread).toBe(
      'open TLS 1.3 record: it does not authenticate under this traffic secret',
    );
    expect(Certificate.from(ca.der).subjectName).toBe(ca.subjectName);
  });
});

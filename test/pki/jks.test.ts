import crypto from 'node:crypto';
import { beforeAll, describe, expect, test } from 'vitest';
import type { Certificate } from '../../src/pki/certificate.js';
import { createJks, parseJks } from '../../src/pki/jks.js';
import { KEY_TYPES } from '../../src/pki/keys.js';
import { createRootCa } from '../../src/pki/profiles.js';
import { errorOf } from '../helpers/errors.js';
import { fixtureKeys } from '../helpers/fixtures.js';

const PASSWORD = 'changeit-42';
const NOW = new Date('2025-03-04T05:06:07.089Z');

/** One CA per key type, so every signature and key algorithm passes through a JKS. */
const cas: Certificate[] = [];
beforeAll(() => {
  for (const kt of KEY_TYPES) {
    const keys = fixtureKeys(kt);
    cas.push(createRootCa({ subject: { commonName: `Test CA ${kt}` }, ...keys, days: 30 }));
  }
});

/** The JDK's digest, computed independently of jks.ts. */
function jdkDigest(password: string, body: Buffer): Buffer {
  const pw = Buffer.alloc(password.length * 2);
  for (let i = 0; i < password.length; i++) pw.writeUInt16BE(password.charCodeAt(i), i * 2);
  return crypto.createHash('sha1').update(pw).update('Mighty Aphrodite').update(body).digest();
}

describe('createJks', () => {
  test('writes the exact JKS v2 layout with a trustedCertEntry and the keyed SHA-1 digest', () => {
    const ca = cas[0]!;
    const jks = createJks([{ alias: 'MTLS-CA', certificate: ca }], PASSWORD, NOW);
    const certLength = Buffer.alloc(4);
    certLength.writeUInt32BE(ca.der.length);
    const date = Buffer.alloc(8);
    date.writeBigUInt64BE(BigInt(NOW.getTime()));
    const body = Buffer.concat([
      Buffer.from('feedfeed' + '00000002' + '00000001', 'hex'), // magic, version 2, one entry
      Buffer.from('00000002', 'hex'), // tag 2: trustedCertEntry
      Buffer.from('0007', 'hex'),
      Buffer.from('mtls-ca'), // alias, lowercased like the JDK stores it
      date,
      Buffer.from('0005', 'hex'),
      Buffer.from('X.509'),
      certLength,
      ca.der,
    ]);
    expect(jks.subarray(0, 16).toString('hex')).toBe('feedfeed000000020000000100000002');
    expect(jks.toString('hex')).toBe(Buffer.concat([body, jdkDigest(PASSWORD, body)]).toString('hex'));
  });

  test('aliases use Java modified UTF-8', () => {
    const jks = createJks([{ alias: 'zürich\u0000😀', certificate: cas[0]! }], PASSWORD, NOW);
    // ü = c3 bc; NUL = c0 80; U+1F600 as the surrogates D83D DE00, three bytes each.
    expect(jks.subarray(16, 16 + 2 + 15).toString('hex')).toBe(
      '000f' + '7a' + 'c3bc' + '72696368' + 'c080' + 'eda0bdedb880',
    );
    expect(parseJks(jks, PASSWORD, 'x.jks').map((e) => e.alias)).toEqual(['zürich\u0000😀']);
  });

  test('an empty password, no entries and duplicate aliases are refused', () => {
    const e = errorOf(() => createJks([{ alias: 'ca', certificate: cas[0]! }], ''));
    expect([e.code, e.message]).toEqual([
      'INVALID_ARGUMENT',
      'create JKS trust store: the password is empty',
    ]);
    expect(errorOf(() => createJks([], PASSWORD)).message).toBe(
      'create JKS trust store: no certificates given',
    );
    expect(
      errorOf(() =>
        createJks(
          [
            { alias: 'Root', certificate: cas[0]! },
            { alias: 'ROOT', certificate: cas[1]! },
          ],
          PASSWORD,
        ),
      ).message,
    ).toBe('create JKS trust store: alias "ROOT" is used twice (Java ignores case)');
  });
});

describe('parseJks', () => {
  test('round-trips one CA of every key type, in order, with alias and date', () => {
    const entries = cas.map((certificate, i) => ({ alias: `ca-${KEY_TYPES[i]}`, certificate }));
    const parsed = parseJks(createJks(entries, PASSWORD, NOW), PASSWORD, 'trustStore.jks');
    expect(parsed.map((e) => [e.alias, e.date.toISOString(), e.certificate.fingerprint256])).toEqual(
      entries.map((e) => [e.alias, NOW.toISOString(), e.certificate.fingerprint256]),
    );
    expect(parsed.map((e) => e.certificate.der)).toEqual(cas.map((c) => c.der));
  });

  test('a wrong password is BAD_PASSWORD', () => {
    const jks = createJks([{ alias: 'ca', certificate: cas[0]! }], PASSWORD, NOW);
    const e = errorOf(() => parseJks(jks, 'changeit', 'ssl/server/trustStore.jks'));
    expect([e.code, e.message]).toEqual([
      'BAD_PASSWORD',
      'read ssl/server/trustStore.jks: wrong password, or the file was altered (the integrity digest does not match)',
    ]);
  });

  test('every flipped byte after the header and a truncation are BAD_PASSWORD', () => {
    const jks = createJks([{ alias: 'ca', certificate: cas[0]! }], PASSWORD, NOW);
    const codes = new Set<string>();
    for (let i = 8; i < jks.length; i += 13) {
      const copy = Buffer.from(jks);
      copy[i]! ^= 0x80;
      codes.add(errorOf(() => parseJks(copy, PASSWORD, 'x.jks')).code);
    }
    codes.add(errorOf(() => parseJks(jks.subarray(0, jks.length - 1), PASSWORD, 'x.jks')).code);
    expect([...codes]).toEqual(['BAD_PASSWORD']);
  });

  test('not JKS: PKCS#12, garbage, JCEKS, an unknown version', () => {
    expect(errorOf(() => parseJks(cas[0]!.der, PASSWORD, 'ca.der')).message).toBe(
      'read ca.der: not a valid JKS key store (it looks like PKCS#12; read it as .p12)',
    );
    expect(errorOf(() => parseJks(Buffer.from('hello world, not a keystore'), PASSWORD, 'x')).message).toBe(
      'read x: not a valid JKS key store (no 0xFEEDFEED header)',
    );
    expect(errorOf(() => parseJks(Buffer.from('cececece00000002', 'hex'), PASSWORD, 'x.jceks')).code).toBe(
      'UNSUPPORTED',
    );
    expect(errorOf(() => parseJks(Buffer.from('feedfeed00000003', 'hex'), PASSWORD, 'x')).message).toBe(
      'read x: not a valid JKS key store (unknown version 3)',
    );
  });

  test('a correctly signed but inconsistent entry count is PARSE_FAILED', () => {
    const jks = createJks([{ alias: 'ca', certificate: cas[0]! }], PASSWORD, NOW);
    const body = Buffer.from(jks.subarray(0, jks.length - 20));
    body.writeUInt32BE(2, 8);
    const e = errorOf(() => parseJks(Buffer.concat([body, jdkDigest(PASSWORD, body)]), PASSWORD, 'x.jks'));
    expect([e.code, e.message]).toEqual([
      'PARSE_FAILED',
      'read x.jks: not a valid JKS key store (truncated)',
    ]);
  });
});

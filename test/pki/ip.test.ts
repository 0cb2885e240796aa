/**
 * IP addresses in certificates: our own parser (node:net's isIP costs 15-60 ms to compile on first use)
 * checked against node:net as the oracle — for a list of edge cases and for random strings — and the bytes
 * against the WHATWG URL parser's canonical IPv6 text.
 */
import { isIP } from 'node:net';
import { describe, expect, test } from 'vitest';
import { decodeSubjectAltNames, subjectAltName } from '../../src/pki/extensions.js';
import { hostsToAltNames } from '../../src/pki/general-names.js';
import { errorOf } from '../helpers/errors.js';

const EDGE_CASES = [
  '1.2.3.4',
  '0.0.0.0',
  '255.255.255.255',
  '01.2.3.4',
  '1.2.3.04',
  '256.1.1.1',
  '1.2.3',
  '1.2.3.4.5',
  '1..3.4',
  '',
  '.',
  ':',
  '::',
  ':::',
  '::1',
  '1::',
  '1:2:3:4:5:6:7:8',
  '1:2:3:4:5:6:7:8:9',
  '1:2:3:4:5:6:7::',
  '::1:2:3:4:5:6:7',
  '1::2::3',
  ':1',
  '1:',
  'g::1',
  '12345::',
  '01234::',
  'FFFF::',
  'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
  '::ffff:1.2.3.4',
  '::1.2.3.4',
  '1:2:3:4:5:6:1.2.3.4',
  '1:2:3:4:5:6:7:1.2.3.4',
  '1::1.2.3.4',
  '::ffff:256.1.1.1',
  '::ffff:1.2.3',
  '1.2.3.4::',
  '1.2.3.4:1::',
  '[::1]',
  'fe80::1%eth0',
  '1.2.3.4%x',
  'localhost',
  ' 1.2.3.4',
  '1:2:3:4:5:6:7:8::',
  '::1:2:3:4:5:6:7:8',
  '1:2:3:4:5::1.2.3.4',
  '1:2:3:4:5:6::1.2.3.4',
];

/** A seeded PRNG, so a failure can be reproduced. */
function* randomStrings(count: number, seed = 42): Generator<string> {
  let x = seed;
  const next = () => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return x;
  };
  const alphabet = '0123456789abcdefABCDEF:.:.';
  for (let i = 0; i < count; i++) {
    const len = next() % 24;
    let s = '';
    for (let j = 0; j < len; j++) s += alphabet[next() % alphabet.length];
    yield s;
  }
}

/** What node:net says, minus zones (a certificate cannot hold one). */
const isAddress = (s: string) => isIP(s) !== 0 && !s.includes('%');

/** The SAN bytes we encode, read back as text. */
const roundTrip = (ip: string) => decodeSubjectAltNames(subjectAltName({ ip: [ip] }).value).ip?.[0];

describe('IP addresses in subjectAltName', () => {
  test.each(EDGE_CASES)('%j is classified as node:net classifies it', (s) => {
    if (isAddress(s)) {
      expect(hostsToAltNames([s]).ip).toEqual([s]);
      const canonical = isIP(s) === 4 ? s : new URL(`http://[${s}]/`).hostname.slice(1, -1);
      expect(roundTrip(s)).toBe(canonical);
    } else {
      expect(errorOf(() => subjectAltName({ ip: [s] }))).toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
  });

  test('2,000 random strings of digits, hex letters, colons and dots: the same verdict as node:net', () => {
    let addresses = 0;
    for (const s of randomStrings(2000)) {
      const ours = (() => {
        try {
          subjectAltName({ ip: [s] });
          return true;
        } catch {
          return false;
        }
      })();
      expect([s, ours]).toEqual([s, isAddress(s)]);
      if (ours) {
        addresses++;
        const canonical = isIP(s) === 4 ? s : new URL(`http://[${s}]/`).hostname.slice(1, -1);
        expect([s, roundTrip(s)]).toEqual([s, canonical]);
      }
    }
    // The generator must produce addresses too, or this test would only check refusals.
    expect(addresses).toBeGreaterThan(10);
  });

  test('a zoned IPv6 address is recognised as an address (and refused with the zone named)', () => {
    expect(hostsToAltNames(['fe80::1%eth0']).ip).toEqual(['fe80::1%eth0']);
    expect(errorOf(() => subjectAltName({ ip: ['fe80::1%eth0'] }))).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'use IP address "fe80::1%eth0": not an IPv4 or IPv6 address (without a zone)',
    });
  });
});

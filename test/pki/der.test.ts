/** The DER codec byte for byte: every expected encoding is written out in hex from X.690 / RFC 5280. */
import { describe, expect, test } from 'vitest';
import * as der from '../../src/pki/der.js';
import { errorOf } from '../helpers/errors.js';

const hex = (b: Buffer) => b.toString('hex');
const bytes = (h: string) => Buffer.from(h.replace(/\s/g, ''), 'hex');

function expectParseFailed(fn: () => unknown): void {
  expect(errorOf(fn).code).toBe('PARSE_FAILED');
}

describe('INTEGER', () => {
  test.each([
    [0, '020100'],
    [127, '02017f'],
    [128, '02020080'],
    [255, '020200ff'],
    [256, '02020100'],
    [65535, '020300ffff'],
  ])('%d encodes as %s', (n, expected) => {
    expect(hex(der.integer(n))).toBe(expected);
    expect(hex(der.integer(BigInt(n)))).toBe(expected);
  });

  test('a magnitude with the top bit set gets a leading 0x00 (stays positive)', () => {
    expect(hex(der.integer(bytes('80')))).toBe('02020080');
    expect(hex(der.integer(bytes('8000000000000000000000000000000001')))).toBe(
      '0212008000000000000000000000000000000001',
    );
  });

  test('a magnitude loses redundant leading zeros but keeps one for zero', () => {
    expect(hex(der.integer(bytes('00007f')))).toBe('02017f');
    expect(hex(der.integer(bytes('000080')))).toBe('02020080');
    expect(hex(der.integer(bytes('0000')))).toBe('020100');
    expect(hex(der.integer(Buffer.alloc(0)))).toBe('020100');
  });

  test('a 16-octet serial with first byte 0x7f is 16 content octets', () => {
    const serial = bytes('7f0102030405060708090a0b0c0d0e0f');
    expect(hex(der.integer(serial))).toBe(`0210${hex(serial)}`);
  });

  test('readInteger reads two’s complement, integerHex the content octets as encoded', () => {
    expect(der.readInteger(der.decode(bytes('02020080')))).toBe(128n);
    expect(der.readInteger(der.decode(bytes('020180')))).toBe(-128n);
    expect(der.readInteger(der.decode(bytes('0203010000')))).toBe(65536n);
    expect(der.integerHex(der.decode(bytes('02020080')))).toBe('0080');
  });

  test('negative values are refused rather than mis-encoded', () => {
    expect(() => der.integer(-1)).toThrow(RangeError);
  });

  test('ENUMERATED shares INTEGER content with tag 0x0a', () => {
    expect(hex(der.enumerated(1))).toBe('0a0101');
    expect(hex(der.enumerated(10))).toBe('0a010a');
  });
});

describe('lengths', () => {
  test('short form below 128, long form with the minimum number of octets above', () => {
    expect(hex(der.octetString(Buffer.alloc(127))).slice(0, 4)).toBe('047f');
    expect(hex(der.octetString(Buffer.alloc(128))).slice(0, 6)).toBe('048180');
    expect(hex(der.octetString(Buffer.alloc(255))).slice(0, 6)).toBe('0481ff');
    expect(hex(der.octetString(Buffer.alloc(256))).slice(0, 8)).toBe('04820100');
    expect(hex(der.octetString(Buffer.alloc(65536))).slice(0, 10)).toBe('0483010000');
  });
});

describe('OBJECT IDENTIFIER', () => {
  test.each([
    ['2.5.4.3', '0603550403'],
    ['1.2.840.113549.1.1.11', '06092a864886f70d01010b'],
    ['1.2.840.10045.4.3.2', '06082a8648ce3d040302'],
    ['1.3.101.112', '06032b6570'],
    ['2.16.840.1.113894.746875.1.1', '060c6086480186f966adca7b0101'],
    // first two arcs above 2.39 spill into two octets: 2*40+999 = 1079
    ['2.999.3', '0603883703'],
    // an arc beyond 2^53 (UUID OIDs, X.667) must not lose precision
    ['2.25.329800735698586629295641978511506172918', '06146983f09da7ebcfdee0c7a1a7b2c0948cc8f9d776'],
  ])('%s ⇄ %s (values from openssl asn1parse -genstr OID:…)', (dotted, expected) => {
    expect(hex(der.oid(dotted))).toBe(expected);
    expect(der.readOid(der.decode(bytes(expected)))).toBe(dotted);
  });

  test('malformed dotted strings are refused', () => {
    expect(() => der.oid('1')).toThrow(RangeError);
    expect(() => der.oid('1.2.x')).toThrow(RangeError);
  });
});

describe('time', () => {
  test('UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5)', () => {
    expect(der.x509Time(new Date('2049-12-31T23:59:59Z')).toString('latin1')).toBe('\x17\x0d491231235959Z');
    expect(der.x509Time(new Date('2050-01-01T00:00:00Z')).toString('latin1')).toBe('\x18\x0f20500101000000Z');
    expect(der.x509Time(new Date('1950-01-01T00:00:00Z')).toString('latin1')).toBe('\x17\x0d500101000000Z');
    expect(der.x509Time(new Date('1949-12-31T23:59:59Z')).toString('latin1')).toBe('\x18\x0f19491231235959Z');
  });

  test('milliseconds are dropped (DER times are to the second here)', () => {
    expect(hex(der.utcTime(new Date('2026-03-04T05:06:07.890Z')))).toBe(
      hex(Buffer.from('\x17\x0d260304050607Z', 'latin1')),
    );
  });

  test('readTime maps two-digit years 50..99 to 19xx and 00..49 to 20xx', () => {
    expect(der.readTime(der.decode(der.utcTime(new Date('2049-06-01T00:00:00Z')))).toISOString()).toBe(
      '2049-06-01T00:00:00.000Z',
    );
    expect(der.readTime(der.decode(Buffer.from('\x17\x0d500101000000Z', 'latin1'))).toISOString()).toBe(
      '1950-01-01T00:00:00.000Z',
    );
    expect(
      der.readTime(der.decode(der.generalizedTime(new Date('2050-01-01T00:00:00Z')))).toISOString(),
    ).toBe('2050-01-01T00:00:00.000Z');
  });

  test('a time without Z is malformed', () => {
    expectParseFailed(() => der.readTime(der.decode(Buffer.from('\x17\x0c260304050607', 'latin1'))));
  });
});

describe('named bits (KeyUsage)', () => {
  test('trailing zero bits are dropped and counted as unused (X.690 11.2.2)', () => {
    expect(hex(der.namedBits([0]))).toBe('03020780'); // digitalSignature
    expect(hex(der.namedBits([0, 2]))).toBe('030205a0'); // + keyEncipherment
    expect(hex(der.namedBits([5, 6]))).toBe('03020106'); // keyCertSign + cRLSign
    expect(hex(der.namedBits([8]))).toBe('0303070080'); // decipherOnly needs a second octet
    expect(hex(der.namedBits([]))).toBe('030100');
  });

  test('readNamedBits is the inverse', () => {
    expect(der.readNamedBits(der.decode(bytes('03020106')))).toEqual([5, 6]);
    expect(der.readNamedBits(der.decode(bytes('030205a0')))).toEqual([0, 2]);
  });
});

describe('constructed types', () => {
  test('SET OF sorts its elements by encoding (X.690 11.6); SEQUENCE keeps order', () => {
    const a = der.utf8String('b');
    const b = der.printableString('a');
    const c = der.integer(5);
    expect(hex(der.set(a, b, c))).toBe('31090201050c0162130161');
    expect(hex(der.sequence(a, b, c))).toBe('30090c0162130161020105');
  });

  test('SET OF puts a prefix before its extensions', () => {
    expect(hex(der.set(bytes('0402aabb'), bytes('0401aa')))).toBe('31070401aa0402aabb');
  });

  test('explicit wraps, implicit retags, keeping the constructed bit', () => {
    expect(hex(der.explicit(0, der.integer(2)))).toBe('a003020102');
    expect(hex(der.implicit(0, der.set()))).toBe('a000');
    expect(hex(der.implicit(2, der.ia5String('a')))).toBe('820161');
  });

  test('BOOLEAN, NULL and strings', () => {
    expect(hex(der.boolean(true))).toBe('0101ff');
    expect(hex(der.boolean(false))).toBe('010100');
    expect(hex(der.nullValue())).toBe('0500');
    expect(hex(der.utf8String('é'))).toBe('0c02c3a9');
    expect(hex(der.bmpString('ab'))).toBe('1e0400610062');
    expect(der.readString(der.decode(bytes('1e0400610062')))).toBe('ab');
    expect(der.readString(der.decode(bytes('0c02c3a9')))).toBe('é');
  });
});

describe('decode', () => {
  test('keeps the exact raw bytes of every node', () => {
    const input = bytes('3008 0201 05 0c03 616263');
    const root = der.decode(input);
    expect(root.tag).toBe(0x30);
    expect(root.children.map((c) => hex(c.raw))).toEqual(['020105', '0c03616263']);
    expect(hex(root.content)).toBe('0201050c03616263');
  });

  test('reads BER indefinite length, including nested, and joins constructed OCTET STRING segments', () => {
    // SEQUENCE (indefinite) { INTEGER 5, [0] (indefinite) { OCTET STRING (constructed, indefinite) "ab" "c" } }
    const input = bytes('3080 020105 a080 2480 0402 6162 0401 63 0000 0000 0000');
    const root = der.decode(input);
    expect(root.raw.length).toBe(input.length);
    expect(root.children).toHaveLength(2);
    expect(der.readInteger(root.children[0]!)).toBe(5n);
    const octets = root.children[1]!.children[0]!;
    expect(der.octetsOf(octets).toString('latin1')).toBe('abc');
  });

  test.each([
    ['empty input', ''],
    ['a lone tag', '30'],
    ['content shorter than its length', '300502010502'],
    ['a long-form length running past the end', '3082ff'],
    ['a child overrunning its parent', '30030205050505'],
    ['an indefinite length without end-of-contents', '3080020105'],
    ['an indefinite length on a primitive', '0480616200 00'],
    ['a high tag number', '1f2a0100'],
    ['a length of more than four octets', '3085010000000000'],
  ])('%s → PARSE_FAILED', (_name, h) => {
    expectParseFailed(() => der.decode(bytes(h)));
  });

  test('trailing bytes after the value → PARSE_FAILED naming the input', () => {
    expect(() => der.decode(bytes('02010500'), 'ca.crt')).toThrow('decode ca.crt: malformed ASN.1');
    expectParseFailed(() => der.decode(bytes('02010500')));
  });

  test('expectTag rejects a missing node and the wrong tag', () => {
    expectParseFailed(() => der.expectTag(undefined, der.Tag.SEQUENCE));
    expectParseFailed(() => der.expectTag(der.decode(bytes('020105')), der.Tag.SEQUENCE));
  });

  test('nesting deeper than 32 levels is refused (no stack exhaustion on hostile input)', () => {
    let v = der.nullValue();
    for (let i = 0; i < 40; i++) v = der.sequence(v);
    expectParseFailed(() => der.decode(v));
  });
});

describe('shallowChildren', () => {
  test('the direct children of a constructed value, as exact slices, nothing inside them decoded', () => {
    const inner = der.sequence(der.integer(5), der.octetString(Buffer.alloc(200, 0xab)));
    const outer = der.sequence(der.integer(1), der.explicit(3, inner), der.nullValue());
    const kids = der.shallowChildren(outer);
    expect(kids.map((k) => k.tag)).toEqual([0x02, 0xa3, 0x05]);
    expect(kids.map((k) => k.raw.toString('hex'))).toEqual([
      '020101',
      der.explicit(3, inner).toString('hex'),
      '0500',
    ]);
    // Not decoded: a malformed value inside a child is not looked at.
    expect(der.shallowChildren(bytes('3004 a002 ffff')).map((k) => k.tag)).toEqual([0xa0]);
    expect(der.shallowChildren(bytes('3000'))).toEqual([]);
  });

  test.each([
    ['a primitive value', '020101'],
    ['trailing bytes after the value', '300002'],
    ['a child running past its parent', '3003020201'],
    ['an indefinite length', '30800000'],
    ['a truncated header', '3001'],
  ])('refuses %s', (_what, hex) => {
    expect(() => der.shallowChildren(Buffer.from(hex, 'hex'), 'session')).toThrow(
      'decode session: malformed ASN.1',
    );
  });
});
